"""The warehouse: the ``smspresto`` schema (in one DuckDB file) and the history's writes to it,
over the storage port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT, check_account
from smspresto_pipeline.api.models import AccountCounters, ArchiveRecord
from smspresto_pipeline.storage import Database, open_database
from smspresto_pipeline.storage.queries import group_files
from smspresto_pipeline.storage.timestamps import utc_naive
from smspresto_pipeline.storage.urls import WarehouseTarget, parse_target
from smspresto_pipeline.warehouse.enrich import DEFAULT_STATUS_MAP, Enricher
from smspresto_pipeline.warehouse.intraday import (
    IntradayCursor,
    IntradayWrite,
    read_cursor,
    upsert_intraday,
)
from smspresto_pipeline.warehouse.replace import replace_days, staged_days
from smspresto_pipeline.warehouse.staging import DaySpool, remove_orphan_spools
from smspresto_pipeline.warehouse.stats import PartitionStats, stats_from_row
from smspresto_pipeline.warehouse.writer import DayWriter

__all__ = ["Warehouse", "run_read_only_query"]

logger = logging.getLogger(__name__)


class Warehouse:
    """The ``smspresto`` schema in one warehouse, and the writes the assets make to it.

    Args:
        target: the warehouse: a DuckDB file's path (created with its parent directory when
            missing) or URL (``duckdb:///data/w.duckdb``), or a ``postgresql://`` URL, as
            :func:`~smspresto_pipeline.storage.urls.parse_target` reads them.
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
        target: str | Path | WarehouseTarget,
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
        self.target = target if isinstance(target, WarehouseTarget) else parse_target(target)
        self.lock_timeout = lock_timeout
        self.lock_backoff = lock_backoff
        self.lock_backoff_max = lock_backoff_max
        self.status_map: Mapping[str, str] = dict(
            DEFAULT_STATUS_MAP if status_map is None else status_map
        )
        self.default_region = default_region
        self.spill_rows = spill_rows
        self.spool_dir = None if spool_dir is None else Path(spool_dir)
        self.database: Database = open_database(
            self.target,
            lock_timeout=lock_timeout,
            lock_backoff=lock_backoff,
            lock_backoff_max=lock_backoff_max,
            memory_limit=memory_limit,
            threads=threads,
            # Lock waits are the warehouse's to report, under its logger, whatever the engine.
            log=log or logger,
            lock_report_every=lock_report_every,
        )
        self.lock_waits = self.database.lock_waits
        self._derived = Enricher(self.status_map, default_region)
        self._orphans_checked = False

    def __repr__(self) -> str:
        return f"Warehouse({self.target.display!r})"

    @property
    def path(self) -> Path:
        """The DuckDB file.

        Raises:
            ValueError: for a warehouse on a server, which has none.
        """
        if self.target.path is None:
            raise ValueError(f"the warehouse {self.target} is on a server, not in a file")
        return self.target.path

    def check(self) -> None:
        """Refuse a warehouse that could never be written, cheaply and before anything that
        costs money (a run asks the API nothing until this passes).

        Raises:
            WarehousePathError: naming the target and what is wrong with it.
        """
        self.database.check()

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Any]:
        """Open the file (waiting out another process's lock), yield the connection, close it.

        The connection is the engine's own (a ``duckdb.DuckDBPyConnection`` for a DuckDB file):
        for plain SQL of a user's, and for code not yet over the storage port. The schema is
        created on the first writing connection of this object (and by a read-only one when the
        file does not exist yet).

        Raises:
            WarehouseLockedError: when the lock was still held once ``lock_timeout`` seconds
                of waiting were spent.
            WarehouseOpenError: when DuckDB cannot open the file for another reason.
        """
        with self.database.session(read_only=read_only) as session:
            yield session.raw

    @property
    def keeps_instance(self) -> bool:
        """Whether this object's connections attach to a kept instance now (see below)."""
        return self.database.keeps_instance

    def kept_instance(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, this object's connections attach the file to one kept DuckDB
        instance and detach it when they close (the file is free for other processes between
        two of them, as ever): for a loop of short transactions, such as a send's one per
        batch, each then costs ~1 ms to open instead of ~25 ms. Use from one thread."""
        return self.database.kept_instance()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A writing connection (the engine's own, as :meth:`connect`'s) inside one
        transaction: committed when the block ends, rolled back (and the connection closed,
        releasing the file) when it raises.

        Writers of this file in this process take turns; another process's lock is waited out.

        Raises:
            WarehouseLockedError: when the lock was still held after ``lock_timeout`` seconds.
        """
        with self.database.transaction() as session:
            yield session.raw

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A read-only connection (the engine's own) that first waits for this process's
        writers of the file.

        DuckDB refuses to attach a file that another connection of the same process has
        attached ("Unique file handle conflict"), so a read taken while a writer works would
        fail; here it waits for the writer's transaction instead. Another process's lock is
        waited out as by :meth:`connect`.
        """
        with self.database.reading() as session:
            yield session.raw

    def ensure_schema(self) -> None:
        """Create the schema and its tables if they are missing (idempotent).

        An outbox or opt-out table made by an older DDL gets the columns added since, or is
        recreated when it is empty.

        Raises:
            WarehouseSchemaError: when such an older table already holds rows.
            StorageError: when the engine refuses a statement of the schema's (another object
                where a table belongs, say); the engine's error is its cause.
        """
        self.database.ensure_schema()

    def spool(self, day: date, *, account: str = DEFAULT_ACCOUNT) -> DaySpool:
        """A new, empty staging area for ``account``'s ``day``.

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
            account=account,
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
        with self.database.writing() as session:
            return replace_days(session, spools)

    def writer(self, **options: Any) -> DayWriter:
        """A :class:`DayWriter` committing days of this warehouse from a background thread;
        ``options`` are its keyword arguments."""
        return DayWriter(self.database, **options)

    def write_partition(
        self,
        day: date,
        pages: Iterable[Iterable[ArchiveRecord | Mapping[str, Any]]],
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> PartitionStats:
        """Stage every page of ``account``'s ``day``, then replace that (account, day) in one
        transaction (other accounts' rows of the day are left as they are).

        If ``pages`` raises, nothing is written and the day keeps its previous contents.
        """
        with self.spool(day, account=account) as spool:
            for page in pages:
                spool.add(page)
            return self.commit(spool)

    async def write_partition_async(
        self,
        day: date,
        pages: AsyncIterable[Iterable[ArchiveRecord | Mapping[str, Any]]],
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> PartitionStats:
        """:meth:`write_partition` for an async page source; the commit runs in a thread."""
        with self.spool(day, account=account) as spool:
            async for page in pages:
                spool.add(page)
            return await asyncio.to_thread(self.commit, spool)

    def intraday_cursor(self, day: date, *, account: str = DEFAULT_ACCOUNT) -> IntradayCursor:
        """Where the intraday reading of ``account``'s ``day`` stands
        (:mod:`~smspresto_pipeline.warehouse.intraday`)."""
        return read_cursor(self.database, day, check_account(account))

    def upsert_intraday(self, spool: DaySpool, cursor: IntradayCursor) -> IntradayWrite:
        """Upsert an intraday read of the spool's day and its ``cursor`` in one transaction
        (:func:`~smspresto_pipeline.warehouse.intraday.upsert_intraday`)."""
        return upsert_intraday(self.database, spool, cursor)

    def partition_stats(self, day: date, *, account: str = DEFAULT_ACCOUNT) -> PartitionStats:
        """The figures of ``account``'s day as stored now (``pages`` is 0: nothing was read)."""
        with (
            self.database.session(read_only=True) as session,
            session.load_arrow("staged_days", staged_days([day], check_account(account))),
        ):
            # All the rows (one): a result left unread keeps DuckDB from unregistering the days.
            (row,) = session.fetch_all("dml/select_partition_stats.sql")
        return stats_from_row(row, 0)

    def previews(
        self, days: Iterable[date], *, limit: int = 5, account: str = DEFAULT_ACCOUNT
    ) -> dict[date, list[dict[str, Any]]]:
        """The first ``limit`` messages of ``account`` on each day (by creation time), as dicts,
        by day."""
        result: dict[date, list[dict[str, Any]]] = {day: [] for day in days}
        if not result or limit < 1:
            return result
        with self.database.session(read_only=True) as session:
            table = session.fetch_arrow(
                "dml/select_partition_previews.sql",
                {"days": list(result), "limit": limit, "account": check_account(account)},
            )
        for row in table.to_pylist():
            result[row.pop("partition_date")].append(row)
        return result

    def count_messages(self, account: str | None = None) -> int:
        """The rows of ``messages`` now, every day: of ``account``, or of every account (None)."""
        with self.database.session(read_only=True) as session:
            if account is None:
                row = session.fetch_one("dml/count_messages.sql")
            else:
                params = {"account": check_account(account)}
                row = session.fetch_one("dml/count_account_messages.sql", params)
        assert row is not None
        return int(row[0])

    def insert_snapshot(self, counters: AccountCounters, *, account: str = DEFAULT_ACCOUNT) -> int:
        """Append one row of ``account``'s counters to ``account_snapshots``; returns how many
        snapshots of ``account`` it holds."""
        taken_at = utc_naive(counters.taken_at)
        params = {"account": check_account(account)}
        with self.database.writing() as session:
            session.execute(
                "dml/insert_account_snapshot.sql",
                {**params, "taken_at": taken_at, **counters.as_dict()},
            )
            row = session.fetch_one("dml/count_account_snapshots.sql", params)
        assert row is not None
        return int(row[0])

    def create_views(self) -> dict[str, int]:
        """(Re)create every view of ``storage/sql/analytics``; returns each view's row count by
        name."""
        with self.database.transaction() as session:
            for name in group_files("analytics"):
                session.execute(name)
            return {name: session.count_rows(name) for name in session.views()}


def run_read_only_query(warehouse: Warehouse, sql: str) -> pa.Table:
    """The rows a user's ``sql`` returns, read from the warehouse's tables and from nothing else
    (exactly one read statement; no file, URL, other database or extension).

    Raises:
        QueryRefusedError: ``sql`` is not exactly one read statement (nothing was run), or it
            tried to reach past the warehouse's tables (the engine's message names what).
        ReadOnlyQueryError: the engine could not parse or run it (its message).
        WarehouseLockedError / WarehouseOpenError: the file could not be opened.
        RuntimeError: inside :meth:`Warehouse.kept_instance`, whose instance the restriction
            would keep from attaching the file ever again.
    """
    return warehouse.database.run_read_only_query(sql)
