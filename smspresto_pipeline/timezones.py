"""The account's time zone: one default and one check for every setting that names a zone.

The ingestion's partitions and schedules, the resource's list-archive days, a campaign's quiet
hours and daily cap, the reconciliation's schedule: each takes an IANA name, checked here.

Example:
    >>> check_timezone("Africa/Lagos")
    'Africa/Lagos'
    >>> check_timezone("Africa/Atlantis", "SMSPRESTO_TIMEZONE")
    Traceback (most recent call last):
    ...
    ValueError: SMSPRESTO_TIMEZONE must be an IANA time zone name, got 'Africa/Atlantis'
"""

from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TIMEZONE", "check_timezone"]

#: SMS Presto's own (Côte d'Ivoire, UTC+0, no daylight saving time).
DEFAULT_TIMEZONE = "Africa/Abidjan"


def check_timezone(value: str, field: str = "timezone") -> str:
    """``value`` when it names an IANA time zone.

    Raises:
        ValueError: it does not; the message names ``field`` and the value.
    """
    try:
        ZoneInfo(value)
    # ZoneInfoNotFoundError is a LookupError; a malformed key (an absolute path, "..") is a
    # ValueError, and a value that is not a string a TypeError.
    except (LookupError, ValueError, TypeError):
        raise ValueError(f"{field} must be an IANA time zone name, got {value!r}") from None
    return value
