"""The campaign engine without Dagster: every guard of the one decision, then its execution.

The decision (:func:`~smspresto_pipeline.campaigns.decision.decide`) is tested on hand-built
facts (a :class:`CampaignSnapshot` written here, no file); its execution
(:func:`~smspresto_pipeline.campaigns.engine.evaluate` for a sensor,
:func:`~smspresto_pipeline.campaigns.engine.run` for a send run) on a real DuckDB file in
``tmp_path`` and the simulator over HTTP, whose record of accepted sends is the witness. No
Dagster definitions, context or run anywhere here.
"""

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from campaign_fixtures import (
    Target,
    add_customers,
    customers_campaign,
    make_campaign,
    sent_texts,
    skip_reasons,
    states,
    texts_of,
)
from conftest import on_both_engines

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns import engine
from smspresto_pipeline.campaigns.decision import (
    Baseline,
    Hold,
    Paused,
    Refused,
    RunOptions,
    Send,
    Verdict,
    decide,
    sort_rows,
)
from smspresto_pipeline.campaigns.guards import SurgeRest
from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.prepare import prepare_batch
from smspresto_pipeline.campaigns.settle import DEFAULT_SILENT_AFTER, RunStatus
from smspresto_pipeline.sending import CircuitBreaker, Outbox, OutboxMessage
from smspresto_pipeline.sending.breaker import BreakerState, Trip
from smspresto_pipeline.sending.campaign_snapshot import CampaignSnapshot
from smspresto_pipeline.sending.outbox import OutboxRow
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

NOON = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)  # Africa/Abidjan is UTC+0
NIGHT = datetime(2025, 3, 6, 23, 0, tzinfo=UTC)
QUIET = {"start": "21:00", "end": "08:00"}
TRIP = Trip("check:spike", "2025-03-06", "MTN failures at 21%", datetime(2025, 3, 6, 9, 0))
SENSOR = RunOptions(trigger="sensor")
JOB = RunOptions()

# --- the decision, on hand-built facts -------------------------------------------------------


def number(n: int) -> str:
    return f"+22507080814{n:02d}"


def rows(*numbers: int, phone: int | None = None) -> pa.Table:
    """A query result: rows ``c<n>`` to the number ``n`` (or ``phone``)."""
    return pa.table(
        {
            "recipient": [f"07080814{phone or n:02d}" for n in numbers],
            "dedup_key": [f"c{n}" for n in numbers],
            "first_name": [f"Client{n}" for n in numbers],
            "parcel": [f"P{n}" for n in numbers],
        }
    )


def held(n: int, *, at: datetime, run_id: str | None = None) -> OutboxRow:
    """A held row of customer ``n``, claimed at ``at``."""
    naive = at.astimezone(UTC).replace(tzinfo=None)
    message = OutboxMessage("reminder", f"h{n}", number(n), "MaBoutique", "Bonjour", 1, "GSM-7")
    fields = (message.campaign, message.dedup_key, message.recipient, message.sender)
    return OutboxRow(
        *fields, "Bonjour", 1, "GSM-7", "held", None, None, None, run_id, naive, naive, None, None
    )


def facts(**fields: Any) -> CampaignSnapshot:
    """An activated campaign's snapshot, with ``fields``."""
    return CampaignSnapshot(**{"campaign": "reminder", "activated": True, **fields})


def verdict_of(
    campaign: Campaign,
    table: pa.Table,
    snapshot: CampaignSnapshot,
    now: datetime = NOON,
    options: RunOptions = JOB,
) -> Verdict:
    found = sort_rows(prepare_batch(campaign, table), snapshot, options.wanted)
    return decide(campaign, found, snapshot, now, options)


def sent(verdict: Verdict) -> list[str]:
    assert isinstance(verdict, Send), verdict
    return [m.dedup_key for m in verdict.plan.send]


