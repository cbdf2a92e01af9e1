"""The one check of a time zone setting: an IANA name passes as given; anything else is
refused with an error naming the setting and the value."""

import doctest

import pytest

from smspresto_pipeline import timezones
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone


@pytest.mark.parametrize("name", [DEFAULT_TIMEZONE, "Africa/Lagos", "Europe/Paris", "UTC"])
def test_an_iana_name_passes_as_given(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize("value", ["Africa/Atlantis", "", "/etc/localtime", "../zoneinfo", 5])
def test_anything_else_is_refused_naming_the_setting(value: object) -> None:
    with pytest.raises(ValueError, match="must be an IANA time zone name") as raised:
        check_timezone(value, "quiet.timezone")  # type: ignore[arg-type]
    assert str(raised.value).startswith("quiet.timezone ")
    assert str(raised.value).endswith(f"got {value!r}")


def test_the_module_example_runs() -> None:
    result = doctest.testmod(timezones, raise_on_error=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
