"""A page's recipient numbers worked out at columnar speed, identical to ``phonenumbers``.

:func:`recipient_details` costs ``phonenumbers`` about
a hundred microseconds a number; on a marketing list every number is new, so a day of 200,000
messages would spend tens of seconds there. Here ``phonenumbers``' own metadata is compiled
once into a few tables (country calling codes, each covered region's patterns and lengths as
RE2 alternatives, the carrier prefixes), and a whole page is worked out with Arrow's
vectorised kernels: a few dozen calls per page, whatever its size.

What it costs is mostly RE2's: Arrow compiles a pattern at every call, and each pass reads
every number. So a page runs only the patterns of the calling codes it holds, a number is
keyed ``len:+digits:len:+digits`` so that one pass asks "general pattern and this type" (and
checks the possible lengths), the common case (general and mobile) is one pass over the page
and the other types are looked for only on the numbers it leaves, and carriers are looked up
at one prefix length for most codes (``benchmarks/enrich.py`` measures it).

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

``tests/sms/test_numbering.py`` compares the two paths on generated numbers of many
regions, valid and invalid, in every written form.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.carrierdata import CARRIER_DATA
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms.arrow import POOL, STRING
from smspresto_pipeline.sms.rules import (
    CI_LEGACY_MOBILE_PREFIX,
    migrate_legacy_ci,
    normalize_number,
    number_info,
    remember_normalized,
)

__all__ = [
    "FAST_REGIONS",
    "NumberColumns",
    "enrich_numbers",
    "normalize_numbers",
    "recipient_details",
    "valid_e164",
]

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


@dataclasses.dataclass(frozen=True, slots=True)
class NumberColumns:
    """What a page's numbers become: ``recipient`` (E.164 when valid, else the raw text),
    ``valid``, ``country`` (ISO code), ``carrier``; one value per number, in order."""

    recipient: pa.Array
    valid: pa.Array
    country: pa.Array
    carrier: pa.Array


@dataclasses.dataclass(frozen=True, slots=True)
class _Code:
    """One covered country calling code: its region and its patterns, as RE2 alternatives
    (on the number for ``shaped`` and ``national_prefix``, else on its key, :func:`_keys`)."""

    code: str
    region: str
    shaped: str  # the code and the national number's first digit, when the fast path reads it
    national_prefix: str | None  # a national prefix could be stripped
    general: str | None
    types: dict[str, str]  # by type, for the types the region has
    same_mobile_and_fixed: bool
    carriers: dict[str, str]  # "+" and a carrier prefix -> its English name


@dataclasses.dataclass(frozen=True, slots=True)
class _Tables:
    """``phonenumbers``' metadata for the covered regions, compiled once."""

    codes: pa.Array  # the covered country calling codes
    regions: pa.Array  # their regions, same order
    table: tuple[_Code, ...]  # same order
    code_lengths: tuple[int, ...]
    ci: int | None  # the position of Côte d'Ivoire's code, when covered
    ci_legacy_keys: pa.Array  # first two digits of an eight-digit number
    ci_legacy_prefixes: pa.Array  # the operator prefix each took in 2021


@dataclasses.dataclass(frozen=True, slots=True)
class _Patterns:
    """The patterns of the codes a page holds (RE2 compiles a pattern at every call, and
    its cost grows with the pattern: a page runs only its own codes' alternatives)."""

    shaped: str
    national_prefix: str | None
    mobile: str  # general, and fixed line (when same) or mobile (when not)
    other: str  # general, and a special type or fixed line (when not same)
    special: str | None  # any special type
    pager: str | None
    before_pager: str | None  # a special type checked before pager
    carrier_keys: pa.Array  # "+" and a carrier prefix
    carrier_names: pa.Array  # its English name (an empty one is null)
    carrier_lengths: tuple[int, ...]  # of the codes whose prefixes have one length
    carrier_mixed: pa.Array  # the positions of codes whose prefixes have several lengths
    carrier_mixed_lengths: tuple[int, ...]  # theirs


#: A pattern that matches nothing (RE2 has no empty class): text after the end.
_NEVER = "$x"


