"""The campaign engine without Dagster: every guard of the one decision, tested on hand-built
facts (a :class:`CampaignSnapshot` written here, no file): no Dagster definitions, context or run
anywhere here."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from campaign_fixtures import make_campaign

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
from smspresto_pipeline.warehouse import OutboxMessage
from smspresto_pipeline.warehouse.breaker import BreakerState, Trip
from smspresto_pipeline.warehouse.campaign_snapshot import CampaignSnapshot
from smspresto_pipeline.warehouse.outbox import OutboxRow

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
