"""Tests for the SMS rules: numbers, senders, texts, segments."""

import math
import string

import phonenumbers
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SegmentInfo,
    count_segments,
    describe_text,
    migrate_legacy_ci,
    normalize_number,
    normalize_recipients,
    number_info,
    validate_message,
    validate_send,
    validate_sender,
)
from smspresto_pipeline.sms import rules as sms

GSM_BASIC_TEXT = st.text(alphabet=sorted(GSM7_BASIC))
GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION))
# codec="utf-8" leaves out lone surrogates, which are not text.
NON_GSM_CHAR = st.characters(codec="utf-8", exclude_characters="".join(GSM7_BASIC | GSM7_EXTENSION))
BMP_TEXT = st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0xFFFF))
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"))


def expected_segments(length: int, single: int, multi: int) -> int:
    if length == 0:
        return 0
    return 1 if length <= single else math.ceil(length / multi)


# --- encoding and segments ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "length", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("Bonjour à tous, votre colis est arrivé.", "GSM-7", 39, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("Prix: 5€ {promo}", "GSM-7", 19, 1),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("Votre reçu", "UCS-2", 10, 1),  # the small ç is not in GSM 03.38
        ("Ça marche", "GSM-7", 9, 1),  # the capital Ç is
        ("ç" * 70, "UCS-2", 70, 1),
        ("ç" * 71, "UCS-2", 71, 2),
        ("ç" * 134, "UCS-2", 134, 2),
        ("ç" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        ("Fête", "UCS-2", 4, 1),
        ("line\fbreak", "GSM-7", 11, 1),
    ],
)
def test_describe_text_known_values(text: str, encoding: str, length: int, segments: int) -> None:
    info = describe_text(text)
    assert (info.encoding, info.length, info.segments) == (encoding, length, segments)
    assert count_segments(text) == segments


def test_describe_text_reports_the_characters_that_force_ucs2_once_each_in_order() -> None:
    info = describe_text("Reçu: 5 000 F, merci ! 😀 Reçu")
    assert info.non_gsm_chars == ("ç", "😀")
    assert describe_text("Merci").non_gsm_chars == ()


def test_describe_text_capacity_and_room_left() -> None:
    assert describe_text("a" * 10) == SegmentInfo("GSM-7", 10, 1, 160, 150, ())
    assert describe_text("a" * 200) == SegmentInfo("GSM-7", 200, 2, 153, 106, ())
    assert describe_text("ç" * 100) == SegmentInfo("UCS-2", 100, 2, 67, 34, ("ç",))
    with pytest.raises(AttributeError):
        describe_text("a").segments = 3  # type: ignore[misc]


def test_an_escape_sequence_is_never_split_across_parts() -> None:
    # 306 septets fit two parts of 153 only if the two septets of € could be split.
    text = "a" * 152 + "€" + "a" * 152
    info = describe_text(text)
    assert info.length == 306
    assert info.segments == 3
    assert info.characters_left_in_last_segment == 153 - 1


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    text = "ç" * 66 + "😀" + "ç" * 66
    info = describe_text(text)
    assert info.length == 134
    assert info.segments == 3


@given(GSM_BASIC_TEXT)
def test_gsm_basic_text_follows_the_formula(text: str) -> None:
    info = describe_text(text)
    assert info.encoding == "GSM-7"
    assert info.length == len(text)
    assert info.segments == expected_segments(len(text), 160, 153)


@given(BMP_TEXT.map(lambda t: t + "ç"))
def test_bmp_ucs2_text_follows_the_formula(text: str) -> None:
    info = describe_text(text)
    assert info.encoding == "UCS-2"
    assert info.length == len(text)
    assert info.segments == expected_segments(len(text), 70, 67)


@given(ANY_TEXT)
def test_ucs2_length_counts_utf16_code_units(text: str) -> None:
    info = describe_text(text + "😀")
    assert info.encoding == "UCS-2"
    assert info.length == len((text + "😀").encode("utf-16-le")) // 2