def _lengths(code: str, lengths: Sequence[int]) -> str:
    """RE2 for the key's length (``+``, code and national number) of these national lengths."""
    return "|".join(str(1 + len(code) + n) for n in lengths) if lengths else "[0-9]+"


def _alternative(code: str, desc: PhoneNumberDesc | None) -> str | None:
    # The length sits in the key ("len:+digits"), so one RE2 pattern checks both.
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    if not pattern:
        return None
    return f"(?:{_lengths(code, desc.possible_length)}):\\+{code}(?:{pattern})"


def _either(alternatives: Sequence[str | None]) -> str:
    return "(?:" + ("|".join(a for a in alternatives if a is not None) or _NEVER) + ")"


def _prefix_free(code: int) -> bool:
    """True when no shorter prefix of ``code`` is a country calling code (always, today)."""
    text = str(code)
    known = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    return not any(int(text[:n]) in known for n in range(1, len(text)))


def _re2_reads(code: _Code) -> bool:
    """True when RE2 compiles every pattern of a code (else its region takes the slow path:
    RE2 has no look-around or back-references, which Python's ``re`` has)."""
    patterns = [code.general, code.national_prefix, *code.types.values()]
    try:
        for pattern in patterns:
            if pattern is not None:
                pc.match_substring_regex(pa.array([""], STRING), pattern)
    except pa.ArrowInvalid:
        return False
    return True


def _code(code: int, region: str, meta: PhoneMetadata, carriers: dict[str, str]) -> _Code:
    text = str(code)
    types = {
        name: alternative
        for name in (*_SPECIAL_TYPES, "fixed_line", "mobile")
        if (alternative := _alternative(text, getattr(meta, name))) is not None
    }
    prefix = meta.national_prefix_for_parsing
    # The code and the national number's first digit: a one-digit national prefix (France's,
    # Ghana's "0" ...) is refused here, in the same pass.
    first = "0-9"
    if prefix is not None and len(prefix) == 1 and prefix.isdigit():
        first, prefix = "".join(digit for digit in "0123456789" if digit != prefix), None
    return _Code(
        code=text,
        region=region,
        shaped=f"{text}[{first}]",
        national_prefix=f"\\+{text}(?:{prefix})" if prefix else None,
        general=_alternative(text, meta.general_desc),
        types=types,
        same_mobile_and_fixed=bool(meta.same_mobile_and_fixed_line_pattern),
        carriers=carriers,
    )


