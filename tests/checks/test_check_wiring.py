"""The checks wired into the ingestion (``build_ingest_defs``), in real runs over the simulator:
a ranged ingest run evaluates no check, the sensor requests a checks run per stretch of
consecutive days materialized and never twice, the checks job fails at ERROR on an injected
carrier spike and trips the circuit breaker, a passing re-run clears it, and the component's
``failure_spikes:`` thresholds reach the check."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from smspresto_pipeline import SMSPrestoIngestComponent
from smspresto_pipeline.checks import SpikeConfig
from smspresto_pipeline.checks.definitions import (
    CHECKS_JOB,
    CHECKS_SENSOR,
    FAILURE_SPIKE_CHECK,
    build_data_quality_checks,
    build_failure_spike_check,
)
from smspresto_pipeline.ingest.assets import build_archive_messages_asset
from smspresto_pipeline.ingest.definitions import build_ingest_defs
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending.breaker import CircuitBreaker
from smspresto_pipeline.simulator import RunningSimulator, SimulatorConfig, Spike, run_simulator
from smspresto_pipeline.warehouse import Warehouse

START = date(2025, 1, 13)
END = date(2025, 2, 16)
SPIKE_DAY = date(2025, 2, 12)  # MTN fails six times as often
CLEAN_DAY = date(2025, 2, 10)
INGEST_JOB = "archive_messages_ingest_job"
ARCHIVE = dg.AssetKey("archive_messages")
CHECK_NAMES = {
    FAILURE_SPIKE_CHECK,
    "history_id_unique",
    "required_fields_present",
    "statuses_mapped",
    "sent_not_before_created",
}


def ranged(first: date, last: date) -> dict[str, str]:
    return {PARTITION_RANGE_START_TAG: first.isoformat(), PARTITION_RANGE_END_TAG: last.isoformat()}


def days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


class Account:
    """The simulator's account, its warehouse file, and ``build_ingest_defs`` over both."""

    def __init__(self, sim: RunningSimulator, path: Path) -> None:
        self.sim = sim
        self.path = path

    def defs(self, **options: Any) -> dg.Definitions:
        return build_ingest_defs(
            start_date=START.isoformat(),
            smspresto=SMSPrestoResource(
                api_key=self.sim.api_key, api_pass=self.sim.api_pass, base_url=self.sim.base_url
            ),
            warehouse=WarehouseResource(path=str(self.path)),
            **options,
        )

    def ingest(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, first: date, last: date
    ) -> dg.ExecuteInProcessResult:
        """One run of the ingest job over ``first``...``last``, as the daily schedule asks."""
        job = defs.resolve_job_def(INGEST_JOB)
        return job.execute_in_process(instance=instance, tags=ranged(first, last))

    def materialize_day(self, instance: dg.DagsterInstance, day: date) -> dg.ExecuteInProcessResult:
        """``materialize`` of one day of ``archive_messages`` with its checks."""
        return self.materialize(instance, partition_key=day.isoformat())

    def materialize(
        self, instance: dg.DagsterInstance, **options: Any
    ) -> dg.ExecuteInProcessResult:
        """``materialize`` of ``archive_messages`` with its checks."""
        archive = build_archive_messages_asset(start_date=START.isoformat())
        checks = [
            build_failure_spike_check(asset=archive),
            *build_data_quality_checks(asset=archive),
        ]
        return dg.materialize(
            [archive, *checks], resources=self.defs().resources, instance=instance, **options
        )

    def check(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, day: date
    ) -> dict[str, dg.AssetCheckEvaluation]:
        """One run of the checks job for ``day``; its evaluations by check name."""
        result = defs.resolve_job_def(CHECKS_JOB).execute_in_process(
            instance=instance, partition_key=day.isoformat()
        )
        assert result.success  # a failed check fails the check, not the run
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert {e.partition for e in evaluations.values()} == {day.isoformat()}
        return evaluations


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    """A simulator whose history has MTN failing six times as often on SPIKE_DAY, ingested into
    DuckDB by one ranged run of the ingest job (five weeks: the baseline needs four)."""
    directory = tmp_path_factory.mktemp("check_wiring")
    config = SimulatorConfig(
        db_path=directory / "simulator.sqlite3",
        history_start=START,
        history_end=END,
        messages_per_day=500,
        spike_period=0,
        spikes=(Spike(SPIKE_DAY, "carrier:MTN", 6.0),),
    )
    with run_simulator(config) as sim:
        account = Account(sim, directory / "warehouse.duckdb")
        with dg.DagsterInstance.ephemeral() as instance:
            assert account.ingest(account.defs(), instance, START, END).success
        yield account


