"""The DuckDB warehouse: schema ``smspresto`` and idempotent, crash-safe partition writes.

A day of history is written in two steps so that memory stays bounded and the database's
single-writer lock is held only while there is something to write:

1. *Staging.* Pages are appended to a :class:`DaySpool`: each page becomes an Arrow record
   batch (the API's fields verbatim as strings, plus the recipient, country, carrier and status
   derived in Python, once per distinct value). A day stays in memory up to ``spill_rows`` rows;
   a larger day is spilled to a Parquet file in a temporary directory and streamed from there,
   so memory holds at most ``spill_rows`` rows and one page of it whatever its size. The database
   is not touched, so nothing is locked while the API is being read, and a crash leaves the
   tables as they were.
2. *Commit.* One transaction deletes the day from ``archive_raw`` and ``messages`` and inserts
   it again from the staged rows, typing the fields in SQL (``TRY_CAST``). Re-running a day
   therefore gives the same table, and no reader ever sees half a day. A :class:`DayWriter`
   commits the days of a run from one background thread, gathering finished days into
   transactions of tens of thousands of rows (each day whole: DuckDB writes one large
   transaction several times faster than many small ones), over one connection kept open while
   days keep coming and closed once none came for ``idle_release`` seconds.

DuckDB lets one process at a time open a file for writing. Connections are opened and closed
here (never kept after a failed statement), and a lock held by another process is waited for
with exponential backoff and jitter, up to ``lock_timeout`` seconds.

DuckDB names a file's catalog after its name, so a file called ``smspresto.duckdb`` makes
``smspresto.messages`` ambiguous (catalog or schema?). This module attaches the file under the
alias ``warehouse``, and the views name their tables without a schema, so both work whatever the
file is called; direct SQL on a ``smspresto.duckdb`` file must say ``smspresto.smspresto.x``.

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
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import os
import queue
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
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.models import ARCHIVE_FIELDS, AccountCounters, ArchiveRecord
from smspresto_pipeline.sms import migrate_legacy_ci, normalize_number, number_info

__all__ = [
    "DEFAULT_STATUS_MAP",
    "SCHEMA",
    "DaySpool",
    "DayWriter",
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
# Row groups of 16,384 rows instead of DuckDB's 122,880: an insert writes each full row group
# straight to the file, compressed once, so a transaction of a few tens of thousands of rows
# skips most of the write-ahead log and the checkpoint that rewrites it (measured: half the
# writer's time on a 300,000-message backfill). Files made with another size stay readable.
_ATTACH = "ATTACH ? AS warehouse (ROW_GROUP_SIZE 16384)"
_ATTACH_READ_ONLY = "ATTACH ? AS warehouse (READ_ONLY)"
#: Spool directories are named after the process that made them, so that the staging files of
#: a process that was killed can be told from those of one still running.
_SPOOL_PREFIX = "smspresto-spool-"

_STRING = pa.string()
_RAW_SCHEMA = pa.schema([pa.field(name, _STRING) for name in ARCHIVE_FIELDS])
_RAW_STRUCT = pa.struct(list(_RAW_SCHEMA))
# Staged pages come and go by the thousand: the system allocator hands their memory back,
# where Arrow's default pool (mimalloc) keeps it, and the process would stay tens of MB larger.
_POOL = pa.system_memory_pool()
_SPOOL_SCHEMA = pa.schema(
    [
        *_RAW_SCHEMA,
        pa.field("row_no", pa.int64()),
        pa.field("partition_date", pa.date32()),
        pa.field("norm_recipient", _STRING),
        pa.field("norm_recipient_valid", pa.bool_()),
        pa.field("norm_country", _STRING),
        pa.field("norm_carrier", _STRING),
        pa.field("norm_status", _STRING),
    ]
)

# Writers in one process take turns: DuckDB would otherwise abort one of two transactions that
# delete from the same table at once. Other processes are kept out by DuckDB's file lock.
_PROCESS_WRITE_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_WRITE_LOCKS_GUARD = threading.Lock()
_WARNED_PATHS: set[str] = set()


def _process_write_lock(path: Path) -> threading.RLock:
    with _PROCESS_WRITE_LOCKS_GUARD:
        return _PROCESS_WRITE_LOCKS.setdefault(str(path.resolve()), threading.RLock())


class _RowNumbers:
    """Numbers every staged row in the order it was received, across the days of a process.

    A history id staged twice (in one day, or in two days committed together) keeps the
    reading with the highest number: the last one received.
    """

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> int:
        with self._lock:
            first = self._next
            self._next += count
        return first


_ROW_NUMBERS = _RowNumbers()


def _attach(
    path: Path, *, read_only: bool, config: Mapping[str, str | int]
) -> duckdb.DuckDBPyConnection:
    # DuckDB names a file's catalog after the file: in `smspresto.duckdb`, `smspresto.messages`
    # would be ambiguous (catalog or schema?). Attach it under a fixed name.
    con = duckdb.connect(":memory:", config=dict(config))
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _remove_orphan_spools(directory: Path) -> list[Path]:
    """Delete the spool directories in ``directory`` whose process is gone; returns them.

    A process killed while staging a day leaves its directory behind; one still running (this
    one, or another run side by side) keeps its own. Only POSIX can tell: elsewhere nothing is
    removed.
    """
    if os.name != "posix":
        return []
    removed: list[Path] = []
    for path in directory.glob(f"{_SPOOL_PREFIX}*"):
        pid_text = path.name[len(_SPOOL_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        logger.info("removed %s, left by process %s which is gone", path, pid_text)
    return removed


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
    """One day's pages, staged outside the database until it is committed.

    Each page becomes one Arrow record batch at once, so the page's Python objects can go. Up
    to ``spill_rows`` rows stay in memory; past that the day is written to a Parquet file (in a
    directory named after this process, under ``directory`` or the system's temp dir) and
    every later page goes straight to it, so memory holds at most ``spill_rows`` rows and one
    page whatever the size of the day. Use it as a context manager (staged rows are dropped on
    exit), or call :meth:`Warehouse.write_partition`.

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
        derived: _Derived,
        spill_rows: int,
        directory: Path | None = None,
    ) -> None:
        self.day = day
        self.rows = 0
        self.pages = 0
        self._derived = derived
        self._spill_rows = spill_rows
        self._directory = directory
        self._batches: list[pa.RecordBatch] = []
        self._tmp: Path | None = None
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

    @property
    def path(self) -> Path | None:
        """The Parquet file of a spilled day; ``None`` while the day is held in memory."""
        return None if self._tmp is None else self._tmp / "day.parquet"

    @property
    def buffered_rows(self) -> int:
        """Rows held in memory now."""
        return sum(batch.num_rows for batch in self._batches)

    def add(self, page: Iterable[ArchiveRecord | Mapping[str, Any]]) -> None:
        """Stage one page of ``list-archive`` rows (records or raw mappings)."""
        if self._finished:
            raise RuntimeError(f"the spool of {self.day} was already finished")
        self.pages += 1
        rows = [r.raw if isinstance(r, ArchiveRecord) else r for r in page]
        if not rows:
            return
        batch = _record_batch(rows, _ROW_NUMBERS.take(len(rows)), self.day, self._derived)
        self.rows += len(rows)
        if self._writer is not None:
            self._writer.write_batch(batch)
            return
        self._batches.append(batch)
        if self.rows > self._spill_rows:
            self._spill()

    def finish(self) -> None:
        """End staging: no page can be added after this; a spilled file is closed."""
        if not self._finished:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._finished = True

    def source(self) -> pa.Table | ds.Dataset:
        """The staged rows: an Arrow table in memory, or a dataset over the spilled file."""
        self.finish()
        if self._tmp is None:
            return pa.Table.from_batches(self._batches, schema=_SPOOL_SCHEMA)
        return ds.dataset(str(self.path), format="parquet", schema=_SPOOL_SCHEMA)

    def discard(self) -> None:
        """Drop what was staged and delete the spilled file, if any."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._batches = []
        self._finished = True
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _spill(self) -> None:
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
        prefix = f"{_SPOOL_PREFIX}{os.getpid()}-{self.day.isoformat()}-"
        self._tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self._directory))
        assert self.path is not None
        # Uncompressed: the file lives for seconds, and compression costs more than it saves.
        self._writer = pq.ParquetWriter(self.path, _SPOOL_SCHEMA, compression="none")
        for batch in self._batches:
            self._writer.write_batch(batch)
        self._batches = []


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _raw_batch(rows: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_struct_array(pa.array(rows, _RAW_STRUCT, memory_pool=_POOL))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # A server that sends numbers as JSON numbers: the raw table keeps their text.
        columns = [[_text(row.get(name)) for row in rows] for name in ARCHIVE_FIELDS]
        return pa.RecordBatch.from_arrays(
            [pa.array(column, _STRING, memory_pool=_POOL) for column in columns],
            schema=_RAW_SCHEMA,
        )


class _Derived:
    """What is derived in Python from a row: its recipient's details and its status name.

    Each distinct number is worked out once and kept, as Arrow arrays, across pages and days:
    an account texts the same numbers again and again, and ``phonenumbers`` costs tens of
    microseconds a number. A page's numbers are matched to the known ones in C
    (``index_in``), so only numbers never seen before cost Python work.
    """

    _MAX_NUMBERS = 500_000
    _TYPES = (_STRING, pa.bool_(), _STRING, _STRING)

    def __init__(self, status_map: Mapping[str, str], region: str) -> None:
        self._status_map = status_map
        self._region = region
        self._known = pa.array([], _STRING)
        self._details = [pa.array([], kind) for kind in self._TYPES]

    def columns(self, numbers: pa.Array, codes: pa.Array) -> list[pa.Array]:
        """``norm_recipient``, ``norm_recipient_valid``, ``norm_country``, ``norm_carrier``
        and ``norm_status`` for the page's ``HIS_DESTINATAIRE`` and ``HIS_STATUT``."""
        positions = pc.index_in(numbers, value_set=self._known, skip_nulls=False, memory_pool=_POOL)
        if positions.null_count:
            self._learn(pc.unique(numbers.filter(positions.is_null()), memory_pool=_POOL))
            positions = pc.index_in(
                numbers, value_set=self._known, skip_nulls=False, memory_pool=_POOL
            )
        columns = [pc.take(details, positions, memory_pool=_POOL) for details in self._details]
        encoded = pc.dictionary_encode(codes, null_encoding="encode", memory_pool=_POOL)
        names = [
            "unknown" if code is None else self._status_map.get(code.strip(), "unknown")
            for code in encoded.dictionary.to_pylist()
        ]
        columns.append(pc.take(pa.array(names, _STRING), encoded.indices, memory_pool=_POOL))
        return columns

    def _learn(self, numbers: pa.Array) -> None:
        if len(self._known) + len(numbers) > self._MAX_NUMBERS:
            # Bounded memory on accounts with countless numbers: start again.
            self._known = pa.array([], _STRING)
            self._details = [pa.array([], kind) for kind in self._TYPES]
        details = [recipient_details(number or "", self._region) for number in numbers.to_pylist()]
        self._known = pa.concat_arrays([self._known, numbers], memory_pool=_POOL)
        self._details = [
            pa.concat_arrays([known, pa.array(values, kind)], memory_pool=_POOL)
            for known, values, kind in zip(
                self._details, zip(*details, strict=True), self._TYPES, strict=True
            )
        ]


