"""The DuckDB warehouse: schema ``smspresto`` and idempotent, crash-safe partition writes.

A day of history is written in two steps so that memory stays bounded by a few pages and the
database's single-writer lock is held only briefly:

1. *Staging.* Pages are appended to a :class:`DaySpool`: every few thousand rows are turned into
   an Arrow record batch (the API's fields verbatim as strings, plus the recipient, country,
   carrier and status derived in Python, cached per distinct number) and written to a Parquet
   file in a temporary directory. The database is not touched, so nothing is locked while the
   API is being read, and a crash leaves the tables as they were.
2. *Commit.* One short transaction per day deletes the day from ``archive_raw`` and ``messages``
   and inserts it again from the Parquet file, typing the fields in SQL (``TRY_CAST``). Re-running
   a day therefore gives the same table, and no reader ever sees half a day.

DuckDB lets one process at a time open a file for writing. Connections are opened and closed
here (never kept after a failed statement), and a lock held by another process is waited for
with exponential backoff and jitter, up to ``lock_timeout`` seconds.

SQL lives in ``sql/`` (``ddl/``, ``dml/``, ``analytics/``), read at run time with bound
parameters. In an installed wheel the directory ships as ``smspresto_pipeline/sql``.

Example:
    >>> import tempfile, pathlib, datetime
    >>> from smspresto_pipeline.models import ArchiveRecord
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb"
    >>> warehouse = Warehouse(path)
    >>> page = [ArchiveRecord({"IDHISTORIQUE": "1", "HIS_DESTINATAIRE": "+2250708081488",
    ...                        "HIS_STATUT": "1", "HIS_NOMBRESMS": "1"})]
    >>> stats = warehouse.write_partition(datetime.date(2024, 5, 1), [page])
    >>> stats.rows, stats.delivered, stats.failure_rate
    (1, 1, 0.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.models import ARCHIVE_FIELDS, AccountCounters, ArchiveRecord
from smspresto_pipeline.sms import migrate_legacy_ci, normalize_number, number_info

__all__ = [
    "DEFAULT_STATUS_MAP",
    "SCHEMA",
    "DaySpool",
    "PartitionStats",
    "Warehouse",
    "WarehouseLockedError",
    "recipient_details",
    "sql_dir",
]

logger = logging.getLogger(__name__)

#: The schema every table and view lives in.
SCHEMA = "smspresto"

#: ``HIS_STATUT`` is undocumented; this is the default reading of it (DESIGN.md section 3).
DEFAULT_STATUS_MAP: Mapping[str, str] = MappingProxyType(
    {"0": "pending", "1": "delivered", "2": "failed"}
)

_LOCK_MESSAGES = ("could not set lock on file", "conflicting lock")
_ATTACH = "ATTACH ? AS warehouse"
_ATTACH_READ_ONLY = "ATTACH ? AS warehouse (READ_ONLY)"

_DERIVED_FIELDS = (
    "norm_recipient",
    "norm_recipient_valid",
    "norm_country",
    "norm_carrier",
    "norm_status",
)

_SPOOL_SCHEMA = pa.schema(
    [pa.field(name, pa.string()) for name in ARCHIVE_FIELDS]
    + [
        pa.field("row_no", pa.int64()),
        pa.field("norm_recipient", pa.string()),
        pa.field("norm_recipient_valid", pa.bool_()),
        pa.field("norm_country", pa.string()),
        pa.field("norm_carrier", pa.string()),
        pa.field("norm_status", pa.string()),
    ]
)

# Writers in one process take turns: DuckDB would otherwise abort one of two transactions that
# delete from the same table at once. Other processes are kept out by DuckDB's file lock.
_PROCESS_WRITE_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_WRITE_LOCKS_GUARD = threading.Lock()


def _process_write_lock(path: Path) -> threading.RLock:
    with _PROCESS_WRITE_LOCKS_GUARD:
        return _PROCESS_WRITE_LOCKS.setdefault(str(path.resolve()), threading.RLock())


def _attach(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    # DuckDB names a file's catalog after the file: in `smspresto.duckdb` (the default path),
    # `smspresto.messages` would be ambiguous (catalog or schema?). Attach it under a fixed name.
    con = duckdb.connect(":memory:")
    try:
        con.execute(_ATTACH_READ_ONLY if read_only else _ATTACH, [str(path)])
        con.execute("USE warehouse")
    except BaseException:
        con.close()
        raise
    return con


class WarehouseLockedError(RuntimeError):
    """Raised when another process kept the DuckDB file locked for longer than allowed."""


def sql_dir() -> Path:
    """The directory holding ``ddl/``, ``dml/`` and ``analytics/``.

    ``smspresto_pipeline/sql`` in an installed wheel, ``sql/`` at the root of a checkout.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "sql", package.parent / "sql"):
        if (candidate / "ddl").is_dir():
            return candidate
    raise FileNotFoundError(f"no sql/ddl directory next to or above {package}")


