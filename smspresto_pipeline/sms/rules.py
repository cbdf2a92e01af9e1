"""SMS rules applied before any request that costs money.

* Phone numbers: parsed with ``phonenumbers`` and written in E.164 (``+2250708081488``).
  Sending refuses anything ``phonenumbers`` calls invalid; :func:`migrate_legacy_ci` maps
  Ivorian mobile numbers from before the 2021 move to ten digits, for reading history.
* Senders: an alphanumeric name (ASCII letters and digits, inner single spaces allowed, at most
  11 characters, at least one letter) or a phone number (optional ``+``, 1 to 15 digits).
* Texts: GSM 03.38 (GSM-7) when every character is in the basic set or its extension table,
  else UCS-2. A single SMS carries 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2); a
  concatenated SMS gives up 7 septets / 3 units per part to its header, so 153 / 67 per part.
  Parts never split an escape sequence (extension characters take two septets) or a surrogate
  pair (characters outside the BMP, e.g. most emoji, take two UTF-16 units).

Example:
    >>> normalize_number("07 08 08 14 88")
    '+2250708081488'
    >>> describe_text("Bonjour à tous").encoding
    'GSM-7'
    >>> count_segments("Votre reçu est prêt")  # ç and ê are not GSM-7
    1
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal

import phonenumbers
from phonenumbers import carrier as phone_carrier

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.wording import plural

__all__ = [
    "CI_LEGACY_MOBILE_PREFIX",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Encoding",
    "SegmentInfo",
    "count_segments",
    "describe_text",
    "migrate_legacy_ci",
    "normalize_number",
    "normalize_recipients",
    "number_info",
    "validate_message",
    "validate_send",
    "validate_sender",
]

Encoding = Literal["GSM-7", "UCS-2"]

#: The GSM 03.38 default alphabet (one septet each). 0x1B (escape) is left out: it only
#: introduces an extension character. 0x09 is the capital Ç; the small ç is not GSM-7.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The GSM 03.38 extension table: each costs two septets (escape + character).
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

_GSM7_SINGLE, _GSM7_MULTI = 160, 153
_UCS2_SINGLE, _UCS2_MULTI = 70, 67

#: Sender names: ASCII letters and digits, words separated by single spaces.
_ALPHA_SENDER = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}")
_MAX_ALPHA_SENDER = 11
#: What a written phone number may contain: digits, spaces, ``+``, ``-``, ``.``, brackets.
#: Letters are refused: ``phonenumbers`` would read them as a keypad ("1-800-FLOWERS").
_NUMBER_CHARS = re.compile(r"[\d\s+\-.()]+")
_MAX_SHOWN = 40
_PARSE_REASONS: dict[int, str] = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "too few digits",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the 00 prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}

#: Pre-2021 Ivorian mobile ranges (first two of the eight digits) and the prefix each operator
#: took on 31 January 2021 (Moov 01, MTN 05, Orange 07). The ranges are those libphonenumber
#: published for the eight-digit plan (source: the regulator, ATCI/ARTCI). Ranges of operators
#: that were gone by 2021 (GreenN 60-61, Aircom 69) and fixed lines (whose operator the old
#: number does not tell) are not migrated.
CI_LEGACY_MOBILE_PREFIX: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(("01", "02", "03", "40", "41", "42", "43", "50", "51", "52", "53"), "01"),
        **dict.fromkeys(("70", "71", "72", "73"), "01"),
        **dict.fromkeys(("04", "05", "06", "44", "45", "46", "54", "55", "56", "64", "65"), "05"),
        **dict.fromkeys(("66", "74", "75", "76", "84", "85", "86", "94", "95", "96"), "05"),
        **dict.fromkeys(("07", "08", "09", "47", "48", "49", "57", "58", "59", "67", "68"), "07"),
        **dict.fromkeys(("77", "78", "79", "87", "88", "89", "97", "98"), "07"),
    }
)
_CI_LEGACY_NUMBER = re.compile(r"(?:\+225|00225|225)?([0-9]{8})")


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text is billed.

    Attributes:
        encoding: ``"GSM-7"`` or ``"UCS-2"``.
        length: septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).
        segments: billed SMS parts (0 for an empty text).
        per_segment: capacity of one part: 160 / 70 for a single SMS, 153 / 67 when split.
        characters_left_in_last_segment: septets or units still free in the last part.
        non_gsm_chars: the distinct characters that force UCS-2, in order of appearance.
    """

    encoding: Encoding
    length: int
    segments: int
    per_segment: int
    characters_left_in_last_segment: int
    non_gsm_chars: tuple[str, ...]


def _shown(raw: str) -> str:
    """``raw`` quoted and cut short, for error messages about user input."""
    text = raw if len(raw) <= _MAX_SHOWN else raw[: _MAX_SHOWN - 1] + "…"
    return repr(text)


