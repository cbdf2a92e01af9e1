"""Rows per second of ``SMSPrestoClient.iter_archive`` against a bare httpx loop.

Seeds a simulator once (``--days`` x ``--per-day`` messages, 100,000 by default) in a temporary
directory, serves it from a separate process (so the server does not share our interpreter
lock), then fetches the whole range alternately with the client and with a bare loop that
sends the same POST parameters, page by page, and decodes the JSON with the same decoder as the
client (orjson: a baseline on the standard library's slower decoder flattered the client).
Prints JSON:
``{rows, client_rows_per_s, bare_rows_per_s, ratio, ...}``; the best round of each counts.

Usage::

    .venv/bin/python benchmarks/archive_fetch.py [--rounds 7] [--paging range|limit]
                                                 [--recipient-pool 0]
"""

import argparse
import collections
import itertools
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
from bare import API_KEY, API_PASS, add_history_arguments, bare_pages

from smspresto_pipeline import SMSPrestoClient

FIRST_DAY = date(2024, 1, 1)

# Runs in the server process: seed (first start only), serve, print the base URL.
SERVER = """
import sys
from datetime import date
from pathlib import Path
from smspresto_pipeline.simulator import SimulatorConfig, serve

db, paging, first, last, per_day, pool = sys.argv[1:7]
config = SimulatorConfig(
    db_path=Path(db), api_key="bench-key", api_pass="bench-pass", paging=paging,
    history_start=date.fromisoformat(first), history_end=date.fromisoformat(last),
    messages_per_day=int(per_day), failure_rate=0.05, recipient_pool=int(pool),
)
serve(config, on_ready=lambda sim: print(sim.base_url, flush=True))
"""


def bare_fetch(
    http: httpx.Client, base_url: str, first: str, last: str, page_size: int, paging: str
) -> int:
    """The reference loop over the whole range (see ``bare.py``)."""
    return bare_pages(http, base_url, first, last, page_size=page_size, paging=paging)


def client_fetch(client: SMSPrestoClient, first: str, last: str, page_size: int) -> int:
    # Count the records at C speed (the `ilen` recipe), so the figure is the client's cost,
    # not that of a Python-level loop the bare side does not run.
    counter = itertools.count()
    collections.deque(
        zip(client.iter_archive(first, last, page_size), counter, strict=False), maxlen=0
    )
    return next(counter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    add_history_arguments(parser, paging="range")
    args = parser.parse_args()

    last_day = FIRST_DAY + timedelta(days=args.days - 1)
    first, last = FIRST_DAY.isoformat(), last_day.isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-c",
            SERVER,
            str(Path(tmp) / "sim.sqlite3"),
            args.paging,
            first,
            last,
            str(args.per_day),
            str(args.recipient_pool),
        ]
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
            try:
                assert server.stdout is not None
                base_url = server.stdout.readline().strip()
                if not base_url:
                    raise SystemExit("the simulator did not start")
                seed_s = time.perf_counter() - started
                result = measure(base_url, first, last, args.page_size, args.rounds, args.paging)
            finally:
                server.terminate()
    result.update(
        seed_and_start_s=round(seed_s, 2),
        paging=args.paging,
        rounds=args.rounds,
        recipient_pool=args.recipient_pool,
    )
    print(json.dumps(result))


def measure(
    base_url: str, first: str, last: str, page_size: int, rounds: int, paging: str
) -> dict[str, object]:
    client_rates: list[float] = []
    bare_rates: list[float] = []
    counts: set[int] = set()
    with (
        SMSPrestoClient(API_KEY, API_PASS, base_url, timeout=60.0) as client,
        httpx.Client(timeout=60.0) as http,
    ):
        # One untimed pass each warms the connection pools and the server's page cache.
        client_fetch(client, first, last, page_size)
        bare_fetch(http, base_url, first, last, page_size, paging)
        for round_ in range(rounds):
            # Alternate which side goes first, so drift in the machine's load hits both.
            order = ("client", "bare") if round_ % 2 == 0 else ("bare", "client")
            for side in order:
                start = time.perf_counter()
                if side == "client":
                    rows = client_fetch(client, first, last, page_size)
                else:
                    rows = bare_fetch(http, base_url, first, last, page_size, paging)
                elapsed = time.perf_counter() - start
                counts.add(rows)
                (client_rates if side == "client" else bare_rates).append(rows / elapsed)
    if len(counts) != 1:
        raise SystemExit(f"the two loops saw different row counts: {sorted(counts)}")
    client_best, bare_best = max(client_rates), max(bare_rates)
    return {
        "rows": counts.pop(),
        "page_size": page_size,
        "client_rows_per_s": round(client_best),
        "bare_rows_per_s": round(bare_best),
        "ratio": round(client_best / bare_best, 3),
    }


if __name__ == "__main__":
    main()