@functools.cache
def _sql(relative: str) -> str:
    return (sql_dir() / relative).read_text(encoding="utf-8")


def _ddl_statements() -> list[str]:
    files = sorted((sql_dir() / "ddl").glob("*.sql"))
    # The schema must exist before the tables in it; the rest are independent of each other.
    files.sort(key=lambda p: (p.name != "create_smspresto_schema.sql", p.name))
    return [p.read_text(encoding="utf-8") for p in files]


@functools.lru_cache(maxsize=262_144)
def recipient_details(raw: str, region: str = "CI") -> tuple[str, bool, str | None, str | None]:
    """How a history row's ``HIS_DESTINATAIRE`` is stored: ``(recipient, valid, country, carrier)``.

    The E.164 form when the number is valid or is a pre-2021 Ivorian mobile number that the
    2021 renumbering maps to a valid one; otherwise the raw string with ``valid`` False (the
    history keeps every message). Cached per distinct number and region.

    Example:
        >>> recipient_details("+22508081488")
        ('+2250708081488', True, 'CI', 'Orange')
    """
    try:
        e164: str | None = normalize_number(raw, region)
    except SMSValidationError:
        e164 = migrate_legacy_ci(raw)
        if e164 is not None:
            try:
                e164 = normalize_number(e164, region)
            except SMSValidationError:
                e164 = None
    if e164 is None:
        country, carrier = number_info(raw.strip()) if raw.strip().startswith("+") else (None, None)
        return raw, False, country, carrier
    country, carrier = number_info(e164)
    return e164, True, country, carrier


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionStats:
    """What one day holds after it was written.

    Attributes:
        partition_date: the day.
        rows: messages stored for the day (one per ``history_id``).
        delivered / failed / pending / unknown: messages per status (``unknown`` is any status
            name other than the three).
        segments: billed segments summed over the day's messages.
        pages: API pages read for the day.
        raw_rows: rows kept verbatim in ``archive_raw`` (more than ``rows`` only when the API
            sent rows without a numeric id, or the same id twice).
        table_rows: rows in the whole ``messages`` table right after the write.
    """

    partition_date: date
    rows: int
    delivered: int
    failed: int
    pending: int
    unknown: int
    segments: int
    pages: int = 0
    raw_rows: int = 0
    table_rows: int = 0

    @property
    def failure_rate(self) -> float | None:
        """``failed / (delivered + failed)``; ``None`` while no message of the day is final.

        ``None`` rather than 0.0: a day with nothing final says nothing about delivery, and a
        spike check must neither call it healthy nor alarming.
        """
        final = self.delivered + self.failed
        return None if final == 0 else self.failed / final