def test_a_ranged_ingest_run_evaluates_no_check(account: Account) -> None:
    defs = account.defs()
    with dg.DagsterInstance.ephemeral() as instance:
        result = account.ingest(defs, instance, SPIKE_DAY - timedelta(days=3), SPIKE_DAY)
        assert result.success
        assert result.get_asset_check_evaluations() == []
        materialized = [event.partition for event in result.get_asset_materialization_events()]
    assert materialized == days(SPIKE_DAY - timedelta(days=3), SPIKE_DAY)
    assert defs.resolve_job_def(INGEST_JOB).asset_layer.asset_graph.asset_check_keys == set()
    checks_job = defs.resolve_job_def(CHECKS_JOB)
    assert {key.name for key in checks_job.asset_layer.asset_graph.asset_check_keys} == CHECK_NAMES
    assert checks_job.asset_layer.executable_asset_keys == set(), "the checks job ingests nothing"


def test_a_single_day_materialization_still_runs_the_checks(account: Account) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = account.materialize_day(instance, CLEAN_DAY)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == CHECK_NAMES
    assert evaluations[FAILURE_SPIKE_CHECK].passed


def test_a_ranged_run_with_the_checks_evaluates_each_day(account: Account) -> None:
    """What ``dagster asset materialize --partition-range`` and a single-run backfill launched
    with the checks do: one evaluation per check and day, each with its partition."""
    first, last = SPIKE_DAY - timedelta(days=2), SPIKE_DAY + timedelta(days=1)
    defs = account.defs()
    with dg.DagsterInstance.ephemeral() as instance:
        result = account.materialize(instance, tags=ranged(first, last))
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert sorted((e.check_name, e.partition) for e in evaluations) == sorted(
            (name, day) for name in CHECK_NAMES for day in days(first, last)
        )
        spikes = {e.partition: e for e in evaluations if e.check_name == FAILURE_SPIKE_CHECK}
        assert spikes[SPIKE_DAY.isoformat()].severity == dg.AssetCheckSeverity.ERROR
        assert not spikes[SPIKE_DAY.isoformat()].passed
        assert spikes[SPIKE_DAY.isoformat()].metadata["flagged_segments"].value == "carrier:MTN"
        assert [day for day, e in sorted(spikes.items()) if e.passed] == [
            day for day in days(first, last) if day != SPIKE_DAY.isoformat()
        ]
        # Recorded per day, as the UI's partitions of the check show them.
        key = dg.AssetCheckKey(dg.AssetKey("archive_messages"), FAILURE_SPIKE_CHECK)
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        assert sorted(str(record.partition) for record in history) == days(first, last)
        # Evaluated in the run that materialized them: the sensor asks for no second run.
        requests, _ = tick(defs, instance, None)
        assert requests == []


