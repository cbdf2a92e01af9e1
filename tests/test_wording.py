"""Counts in words (``smspresto_pipeline.wording``), and the messages built with them."""

import doctest

import pytest

from smspresto_pipeline import wording
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import normalize_recipients
from smspresto_pipeline.wording import plural


@pytest.mark.parametrize(
    ("count", "noun", "plural_noun", "expected"),
    [
        (1, "message", None, "1 message"),
        (0, "message", None, "0 messages"),
        (2, "message", None, "2 messages"),
        (1_500, "opted-out number", None, "1,500 opted-out numbers"),
        (1, "batch", "batches", "1 batch"),
        (3, "batch", "batches", "3 batches"),
        (-1, "day", None, "-1 days"),
    ],
)
def test_plural(count: int, noun: str, plural_noun: str | None, expected: str) -> None:
    assert plural(count, noun, plural_noun) == expected


def test_the_modules_examples_run() -> None:
    result = doctest.testmod(wording, raise_on_error=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (["0708081488", "12"], "1 of 2 recipients is invalid: "),
        (["12"], "1 of 1 recipient is invalid: "),
        (["12", "13", "0708081488"], "2 of 3 recipients are invalid: "),
    ],
)
def test_invalid_recipients_are_counted_in_words(numbers: list[str], expected: str) -> None:
    with pytest.raises(SMSValidationError) as error:
        normalize_recipients(numbers, region="CI")
    assert str(error.value).startswith(expected)
