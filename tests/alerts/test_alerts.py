"""The alerts: each event told once by SMS (the simulator's record is the witness) and once to a
webhook (a local receiver), across ticks, a sensor reset and a crash; the rate limit; the
webhook's URL kept secret; the events found in the warehouse and in Dagster's runs; the
freshness check."""

import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from alert_fixtures import SECRET, Receiver
from campaign_fixtures import insert_rows, make_campaign, warehouse_resource
from conftest import on_both_engines

from smspresto_pipeline.alerts import ALERTS_CAMPAIGN, Alert, AlertSettings, build_alert_defs
from smspresto_pipeline.alerts.channels import SmsChannel, WebhookChannel
from smspresto_pipeline.alerts.definitions import spike_error_alerts
from smspresto_pipeline.alerts.delivery import tell
from smspresto_pipeline.alerts.events import (
    AlertFacts,
    freshness_alerts,
    stock_alerts,
    surge_alerts,
)
from smspresto_pipeline.alerts.ledger import AlertLedger
from smspresto_pipeline.campaigns.engine import confirm_hint
from smspresto_pipeline.checks.freshness import stale_history_note
from smspresto_pipeline.checks.freshness_defs import build_freshness_check_defs
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.sending import CircuitBreaker, OptOuts, Outbox, OutboxMessage
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.sms import describe_text
from smspresto_pipeline.warehouse import Warehouse

OPERATOR = "+2250708081488"
NOW = datetime(2025, 3, 11, 8, 0, tzinfo=UTC)


def _api(sim: RunningSimulator) -> SMSPrestoResource:
    return SMSPrestoResource(api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url)


def _tick(
    sim: RunningSimulator,
    target: str,
    instance: dg.DagsterInstance,
    cursor: str | None,
    **settings: Any,
) -> tuple[str, str | None]:
    """One evaluation of a freshly built ``smspresto_alerts`` sensor: its skip reason and cursor."""
    defs = build_alert_defs(numbers=[OPERATOR], sender="OPS", **settings)
    sensor = defs.resolve_sensor_def("smspresto_alerts")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"smspresto": _api(sim), "warehouse": warehouse_resource(target)},
    )
    result = sensor(context)
    if isinstance(result, dg.SensorResult):  # with the breaker's state, when it changed
        assert result.skip_reason is not None
        result = result.skip_reason
    assert isinstance(result, dg.SkipReason)
    return str(result.skip_message), context.cursor


def _observed(
    sim: RunningSimulator, target: str, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """One tick: the breaker's state it observed (None: unchanged, none recorded) and the cursor."""
    sensor = build_alert_defs().resolve_sensor_def("smspresto_alerts")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"smspresto": _api(sim), "warehouse": warehouse_resource(target)},
    )
    result = sensor(context)
    if not isinstance(result, dg.SensorResult):
        return None, context.cursor
    [observation] = result.asset_events
    assert isinstance(observation, dg.AssetObservation)
    assert observation.asset_key == dg.AssetKey("smspresto_circuit_breaker")
    return {k: v.value for k, v in observation.metadata.items()}, context.cursor


def _operator_texts(sim: RunningSimulator) -> list[str]:
    return [text for record in sim.sends for number, text in record.messages if number == OPERATOR]


