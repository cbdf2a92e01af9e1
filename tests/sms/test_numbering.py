"""The column-wise number enrichment gives what ``phonenumbers`` gives, number for number."""

import random
from collections.abc import Callable, Sequence

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import normalize_number
from smspresto_pipeline.sms.numbering import (
    FAST_REGIONS,
    enrich_numbers,
    normalize_numbers,
    recipient_details,
    valid_e164,
)

Details = tuple[str, bool, str | None, str | None]

#: Every region phonenumbers knows: the generated numbers come from all of them.
REGIONS = tuple(sorted(phonenumbers.SUPPORTED_REGIONS))
#: The fast path is also run over every region it can take (a code of its own), so that its
#: reading of each kind of pattern, length and carrier prefix is checked, not only the few
#: that the covered regions happen to use.
EVERY_REGION = tuple(
    regions[0]
    for regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.values()
    if len(regions) == 1 and regions[0] != "001"
)
TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER,
    phonenumbers.PhoneNumberType.UAN,
    phonenumbers.PhoneNumberType.VOICEMAIL,
)
FORMATS = ("e164", "international", "national", "00", "bare", "plus-nsn-with-zero")


def reference(region: str) -> Callable[[str], Details]:
    """``phonenumbers`` itself, number by number, without any cache."""
    return lambda number: recipient_details.__wrapped__(number, region)


