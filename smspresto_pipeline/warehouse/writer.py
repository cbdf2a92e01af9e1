"""The day writer: commits finished days from one background thread, several per transaction."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import queue
import threading
import time
from datetime import date
from types import TracebackType

from smspresto_pipeline.storage import Database, Session
from smspresto_pipeline.warehouse.replace import replace_days
from smspresto_pipeline.warehouse.staging import DaySpool
from smspresto_pipeline.warehouse.stats import PartitionStats

__all__ = ["DayWriter"]


@dataclasses.dataclass(slots=True)
class _Job:
    spool: DaySpool
    future: concurrent.futures.Future[PartitionStats]
    queued_at: float = dataclasses.field(default_factory=time.monotonic)


_FLUSH = object()
_STOP = object()


class _Held:
    """A writing session kept open between transactions, with this process's write lock."""

    def __init__(self, database: Database) -> None:
        self._stack = contextlib.ExitStack()
        self.session: Session = self._stack.enter_context(database.writing())
        self.rows = 0  # rows committed over it

    def close(self) -> None:
        self._stack.close()


class DayWriter:
    """Commits finished days from one background thread, several days per transaction.

    DuckDB writes a large transaction much faster than many small ones (a small one goes through
    the write-ahead log, then a checkpoint, and every call into DuckDB trades the GIL with the
    thread reading the API). So days are gathered: a transaction is started once ``batch_rows``
    rows are queued, or once the oldest queued day waited ``max_delay`` seconds, or on
    :meth:`flush` (the run read its last day), or once no day came for ``linger`` seconds
    (by default as long as ``max_delay``: days from a server that takes its time come a few
    tenths of a second apart, and committing at each pause made a transaction of each one or
    two days, which cost a 90-day backfill a third more CPU). Each day still goes in whole or
    not at all: a transaction replaces every day it holds (a day that fails takes the others of
    its transaction down only until they are retried, each alone).

    Memory stays bounded: :meth:`put` (and :meth:`enqueue`) waits while ``max_staged_rows``
    rows are queued or being written. The connection, and with it the file's write lock, is
    kept while days keep coming and closed once none came for ``idle_release`` seconds, so that
    other processes get their turn; a failed statement closes it at once, and so does a commit
    that brings the rows written over it to ``recycle_rows`` (a connection's memory grows with
    what it wrote: the next one starts afresh, so a backfill of years stays in bounded memory).
    A spool handed to the writer is the writer's: it is discarded once committed.

    Example:
        .. code-block:: python

            with warehouse.writer() as writer:
                spool = warehouse.spool(day)
                spool.add(page)
                stats = writer.put(spool).result()   # or: await writer.commit(spool)
    """

    def __init__(
        self,
        database: Database,
        *,
        batch_rows: int = 40_000,
        max_staged_rows: int | None = None,
        linger: float = 2.0,
        max_delay: float = 2.0,
        idle_release: float = 0.2,
        recycle_rows: int = 400_000,
    ) -> None:
        staged = 2 * batch_rows if max_staged_rows is None else max_staged_rows
        if batch_rows < 1 or staged < batch_rows:
            raise ValueError(
                f"need 1 <= batch_rows <= max_staged_rows, got {batch_rows=}, {max_staged_rows=}"
            )
        if recycle_rows < 1:
            raise ValueError(f"recycle_rows must be at least 1, got {recycle_rows}")
        if min(linger, max_delay, idle_release) < 0:
            raise ValueError(
                f"linger, max_delay and idle_release must not be negative, got {linger=}, "
                f"{max_delay=}, {idle_release=}"
            )
        self._database = database
        self._batch_rows = batch_rows
        self._max_staged_rows = staged
        self._linger = linger
        self._max_delay = max_delay
        self._idle_release = idle_release
        self._recycle_rows = recycle_rows
        self._jobs: queue.Queue[_Job | object] = queue.Queue()
        self._staged_rows = 0  # rows queued and not committed yet
        self._room = threading.Condition()  # notified when a commit made room
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"smspresto-writer-{database.name}", daemon=True
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

    def put(self, spool: DaySpool) -> concurrent.futures.Future[PartitionStats]:
        """Wait for room (``max_staged_rows``), queue a finished day, return its future stats.

        Safe to call from several threads; the caller may go on reading the next day while
        this one waits for its transaction.
        """
        rows = spool.rows
        with self._room:
            while self._staged_rows and self._staged_rows + rows > self._max_staged_rows:
                self._room.wait()
            self._staged_rows += rows
        try:
            future = self.submit(spool)
        except BaseException:
            self._made_room(rows)
            raise
        future.add_done_callback(lambda _: self._made_room(rows))
        return future

    def _made_room(self, rows: int) -> None:
        with self._room:
            self._staged_rows -= rows
            self._room.notify_all()

    async def enqueue(self, spool: DaySpool) -> asyncio.Future[PartitionStats]:
        """:meth:`put` for an event loop: waits for room in a worker thread."""
        return asyncio.wrap_future(await asyncio.to_thread(self.put, spool))

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
        held: _Held | None = None
        pending: list[_Job] = []
        stopping = False
        try:
            while pending or not stopping:
                if not pending and not stopping:
                    try:
                        item = self._jobs.get(timeout=None if held is None else self._idle_release)
                    except queue.Empty:
                        held = self._release(held)
                        continue
                    stopping = item is _STOP
                    if isinstance(item, _Job):
                        pending.append(item)
                    continue
                if not stopping:
                    stopping = self._gather(pending)
                batch = self._batch(pending)
                held = self._commit_batch(batch, held)
        finally:
            self._release(held)

    def _gather(self, pending: list[_Job]) -> bool:
        """Add queued days to ``pending`` until a transaction is due; True when stopping."""
        rows = sum(job.spool.rows for job in pending)
        deadline = pending[0].queued_at + self._max_delay
        while rows < self._batch_rows:
            wait = min(self._linger, deadline - time.monotonic())
            try:
                # Past the deadline, the days queued already still join: a writer that fell
                # behind (days queued while it wrote) catches up in one transaction, not one
                # each.
                item = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
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
        """Take from ``pending`` the next transaction: days of one account, each day once,
        about ``batch_rows``."""
        batch: list[_Job] = []
        days: set[date] = set()
        rows = 0
        rest: list[_Job] = []
        for job in pending:
            if (
                job.spool.day in days
                or (batch and rows >= self._batch_rows)
                or (batch and job.spool.account != batch[0].spool.account)
            ):
                # A second reading of a day, or another account's day, goes in a later one.
                rest.append(job)
                continue
            batch.append(job)
            days.add(job.spool.day)
            rows += job.spool.rows
        pending[:] = rest
        return batch

    def _commit_batch(self, batch: list[_Job], held: _Held | None) -> _Held | None:
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        try:
            if not jobs:
                return held
            if held is None:
                try:
                    held = _Held(self._database)
                except BaseException as exc:
                    for job in jobs:
                        job.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    return None
            try:
                results = replace_days(held.session, [job.spool for job in jobs])
            except BaseException as exc:
                self._release(held)
                if len(jobs) == 1 or not isinstance(exc, Exception):
                    for job in jobs:
                        job.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    return None
                # One bad day must not fail the others: each is tried again alone.
                for job in jobs:
                    try:
                        job.future.set_result(self._commit_alone(job.spool))
                    except Exception as alone:  # handed to the caller
                        job.future.set_exception(alone)
                return None
            for job, stats in zip(jobs, results, strict=True):
                job.future.set_result(stats)
            held.rows += sum(job.spool.rows for job in jobs)
            if held.rows >= self._recycle_rows:
                # The process grows with what one connection wrote, for as long as it lives:
                # about 45 MB a million rows, measured on a 365-day backfill. A new one
                # starts from the file.
                self._release(held)
                return None
            return held
        finally:
            for job in batch:
                job.spool.discard()

    def _commit_alone(self, spool: DaySpool) -> PartitionStats:
        with self._database.writing() as session:
            return replace_days(session, [spool])[0]

    @staticmethod
    def _release(held: _Held | None) -> None:
        if held is not None:
            held.close()
