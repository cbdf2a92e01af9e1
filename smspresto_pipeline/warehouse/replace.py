"""Replacing whole days in one transaction: the write every path of the warehouse ends in."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from smspresto_pipeline.sms.arrow import POOL
from smspresto_pipeline.storage import ConstraintViolationError, Session
from smspresto_pipeline.warehouse.staging import SPOOL_SCHEMA, DaySpool
from smspresto_pipeline.warehouse.stats import PartitionStats, stats_from_row

__all__ = ["load_staged", "replace_days", "staged_days"]


def staged_days(
    days: Sequence[date], account: str, *, loaded_at: datetime | None = None
) -> pa.Table:
    """The days of ``account`` being written (in order) and their ``loaded_at`` (naive UTC;
    default now), as the SQL's ``staged_days``: every statement of a replacement reads the
    account from it."""
    if loaded_at is None:
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
    return pa.table(
        {
            "account": pa.array([account] * len(days), pa.string()),
            "partition_date": pa.array(days, pa.date32()),
            "position": pa.array(range(len(days)), pa.int32()),
            "loaded_at": pa.array([loaded_at] * len(days), pa.timestamp("us")),
        }
    )


def load_staged(session: Session, spools: Sequence[DaySpool]) -> AbstractContextManager[None]:
    """Within the block, the relation ``staged`` holds the spools' rows in the order they were
    received: the days held in memory (Arrow), then the spilled ones (Parquet, read by the
    engine itself)."""
    sources = [spool.source() for spool in spools]
    tables = [s for s in sources if isinstance(s, pa.Table)]
    files = [s for s in sources if isinstance(s, Path)]
    memory = pa.concat_tables(tables, memory_pool=POOL) if tables else SPOOL_SCHEMA.empty_table()
    return session.load_arrow("staged", memory, parquet=files)


def _replace_files(*, deduplicate: bool) -> list[str]:
    insert = "insert_messages_staged_deduplicated" if deduplicate else "insert_messages_staged"
    files = (
        # Two processes writing the same day take turns here; other days go on side by side.
        "lock_staged_days",
        "delete_archive_raw_partitions",
        "insert_archive_raw_staged",
        "delete_messages_partitions",
        # The day's intraday cursor no longer describes it: the next intraday read starts over.
        "delete_intraday_reads_staged_days",
        # The staged rows typed once (a temporary view), for the two statements that read them.
        "create_staged_messages_view",
        "delete_messages_staged_ids",
        insert,
        "drop_staged_messages_view",
        "select_partition_stats",
    )
    return [f"dml/{name}.sql" for name in files]


def replace_days(session: Session, spools: Sequence[DaySpool]) -> list[PartitionStats]:
    """Replace the spools' days (of one account: its rows only) in one transaction on
    ``session``; rolls back on any error.

    The staged rows are the relation ``staged`` (:func:`load_staged`).
    """
    days = [spool.day for spool in spools]
    if len(set(days)) != len(days):
        raise ValueError(f"a day can be committed once per transaction, got {days}")
    accounts = sorted({spool.account for spool in spools})
    if len(accounts) != 1:
        raise ValueError(f"a transaction replaces the days of one account, got {accounts}")
    with contextlib.ExitStack() as staged:
        staged.enter_context(load_staged(session, spools))
        staged.enter_context(session.load_arrow("staged_days", staged_days(days, accounts[0])))
        try:
            try:
                rows = session.run_script(_replace_files(deduplicate=False), begin=True)
            except ConstraintViolationError:
                # The same history_id staged twice: keep its last reading.
                session.rollback()
                rows = session.run_script(_replace_files(deduplicate=True), begin=True)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return [stats_from_row(row, spool.pages) for row, spool in zip(rows, spools, strict=True)]
