"""A page's recipient numbers worked out at columnar speed, identical to ``phonenumbers``.

:func:`~smspresto_pipeline.warehouse.enrich.recipient_details` costs ``phonenumbers`` about
a hundred microseconds a number; on a marketing list every number is new, so a day of 200,000
messages would spend tens of seconds there. Here ``phonenumbers``' own metadata is compiled
once into a few tables (country calling codes, one RE2 pattern per number type holding every
covered region's pattern and lengths, the carrier prefixes), and a whole page is worked out
with Arrow's vectorised kernels: a handful of calls per page, whatever its size.

The fast path covers numbers written as ``+`` and digits (how ``list-archive`` gives them) of
the regions that dominate an Ivorian account: Côte d'Ivoire, West Africa and France
(:data:`FAST_REGIONS`). It reproduces, step for step, what ``phonenumbers`` does with such a
number: the country calling code (a prefix-free set, so at most one matches), the national
number (a number whose region's national prefix could be stripped goes to the slow path), its
type (``_number_type_helper``'s order: premium rate, toll free, ..., fixed line, mobile; each
pattern with its possible lengths), validity, the carrier of mobile-like types (the longest
prefix in the carrier data that has an English name), and the 2021 Ivorian renumbering of
eight-digit numbers. Everything else (national forms, other regions, odd lengths, garbage) is
worked out by ``recipient_details`` itself, once per distinct number.

``tests/warehouse/test_numbering.py`` compares the two paths on generated numbers of many
regions, valid and invalid, in every written form.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.carrierdata import CARRIER_DATA
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import CI_LEGACY_MOBILE_PREFIX, normalize_number, remember_normalized
from smspresto_pipeline.warehouse.arrow import POOL, STRING

__all__ = ["FAST_REGIONS", "NumberColumns", "enrich_numbers", "normalize_numbers", "valid_e164"]

#: Regions worked out by the vectorised path: Côte d'Ivoire, its West African neighbours
#: (ECOWAS, Mauritania, Cameroon) and France. Each pattern of a covered region runs for every
#: number of the page, so the list is kept to the numbers an Ivorian account mostly texts.
FAST_REGIONS: tuple[str, ...] = (
    "CI", "BF", "BJ", "CM", "CV", "FR", "GH", "GM", "GN", "GW", "LR", "ML", "MR", "NE", "NG",
    "SL", "SN", "TG",
)  # fmt: skip

#: ``_number_type_helper``'s order: the first type whose pattern matches is the number's type.
_SPECIAL_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
#: ``phonenumbers`` stops reading a national number past 17 digits and below 2.
_MIN_NSN, _MAX_NSN = 2, 17
_CI = "225"
#: Numbers the fast path may read: a ``+`` then digits, without a leading zero.
_E164_LIKE = r"^\+[1-9][0-9]{2,19}$"


@dataclasses.dataclass(frozen=True, slots=True)
class NumberColumns:
    """What a page's numbers become: ``recipient`` (E.164 when valid, else the raw text),
    ``valid``, ``country`` (ISO code), ``carrier``; one value per number, in order."""

    recipient: pa.Array
    valid: pa.Array
    country: pa.Array
    carrier: pa.Array


@dataclasses.dataclass(frozen=True, slots=True)
class _Tables:
    """``phonenumbers``' metadata for the covered regions, compiled once."""

    codes: pa.Array  # the covered country calling codes
    regions: pa.Array  # their regions, same order
    split: str  # RE2: (?P<cc>...)(?P<nsn>...) for a covered code
    national_prefix: str | None  # RE2 on "cc:len:nsn": a national prefix could be stripped
    general: str  # RE2 on "cc:len:nsn": general_desc
    types: dict[str, str]  # RE2 on "cc:len:nsn", by type, for the types some region has
    same_mobile_and_fixed: pa.Array  # codes whose mobile and fixed-line patterns are one
    carrier_lengths: tuple[int, ...]  # lengths of the carrier prefixes, longest first
    carrier_keys: dict[int, pa.Array]
    carrier_names: dict[int, pa.Array]
    ci_legacy_keys: pa.Array  # first two digits of an eight-digit number
    ci_legacy_prefixes: pa.Array  # the operator prefix each took in 2021


#: A pattern that matches nothing (RE2 has no empty class): text after the end.
_NEVER = "$x"


def _alternative(code: int, desc: PhoneNumberDesc | None) -> str | None:
    # The possible lengths sit in the key ("cc:len:nsn"), so one RE2 pattern checks both.
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    if not pattern:
        return None
    lengths = "|".join(str(n) for n in desc.possible_length) if desc.possible_length else r"\d+"
    return f"{code}:(?:{lengths}):(?:{pattern})"


def _anchored(alternatives: Sequence[str]) -> str:
    return "^(?:" + "|".join(alternatives or [_NEVER]) + ")$"