def _record_batch(
    rows: Sequence[Mapping[str, Any]], first_row_no: int, day: date, derived: _Derived
) -> pa.RecordBatch:
    raw = _raw_batch(rows)
    count = len(rows)
    return pa.RecordBatch.from_arrays(
        [
            *raw.columns,
            pa.array(range(first_row_no, first_row_no + count), pa.int64(), memory_pool=_POOL),
            pa.repeat(pa.scalar(day, pa.date32()), count, memory_pool=_POOL),
            *derived.columns(raw.column("HIS_DESTINATAIRE"), raw.column("HIS_STATUT")),
        ],
        schema=_SPOOL_SCHEMA,
    )


def _staged(spools: Sequence[DaySpool]) -> pa.Table | ds.Dataset:
    """The staged rows of several days as one relation, in the order they were received."""
    sources = [spool.source() for spool in spools]
    tables = [s for s in sources if isinstance(s, pa.Table)]
    files = [s for s in sources if not isinstance(s, pa.Table)]
    table = pa.concat_tables(tables, memory_pool=_POOL) if tables else _SPOOL_SCHEMA.empty_table()
    if not files:
        return table
    return ds.dataset([ds.dataset(table), *files])


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # The error that made us roll back is the one worth raising; the connection is closed next.
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _stats(row: tuple[Any, ...], pages: int) -> PartitionStats:
    day, rows, delivered, failed, pending, unknown, segments, raw_rows, table_rows = row
    return PartitionStats(
        partition_date=day,
        rows=rows,
        delivered=delivered,
        failed=failed,
        pending=pending,
        unknown=unknown,
        segments=int(segments),
        pages=pages,
        raw_rows=raw_rows,
        table_rows=table_rows,
    )