# Numbers normalize_number returned, each its own normalisation whatever the region (an E.164
# number reads the same everywhere): checking one again is a lookup, not a parse. A campaign's
# send checks again every number its preparation just normalised. Bounded: emptied when full.
_NORMALISED: set[str] = set()
_NORMALISED_MAX = 200_000


def normalize_number(raw: str, region: str = "CI") -> str:
    """Return ``raw`` in E.164, reading national forms as numbers of ``region``.

    Accepts spaces, dashes, dots, brackets, a ``+`` or ``00`` international prefix and the
    national form (``07 08 08 14 88`` in CI).

    Raises:
        SMSValidationError: naming the number, when it is not a phone number or not a valid
            number for its country.

    Example:
        >>> normalize_number("00225 07-08-08-14-88")
        '+2250708081488'
    """
    if raw in _NORMALISED:
        return raw
    if not raw.strip():
        raise SMSValidationError("empty phone number")
    if not _NUMBER_CHARS.fullmatch(raw):
        raise SMSValidationError(
            f"{_shown(raw)} is not a phone number (only digits, spaces, + - . ( ))"
        )
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_REASONS.get(exc.error_type, "unreadable")
        raise SMSValidationError(f"{_shown(raw)} is not a phone number ({why})") from None
    e164: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or f"+{parsed.country_code}"
        reason = f"{_shown(raw)} is not a valid number for {where}"
        migrated = migrate_legacy_ci(e164) if parsed.country_code == 225 else None
        if migrated is not None:
            reason += f" (an eight-digit number from before 2021? today it is {migrated})"
        raise SMSValidationError(reason)
    remember_normalized(e164)
    return e164


def remember_normalized(e164: str) -> None:
    """Record ``e164`` as a number :func:`normalize_number` returns as it is, so that checking
    it again is a lookup (for a batch path that proved it valid by other means)."""
    if len(_NORMALISED) >= _NORMALISED_MAX:
        _NORMALISED.clear()
    _NORMALISED.add(e164)


def normalize_recipients(numbers: Iterable[str], region: str = "CI") -> tuple[str, ...]:
    """Return the numbers in E.164, duplicates (after normalisation) removed, order kept.

    Raises:
        SMSValidationError: once for all bad numbers; ``problems`` has one line per bad number
            saying why. Also raised when there is no number at all.
        TypeError: when given a single string instead of an iterable of numbers.
    """
    if isinstance(numbers, str):
        raise TypeError("normalize_recipients takes an iterable of numbers, not one string")
    seen: dict[str, None] = {}
    problems: list[str] = []
    total = 0
    for raw in numbers:
        total += 1
        try:
            seen.setdefault(normalize_number(raw, region), None)
        except SMSValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        # The noun counts the recipients, the verb the invalid ones: "1 of 2 recipients is".
        verb = "is" if len(problems) == 1 else "are"
        raise SMSValidationError(
            f"{len(problems)} of {plural(total, 'recipient')} {verb} invalid: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            problems=tuple(problems),
        )
    if not seen:
        raise SMSValidationError("no recipients given")
    return tuple(seen)


def validate_sender(sender: str) -> str:
    """Return the sender without surrounding spaces, or raise when the API would refuse it.

    A sender is either a name of at most 11 characters (ASCII letters and digits, single
    spaces between words, at least one letter: handsets show nothing else reliably) or a phone
    number (an optional ``+`` and 1 to 15 digits).

    Raises:
        SMSValidationError: saying which rule the sender breaks.
    """
    text = sender.strip()
    if not text:
        raise SMSValidationError("the sender is empty")
    if _NUMERIC_SENDER.fullmatch(text):
        return text
    if text.lstrip("+").isdigit():
        raise SMSValidationError(f"numeric sender {_shown(text)} is too long: at most 15 digits")
    if not _ALPHA_SENDER.fullmatch(text):
        raise SMSValidationError(
            f"sender {_shown(text)} may hold only ASCII letters, digits and single spaces"
        )
    if len(text) > _MAX_ALPHA_SENDER:
        raise SMSValidationError(
            f"sender {_shown(text)} has {len(text)} characters: at most {_MAX_ALPHA_SENDER}"
        )
    return text


def validate_message(text: str) -> str:
    """Return ``text`` unchanged when it can be sent.

    Raises:
        SMSValidationError: when the text is empty, only whitespace, or holds a lone UTF-16
            surrogate (which no encoding can carry).
    """
    if not text.strip():
        raise SMSValidationError("the message is empty")
    try:
        # Strict UTF-8 refuses exactly the surrogates (every other code point encodes): a pass
        # in C rather than a Python loop over each character.
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SMSValidationError(
            "the message holds a lone surrogate: it is not valid text"
        ) from None
    return text


