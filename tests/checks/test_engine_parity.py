"""The same history on both engines gives the same answers: the simulator's account (a few
weeks, its account-wide spikes and a carrier spike) is ingested over HTTP by the ingestion's own
jobs into a DuckDB file and into a fresh PostgreSQL database, whose runs then evaluate the
archive's checks for every day, snapshot the counters (and reconcile them) and build the
analytics views. Every view's rows, every check's evaluation per day, the check functions, the
partition stats, the previews and the reports are then compared between the two.

The values are compared as Python reads them, and so are their types: the SQL types differ in
places (``sum`` of an ``INTEGER`` column is ``bigint`` on PostgreSQL, ``HUGEINT`` on DuckDB;
PostgreSQL's ``numeric`` comes as ``int`` when integral), Python's do not
(`test_the_engines_give_each_column_the_same_python_type`).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import postgres_fixtures
import pytest
from parity_fixtures import OWN_TO_EACH_RUN, VIEWS, values, view_rows

from smspresto_pipeline.checks import check_data_quality, find_failure_spikes
from smspresto_pipeline.checks.counters import check_counters_reconcile
from smspresto_pipeline.checks.definitions import CHECKS_JOB, FAILURE_SPIKE_CHECK
from smspresto_pipeline.checks.spikes import find_failure_spikes_by_day
from smspresto_pipeline.ingest import ANALYTICS_VIEWS_JOB, build_ingest_defs
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator, SimulatorConfig, Spike, run_simulator
from smspresto_pipeline.storage.queries import group_files
from smspresto_pipeline.warehouse import Warehouse

FIRST = date(2025, 2, 1)
LAST = date(2025, 2, 24)
CARRIER_SPIKE = date(2025, 2, 20)
DAYS = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
INGEST_JOB = "archive_messages_ingest_job"
SNAPSHOT_JOB = "account_snapshot_job"


@dataclass(frozen=True)
class Ingested:
    """A warehouse the ingestion's runs filled, and those runs' check evaluations by (check,
    partition; None for the unpartitioned counters check)."""

    warehouse: Warehouse
    evaluations: dict[tuple[str, str | None], dg.AssetCheckEvaluation]


def run_ingestion(sim: RunningSimulator, target: str, spool: Path) -> Ingested:
    """The days ingested into ``target`` by the ingest job, then the checks job over them,
    the snapshot job (with its reconciliation) and the views job: four real runs."""
    defs = build_ingest_defs(
        start_date=FIRST.isoformat(),
        smspresto=SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
        ),
        warehouse=(
            WarehouseResource(url=target, spool_dir=str(spool))
            if target.startswith("postgresql://")
            else WarehouseResource(path=target, spool_dir=str(spool))
        ),
    )
    days = {PARTITION_RANGE_START_TAG: FIRST.isoformat(), PARTITION_RANGE_END_TAG: LAST.isoformat()}
    evaluations: dict[tuple[str, str | None], dg.AssetCheckEvaluation] = {}
    with dg.DagsterInstance.ephemeral() as instance:
        for job, tags in [(INGEST_JOB, days), (CHECKS_JOB, days), (SNAPSHOT_JOB, {})]:
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags)
            assert result.success, job
            for evaluation in result.get_asset_check_evaluations():
                evaluations[(evaluation.check_name, evaluation.partition)] = evaluation
        views = defs.resolve_job_def(ANALYTICS_VIEWS_JOB).execute_in_process(instance=instance)
        assert views.success
    return Ingested(Warehouse(target, spool_dir=spool), evaluations)


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str
) -> Iterator[tuple[Ingested, Ingested]]:
    """The same simulated history on DuckDB and on PostgreSQL (in that order)."""
    directory = tmp_path_factory.mktemp("parity")
    config = SimulatorConfig(
        db_path=directory / "simulator.sqlite3",
        history_start=FIRST,
        history_end=LAST,
        messages_per_day=300,
        spikes=(Spike(CARRIER_SPIKE, "carrier:MTN", 6.0),),
    )
    database = postgres_fixtures.fresh_database(postgres_server)
    url = next(database)
    try:
        with run_simulator(config) as sim:
            yield (
                run_ingestion(sim, str(directory / "warehouse.duckdb"), directory / "spool"),
                run_ingestion(sim, url, directory / "spool"),
            )
    finally:
        database.close()  # drops the database


def test_every_view_gives_the_same_rows(engines: tuple[Ingested, Ingested]) -> None:
    duck, postgres = engines
    for ingested in engines:
        with ingested.warehouse.database.reading() as session:
            assert set(session.views()) == VIEWS
    for view in sorted(VIEWS):
        columns, rows = view_rows(duck.warehouse, view)
        assert rows, f"{view} is empty: the comparison would prove nothing"
        assert view_rows(postgres.warehouse, view) == (columns, rows), view


def test_the_engines_give_each_column_the_same_python_type(
    engines: tuple[Ingested, Ingested],
) -> None:
    for view in sorted(VIEWS):
        types = []
        for ingested in engines:
            with ingested.warehouse.connect(read_only=True) as con:
                rows = con.execute(f"SELECT * FROM smspresto.{view}").fetchall()
            types.append(
                [{type(row[i]) for row in rows} - {type(None)} for i in range(len(rows[0]))]
            )
        assert types[0] == types[1], view


def test_every_check_of_every_day_is_evaluated_the_same(
    engines: tuple[Ingested, Ingested],
) -> None:
    duck, postgres = engines
    assert set(duck.evaluations) == set(postgres.evaluations)
    assert len(duck.evaluations) == 5 * len(DAYS) + 1  # five checks a day, one reconciliation
    for key, evaluation in sorted(duck.evaluations.items(), key=str):
        other = postgres.evaluations[key]
        assert (other.passed, other.severity, other.description) == (
            evaluation.passed,
            evaluation.severity,
            evaluation.description,
        ), key
        assert values(other) == values(evaluation), key
    # Not a comparison of passes only: the seeded spikes fail their days on both, the
    # account-wide ones at ERROR.
    spikes = {
        day: e.severity
        for (check, day), e in duck.evaluations.items()
        if check == FAILURE_SPIKE_CHECK and not e.passed
    }
    assert CARRIER_SPIKE.isoformat() in spikes
    assert dg.AssetCheckSeverity.ERROR in spikes.values()


def test_the_check_functions_read_either_warehouse_alike(
    engines: tuple[Ingested, Ingested],
) -> None:
    duck, postgres = engines
    by_day = find_failure_spikes_by_day(duck.warehouse, FIRST, LAST)
    assert find_failure_spikes_by_day(postgres.warehouse, FIRST, LAST) == by_day
    assert any(f.severity for f in by_day[CARRIER_SPIKE])
    # The documented form: an engine's own connection, as Warehouse.reading() hands it out.
    findings = []
    for ingested in engines:
        with ingested.warehouse.reading() as con:
            findings.append(find_failure_spikes(con, CARRIER_SPIKE))
    assert findings[0] == findings[1] == by_day[CARRIER_SPIKE]
    for day in DAYS:
        assert check_data_quality(postgres.warehouse, day) == check_data_quality(
            duck.warehouse, day
        )
    reconciled = [check_counters_reconcile(ingested.warehouse) for ingested in engines]
    assert reconciled[0].metadata["archive_messages"] > len(DAYS) * 200
    assert (reconciled[1].passed, reconciled[1].summary) == (
        reconciled[0].passed,
        reconciled[0].summary,
    )
    assert {k: v for k, v in reconciled[1].metadata.items() if k not in OWN_TO_EACH_RUN} == {
        k: v for k, v in reconciled[0].metadata.items() if k not in OWN_TO_EACH_RUN
    }


def test_partition_stats_previews_and_reports_are_the_same(
    engines: tuple[Ingested, Ingested],
) -> None:
    duck, postgres = engines
    for day in DAYS:
        assert postgres.warehouse.partition_stats(day) == duck.warehouse.partition_stats(day)
    assert postgres.warehouse.previews(DAYS) == duck.warehouse.previews(DAYS)
    reports = group_files("reports")
    assert len(reports) == 3
    for name in reports:
        answers = []
        for ingested in engines:
            with ingested.warehouse.database.reading() as session:
                answers.append(session.fetch_all(name))
        assert answers[0], name
        assert answers[0] == answers[1], name