@on_both_engines
def test_one_sms_and_one_webhook_post_per_event_across_ticks_and_a_reset(
    sim: RunningSimulator,
    warehouse: Warehouse,
    warehouse_target: str,
    instance: dg.DagsterInstance,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SMSPRESTO_ALERT_WEBHOOK_URL", receiver.url)
    breaker = CircuitBreaker(warehouse)
    breaker.trip("carrier:MTN failures at 21%", source="check:spike", partition="2025-03-06")
    # The operator's number opted out of a campaign: its alerts still come.
    OptOuts(warehouse).add([OPERATOR], reason="tried STOP", source="test")

    reason, cursor = _tick(sim, warehouse_target, instance, None)
    [text] = _operator_texts(sim)
    assert "MTN failures at 21%" in text
    assert "smspresto campaigns resume" in text
    assert describe_text(text).segments <= 2
    [body] = receiver.bodies
    assert "MTN failures at 21%" in body["text"]
    assert "smspresto_resume_campaigns" in body["text"]
    assert "breaker-trip" in reason

    _tick(sim, warehouse_target, instance, cursor)  # the next tick
    _tick(sim, warehouse_target, instance, None)  # the sensor reset: its cursor lost
    assert len(_operator_texts(sim)) == 1
    assert len(receiver.bodies) == 1

    breaker.trip("maintenance", source="cli:alice")  # a second event: told once more
    reason, _ = _tick(sim, warehouse_target, instance, cursor)
    _tick(sim, warehouse_target, instance, cursor)
    assert len(_operator_texts(sim)) == 2
    assert len(receiver.bodies) == 2
    assert "paused by alice" in _operator_texts(sim)[1]

    ledger = AlertLedger(warehouse)
    details = [d.detail or "" for c in ("sms", "webhook") for d in ledger.in_state(c, "delivered")]
    shown = [reason, *details, caplog.text, repr(WebhookChannel(receiver.url))]
    assert not [s for s in shown if SECRET in s]


def test_the_rate_limit_holds_the_rest_and_tells_them_later_once(
    warehouse: Warehouse, receiver: Receiver
) -> None:
    ledger = AlertLedger(warehouse)
    channel = WebhookChannel(receiver.url)
    events = [Alert(f"e{i}", "test", f"event {i}", "nothing", "nothing to do") for i in range(5)]
    start = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

    [first] = tell(events, [channel], ledger, start, max_per_hour=3)
    assert first.told[:2] == ("e0", "e1")
    assert first.held == 3
    assert "3 more alerts held by the limit of 3 an hour" in receiver.bodies[2]["text"]
    [second] = tell(events, [channel], ledger, start + timedelta(minutes=30), max_per_hour=3)
    assert second.told == ()
    assert len(receiver.bodies) == 3
    tell(events, [channel], ledger, start + timedelta(minutes=61), max_per_hour=3)
    tell(events, [channel], ledger, start + timedelta(minutes=200), max_per_hour=3)

    texts = [body["text"] for body in receiver.bodies]
    told = [i for i in range(5) for t in texts if f"(event e{i})" in t]
    assert told == [0, 1, 2, 3, 4]  # every event once, none lost, none repeated
    assert len(texts) == 6  # and one summary


def test_a_tick_killed_between_claim_and_send_never_resends_blindly(
    sim: RunningSimulator, warehouse: Warehouse
) -> None:
    ledger, outbox, now = AlertLedger(warehouse), Outbox(warehouse), datetime.now(UTC)
    alerts = [Alert(f"k{i}", "test", f"event {i}", "nothing", "nothing to do") for i in (1, 2)]
    ledger.record("sms", alerts, now)
    # A dead tick claimed both; it recorded k2's batch as requested (it may have left), not k1's.
    dead = f"{ALERTS_CAMPAIGN}:dead-tick"
    outbox.claim(
        [
            OutboxMessage(
                ALERTS_CAMPAIGN, f"{a.key}|{OPERATOR}", OPERATOR, "OPS", a.what, 1, "GSM-7"
            )
            for a in alerts
        ],
        run_id=dead,
    )
    with outbox.transaction() as session:
        session.take(ALERTS_CAMPAIGN, [f"k2|{OPERATOR}"], run_id=dead)

    with _api(sim).get_client() as client:
        channel = SmsChannel(client, outbox, numbers=[OPERATOR], sender="OPS", tick_id="new-tick")
        tell([], [channel], ledger, now, max_per_hour=6)

    assert _operator_texts(sim) == ["event 1"]  # provably never sent: sent now; k2 not resent
    rows = {r.dedup_key: r.state for r in outbox.rows(("sent", "ambiguous"))}
    assert rows == {f"k1|{OPERATOR}": "sent", f"k2|{OPERATOR}": "ambiguous"}


def test_bad_settings_are_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match="'12345'"):
        build_alert_defs(numbers=["12345"])
    with pytest.raises(ValueError, match="max_per_hour"):
        AlertSettings.of(numbers=[OPERATOR], sender="OPS", max_per_hour=1)
    with pytest.raises(ValueError, match="scheme 'ftp'") as caught:
        WebhookChannel(f"ftp://hooks.example/{SECRET}")
    assert SECRET not in str(caught.value)


def test_an_alert_sms_fits_two_parts_and_keeps_its_action() -> None:
    alert = Alert(
        "k", "breaker-trip", "carrier:MTN failures jumped " * 30, "every campaign", "run `x`"
    )
    text = alert.sms_text()
    assert describe_text(text).segments <= 2
    assert text.endswith("Do: run x")


def test_an_alert_sms_is_shortened_between_words() -> None:
    """A number cut short would read as another one: p=3e-14 must not become p=3e-1."""
    what = (
        "Circuit breaker tripped: carrier:MTN failures jumped from 6.5% to 64.9% "
        "(114 messages, p=3e-14) on 2026-12-04 (check:failure_rate_spike, partition 2026-12-04)."
    )
    blocks = "every campaign: nothing is sent"
    resolve = "once the cause is fixed, smspresto campaigns resume --reason, or the job " * 2
    text = Alert("k", "breaker-trip", what, blocks, resolve).sms_text()
    assert describe_text(text).segments <= 2
    shortened = text.removeprefix("SMS Presto alert: ").split(" Blocks: ")[0]
    assert shortened.endswith("...")
    assert len(shortened) < len(what)
    *whole, last = shortened.removesuffix("...").split()
    words = what.split()
    assert whole == words[: len(whole)]
    assert last == words[len(whole)].rstrip(".,:;(")  # whole, its punctuation aside


