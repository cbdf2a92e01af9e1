"""The campaign guards: quiet hours and expiry, the daily cap, the frequency cap, the volume
breaker, the baseline of a manual first launch, reconciliation in the send job.

The decisions are tested as plain functions first; then through real sensor evaluations
(``build_sensor_context`` with a real instance) and real runs of the send job against the
simulator, whose record of accepted sends (``sim.sends``) is the witness of what was sent. The
campaign's clock is a :class:`Clock` the test moves: no sleeping, no timing asserts.
"""

import collections
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from campaign_fixtures import (
    Harness,
    add_customers,
    customers_campaign,
    failure_text,
    keys,
    make_campaign,
    output_metadata,
    sent_texts,
    skip_reasons,
    states,
    texts_of,
)
from conftest import MakeSimulator

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.guards import (
    SurgeOutlook,
    batch_limit,
    plan_batch,
    split_expired,
    surge_outlook,
    volume_threshold,
)
from smspresto_pipeline.campaigns.timing import day_start, next_day_start
from smspresto_pipeline.sending import OptOuts, Outbox, OutboxMessage
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

QUIET = {"start": "21:00", "end": "08:00"}
# Africa/Abidjan is UTC+0: the campaign's wall clock is the UTC one.
EVENING = datetime(2025, 3, 6, 20, 0, tzinfo=UTC)
NIGHT = datetime(2025, 3, 6, 23, 0, tzinfo=UTC)
MORNING = datetime(2025, 3, 7, 8, 0, tzinfo=UTC)