def test_a_ranged_run_evaluates_every_check_of_every_day_in_one_step(account: Account) -> None:
    """``build_ingest_defs`` puts the five checks in one step: a ranged run of the asset with
    its checks (a backfill from the UI, ``dagster asset materialize --partition-range``) has
    two steps, not six; each (check, day) is recorded against that day's materialization, as
    a run of one day records it (the UI shows a day's check as current by it), and the spike
    check drives the circuit breaker day by day."""
    first, last = SPIKE_DAY - timedelta(days=2), SPIKE_DAY + timedelta(days=1)
    defs = account.defs()
    breaker = CircuitBreaker(Warehouse(account.path))
    breaker.resume(by="test", reason="start closed")
    archive = next(
        a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) and a.key == ARCHIVE
    )
    checks = [c for c in defs.asset_checks or [] if isinstance(c, dg.AssetChecksDefinition)]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [archive, *checks],
            resources=defs.resources,
            instance=instance,
            selection=dg.AssetSelection.assets(archive),
            tags=ranged(first, last),
        )
        assert result.success
        steps = {event.step_key for event in result.all_events if event.is_step_success}
        assert steps == {"archive_messages", "archive_messages_checks"}
        evaluations = result.get_asset_check_evaluations()
        assert sorted((e.check_name, e.partition) for e in evaluations) == sorted(
            (name, day) for name in CHECK_NAMES for day in days(first, last)
        )
        materialized = instance.get_latest_storage_id_by_partition(
            dg.AssetKey("archive_messages"), dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        for evaluation in evaluations:
            target = evaluation.target_materialization_data
            assert target is not None
            assert str(evaluation.partition) in materialized
            assert target.storage_id == materialized[str(evaluation.partition)]
            assert target.run_id == result.run_id
        spikes = {e.partition: e for e in evaluations if e.check_name == FAILURE_SPIKE_CHECK}
        assert not spikes[SPIKE_DAY.isoformat()].passed
        assert [day for day, e in sorted(spikes.items()) if not e.passed] == [SPIKE_DAY.isoformat()]
    # The breaker, day by day in day order: closed before the spike, tripped by it, and still
    # tripped after it (a later day's pass ends only its own trip).
    state = {day: str(e.metadata["circuit_breaker"].value) for day, e in spikes.items()}
    for day in days(first, last):
        paused = day >= SPIKE_DAY.isoformat()
        assert state[day].startswith("campaigns are paused" if paused else "campaigns are running")
    latest = breaker.state().latest
    assert latest is not None
    assert latest.partition_key == SPIKE_DAY.isoformat()


def requested_days(requests: list[dg.RunRequest]) -> list[str]:
    """The days the requests cover, in order: a request's day, or each day of its range."""
    covered = []
    for request in requests:
        span = request.partition_key_range
        if span is None:
            covered.append(str(request.partition_key))
        else:
            covered += days(date.fromisoformat(span.start), date.fromisoformat(span.end))
    return covered


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None]:
    sensor = defs.resolve_sensor_def(CHECKS_SENSOR)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    data = sensor.evaluate_tick(context)
    return list(data.run_requests or []), data.cursor


def test_the_sensor_requests_each_materialized_day_once(account: Account) -> None:
    defs = account.defs()
    first, last = SPIKE_DAY - timedelta(days=4), SPIKE_DAY
    with dg.DagsterInstance.ephemeral() as instance:
        requests, cursor = tick(defs, instance, None)
        assert requests == [], "nothing materialized yet"
        assert cursor is None

        assert account.ingest(defs, instance, first, last).success
        requests, cursor = tick(defs, instance, None)
        assert requested_days(requests) == days(first, last)
        assert len(requests) == 1, "consecutive days go in one run"
        assert all(r.job_name in (None, CHECKS_JOB) for r in requests)
        asked = requests
        keys = [r.run_key for r in requests]
        assert len(set(keys)) == len(keys)
        assert [key.split("@")[0] for key in keys if key] == [f"{first}...{last}"]
        # A tick evaluated again from the same cursor asks for the same keys (Dagster launches
        # a run key once); from the new cursor, nothing new.
        again, _ = tick(defs, instance, None)
        assert [r.run_key for r in again] == keys
        assert tick(defs, instance, cursor)[0] == []

        # The next daily ingest re-reads the last two days: those two are checked again.
        assert account.ingest(defs, instance, last - timedelta(days=1), last).success
        requests, next_cursor = tick(defs, instance, cursor)
        assert requested_days(requests) == days(last - timedelta(days=1), last)
        assert not {r.run_key for r in requests} & set(keys)
        assert next_cursor is not None
        assert int(next_cursor) > int(cursor or 0)

        # A day materialized with its checks in the same run needs no second checks run.
        assert account.materialize_day(instance, first).success
        requests, _ = tick(defs, instance, next_cursor)
        assert requests == []

        # The requested run is the checks job over those days: it evaluates every check of
        # every day, in one step; a run of one day, every check of the day.
        run = defs.resolve_job_def(CHECKS_JOB).execute_in_process(
            instance=instance, tags=dict(asked[0].tags)
        )
        assert run.success
        assert sorted((e.check_name, e.partition) for e in run.get_asset_check_evaluations()) == (
            sorted((name, day) for name in CHECK_NAMES for day in days(first, last))
        )
        steps = {event.step_key for event in run.all_events if event.is_step_success}
        assert steps == {"archive_messages_checks"}
        assert set(account.check(defs, instance, first)) == CHECK_NAMES