def _facts(warehouse: Warehouse, now: datetime) -> AlertFacts:
    settings = AlertSettings.of(numbers=[OPERATOR], sender="OPS", runway_days=3, pace_days=2)
    return AlertFacts(warehouse, now, settings, status_of=lambda run_id: None)


def _history(warehouse: Warehouse, target: str, *days: tuple[date, int]) -> None:
    warehouse.database.ensure_schema()
    insert_rows(
        target,
        "INSERT INTO smspresto.messages (history_id, recipient, recipient_valid, status, "
        "segments, partition_date, loaded_at) VALUES (?, ?, true, 'delivered', ?, ?, ?)",
        [(i, OPERATOR, parts, day, datetime(2025, 3, 11)) for i, (day, parts) in enumerate(days)],
    )


def test_stock_and_freshness_events(warehouse: Warehouse, warehouse_target: str) -> None:
    now = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
    _history(
        warehouse, warehouse_target, (date(2025, 3, 9), 500), (date(2025, 3, 10), 700)
    )  # 600 parts a day
    insert_rows(
        warehouse_target,
        "INSERT INTO smspresto.account_snapshots (taken_at, stock, sent, success, failed, "
        "contacts, groups, orders, bills, scheduled, predefined) "
        "VALUES (?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
        [(datetime(2025, 3, 11, 8), 1_500)],  # 2.5 days at 600 a day
    )
    [stock] = stock_alerts(_facts(warehouse, now))
    assert stock.key == "stock-runway:default:2025-03-11"
    assert "Stock 1500" in stock.what
    assert "about 2.5 days at 600 a day" in stock.what
    assert freshness_alerts(_facts(warehouse, now)) == []  # yesterday is there

    later = now + timedelta(days=1)  # 2025-03-12 09:00: 2025-03-11 is missing
    [stale] = freshness_alerts(_facts(warehouse, later))
    assert stale.key == "history-stale:default:2025-03-10"
    assert "2025-03-11" in stale.what


def test_a_failed_ingest_run_is_told_once(
    sim: RunningSimulator, warehouse_target: str, instance: dg.DagsterInstance
) -> None:
    @dg.op
    def boom() -> None:
        raise RuntimeError("the API is down")

    @dg.job(name="archive_messages_ingest_job")
    def ingest() -> None:
        boom()

    run = ingest.execute_in_process(instance=instance, raise_on_error=False)
    assert not run.success
    reason, cursor = _tick(sim, warehouse_target, instance, None)
    assert f"run-failed:{run.run_id}" in reason
    _tick(sim, warehouse_target, instance, cursor)
    [text] = _operator_texts(sim)
    assert "archive_messages_ingest_job failed" in text
    assert "re-execute" in text


def test_the_freshness_check_fails_on_a_stale_history(
    warehouse: Warehouse, warehouse_target: str
) -> None:
    _history(warehouse, warehouse_target, (date(2025, 3, 9), 1))
    defs = dg.Definitions.merge(
        build_freshness_check_defs(),
        dg.Definitions(
            assets=[dg.AssetSpec("archive_messages")],
            resources={"warehouse": warehouse_resource(warehouse_target)},
        ),
    )
    result = defs.resolve_job_def("archive_messages_freshness_job").execute_in_process()
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "the newest day ingested is 2025-03-09" in (evaluation.description or "")


def test_a_held_surge_is_told_once_with_the_command_that_confirms_it(
    sim: RunningSimulator, warehouse: Warehouse, warehouse_target: str, instance: dg.DagsterInstance
) -> None:
    campaign = make_campaign(name="promo")
    outbox = Outbox(warehouse)
    warehouse.ensure_schema()
    outbox.hold_surge(
        "promo", found_rows=480, threshold=60, resolve=confirm_hint(campaign), now=NOW
    )
    [alert] = surge_alerts(_facts(warehouse, NOW))
    assert alert.key == "surge-held:promo:20250311T080000"
    assert "480 new rows" in alert.what
    assert alert.resolve == f"if this volume is expected, {confirm_hint(campaign)}"
    _, cursor = _tick(sim, warehouse_target, instance, None)
    _tick(sim, warehouse_target, instance, cursor)
    [text] = _operator_texts(sim)
    assert "'promo'" in text
    assert "confirm_volume: true" in text
    assert describe_text(text).segments <= 2
    outbox.end_held_surge("promo", now=NOW)
    assert surge_alerts(_facts(warehouse, NOW)) == []


