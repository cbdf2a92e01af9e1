"""The reconciliation of the account counters with the archive (``counters_reconcile`` on
``account_snapshot``): the ingestion's own jobs ingest the simulator's days over HTTP and take
a snapshot, whose job evaluates the check, which agrees; on copies of that warehouse a swapped
status map fails it, days not stored and pending messages explain a gap, and the tolerance,
later loads, a missing snapshot and the account's time zone behave as documented."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from conftest import simulator_config

from smspresto_pipeline.checks.counters import COUNTERS_RECONCILE, check_counters_reconcile
from smspresto_pipeline.checks.definitions import build_counters_reconcile_check
from smspresto_pipeline.ingest import build_ingest_defs
from smspresto_pipeline.ingest.assets import (
    build_account_snapshot_asset,
    build_archive_messages_asset,
)
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator, run_simulator

FIRST = date(2025, 3, 6)
LAST = date(2025, 3, 10)
BAD = date(2025, 3, 8)
SNAPSHOT_JOB = "account_snapshot_job"
INGEST_JOB = "archive_messages_ingest_job"
# The simulator's rare status 3 named too (its rows are neither delivered, failed nor pending).
STATUS_MAP = {"0": "pending", "1": "delivered", "2": "failed", "3": "rejected"}


def ingest_defs(sim: RunningSimulator, path: Path) -> dg.Definitions:
    """The ingestion's definitions over the simulator's account and the warehouse ``path``."""
    return build_ingest_defs(
        start_date=FIRST.isoformat(),
        smspresto=SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url, status_map=STATUS_MAP
        ),
        warehouse=WarehouseResource(path=str(path)),
    )


def take_snapshot(sim: RunningSimulator, path: Path) -> dg.AssetCheckEvaluation:
    """A run of the snapshot job over ``path``: a new reading, then the reconciliation."""
    with dg.DagsterInstance.ephemeral() as instance:
        job = ingest_defs(sim, path).resolve_job_def(SNAPSHOT_JOB)
        result = job.execute_in_process(instance=instance)
    assert result.success  # a failed check fails the check, not the run
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_key == dg.AssetKey("account_snapshot")
    assert evaluation.check_name == COUNTERS_RECONCILE
    return evaluation


@dataclass(frozen=True)
class Golden:
    """The simulator's account, a warehouse its days and a snapshot were written to by the
    ingestion's jobs, and the snapshot run's reconciliation."""

    sim: RunningSimulator
    path: Path
    evaluation: dg.AssetCheckEvaluation


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    tmp = tmp_path_factory.mktemp("counters")
    path = tmp / "warehouse.duckdb"
    config = simulator_config(tmp, history_start=FIRST, history_end=LAST, messages_per_day=60)
    with run_simulator(config) as sim, dg.DagsterInstance.ephemeral() as instance:
        days = {
            PARTITION_RANGE_START_TAG: FIRST.isoformat(),
            PARTITION_RANGE_END_TAG: LAST.isoformat(),
        }
        ingest = ingest_defs(sim, path).resolve_job_def(INGEST_JOB)
        ingested = ingest.execute_in_process(instance=instance, tags=days)
        assert ingested.success
        assert ingested.get_asset_check_evaluations() == []  # the ingest job leaves checks out
        yield Golden(sim, path, take_snapshot(sim, path))


@pytest.fixture
def copy(golden: Golden, tmp_path: Path) -> Path:
    """A copy of the golden warehouse, to break."""
    target = tmp_path / "warehouse.duckdb"
    shutil.copy(golden.path, target)
    return target


def execute(sql: str, path: Path, params: list[Any] | None = None) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql, params or [])


def values(evaluation: dg.AssetCheckEvaluation) -> dict[str, Any]:
    """The evaluation's metadata as plain values."""
    return {name: value.value for name, value in evaluation.metadata.items()}


def test_the_snapshot_job_reconciles_the_ingested_archive(golden: Golden) -> None:
    evaluation = golden.evaluation
    assert evaluation.passed, evaluation.description
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description is not None
    assert evaluation.description.startswith("the counters and the archive agree")
    metadata = values(evaluation)
    assert metadata["unexplained"] == 0
    assert metadata["counter_success"] == metadata["archive_delivered"] > 0
    assert metadata["counter_failed"] == metadata["archive_failed"] > 0
    assert metadata["counter_sent"] == metadata["archive_messages"]
    assert metadata["first_stored_day"] == FIRST.isoformat()
    assert metadata["last_stored_day"] == LAST.isoformat()


def test_swapped_statuses_are_an_unexplained_gap(golden: Golden, copy: Path) -> None:
    # A status map that swapped codes 1 and 2 on one day: the archive's totals no longer match.
    execute(
        "UPDATE smspresto.messages SET status = CASE status WHEN 'delivered' THEN 'failed' "
        "ELSE 'delivered' END WHERE status IN ('delivered', 'failed') AND partition_date = ?",
        copy,
        [BAD],
    )
    evaluation = take_snapshot(golden.sim, copy)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    metadata = values(evaluation)
    assert metadata["unexplained"] > metadata["allowed"]
    assert metadata["success_gap"] == -metadata["failed_gap"] != 0
    assert evaluation.description is not None
    assert "status map" in evaluation.description


