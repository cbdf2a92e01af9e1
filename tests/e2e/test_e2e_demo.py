"""The headless demo: it finishes by itself, prints its summary, texts the operator yesterday's
figures through the daily_summary campaign, shows the failure-rate spike check firing on the
injected MTN spike (one checks run per day, the circuit breaker tripped), the alerting sensor
texting that trip to the operator on call and observing the breaker's state, and a second run
(the ``smspresto demo`` command) gives the same tables, verdicts and sends nothing more (but the
alert of its own trip), while adding its runs to the same persistent Dagster instance."""

import re
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from conftest import DEMO_DAYS
from copy_fixtures import PASSWORD, copy, fill_tables, tables, with_password
from e2e_fixtures import DemoTwice

from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.alerts import ALERTS_CAMPAIGN
from smspresto_pipeline.checks.definitions import CHECKS_JOB
from smspresto_pipeline.demo import (
    DEMO_ALERT_NUMBER,
    DEMO_OPERATOR_NUMBER,
    DEMO_SPIKE_SEGMENT,
    DemoSummary,
    spike_day,
)
from smspresto_pipeline.sending.breaker import CircuitBreaker
from smspresto_pipeline.simulator import SimulatorConfig, run_simulator
from smspresto_pipeline.storage.queries import schema_tables
from smspresto_pipeline.warehouse import Warehouse

CHECKED_DAYS = 4  # yesterday and the three days the daily ingest re-reads

# The first test to ask for `demo_twice` runs the demo twice: about twenty Dagster processes.
pytestmark = pytest.mark.timeout(600)


def test_demo_twice_gives_the_same_tables_and_keeps_its_runs(demo_twice: DemoTwice) -> None:
    data_dir, first = demo_twice.data_dir, demo_twice.first
    assert demo_twice.environ_after == demo_twice.environ_before, (
        "the demo leaves the environment as it found it"
    )
    printed = demo_twice.printed
    assert "Messages per status" in printed
    assert "Failure rate per day" in printed
    assert f"{first.messages:,} messages" in printed
    assert "Account counters" in printed
    assert set(first.counters) == {
        "stock",
        "sent",
        "success",
        "failed",
        "contacts",
        "groups",
        "orders",
        "bills",
        "scheduled",
        "predefined",
    }
    assert first.counters["stock"] > 0

    assert (first.last_day - first.first_day).days == DEMO_DAYS - 1
    assert [day for day, _, _, _ in first.daily] == [
        first.first_day + timedelta(days=n) for n in range(DEMO_DAYS)
    ]
    assert first.messages == sum(first.by_status.values()) > 0
    with Warehouse(data_dir / "smspresto_warehouse.duckdb").connect(read_only=True) as con:
        row = con.execute("SELECT count(*) FROM smspresto.account_snapshots").fetchone()
    assert row == (2,), "each demo run adds one account snapshot, and nothing else"

    assert demo_twice.rows_after_first, "the demo loaded messages"
    assert demo_twice.rows_after_second == demo_twice.rows_after_first
    again = demo_twice.second_printed
    assert f"{first.messages:,} messages from {first.first_day}" in again
    for day, messages, failed, _ in first.daily:
        assert any(
            line.split("│")[1:4] == [f" {day} ", f" {messages:<8} ", f" {failed:<6} "]
            for line in again.splitlines()
        ), (day, again)

    env_file = (data_dir / "demo.env").read_text()
    for name in ("DAGSTER_HOME", "SMSPRESTO_DUCKDB_PATH", "SMSPRESTO_START_DATE"):
        assert f"\n{name}=" in env_file
    assert "\nSMSPRESTO_SCHEDULES=stopped\n" in env_file
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        runs = instance.get_runs()
    checks_runs = [run for run in runs if run.job_name == CHECKS_JOB]
    assert len(checks_runs) == 2 * CHECKED_DAYS, "one checks run per day checked, per demo"
    assert len(runs) - len(checks_runs) == 8, "four other runs per demo"
    assert set(first.run_ids) < {run.run_id for run in runs}
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    # Launched from the code location, as the UI launches them: the UI lists a run under its
    # job by this origin (and the repository label it stamps on the run).
    for run in runs:
        assert run.remote_job_origin is not None, run.job_name
        assert run.remote_job_origin.location_name == "dagster_project"
    archive_run = next(r for r in runs if r.run_id == first.run_ids[0])
    assert archive_run.tags["dagster/asset_partition_range_start"] == first.first_day.isoformat()
    assert archive_run.tags["dagster/asset_partition_range_end"] == first.last_day.isoformat()