def _prefix_free(code: int) -> bool:
    """True when no shorter prefix of ``code`` is a country calling code (always, today)."""
    text = str(code)
    known = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    return not any(int(text[:n]) in known for n in range(1, len(text)))


def _re2_reads(code: int, meta: PhoneMetadata) -> bool:
    """True when RE2 compiles every pattern of a region (else the region takes the slow path:
    RE2 has no look-around or back-references, which Python's ``re`` has)."""
    patterns = [meta.national_prefix_for_parsing] if meta.national_prefix_for_parsing else []
    for name in ("general_desc", *_SPECIAL_TYPES, "fixed_line", "mobile"):
        alternative = _alternative(code, getattr(meta, name))
        if alternative is not None:
            patterns.append(alternative)
    try:
        for pattern in patterns:
            pc.match_substring_regex(pa.array([""], STRING), pattern)
    except pa.ArrowInvalid:
        return False
    return True


@functools.cache
def _tables(regions: tuple[str, ...] = FAST_REGIONS) -> _Tables:
    metadata: list[tuple[int, str, PhoneMetadata]] = []
    for region in regions:
        meta = PhoneMetadata.metadata_for_region(region, None)
        code = phonenumbers.country_code_for_region(region)
        # Shared codes (+1, +7, +44, ...) pick their region by leading digits: slow path.
        if meta is None or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) != (region,):
            continue
        if _prefix_free(code) and _re2_reads(code, meta):
            metadata.append((code, region, meta))

    prefixes = [
        f"{code}:\\d+:(?:{meta.national_prefix_for_parsing})"
        for code, _, meta in metadata
        if meta.national_prefix_for_parsing
    ]
    general = [_alternative(code, meta.general_desc) for code, _, meta in metadata]
    types: dict[str, str] = {}
    for name in (*_SPECIAL_TYPES, "fixed_line", "mobile"):
        alternatives = [_alternative(code, getattr(meta, name)) for code, _, meta in metadata]
        present = [a for a in alternatives if a is not None]
        if present:
            types[name] = _anchored(present)

    codes = {str(code) for code, _, _ in metadata}
    code_lengths = sorted({len(code) for code in codes})
    by_length: dict[int, dict[str, str]] = {}
    for prefix, names in CARRIER_DATA.items():
        # phonenumbers asks for English ("en"); a prefix without it is skipped over.
        if "en" in names and any(prefix[:n] in codes for n in code_lengths):
            by_length.setdefault(len(prefix), {})[prefix] = names["en"]
    legacy = sorted(CI_LEGACY_MOBILE_PREFIX.items())
    return _Tables(
        codes=pa.array([str(code) for code, _, _ in metadata], STRING),
        regions=pa.array([region for _, region, _ in metadata], STRING),
        split="^(?P<cc>"
        + ("|".join(str(code) for code, _, _ in metadata) or _NEVER)
        + r")(?P<nsn>[0-9]*)$",
        national_prefix="^(?:" + "|".join(prefixes) + ")" if prefixes else None,
        general=_anchored([a for a in general if a is not None]),
        types=types,
        same_mobile_and_fixed=pa.array(
            [str(code) for code, _, meta in metadata if meta.same_mobile_and_fixed_line_pattern],
            STRING,
        ),
        carrier_lengths=tuple(sorted(by_length, reverse=True)),
        carrier_keys={n: pa.array(list(m), STRING) for n, m in by_length.items()},
        carrier_names={n: pa.array(list(m.values()), STRING) for n, m in by_length.items()},
        ci_legacy_keys=pa.array([old for old, _ in legacy], STRING),
        ci_legacy_prefixes=pa.array([new for _, new in legacy], STRING),
    )


def _matches(keys: pa.Array, pattern: str) -> pa.Array:
    """Where ``pattern`` matches (False for a null key)."""
    found = pc.match_substring_regex(keys, pattern, memory_pool=POOL)
    return pc.fill_null(found, False)


@dataclasses.dataclass(frozen=True, slots=True)
class _Classified:
    """What the fast path says of each number (nulls where it does not apply)."""

    fast: pa.Array  # the number is worked out here
    valid: pa.Array
    mobile: pa.Array  # a type phonenumbers looks a carrier up for
    code: pa.Array
    nsn: pa.Array


