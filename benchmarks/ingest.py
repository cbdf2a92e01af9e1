"""Rows per second and peak memory of an ``archive_messages`` backfill, against a bare loop.

Seeds one simulated account (``--days`` days ending yesterday, ``--per-day`` messages a day on
average: about 315,000 messages by default) in a temporary directory and serves it from a
separate process, so the server never shares an interpreter lock with what is measured. Then:

* the bare loop: one ``httpx.Client``, day after day, the same ``list-archive`` pages the client
  asks for (``from`` advances by the rows received, ``to = from + page_size``), JSON decoded,
  nothing stored;
* the backfill: ``dagster.materialize`` of ``archive_messages`` over the whole range in one run
  (``BackfillPolicy.single_run()``), into a new DuckDB file, in a child process whose peak
  resident memory is read from ``getrusage(RUSAGE_CHILDREN)`` once it has exited.

Prints JSON: ``{rows, backfill_rows_per_s, bare_rows_per_s, ratio, backfill_peak_rss_mb, ...}``;
``ratio`` counts the whole ``materialize()`` call (run set-up included), ``step_ratio`` the
asset's step alone. Targets: ``ratio >= 0.8`` and a peak below 400 MB.

Usage::

    .venv/bin/python benchmarks/ingest.py [--days 90] [--per-day 3500] [--concurrency 4]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

API_KEY = "bench-key"
API_PASS = "bench-pass"
PAGE_SIZE = 500

# Runs in the server process: seed (first start only), serve, print the base URL.
SERVER = """
import sys
from datetime import date
from pathlib import Path
from typing import Any
from smspresto_pipeline.simulator import SimulatorConfig, serve

db, first, last, per_day = sys.argv[1:5]
config = SimulatorConfig(
    db_path=Path(db), api_key="bench-key", api_pass="bench-pass",
    history_start=date.fromisoformat(first), history_end=date.fromisoformat(last),
    messages_per_day=int(per_day),
)
serve(config, on_ready=lambda sim: print(sim.base_url, flush=True))
"""

# Runs in the backfill process: one run over the whole range; prints rows, the seconds of the
# whole materialize() call and those of the asset's step alone (from the run's event log).
BACKFILL = """
import json, sys, time
import dagster as dg
from smspresto_pipeline.assets import build_archive_messages_asset
from smspresto_pipeline.resource import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.warehouse import Warehouse

base_url, first, last, duckdb_path, concurrency = sys.argv[1:6]
asset = build_archive_messages_asset(start_date=first, max_concurrent_days=int(concurrency))
resources = {
    "smspresto": SMSPrestoResource(api_key="bench-key", api_pass="bench-pass", base_url=base_url),
    "warehouse": WarehouseResource(path=duckdb_path),
}
tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
with dg.DagsterInstance.ephemeral() as instance:
    start = time.perf_counter()
    result = dg.materialize(
        [asset], resources=resources, tags=tags, instance=instance, run_config=quiet
    )
    seconds = time.perf_counter() - start
    step_events = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
    times = {
        entry.dagster_event_type: entry.timestamp
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event_type in step_events
    }
step = times[dg.DagsterEventType.STEP_SUCCESS] - times[dg.DagsterEventType.STEP_START]
with Warehouse(duckdb_path).connect(read_only=True) as con:
    rows = con.execute("SELECT count(*) FROM smspresto.messages").fetchone()[0]
print(json.dumps({"success": result.success, "rows": rows, "seconds": seconds, "step": step}))
"""


def bare_fetch(http: httpx.Client, base_url: str, days: list[str]) -> int:
    """Every page of every day, one request after another, JSON decoded and dropped."""
    rows = 0
    for day in days:
        offset = 0
        while True:
            response = http.post(
                base_url,
                data={
                    "user": API_KEY,
                    "pass": API_PASS,
                    "action": "list-archive",
                    "dateFrom": day,
                    "dateTo": day,
                    "from": str(offset),
                    "to": str(offset + PAGE_SIZE),
                },
            )
            response.raise_for_status()
            page = response.json() if response.content.strip() else None
            if not page:
                break
            rows += len(page)
            offset += len(page)
    return rows


def backfill(
    base_url: str, first: str, last: str, duckdb_path: Path, concurrency: int
) -> dict[str, Any]:
    """Run the backfill in a child process; its result and its peak RSS (MB)."""
    command = [
        sys.executable,
        "-c",
        BACKFILL,
        base_url,
        first,
        last,
        str(duckdb_path),
        str(concurrency),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"the backfill failed:\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    # The server process is still running (not yet reaped), so the only child counted here
    # is the backfill. ru_maxrss is in KiB on Linux.
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=3500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    last_day = date.today() - timedelta(days=1)
    first_day = last_day - timedelta(days=args.days - 1)
    days = [(first_day + timedelta(days=n)).isoformat() for n in range(args.days)]
    first, last = days[0], days[-1]
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-c", SERVER, str(Path(tmp) / "sim.sqlite3"), first, last]
        command.append(str(args.per_day))
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
            try:
                assert server.stdout is not None
                base_url = server.stdout.readline().strip()
                if not base_url:
                    raise SystemExit("the simulator did not start")
                seed_s = time.perf_counter() - started
                with httpx.Client(timeout=120.0) as http:
                    bare_fetch(http, base_url, days[:3])  # warm the connection and the server
                    start = time.perf_counter()
                    bare_rows = bare_fetch(http, base_url, days)
                    bare_s = time.perf_counter() - start
                result = backfill(
                    base_url, first, last, Path(tmp) / "bench.duckdb", args.concurrency
                )
            finally:
                server.terminate()
    if not result["success"] or result["rows"] != bare_rows:
        raise SystemExit(f"the backfill stored {result['rows']} rows, the API served {bare_rows}")
    bare_rate = bare_rows / bare_s
    backfill_rate = result["rows"] / result["seconds"]
    print(
        json.dumps(
            {
                "rows": bare_rows,
                "days": args.days,
                "page_size": PAGE_SIZE,
                "max_concurrent_days": args.concurrency,
                "seed_and_start_s": round(seed_s, 1),
                "bare_s": round(bare_s, 2),
                "bare_rows_per_s": round(bare_rate),
                "backfill_s": round(result["seconds"], 2),
                "backfill_rows_per_s": round(backfill_rate),
                "ratio": round(backfill_rate / bare_rate, 3),
                "step_s": round(result["step"], 2),
                "step_rows_per_s": round(result["rows"] / result["step"]),
                "step_ratio": round(result["rows"] / result["step"] / bare_rate, 3),
                "backfill_peak_rss_mb": round(result["peak_rss_mb"], 1),
                "targets": {"ratio": ">= 0.8", "backfill_peak_rss_mb": "< 400"},
            }
        )
    )


if __name__ == "__main__":
    main()