class Clock:
    """The campaign's clock: returns ``at``, which the test sets."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


# --- the decisions, as plain functions -----------------------------------------------------


def message(key: str, recipient: str = "+2250708081401") -> OutboxMessage:
    return OutboxMessage("c", key, recipient, "Shop", "Hi", 1, "GSM-7")


def test_volume_threshold_is_a_factor_of_the_median_of_the_last_ten_runs() -> None:
    campaign = make_campaign(volume_breaker_factor=3, volume_breaker_min_rows=10)
    assert volume_threshold(campaign, [20, 40, 30]) == 90  # median 30
    # Only the ten newest runs count: the eleventh (huge) is left out.
    assert volume_threshold(campaign, [10] * 10 + [10_000]) == 30
    # Too little history: the usual batch is taken as volume_breaker_min_rows.
    assert volume_threshold(campaign, [20, 40]) == 30
    assert volume_threshold(campaign, [1, 1, 1]) == 10  # never below the floor
    assert volume_threshold(make_campaign(volume_breaker_factor=None), [5, 5, 5]) is None


def test_plan_batch_applies_the_limit_then_the_frequency_cap_in_order() -> None:
    ama, kone = "+2250708081401", "+2250708081402"
    rows = [message("a1", ama), message("a2", ama), message("k1", kone), message("k2", kone)]
    plan = plan_batch(rows, limit=10, max_messages=1, recent={kone: 1})
    # a2: ama already gets a1 in this batch; k1, k2: kone had one message in the window.
    assert [m.dedup_key for m in plan.send] == ["a1"]
    assert [m.dedup_key for m in plan.capped] == ["a2", "k1", "k2"]
    assert plan.waiting == ()
    plan = plan_batch(rows, limit=1, max_messages=2)
    assert [m.dedup_key for m in plan.send] == ["a1"]
    assert [m.dedup_key for m in plan.waiting] == ["a2", "k1", "k2"]  # undecided, not capped
    assert plan_batch(rows, limit=0).waiting == tuple(rows)


def test_batch_limit_is_the_run_cap_or_what_the_day_has_left() -> None:
    campaign = make_campaign(max_per_run=5, max_per_day=12)
    assert [batch_limit(campaign, sent) for sent in (0, 8, 12, 20)] == [5, 4, 0, 0]


def test_held_rows_expire_validity_seconds_after_their_claim(tmp_path: Path) -> None:
    outbox = Outbox(Warehouse(tmp_path / "w.duckdb"))
    outbox.claim([message("old")], state="held", now=NIGHT - timedelta(hours=2))
    outbox.claim([message("new")], state="held", now=NIGHT)
    campaign = make_campaign(validity_seconds=3600)
    valid, expired = split_expired(campaign, outbox.rows("held"), NIGHT + timedelta(minutes=59))
    assert ([r.dedup_key for r in valid], [r.dedup_key for r in expired]) == (["new"], ["old"])


def test_the_daily_cap_day_follows_the_campaign_time_zone() -> None:
    campaign = make_campaign(timezone="America/New_York")
    at = datetime(2025, 3, 7, 3, 0, tzinfo=UTC)  # 22:00 on the 6th in New York
    assert day_start(campaign, at) == datetime(2025, 3, 6, 5, 0, tzinfo=UTC)
    assert next_day_start(campaign, at) == datetime(2025, 3, 7, 5, 0, tzinfo=UTC)


def test_a_surge_at_the_default_caps_mostly_expires_unless_kept() -> None:
    """60,000 rows confirmed at 14:00 with the defaults (1,000 a run, 10,000 a day, valid a
    day): the first run sends 1,000; the caps let 9,000 more go today and 10,000 tomorrow
    before 14:00, when the held rows expire; 40,000 would expire. Kept, the 59,000 take today's
    9,000 and five more days of 10,000."""
    campaign = make_campaign()
    at = datetime(2025, 3, 6, 14, 0, tzinfo=UTC)
    assert surge_outlook(campaign, 60_000, sent_today=0, now=at) == SurgeOutlook(
        rows=60_000,
        day_left=10_000,
        quiet=False,
        first_run=1_000,
        held=59_000,
        before_expiry=19_000,
        expire=40_000,
        expires_at=datetime(2025, 3, 7, 14, 0, tzinfo=UTC),
        last_day=date(2025, 3, 11),
    )
    # 4,000 already sent today: 5,000 more today after the first run.
    busy = surge_outlook(campaign, 60_000, sent_today=4_000, now=at)
    assert (busy.day_left, busy.first_run, busy.before_expiry, busy.expire) == (
        6_000,
        1_000,
        15_000,
        44_000,
    )
    assert busy.last_day == date(2025, 3, 12)
    # A surge the caps absorb: nothing expires.
    small = surge_outlook(campaign, 15_000, sent_today=0, now=at)
    assert (small.first_run, small.held, small.expire, small.last_day) == (
        1_000,
        14_000,
        0,
        date(2025, 3, 7),
    )
    assert surge_outlook(campaign, 500, sent_today=0, now=at).held == 0


def test_a_surge_outlook_counts_no_day_whose_span_is_quiet() -> None:
    quiet = make_campaign(quiet_hours=QUIET)  # 21:00 to 08:00
    # Confirmed at 23:00: nothing goes now, nor before midnight; tomorrow sends 10,000 before
    # the rows expire at 23:00.
    night = surge_outlook(quiet, 60_000, sent_today=0, now=NIGHT)
    assert (night.quiet, night.first_run, night.held) == (True, 0, 60_000)
    assert (night.before_expiry, night.expire, night.last_day) == (
        10_000,
        50_000,
        date(2025, 3, 12),
    )
    # Valid 10 hours from 20:00: the rows expire at 06:00, inside the next night's quiet hours,
    # so only the hour left before 21:00 today counts.
    short = make_campaign(quiet_hours=QUIET, validity_seconds=10 * 3600)
    evening = surge_outlook(short, 60_000, sent_today=0, now=EVENING)
    assert (evening.first_run, evening.before_expiry) == (1_000, 9_000)
    # Valid an hour: the rest of today's cap at most.
    hour = surge_outlook(make_campaign(validity_seconds=3600), 60_000, sent_today=0, now=EVENING)
    assert (hour.before_expiry, hour.expire, hour.last_day) == (9_000, 50_000, date(2025, 3, 11))


# --- through the sensor and the send job ---------------------------------------------------


def test_quiet_hours_hold_new_rows_and_send_each_once_when_the_window_opens(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(EVENING)
    reminder = Harness(customers_campaign(quiet_hours=QUIET), sim, path, instance, clock)
    add_customers(path, 1)
    assert "baseline" in reminder.skip()
    add_customers(path, 2, 3)
    clock.at = NIGHT
    skip = reminder.skip()
    assert "quiet hours (21:00 to 08:00) until 2025-03-07 08:00" in skip
    assert "2 new rows held" in skip
    assert states(path) == {"c1": "baseline", "c2": "held", "c3": "held"}
    # A manual launch in the window holds what is new and sends nothing either.
    add_customers(path, 4)
    clock.at = NIGHT + timedelta(minutes=30)
    metadata = output_metadata(reminder.run())
    assert (metadata["held"], metadata["sent"]) == (1, 0)
    assert metadata["next_send_time"] == "2025-03-07T08:00:00+00:00"
    assert sim.sends == []

    clock.at = MORNING
    request = reminder.request()
    assert keys(request) == ["c2", "c3", "c4"]  # the held rows
    metadata = output_metadata(reminder.run(request))
    assert (metadata["sent"], metadata["held"], metadata["expired"]) == (3, 0, 0)
    assert sorted(sent_texts(sim)) == texts_of(2, 3, 4)
    assert states(path) == {"c1": "baseline", "c2": "sent", "c3": "sent", "c4": "sent"}
    # Again, by the sensor or by hand: nothing more.
    assert reminder.skip() == "nothing new to send"
    assert output_metadata(reminder.run(request))["sent"] == 0
    assert output_metadata(reminder.run())["sent"] == 0
    assert sorted(sent_texts(sim)) == texts_of(2, 3, 4)


def test_rows_held_before_the_sender_changed_are_sent_from_the_sender_they_were_rendered_with(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(EVENING)
    add_customers(path, 1)
    assert (
        "baseline"
        in Harness(customers_campaign(quiet_hours=QUIET), sim, path, instance, clock).skip()
    )
    add_customers(path, 2)
    clock.at = NIGHT
    assert (
        "1 new row held"
        in Harness(customers_campaign(quiet_hours=QUIET), sim, path, instance, clock).skip()
    )
    # The campaign's sender is changed overnight; a new row comes in the morning.
    renamed = Harness(
        customers_campaign(quiet_hours=QUIET, sender="NouveauNom"), sim, path, instance, clock
    )
    add_customers(path, 3)
    clock.at = MORNING
    metadata = output_metadata(renamed.run(renamed.request()))
    assert (metadata["sent"], metadata["requests"]) == (2, 2)
    assert sorted((send.sender, text) for send in sim.sends for _, text in send.messages) == [
        ("MaBoutique", texts_of(2)[0]),
        ("NouveauNom", texts_of(3)[0]),
    ]


def test_held_rows_past_their_validity_expire_and_are_never_sent(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(EVENING)
    reminder = Harness(
        customers_campaign(quiet_hours=QUIET, validity_seconds=3600), sim, path, instance, clock
    )
    add_customers(path, 1)
    assert "baseline" in reminder.skip()
    add_customers(path, 2)
    clock.at = NIGHT
    assert "1 new row held" in reminder.skip()
    clock.at = MORNING  # nine hours later: past the hour of validity
    assert reminder.skip() == "nothing new to send (1 held row expired, past validity_seconds)"
    # The send job expires them too (here it finds the next night's row).
    add_customers(path, 3)
    clock.at = NIGHT + timedelta(days=1)
    assert "1 new row held" in reminder.skip()
    clock.at = MORNING + timedelta(days=1)
    metadata = output_metadata(reminder.run())
    assert (metadata["expired"], metadata["sent"]) == (1, 0)
    assert states(path) == {"c1": "baseline", "c2": "expired", "c3": "expired"}
    assert output_metadata(reminder.run())["sent"] == 0
    assert sim.sends == []


def held_overnight(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance, **fields: Any
) -> tuple[Harness, Clock]:
    """The quiet-hours campaign (with ``fields``) at NIGHT, with c1 its baseline and c2, c3
    held since NIGHT (c2 first in line: held rows go oldest first, then by key)."""
    clock = Clock(EVENING)
    reminder = Harness(customers_campaign(quiet_hours=QUIET, **fields), sim, path, instance, clock)
    add_customers(path, 1)
    assert "baseline" in reminder.skip()
    add_customers(path, 2, 3)
    clock.at = NIGHT
    assert "2 new rows held" in reminder.skip()
    return reminder, clock


@pytest.mark.parametrize("by_sensor", [False, True], ids=["launched by hand", "the sensor's run"])
def test_a_number_opted_out_while_held_is_not_texted_when_the_window_opens(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance, by_sensor: bool
) -> None:
    reminder, clock = held_overnight(sim, path, instance)
    clock.at = MORNING
    # The sensor's run was requested for both held rows before the number opted out.
    request = reminder.request() if by_sensor else None
    assert request is None or keys(request) == ["c2", "c3"]
    OptOuts(Warehouse(path)).add(["07 08 08 14 02"], reason="replied STOP")
    preview = Harness(
        customers_campaign(quiet_hours=QUIET, dry_run=True), sim, path, instance, clock
    )
    assert output_metadata(preview.run(request))["would_send"] == 1
    metadata = output_metadata(reminder.run(request))
    assert sent_texts(sim) == texts_of(3)
    assert (metadata["sent"], metadata["skipped_by_reason"]) == (1, {"opted_out": 1})
    assert skip_reasons(path) == {"c2": "opted_out"}
    assert states(path) == {"c1": "baseline", "c2": "skipped", "c3": "sent"}
    assert reminder.skip() == "nothing new to send"
    assert output_metadata(reminder.run())["sent"] == 0
    assert sent_texts(sim) == texts_of(3)


def test_the_sensor_gives_no_place_in_the_batch_to_a_held_number_since_opted_out(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    # One place per batch: were the opted-out c2 (first in line) chosen to send, the run
    # would skip it and send nothing, and c3 would wait for another tick.
    reminder, clock = held_overnight(sim, path, instance, max_per_run=1)
    OptOuts(Warehouse(path)).add(["07 08 08 14 02"], reason="replied STOP")
    clock.at = MORNING
    metadata = output_metadata(reminder.run(reminder.request()))
    assert sent_texts(sim) == texts_of(3)
    assert (metadata["sent"], metadata["skipped_by_reason"]) == (1, {"opted_out": 1})
    assert skip_reasons(path) == {"c2": "opted_out"}
    assert reminder.skip() == "nothing new to send"
    assert sent_texts(sim) == texts_of(3)


def test_max_per_day_holds_across_runs_and_the_next_day_sends_the_rest(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(datetime(2025, 3, 6, 10, 0, tzinfo=UTC))
    reminder = Harness(
        customers_campaign(send_on_first_activation=True, max_per_run=2, max_per_day=3),
        sim,
        path,
        instance,
        clock,
    )
    add_customers(path, 1, 2, 3, 4, 5)
    first = reminder.request()
    assert keys(first) == ["c1", "c2"]
    assert output_metadata(reminder.run(first))["sent"] == 2
    clock.at += timedelta(hours=1)
    second = reminder.request()
    assert keys(second) == ["c3"]  # what the day has left
    assert output_metadata(reminder.run(second))["sent"] == 1
    clock.at += timedelta(hours=1)
    skip = reminder.skip()
    assert "daily cap reached" in skip
    assert "2 rows wait for the next day, which starts at 2025-03-07 00:00" in skip
    # A manual launch waits too: nothing claimed.
    metadata = output_metadata(reminder.run())
    assert (metadata["sent"], metadata["waiting_for_cap"]) == (0, 2)
    assert sorted(states(path)) == ["c1", "c2", "c3"]
    assert len(sent_texts(sim)) == 3

    clock.at = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)
    third = reminder.request()
    assert keys(third) == ["c4", "c5"]
    assert output_metadata(reminder.run(third))["sent"] == 2
    assert sorted(sent_texts(sim)) == texts_of(1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("timezone", "ticks"),
    [
        # UTC-5 (summer time starts on 9 March): the local day starts at 05:00 UTC.
        pytest.param(
            "America/New_York",
            [
                "2025-03-06 18:00",  # 23:00 UTC on the 6th
                "2025-03-06 23:30",  # 04:30 UTC on the 7th: the same local day
                "2025-03-07 20:00",  # 01:00 UTC on the 8th
                "2025-03-07 23:30",  # 04:30 UTC on the 8th
                "2025-03-08 09:00",  # 14:00 UTC on the 8th: the same UTC day, a new local day
            ],
            id="New York",
        ),
        # UTC+9: the local day starts at 15:00 UTC the day before.
        pytest.param(
            "Asia/Tokyo",
            [
                "2025-03-07 08:00",  # 23:00 UTC on the 6th
                "2025-03-07 10:00",  # 01:00 UTC on the 7th: the same local day
                "2025-03-08 10:00",  # 01:00 UTC on the 8th
                "2025-03-08 23:30",  # 14:30 UTC on the 8th
                "2025-03-09 08:00",  # 23:00 UTC on the 8th: the same UTC day, a new local day
            ],
            id="Tokyo",
        ),
    ],
)
def test_the_daily_cap_counts_the_day_of_the_campaign_time_zone(
    sim: RunningSimulator,
    path: Path,
    instance: dg.DagsterInstance,
    timezone: str,
    ticks: list[str],
) -> None:
    """``ticks``, on the campaign's wall clock: three local days, the first two ticked twice.
    With one message a day, the first tick of each local day sends one and the second none,
    though UTC midnight falls between the first day's ticks, and the second and third day's
    sends share a UTC day."""
    zone = ZoneInfo(timezone)
    day_one, day_one_again, day_two, day_two_again, day_three = (
        datetime.fromisoformat(tick).replace(tzinfo=zone) for tick in ticks
    )
    clock = Clock(day_one)
    reminder = Harness(
        customers_campaign(send_on_first_activation=True, timezone=timezone, max_per_day=1),
        sim,
        path,
        instance,
        clock,
    )
    add_customers(path, 1, 2, 3)
    before = 0
    for at, sent in (
        (day_one, 1),
        (day_one_again, 1),
        (day_two, 2),
        (day_two_again, 2),
        (day_three, 3),
    ):
        clock.at = at
        if sent > before:
            request = reminder.request()
            assert keys(request) == [f"c{sent}"], at
            metadata = output_metadata(reminder.run(request))
        else:
            metadata = output_metadata(reminder.run())  # a manual launch obeys the cap too
        assert sorted(sent_texts(sim)) == texts_of(*range(1, sent + 1)), at
        assert metadata["sent"] == sent - before, at
        if sent == before:
            assert metadata["waiting_for_cap"] == 3 - sent, at
            tomorrow = (at + timedelta(days=1)).date()
            skip = reminder.skip()
            assert f"next day, which starts at {tomorrow} 00:00 ({timezone})" in skip, at
        before = sent


def test_the_frequency_cap_counts_every_campaign_and_the_batch_itself(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(datetime(2025, 3, 6, 10, 0, tzinfo=UTC))
    reminder = Harness(
        customers_campaign(send_on_first_activation=True), sim, path, instance, clock
    )
    promo = Harness(
        customers_campaign(
            name="promo",
            send_on_first_activation=True,
            frequency_cap={"max_messages": 1, "window_seconds": 86_400},
        ),
        sim,
        path,
        instance,
        clock,
    )
    add_customers(path, 1, 2)
    assert output_metadata(reminder.run(reminder.request()))["sent"] == 2
    # c3 and c4 share a number that had no message yet: the first in the batch takes it.
    add_customers(path, 3)
    add_customers(path, 4, phone=3)
    clock.at += timedelta(hours=1)
    request = promo.request()
    assert keys(request) == ["c1", "c2", "c3", "c4"]  # the capped ones are recorded by the run
    metadata = output_metadata(promo.run(request))
    assert (metadata["sent"], metadata["frequency_capped"]) == (1, 3)
    assert metadata["skipped_by_reason"] == {"frequency_cap": 3}
    assert states(path, "promo") == {
        "c1": "skipped",
        "c2": "skipped",
        "c3": "sent",
        "c4": "skipped",
    }
    rows = Outbox(Warehouse(path)).rows("skipped", campaign="promo")
    assert {row.skip_reason for row in rows} == {"frequency_cap"}
    witness = collections.Counter(r for send in sim.sends for r, _ in send.messages)
    assert witness == {"+2250708081401": 1, "+2250708081402": 1, "+2250708081403": 1}
    # Skipped is final: a day later, the window has moved, and still nothing is resent.
    clock.at += timedelta(days=1)
    assert promo.skip() == "nothing new to send"
    assert len(sent_texts(sim)) == 3


def test_the_volume_breaker_stops_a_surge_until_a_confirmed_run_sends_it_in_batches(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    campaign = customers_campaign(volume_breaker_factor=2, volume_breaker_min_rows=2, max_per_run=3)
    # A fixed clock: the message gives the time the held rows would expire.
    reminder = Harness(campaign, sim, path, instance, Clock(EVENING))
    add_customers(path, 1)
    assert "baseline" in reminder.skip()
    add_customers(path, 2, 3, 4, 5, 6, 7)
    # No history yet: the usual batch is volume_breaker_min_rows, the threshold 2 x 2.
    skip = reminder.skip()
    assert "found 6 new rows to send, above its threshold of 4" in skip
    assert "confirm_volume: true" in skip
    failed = reminder.run()
    assert failure_text(failed) == skip
    assert states(path) == {"c1": "baseline"}  # nothing claimed
    assert sim.sends == []

    confirmed = output_metadata(reminder.run(confirm_volume=True))
    assert (confirmed["sent"], confirmed["held"], confirmed["volume_threshold"]) == (3, 3, 4)
    assert sorted(states(path).values()) == ["baseline", "held", "held", "held"] + ["sent"] * 3
    # The held rest is no longer new: the next tick sends it without tripping again.
    rest = reminder.request()
    assert len(keys(rest)) == 3
    assert output_metadata(reminder.run(rest))["sent"] == 3
    assert reminder.skip() == "nothing new to send"
    assert sorted(sent_texts(sim)) == texts_of(2, 3, 4, 5, 6, 7)


def test_the_usual_batch_is_the_median_of_the_campaigns_earlier_runs(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    campaign = customers_campaign(
        send_on_first_activation=True, volume_breaker_factor=2, volume_breaker_min_rows=2
    )
    reminder = Harness(campaign, sim, path, instance)
    for first in (1, 4, 7):
        add_customers(path, first, first + 1, first + 2)
        assert output_metadata(reminder.run(reminder.request()))["sent"] == 3
    # Three runs of 3: the threshold is 2 x 3 (without that history it would be 2 x 2).
    add_customers(path, *range(10, 17))
    assert "found 7 new rows to send, above its threshold of 6" in reminder.skip()
    assert len(sent_texts(sim)) == 9


def test_a_manual_launch_on_the_first_activation_records_the_baseline(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    reminder = Harness(customers_campaign(), sim, path, instance)
    add_customers(path, 1, 2)
    metadata = output_metadata(reminder.run())
    assert (metadata["baseline"], metadata["sent"]) == (2, 0)
    assert states(path) == {"c1": "baseline", "c2": "baseline"}
    add_customers(path, 3)
    assert output_metadata(reminder.run())["sent"] == 1
    assert sent_texts(sim) == texts_of(3)


def test_a_dry_run_reports_the_guards_and_records_nothing(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(NIGHT)
    campaign = customers_campaign(
        send_on_first_activation=True, dry_run=True, quiet_hours=QUIET, max_per_day=2
    )
    reminder = Harness(campaign, sim, path, instance, clock)
    add_customers(path, 1, 2, 3)
    assert "3 new rows would be held (dry run: nothing recorded)" in reminder.skip()
    assert output_metadata(reminder.run())["held"] == 3
    clock.at = MORNING
    metadata = output_metadata(reminder.run(reminder.request()))
    assert (metadata["would_send"], metadata["held"], metadata["sent"]) == (2, 0, 0)
    metadata = output_metadata(reminder.run())
    assert (metadata["would_send"], metadata["waiting_for_cap"]) == (2, 1)
    assert states(path) == {}
    assert sim.sends == []


def test_a_dry_run_sensor_takes_no_baseline_going_live_takes_it_then(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    preview = Harness(customers_campaign(dry_run=True), sim, path, instance)
    skip = preview.skip()
    assert "would record 2 rows as baseline (never sent); nothing recorded" in skip
    add_customers(path, 3)  # a row of the preview weeks
    assert "would record 3 rows" in preview.skip()
    assert states(path) == {}

    live = Harness(customers_campaign(), sim, path, instance)
    assert "baseline" in live.skip()
    assert states(path) == {"c1": "baseline", "c2": "baseline", "c3": "baseline"}
    add_customers(path, 4)
    assert output_metadata(live.run(live.request()))["sent"] == 1
    assert sent_texts(sim) == texts_of(4)


def test_the_send_job_reconciles_ambiguous_rows_with_the_archive(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    drop = Fault("drop_after_send", count=1, actions=frozenset({"sendsms"}))
    with make_simulator(messages_per_day=0, faults=(drop,)) as sim:
        reminder = Harness(customers_campaign(send_on_first_activation=True), sim, path, instance)
        add_customers(path, 1, 2)
        assert "ambiguous" in failure_text(reminder.run())
        assert states(path) == {"c1": "ambiguous", "c2": "ambiguous"}
        # No archive ingested yet: the run goes on and the rows stay ambiguous.
        metadata = output_metadata(reminder.run())
        assert (metadata["reconciled_sent"], metadata["reconciled_released"]) == (0, 0)
        assert states(path) == {"c1": "ambiguous", "c2": "ambiguous"}
        day: date = datetime.now(UTC).date()  # the simulator's account is on UTC
        with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client:
            Warehouse(path).write_partition(day, client.iter_archive_pages(day, day))
        add_customers(path, 3)
        metadata = output_metadata(reminder.run())
        assert (metadata["reconciled_sent"], metadata["sent"]) == (2, 1)
        assert states(path) == {"c1": "sent", "c2": "sent", "c3": "sent"}
        assert sorted(sent_texts(sim)) == texts_of(1, 2, 3)  # the lost batch was never resent
