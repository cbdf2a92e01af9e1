"""The ingestion assets in real Dagster runs against the simulator over HTTP, with a real DuckDB
file: backfills, re-runs, late statuses, per-partition metadata, failures, snapshots, views."""

import gc
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from conftest import MakeSimulator

from smspresto_pipeline.ingest.assets import (
    build_account_snapshot_asset,
    build_analytics_views_asset,
    build_archive_messages_asset,
    build_smspresto_assets,
)
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import Fault, RunningSimulator

FIRST = date(2025, 3, 1)
LAST = date(2025, 3, 10)
ARCHIVE = dg.AssetKey("archive_messages")


@pytest.fixture
def sim(make_simulator: MakeSimulator) -> Iterator[RunningSimulator]:
    with make_simulator(history_start=FIRST, history_end=LAST, messages_per_day=12) as running:
        yield running


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def resources(sim: RunningSimulator, duckdb_path: Path, **smspresto: Any) -> dict[str, Any]:
    return {
        "smspresto": SMSPrestoResource(
            api_key=sim.api_key,
            api_pass=sim.api_pass,
            base_url=sim.base_url,
            page_size=5,
            **smspresto,
        ),
        "warehouse": WarehouseResource(path=str(duckdb_path)),
    }


def backfill(
    sim: RunningSimulator,
    duckdb_path: Path,
    instance: dg.DagsterInstance,
    first: date = FIRST,
    last: date = LAST,
    smspresto: dict[str, Any] | None = None,
    **factory: Any,
) -> dg.ExecuteInProcessResult:
    """One run over [first, last], as a single-run backfill launches it."""
    asset = build_archive_messages_asset(start_date=FIRST.isoformat(), **factory)
    return dg.materialize(
        [asset],
        resources=resources(sim, duckdb_path, **(smspresto or {})),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        raise_on_error=False,
    )


def simulator_ids(sim: RunningSimulator, first: date, last: date) -> set[int]:
    """The simulator's own record of the archive (its SQLite file), independent of the API."""
    uri = f"file:{sim.config.db_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as con:
        rows = con.execute(
            "SELECT id FROM messages WHERE created_date BETWEEN ? AND ?",
            [first.isoformat(), last.isoformat()],
        ).fetchall()
    return {row[0] for row in rows}