def _staged_days(days: Sequence[date]) -> pa.Table:
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
    statements = [_sql(f"dml/{name}.sql").strip().rstrip(";") for name in files]
    return ";\n".join(["BEGIN TRANSACTION", *statements])


def _replace_days(
    con: duckdb.DuckDBPyConnection, spools: Sequence[DaySpool]
) -> list[PartitionStats]:
    """Replace the spools' days in one transaction on ``con``; rolls back on any error."""
    days = [spool.day for spool in spools]
    if len(set(days)) != len(days):
        raise ValueError(f"a day can be committed once per transaction, got {days}")
    con.register("staged", _staged(spools))
    con.register("staged_days", _staged_days(days))
    try:
        try:
            rows = con.execute(_replace_script(deduplicate=False)).fetchall()
        except duckdb.ConstraintException:
            # The same history_id staged twice: keep its last reading.
            _rollback(con)
            rows = con.execute(_replace_script(deduplicate=True)).fetchall()
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    finally:
        con.unregister("staged")
        con.unregister("staged_days")
    return [_stats(row, spool.pages) for row, spool in zip(rows, spools, strict=True)]


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
        spill_rows: rows of one day held in memory while it is read; a larger day is staged
            in a Parquet file.
        spool_dir: where spilled days are staged (the system's temp dir if None).
        memory_limit: DuckDB's memory limit per connection (e.g. ``"64MB"``, ``"2GB"``);
            larger sorts and aggregations spill to ``<path>.tmp``.
        threads: DuckDB's threads per connection.

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
        spill_rows: int = 20_000,
        spool_dir: str | Path | None = None,
        memory_limit: str = "64MB",
        threads: int = 1,
    ) -> None:
        if lock_timeout < 0 or lock_backoff <= 0 or lock_backoff_max < lock_backoff:
            raise ValueError(
                "need lock_timeout >= 0 and 0 < lock_backoff <= lock_backoff_max, got "
                f"{lock_timeout=}, {lock_backoff=}, {lock_backoff_max=}"
            )
        if spill_rows < 0:
            raise ValueError(f"spill_rows must be 0 or more, got {spill_rows}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.lock_backoff = lock_backoff
        self.lock_backoff_max = lock_backoff_max
        self.status_map: Mapping[str, str] = dict(
            DEFAULT_STATUS_MAP if status_map is None else status_map
        )
        self.default_region = default_region
        self.spill_rows = spill_rows
        self.spool_dir = None if spool_dir is None else Path(spool_dir)
        self.duckdb_config: Mapping[str, str | int] = {
            "memory_limit": memory_limit,
            "threads": threads,
            # Larger queries spill here (an in-memory connection has no temp directory).
            "temp_directory": f"{self.path}.tmp",
        }
        self._derived = _Derived(self.status_map, default_region)
        self._schema_ready = False
        self._orphans_checked = False
        self._warn_about_catalog_name()

    def __repr__(self) -> str:
        return f"Warehouse(path={str(self.path)!r})"

    def _warn_about_catalog_name(self) -> None:
        if self.path.stem != SCHEMA:
            return
        key = str(self.path.resolve())
        with _PROCESS_WRITE_LOCKS_GUARD:
            if key in _WARNED_PATHS:
                return
            _WARNED_PATHS.add(key)
        logger.warning(
            "%s is named like its schema: DuckDB names the file's catalog %r too, so SQL run "
            "directly on this file must write smspresto.smspresto.messages (smspresto.messages "
            "is ambiguous there). This library and its views are not affected; another file "
            "name (e.g. smspresto_warehouse.duckdb) avoids the clash.",
            self.path,
            SCHEMA,
        )

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
        """A new, empty staging area for ``day``.

        The first call also deletes what killed processes left in the spool directory.
        """
        if not self._orphans_checked:
            self._orphans_checked = True
            _remove_orphan_spools(self.spool_dir or Path(tempfile.gettempdir()))
        return DaySpool(
            day,
            derived=self._derived,
            spill_rows=self.spill_rows,
            directory=self.spool_dir,
        )

    def commit(self, spool: DaySpool) -> PartitionStats:
        """Replace the spool's day in ``archive_raw`` and ``messages`` in one transaction.

        Idempotent: committing the same pages again gives the same tables (``loaded_at`` aside).
        On any error the transaction is rolled back and the connection closed.
        """
        return self.commit_days([spool])[0]

    def commit_days(self, spools: Sequence[DaySpool]) -> list[PartitionStats]:
        """Replace several days (each at most once) in one transaction; their stats in order."""
        if not spools:
            return []
        with _process_write_lock(self.path), self.connect() as con:
            return _replace_days(con, spools)

    def writer(self, **options: Any) -> DayWriter:
        """A :class:`DayWriter` committing days of this warehouse from a background thread;
        ``options`` are its keyword arguments."""
        return DayWriter(self, **options)

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
            con.register("staged_days", _staged_days([day]))
            row = con.execute(_sql("dml/select_partition_stats.sql")).fetchone()
        assert row is not None
        return _stats(row, 0)

    def previews(self, days: Iterable[date], *, limit: int = 5) -> dict[date, list[dict[str, Any]]]:
        """The first ``limit`` messages of each day (by creation time), as dicts, by day."""
        result: dict[date, list[dict[str, Any]]] = {day: [] for day in days}
        if not result or limit < 1:
            return result
        with self.connect(read_only=True) as con:
            cursor = con.execute(
                _sql("dml/select_partition_previews.sql"),
                {"days": list(result), "limit": limit},
            )
            names = [d[0] for d in cursor.description or ()][1:]
            for day, *row in cursor.fetchall():
                result[day].append(dict(zip(names, row, strict=True)))
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
            counts: dict[str, int] = {}
            for name in _view_names(con):
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
                return _attach(self.path, read_only=read_only, config=self.duckdb_config)
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


def _view_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = ? AND NOT internal ORDER BY view_name",
            [SCHEMA],
        ).fetchall()
    ]


