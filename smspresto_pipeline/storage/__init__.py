"""Storage: the one place that knows an engine.

Every layer that stores (the history in ``warehouse``, what sending remembers) asks a
:class:`Database` for a :class:`Session` and runs the SQL files of ``storage/sql`` by name with
bound ``$name`` parameters; it bulk-loads Arrow tables through the session and catches the errors
of :mod:`.errors`. None of them imports an engine. :func:`open_database` picks the engine: DuckDB
(``storage/duckdb``, a local file: the default) or PostgreSQL (``storage/postgres``, a server;
imported only then, from the ``postgres`` extra). Each adds under ``storage/sql/<engine>/`` only
the files whose dialect differs (see :mod:`.queries`).

Modules: ``port`` (the :class:`Database` and :class:`Session` protocols, and
:class:`HasDatabase`: what holds one), ``queries`` (the SQL files by name and dialect, parameter
styles), ``catalog`` (the sessions' shared base: the schema's tables and views),
``errors`` (the port's errors), ``locks`` (this process's writers taking turns, the
allowance of waiting for other processes), ``timestamps`` (times as the tables store them: naive
UTC), ``copy`` (a warehouse copied into another, either engine, verified), ``duckdb`` (the
DuckDB engine), ``postgres`` (the PostgreSQL engine). No Dagster here.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

# By name: the package's own submodule ``duckdb`` (the engine) takes the module's name here.
from duckdb import DuckDBPyConnection

from smspresto_pipeline.storage.duckdb import ENGINE_ERRORS, check_path, is_lock_conflict
from smspresto_pipeline.storage.duckdb.database import DuckDBDatabase, DuckDBSession
from smspresto_pipeline.storage.errors import (
    ConstraintViolationError,
    CopyVerificationError,
    QueryRefusedError,
    ReadOnlyQueryError,
    StorageError,
    WarehouseLockedError,
    WarehouseNotEmptyError,
    WarehouseOpenError,
    WarehousePathError,
    WarehouseSchemaError,
)
from smspresto_pipeline.storage.locks import LockWaits
from smspresto_pipeline.storage.port import Database, HasDatabase, Params, Row, Session
from smspresto_pipeline.storage.queries import SCHEMA, load_sql
from smspresto_pipeline.storage.urls import WarehouseTarget, parse_target, redact_url

__all__ = [
    "SCHEMA",
    "STORAGE_ERRORS",
    "ConstraintViolationError",
    "CopyVerificationError",
    "Database",
    "HasDatabase",
    "LockWaits",
    "Params",
    "QueryRefusedError",
    "ReadOnlyQueryError",
    "Row",
    "Session",
    "StorageError",
    "WarehouseLockedError",
    "WarehouseNotEmptyError",
    "WarehouseOpenError",
    "WarehousePathError",
    "WarehouseSchemaError",
    "WarehouseTarget",
    "check_path",
    "is_lock_conflict",
    "load_sql",
    "open_database",
    "parse_target",
    "redact_url",
    "session_over",
]

#: The package that holds the PostgreSQL engine's driver, and how a user gets it.
_POSTGRES_DRIVER = "psycopg"
_POSTGRES_EXTRA = "pip install 'smspresto-pipeline[postgres]'"


def _postgres_errors() -> tuple[type[Exception], ...]:
    # psycopg's error base when it is installed: a user's raw connection may raise it.
    if importlib.util.find_spec(_POSTGRES_DRIVER) is None:
        return ()
    import psycopg

    return (psycopg.Error,)


#: What a failed use of the warehouse may raise, for an ``except`` that names no engine: the
#: port's errors, and each engine's own from its raw connection (``Session.raw``,
#: ``Warehouse.connect()``: a user's SQL, code not yet over the port).
STORAGE_ERRORS: tuple[type[Exception], ...] = (StorageError, *ENGINE_ERRORS, *_postgres_errors())


def session_over(connection: object) -> Session | None:
    """A port session over an engine's own connection (what ``Warehouse.reading()`` hands out,
    or one a user opened with duckdb or psycopg): the SQL files then run on it in its engine's
    dialect, and fail with the port's errors. ``None`` for an object of no engine known here.
    The connection stays the caller's to close."""
    if isinstance(connection, DuckDBPyConnection):
        return DuckDBSession(connection)
    if importlib.util.find_spec(_POSTGRES_DRIVER) is None:
        return None
    import psycopg

    if isinstance(connection, psycopg.Connection):
        from smspresto_pipeline.storage.postgres import PostgresSession
        from smspresto_pipeline.storage.postgres.connection import Secrets

        # The connection's own password, so that the errors scrub it as the engine's do.
        secrets = Secrets(psycopg.conninfo.make_conninfo(password=connection.info.password or ""))
        return PostgresSession(connection, secrets)
    return None


def open_database(
    target: WarehouseTarget | Path,
    *,
    lock_timeout: float,
    lock_backoff: float,
    lock_backoff_max: float,
    memory_limit: str,
    threads: int,
    log: logging.Logger | None = None,
    lock_report_every: float = 30.0,
) -> Database:
    """The warehouse at ``target`` (a DuckDB file's path, or a parsed target), opened lazily:
    nothing is touched here.

    Args:
        lock_timeout: seconds this object may spend, in all, waiting for other processes' locks.
        lock_backoff / lock_backoff_max: the first and the longest pause between two attempts.
        memory_limit / threads: DuckDB's per connection.
        log / lock_report_every: where waits are reported, and how often while one lasts.

    Raises:
        WarehouseOpenError: a PostgreSQL target without psycopg installed (naming the extra).
    """
    lock_waits = LockWaits(lock_timeout, log=log, report_every=lock_report_every)
    if isinstance(target, WarehouseTarget):
        if target.url is not None:
            return _postgres_database(target, lock_waits)
        assert target.path is not None  # a target is a path or a URL
        target = target.path
    return DuckDBDatabase(
        target,
        lock_waits=lock_waits,
        lock_backoff=lock_backoff,
        lock_backoff_max=lock_backoff_max,
        memory_limit=memory_limit,
        threads=threads,
    )


def _postgres_database(target: WarehouseTarget, lock_waits: LockWaits) -> Database:
    """The PostgreSQL engine for ``target``, imported now: DuckDB users need no psycopg."""
    try:
        from smspresto_pipeline.storage.postgres import PostgresDatabase
    except ImportError as exc:
        if exc.name not in {_POSTGRES_DRIVER, "psycopg_binary", "psycopg_c"}:
            raise
        raise WarehouseOpenError(
            f"{target} is a PostgreSQL warehouse, and its driver (psycopg 3) is not installed: "
            f"{_POSTGRES_EXTRA}"
        ) from None
    assert target.url is not None
    return PostgresDatabase(target.url, lock_waits=lock_waits)
