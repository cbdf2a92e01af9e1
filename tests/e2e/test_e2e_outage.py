"""A simulated day with an MTN outage from 10:00, end to end, in real Dagster runs against the
simulator over HTTP on its own clock and a real DuckDB file.

Three weeks of history are ingested by the daily ingest job; then, every 15 simulated minutes
from 09:30, as the deployed schedules and sensors would: the read of today
(``archive_messages_today`` with its spike check, run config ``as_of`` = the simulated time),
the alerting sensor's tick after it, and the campaign's sensor tick with the send run it
requests. The campaign sends a steady batch every tick from 09:30 (100 messages: 40 to MTN, 40
to Orange, 20 to Moov). At 10:00 the simulator's MTN sends start failing at 90 %; the breaker
trips at the read of 11:00, the campaign's next tick skips naming it, the operator's number
gets one SMS and the webhook one JSON, and later ticks repeat nothing. A person resumes and the
campaign sends again.

The bound reached is 11:00, not 10:30: the read of 10:30 counts the batch of 10:00 (created
before its cutoff, 10:15, and settled), but today so far is cumulative, the morning's healthy
sends included: MTN is at 25.9 % against 5.3 % over 166 settled messages, p = 0.004, far from
an ERROR's p < 0.001 / 96 under the check's day-to-day spread (taken at its 99 % bound); at
10:45 39.3 % over 206, p = 1e-4; at 11:00 47.6 % over 246, p = 4e-6: ERROR. Four batches, 160
MTN messages, went into the outage before the pause; the daily check alone pauses after the
next morning's 06:00 ingest, 80 batches (3,200 MTN messages) later. (The simulator draws a
send's status from its number among the sends, not the wall clock: the day replays the same.)

Every clock is the simulator's: the check's (``build_intraday_spike_check(now=...)``: the
check is built here, as ``build_ingest_defs`` builds it on the system clock), the campaign's
and the alerting sensor's (``clock=``). The simulated day is a fixed one in the past, because a
read's ``as_of`` may not be later than the real now.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from alert_fixtures import Receiver
from campaign_fixtures import Harness, customers_campaign, customers_file, insert_rows
from campaign_fixtures import warehouse_resource as warehouse_of
from conftest import MakeSimulator

from smspresto_pipeline.alerts import build_alert_defs
from smspresto_pipeline.checks.intraday_defs import build_intraday_spike_check
from smspresto_pipeline.ingest import build_ingest_defs
from smspresto_pipeline.ingest.intraday import build_archive_today_asset
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.sending import CircuitBreaker
from smspresto_pipeline.simulator import Outage, RunningSimulator
from smspresto_pipeline.simulator.seed import carrier_of
from smspresto_pipeline.warehouse import Warehouse

ZONE = ZoneInfo("Africa/Abidjan")
TODAY = date(2026, 3, 10)  # a Tuesday
FIRST = TODAY - timedelta(days=21)
TICK = timedelta(minutes=15)
#: The first tick, when the campaign starts (the account's local time, naive, as the simulator's).
OPENING = datetime(2026, 3, 10, 9, 30)
OUTAGE_START = datetime(2026, 3, 10, 10, 0)
#: The bound reached: the read of 11:00 (see the module docstring for why not 10:30).
PAUSED_BY = datetime(2026, 3, 10, 11, 0)
OPERATOR = "+2250708081488"
#: The campaign's steady batch, each tick: new customers on three carriers.
BATCH = {"MTN": 40, "Orange": 40, "Moov": 20}
PREFIX = {"MTN": "+22505", "Orange": "+22507", "Moov": "+22501"}
#: The daily check judges today once tomorrow's 06:00 ingest has read it.
DAILY_PAUSE = datetime(2026, 3, 11, 6, 0)


class Day:
    """The account, its warehouse and Dagster, on the simulator's clock."""

    def __init__(
        self, sim: RunningSimulator, path: Path, instance: dg.DagsterInstance, webhook: str
    ) -> None:
        self.sim, self.path, self.instance = sim, path, instance
        self.customers = 0
        self.cursor: str | None = None
        api = SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url, page_size=500
        )
        self.resources: dict[str, Any] = {"smspresto": api, "warehouse": warehouse_of(path)}
        self.ingest = build_ingest_defs(
            start_date=FIRST.isoformat(), smspresto=api, warehouse=warehouse_of(path)
        )
        self.today = [build_archive_today_asset(), build_intraday_spike_check(now=self.now)]
        self.alerts = build_alert_defs(numbers=[OPERATOR], sender="OPS", clock=self.now)
        self.campaign = Harness(
            customers_campaign(send_on_first_activation=True), sim, path, instance, clock=self.now
        )
        self.webhook = webhook

    def now(self) -> datetime:
        return self.sim.now.replace(tzinfo=ZONE)

    def ingest_history(self) -> None:
        """The daily ingest job over the three weeks before today, in one run."""
        tags = {
            PARTITION_RANGE_START_TAG: FIRST.isoformat(),
            PARTITION_RANGE_END_TAG: (TODAY - timedelta(days=1)).isoformat(),
        }
        job = self.ingest.resolve_job_def("archive_messages_ingest_job")
        assert job.execute_in_process(instance=self.instance, tags=tags).success

    def arrive(self) -> None:
        """The campaign's next rows: a steady batch of new customers."""
        rows = []
        for carrier, count in BATCH.items():
            for _ in range(count):
                self.customers += 1
                phone = f"{PREFIX[carrier]}{self.customers:08d}"
                rows.append((f"c{self.customers}", phone, f"Client{self.customers}", "P1"))
        insert_rows(self.path, "INSERT INTO main.customers VALUES (?, ?, ?, ?)", rows)

    def read(self) -> dg.AssetCheckEvaluation:
        """The read of today at the simulator's now, with its check: the check's evaluation."""
        result = dg.materialize(
            self.today,
            resources=self.resources,
            instance=self.instance,
            run_config={
                "ops": {"archive_messages_today": {"config": {"as_of": self.sim.now.isoformat()}}}
            },
        )
        assert result.success
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    def alert_tick(self, monkeypatch: pytest.MonkeyPatch) -> str:
        """One tick of the alerting sensor: its skip reason."""
        monkeypatch.setenv("SMSPRESTO_ALERT_WEBHOOK_URL", self.webhook)
        sensor = self.alerts.resolve_sensor_def("smspresto_alerts")
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources
        )
        result = sensor(context)
        if isinstance(result, dg.SensorResult):  # the breaker's state changed: observed
            result = result.skip_reason
        assert isinstance(result, dg.SkipReason)
        self.cursor = context.cursor
        return str(result.skip_message)

    def campaign_tick(self) -> dict[str, int] | str:
        """The campaign's sensor tick and the run it requests: the numbers it sent per carrier,
        or the tick's skip reason."""
        verdict = self.campaign.evaluate()
        if isinstance(verdict, dg.SkipReason):
            return str(verdict.skip_message)
        before = len(self.sim.sends)
        assert self.campaign.run(verdict).success
        sent: dict[str, int] = {}
        for record in self.sim.sends[before:]:
            for number, _ in record.messages:
                carrier = carrier_of(number) or "?"
                sent[carrier] = sent.get(carrier, 0) + 1
        return sent