@dataclasses.dataclass(slots=True)
class _Job:
    spool: DaySpool
    future: concurrent.futures.Future[PartitionStats]
    queued_at: float = dataclasses.field(default_factory=time.monotonic)


_FLUSH = object()
_STOP = object()


class DayWriter:
    """Commits finished days from one background thread, several days per transaction.

    DuckDB writes a large transaction much faster than many small ones (a small one goes through
    the write-ahead log, then a checkpoint, and every call into DuckDB trades the GIL with the
    thread reading the API). So days are gathered: a transaction is started once ``batch_rows``
    rows are queued, or once no day came for ``linger`` seconds, or once the oldest queued day
    waited ``max_delay`` seconds, or on :meth:`flush`. Each day still goes in whole or not at
    all: a transaction replaces every day it holds (a day that fails takes the others of its
    transaction down only until they are retried, each alone).

    Memory stays bounded: :meth:`enqueue` waits while ``max_staged_rows`` rows are queued or
    being written. The connection, and with it the file's write lock, is kept while days keep
    coming and closed once none came for ``idle_release`` seconds, so that other processes get
    their turn; a failed statement closes it at once. A spool handed to the writer is the
    writer's: it is discarded once committed.

    Example:
        .. code-block:: python

            with warehouse.writer() as writer:
                spool = warehouse.spool(day)
                spool.add(page)
                stats = await writer.commit(spool)   # or writer.submit(spool).result()
    """

    def __init__(
        self,
        warehouse: Warehouse,
        *,
        batch_rows: int = 40_000,
        max_staged_rows: int | None = None,
        linger: float = 0.1,
        max_delay: float = 2.0,
        idle_release: float = 0.2,
    ) -> None:
        staged = 2 * batch_rows if max_staged_rows is None else max_staged_rows
        if batch_rows < 1 or staged < batch_rows:
            raise ValueError(
                f"need 1 <= batch_rows <= max_staged_rows, got {batch_rows=}, {max_staged_rows=}"
            )
        if min(linger, max_delay, idle_release) < 0:
            raise ValueError(
                f"linger, max_delay and idle_release must not be negative, got {linger=}, "
                f"{max_delay=}, {idle_release=}"
            )
        self._warehouse = warehouse
        self._batch_rows = batch_rows
        self._max_staged_rows = staged
        self._linger = linger
        self._max_delay = max_delay
        self._idle_release = idle_release
        self._jobs: queue.Queue[_Job | object] = queue.Queue()
        self._staged_rows = 0  # rows enqueued and not committed yet (event loop side)
        self._room: asyncio.Event | None = None  # set when a commit made room
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"smspresto-writer-{warehouse.path.name}", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> DayWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def submit(self, spool: DaySpool) -> concurrent.futures.Future[PartitionStats]:
        """Queue a finished day; the future gives its stats once it is committed."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        spool.finish()
        future: concurrent.futures.Future[PartitionStats] = concurrent.futures.Future()
        self._jobs.put(_Job(spool, future))
        return future

    async def enqueue(self, spool: DaySpool) -> asyncio.Future[PartitionStats]:
        """Wait for room (``max_staged_rows``), queue a finished day, return its future stats.

        The caller may go on reading the next day while this one waits for its transaction.
        """
        if self._room is None:
            self._room = asyncio.Event()
        room = self._room
        rows = spool.rows
        while self._staged_rows and self._staged_rows + rows > self._max_staged_rows:
            room.clear()
            await room.wait()
        self._staged_rows += rows
        future = asyncio.wrap_future(self.submit(spool))

        def committed(_: asyncio.Future[PartitionStats]) -> None:
            self._staged_rows -= rows
            room.set()

        future.add_done_callback(committed)
        return future

    async def commit(self, spool: DaySpool) -> PartitionStats:
        """Queue a finished day and wait for its commit without blocking the event loop."""
        return await (await self.enqueue(spool))

    def flush(self) -> None:
        """Start a transaction with the days queued now, without waiting for more."""
        self._jobs.put(_FLUSH)

    def close(self) -> None:
        """Commit what is queued, close the connection, stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        connection: duckdb.DuckDBPyConnection | None = None
        lock = _process_write_lock(self._warehouse.path)
        pending: list[_Job] = []
        stopping = False
        try:
            while pending or not stopping:
                if not pending and not stopping:
                    try:
                        item = self._jobs.get(
                            timeout=None if connection is None else self._idle_release
                        )
                    except queue.Empty:
                        connection = self._release(connection, lock)
                        continue
                    stopping = item is _STOP
                    if isinstance(item, _Job):
                        pending.append(item)
                    continue
                if not stopping:
                    stopping = self._gather(pending)
                batch = self._batch(pending)
                connection = self._commit_batch(batch, connection, lock)
        finally:
            self._release(connection, lock)

    def _gather(self, pending: list[_Job]) -> bool:
        """Add queued days to ``pending`` until a transaction is due; True when stopping."""
        rows = sum(job.spool.rows for job in pending)
        deadline = pending[0].queued_at + self._max_delay
        while rows < self._batch_rows:
            wait = min(self._linger, deadline - time.monotonic())
            if wait <= 0:
                return False
            try:
                item = self._jobs.get(timeout=wait)
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            if item is _FLUSH:
                return False
            assert isinstance(item, _Job)
            pending.append(item)
            rows += item.spool.rows
        return False

    def _batch(self, pending: list[_Job]) -> list[_Job]:
        """Take from ``pending`` the next transaction: each day once, about ``batch_rows``."""
        batch: list[_Job] = []
        days: set[date] = set()
        rows = 0
        rest: list[_Job] = []
        for job in pending:
            if job.spool.day in days or (batch and rows >= self._batch_rows):
                rest.append(job)  # a second reading of a day goes in a later transaction
                continue
            batch.append(job)
            days.add(job.spool.day)
            rows += job.spool.rows
        pending[:] = rest
        return batch

    def _commit_batch(
        self,
        batch: list[_Job],
        connection: duckdb.DuckDBPyConnection | None,
        lock: threading.RLock,
    ) -> duckdb.DuckDBPyConnection | None:
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        try:
            if not jobs:
                return connection
            if connection is None:
                try:
                    connection = self._acquire(lock)
                except BaseException as exc:
                    for job in jobs:
                        job.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    return None
            try:
                results = _replace_days(connection, [job.spool for job in jobs])
            except BaseException as exc:
                self._release(connection, lock)
                if len(jobs) == 1 or not isinstance(exc, Exception):
                    for job in jobs:
                        job.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    return None
                # One bad day must not fail the others: each is tried again alone.
                for job in jobs:
                    try:
                        job.future.set_result(self._warehouse.commit(job.spool))
                    except Exception as alone:  # handed to the caller
                        job.future.set_exception(alone)
                return None
            for job, stats in zip(jobs, results, strict=True):
                job.future.set_result(stats)
            return connection
        finally:
            for job in batch:
                job.spool.discard()

    def _acquire(self, lock: threading.RLock) -> duckdb.DuckDBPyConnection:
        if not self._warehouse._schema_ready:
            self._warehouse.ensure_schema()
        lock.acquire()
        try:
            return self._warehouse._open(read_only=False)
        except BaseException:
            lock.release()
            raise

    @staticmethod
    def _release(connection: duckdb.DuckDBPyConnection | None, lock: threading.RLock) -> None:
        if connection is not None:
            try:
                connection.close()
            finally:
                lock.release()