def query(duckdb_path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def messages(duckdb_path: Path) -> list[tuple[Any, ...]]:
    return query(
        duckdb_path,
        "SELECT * EXCLUDE (loaded_at) FROM smspresto.messages ORDER BY history_id",
    )


def partition_metadata(instance: dg.DagsterInstance) -> dict[str, dict[str, Any]]:
    """The latest materialization's metadata of each archive partition, from the instance."""
    records = instance.fetch_materializations(ARCHIVE, limit=1000, ascending=True).records
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        materialization = record.asset_materialization
        assert materialization is not None
        assert materialization.partition is not None
        latest[materialization.partition] = {
            key: value.value for key, value in materialization.metadata.items()
        }
    return latest


def test_asset_definition() -> None:
    asset = build_archive_messages_asset(
        start_date="2025-03-01", timezone="Africa/Lagos", end_offset=1
    )
    assert asset.key == ARCHIVE
    assert asset.group_names_by_key[ARCHIVE] == "smspresto"
    assert asset.specs_by_key[ARCHIVE].kinds == {"smspresto", "duckdb"}
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    partitions = asset.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert (partitions.timezone, partitions.end_offset) == ("Africa/Lagos", 1)
    assert {"smspresto", "warehouse"} <= asset.required_resource_keys
    keys = {a.key.to_user_string() for a in build_smspresto_assets(start_date="2025-03-01")}
    assert keys == {"archive_messages", "account_snapshot", "analytics_views"}
    views = build_analytics_views_asset()
    assert views.asset_deps[dg.AssetKey("analytics_views")] == {ARCHIVE}


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"start_date": "01/03/2025"}, "'01/03/2025'"),
        ({"start_date": "2025-03-01", "timezone": "Africa/Atlantis"}, "Africa/Atlantis"),
        ({"start_date": "2025-03-01", "max_concurrent_days": 0}, "max_concurrent_days"),
        ({"start_date": "2025-03-01", "end_offset": -1}, "end_offset"),
        ({"start_date": "2025-03-01", "page_size": 0}, "page_size"),
    ],
)
def test_bad_arguments_are_named(arguments: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        build_archive_messages_asset(**arguments)


def test_backfill_in_one_run_gives_the_simulators_rows(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    result = backfill(sim, duckdb_path, instance, max_concurrent_days=3)
    assert result.success
    assert len(instance.get_run_records()) == 1
    expected = simulator_ids(sim, FIRST, LAST)
    assert len(expected) == sim.message_count(FIRST, LAST) > 50
    stored = query(duckdb_path, "SELECT history_id FROM smspresto.messages")
    assert len(stored) == len(expected)
    assert {row[0] for row in stored} == expected
    raw = query(duckdb_path, "SELECT count(*) FROM smspresto.archive_raw")
    assert raw == [(len(expected),)]
    by_day = dict(
        query(duckdb_path, "SELECT partition_date, count(*) FROM smspresto.messages GROUP BY 1")
    )
    for offset in range(10):
        day = FIRST + timedelta(days=offset)
        assert by_day.get(day, 0) == sim.message_count(day, day)


def test_the_resources_status_map_names_the_statuses(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    swapped = {"0": "pending", "1": "failed", "2": "delivered"}
    result = backfill(sim, duckdb_path, instance, smspresto={"status_map": swapped})
    assert result.success
    pairs = dict(
        query(
            duckdb_path,
            "SELECT status_code, list(DISTINCT status) FROM smspresto.messages GROUP BY 1",
        )
    )
    assert pairs["1"] == ["failed"]
    assert pairs["2"] == ["delivered"]
    (materialization,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.partition == LAST.isoformat()
    ]
    codes = dict(
        query(
            duckdb_path,
            "SELECT status_code, count(*) FROM smspresto.messages WHERE partition_date = ? "
            "GROUP BY 1",
            [LAST],
        )
    )
    assert materialization.metadata["failed"] == dg.IntMetadataValue(codes["1"])


def test_each_partition_gets_its_own_metadata(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    assert backfill(sim, duckdb_path, instance).success
    metadata = partition_metadata(instance)
    assert sorted(metadata) == [(FIRST + timedelta(days=i)).isoformat() for i in range(10)]
    stored = {
        day.isoformat(): (rows, delivered, failed, pending, segments)
        for day, rows, delivered, failed, pending, segments in query(
            duckdb_path,
            "SELECT partition_date, count(*), count_if(status = 'delivered'), "
            "count_if(status = 'failed'), count_if(status = 'pending'), sum(segments) "
            "FROM smspresto.messages GROUP BY 1",
        )
    }
    for key, values in metadata.items():
        rows, delivered, failed, pending, segments = stored[key]
        assert values["dagster/partition_row_count"] == rows
        # The table's total is no per-day figure: stamped on each day it plots as a step.
        assert "dagster/row_count" not in values
        assert (values["delivered"], values["failed"], values["pending"]) == (
            delivered,
            failed,
            pending,
        )
        assert values["segments"] == segments
        final = delivered + failed
        assert values["failure_rate"] == round(failed / final, 4)
        assert values["failure_rate_text"] == (
            f"{100 * failed / final:.2f} % ({failed} failed of {final} final)"
        )
        assert values["pages"] >= 1
        assert "| history_id |" in values["preview"]
        assert sim.api_pass not in repr(values)
    assert len({v["dagster/partition_row_count"] for v in metadata.values()}) > 1
    assert len({v["segments"] for v in metadata.values()}) > 1
    # The rounding is seen: some day's exact rate has more than four decimals.
    exact = [v["failed"] / (v["delivered"] + v["failed"]) for v in metadata.values()]
    assert any(rate != round(rate, 4) for rate in exact)


def test_the_table_total_is_observed_once_per_run_without_partition(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    first = backfill(sim, duckdb_path, instance, FIRST, date(2025, 3, 4))
    second = backfill(sim, duckdb_path, instance, date(2025, 3, 3), LAST)
    assert first.success
    assert second.success
    records = instance.fetch_observations(ARCHIVE, limit=100, ascending=True).records
    observed = [
        (
            r.run_id,
            r.asset_observation.partition,
            r.asset_observation.metadata["dagster/row_count"].value,
        )
        for r in records
        if r.asset_observation is not None
    ]
    assert observed == [
        (first.run_id, None, sim.message_count(FIRST, date(2025, 3, 4))),
        (second.run_id, None, sim.message_count(FIRST, LAST)),
    ]


def test_resource_in_another_time_zone_fails_before_any_request(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    result = backfill(sim, duckdb_path, instance, timezone="Africa/Lagos")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    assert failure.step_failure_data.user_failure_data.description == (
        "archive_messages' partitions are days in Africa/Lagos, but the smspresto resource's "
        "account time zone is Africa/Abidjan: give both the same time zone "
        "(SMSPrestoResource(timezone='Africa/Lagos'))"
    )
    assert sim.requests == []
    assert not duckdb_path.exists()


def test_unusable_warehouse_path_fails_before_any_request(
    sim: RunningSimulator, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    directory = tmp_path / "not-a-file.duckdb"
    directory.mkdir()
    archive = backfill(sim, directory, instance)
    snapshot = dg.materialize(
        [build_account_snapshot_asset()],
        resources=resources(sim, directory),
        instance=instance,
        raise_on_error=False,
    )
    for result in (archive, snapshot):
        assert not result.success
        (failure,) = result.get_step_failure_events()
        assert failure.step_failure_data.user_failure_data is not None
        description = failure.step_failure_data.user_failure_data.description or ""
        assert f"{directory} is a directory, not a DuckDB file" in description
        assert "SMSPRESTO_DUCKDB_PATH" in description
    assert sim.requests == []


def test_run_config_resetting_the_resources_fails_loudly(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    """Run config for a resource resets what it leaves out to the defaults (docs/architecture.md
    §5): the warehouse's path is required, and the account's time zone is checked."""
    asset = build_archive_messages_asset(start_date=FIRST.isoformat(), timezone="Africa/Lagos")
    configured = resources(sim, duckdb_path, timezone="Africa/Lagos")
    with pytest.raises(dg.DagsterInvalidConfigError, match="path"):
        dg.materialize(
            [asset],
            resources=configured,
            instance=instance,
            partition_key=FIRST.isoformat(),
            run_config={"resources": {"warehouse": {"config": {"lock_timeout": 5.0}}}},
        )
    smspresto = {"api_key": sim.api_key, "api_pass": sim.api_pass, "base_url": sim.base_url}
    result = dg.materialize(
        [asset],
        resources=configured,
        instance=instance,
        partition_key=FIRST.isoformat(),
        run_config={"resources": {"smspresto": {"config": {**smspresto, "page_size": 7}}}},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    description = failure.step_failure_data.user_failure_data.description or ""
    assert "account time zone is Africa/Abidjan" in description
    assert sim.requests == []
    assert not duckdb_path.exists()


def test_rerunning_days_gives_the_same_table(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    assert backfill(sim, duckdb_path, instance).success
    before = messages(duckdb_path)
    assert backfill(sim, duckdb_path, instance, date(2025, 3, 4), date(2025, 3, 6)).success
    assert backfill(sim, duckdb_path, instance).success
    assert messages(duckdb_path) == before


def test_late_status_change_is_picked_up_on_rerun(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    assert backfill(sim, duckdb_path, instance).success
    day = date(2025, 3, 5)
    [(history_id,)] = query(
        duckdb_path,
        "SELECT history_id FROM smspresto.messages "
        "WHERE partition_date = ? AND status = 'delivered' ORDER BY history_id LIMIT 1",
        [day],
    )
    sim.set_status(history_id, "2")
    assert backfill(sim, duckdb_path, instance, day, day).success
    assert query(
        duckdb_path,
        "SELECT status, status_code FROM smspresto.messages WHERE history_id = ?",
        [history_id],
    ) == [("failed", "2")]
    assert query(
        duckdb_path,
        "SELECT HIS_STATUT FROM smspresto.archive_raw WHERE IDHISTORIQUE = ?",
        [str(history_id)],
    ) == [("2",)]


def test_empty_day(sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance) -> None:
    empty = LAST + timedelta(days=1)
    assert sim.message_count(empty, empty) == 0
    assert backfill(sim, duckdb_path, instance, empty, empty).success
    values = partition_metadata(instance)[empty.isoformat()]
    assert values["dagster/partition_row_count"] == 0
    assert values["failure_rate"] is None
    assert values["failure_rate_text"] == "no final status yet (0 pending)"
    assert values["pages"] == 0
    assert values["preview"] == "_no message this day_"


def test_a_failed_day_keeps_its_contents_and_others_are_recorded(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    assert backfill(sim, duckdb_path, instance, FIRST, date(2025, 3, 3)).success
    before = query(
        duckdb_path,
        "SELECT * EXCLUDE (loaded_at) FROM smspresto.messages WHERE partition_date = ?",
        [FIRST],
    )
    assert before
    sim.set_status(before[0][0], "2")  # would show if the failed day were written anyway
    # One day at a time, in order, no retry: the first list-archive call is FIRST's, and fails.
    sim.add_fault(Fault("server_error", count=1, actions=frozenset({"list-archive"})))
    result = backfill(
        sim,
        duckdb_path,
        instance,
        FIRST,
        date(2025, 3, 3),
        smspresto={"max_retries": 0},
        max_concurrent_days=1,
    )
    assert not result.success
    after = query(
        duckdb_path,
        "SELECT * EXCLUDE (loaded_at) FROM smspresto.messages WHERE partition_date = ?",
        [FIRST],
    )
    assert after == before
    run_id = result.run_id
    recorded = {
        r.asset_materialization.partition
        for r in instance.fetch_materializations(ARCHIVE, limit=100).records
        if r.run_id == run_id and r.asset_materialization is not None
    }
    assert recorded == {"2025-03-02", "2025-03-03"}
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None
    assert "2025-03-01" in failure.message
    assert sim.api_pass not in failure.to_string()


def test_runs_give_the_garbage_collector_back_its_objects(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    # The read freezes the heap of the process (gc.freeze); a run that succeeds or fails must
    # unfreeze it, or the process would never collect those objects again.
    frozen = gc.get_freeze_count()
    assert backfill(sim, duckdb_path, instance, FIRST, date(2025, 3, 2)).success
    assert gc.get_freeze_count() == frozen
    sim.add_fault(Fault("server_error", count=1, actions=frozenset({"list-archive"})))
    failed = backfill(sim, duckdb_path, instance, smspresto={"max_retries": 0})
    assert not failed.success
    assert gc.get_freeze_count() == frozen


def test_snapshot_appends_a_row_per_run(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    asset = build_account_snapshot_asset()
    for expected_rows in (1, 2):
        result = dg.materialize([asset], resources=resources(sim, duckdb_path), instance=instance)
        assert result.success
        [event] = result.asset_materializations_for_node("account_snapshot")
        values = {k: v.value for k, v in event.metadata.items()}
        assert values["dagster/row_count"] == expected_rows
        assert values["stock"] == sim.counters()["stock"]
        assert values["contacts"] == sim.counters()["contacts"]
    rows = query(duckdb_path, "SELECT stock, contacts FROM smspresto.account_snapshots")
    assert rows == [(sim.counters()["stock"], sim.counters()["contacts"])] * 2


def test_views_are_queryable_after_a_backfill(
    sim: RunningSimulator, duckdb_path: Path, instance: dg.DagsterInstance
) -> None:
    assert backfill(sim, duckdb_path, instance).success
    result = dg.materialize(
        [build_analytics_views_asset()],
        resources={"warehouse": WarehouseResource(path=str(duckdb_path))},
        instance=instance,
    )
    assert result.success
    [event] = result.asset_materializations_for_node("analytics_views")
    assert event.metadata["rows/daily_segments_billed"].value == 10
    total = sim.message_count(FIRST, LAST)
    assert query(duckdb_path, "SELECT sum(messages) FROM smspresto.daily_delivery_by_sender") == [
        (total,)
    ]
    assert query(duckdb_path, "SELECT sum(messages) FROM smspresto.hourly_volume") == [(total,)]
    carriers = query(
        duckdb_path,
        "SELECT country, sum(messages) FROM smspresto.failure_rate_by_carrier GROUP BY 1",
    )
    assert dict(carriers).get("CI", 0) > 0
    segments = query(duckdb_path, "SELECT sum(segments) FROM smspresto.daily_segments_billed")
    assert segments == query(duckdb_path, "SELECT sum(segments) FROM smspresto.messages")
    # A number that failed twice, whatever the simulator drew.
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(
            "UPDATE smspresto.messages SET recipient = '+2250700000001', status = 'failed' "
            "WHERE history_id IN (SELECT history_id FROM smspresto.messages ORDER BY 1 LIMIT 2)"
        )
    failing = query(
        duckdb_path,
        "SELECT recipient, failures FROM smspresto.repeatedly_failing_recipients ORDER BY 1",
    )
    # Counted here in Python from the rows, not with the view's SQL.
    failures: dict[str, int] = {}
    for recipient, status in query(duckdb_path, "SELECT recipient, status FROM smspresto.messages"):
        failures[recipient] = failures.get(recipient, 0) + (status == "failed")
    assert failing == sorted((r, n) for r, n in failures.items() if n >= 2)
    assert ("+2250700000001", 2) in failing