def test_a_tripped_breaker_stops_a_sensor_and_a_run_but_not_a_dry_run_or_an_override() -> None:
    paused = facts(breaker=BreakerState((TRIP,), generation=1))
    campaign = make_campaign()
    assert verdict_of(campaign, rows(1), paused, options=SENSOR) == Paused(paused.breaker)
    assert verdict_of(campaign, rows(1), paused) == Paused(paused.breaker)
    override = RunOptions(ignore_circuit_breaker=True)
    for going in (
        verdict_of(campaign, rows(1), paused, options=override),
        verdict_of(make_campaign(dry_run=True), rows(1), paused),
    ):
        assert sent(going) == ["c1"]
        assert isinstance(going, Send)
        assert "MTN failures at 21%" in str(going.paused)
    # A sensor of a dry-run campaign stops all the same.
    assert isinstance(
        verdict_of(make_campaign(dry_run=True), rows(1), paused, options=SENSOR), Paused
    )


def test_a_first_activation_takes_every_row_as_baseline_even_none() -> None:
    first = facts(activated=False, existing_keys=frozenset({"c1"}))
    invalid = rows(3).set_column(0, "recipient", pa.array(["12"]))
    table = pa.concat_tables([rows(1, 2), invalid])
    verdict = verdict_of(make_campaign(), table, first, options=SENSOR)
    # Every row the query returns, the invalid one too (it has a key of its own).
    assert isinstance(verdict, Baseline)
    assert sorted(m.dedup_key for m in verdict.rows) == ["c1", "c2", "c3"]
    assert verdict_of(make_campaign(), rows(), first) == Baseline(())
    # Told to send on its first activation: sent, and the volume breaker does not apply.
    told = make_campaign(send_on_first_activation=True, volume_breaker_min_rows=1)
    verdict = verdict_of(told, rows(2, 3, 4), first)
    assert isinstance(verdict, Send)
    assert sent(verdict) == ["c2", "c3", "c4"]
    assert verdict.threshold is None


def test_the_volume_breaker_refuses_a_surge_until_a_run_confirms_it() -> None:
    campaign = make_campaign(volume_breaker_min_rows=2, volume_breaker_factor=2, max_per_run=3)
    usual = facts(run_sizes=(1, 1, 1))  # threshold: max(2, 2 x 1) = 2
    surge = rows(1, 2, 3)
    refused = verdict_of(campaign, surge, usual, options=SENSOR)
    assert isinstance(refused, Refused)
    assert refused.threshold == 2
    assert refused.outlook.rows == 3
    assert not refused.rest_asked
    assert verdict_of(campaign, surge, usual) == refused
    assert sent(verdict_of(campaign, rows(1, 2), usual)) == ["c1", "c2"]  # at the threshold
    # Confirmed alone: the caps send all three now, nothing would expire.
    confirmed = verdict_of(campaign, surge, usual, options=RunOptions(confirm_volume=True))
    assert isinstance(confirmed, Send)
    assert confirmed.surge is not None
    assert confirmed.surge.rest is SurgeRest.expire
    assert sent(confirmed) == ["c1", "c2", "c3"]
    # More than a day's cap before the rows expire: confirmed alone, the run must say.
    tight = make_campaign(
        volume_breaker_min_rows=2,
        volume_breaker_factor=2,
        max_per_run=1,
        max_per_day=1,
        validity_seconds=3600,
    )
    asked = verdict_of(tight, surge, usual, options=RunOptions(confirm_volume=True))
    assert isinstance(asked, Refused)
    assert asked.rest_asked
    assert asked.outlook.expire == 2
    for rest in SurgeRest:
        options = RunOptions(confirm_volume=True, surge_rest=rest)
        verdict = verdict_of(tight, surge, usual, options=options)
        assert isinstance(verdict, Send)
        assert verdict.surge is not None
        assert verdict.surge.rest is rest
        assert sent(verdict) == ["c1"]
        assert [m.dedup_key for m in verdict.plan.waiting] == ["c2", "c3"]
    # A dry run looks at the surge and goes on.
    looking = make_campaign(dry_run=True, volume_breaker_min_rows=2, volume_breaker_factor=2)
    seen = verdict_of(looking, surge, usual)
    assert isinstance(seen, Send)
    assert seen.surge_seen is not None
    assert seen.surge is None


def test_quiet_hours_hold_the_new_rows() -> None:
    campaign = make_campaign(quiet_hours=QUIET)
    verdict = verdict_of(campaign, rows(1, 2), facts(), now=NIGHT, options=SENSOR)
    assert isinstance(verdict, Hold)
    assert [m.dedup_key for m in verdict.found.new] == ["c1", "c2"]
    assert sent(verdict_of(campaign, rows(1, 2), facts(), now=NOON)) == ["c1", "c2"]


