"""Replacing whole days in one transaction: the write every path of the warehouse ends in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from smspresto_pipeline.sms.arrow import POOL
from smspresto_pipeline.warehouse.connection import rollback
from smspresto_pipeline.warehouse.queries import load_sql
from smspresto_pipeline.warehouse.staging import SPOOL_SCHEMA, DaySpool
from smspresto_pipeline.warehouse.stats import PartitionStats, stats_from_row

__all__ = ["replace_days", "staged_days"]


def staged_days(days: Sequence[date]) -> pa.Table:
    """The days being written (in order) and their ``loaded_at``, as the SQL's ``staged_days``."""
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    return pa.table(
        {
            "partition_date": pa.array(days, pa.date32()),
            "position": pa.array(range(len(days)), pa.int32()),
            "loaded_at": pa.array([loaded_at] * len(days), pa.timestamp("us")),
        }
    )


def _replace_script(*, deduplicate: bool) -> str:
    # One script, one call: every call into DuckDB hands the GIL back and forth with the thread
    # reading the API, which costs more than the statements themselves on small days.
    insert = "insert_messages_staged_deduplicated" if deduplicate else "insert_messages_staged"
    files = (
        "delete_archive_raw_partitions",
        "insert_archive_raw_staged",
        "delete_messages_partitions",
        "delete_messages_staged_ids",
        insert,
        "select_partition_stats",
    )
    statements = [load_sql(f"dml/{name}.sql").strip().rstrip(";") for name in files]
    return ";\n".join(["BEGIN TRANSACTION", *statements])


def _register_staged(con: duckdb.DuckDBPyConnection, spools: Sequence[DaySpool]) -> None:
    """The spools' rows as the view ``staged``, in the order they were received: the days
    held in memory (Arrow), then the spilled ones.

    DuckDB reads a spilled day's Parquet file itself, a row group at a time within its
    ``memory_limit``. (Through a pyarrow dataset, the scanner read ahead batches of 131,072
    rows: a 200,000-message day was in memory whole, twice.)
    """
    sources = [spool.source() for spool in spools]
    tables = [s for s in sources if isinstance(s, pa.Table)]
    files = [str(s) for s in sources if not isinstance(s, pa.Table)]
    memory = pa.concat_tables(tables, memory_pool=POOL) if tables else SPOOL_SCHEMA.empty_table()
    con.register("staged_memory", memory)
    if files:
        con.read_parquet(files).to_view("staged_files", replace=True)
        con.execute(load_sql("dml/create_staged_view.sql"))
    else:
        con.execute(load_sql("dml/create_staged_view_memory.sql"))


def _unregister_staged(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP VIEW IF EXISTS staged")
    con.execute("DROP VIEW IF EXISTS staged_files")
    con.unregister("staged_memory")


def replace_days(
    con: duckdb.DuckDBPyConnection, spools: Sequence[DaySpool]
) -> list[PartitionStats]:
    """Replace the spools' days in one transaction on ``con``; rolls back on any error."""
    days = [spool.day for spool in spools]
    if len(set(days)) != len(days):
        raise ValueError(f"a day can be committed once per transaction, got {days}")
    _register_staged(con, spools)
    con.register("staged_days", staged_days(days))
    try:
        try:
            rows = con.execute(_replace_script(deduplicate=False)).fetchall()
        except duckdb.ConstraintException:
            # The same history_id staged twice: keep its last reading.
            rollback(con)
            rows = con.execute(_replace_script(deduplicate=True)).fetchall()
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    finally:
        _unregister_staged(con)
        con.unregister("staged_days")
    return [stats_from_row(row, spool.pages) for row, spool in zip(rows, spools, strict=True)]