def test_days_not_stored_and_pending_messages_explain_a_gap(golden: Golden, copy: Path) -> None:
    execute("DELETE FROM smspresto.messages WHERE partition_date = ?", copy, [BAD])
    execute(
        "UPDATE smspresto.messages SET status = 'pending' "
        "WHERE partition_date = ? AND status IN ('delivered', 'failed')",
        copy,
        [LAST],
    )
    evaluation = take_snapshot(golden.sim, copy)
    assert evaluation.passed, evaluation.description
    metadata = values(evaluation)
    assert metadata["not_stored"] > 0
    assert metadata["archive_pending"] > 0
    assert BAD.isoformat() in metadata["days_without_rows"]
    assert metadata["pending_days"] == [LAST.isoformat()]
    assert f"days without any stored message: {BAD.isoformat()}" in metadata["explanation"]
    assert "pending" in metadata["explanation"]
    assert evaluation.description is not None
    assert evaluation.description.startswith("the gap is explained")


def test_a_gap_beyond_the_explanations_and_the_tolerance_fails(copy: Path) -> None:
    with duckdb.connect(str(copy)) as con:
        assert check_counters_reconcile(con).passed
        # Forty more successes than the archive has; only its messages of another status
        # (the simulator's rare code 3, named "rejected") may be some of them.
        con.execute("UPDATE smspresto.account_snapshots SET success = success + 40")
        result = check_counters_reconcile(con, tolerance=0)
        other = result.metadata["archive_other_status"]
        assert result.metadata["unexplained"] == 40 - other
        # The boundary, exactly: one message over the tolerance fails, at it passes.
        assert not check_counters_reconcile(con, tolerance=39 - other).passed
        assert check_counters_reconcile(con, tolerance=40 - other).passed
        # The ratio's share of success + failed counts when larger than the tolerance.
        counted = result.metadata["counter_success"] + result.metadata["counter_failed"]
        ratio = (40 - other) / counted
        assert check_counters_reconcile(con, tolerance=0, tolerance_ratio=ratio + 1e-9).passed


def test_later_loads_explain_an_archive_ahead_of_the_counters(copy: Path) -> None:
    with duckdb.connect(str(copy)) as con:
        # Forty successes fewer than the archive holds: nothing written after the snapshot.
        con.execute("UPDATE smspresto.account_snapshots SET success = success - 40")
        result = check_counters_reconcile(con, tolerance=0)
        assert not result.passed
        assert result.metadata["unexplained"] == 40
        # Taken a day earlier, every row was written after it and may have settled since.
        con.execute("UPDATE smspresto.account_snapshots SET taken_at = taken_at - INTERVAL 1 DAY")
        result = check_counters_reconcile(con, tolerance=0)
    assert result.passed, result.summary
    assert "written after the snapshot was taken" in result.metadata["explanation"]


def test_no_snapshot_has_nothing_to_reconcile(copy: Path) -> None:
    with duckdb.connect(str(copy)) as con:
        con.execute("DELETE FROM smspresto.account_snapshots")
        result = check_counters_reconcile(con)
    assert result.passed
    assert result.summary == "no account snapshot yet: nothing to reconcile"


def test_the_snapshot_day_is_named_in_the_account_time_zone(copy: Path) -> None:
    # 23:30 UTC on the 10th is already the 11th in Lagos (UTC+1).
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "UPDATE smspresto.account_snapshots SET taken_at = ?", [datetime(2025, 3, 10, 23, 30)]
        )
        abidjan = check_counters_reconcile(con).metadata
        lagos = check_counters_reconcile(con, timezone="Africa/Lagos").metadata
    assert abidjan["snapshot_day"] == LAST.isoformat()
    assert abidjan["days_without_rows"] == []
    assert lagos["snapshot_day"] == (LAST + timedelta(days=1)).isoformat()
    assert lagos["days_without_rows"] == ["2025-03-11"]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"tolerance": -1}, "tolerance"),
        ({"tolerance": True}, "tolerance"),
        ({"tolerance_ratio": 1.0}, "tolerance_ratio"),
        ({"tolerance_ratio": -0.1}, "tolerance_ratio"),
    ],
)
def test_the_check_refuses_bad_tolerances(arguments: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        build_counters_reconcile_check(snapshot=build_account_snapshot_asset(), **arguments)


def test_the_check_is_on_the_snapshot_not_a_partitioned_asset() -> None:
    with pytest.raises(ValueError, match="is partitioned"):
        build_counters_reconcile_check(
            snapshot=build_archive_messages_asset(start_date=FIRST.isoformat())
        )