def test_the_caps_take_held_rows_first_then_new_ones_up_to_the_run_and_the_day() -> None:
    campaign = make_campaign(max_per_run=2, max_per_day=5)
    old = facts(held=(held(9, at=NOON - timedelta(hours=1)),))
    verdict = verdict_of(campaign, rows(1, 2, 3), old)
    assert sent(verdict) == ["h9", "c1"]
    assert isinstance(verdict, Send)
    assert verdict.held_keys == {"h9"}
    assert [m.dedup_key for m in verdict.plan.waiting] == ["c2", "c3"]
    # Four sent today: one left of the day.
    assert sent(verdict_of(campaign, rows(1, 2, 3), facts(sent_today=4))) == ["c1"]
    full = verdict_of(campaign, rows(1, 2, 3), facts(sent_today=5))
    assert sent(full) == []
    assert isinstance(full, Send)
    assert full.limit == 0
    assert len(full.plan.waiting) == 3


def test_the_frequency_cap_skips_a_number_that_had_its_messages() -> None:
    campaign = make_campaign(frequency_cap={"max_messages": 1, "window_seconds": 86_400})
    # c1 had one message in the window; c2 and c3 share a number: the batch counts too.
    verdict = verdict_of(
        campaign, pa.concat_tables([rows(1), rows(2, 3, phone=7)]), facts(recent={number(1): 1})
    )
    assert sent(verdict) == ["c2"]
    assert isinstance(verdict, Send)
    assert [m.dedup_key for m in verdict.plan.capped] == ["c1", "c3"]


def test_held_rows_expire_past_their_validity_unless_a_surge_kept_them() -> None:
    campaign = make_campaign(validity_seconds=3600)
    old, kept = (
        held(1, at=NOON - timedelta(hours=2)),
        held(2, at=NOON - timedelta(hours=2), run_id="surge-run"),
    )
    fresh = held(3, at=NOON - timedelta(minutes=10))
    snapshot = facts(held=(old, kept, fresh), kept_surge_runs=frozenset({"surge-run"}))
    verdict = verdict_of(campaign, rows(), snapshot)
    assert isinstance(verdict, Send)
    assert verdict.expired == (old,)
    assert sent(verdict) == ["h2", "h3"]


def test_opted_out_numbers_and_rows_already_in_the_outbox_are_left_out() -> None:
    snapshot = facts(
        existing_keys=frozenset({"c1"}),
        opted_out=frozenset({number(2), number(9)}),
        held=(held(9, at=NOON),),
    )
    verdict = verdict_of(make_campaign(), rows(1, 2, 3), snapshot)
    assert sent(verdict) == ["c3"]
    assert isinstance(verdict, Send)
    assert [m.dedup_key for m in verdict.found.opted_out] == ["c2"]
    assert [r.dedup_key for r in verdict.found.opted_held] == ["h9"]
    # A run given keys decides on those only.
    assert sent(
        verdict_of(
            make_campaign(),
            rows(1, 2, 3, 4),
            snapshot,
            options=RunOptions(wanted=frozenset({"c4"})),
        )
    ) == ["c4"]


def test_a_dry_run_adopts_no_released_row() -> None:
    released = held(5, at=NOON)
    snapshot = facts(released=(released,))
    live = verdict_of(make_campaign(), rows(1), snapshot)
    dry = verdict_of(make_campaign(dry_run=True), rows(1), snapshot)
    assert isinstance(live, Send)
    assert live.released == (released,)
    assert isinstance(dry, Send)
    assert dry.released == ()


# --- the execution, on a real file and the simulator -----------------------------------------


def _alive(run_id: str) -> RunStatus:
    return RunStatus(over=False, label="STARTED")


def evaluate(
    campaign: Campaign, path: Target, now: datetime = NOON
) -> engine.Skip | engine.Request:
    return engine.evaluate(
        campaign,
        Warehouse(path),
        now,
        status_of=_alive,
        silent_after=DEFAULT_SILENT_AFTER,
        log=logging.getLogger("test"),
    )