def validate_send(
    sender: str, message: str, numbers: Iterable[str], region: str = "CI"
) -> tuple[str, str, tuple[str, ...]]:
    """The sender, the text and the recipients of a one-text send, each checked and cleaned
    (:func:`validate_sender`, :func:`validate_message`, :func:`normalize_recipients`).

    Raises:
        SMSValidationError: once for every problem of the three, so one attempt reports them
            all; ``problems`` has one line per problem.
    """
    problems: list[str] = []
    clean_sender, clean_message = sender, message
    recipients: tuple[str, ...] = ()
    try:
        clean_sender = validate_sender(sender)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
    try:
        clean_message = validate_message(message)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
    try:
        recipients = normalize_recipients(numbers, region=region)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SMSValidationError(
            f"{plural(len(problems), 'problem')}, nothing sent: {problems[0]}",
            problems=tuple(problems),
        )
    return clean_sender, clean_message, recipients


_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def _non_gsm(text: str) -> tuple[str, ...]:
    # All in C: the set difference, then its few characters in order of first appearance.
    outside = set(text) - _GSM7_ALL
    if not outside:
        return ()
    return tuple(sorted(outside, key=text.index))


def _pack(units: Iterable[int], single: int, multi: int) -> tuple[int, int, int]:
    """Split a text given as indivisible unit sizes; return (length, parts, left in last part)."""
    sizes = list(units)
    length = sum(sizes)
    if length <= single:
        return _pack_uniform(length, single, multi)
    parts, used = 1, 0
    for size in sizes:
        if used + size > multi:
            parts, used = parts + 1, 0
        used += size
    return length, parts, multi - used


def _pack_uniform(length: int, single: int, multi: int) -> tuple[int, int, int]:
    """:func:`_pack` for a text whose units are all of size 1 (no unit can straddle a part)."""
    if length == 0:
        return 0, 0, single
    if length <= single:
        return length, 1, single - length
    parts = -(-length // multi)
    return length, parts, parts * multi - length


def describe_text(text: str) -> SegmentInfo:
    """Describe how ``text`` is billed: encoding, length, segments and what forces UCS-2.

    Example:
        >>> info = describe_text("Prix: 5€")
        >>> info.encoding, info.length, info.segments
        ('GSM-7', 9, 1)
    """
    non_gsm = _non_gsm(text)
    if non_gsm:
        encoding: Encoding = "UCS-2"
        single, multi = _UCS2_SINGLE, _UCS2_MULTI
        # Counted in C: a character outside the BMP takes two UTF-16 units.
        uniform = len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text)
        sizes: Iterable[int] = (2 if ord(ch) > 0xFFFF else 1 for ch in text)
    else:
        encoding = "GSM-7"
        single, multi = _GSM7_SINGLE, _GSM7_MULTI
        uniform = not any(ch in text for ch in GSM7_EXTENSION)
        sizes = (2 if ch in GSM7_EXTENSION else 1 for ch in text)
    if uniform:
        length, segments, left = _pack_uniform(len(text), single, multi)
    else:
        length, segments, left = _pack(sizes, single, multi)
    return SegmentInfo(
        encoding=encoding,
        length=length,
        segments=segments,
        per_segment=multi if segments > 1 else single,
        characters_left_in_last_segment=left,
        non_gsm_chars=non_gsm,
    )


def count_segments(text: str) -> int:
    """The number of SMS parts ``text`` is billed as (0 for an empty text)."""
    return describe_text(text).segments


def migrate_legacy_ci(number: str) -> str | None:
    """Map a pre-2021 eight-digit Ivorian mobile number to its ten-digit E.164 form.

    On 31 January 2021 Côte d'Ivoire put the operator's prefix before every eight-digit
    number: 07 for Orange, 05 for MTN, 01 for Moov mobiles. The old number's first two digits
    tell the operator. Accepts ``+225XXXXXXXX``, ``00225XXXXXXXX``, ``225XXXXXXXX`` and the bare
    eight digits, with spaces, dashes or dots.

    Returns:
        The new E.164 number, or ``None`` when ``number`` is not an eight-digit Ivorian mobile
        number of a range the renumbering covered (fixed lines: the old number does not tell
        whether 21, 25 or 27 applies).

    Example:
        >>> migrate_legacy_ci("+22508081488")
        '+2250708081488'
    """
    match = _CI_LEGACY_NUMBER.fullmatch(re.sub(r"[\s\-.]", "", number))
    if match is None:
        return None
    old = match.group(1)
    prefix = CI_LEGACY_MOBILE_PREFIX.get(old[:2])
    return None if prefix is None else f"+225{prefix}{old}"


@functools.lru_cache(maxsize=65_536)
def number_info(e164: str) -> tuple[str | None, str | None]:
    """Return ``(ISO country code, carrier name)`` of an E.164 number; cached.

    The carrier is the operator the number range was allocated to (``phonenumbers`` data;
    ported numbers keep their original operator), ``None`` when unknown. Both are ``None`` when
    ``e164`` cannot be parsed; the country is ``None`` for a country code of no single region.

    Example:
        >>> number_info("+2250708081488")
        ('CI', 'Orange')
    """
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None, None
    region = phonenumbers.region_code_for_number(parsed)
    if region in (None, "ZZ", "001"):
        region = None
    name = phone_carrier.name_for_number(parsed, "en")
    return region, name or None
