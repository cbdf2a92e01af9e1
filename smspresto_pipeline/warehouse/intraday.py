"""Today's rows while the day goes: an intraday read upserted, and where the next one resumes.

A daily partition replaces a day whole (:mod:`~smspresto_pipeline.warehouse.replace`). While the
day goes, a read every few minutes takes only what can have changed: the rows created since the
last read, and the rows still pending then (a status moves minutes after sending). Its cursor,
one row of ``smspresto.intraday_reads`` per (account, day), says where it resumes:

* ``rows_read``, the listing's offset past the last row read, and ``first_pending``, the offset
  of the first row still pending: the next read starts at ``first_pending`` (no further back
  than a ``tail`` of rows before ``rows_read``: older pending rows wait for the daily
  partition), so a read costs about (new rows + pending rows) / page size requests;
* ``paging``: what ``list-archive``'s ``from``/``to`` were proven to mean, so that a read
  resumed from an offset asks bounded pages at once (:mod:`~smspresto_pipeline.api.paging`);
* ``complete_until``: when the latest read **started**. Every message created before then was in
  the listing it read (from its offset to the end, and the rows before its offset were read
  before), so it is stored: reconciliation (``dml/select_outbox_archive_matches.sql``) reads the
  day's coverage there, never from a time stamped after the read (a message created while the
  read went on may be missing). The rows of a read are stamped ``loaded_at`` = that start, too.

The cursor is written in the transaction of the rows it describes (runs are separate processes:
a cursor kept elsewhere would drift from the data). The transaction takes the day's lock first
(``dml/lock_staged_days.sql``), as a daily replacement of the same day does, so the two take
turns; an intraday read never overwrites a row that a write started after it stored (its rows
are newer), and a daily replacement deletes the day's cursor (the next read starts over, from
offset 0): one copy of each row, none lost once the next read is in.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from smspresto_pipeline.api.paging import ArchivePaginator
from smspresto_pipeline.storage import Database
from smspresto_pipeline.storage.timestamps import utc_naive
from smspresto_pipeline.warehouse.replace import load_staged, staged_days
from smspresto_pipeline.warehouse.staging import DaySpool
from smspresto_pipeline.warehouse.stats import PartitionStats, stats_from_row

if TYPE_CHECKING:
    from smspresto_pipeline.api.client import SMSPrestoClient
    from smspresto_pipeline.warehouse.store import Warehouse

__all__ = [
    "IntradayCursor",
    "IntradayRead",
    "IntradayWrite",
    "read_cursor",
    "read_intraday",
    "upsert_intraday",
]

Paging = Literal["unknown", "count", "indexes"]

_UPSERT_FILES = [
    f"dml/{name}.sql"
    for name in (
        # An intraday read and a daily replacement of the same day take turns here.
        "lock_staged_days",
        "create_staged_messages_view",
        "delete_archive_raw_intraday_ids",
        "insert_archive_raw_intraday",
        "delete_messages_intraday_ids",
        "insert_messages_intraday",
        "drop_staged_messages_view",
        "upsert_intraday_read",
        "select_partition_stats",
    )
]


@dataclasses.dataclass(frozen=True, slots=True)
class IntradayCursor:
    """Where an (account, day)'s intraday reading stands (see the module docstring).

    Attributes:
        rows_read: the listing's offset past the last row read.
        first_pending: the offset of the first row still pending then (``rows_read``: none).
        paging: what ``from``/``to`` were proven to mean (``unknown`` until a walk shows it).
        complete_until: when the latest read started (naive UTC); ``None`` before the first.
        reads: reads of the day stored (one that started before the stored one is not).
    """

    rows_read: int = 0
    first_pending: int = 0
    paging: Paging = "unknown"
    complete_until: datetime | None = None
    reads: int = 0

    def resume_at(self, tail: int) -> int:
        """The offset the next read starts at: the first pending row, at most ``tail`` rows
        before the end of the last read."""
        return max(0, min(self.first_pending, self.rows_read), self.rows_read - tail)


@dataclasses.dataclass(frozen=True, slots=True)
class IntradayWrite:
    """What one intraday read wrote.

    Attributes:
        stats: the day as stored after it (``pages``: the read's requests).
        new_rows: messages stored for the first time.
        updated_rows: messages read again and replaced (statuses moved, or not).
        kept_rows: messages read again but left as a write started after this read stored
            them.
        cursor: the day's cursor this read left (the one stored, unless a read that started
            later committed first).
    """

    stats: PartitionStats
    new_rows: int
    updated_rows: int
    kept_rows: int
    cursor: IntradayCursor


@dataclasses.dataclass(frozen=True, slots=True)
class IntradayRead:
    """One intraday read: what it wrote, and what it cost.

    Attributes:
        write: what it wrote.
        rows_read: rows the API sent (new ones, and those read again).
        requests: ``list-archive`` requests answered.
        resumed_at: the offset it started from.
    """

    write: IntradayWrite
    rows_read: int
    requests: int
    resumed_at: int


def read_intraday(
    client: SMSPrestoClient,
    warehouse: Warehouse,
    day: date,
    *,
    started: datetime,
    page_size: int,
    tail: int,
    account: str,
) -> IntradayRead:
    """Read ``account``'s ``day`` from its cursor to the end of the listing and upsert it.

    Args:
        client: the API's client (its paging is resumed from the cursor, bounded pages).
        warehouse: where the day and its cursor are.
        day: the day read (today, in the account's zone).
        started: when the read starts (aware; not later than now): the day is complete up to
            it once the read is stored.
        page_size: rows per request.
        tail: rows before the end of the last read that a read goes back at most for rows
            still pending.
        account: the account.
    """
    cursor = warehouse.intraday_cursor(day, account=account)
    paginator = ArchivePaginator(page_size, start=cursor.resume_at(tail), reading=cursor.paging)
    pending = {code for code, status in warehouse.status_map.items() if status == "pending"}
    first_pending: int | None = None
    read = 0
    with warehouse.spool(day, account=account) as spool:
        for page in client.iter_archive_pages(day, day, paginator=paginator):
            spool.add(page)
            read += len(page)
            if first_pending is None:
                first_pending = next(
                    (
                        paginator.page_offset + i
                        for i, record in enumerate(page)
                        if str(record.raw.get("HIS_STATUT") or "").strip() in pending
                    ),
                    None,
                )
        end = paginator.offset
        write = warehouse.upsert_intraday(
            spool,
            IntradayCursor(
                rows_read=end,
                first_pending=end if first_pending is None else first_pending,
                paging=paginator.proven,
                complete_until=started,
            ),
        )
    return IntradayRead(write, read, paginator.requests, paginator.start)


def read_cursor(database: Database, day: date, account: str) -> IntradayCursor:
    """The stored cursor of ``account``'s ``day`` (a fresh one when none is)."""
    if not database.exists():
        return IntradayCursor()
    with database.session(read_only=True) as session:
        row = session.fetch_one("dml/select_intraday_read.sql", {"account": account, "day": day})
    if row is None:
        return IntradayCursor()
    rows_read, first_pending, paging, complete_until, reads = row
    known: Paging = paging if paging in ("count", "indexes") else "unknown"
    return IntradayCursor(int(rows_read), int(first_pending), known, complete_until, int(reads))


def _cursor_table(account: str, day: date, cursor: IntradayCursor) -> pa.Table:
    assert cursor.complete_until is not None
    row: dict[str, Any] = {
        "account": account,
        "partition_date": day,
        "rows_read": cursor.rows_read,
        "first_pending": cursor.first_pending,
        "paging": cursor.paging,
        "complete_until": cursor.complete_until,
        "updated_at": datetime.now(UTC).replace(tzinfo=None),
    }
    schema = pa.schema(
        [
            ("account", pa.string()),
            ("partition_date", pa.date32()),
            ("rows_read", pa.int64()),
            ("first_pending", pa.int64()),
            ("paging", pa.string()),
            ("complete_until", pa.timestamp("us")),
            ("updated_at", pa.timestamp("us")),
        ]
    )
    return pa.Table.from_pylist([row], schema=schema)


def upsert_intraday(database: Database, spool: DaySpool, cursor: IntradayCursor) -> IntradayWrite:
    """Write one intraday read of ``spool``'s day in one transaction: its rows upserted by
    (account, history_id) into ``messages`` and ``archive_raw``, typed as a daily write types
    them, stamped ``loaded_at`` = ``cursor.complete_until`` (the read's start), and ``cursor``.

    Raises:
        ValueError: a cursor without ``complete_until``.
    """
    if cursor.complete_until is None:
        raise ValueError("an intraday read's cursor needs complete_until (when the read started)")
    read_at = utc_naive(cursor.complete_until)
    cursor = dataclasses.replace(cursor, complete_until=read_at)
    days = staged_days([spool.day], spool.account, loaded_at=read_at)
    with contextlib.ExitStack() as stack:
        session = stack.enter_context(database.writing())
        stack.enter_context(load_staged(session, [spool]))
        stack.enter_context(session.load_arrow("staged_days", days))
        stack.enter_context(
            session.load_arrow("intraday_read", _cursor_table(spool.account, spool.day, cursor))
        )
        try:
            # Counted under the day's lock: what a daily replacement committed meanwhile shows.
            session.run_script(_UPSERT_FILES[:2], begin=True)
            counts = session.fetch_one("dml/count_intraday_staged_ids.sql")
            (row,) = session.run_script(_UPSERT_FILES[2:])
            session.commit()
        except BaseException:
            session.rollback()
            raise
    assert counts is not None
    new_rows, updated_rows, kept_rows = (int(c or 0) for c in counts)
    stored = read_cursor(database, spool.day, spool.account)
    return IntradayWrite(
        stats=stats_from_row(row, spool.pages),
        new_rows=new_rows,
        updated_rows=updated_rows,
        kept_rows=kept_rows,
        cursor=stored,
    )
