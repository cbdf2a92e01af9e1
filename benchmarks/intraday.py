"""What reading today every 15 minutes costs, against re-reading the whole day at each tick.

A day of about ``--messages`` messages arrives over the day as the simulator seeds it (its
hourly shape: quiet nights, a morning rise, campaigns that send thousands in the same second),
on the simulator's own clock, each message pending ``--pending-seconds`` after its creation.
Every ``--minutes`` minutes the clock moves on and today is read:

* ``intraday``: the library's read (:func:`~smspresto_pipeline.warehouse.intraday.read_intraday`,
  what the asset ``archive_messages_today`` runs, without Dagster's own cost): from the first
  row still pending at the last read to the end, upserted into a DuckDB file;
* ``whole_day``: the whole day read from the first row and the day replaced
  (``Warehouse.write_partition``, the daily partition's write), at every ``--full-every``-th
  tick only (it would read millions of rows); the other ticks' figures are estimated from the
  listing's size then (rows: all of them; requests: rows / page size + 2, as measured).

Figures (JSON): per strategy, the API requests and rows read over the day, the client's CPU
per tick (mean, max) and over the day (this thread's CPU: the HTTP client, the paging,
staging and DuckDB's writes; the simulator serves from its own threads and is not counted),
and the peak requests of one tick (what a rate limit would meet). The final check: the
intraday rows against the simulator's listing at the end of the day.

Usage::

    .venv/bin/python benchmarks/intraday.py [--messages 200000] [--minutes 15]
                                            [--page-size 500] [--full-every 8]
"""

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.simulator import SimulatorConfig, run_simulator
from smspresto_pipeline.simulator.seed import seed_days
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.warehouse.intraday import read_intraday

DAY = date(2026, 3, 10)  # a Tuesday
ACCOUNT = "default"


def messages_per_day_for(target: int) -> int:
    """The simulator's ``messages_per_day`` that seeds about ``target`` messages on DAY."""
    (probe,) = seed_days(SimulatorConfig().seed, DAY, DAY, 10_000, 0.05)
    return round(10_000 * target / len(probe.rows))


def archive_requests(sim: Any) -> int:
    return sum(1 for request in sim.requests if request.action == "list-archive")


def summary(cpu: list[float], requests: list[int], rows: list[int]) -> dict[str, Any]:
    return {
        "requests_per_day": sum(requests),
        "rows_read_per_day": sum(rows),
        "peak_requests_per_tick": max(requests),
        "cpu_s_per_day": round(sum(cpu), 2),
        "cpu_ms_per_tick_mean": round(1000 * statistics.fmean(cpu), 1),
        "cpu_ms_per_tick_max": round(1000 * max(cpu), 1),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--minutes", type=int, default=15)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--pending-seconds", type=float, default=300.0)
    parser.add_argument("--full-every", type=int, default=8)
    parser.add_argument("--tail", type=int, default=20_000)
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="intraday-bench-"))
    start = datetime.combine(DAY, datetime.min.time())
    config = SimulatorConfig(
        db_path=folder / "sim.sqlite3",
        clock=start,
        history_start=DAY,
        history_end=DAY,
        messages_per_day=messages_per_day_for(args.messages),
        recipient_pool=0,
        spike_period=0,
        delivery_delay=args.pending_seconds,
    )
    intraday = Warehouse(folder / "intraday.duckdb", spool_dir=folder)
    whole = Warehouse(folder / "whole.duckdb", spool_dir=folder)
    figures: dict[str, dict[str, list[Any]]] = {
        "intraday": {"cpu": [], "requests": [], "rows": []},
        "whole_day": {"cpu": [], "requests": [], "rows": []},
    }
    estimated_ticks = 0
    measured_rows = 0
    ticks = 24 * 60 // args.minutes
    with run_simulator(config) as sim:
        client = SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url, timeout=120)
        with client:
            for tick in range(1, ticks + 1):
                at = start + timedelta(minutes=tick * args.minutes) - timedelta(seconds=1)
                sim.set_now(at)
                asked, cpu = archive_requests(sim), time.thread_time()
                done = read_intraday(
                    client,
                    intraday,
                    DAY,
                    started=at.replace(tzinfo=UTC),
                    page_size=args.page_size,
                    tail=args.tail,
                    account=ACCOUNT,
                )
                own = figures["intraday"]
                own["cpu"].append(time.thread_time() - cpu)
                own["requests"].append(archive_requests(sim) - asked)
                own["rows"].append(done.rows_read)

                full = figures["whole_day"]
                if tick % args.full_every == 0 or tick == ticks:
                    asked, cpu = archive_requests(sim), time.thread_time()
                    stats = whole.write_partition(
                        DAY, client.iter_archive_pages(DAY, DAY, args.page_size)
                    )
                    full["cpu"].append(time.thread_time() - cpu)
                    full["requests"].append(archive_requests(sim) - asked)
                    full["rows"].append(stats.rows)
                    measured_rows += stats.rows
                else:
                    estimated_ticks += 1
                    rows = sim.message_count(DAY, DAY)
                    full["rows"].append(rows)
                    full["requests"].append(math.ceil(rows / args.page_size) + 2)
                print(
                    f"{at:%H:%M} rows {sim.message_count(DAY, DAY):>7} intraday: "
                    f"{done.rows_read:>6} rows, {own['requests'][-1]:>4} requests, "
                    f"{1000 * own['cpu'][-1]:7.1f} ms",
                    file=sys.stderr,
                )
        listing = sim.message_count(DAY, DAY)
    full = figures["whole_day"]
    measured = len(full["cpu"])
    per_row = sum(full["cpu"]) / max(1, measured_rows)
    whole_day = summary(full["cpu"], full["requests"], full["rows"])
    # CPU of the unmeasured ticks: the measured CPU per row, times their rows.
    whole_day["cpu_s_per_day"] = round(per_row * sum(full["rows"]), 2)
    result = {
        "day_messages": listing,
        "ticks": ticks,
        "minutes": args.minutes,
        "page_size": args.page_size,
        "pending_seconds": args.pending_seconds,
        "intraday": summary(**figures["intraday"]),
        "whole_day": whole_day | {"ticks_measured": measured, "ticks_estimated": estimated_ticks},
        "intraday_rows_stored": intraday.count_messages(ACCOUNT),
    }
    print(json.dumps(result, indent=2))
    assert result["intraday_rows_stored"] == listing, "the intraday rows must be the listing"


if __name__ == "__main__":
    main(sys.argv[1:])