@given(GSM_TEXT, st.sampled_from(sorted(GSM7_EXTENSION)), st.data())
def test_an_extension_character_costs_two_septets(text: str, ext: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    longer = text[:at] + ext + text[at:]
    assert describe_text(longer).encoding == "GSM-7"
    assert describe_text(longer).length == describe_text(text).length + 2


@given(GSM_TEXT, NON_GSM_CHAR, st.data())
def test_any_non_gsm_character_flips_to_ucs2(text: str, char: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    info = describe_text(text[:at] + char + text[at:])
    assert info.encoding == "UCS-2"
    assert info.non_gsm_chars == (char,)


@given(ANY_TEXT, st.data())
@example("a" * 160, None)
def test_segments_never_decrease_when_text_grows(text: str, data: st.DataObject | None) -> None:
    extra = "ç" if data is None else data.draw(ANY_TEXT)
    assert count_segments(text) <= count_segments(text + extra)
    assert describe_text(text).characters_left_in_last_segment >= 0


# --- phone numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "+2250708081488",
        "+225 07 08 08 14 88",
        "00225 07 08 08 14 88",
        "0708081488",
        "07 08 08 14 88",
        "07-08-08-14-88",
        "07.08.08.14.88",
        "(+225) 0708081488",
        "2250708081488",
        " 07 08 08 14 88\u00a0",
    ],
)
def test_normalize_number_accepts_the_usual_forms(raw: str) -> None:
    assert normalize_number(raw) == "+2250708081488"


def test_normalize_number_reads_national_forms_in_the_given_region() -> None:
    assert normalize_number("06 12 34 56 78", region="FR") == "+33612345678"
    assert normalize_number("+33 6 12 34 56 78") == "+33612345678"


def test_a_number_normalised_once_is_checked_again_without_a_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    e164 = normalize_number("07 08 08 14 88")

    def no_parse(*args: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(phonenumbers, "parse", no_parse)
    assert normalize_number(e164, region="FR") == e164
    with pytest.raises(AssertionError, match="parsed again"):
        normalize_number("07 08 08 14 89")  # any other input is parsed


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_what_normalize_number_returns_is_its_own_normalisation_in_any_region(
    region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What makes the shortcut above sound: a parse would give the same answer.
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        pytest.skip(f"no example mobile number for {region}")
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = normalize_number(national, region=region)
    monkeypatch.setattr(sms, "_NORMALISED", set())
    assert normalize_number(e164, region="CI") == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty phone number"),
        ("   ", "empty phone number"),
        ("abc", "is not a phone number"),
        ("1-800-FLOWERS", "is not a phone number"),
        ("+999 123 456 789", "unknown country code"),
        ("0707", "not a valid number for CI"),
        ("+22508081488", "not a valid number for CI"),
    ],
)
def test_normalize_number_names_the_bad_number_and_why(raw: str, reason: str) -> None:
    with pytest.raises(SMSValidationError) as caught:
        normalize_number(raw)
    assert reason in str(caught.value)
    if raw.strip():
        assert repr(raw) in str(caught.value)


def test_an_old_ivorian_number_is_refused_with_its_new_form_as_a_hint() -> None:
    with pytest.raises(SMSValidationError, match=r"today it is \+2250708081488"):
        normalize_number("+22508081488")


def test_a_very_long_input_is_cut_short_in_the_message() -> None:
    with pytest.raises(SMSValidationError) as caught:
        normalize_number("x" * 10_000)
    assert len(str(caught.value)) < 200


CI_MOBILE = st.builds(
    lambda op, rest: f"0{op}{rest}",
    st.sampled_from("157"),
    st.text(alphabet=string.digits, min_size=8, max_size=8),
)


def _groups(national: str, sep: str) -> str:
    return sep.join(national[i : i + 2] for i in range(0, len(national), 2))