class DaySpool:
    """One day's pages, staged as Parquet outside the database until :meth:`Warehouse.commit`.

    Rows are buffered and written as one Arrow record batch every ``chunk_rows`` rows, so memory
    holds at most one chunk and one page whatever the size of the day. Use it as a context
    manager (the file is deleted on exit), or call :meth:`Warehouse.write_partition`.

    Example:
        >>> import tempfile, pathlib, datetime
        >>> warehouse = Warehouse(pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb")
        >>> with warehouse.spool(datetime.date(2024, 5, 1)) as spool:
        ...     spool.add([ArchiveRecord({"IDHISTORIQUE": "7", "HIS_STATUT": "2"})])
        ...     warehouse.commit(spool).failed
        1
    """

    def __init__(
        self,
        day: date,
        *,
        status_map: Mapping[str, str],
        region: str,
        chunk_rows: int,
        directory: Path | None = None,
    ) -> None:
        self.day = day
        self.rows = 0
        self.pages = 0
        self._status_map = status_map
        self._region = region
        self._chunk_rows = chunk_rows
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f"smspresto-{day.isoformat()}-", dir=directory))
        self.path = self._tmp / "day.parquet"
        self._buffer: list[Mapping[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._finished = False

    def __enter__(self) -> DaySpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()

    def add(self, page: Iterable[ArchiveRecord | Mapping[str, Any]]) -> None:
        """Stage one page of ``list-archive`` rows (records or raw mappings)."""
        if self._finished:
            raise RuntimeError(f"the spool of {self.day} was already finished")
        self.pages += 1
        for record in page:
            self._buffer.append(record.raw if isinstance(record, ArchiveRecord) else record)
            if len(self._buffer) >= self._chunk_rows:
                self._flush()

    def finish(self) -> Path:
        """Write what is buffered and close the file; returns its path."""
        if not self._finished:
            self._flush()
            if self._writer is None:
                pq.write_table(_SPOOL_SCHEMA.empty_table(), self.path)
            else:
                self._writer.close()
                self._writer = None
            self._finished = True
        return self.path

    def discard(self) -> None:
        """Close and delete the staged file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._buffer.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _flush(self) -> None:
        if not self._buffer:
            return
        batch = _record_batch(self._buffer, self.rows, self._status_map, self._region)
        if self._writer is None:
            # Uncompressed: the file lives for seconds, and compression costs more than it saves.
            self._writer = pq.ParquetWriter(self.path, _SPOOL_SCHEMA, compression="none")
        self._writer.write_batch(batch)
        self.rows += len(self._buffer)
        self._buffer.clear()


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _record_batch(
    rows: Sequence[Mapping[str, Any]],
    first_row_no: int,
    status_map: Mapping[str, str],
    region: str,
) -> pa.RecordBatch:
    columns: dict[str, list[Any]] = {
        field: [_text(row.get(field)) for row in rows] for field in ARCHIVE_FIELDS
    }
    derived = [recipient_details(raw or "", region) for raw in columns["HIS_DESTINATAIRE"]]
    columns["norm_recipient"] = [d[0] for d in derived]
    columns["norm_recipient_valid"] = [d[1] for d in derived]
    columns["norm_country"] = [d[2] for d in derived]
    columns["norm_carrier"] = [d[3] for d in derived]
    columns["norm_status"] = [
        status_map.get(code.strip(), "unknown") if code is not None else "unknown"
        for code in columns["HIS_STATUT"]
    ]
    arrays = [
        pa.array(columns[name], type=_SPOOL_SCHEMA.field(name).type)
        if name != "row_no"
        else pa.array(range(first_row_no, first_row_no + len(rows)), type=pa.int64())
        for name in _SPOOL_SCHEMA.names
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=_SPOOL_SCHEMA)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # The error that made us roll back is the one worth raising; the connection is closed next.
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


class Warehouse:
    """The ``smspresto`` schema in one DuckDB file, and the writes the assets make to it.

    Args:
        path: the DuckDB file (created with its parent directory when missing).
        lock_timeout: seconds to keep retrying while another process holds the file's lock.
        lock_backoff: first retry delay in seconds; doubles each retry (with jitter), capped
            at ``lock_backoff_max``.
        lock_backoff_max: the longest single wait between two attempts.
        status_map: ``HIS_STATUT`` codes to status names; other codes become ``unknown``.
        default_region: the region used to read recipient numbers without a ``+``.
        chunk_rows: rows staged per Arrow batch while a day is read.
        spool_dir: where days are staged before their commit (the system's temp dir if None).

    Example:
        >>> import tempfile, pathlib
        >>> warehouse = Warehouse(pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb")
        >>> with warehouse.connect(read_only=True) as con:
        ...     con.execute("SELECT count(*) FROM smspresto.messages").fetchone()
        (0,)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout: float = 120.0,
        lock_backoff: float = 0.05,
        lock_backoff_max: float = 2.0,
        status_map: Mapping[str, str] | None = None,
        default_region: str = "CI",
        chunk_rows: int = 5_000,
        spool_dir: str | Path | None = None,
    ) -> None:
        if lock_timeout < 0 or lock_backoff <= 0 or lock_backoff_max < lock_backoff:
            raise ValueError(
                "need lock_timeout >= 0 and 0 < lock_backoff <= lock_backoff_max, got "
                f"{lock_timeout=}, {lock_backoff=}, {lock_backoff_max=}"
            )
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.lock_backoff = lock_backoff
        self.lock_backoff_max = lock_backoff_max
        self.status_map: Mapping[str, str] = dict(
            DEFAULT_STATUS_MAP if status_map is None else status_map
        )
        self.default_region = default_region
        self.chunk_rows = chunk_rows
        self.spool_dir = None if spool_dir is None else Path(spool_dir)
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"Warehouse(path={str(self.path)!r})"

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file (waiting out another process's lock), yield the connection, close it.

        The schema is created on the first writing connection of this object (and by a
        read-only one when the file does not exist yet).

        Raises:
            WarehouseLockedError: when the lock was still held after ``lock_timeout`` seconds.
        """
        if not self._schema_ready and not (read_only and self.path.exists()):
            self.ensure_schema()
        con = self._open(read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    def ensure_schema(self) -> None:
        """Create the schema and its tables if they are missing (idempotent)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _process_write_lock(self.path):
            con = self._open(read_only=False)
            try:
                for statement in _ddl_statements():
                    con.execute(statement)
            finally:
                con.close()
        self._schema_ready = True

    def spool(self, day: date) -> DaySpool:
        """A new, empty staging file for ``day``."""
        return DaySpool(
            day,
            status_map=self.status_map,
            region=self.default_region,
            chunk_rows=self.chunk_rows,
            directory=self.spool_dir,
        )

    def commit(self, spool: DaySpool) -> PartitionStats:
        """Replace the spool's day in ``archive_raw`` and ``messages`` in one transaction.

        Idempotent: committing the same pages again gives the same tables (``loaded_at`` aside).
        On any error the transaction is rolled back and the connection closed.
        """
        path = str(spool.finish())
        params = {
            "partition_date": spool.day,
            "loaded_at": datetime.now(UTC).replace(tzinfo=None),
            "spool_path": path,
        }
        day_only = {"partition_date": spool.day}
        with _process_write_lock(self.path), self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(_sql("dml/delete_archive_raw_partition.sql"), day_only)
                con.execute(
                    _sql("dml/insert_archive_raw_partition.sql"),
                    {k: params[k] for k in ("partition_date", "loaded_at", "spool_path")},
                )
                con.execute(_sql("dml/delete_messages_partition.sql"), day_only)
                con.execute(_sql("dml/delete_messages_by_spooled_ids.sql"), {"spool_path": path})
                con.execute(_sql("dml/insert_messages_partition.sql"), params)
                row = con.execute(_sql("dml/select_partition_stats.sql"), day_only).fetchone()
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
        assert row is not None
        rows, delivered, failed, pending, unknown, segments, raw_rows, table_rows = row
        return PartitionStats(
            partition_date=spool.day,
            rows=rows,
            delivered=delivered,
            failed=failed,
            pending=pending,
            unknown=unknown,
            segments=int(segments),
            pages=spool.pages,
            raw_rows=raw_rows,
            table_rows=table_rows,
        )

    def write_partition(
        self, day: date, pages: Iterable[Iterable[ArchiveRecord | Mapping[str, Any]]]
    ) -> PartitionStats:
        """Stage every page of ``day``, then replace the day in one transaction.

        If ``pages`` raises, nothing is written and the day keeps its previous contents.
        """
        with self.spool(day) as spool:
            for page in pages:
                spool.add(page)
            return self.commit(spool)

    async def write_partition_async(
        self, day: date, pages: AsyncIterable[Iterable[ArchiveRecord | Mapping[str, Any]]]
    ) -> PartitionStats:
        """:meth:`write_partition` for an async page source; the commit runs in a thread."""
        with self.spool(day) as spool:
            async for page in pages:
                spool.add(page)
            return await asyncio.to_thread(self.commit, spool)

    def partition_stats(self, day: date) -> PartitionStats:
        """The figures of a day as stored now (``pages`` is 0: nothing was read)."""
        with self.connect(read_only=True) as con:
            row = con.execute(
                _sql("dml/select_partition_stats.sql"), {"partition_date": day}
            ).fetchone()
        assert row is not None
        rows, delivered, failed, pending, unknown, segments, raw_rows, table_rows = row
        return PartitionStats(
            day, rows, delivered, failed, pending, unknown, int(segments), 0, raw_rows, table_rows
        )

    def previews(self, days: Iterable[date], *, limit: int = 5) -> dict[date, list[dict[str, Any]]]:
        """The first ``limit`` messages of each day (by creation time), as dicts, by day."""
        result: dict[date, list[dict[str, Any]]] = {}
        with self.connect(read_only=True) as con:
            for day in days:
                cursor = con.execute(
                    _sql("dml/select_partition_preview.sql"),
                    {"partition_date": day, "limit": limit},
                )
                names = [d[0] for d in cursor.description or ()]
                result[day] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return result

    def insert_snapshot(self, counters: AccountCounters) -> int:
        """Append one row of counters to ``account_snapshots``; returns the table's row count."""
        taken_at = counters.taken_at
        if taken_at.tzinfo is not None:
            taken_at = taken_at.astimezone(UTC).replace(tzinfo=None)
        with _process_write_lock(self.path), self.connect() as con:
            con.execute(
                _sql("dml/insert_account_snapshot.sql"),
                {"taken_at": taken_at, **counters.as_dict()},
            )
            row = con.execute(_sql("dml/count_account_snapshots.sql")).fetchone()
        assert row is not None
        return int(row[0])

    def create_views(self) -> dict[str, int]:
        """(Re)create every view of ``sql/analytics``; returns each view's row count by name."""
        files = sorted((sql_dir() / "analytics").glob("*.sql"))
        with _process_write_lock(self.path), self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for file in files:
                    con.execute(file.read_text(encoding="utf-8"))
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
            names = [
                row[0]
                for row in con.execute(
                    "SELECT view_name FROM duckdb_views() WHERE schema_name = ? "
                    "AND NOT internal ORDER BY view_name",
                    [SCHEMA],
                ).fetchall()
            ]
            counts: dict[str, int] = {}
            for name in names:
                # A view name comes from the catalog, not from input; identifiers can't be bound.
                row = con.execute(f'SELECT count(*) FROM {SCHEMA}."{name}"').fetchone()
                counts[name] = int(row[0]) if row else 0
        return counts

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        delay = self.lock_backoff
        attempts = 0
        while True:
            attempts += 1
            try:
                return _attach(self.path, read_only=read_only)
            except duckdb.IOException as exc:
                if not any(m in str(exc).lower() for m in _LOCK_MESSAGES):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WarehouseLockedError(
                        f"{self.path} stayed locked by another process for "
                        f"{self.lock_timeout:g} s ({attempts} attempts): {exc}"
                    ) from exc
                pause = min(remaining, delay * random.uniform(0.5, 1.5))  # noqa: S311
                logger.debug("%s is locked; retrying in %.2f s", self.path, pause)
                time.sleep(pause)
                delay = min(delay * 2, self.lock_backoff_max)