def test_the_first_tick_checks_the_newest_days_not_the_whole_history(account: Account) -> None:
    defs = account.defs()
    first, last = END - timedelta(days=19), END
    with dg.DagsterInstance.ephemeral() as instance:
        # History ingested before the sensor is switched on: one older day, then 19 days.
        assert account.ingest(defs, instance, first - timedelta(days=1), first).success
        assert account.ingest(defs, instance, first, last).success
        requests, cursor = tick(defs, instance, None)
        assert requested_days(requests) == days(last - timedelta(days=13), last)
        # Later materializations are all read, an old day's too.
        assert account.ingest(defs, instance, first, first).success
        requests, _ = tick(defs, instance, cursor)
        assert [r.partition_key for r in requests] == [first.isoformat()]


def test_the_first_tick_checks_14_distinct_days_after_older_days_were_rematerialized(
    account: Account,
) -> None:
    """A backfill run again (or the lookback re-reading days) materializes older days after
    the first materialization of the newest ones: the first tick still asks for the 14 newest
    days, each once, at its latest materialization."""
    defs = account.defs()
    first, last = END - timedelta(days=29), END
    with dg.DagsterInstance.ephemeral() as instance:
        assert account.ingest(defs, instance, first, last).success
        assert account.ingest(defs, instance, first, last).success  # the backfill re-run
        assert account.ingest(defs, instance, first, first).success  # an old day, once more
        requests, cursor = tick(defs, instance, None)
        newest = days(last - timedelta(days=13), last)
        assert requested_days(requests) == newest
        latest = instance.get_latest_storage_id_by_partition(
            dg.AssetKey("archive_messages"), dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        # One run for the 14 consecutive days, keyed by the newest of their latest storage ids.
        newest_id = max(latest[day] for day in newest)
        assert [r.run_key for r in requests] == [f"{newest[0]}...{newest[-1]}@{newest_id}"]
        # The cursor is past every materialization read: the next tick asks for nothing.
        assert cursor == str(max(latest.values()))
        assert tick(defs, instance, cursor)[0] == []


def test_the_first_tick_counts_days_ingested_not_calendar_days(account: Account) -> None:
    """With days missing from the history, the 14 newest days ingested reach further back."""
    defs = account.defs()
    with dg.DagsterInstance.ephemeral() as instance:
        older = account.ingest(defs, instance, END - timedelta(days=19), END - timedelta(days=10))
        assert older.success
        assert account.ingest(defs, instance, END - timedelta(days=3), END).success
        requests, _ = tick(defs, instance, None)
    assert requested_days(requests) == days(END - timedelta(days=19), END - timedelta(days=10))[
        -10:
    ] + days(END - timedelta(days=3), END)
    assert len(requests) == 2, "a run for each stretch of consecutive days"


def test_the_sensor_follows_the_schedules_status(account: Account) -> None:
    running = account.defs(schedule_status=dg.DefaultScheduleStatus.RUNNING)
    stopped = account.defs()
    assert running.resolve_sensor_def(CHECKS_SENSOR).default_status == (
        dg.DefaultSensorStatus.RUNNING
    )
    assert stopped.resolve_sensor_def(CHECKS_SENSOR).default_status == (
        dg.DefaultSensorStatus.STOPPED
    )


def test_a_spike_fails_at_error_trips_the_breaker_and_a_pass_clears_it(account: Account) -> None:
    breaker = CircuitBreaker(Warehouse(account.path))
    with dg.DagsterInstance.ephemeral() as instance:
        evaluations = account.check(account.defs(), instance, SPIKE_DAY)
        spike = evaluations.pop(FAILURE_SPIKE_CHECK)
        assert not spike.passed
        assert spike.severity == dg.AssetCheckSeverity.ERROR
        assert spike.description is not None
        assert spike.description.startswith("carrier:MTN failures jumped from ")
        assert spike.metadata["flagged_segments"].value == "carrier:MTN"
        state = breaker.state()
        assert state.tripped
        assert state.latest is not None
        assert (state.latest.source, state.latest.partition_key) == (
            f"check:{FAILURE_SPIKE_CHECK}",
            SPIKE_DAY.isoformat(),
        )
        assert state.latest.reason.startswith("carrier:MTN failures jumped from ")
        assert "campaigns are paused" in str(spike.metadata["circuit_breaker"].value)

        # Checking the clean day changes nothing: its pass ends only its own (absent) trip.
        assert account.check(account.defs(), instance, CLEAN_DAY)[FAILURE_SPIKE_CHECK].passed
        assert breaker.state().tripped

        # The same day, judged with a practical floor the spike does not reach, passes: the
        # trip of that day ends.
        lenient = account.defs(spike_config=SpikeConfig(min_ratio=20.0))
        passed = account.check(lenient, instance, SPIKE_DAY)[FAILURE_SPIKE_CHECK]
        assert passed.passed
        assert not breaker.state().tripped
        assert "circuit breaker is closed" in str(passed.metadata["circuit_breaker"].value)
    trip = breaker.history()[0]
    assert trip.partition_key == SPIKE_DAY.isoformat()
    assert trip.resumed_by == f"check:{FAILURE_SPIKE_CHECK}"


def test_component_thresholds_reach_the_check(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_KEY", account.sim.api_key)
    monkeypatch.setenv("SIM_PASS", account.sim.api_pass)
    monkeypatch.setenv("SIM_URL", account.sim.base_url)
    attributes = {
        "start_date": START.isoformat(),
        "duckdb_path": str(account.path),
        "api_key_env": "SIM_KEY",
        "api_pass_env": "SIM_PASS",
        "base_url_env": "SIM_URL",
    }
    verdicts = {}
    variants: list[tuple[str, dict[str, Any]]] = [
        ("default", {}),
        ("strict volume", {"failure_spikes": {"min_messages": 100_000}}),
        ("recent days only", {"circuit_breaker_days": 3}),  # SPIKE_DAY is 4 days before END
    ]
    for name, extra in variants:
        with create_defs_folder_sandbox() as sandbox:
            path = sandbox.scaffold_component(
                component_cls=SMSPrestoIngestComponent,
                defs_path="ingest",
                defs_yaml_contents={
                    "type": "smspresto_pipeline.SMSPrestoIngestComponent",
                    "attributes": {**attributes, **extra},
                },
            )
            with (
                sandbox.load_component_and_build_defs(defs_path=path) as (_, defs),
                dg.DagsterInstance.ephemeral() as instance,
            ):
                verdicts[name] = account.check(defs, instance, SPIKE_DAY)[FAILURE_SPIKE_CHECK]
    assert verdicts["default"].severity == dg.AssetCheckSeverity.ERROR
    assert not verdicts["default"].passed
    strict = verdicts["strict volume"]
    assert strict.passed
    assert "insufficient data" in str(strict.metadata["reason"].value)
    assert "needs 100000 and 5" in str(strict.metadata["reason"].value)
    breaker = [str(verdicts[name].metadata["circuit_breaker"].value) for name, _ in variants]
    assert "does not pause campaigns" not in breaker[0]
    assert "does not pause campaigns (breaker_days 3)" in breaker[2]
    assert verdicts["recent days only"].severity == dg.AssetCheckSeverity.ERROR