def run(
    campaign: Campaign,
    path: Target,
    sim: RunningSimulator,
    now: datetime = NOON,
    run_id: str = "run-1",
    **options: Any,
) -> engine.Report:
    return engine.run(
        campaign,
        Warehouse(path),
        RunOptions(**options),
        run_id=run_id,
        clock=lambda: now,
        client=lambda: SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url),
        status_of=_alive,
        silent_after=DEFAULT_SILENT_AFTER,
        log=logging.getLogger("test"),
    )


@on_both_engines
def test_the_engine_baselines_a_first_activation_then_sends_new_rows_once(
    sim: RunningSimulator, path: Target
) -> None:
    campaign = customers_campaign()
    baseline = evaluate(campaign, path)
    assert isinstance(baseline, engine.Skip)
    assert "0 rows recorded as baseline" in baseline.reason
    add_customers(path, 1, 2)
    request = evaluate(campaign, path)
    assert isinstance(request, engine.Request)
    assert sorted(request.dedup_keys) == ["c1", "c2"]
    report = run(campaign, path, sim, wanted=frozenset(request.dedup_keys))
    assert report.counts["sent"] == 2
    assert sent_texts(sim) == texts_of(1, 2)
    assert run(campaign, path, sim, run_id="run-2").counts["sent"] == 0
    assert sent_texts(sim) == texts_of(1, 2)


@on_both_engines
def test_a_run_on_the_first_activation_records_the_baseline_and_sends_nothing(
    sim: RunningSimulator, path: Target
) -> None:
    add_customers(path, 1, 2)
    report = run(customers_campaign(), path, sim)
    assert report.counts == {"baseline": 2, "sent": 0, "requests": 0}
    assert states(path) == {"c1": "baseline", "c2": "baseline"}
    assert sim.sends == []


@on_both_engines
def test_a_tripped_breaker_refuses_the_run_before_the_query(
    sim: RunningSimulator, path: Target
) -> None:
    CircuitBreaker(Warehouse(path)).trip("MTN failures at 21%", source="check:spike")
    broken = customers_campaign(sql="select * from no_such_table")
    skip = evaluate(broken, path)
    assert isinstance(skip, engine.Skip)
    assert "Nothing was queried" in skip.reason
    with pytest.raises(engine.SendRunError, match="ignore_circuit_breaker") as refused:
        run(broken, path, sim)
    assert "MTN failures at 21%" in refused.value.texts["circuit_breaker"]


@on_both_engines
def test_the_volume_breaker_refuses_then_a_confirmed_run_keeps_or_drops_the_rest(
    sim: RunningSimulator, path: Target
) -> None:
    campaign = customers_campaign(
        volume_breaker_min_rows=1,
        volume_breaker_factor=1.5,
        max_per_run=1,
        max_per_day=1,
        validity_seconds=3600,
    )
    evaluate(campaign, path)  # activated, empty baseline
    add_customers(path, 1, 2, 3)
    skip = evaluate(campaign, path)
    assert isinstance(skip, engine.Skip)
    assert skip.reason.startswith("volume breaker")
    # The held surge is recorded once, whatever the ticks, with how to confirm it.
    evaluate(campaign, path, NOON + timedelta(minutes=1))
    [held_surge] = Outbox(Warehouse(path)).held_surges()
    assert (held_surge.campaign, held_surge.held_at, held_surge.found_rows) == (
        campaign.name,
        NOON.replace(tzinfo=None),
        3,
    )
    assert held_surge.resolve in skip.reason
    assert "confirm_volume: true" in held_surge.resolve
    # A tick that finds no surge any more (the threshold raised, here) ends it.
    relaxed = campaign.model_copy(update={"volume_breaker_min_rows": 10})
    assert isinstance(evaluate(relaxed, path), engine.Request)
    assert Outbox(Warehouse(path)).held_surges() == []
    evaluate(campaign, path, NOON + timedelta(minutes=2))  # held again: a new surge
    assert len(Outbox(Warehouse(path)).held_surges()) == 1
    with pytest.raises(engine.SendRunError, match="surge_rest") as refused:
        run(campaign, path, sim, confirm_volume=True)
    assert "expire unsent" in refused.value.description
    assert states(path) == {}
    report = run(campaign, path, sim, confirm_volume=True, surge_rest=SurgeRest.drop)
    assert report.counts["sent"] == 1
    assert report.skipped == {engine.SURGE_DROPPED: 2}
    assert Outbox(Warehouse(path)).held_surges() == []  # the confirmation ended it
    assert sorted(states(path).values()) == ["sent", "skipped", "skipped"]
    add_customers(path, 4, 5, 6)
    kept = run(
        campaign,
        path,
        sim,
        now=NOON + timedelta(days=1),
        run_id="run-2",
        confirm_volume=True,
        surge_rest=SurgeRest.keep,
    )
    assert kept.counts["sent"] == 1
    assert kept.counts["held"] == 2
    # Kept rows never expire: two days later, the next run sends one (the daily cap).
    later = run(campaign, path, sim, now=NOON + timedelta(days=3), run_id="run-3")
    assert later.counts["sent"] == 1
    assert later.counts["expired"] == 0
    assert len(sim.sends) == 3