def _simulator_messages(data_dir: Path, first: DemoSummary, number: str) -> list[str]:
    """What the simulator's record (its archive, kept in its file across both demo runs) holds
    sent to ``number`` from the demo's last day to today."""
    config = SimulatorConfig(
        db_path=data_dir / "simulator.sqlite3",
        history_start=first.first_day,
        history_end=first.last_day,
        messages_per_day=30,
        timezone="Africa/Abidjan",
    )
    with (
        run_simulator(config) as sim,
        SMSPrestoClient(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
        ) as client,
    ):
        return [
            record.message
            for record in client.iter_archive(first.last_day, first.last_day + timedelta(days=2))
            if record.recipient == number
        ]


def test_the_demo_prints_no_warning(demo_twice: DemoTwice) -> None:
    """Neither run prints a warning, and neither do the Dagster commands the second launches
    (their output is in launch.log): the beta warnings Dagster raises about its own copies of our
    definitions are filtered (smspresto_pipeline.conventions)."""
    launched = (demo_twice.data_dir / "launch.log").read_text(encoding="utf-8")
    assert "dagster job launch" in launched, "the commands' output is kept there"
    printed = demo_twice.printed + demo_twice.second_printed + launched
    warning = re.compile(r"\b[A-Z][a-z]\w*Warning\b")
    assert [line for line in printed.splitlines() if warning.search(line)] == []


def test_demo_texts_the_daily_summary_once(demo_twice: DemoTwice) -> None:
    data_dir, first = demo_twice.data_dir, demo_twice.first
    day = first.last_day
    messages, failed, _ = next((m, f, r) for d, m, f, r in first.daily if d == day)
    assert messages > 0
    text = f"SMS Presto, bilan du {day:%d/%m/%Y} : {messages} messages, {failed} en échec ("
    # The simulator's own record: exactly one message to the operator's number, although each
    # demo run launched the send job.
    to_operator = _simulator_messages(data_dir, first, DEMO_OPERATOR_NUMBER)
    assert len(to_operator) == 1, to_operator
    assert to_operator[0].startswith(text)

    row = first.operator_message
    assert row is not None
    assert (row.campaign, row.dedup_key, row.state) == ("daily_summary", day.isoformat(), "sent")
    assert (row.recipient, row.message) == (DEMO_OPERATOR_NUMBER, to_operator[0])
    for printed in (demo_twice.printed, demo_twice.second_printed):
        text = " ".join(printed.split())  # the console wraps long lines
        assert "the message to the operator (+225 07 ** ** ** 00) is sent: " + row.message in text
    # The second run found the day's key in the outbox: still one row (the alerts' own rows
    # are test_demo_tells_the_operator_on_call_each_trip_once's).
    with Warehouse(data_dir / "smspresto_warehouse.duckdb").connect(read_only=True) as con:
        outbox = con.execute("SELECT campaign, dedup_key, state FROM smspresto.outbox").fetchall()
    assert [row for row in outbox if row[0] != ALERTS_CAMPAIGN] == [
        ("daily_summary", day.isoformat(), "sent")
    ]


def test_demo_tells_the_operator_on_call_each_trip_once(demo_twice: DemoTwice) -> None:
    data_dir, first = demo_twice.data_dir, demo_twice.first
    # Each demo run trips the breaker anew (the second resumed the first's trip): the alerting
    # sensor's one tick per run texts that run's trip, once, and nothing else needs a person.
    to_on_call = _simulator_messages(data_dir, first, DEMO_ALERT_NUMBER)
    assert len(to_on_call) == 2, to_on_call
    for text in to_on_call:
        assert text.startswith("SMS Presto alert: Circuit breaker tripped: carrier:MTN failures"), (
            text
        )
        assert "smspresto campaigns resume" in text, "the alert says what resolves it"
    warehouse = Warehouse(data_dir / "smspresto_warehouse.duckdb")
    with warehouse.connect(read_only=True) as con:
        told = con.execute(
            "SELECT channel, event_key, kind, state FROM smspresto.alert_deliveries"
            " ORDER BY created_at"
        ).fetchall()
        alert_rows = con.execute(
            "SELECT dedup_key, recipient, state, message FROM smspresto.outbox"
            " WHERE campaign = $campaign ORDER BY created_at",
            {"campaign": ALERTS_CAMPAIGN},
        ).fetchall()
    assert [(channel, kind, state) for channel, _, kind, state in told] == [
        ("sms", "breaker-trip", "delivered")
    ] * 2
    latest, earlier = CircuitBreaker(warehouse).history()
    assert first.spike_day is not None
    for (_, key, _, _), trip in zip(told, (earlier, latest), strict=True):
        assert key.startswith(f"breaker-trip:check:failure_rate_spike:{first.spike_day}:"), key
        assert key.endswith(f"{trip.tripped_at:%Y%m%dT%H%M%S}"), (key, trip)
    assert [(key, number, state) for key, number, state, _ in alert_rows] == [
        (f"{key}|{DEMO_ALERT_NUMBER}", DEMO_ALERT_NUMBER, "sent") for _, key, _, _ in told
    ]
    assert [message for *_, message in alert_rows] == to_on_call

    assert first.alert is not None
    assert (first.alert.dedup_key, first.alert.message) == alert_rows[0][::3]
    for printed, row in zip(
        (demo_twice.printed, demo_twice.second_printed), alert_rows, strict=True
    ):
        text = " ".join(printed.split())  # the console wraps long lines
        assert (
            "Alert: the sensor smspresto_alerts texted the operator on call "
            f"(+225 07 ** ** ** 01), sent: {row[3]}" in text
        )
        assert DEMO_ALERT_NUMBER not in printed

    # The breaker's state, observed by each tick that found it changed: paused, and why.
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        records = instance.fetch_observations(
            dg.AssetKey("smspresto_circuit_breaker"), limit=10
        ).records
    observations = [record.asset_observation for record in records]
    assert len(observations) == 2, observations
    for observation in observations:
        assert observation is not None
        metadata = {key: entry.value for key, entry in observation.metadata.items()}
        assert metadata["paused"] is True
        assert DEMO_SPIKE_SEGMENT in str(metadata["reason"])
        assert "smspresto campaigns resume" in str(metadata["status"])