def _classify(numbers: pa.Array, tables: _Tables) -> _Classified:
    shaped = _matches(numbers, _E164_LIKE)
    digits = pc.utf8_slice_codeunits(numbers, 1, memory_pool=POOL)
    parts = pc.extract_regex(digits, tables.split, memory_pool=POOL)
    code = pc.struct_field(parts, "cc")
    nsn = pc.struct_field(parts, "nsn")
    length = pc.utf8_length(nsn, memory_pool=POOL)
    keys = pc.binary_join_element_wise(code, pc.cast(length, STRING), nsn, ":", memory_pool=POOL)
    fast = pc.and_kleene(shaped, pc.is_valid(code))
    fast = pc.and_(
        fast,
        pc.fill_null(
            pc.and_(pc.greater_equal(length, _MIN_NSN), pc.less_equal(length, _MAX_NSN)), False
        ),
    )
    if tables.national_prefix is not None:
        # phonenumbers would try to strip the prefix (and keep it or not by length): slow path.
        fast = pc.and_(fast, pc.invert(_matches(keys, tables.national_prefix)))

    found = {name: _matches(keys, pattern) for name, pattern in tables.types.items()}
    false = pa.repeat(pa.scalar(False), len(numbers), memory_pool=POOL)

    def has(name: str) -> pa.Array:
        return found.get(name, false)

    def any_of(names: Sequence[str]) -> pa.Array:
        result = false
        for name in names:
            result = pc.or_(result, has(name))
        return result

    before_pager = any_of(_SPECIAL_TYPES[: _SPECIAL_TYPES.index("pager")])
    special = any_of(_SPECIAL_TYPES)
    same = pc.fill_null(pc.is_in(code, value_set=tables.same_mobile_and_fixed), False)
    fixed, mobile = has("fixed_line"), has("mobile")
    general = _matches(keys, tables.general)
    valid = pc.and_(general, pc.or_(pc.or_(special, fixed), pc.and_(pc.invert(same), mobile)))
    fixed_or_mobile = pc.and_(fixed, pc.or_(same, mobile))
    mobile_only = pc.and_(pc.invert(fixed), pc.and_(pc.invert(same), mobile))
    mobile_like = pc.or_(
        pc.and_(has("pager"), pc.invert(before_pager)),
        pc.and_(pc.invert(special), pc.or_(fixed_or_mobile, mobile_only)),
    )
    return _Classified(fast, valid, pc.and_(general, mobile_like), code, nsn)


def _carriers(digits: pa.Array, tables: _Tables) -> pa.Array:
    """The carrier of each number (digits after ``+``): the longest prefix with an English
    name wins, as in ``phonenumbers.prefix``; an empty name stays empty."""
    names = pa.nulls(len(digits), STRING)
    for length in tables.carrier_lengths:
        prefix = pc.utf8_slice_codeunits(digits, 0, length, memory_pool=POOL)
        at = pc.index_in(prefix, value_set=tables.carrier_keys[length], memory_pool=POOL)
        names = pc.coalesce(names, pc.take(tables.carrier_names[length], at, memory_pool=POOL))
    return names


def enrich_numbers(
    numbers: pa.Array,
    slow: Callable[[str], tuple[str, bool, str | None, str | None]],
    *,
    regions: tuple[str, ...] = FAST_REGIONS,
) -> NumberColumns:
    """``recipient``, ``valid``, ``country`` and ``carrier`` of a page's ``HIS_DESTINATAIRE``.

    Args:
        numbers: the raw numbers (strings; a null is read as an empty string).
        slow: the per-number path, called once per distinct number the fast path leaves
            (``recipient_details`` with the account's region).
        regions: the regions of the fast path.

    Every value equals ``slow(number)``'s; only the cost differs.
    """
    tables = _tables(regions)
    numbers = pc.fill_null(numbers.cast(STRING), "")
    seen = _classify(numbers, tables)

    # Eight-digit Ivorian numbers that are invalid today: the 2021 renumbering, when its
    # result is valid (the operator's prefix goes before the old number).
    old = pc.and_(
        pc.and_(seen.fast, pc.invert(seen.valid)),
        pc.and_(
            pc.fill_null(pc.equal(seen.code, _CI), False),
            pc.fill_null(pc.equal(pc.utf8_length(seen.nsn), 8), False),
        ),
    )
    operator = pc.take(
        tables.ci_legacy_prefixes,
        pc.index_in(pc.utf8_slice_codeunits(seen.nsn, 0, 2), value_set=tables.ci_legacy_keys),
    )
    migrated = pc.if_else(
        old, pc.binary_join_element_wise("+225", operator, seen.nsn, ""), pa.scalar(None, STRING)
    )
    # Classified again (few rows: those of the old plan), then put back in place.
    again = _classify(pc.fill_null(migrated.filter(old), ""), tables)
    place = pc.if_else(
        old,
        pc.subtract(pc.cumulative_sum(pc.cast(old, pa.int64())), 1),
        pa.scalar(None, pa.int64()),
    )
    renumbered = pc.fill_null(pc.take(pc.and_(again.fast, again.valid), place), False)
    mobile = pc.if_else(renumbered, pc.take(again.mobile, place), pc.and_(seen.valid, seen.mobile))

    recipient = pc.if_else(renumbered, migrated, numbers)
    valid = pc.or_(pc.and_(seen.fast, seen.valid), renumbered)
    digits = pc.utf8_slice_codeunits(recipient, 1, memory_pool=POOL)
    carrier = pc.if_else(pc.and_(valid, mobile), _carriers(digits, tables), pa.scalar(None, STRING))
    carrier = pc.if_else(pc.equal(carrier, ""), pa.scalar(None, STRING), carrier)
    country = pc.take(tables.regions, pc.index_in(seen.code, value_set=tables.codes))

    # The rest, once per distinct number, by phonenumbers itself.
    rest = numbers.filter(pc.invert(seen.fast))
    if len(rest) == 0:
        return NumberColumns(recipient, valid, country, carrier)
    distinct = pc.unique(rest)
    details = [slow(number) for number in distinct.to_pylist()]
    at = pc.index_in(numbers, value_set=distinct)
    columns = [
        pc.take(pa.array(values, kind), at)
        for values, kind in zip(
            zip(*details, strict=True), (STRING, pa.bool_(), STRING, STRING), strict=True
        )
    ]
    fast = seen.fast
    return NumberColumns(
        recipient=pc.if_else(fast, recipient, columns[0]),
        valid=pc.if_else(fast, valid, columns[1]),
        country=pc.if_else(fast, country, columns[2]),
        carrier=pc.if_else(fast, carrier, columns[3]),
    )


