"""An intraday read of today and the daily partition of today at once, in processes of their
own (as a deployment runs them), on a real DuckDB file and a real PostgreSQL database: they take
turns on the day's lock, and the day holds one copy of each row, none lost."""

import subprocess
from datetime import datetime, timedelta

import pytest
from conftest import MakeSimulator
from process_fixtures import said, start, tell
from test_intraday import DAY, MESSAGE_COLUMNS, RAW_COLUMNS, listing, read_today, stored, table

from smspresto_pipeline.simulator import RunningSimulator

# One run of today's read or of today's daily partition, when told to go.
_RUN = """
import sys
import dagster as dg
from smspresto_pipeline.ingest.assets import build_archive_messages_asset
from smspresto_pipeline.ingest.intraday import build_archive_today_asset
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

mode, base_url, key, password, target, as_of = sys.argv[1:]
warehouse = WarehouseResource(url=target) if "://" in target else WarehouseResource(path=target)
resources = {
    "smspresto": SMSPrestoResource(api_key=key, api_pass=password, base_url=base_url, page_size=7),
    "warehouse": warehouse,
}
if mode == "today":
    assets = [build_archive_today_asset()]
    options = {"run_config": {"ops": {"archive_messages_today": {"config": {"as_of": as_of}}}}}
else:
    assets = [build_archive_messages_asset(start_date="2026-03-01")]
    options = {"partition_key": as_of[:10]}
print("ready", flush=True)
sys.stdin.readline()
result = dg.materialize(assets, resources=resources, raise_on_error=False, **options)
print("ok" if result.success else "failed", flush=True)
"""


# Each engine once, each with one of the paging readings (both readings of both engines are
# read by tests/ingest/test_intraday.py; here the race is the subject).
@pytest.mark.parametrize(
    ("warehouse_target", "paging"),
    [("duckdb", "range"), ("postgres", "limit")],
    indirect=["warehouse_target"],
)
def test_an_intraday_read_and_the_daily_run_of_today_at_once(
    make_simulator: MakeSimulator, warehouse_target: str, paging: str
) -> None:
    at = datetime(2026, 3, 10, 12, 0)
    with make_simulator(
        clock=at - timedelta(hours=2),
        history_start=DAY,
        history_end=DAY,
        messages_per_day=300,
        delivery_delay=600,
        paging=paging,
    ) as sim:
        read_today(sim, warehouse_target, at - timedelta(hours=2))  # a cursor to resume from
        for round_ in range(2):
            at += timedelta(minutes=30 * round_)
            sim.set_now(at)
            runs = [run(sim, mode, warehouse_target, at) for mode in ("today", "daily")]
            for process in runs:
                assert said(process) == "ready"
            for process in runs:
                tell(process, "go")
            for process in runs:
                out, _ = process.communicate(timeout=300)
                assert (process.returncode, out.strip()) == (0, "ok")
            expect_one_copy_of_each(sim, warehouse_target)
        # Whatever order they committed in, the next read leaves the day exact.
        read_today(sim, warehouse_target, at)
        now = listing(sim)
        assert stored(warehouse_target) == {int(r["IDHISTORIQUE"]): r["HIS_STATUT"] for r in now}


def run(sim: RunningSimulator, mode: str, target: str, at: datetime) -> subprocess.Popen[str]:
    return start(_RUN, mode, sim.base_url, sim.api_key, sim.api_pass, target, at.isoformat())


def expect_one_copy_of_each(sim: RunningSimulator, target: str) -> None:
    ids = {int(r["IDHISTORIQUE"]) for r in listing(sim)}
    messages = table(target, MESSAGE_COLUMNS, "messages")
    raw = table(target, RAW_COLUMNS, "archive_raw")
    assert sorted(row[0] for row in messages) == sorted(ids)
    assert sorted(int(row[0]) for row in raw) == sorted(ids)