def test_demo_shows_the_spike_check_firing_on_the_injected_day(demo_twice: DemoTwice) -> None:
    first = demo_twice.first
    assert first.spike_day == spike_day(first.last_day)
    assert first.spike_day is not None
    assert first.spike_day.weekday() < 5
    checked = [check.day for check in first.checks]
    assert checked == [first.last_day - timedelta(days=n) for n in reversed(range(CHECKED_DAYS))]
    assert len({check.run_id for check in first.checks}) == CHECKED_DAYS, "a run per day"
    (spike,) = [check for check in first.checks if check.day == first.spike_day]
    assert (spike.passed, spike.severity) == (False, "ERROR")
    assert DEMO_SPIKE_SEGMENT in spike.flagged
    assert " failures jumped from " in spike.reason
    # The other days are not flagged for MTN, nor at ERROR (their own day-to-day spread may
    # make a sender or the account WARN on some day: the simulator's history is over-dispersed).
    for other in first.checks:
        if other is not spike:
            assert DEMO_SPIKE_SEGMENT not in other.flagged, other
            assert other.severity != "ERROR", other
    assert first.breaker.startswith("campaigns are paused by the circuit breaker since ")
    assert f"partition {first.spike_day}" in first.breaker

    for printed in (demo_twice.printed, demo_twice.second_printed):
        text = " ".join(printed.split())  # the console wraps long lines
        assert (
            f"The simulator injected a failure spike: {DEMO_SPIKE_SEGMENT} fails about 50% of "
            f"its messages on {first.spike_day}." in text
        )
        assert f"Failure-rate spike check ({CHECKS_JOB}, one run per day)" in text
        assert "failed: ERROR" in text
        assert "Circuit breaker: campaigns are paused by the circuit breaker" in text
    assert "Resumed the campaigns an earlier demo run's spike check paused" in (
        demo_twice.second_printed
    )

    # The second run resumed the first run's trip (so that it could text the operator) and
    # tripped the breaker again: paused, for the same day.
    breaker = CircuitBreaker(Warehouse(demo_twice.data_dir / "smspresto_warehouse.duckdb"))
    state = breaker.state()
    assert state.tripped
    assert state.latest is not None
    assert state.latest.partition_key == first.spike_day.isoformat()
    latest, earlier = breaker.history()
    assert latest.active
    assert (earlier.resumed_by, earlier.partition_key) == ("smspresto demo", latest.partition_key)


@pytest.mark.timeout(600)  # it may be the test that runs the demo twice (`demo_twice`)
def test_the_demo_warehouse_to_postgres_and_back_gives_identical_tables(
    demo_twice: DemoTwice, postgres_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "demo.duckdb"
    shutil.copy(demo_twice.data_dir / "smspresto_warehouse.duckdb", source)
    fill_tables(source)
    back = tmp_path / "back" / "warehouse.duckdb"

    there = copy(str(source), with_password(postgres_url))
    assert there.exit_code == 0, there.output
    again = copy(postgres_url, f"duckdb:///{back}")  # an absolute path: duckdb:////tmp/...
    assert again.exit_code == 0, again.output

    before, after = tables(source), tables(back)
    assert set(before) == set(schema_tables())  # the catalog's tables are the DDL's
    for name, (_, rows) in before.items():
        assert rows, f"{name} is empty in the source: its copy would prove nothing"
    assert after == before
    for result in (there, again):
        for name, (_, rows) in before.items():
            assert f"{name}: {len(rows):,} row" in result.output
        assert "daily_delivery_by_sender" in result.output  # the views, created
    assert PASSWORD not in there.output