@given(CI_MOBILE, st.sampled_from([" ", "-", ".", ""]))
def test_all_written_forms_of_a_number_give_one_e164(national: str, sep: str) -> None:
    e164 = "+225" + national
    forms = [
        national,
        _groups(national, sep),
        "+225" + sep + _groups(national, sep),
        "00225" + sep + _groups(national, sep),
        "(+225) " + national,
        "225" + national,
    ]
    assert {normalize_number(form) for form in forms} == {e164}


@given(
    st.sampled_from(["CI", "SN", "ML", "BF", "GH", "NG", "FR", "US", "GB", "CM"]),
    st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]),
)
def test_normalising_is_a_fixpoint_for_every_region(region: str, kind: int) -> None:
    example_number = phonenumbers.example_number_for_type(region, kind)
    assert example_number is not None
    national = phonenumbers.format_number(example_number, phonenumbers.PhoneNumberFormat.NATIONAL)
    once = normalize_number(national, region=region)
    assert once.startswith("+")
    assert normalize_number(once, region=region) == once
    assert normalize_number(once, region="CI") == once  # E.164 does not depend on the region


@given(st.text(max_size=40))
@example("+")
@example("()")
@example("0" * 30)
@example("+225 " + "9" * 200)
def test_garbage_raises_validation_error_or_gives_a_valid_fixpoint(raw: str) -> None:
    try:
        e164 = normalize_number(raw)
    except SMSValidationError:
        return
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164))
    assert normalize_number(e164) == e164


def test_normalize_recipients_dedupes_after_normalisation_keeping_order() -> None:
    got = normalize_recipients(
        ["07 08 08 14 88", "+33612345678", "0708081488", "0505050505", "+225 07-08-08-14-88"]
    )
    assert got == ("+2250708081488", "+33612345678", "+2250505050505")


def test_normalize_recipients_lists_every_bad_number_in_one_error() -> None:
    with pytest.raises(SMSValidationError) as caught:
        normalize_recipients(["0708081488", "hello", "0707", "0505050505", "+22508081488"])
    problems = caught.value.problems
    assert len(problems) == 3
    assert "'hello' is not a phone number" in problems[0]
    assert "'0707' is not a valid number" in problems[1]
    assert "'+22508081488'" in problems[2]
    assert str(caught.value).startswith("3 of 5 recipients are invalid")


def test_normalize_recipients_refuses_nothing_and_a_bare_string() -> None:
    with pytest.raises(SMSValidationError, match="no recipients"):
        normalize_recipients([])
    with pytest.raises(TypeError):
        normalize_recipients("0708081488")


# --- legacy Ivorian numbers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("+22508081488", "+2250708081488"),  # the reference's own examples: Orange
        ("+22558371758", "+2250758371758"),
        ("0022505123456", "+2250505123456"),  # MTN
        ("22545123456", "+2250545123456"),
        ("40 12 34 56", "+2250140123456"),  # Moov
        ("+225 01-02-03-04", "+2250101020304"),
        ("98123456", "+2250798123456"),
    ],
)
def test_migrate_legacy_ci_adds_the_operator_prefix(old: str, new: str) -> None:
    assert migrate_legacy_ci(old) == new


@pytest.mark.parametrize(
    "raw",
    [
        "+2250708081488",  # already ten digits
        "+22520212345",  # a fixed line: 21, 25 or 27 cannot be told from the number
        "+22560123456",  # GreenN, gone before 2021
        "+22569123456",  # Aircom, gone before 2021
        "+33612345678",
        "0812345",
        "hello",
    ],
)
def test_migrate_legacy_ci_leaves_what_it_cannot_map(raw: str) -> None:
    assert migrate_legacy_ci(raw) is None