def example(region: str, kind: int) -> phonenumbers.PhoneNumber | None:
    return phonenumbers.example_number_for_type(region, kind)


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """A number as history may hold it: valid or not, of many regions, in any written form."""
    shape = draw(st.sampled_from(("example", "example", "example", "old-ci", "digits", "text")))
    if shape == "old-ci":
        old = draw(st.text("0123456789", min_size=8, max_size=8))
        return draw(st.sampled_from(("+225", "225", "00225", "", "+225 "))) + old
    if shape == "digits":
        return "+" + draw(st.text("0123456789", min_size=0, max_size=22))
    if shape == "text":
        return draw(st.text(max_size=12))
    region = draw(st.sampled_from(REGIONS))
    number = example(region, draw(st.sampled_from(TYPES)))
    if number is None:
        number = example(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    assume_number = number or phonenumbers.parse("+2250708081488")
    nsn = list(phonenumbers.national_significant_number(assume_number))
    # Mutations: each digit may change, the number may lose or gain digits.
    for position in draw(st.lists(st.integers(0, len(nsn) - 1), max_size=3)):
        nsn[position] = draw(st.sampled_from("0123456789"))
    nsn = nsn[: len(nsn) - draw(st.integers(0, 2))] + draw(
        st.lists(st.sampled_from("0123456789"), max_size=2)
    )
    digits = "".join(nsn)
    code = str(assume_number.country_code)
    written = draw(st.sampled_from(FORMATS))
    if written == "e164":
        return f"+{code}{digits}"
    if written == "00":
        return f"00{code}{digits}"
    if written == "bare":
        return f"{code}{digits}"
    if written == "plus-nsn-with-zero":
        return f"+{code}0{digits}"
    try:
        parsed = phonenumbers.parse(f"+{code}{digits}")
    except phonenumbers.NumberParseException:
        return f"+{code}{digits}"
    kind = (
        phonenumbers.PhoneNumberFormat.INTERNATIONAL
        if written == "international"
        else phonenumbers.PhoneNumberFormat.NATIONAL
    )
    return phonenumbers.format_number(parsed, kind)


def enriched(
    numbers: Sequence[str | None],
    slow: Callable[[str], Details],
    regions: tuple[str, ...] = FAST_REGIONS,
) -> list[Details]:
    """What :func:`enrich_numbers` gives for ``numbers`` (``slow`` off the fast path), by row."""
    columns = enrich_numbers(pa.array(numbers, pa.string()), slow, regions=regions)
    return list(
        zip(
            columns.recipient.to_pylist(),
            columns.valid.to_pylist(),
            columns.country.to_pylist(),
            columns.carrier.to_pylist(),
            strict=True,
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    numbers=st.lists(st.one_of(written_numbers(), st.none()), min_size=1, max_size=40),
    region=st.sampled_from(("CI", "CI", "FR", "SN", "US")),
    fast_regions=st.sampled_from((FAST_REGIONS, EVERY_REGION)),
)
def test_every_number_gets_what_phonenumbers_gives(
    numbers: list[str | None], region: str, fast_regions: tuple[str, ...]
) -> None:
    slow = reference(region)
    got = enriched(numbers, slow, regions=fast_regions)
    assert got == [slow(number or "") for number in numbers]


def _fast_only(numbers: list[str]) -> tuple[list[Details], list[str]]:
    """What the fast path gives, and the numbers it handed to the slow path."""
    handed: list[str] = []

    def slow(number: str) -> Details:
        handed.append(number)
        return recipient_details(number, "CI")

    got = enriched(numbers, slow)
    return got, handed


@pytest.mark.parametrize("region", FAST_REGIONS)
def test_the_covered_regions_numbers_take_the_fast_path(region: str) -> None:
    # Every example number of a covered region, in E.164, and each with a digit changed
    # (often invalid): the fast path answers for all of them, and answers right.
    numbers = []
    for kind in TYPES:
        number = example(region, kind)
        if number is not None:
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            numbers += [e164, e164[:-1] + str((int(e164[-1]) + 1) % 10), e164[:-2]]
    got, handed = _fast_only(numbers)
    assert handed == [n for n in numbers if n.startswith("+330")]
    assert got == [recipient_details.__wrapped__(n, "CI") for n in numbers]
    assert any(valid for _, valid, _, _ in got)


def test_old_ivorian_numbers_are_renumbered_on_the_fast_path() -> None:
    numbers = ["+22508081488", "+22556371758", "+22501020304", "+22521234567", "+22560123456"]
    got, handed = _fast_only(numbers)
    assert handed == []
    assert got == [
        ("+2250708081488", True, "CI", "Orange"),
        ("+2250556371758", True, "CI", "MTN"),
        ("+2250101020304", True, "CI", "Moov"),
        ("+22521234567", False, "CI", None),  # a fixed line: the old number does not tell
        ("+22560123456", False, "CI", None),  # GreenN, gone before 2021
    ]


def test_the_fast_path_reads_the_lengths_phonenumbers_reads() -> None:
    # National numbers of 1 to 20 digits: phonenumbers reads 2 to 17 (the country is known);
    # the fast path answers for those, except where a national prefix (France's and Ghana's
    # "0") could be stripped, and leaves the others.
    shapes = [
        (code, first, length)
        for code in ("225", "33", "233")
        for first in "07"
        for length in range(1, 21)
    ]
    numbers = [f"+{code}{first}{'7' * (length - 1)}" for code, first, length in shapes]
    got, handed = _fast_only(numbers)
    assert got == [recipient_details.__wrapped__(n, "CI") for n in numbers]
    assert handed == [
        number
        for number, (code, first, length) in zip(numbers, shapes, strict=True)
        if not 2 <= length <= 17 or (code != "225" and first == "0")
    ]


def test_the_rest_goes_to_phonenumbers_once_per_distinct_number() -> None:
    numbers = ["07 08 08 14 88", "+12025550123", "07 08 08 14 88", "abc", "+2250708081488"]
    got, handed = _fast_only(numbers)
    assert sorted(handed) == ["+12025550123", "07 08 08 14 88", "abc"]
    assert got[0] == got[2] == ("+2250708081488", True, "CI", "Orange")
    assert got[1] == ("+12025550123", True, "US", None)


def test_every_regions_example_numbers_and_their_neighbours() -> None:
    # Hypothesis draws a few hundred numbers; this runs the fast path, over every region it
    # can take, on each example number phonenumbers has and on neighbours of it (one to three
    # digits changed, a seeded draw): the kinds of pattern, type order and carrier prefix that
    # only some regions have are all read, and each must agree with phonenumbers.
    rng = random.Random(9)
    numbers = [
        "+67670123",  # Tonga: a fixed line inside a carrier's prefix: no carrier
        "+34612585698",  # Spain: nested carrier prefixes, the longest wins
        "+330612345678",  # France: the national prefix after +33 is dropped
    ]
    for region in EVERY_REGION:
        for kind in TYPES:
            number = example(region, kind)
            if number is None:
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            numbers.append(e164)
            start = 1 + len(str(number.country_code))
            for _ in range(8):
                digits = list(e164)
                for _ in range(rng.randint(1, 3)):
                    digits[rng.randrange(start, len(digits))] = rng.choice("0123456789")
                numbers.append("".join(digits))
    slow = reference("CI")
    got = enriched(numbers, slow, regions=EVERY_REGION)
    wrong = [(n, g, slow(n)) for n, g in zip(numbers, got, strict=True) if g != slow(n)]
    assert wrong == []
    assert sum(valid for _, valid, _, _ in got) > len(numbers) // 4


def test_without_a_covered_region_everything_goes_to_phonenumbers() -> None:
    numbers = ["+2250708081488", "+22508081488"]
    handed: list[str] = []

    def slow(number: str) -> Details:
        handed.append(number)
        return recipient_details(number, "CI")

    columns = enrich_numbers(pa.array(numbers, pa.string()), slow, regions=("US",))
    assert sorted(handed) == sorted(numbers)
    assert columns.recipient.to_pylist() == ["+2250708081488", "+2250708081488"]


def sent_form(number: str, region: str) -> str | None:
    """What ``normalize_number`` sends to: ``phonenumbers``' E.164 of a valid number, else
    ``None`` (read afresh, without the module's cache)."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def campaign_numbers(draw: st.DrawFn) -> str:
    """A number as a campaign's query may hold it: the forms above, or bare digits (a
    national number without its spaces, with the calling code, an international prefix ...)."""
    shape = draw(st.sampled_from(("written", "national-digits", "digits")))
    if shape == "digits":
        return draw(st.text("0123456789", max_size=20))
    written = draw(written_numbers())
    if shape == "written":
        return written
    return "".join(ch for ch in written if ch.isdigit())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    numbers=st.lists(campaign_numbers(), min_size=1, max_size=40),
    region=st.sampled_from(("CI", "CI", "CI", "SN", "ML", "FR", "US", "GB")),
    fast_regions=st.sampled_from((FAST_REGIONS, EVERY_REGION, ("US",))),
)
def test_valid_e164_gives_only_what_phonenumbers_sends_to(
    numbers: list[str], region: str, fast_regions: tuple[str, ...]
) -> None:
    got = valid_e164(pa.array(numbers, pa.string()), region, regions=fast_regions).to_pylist()
    wrong = [
        (number, e164)
        for number, e164 in zip(numbers, got, strict=True)
        if e164 is not None and e164 != sent_form(number, region)
    ]
    assert wrong == []


def test_ivorian_national_and_e164_numbers_take_the_fast_path() -> None:
    # Every Ivorian example number and neighbours of it, as bare national digits and in
    # E.164: each valid one is answered by the vectorised path, and answered right.
    rng = random.Random(7)
    numbers = []
    for kind in TYPES:
        number = example("CI", kind)
        if number is None:
            continue
        nsn = phonenumbers.national_significant_number(number)
        for _ in range(20):
            digits = list(nsn)
            digits[rng.randrange(2, len(digits))] = rng.choice("0123456789")
            numbers += ["".join(digits), "+225" + "".join(digits)]
    got = valid_e164(pa.array(numbers, pa.string()), "CI").to_pylist()
    expected = [sent_form(number, "CI") for number in numbers]
    assert got == expected
    assert sum(e164 is not None for e164 in got) > len(numbers) // 4


def test_normalize_numbers_is_normalize_number_for_each() -> None:
    numbers = ["0708081488", "+2250708081488", "07 08 08 14 88", "08081488", "", "abc", "+1202"]
    got = normalize_numbers(numbers, "CI")
    assert got[:3] == ["+2250708081488"] * 3
    expected: list[str] = []
    for number in numbers[3:]:
        with pytest.raises(SMSValidationError) as caught:
            normalize_number(number, "CI")
        expected.append(str(caught.value))
    assert [str(error) for error in got[3:]] == expected
    assert "before 2021" in expected[0]


def test_recipient_details_are_cached() -> None:
    recipient_details.cache_clear()
    recipient_details("+22508081488")
    recipient_details("+22508081488")
    assert recipient_details.cache_info().hits == 1
