"""When a campaign may send: its quiet hours, how long a held message stays valid, its days.

Quiet hours are read on the wall clock of the campaign's time zone; the window includes its
start and excludes its end, and may cross midnight. Every instant given or returned here is
timezone-aware: a naive datetime is refused, since its meaning depends on the machine.

Example:
    >>> from datetime import datetime, timezone
    >>> from smspresto_pipeline.campaigns.model import Campaign
    >>> campaign = Campaign(name="c", sql="select 1", template="Hi", sender="Shop",
    ...                     quiet_hours={"start": "21:00", "end": "08:00"})
    >>> night = datetime(2025, 3, 6, 23, 30, tzinfo=timezone.utc)
    >>> in_quiet_hours(campaign, night)
    True
    >>> next_send_time(campaign, night).isoformat()
    '2025-03-07T08:00:00+00:00'
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from smspresto_pipeline.campaigns.model import Campaign

__all__ = [
    "day_start",
    "expires_at",
    "in_quiet_hours",
    "is_expired",
    "next_day_start",
    "next_send_time",
    "system_clock",
]


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got the naive datetime {at.isoformat()}")
    return at


def _quiet(start: time, end: time, clock: time) -> bool:
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # the window crosses midnight


def in_quiet_hours(campaign: Campaign, at: datetime) -> bool:
    """Whether ``at`` falls in the campaign's quiet hours (never, when it has none)."""
    quiet = campaign.quiet_hours
    if quiet is None:
        return False
    local = _aware(at, "at").astimezone(campaign.zone)
    return _quiet(quiet.start_time, quiet.end_time, local.time())


def next_send_time(campaign: Campaign, at: datetime) -> datetime:
    """The first instant from ``at`` on at which the campaign may send.

    ``at`` itself when it is outside quiet hours; otherwise the end of the current quiet window,
    in the campaign's time zone. (On a day whose clocks jump over the window's end, the end is
    read with the offset from before the jump: an hour later on the new clock.)
    """
    if not in_quiet_hours(campaign, at):
        return at
    quiet = campaign.quiet_hours
    assert quiet is not None  # in_quiet_hours says so
    local = at.astimezone(campaign.zone)
    day: date = local.date()
    if quiet.start_time > quiet.end_time and local.time() >= quiet.start_time:
        day += timedelta(days=1)  # the window began this evening and ends tomorrow
    return datetime.combine(day, quiet.end_time, tzinfo=campaign.zone)


def expires_at(campaign: Campaign, selected_at: datetime) -> datetime:
    """When a message whose row was first selected at ``selected_at`` stops being sendable."""
    return _aware(selected_at, "selected_at") + campaign.validity


def is_expired(campaign: Campaign, selected_at: datetime, at: datetime) -> bool:
    """Whether a message first selected at ``selected_at`` has expired by ``at``."""
    return _aware(at, "at") >= expires_at(campaign, selected_at)


def day_start(campaign: Campaign, at: datetime) -> datetime:
    """Midnight starting the day of ``at`` in the campaign's time zone (its daily cap's day)."""
    local = _aware(at, "at").astimezone(campaign.zone)
    return datetime.combine(local.date(), time(0), tzinfo=campaign.zone)


def next_day_start(campaign: Campaign, at: datetime) -> datetime:
    """Midnight starting the day after ``at``'s, in the campaign's time zone."""
    local = _aware(at, "at").astimezone(campaign.zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=campaign.zone)


def system_clock() -> datetime:
    """Now, in UTC: the clock campaigns read unless given another (tests give a fixed one)."""
    return datetime.now(UTC)