@given(st.text(alphabet=string.digits, min_size=8, max_size=8))
def test_every_migrated_number_is_valid_today_with_the_operator_of_its_range(old: str) -> None:
    new = migrate_legacy_ci("+225" + old)
    assume(new is not None)
    assert new is not None
    assert phonenumbers.is_valid_number(phonenumbers.parse(new))
    operator = {"01": "Moov", "05": "MTN", "07": "Orange"}[new[4:6]]
    assert number_info(new) == ("CI", operator)
    assert new.endswith(old)


# --- number_info -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "info"),
    [
        ("+2250708081488", ("CI", "Orange")),
        ("+2250505050505", ("CI", "MTN")),
        ("+2250101020304", ("CI", "Moov")),
        ("+2252721234567", ("CI", None)),  # fixed line: no carrier data
        ("+33612345678", ("FR", "SFR")),
        ("+22508081488", ("CI", None)),  # invalid today but still Ivorian
        ("not a number", (None, None)),
        ("", (None, None)),
    ],
)
def test_number_info(e164: str, info: tuple[str | None, str | None]) -> None:
    assert number_info(e164) == info


# --- sender and message ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ONIRIS", "ONIRIS"),
        ("oniris", "oniris"),
        (" Presto SMS ", "Presto SMS"),
        ("ABCDEFGHIJK", "ABCDEFGHIJK"),
        ("Shop24", "Shop24"),
        ("+2250708081488", "+2250708081488"),
        ("123456789012345", "123456789012345"),
        ("1234", "1234"),
    ],
)
def test_validate_sender_accepts(raw: str, clean: str) -> None:
    assert validate_sender(raw) == clean


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ABCDEFGHIJKL", "at most 11"),
        ("1234567890123456", "at most 15 digits"),
        ("+1234567890123456", "at most 15 digits"),
        ("Société", "ASCII letters"),
        ("Promo!", "ASCII letters"),
        ("two  spaces", "single spaces"),
        ("+ONIRIS", "ASCII letters"),
    ],
)
def test_validate_sender_refuses(raw: str, reason: str) -> None:
    with pytest.raises(SMSValidationError, match=reason):
        validate_sender(raw)


def test_validate_message() -> None:
    assert validate_message(" Bonjour ") == " Bonjour "
    for bad in ("", "  \n\t "):
        with pytest.raises(SMSValidationError, match="empty"):
            validate_message(bad)
    with pytest.raises(SMSValidationError, match="surrogate"):
        validate_message("broken \ud83d text")


def test_validation_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        validate_message("")


def _non_gsm_one_by_one(text: str) -> tuple[str, ...]:
    """The characters outside GSM-7, in order of first appearance, read one at a time."""
    every = sms.GSM7_BASIC | sms.GSM7_EXTENSION
    return tuple(dict.fromkeys(ch for ch in text if ch not in every))


@given(
    st.text(
        st.one_of(
            st.sampled_from(sorted(sms.GSM7_BASIC | sms.GSM7_EXTENSION)),
            st.characters(),
        ),
        max_size=400,
    )
)
@example("Prête à 18h, ça coûte 5€ 😀 ê ç ê")
def test_the_characters_forcing_ucs2_are_listed_in_order(text: str) -> None:
    assert describe_text(text).non_gsm_chars == _non_gsm_one_by_one(text)


def test_a_send_is_checked_whole_and_cleaned() -> None:
    assert validate_send(" ONIRIS ", "Bonjour", ["07 08 08 14 88", "+2250708081488"]) == (
        "ONIRIS",
        "Bonjour",
        ("+2250708081488",),
    )


def test_a_send_reports_every_problem_of_sender_text_and_numbers_at_once() -> None:
    with pytest.raises(SMSValidationError) as raised:
        validate_send("Société Générale", "  ", ["0708081488", "abc", "12"])
    problems = raised.value.problems
    assert len(problems) == 4, problems
    assert "ASCII letters" in problems[0]
    assert problems[1] == "the message is empty"
    assert "'abc' is not a phone number" in problems[2]
    assert str(raised.value).startswith(f"4 problems, nothing sent: {problems[0]}")
