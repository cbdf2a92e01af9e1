"""The headless demo: it finishes by itself, prints its summary, and a second run gives the
same tables while adding its runs to the same persistent Dagster instance."""

import dataclasses
import io
import os
from pathlib import Path

import dagster as dg
from rich.console import Console

from smspresto_pipeline.demo import run_demo
from smspresto_pipeline.warehouse import Warehouse


def test_demo_twice_gives_the_same_tables_and_keeps_its_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    before = dict(os.environ)
    out = io.StringIO()
    first = run_demo(
        data_dir=data_dir, days=3, messages_per_day=30, console=Console(file=out, width=100)
    )
    assert dict(os.environ) == before, "the demo leaves the environment as it found it"
    printed = out.getvalue()
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

    assert (first.last_day - first.first_day).days == 2
    assert [day for day, _, _, _ in first.daily] == [
        first.first_day,
        first.first_day + (first.last_day - first.first_day) / 2,
        first.last_day,
    ]
    assert first.messages == sum(first.by_status.values()) > 0
    with Warehouse(data_dir / "smspresto_warehouse.duckdb").connect(read_only=True) as con:
        row = con.execute("SELECT count(*) FROM smspresto.account_snapshots").fetchone()
    assert row == (1,)

    second = run_demo(
        data_dir=data_dir, days=3, messages_per_day=30, console=Console(file=io.StringIO())
    )
    assert dataclasses.replace(second, run_ids=()) == dataclasses.replace(first, run_ids=())

    env_file = (data_dir / "demo.env").read_text()
    for name in ("DAGSTER_HOME", "SMSPRESTO_DUCKDB_PATH", "SMSPRESTO_START_DATE"):
        assert f"\n{name}=" in env_file
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        runs = instance.get_runs()
    assert {run.run_id for run in runs} == set(first.run_ids + second.run_ids)
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    archive_run = next(r for r in runs if r.run_id == second.run_ids[0])
    assert archive_run.tags["dagster/asset_partition_range_start"] == first.first_day.isoformat()
    assert archive_run.tags["dagster/asset_partition_range_end"] == first.last_day.isoformat()
