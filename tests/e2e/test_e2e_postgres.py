"""The code location into PostgreSQL, end to end: ``dagster asset materialize -m
dagster_project`` in processes of its own, with ``SMSPRESTO_WAREHOUSE_URL`` naming a fresh
database, ingests the simulator's days over HTTP and runs the archive's checks in the same run;
a second command builds the analytics views. The same two commands with ``SMSPRESTO_DUCKDB_PATH``
(a DuckDB file) on the same simulator's history give the same check evaluations (from each run's
event log) and the same rows in every view. About 80 s on 2 busy cores (four ``dagster``
processes)."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, MakeSimulator
from e2e_fixtures import materialize_command, project_env, run
from parity_fixtures import VIEWS, values, view_rows

from smspresto_pipeline.checks.definitions import FAILURE_SPIKE_CHECK
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

RANGE = f"{SIMULATOR_HISTORY_START.isoformat()}...{SIMULATOR_HISTORY_END.isoformat()}"
DAYS = (SIMULATOR_HISTORY_END - SIMULATOR_HISTORY_START).days + 1
# Each run's steps in its own process: one process start per run, not one per step.
IN_PROCESS = ["--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})]

Evaluations = dict[tuple[str, str | None], tuple[Any, ...]]


def materialize(sim: RunningSimulator, home: Path, warehouse: dict[str, str]) -> Evaluations:
    """The archive's days (and their checks), then the views, by two ``dagster`` commands
    writing ``warehouse`` (its ``SMSPRESTO_*`` variable); the checks' evaluations read from the
    runs' event log."""
    env = project_env(
        sim,
        duckdb_path=home / "unused.duckdb",
        dagster_home=home / "dagster_home",
        start_date=SIMULATOR_HISTORY_START,
        extra=warehouse,
    )
    for selection in (
        ["--select", "archive_messages", "--partition-range", RANGE],
        ["--select", "analytics_views"],
    ):
        output = run([*materialize_command(*selection), *IN_PROCESS], env, cwd=home)
        assert "RUN_SUCCESS" in output
    evaluations: Evaluations = {}
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        for record in instance.get_run_records():
            assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
            events = instance.get_records_for_run(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            for event in events:
                dagster_event = event.event_log_entry.dagster_event
                assert dagster_event is not None
                evaluation = dagster_event.event_specific_data
                assert isinstance(evaluation, dg.AssetCheckEvaluation)
                evaluations[(evaluation.check_name, evaluation.partition)] = (
                    evaluation.passed,
                    evaluation.severity,
                    evaluation.description,
                    values(evaluation),
                )
    return evaluations


@pytest.mark.slow
def test_the_code_location_on_postgres_gives_what_it_gives_on_duckdb(
    make_simulator: MakeSimulator, postgres_url: str, tmp_path: Path
) -> None:
    # Few numbers, so that some fail repeatedly (a view of its own).
    with make_simulator(recipient_pool=40) as simulator:
        compare_engines(simulator, postgres_url, tmp_path)


def compare_engines(simulator: RunningSimulator, postgres_url: str, tmp_path: Path) -> None:
    """The two commands on each engine over ``simulator``'s history; their answers compared."""
    duckdb_file = tmp_path / "duckdb" / "warehouse.duckdb"
    on_duckdb = materialize(
        simulator, duckdb_file.parent, {"SMSPRESTO_DUCKDB_PATH": str(duckdb_file)}
    )
    on_postgres = materialize(
        simulator, tmp_path / "postgres", {"SMSPRESTO_WAREHOUSE_URL": postgres_url}
    )
    # PostgreSQL was the warehouse: the DuckDB path of its environment was never written.
    assert not (tmp_path / "postgres" / "unused.duckdb").exists()
    assert len(on_duckdb) == 5 * DAYS + 1, (
        "five checks a day and the freshness, in the ingest's run"
    )
    assert ("archive_messages_freshness", None) in on_duckdb
    assert on_postgres == on_duckdb
    # Each day's own figures are compared, not a pass alike (five days are too few for the
    # spike check to judge the last day's spike: tests/checks/test_engine_parity.py's weeks do).
    spikes = {e[2] for (check, _), e in on_duckdb.items() if check == FAILURE_SPIKE_CHECK}
    assert len(spikes) == DAYS, spikes
    duck, postgres = Warehouse(duckdb_file), Warehouse(postgres_url)
    with postgres.database.reading() as session:
        assert set(session.views()) == VIEWS
    for view in sorted(VIEWS):
        columns, rows = view_rows(duck, view)
        assert rows, f"{view} is empty: the comparison would prove nothing"
        assert view_rows(postgres, view) == (columns, rows), view
