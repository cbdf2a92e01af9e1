"""Quiet hours (across midnight, in the campaign's zone) and expiry of held messages."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from campaign_fixtures import make_campaign

from smspresto_pipeline.campaigns.timing import (
    expires_at,
    in_quiet_hours,
    is_expired,
    next_send_time,
)


def _utc(hour: int, minute: int = 0, day: int = 6) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


NIGHT = make_campaign(quiet_hours={"start": "21:00", "end": "08:00"})  # Abidjan: UTC+0, no DST


@pytest.mark.parametrize(
    ("at", "quiet", "opens"),
    [
        (_utc(12), False, _utc(12)),
        (_utc(20, 59), False, _utc(20, 59)),
        (_utc(21), True, _utc(8, day=7)),  # the start is included
        (_utc(23, 30), True, _utc(8, day=7)),
        (_utc(0), True, _utc(8)),  # after midnight: the window ends the same day
        (_utc(7, 59), True, _utc(8)),
        (_utc(8), False, _utc(8)),  # the end is not included
    ],
)
def test_quiet_hours_across_midnight(at: datetime, quiet: bool, opens: datetime) -> None:
    assert in_quiet_hours(NIGHT, at) is quiet
    assert next_send_time(NIGHT, at) == opens


@pytest.mark.parametrize(
    ("at", "quiet", "opens"),
    [
        (_utc(11, 59), False, _utc(11, 59)),
        (_utc(12), True, _utc(14)),
        (_utc(13, 59), True, _utc(14)),
        (_utc(14), False, _utc(14)),
        (_utc(23), False, _utc(23)),
    ],
)
def test_quiet_hours_within_a_day(at: datetime, quiet: bool, opens: datetime) -> None:
    lunch = make_campaign(quiet_hours={"start": "12:00", "end": "14:00"})
    assert in_quiet_hours(lunch, at) is quiet
    assert next_send_time(lunch, at) == opens


def test_quiet_hours_follow_the_campaign_time_zone() -> None:
    # Kolkata is UTC+5:30 all year: 21:00 there is 15:30 UTC
    kolkata = make_campaign(quiet_hours={"start": "21:00", "end": "08:00"}, timezone="Asia/Kolkata")
    assert not in_quiet_hours(kolkata, _utc(15, 29))
    assert in_quiet_hours(kolkata, _utc(15, 30))
    assert in_quiet_hours(kolkata, _utc(2, 29))
    assert not in_quiet_hours(kolkata, _utc(2, 30))
    opens = next_send_time(kolkata, _utc(20))
    assert opens == _utc(2, 30, day=7)
    assert opens.tzinfo == ZoneInfo("Asia/Kolkata")
    assert opens.isoformat() == "2025-03-07T08:00:00+05:30"


def test_the_instant_may_be_given_in_any_zone() -> None:
    paris_evening = datetime(2025, 3, 6, 22, 30, tzinfo=ZoneInfo("Europe/Paris"))  # 21:30 UTC
    assert in_quiet_hours(NIGHT, paris_evening)
    assert next_send_time(NIGHT, paris_evening) == _utc(8, day=7)


def test_the_window_opens_at_its_wall_clock_end_across_a_dst_change() -> None:
    # Paris moves from UTC+1 to UTC+2 in the night of 29-30 March 2025
    paris = make_campaign(quiet_hours={"start": "22:00", "end": "07:00"}, timezone="Europe/Paris")
    evening = datetime(2025, 3, 29, 22, 30, tzinfo=ZoneInfo("Europe/Paris"))
    opens = next_send_time(paris, evening)
    assert opens.isoformat() == "2025-03-30T07:00:00+02:00"
    # same-zone subtraction reads wall clocks: compare instants in UTC
    assert opens.astimezone(UTC) - evening.astimezone(UTC) == timedelta(hours=7, minutes=30)
    assert not in_quiet_hours(paris, opens)


def test_without_quiet_hours_it_is_never_quiet() -> None:
    campaign = make_campaign()
    assert not in_quiet_hours(campaign, _utc(3))
    assert next_send_time(campaign, _utc(3)) == _utc(3)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        in_quiet_hours(NIGHT, datetime(2025, 3, 6, 23))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_expired(NIGHT, datetime(2025, 3, 6), _utc(1))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_expired(NIGHT, _utc(1), datetime(2025, 3, 6))


def test_expiry() -> None:
    campaign = make_campaign(validity_seconds=3_600)
    selected = _utc(20, 30)
    assert expires_at(campaign, selected) == _utc(21, 30)
    assert not is_expired(campaign, selected, _utc(21, 29))
    assert is_expired(campaign, selected, _utc(21, 30))
    # a message held overnight past its validity never goes out
    night = make_campaign(
        quiet_hours={"start": "21:00", "end": "08:00"}, validity_seconds=6 * 3_600
    )
    held = _utc(21, 15)
    assert is_expired(night, held, next_send_time(night, held))
    assert not is_expired(NIGHT, held, next_send_time(NIGHT, held))  # a day's validity