def test_a_stale_history_is_named_in_the_breakers_words_and_a_fresh_one_is_not() -> None:
    morning = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
    assert stale_history_note(date(2025, 3, 10), morning, "Africa/Abidjan") is None
    note = stale_history_note(date(2025, 3, 7), morning, "Africa/Abidjan")
    assert note == (
        "judged on a stale history: the newest day ingested is 2025-03-07, 3 days behind "
        "2025-03-10 (expected by now)"
    )


def test_a_spike_error_is_told_once_unless_its_trip_told_it(
    sim: RunningSimulator, warehouse: Warehouse, warehouse_target: str, instance: dg.DagsterInstance
) -> None:
    days = dg.DailyPartitionsDefinition(start_date="2025-03-01")

    @dg.asset(name="archive_messages", partitions_def=days)
    def archive() -> None:
        pass

    @dg.asset_check(asset=archive, name="failure_rate_spike", partitions_def=days)
    def spike(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"carrier:MTN failures jumped to 30% on {context.partition_key}",
        )

    # 03-05 tripped the breaker (its trip's alert tells it); 03-06 did not (breaker off).
    CircuitBreaker(warehouse).trip(
        "carrier:MTN failures jumped to 30% on 2025-03-05",
        source="check:failure_rate_spike",
        partition="2025-03-05",
    )
    for day in ("2025-03-05", "2025-03-06"):
        dg.materialize([archive, spike], instance=instance, partition_key=day)
    reason, cursor = _tick(sim, warehouse_target, instance, None)
    assert "spike-error:archive_messages:failure_rate_spike:2025-03-06" in reason
    assert "spike-error:archive_messages:failure_rate_spike:2025-03-05" not in reason
    dg.materialize([archive, spike], instance=instance, partition_key="2025-03-06")  # again
    _tick(sim, warehouse_target, instance, cursor)
    spikes = [text for text in _operator_texts(sim) if "Spike check ERROR" in text]
    assert len(spikes) == 1
    assert "30% on 2025-03-06" in spikes[0]
    assert "smspresto campaigns pause" in spikes[0]
    assert len(_operator_texts(sim)) == 2  # and the trip's own alert


def test_the_spike_reader_reads_the_errors_of_its_look_back_and_stops_there(
    instance: dg.DagsterInstance,
) -> None:
    """Each tick reads every ERROR planned within its look-back, those told already too (the
    ledger drops them): a record's time is its run's planning, in whole seconds on SQLite, so a
    cursor would skip an ERROR stamped in the same second as the last one read. It stops at
    the look-back's start rather than read a check's whole history each tick."""
    days = dg.DailyPartitionsDefinition(start_date="2025-03-01")

    @dg.asset(name="archive_messages", partitions_def=days)
    def archive() -> None:
        pass

    @dg.asset_check(asset=archive, name="failure_rate_spike", partitions_def=days)
    def spike(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR)

    key = dg.AssetCheckKey(dg.AssetKey("archive_messages"), "failure_rate_spike")
    never_tripped = lambda check, partition: False  # noqa: E731
    dg.materialize([archive, spike], instance=instance, partition_key="2025-03-05")
    # The storage stamps whole seconds: a second on each side of `between`.
    time.sleep(1.1)
    between = datetime.now(UTC)
    time.sleep(1.1)
    dg.materialize([archive, spike], instance=instance, partition_key="2025-03-06")
    both = spike_error_alerts(instance, [key], never_tripped, between - timedelta(hours=1))
    assert [alert.key for alert in both] == [
        "spike-error:archive_messages:failure_rate_spike:2025-03-06",
        "spike-error:archive_messages:failure_rate_spike:2025-03-05",
    ]
    newer = spike_error_alerts(instance, [key], never_tripped, between)
    assert [alert.key for alert in newer] == [
        "spike-error:archive_messages:failure_rate_spike:2025-03-06"
    ]


def test_the_breakers_state_is_observed_when_it_changes(
    sim: RunningSimulator, warehouse: Warehouse, warehouse_target: str, instance: dg.DagsterInstance
) -> None:
    closed, cursor = _observed(sim, warehouse_target, instance, None)
    assert closed is not None
    assert closed["paused"] is False
    assert _observed(sim, warehouse_target, instance, cursor)[0] is None  # unchanged
    CircuitBreaker(warehouse).trip("MTN outage", source="cli:kofi")
    paused, cursor = _observed(sim, warehouse_target, instance, cursor)
    assert paused is not None
    assert (paused["paused"], paused["reason"], paused["by"]) == (True, "MTN outage", "kofi")
    assert str(paused["status"]).startswith("campaigns are paused by kofi (manual pause)")
    assert "smspresto_resume_campaigns" in str(paused["status"])
    assert _observed(sim, warehouse_target, instance, cursor)[0] is None
    CircuitBreaker(warehouse).resume(by="cli:kofi", reason="fixed")
    resumed, _ = _observed(sim, warehouse_target, instance, cursor)
    assert resumed is not None
    assert resumed["paused"] is False