@pytest.fixture
def day(
    make_simulator: MakeSimulator,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    receiver: Receiver,
) -> Iterator[Day]:
    path = customers_file(tmp_path / "warehouse.duckdb")
    with make_simulator(
        clock=OPENING,
        history_start=FIRST,
        history_end=TODAY,
        messages_per_day=1000,
        spike_period=0,
        delivery_delay=120,
    ) as sim:
        yield Day(sim, path, instance, receiver.url)


def operator_texts(sim: RunningSimulator) -> list[str]:
    return [text for record in sim.sends for number, text in record.messages if number == OPERATOR]


@pytest.mark.slow
def test_an_mtn_outage_from_10_pauses_the_campaign_at_11_and_tells_the_operator_once(
    day: Day, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    day.ingest_history()
    breaker = CircuitBreaker(Warehouse(day.path))
    into_outage = 0  # the campaign's MTN messages sent from 10:00 until it paused
    tripped_at: datetime | None = None
    while tripped_at is None:
        now = day.sim.now
        assert now < OUTAGE_START + timedelta(hours=3), "no trip within the hour"
        if now == OUTAGE_START:
            day.sim.add_outage(Outage("carrier:MTN", failure_rate=0.9, start=OUTAGE_START))
        evaluation = day.read()
        day.alert_tick(monkeypatch)
        if breaker.state().tripped:
            tripped_at = now
            assert evaluation.severity == dg.AssetCheckSeverity.ERROR
            break
        assert evaluation.passed or evaluation.severity == dg.AssetCheckSeverity.WARN, (
            now,
            evaluation.description,
        )
        assert operator_texts(day.sim) == []
        day.arrive()
        sent = day.campaign_tick()
        assert sent == BATCH, (now, sent)
        if now >= OUTAGE_START:
            into_outage += sent["MTN"]
        day.sim.advance(TICK)

    assert tripped_at == PAUSED_BY
    (trip,) = breaker.state().trips
    assert (trip.source, trip.partition_key) == (
        "check:archive_messages_today_failure_spike",
        TODAY.isoformat(),
    )
    assert trip.reason.startswith("carrier:MTN failures jumped from "), trip.reason
    # Sent into the outage before the pause: the batches of 10:00, 10:15, 10:30 and 10:45.
    assert into_outage == 4 * BATCH["MTN"]
    # The daily check alone would have paused tomorrow after the 06:00 ingest: every batch
    # from 10:00 until then.
    whole_day = (DAILY_PAUSE - OUTAGE_START) // TICK * BATCH["MTN"]
    assert whole_day == 80 * BATCH["MTN"]

    # The campaign's next tick skips, naming the breaker, and sends nothing.
    sends = len(day.sim.sends)
    day.arrive()
    skip = day.campaign_tick()
    assert isinstance(skip, str)
    assert skip.startswith("campaigns are paused by the circuit breaker since "), skip
    assert "carrier:MTN failures jumped from " in skip
    assert len(day.sim.sends) == sends

    # One SMS to the operator's number (the simulator's record), one JSON to the webhook.
    (text,) = operator_texts(day.sim)
    assert "Circuit breaker tripped: carrier:MTN failures jumped from 5.4% to " in text, text
    assert "smspresto campaigns resume" in text
    (body,) = receiver.bodies
    assert "carrier:MTN failures jumped from " in body["text"]
    # The next ticks tell nothing again, nor does the next read's ERROR (the same trip).
    day.alert_tick(monkeypatch)
    day.sim.advance(TICK)
    assert day.read().severity == dg.AssetCheckSeverity.ERROR
    day.alert_tick(monkeypatch)
    day.arrive()
    assert isinstance(day.campaign_tick(), str)
    assert len(operator_texts(day.sim)) == 1
    assert len(receiver.bodies) == 1

    # MTN is back; a person resumes, and the campaign sends again at its next tick.
    day.sim.clear_outages()
    day.sim.advance(TICK)
    breaker.resume(by="cli:ama", reason="MTN fixed its gateway")
    day.arrive()
    sent = day.campaign_tick()
    # This tick's rows and the two batches held during the pause.
    assert sent == {carrier: 3 * count for carrier, count in BATCH.items()}
