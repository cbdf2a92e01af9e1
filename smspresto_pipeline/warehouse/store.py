"""The warehouse: the ``smspresto`` schema in one DuckDB file and the writes made to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import threading
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from smspresto_pipeline.api.models import AccountCounters, ArchiveRecord
from smspresto_pipeline.storage.queries import group_files
from smspresto_pipeline.warehouse.connection import (
    LockWaits,
    open_connection,
    process_write_lock,
    release,
    rollback,
)
from smspresto_pipeline.warehouse.enrich import DEFAULT_STATUS_MAP, Enricher
from smspresto_pipeline.warehouse.migrate import upgrade_tables
from smspresto_pipeline.warehouse.queries import SCHEMA, ddl_statements, load_sql
from smspresto_pipeline.warehouse.replace import replace_days, staged_days
from smspresto_pipeline.warehouse.staging import DaySpool, remove_orphan_spools
from smspresto_pipeline.warehouse.stats import PartitionStats, stats_from_row
from smspresto_pipeline.warehouse.timestamps import utc_naive
from smspresto_pipeline.warehouse.writer import DayWriter

__all__ = ["Warehouse"]

logger = logging.getLogger(__name__)


# Paths warned about once per process (see _warn_about_catalog_name).
_WARNED_PATHS: set[str] = set()
_WARNED_PATHS_GUARD = threading.Lock()


class Warehouse:
    """The ``smspresto`` schema in one DuckDB file, and the writes the assets make to it.

    Args:
        path: the DuckDB file (created with its parent directory when missing).
        lock_timeout: seconds this object may spend, in all, waiting for other processes'
            locks (one run uses one object: the limit is per run, not per attempt).
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
        log: where waits for another process's lock are reported (when they start, every
            ``lock_report_every`` seconds, when they end); this module's logger if None.
        lock_report_every: seconds between two reports of the same wait.

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
        log: logging.Logger | None = None,
        lock_report_every: float = 30.0,
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
        self.lock_waits = LockWaits(lock_timeout, log=log, report_every=lock_report_every)
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
        self._derived = Enricher(self.status_map, default_region)
        self._schema_ready = False
        self._orphans_checked = False
        self._instance: duckdb.DuckDBPyConnection | None = None
        self._warn_about_catalog_name()

    def __repr__(self) -> str:
        return f"Warehouse(path={str(self.path)!r})"

    def _warn_about_catalog_name(self) -> None:
        if self.path.stem != SCHEMA:
            return
        key = str(self.path.resolve())
        with _WARNED_PATHS_GUARD:
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
            WarehouseLockedError: when the lock was still held once ``lock_timeout`` seconds
                of waiting were spent.
            WarehouseOpenError: when DuckDB cannot open the file for another reason.
        """
        if not self._schema_ready and not (read_only and self.path.exists()):
            self.ensure_schema()
        con = self._open(read_only=read_only)
        try:
            yield con
        finally:
            release(con, kept=self.keeps_instance)

    @property
    def keeps_instance(self) -> bool:
        """Whether this object's connections attach to a kept instance now (see below)."""
        return self._instance is not None

    @contextlib.contextmanager
    def kept_instance(self) -> Iterator[None]:
        """Within the block, this object's connections attach the file to one kept DuckDB
        instance and detach it when they close (the file is free for other processes between
        two of them, as ever): for a loop of short transactions, such as a send's one per
        batch, each then costs ~1 ms to open instead of ~25 ms. Use from one thread."""
        self._instance = duckdb.connect(":memory:", config=dict(self.duckdb_config))
        try:
            yield
        finally:
            instance, self._instance = self._instance, None
            instance.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writing connection inside one transaction: committed when the block ends, rolled
        back (and the connection closed, releasing the file) when it raises.

        Writers of this file in this process take turns; another process's lock is waited out.

        Raises:
            WarehouseLockedError: when the lock was still held after ``lock_timeout`` seconds.
        """
        with process_write_lock(self.path), self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                rollback(con)
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection that first waits for this process's writers of the file.

        DuckDB refuses to attach a file that another connection of the same process has
        attached ("Unique file handle conflict"), so a read taken while a writer works would
        fail; here it waits for the writer's transaction instead. Another process's lock is
        waited out as by :meth:`connect`.
        """
        with process_write_lock(self.path), self.connect(read_only=True) as con:
            yield con

    def ensure_schema(self) -> None:
        """Create the schema and its tables if they are missing (idempotent).

        An outbox or opt-out table made by an older DDL gets the columns added since, or is
        recreated when it is empty.

        Raises:
            WarehouseSchemaError: when such an older table already holds rows.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with process_write_lock(self.path):
            con = self._open(read_only=False)
            try:
                for statement in ddl_statements():
                    con.execute(statement)
                upgrade_tables(con)
            finally:
                release(con, kept=self.keeps_instance)
        self._schema_ready = True

    def spool(self, day: date) -> DaySpool:
        """A new, empty staging area for ``day``.

        The first call also deletes what killed processes left in the spool directory.
        """
        if not self._orphans_checked:
            self._orphans_checked = True
            remove_orphan_spools(self.spool_dir or Path(tempfile.gettempdir()))
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
        with process_write_lock(self.path), self.connect() as con:
            return replace_days(con, spools)

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
            con.register("staged_days", staged_days([day]))
            row = con.execute(load_sql("dml/select_partition_stats.sql")).fetchone()
        assert row is not None
        return stats_from_row(row, 0)

    def previews(self, days: Iterable[date], *, limit: int = 5) -> dict[date, list[dict[str, Any]]]:
        """The first ``limit`` messages of each day (by creation time), as dicts, by day."""
        result: dict[date, list[dict[str, Any]]] = {day: [] for day in days}
        if not result or limit < 1:
            return result
        with self.connect(read_only=True) as con:
            cursor = con.execute(
                load_sql("dml/select_partition_previews.sql"),
                {"days": list(result), "limit": limit},
            )
            names = [d[0] for d in cursor.description or ()][1:]
            for day, *row in cursor.fetchall():
                result[day].append(dict(zip(names, row, strict=True)))
        return result

    def count_messages(self) -> int:
        """The rows of ``messages`` now: the whole table, every day."""
        with self.connect(read_only=True) as con:
            row = con.execute(load_sql("dml/count_messages.sql")).fetchone()
        assert row is not None
        return int(row[0])

    def insert_snapshot(self, counters: AccountCounters) -> int:
        """Append one row of counters to ``account_snapshots``; returns the table's row count."""
        taken_at = utc_naive(counters.taken_at)
        with process_write_lock(self.path), self.connect() as con:
            con.execute(
                load_sql("dml/insert_account_snapshot.sql"),
                {"taken_at": taken_at, **counters.as_dict()},
            )
            row = con.execute(load_sql("dml/count_account_snapshots.sql")).fetchone()
        assert row is not None
        return int(row[0])

    def create_views(self) -> dict[str, int]:
        """(Re)create every view of ``storage/sql/analytics``; returns each view's row count by
        name."""
        with self.transaction() as con:
            for name in group_files("analytics"):
                con.execute(load_sql(name))
            counts: dict[str, int] = {}
            for name in _view_names(con):
                # A view name comes from the catalog, not from input; identifiers can't be bound.
                row = con.execute(f'SELECT count(*) FROM {SCHEMA}."{name}"').fetchone()
                counts[name] = int(row[0]) if row else 0
        return counts

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        return open_connection(
            self.path,
            read_only=read_only,
            config=self.duckdb_config,
            waits=self.lock_waits,
            lock_backoff=self.lock_backoff,
            lock_backoff_max=self.lock_backoff_max,
            instance=self._instance,
        )


def _view_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = ? AND NOT internal ORDER BY view_name",
            [SCHEMA],
        ).fetchall()
    ]