@functools.cache
def _national_reading(region: str) -> tuple[str, str] | None:
    """``(country calling code, RE2 pattern of the international prefix)`` when numbers of
    ``region`` written as bare national digits can be read here, else ``None``.

    ``phonenumbers.parse(digits, region)`` gives ``+<code><digits>`` unchanged when the region
    has a calling code of its own and no national prefix to strip (Côte d'Ivoire, Senegal ...)
    and the digits do not start with its international prefix (``00``: read as a country code
    follows; those stay slow). Digits that start with the calling code need no exception:
    ``phonenumbers`` strips it only from digits that its general pattern refuses or that are too
    long, and ``+<code><digits>`` is then invalid here too (null: left to the slow path).
    """
    meta = PhoneMetadata.metadata_for_region(region, None)
    code = phonenumbers.country_code_for_region(region)
    if meta is None or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) != (region,):
        return None
    if meta.national_prefix_for_parsing or meta.national_prefix or not meta.international_prefix:
        return None
    idd = f"^(?:{meta.international_prefix})"
    try:
        pc.match_substring_regex(pa.array([""], STRING), idd)
    except pa.ArrowInvalid:
        return None
    return str(code), idd


def valid_e164(
    numbers: pa.Array, region: str, *, regions: tuple[str, ...] = FAST_REGIONS
) -> pa.Array:
    """Each number in E.164 where the vectorised path can tell it is valid, else null.

    Reads ``+`` and digits (as :func:`enrich_numbers` does, without the 2021 renumbering:
    an old eight-digit number is not valid to send to) and, for a ``region`` that
    :func:`_national_reading` accepts, bare national digits (``0708081488`` in CI). A non-null
    value is exactly what ``smspresto_pipeline.sms.normalize_number(number, region)`` returns;
    a null says nothing (the number is for ``normalize_number`` to read, or to refuse).
    """
    tables = _tables(regions if region in regions else (*regions, region))
    numbers = pc.fill_null(numbers.cast(STRING), "")
    reading = _national_reading(region)
    written = numbers
    if reading is not None:
        code, idd = reading
        national = pc.and_(_matches(numbers, r"^[0-9]+$"), pc.invert(_matches(numbers, idd)))
        with_code = pc.binary_join_element_wise("+" + code, numbers, "", memory_pool=POOL)
        written = pc.if_else(national, with_code, numbers)
    seen = _classify(written, tables)
    return pc.if_else(pc.and_(seen.fast, seen.valid), written, pa.scalar(None, STRING))


def normalize_numbers(raws: Sequence[str], region: str = "CI") -> list[str | SMSValidationError]:
    """Each number through :func:`~smspresto_pipeline.sms.normalize_number`, or its error, in order.

    The same results, at columnar speed for the common forms: ``+`` and digits, and a region's
    bare national digits (``0708081488`` in CI) are checked against ``phonenumbers``' metadata
    compiled into RE2 patterns (:func:`valid_e164`); the
    rest, and every number that path does not call valid, go through :func:`normalize_number`.
    """
    fast: list[str | None] = valid_e164(pa.array(raws, pa.string()), region).to_pylist()
    results: list[str | SMSValidationError] = []
    for raw, e164 in zip(raws, fast, strict=True):
        if e164 is not None:
            remember_normalized(e164)
            results.append(e164)
            continue
        try:
            results.append(normalize_number(raw, region))
        except SMSValidationError as exc:
            results.append(exc)
    return results