@functools.cache
def _carrier_prefixes() -> dict[str, dict[str, str]]:
    """``"+"`` and each carrier prefix with an English name (phonenumbers asks for English;
    a prefix without it is skipped over) -> that name, by the country calling code it starts
    with."""
    by_code: dict[str, dict[str, str]] = {}
    for key, names in CARRIER_DATA.items():
        if "en" not in names:
            continue
        for length in range(1, 4):
            if int(key[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                by_code.setdefault(key[:length], {})["+" + key] = names["en"]
                break
    return by_code


@functools.cache
def _tables(regions: tuple[str, ...] = FAST_REGIONS) -> _Tables:
    table: list[_Code] = []
    for region in regions:
        meta = PhoneMetadata.metadata_for_region(region, None)
        code = phonenumbers.country_code_for_region(region)
        # Shared codes (+1, +7, +44, ...) pick their region by leading digits: slow path.
        if meta is None or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) != (region,):
            continue
        if _prefix_free(code) and _re2_reads(
            compiled := _code(code, region, meta, _carrier_prefixes().get(str(code), {}))
        ):
            table.append(compiled)
    codes = [entry.code for entry in table]
    legacy = sorted(CI_LEGACY_MOBILE_PREFIX.items())
    return _Tables(
        codes=pa.array(codes, STRING),
        regions=pa.array([entry.region for entry in table], STRING),
        table=tuple(table),
        code_lengths=tuple(sorted({len(code) for code in codes})),
        ci=codes.index(_CI) if _CI in codes else None,
        ci_legacy_keys=pa.array([old for old, _ in legacy], STRING),
        ci_legacy_prefixes=pa.array([new for _, new in legacy], STRING),
    )


@functools.lru_cache(maxsize=256)
def _patterns(regions: tuple[str, ...], present: frozenset[int]) -> _Patterns:
    """The patterns of the codes at positions ``present`` of ``_tables(regions)``.

    ``shaped`` and ``national_prefix`` run on the number, the others on the key
    ``len:+digits:len:+digits`` (:func:`_keys`): ``^A:B$`` asks that the number match ``A``
    and ``B``, so "general and some type" is one pass; ``^A:`` reads the first half alone.
    ``_number_type_helper``'s order comes down to: valid when general and a special type,
    fixed line, or (when the two patterns differ) mobile; the carrier is looked up when general
    and fixed line (when the two are one) or mobile (when not) and no special type matches
    first, or when valid and pager and no special type before pager.
    """
    positions = sorted(present)
    codes = [_tables(regions).table[n] for n in positions]

    def of(names: Sequence[str], same: bool | None = None) -> list[str | None]:
        return [
            entry.types.get(name)
            for entry in codes
            if same is None or entry.same_mobile_and_fixed == same
            for name in names
        ]

    general = _either([entry.general for entry in codes])
    special = of(_SPECIAL_TYPES)
    before_pager = of(_SPECIAL_TYPES[: _SPECIAL_TYPES.index("pager")])
    pager = of(("pager",))
    mobile = of(("mobile",), same=False)
    prefixes = [entry.national_prefix for entry in codes if entry.national_prefix is not None]
    carriers = {key: name for entry in codes for key, name in entry.carriers.items()}
    lengths = {
        n: {len(key) for key in entry.carriers} for n, entry in zip(positions, codes, strict=True)
    }
    return _Patterns(
        # 2 to 17 digits after a calling code of at most three: at most 20 digits in all.
        shaped=f"^\\+{_either([entry.shaped for entry in codes])}[0-9]{{1,{_MAX_NSN - 1}}}$",
        national_prefix=f"^{_either(prefixes)}" if prefixes else None,
        mobile=f"^{general}:{_either([*of(('fixed_line',), same=True), *mobile])}$",
        other=f"^{general}:{_either([*special, *of(('fixed_line',), same=False)])}$",
        special=f"^{_either(special)}:" if any(special) else None,
        pager=f"^{_either(pager)}:" if any(pager) else None,
        before_pager=f"^{_either(before_pager)}:" if any(pager) and any(before_pager) else None,
        carrier_keys=pa.array(list(carriers), STRING),
        carrier_names=pa.array([name or None for name in carriers.values()], STRING),
        carrier_lengths=_longest_first(ns for ns in lengths.values() if len(ns) == 1),
        carrier_mixed=pa.array([n for n, ns in lengths.items() if len(ns) > 1], pa.int32()),
        carrier_mixed_lengths=_longest_first(ns for ns in lengths.values() if len(ns) > 1),
    )


def _matches(strings: pa.Array, pattern: str) -> pa.Array:
    """Where ``pattern`` matches (``strings`` without nulls)."""
    return pc.match_substring_regex(strings, pattern, memory_pool=POOL)


def _strings(numbers: pa.Array) -> pa.Array:
    """The numbers as strings, a null as an empty string."""
    if numbers.type != STRING:
        numbers = numbers.cast(STRING)
    return pc.fill_null(numbers, "") if numbers.null_count else numbers


def _keys(numbers: pa.Array) -> pa.Array:
    """Each number as ``len:number:len:number`` (the length in bytes, for the patterns'
    possible lengths; a number with another byte than ``+`` and digits matches none)."""
    length = pc.cast(pc.binary_length(numbers), STRING)
    return pc.binary_join_element_wise(length, numbers, length, numbers, ":", memory_pool=POOL)


def _codes(numbers: pa.Array, tables: _Tables) -> pa.Array:
    """The position in ``tables`` of each number's calling code (after its first character;
    null when none is covered)."""
    code = pa.nulls(len(numbers), pa.int32())
    for n, length in enumerate(tables.code_lengths):
        # Calling codes are prefix-free: at most one length finds one.
        head = pc.utf8_slice_codeunits(numbers, 1, 1 + length, memory_pool=POOL)
        found = pc.index_in(head, value_set=tables.codes, memory_pool=POOL)
        code = found if n == 0 else pc.coalesce(code, found)
    return code


@dataclasses.dataclass(frozen=True, slots=True)
class _Classified:
    """What the fast path says of each number."""

    fast: pa.Array  # the number is worked out here
    valid: pa.Array  # (when fast)
    mobile: pa.Array  # a type phonenumbers looks a carrier up for (when fast and valid)
    patterns: _Patterns


def _present(code: pa.Array) -> frozenset[int]:
    return frozenset(pc.unique(code).drop_null().to_pylist())


def _classify(
    numbers: pa.Array, code: pa.Array, tables: _Tables, regions: tuple[str, ...]
) -> _Classified:
    """Classify ``numbers`` (strings without nulls; ``code``: their calling codes,
    :func:`_codes`; ``regions``: those of ``tables``)."""
    patterns = _patterns(regions, _present(code))
    keys = _keys(numbers)
    fast = _matches(numbers, patterns.shaped)
    if patterns.national_prefix is not None:
        # phonenumbers would try to strip the prefix (and keep it or not by length): slow path.
        fast = pc.and_not(fast, _matches(numbers, patterns.national_prefix))
    # Valid: mobile (most numbers), or else another type, looked for on the others alone.
    mobile = _matches(keys, patterns.mobile)
    valid = mobile
    if mobile.false_count:
        others = pc.invert(mobile)
        # Their own codes' patterns (a few numbers: old, fixed lines, invalid ...).
        other = _patterns(regions, _present(code.filter(others))).other
        found = _matches(keys.filter(others), other)
        valid = pc.replace_with_mask(mobile, others, found)
    if patterns.special is not None:
        mobile = pc.and_not(mobile, _matches(keys, patterns.special))
    if patterns.pager is not None:
        pager = _matches(keys, patterns.pager)
        if patterns.before_pager is not None:
            pager = pc.and_not(pager, _matches(keys, patterns.before_pager))
        mobile = pc.or_(mobile, pager)
    return _Classified(fast, valid, mobile, patterns)


def _longest_first(lengths: Iterable[set[int]]) -> tuple[int, ...]:
    return tuple(sorted(set().union(*lengths), reverse=True))


def _prefixes(numbers: pa.Array, lengths: Sequence[int], keys: pa.Array) -> pa.Array:
    """The position in ``keys`` of each number's longest prefix among ``lengths``."""
    # One set of every length: a prefix can only find a key of its length or, when the
    # number is shorter, the whole number, which is then its longest prefix too.
    at = pa.nulls(len(numbers), pa.int32())
    for n, length in enumerate(lengths):
        prefix = pc.utf8_slice_codeunits(numbers, 0, length, memory_pool=POOL)
        found = pc.index_in(prefix, value_set=keys, memory_pool=POOL)
        at = found if n == 0 else pc.coalesce(at, found)
    return at


def _carriers(numbers: pa.Array, code: pa.Array, wanted: pa.Array, patterns: _Patterns) -> pa.Array:
    """The carrier of each ``wanted`` number (``+`` and digits, its calling code at ``code``;
    null elsewhere): the longest prefix with an English name wins, as in
    ``phonenumbers.prefix``; an empty name gives null."""
    # A key starts with its calling code: a number whose code's prefixes have one length is
    # looked up at that length alone; the others (few: Mali's, France's ...) at each of theirs.
    at = _prefixes(numbers, patterns.carrier_lengths, patterns.carrier_keys)
    if len(patterns.carrier_mixed):
        mixed = pc.and_(pc.is_in(code, value_set=patterns.carrier_mixed), wanted)
        if mixed.true_count:
            found = _prefixes(
                numbers.filter(mixed), patterns.carrier_mixed_lengths, patterns.carrier_keys
            )
            at = pc.replace_with_mask(at, mixed, found)
    at = pc.if_else(wanted, at, pa.scalar(None, pa.int32()))
    return pc.take(patterns.carrier_names, at, memory_pool=POOL)


# Only the numbers outside numbering's fast path come here: 65,536 of them are a few tens of MB
# at most (with number_info's cache), where 262,144 let the two caches reach 150 MB.
@functools.lru_cache(maxsize=65_536)
def recipient_details(raw: str, region: str = "CI") -> tuple[str, bool, str | None, str | None]:
    """How a history row's ``HIS_DESTINATAIRE`` is stored: ``(recipient, valid, country, carrier)``.

    The E.164 form when the number is valid or is a pre-2021 Ivorian mobile number that the
    2021 renumbering maps to a valid one; otherwise the raw string with ``valid`` False (the
    history keeps every message). Cached per distinct number and region.

    Example:
        >>> recipient_details("+22508081488")
        ('+2250708081488', True, 'CI', 'Orange')
    """
    try:
        e164: str | None = normalize_number(raw, region)
    except SMSValidationError:
        e164 = migrate_legacy_ci(raw)
        if e164 is not None:
            try:
                e164 = normalize_number(e164, region)
            except SMSValidationError:
                e164 = None
    if e164 is None:
        country, carrier = number_info(raw.strip()) if raw.strip().startswith("+") else (None, None)
        return raw, False, country, carrier
    country, carrier = number_info(e164)
    return e164, True, country, carrier


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
    numbers = _strings(numbers)
    count = len(numbers)
    code = _codes(numbers, tables)
    # Eight-digit Ivorian numbers: the 2021 renumbering (the operator's prefix goes before
    # the old number) is classified with the page, after it; it is kept where the old number
    # is invalid today and the new one valid.
    old: pa.Array | None = None
    if tables.ci is not None:
        old = pc.and_(
            pc.equal(code, tables.ci), pc.equal(pc.binary_length(numbers), len("+225") + 8)
        )
        old = pc.fill_null(old, False)
    migrated = pa.array([], STRING)
    if old is not None and old.true_count:
        nsn = pc.utf8_slice_codeunits(numbers.filter(old), len("+225"))
        operator = pc.take(
            tables.ci_legacy_prefixes,
            pc.index_in(pc.utf8_slice_codeunits(nsn, 0, 2), value_set=tables.ci_legacy_keys),
        )
        migrated = pc.fill_null(pc.binary_join_element_wise("+225", operator, nsn, ""), "")
    both = _classify(
        pa.concat_arrays([numbers, migrated]),
        pa.concat_arrays([code, code.filter(old)]) if len(migrated) else code,
        tables,
        regions,
    )
    fast, again_fast = both.fast.slice(0, count), both.fast.slice(count)
    seen_valid, again_valid = both.valid.slice(0, count), both.valid.slice(count)
    seen_mobile, again_mobile = both.mobile.slice(0, count), both.mobile.slice(count)

    valid = pc.and_(fast, seen_valid)
    mobile = pc.and_(valid, seen_mobile)
    recipient = numbers
    if old is not None and len(migrated):
        kept = pc.and_(pc.and_(again_fast, again_valid), pc.and_not(fast, seen_valid).filter(old))
        renumbered = pc.replace_with_mask(old, old, kept)
        recipient = pc.replace_with_mask(numbers, renumbered, migrated.filter(kept))
        valid = pc.or_(valid, renumbered)
        mobile = pc.replace_with_mask(mobile, renumbered, again_mobile.filter(kept))
    carrier = _carriers(recipient, code, mobile, both.patterns)
    country = pc.take(tables.regions, code)

    # The rest, once per distinct number, by phonenumbers itself.
    if not fast.false_count:
        return NumberColumns(recipient, valid, country, carrier)
    rest = numbers.filter(pc.invert(fast))
    distinct = pc.unique(rest)
    details = [slow(number) for number in distinct.to_pylist()]
    at = pc.index_in(numbers, value_set=distinct)
    columns = [
        pc.take(pa.array(values, kind), at)
        for values, kind in zip(
            zip(*details, strict=True), (STRING, pa.bool_(), STRING, STRING), strict=True
        )
    ]
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
    if region not in regions:
        regions = (*regions, region)
    tables = _tables(regions)
    numbers = _strings(numbers)
    reading = _national_reading(region)
    written = numbers
    if reading is not None:
        code, idd = reading
        national = pc.and_(_matches(numbers, r"^[0-9]+$"), pc.invert(_matches(numbers, idd)))
        with_code = pc.binary_join_element_wise("+" + code, numbers, "", memory_pool=POOL)
        written = pc.if_else(national, with_code, numbers)
    seen = _classify(written, _codes(written, tables), tables, regions)
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