@on_both_engines
def test_quiet_hours_hold_rows_which_expire_past_their_validity(
    sim: RunningSimulator, path: Target
) -> None:
    campaign = customers_campaign(quiet_hours=QUIET, validity_seconds=3600)
    evaluate(campaign, path)
    add_customers(path, 1)
    skip = evaluate(campaign, path, NIGHT)
    assert isinstance(skip, engine.Skip)
    assert "1 new row held" in skip.reason
    assert states(path) == {"c1": "held"}
    add_customers(path, 2)
    report = run(campaign, path, sim, NIGHT)
    assert report.counts["held"] == 1
    assert report.texts["next_send_time"].startswith("2025-03-07")
    # The morning after: c1 was held at 23:00, c2 too; valid an hour only, both expire.
    morning = run(campaign, path, sim, NIGHT + timedelta(hours=9), run_id="run-2")
    assert morning.counts["expired"] == 2
    assert sim.sends == []
    assert states(path) == {"c1": "expired", "c2": "expired"}


@on_both_engines
def test_the_caps_and_the_frequency_cap_through_the_engine(
    sim: RunningSimulator, path: Target
) -> None:
    campaign = customers_campaign(
        max_per_run=2, max_per_day=3, frequency_cap={"max_messages": 1, "window_seconds": 86_400}
    )
    evaluate(campaign, path)
    add_customers(path, 1, 2)
    add_customers(path, 3, phone=1)  # the number of c1 again
    add_customers(path, 4, 5)
    first = run(campaign, path, sim)
    assert first.counts["sent"] == 2
    assert first.counts["waiting_for_cap"] == 3
    second = run(campaign, path, sim, run_id="run-2")
    # One left of the day: c3 shares c1's number (capped for good), c4 goes, c5 waits.
    assert second.counts["sent"] == 1
    assert second.counts["frequency_capped"] == 1
    assert skip_reasons(path) == {"c3": "frequency_cap"}
    skip = evaluate(campaign, path)
    assert isinstance(skip, engine.Skip)
    assert skip.reason.startswith("daily cap reached")
    assert sent_texts(sim) == texts_of(1, 2, 4)


@on_both_engines
def test_a_dry_run_reports_and_sends_nothing(sim: RunningSimulator, path: Target) -> None:
    campaign = customers_campaign(dry_run=True, max_per_run=1)
    Outbox(Warehouse(path)).claim(
        [OutboxMessage("reminder", "old", number(9), "MaBoutique", "x", 1, "GSM-7")],
        state="baseline",
    )
    add_customers(path, 1, 2)
    report = run(campaign, path, sim)
    assert report.counts["would_send"] == 1
    assert report.counts["waiting_for_cap"] == 1
    assert sim.sends == []
    assert states(path) == {"old": "baseline"}
    request = evaluate(campaign, path)
    assert isinstance(request, engine.Request)
    assert request.dedup_keys == ("c1",)
    assert states(path) == {"old": "baseline"}


def test_importing_the_engine_loads_no_dagster() -> None:
    code = (
        "import sys\n"
        "import smspresto_pipeline.campaigns.engine\n"
        "import smspresto_pipeline.campaigns.decision\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
