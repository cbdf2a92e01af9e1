"""Opening the DuckDB file: under a fixed catalog name, waiting out another process's lock."""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Mapping
from pathlib import Path

import duckdb

from smspresto_pipeline.storage.errors import (
    WarehouseLockedError,
    WarehouseOpenError,
    WarehousePathError,
)
from smspresto_pipeline.storage.locks import LockWaits
from smspresto_pipeline.wording import plural

__all__ = [
    "attach",
    "check_path",
    "is_lock_conflict",
    "open_connection",
    "release",
    "rollback",
]

_LOCK_MESSAGES = ("could not set lock on file", "conflicting lock")
# Row groups of 16,384 rows instead of DuckDB's 122,880: an insert writes each full row group
# straight to the file, compressed once, so a transaction of a few tens of thousands of rows
# skips most of the write-ahead log and the checkpoint that rewrites it (measured: half the
# writer's time on a 300,000-message backfill). Files made with another size stay readable.
_ATTACH = "ATTACH ? AS warehouse (ROW_GROUP_SIZE 16384)"
_ATTACH_READ_ONLY = "ATTACH ? AS warehouse (READ_ONLY)"


def attach(
    path: Path,
    *,
    read_only: bool,
    config: Mapping[str, str | int],
    instance: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection with ``path`` attached as ``warehouse`` (and in use): on a new in-memory
    DuckDB instance, or on ``instance`` (a kept one: see :func:`release`)."""
    # DuckDB names a file's catalog after the file: in `smspresto.duckdb`, `smspresto.messages`
    # would be ambiguous (catalog or schema?). Attach it under a fixed name.
    con = duckdb.connect(":memory:", config=dict(config)) if instance is None else instance.cursor()
    try:
        con.execute(_ATTACH_READ_ONLY if read_only else _ATTACH, [str(path)])
        con.execute("USE warehouse")
    except BaseException:
        con.close()
        raise
    return con


def release(con: duckdb.DuckDBPyConnection, *, kept: bool) -> None:
    """Close a connection of :func:`attach`. On a kept instance the file is detached (which
    releases it to other processes) and the instance stays, for the next attach: creating a
    DuckDB instance costs ~25 ms, attaching a file to one ~1 ms."""
    if kept:
        try:
            con.execute("USE memory")
            con.execute("DETACH warehouse")
        finally:
            con.close()
    else:
        con.close()


def is_lock_conflict(error: BaseException) -> bool:
    """Whether ``error`` says that another process holds the file: DuckDB's lock error, or
    :class:`WarehouseLockedError` once the wait for it ran out. Any other error is not one."""
    if isinstance(error, WarehouseLockedError):
        return True
    return isinstance(error, duckdb.IOException) and any(
        m in str(error).lower() for m in _LOCK_MESSAGES
    )


# A DuckDB file starts with an 8-byte checksum, then this magic.
_DUCKDB_MAGIC = b"DUCK"


def check_path(path: Path) -> None:
    """Refuse a path the warehouse could never open for writing, without opening it.

    Cheap and lock-free, so a run can call it before it asks the API for anything.

    Raises:
        WarehousePathError: naming the path and what is wrong with it.
    """
    if path.is_dir():
        raise WarehousePathError(f"{path} is a directory, not a DuckDB file")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise WarehousePathError(f"{path} cannot be created: {ancestor} is not a directory")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise WarehousePathError(f"{path} cannot be read and written by this process")
        with path.open("rb") as file:
            header = file.read(12)
        if header[8:12] != _DUCKDB_MAGIC:
            raise WarehousePathError(f"{path} exists and is not a DuckDB database")
    elif not os.access(ancestor, os.W_OK | os.X_OK):
        raise WarehousePathError(f"{path} cannot be created: {ancestor} is not writable")


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    # The error that made us roll back is the one worth raising; the connection is closed next.
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?)(?:\. See also|$)")


def _holder(error: duckdb.Error) -> str:
    """Who holds the file, as DuckDB tells it (the program and its PID), or a generic phrase."""
    found = _HOLDER.search(str(error))
    return found.group("holder") if found else "another process"


def open_connection(
    path: Path,
    *,
    read_only: bool,
    config: Mapping[str, str | int],
    waits: LockWaits,
    lock_backoff: float,
    lock_backoff_max: float,
    instance: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` (on ``instance`` when given: see :func:`attach`), waiting out another
    process's lock with exponential backoff and jitter, within what is left of ``waits``'
    allowance.

    Raises:
        WarehouseLockedError: when the allowance ran out with the file still locked.
        WarehouseOpenError: when DuckDB could not open the file for another reason (naming the
            path and DuckDB's message); it is not retried.
    """
    delay = lock_backoff
    attempts = 0
    started: float | None = None  # when this wait began
    reported = 0.0
    while True:
        attempts += 1
        try:
            con = attach(path, read_only=read_only, config=config, instance=instance)
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                mode = "read-only" if read_only else "for writing"
                raise WarehouseOpenError(f"DuckDB cannot open {path} {mode}: {exc}") from exc
            now = time.monotonic()
            if started is None:
                started = reported = now
                waits.log.warning(
                    "%s is locked by %s; waiting for it (up to %.0f s more in this run)",
                    path,
                    _holder(exc),
                    waits.remaining(),
                )
            elif now - reported >= waits.report_every:
                reported = now
                waits.log.warning(
                    "%s is still locked by %s after %.0f s; waiting (up to %.0f s more)",
                    path,
                    _holder(exc),
                    now - started,
                    max(0.0, waits.remaining() - (now - started)),
                )
            remaining = waits.remaining() - (now - started)
            if remaining <= 0:
                waits.add(now - started)
                raise WarehouseLockedError(
                    f"{path} stayed locked by {_holder(exc)}: this run waited "
                    f"{waits.waited:.1f} s for it in all, its limit (lock_timeout "
                    f"{waits.timeout:g} s), over {plural(attempts, 'attempt')} here"
                ) from exc
            pause = min(remaining, delay * random.uniform(0.5, 1.5))  # noqa: S311
            time.sleep(pause)
            delay = min(delay * 2, lock_backoff_max)
        else:
            if started is not None:
                waited = time.monotonic() - started
                waits.add(waited)
                waits.log.info("%s: lock obtained after waiting %.1f s", path, waited)
            return con
