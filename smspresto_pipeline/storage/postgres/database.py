"""The PostgreSQL engine behind the port: one database on a server, the tables in the schema
``smspresto``, reached by every run from any machine.

Each session is a connection of its own in autocommit mode: it says ``BEGIN`` and ``COMMIT``
itself, as the DuckDB engine does, so the layers above run the same transactions on both.
Writers need no turn-taking here: PostgreSQL's row locks let writers of different days (or
campaigns) commit side by side, and what must not run twice at once takes an advisory lock
(the schema's creation and upgrade here; a day's replacement in
``sql/postgres/dml/lock_staged_days.sql``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pyarrow as pa
from psycopg import sql

from smspresto_pipeline.storage.catalog import SchemaCatalog
from smspresto_pipeline.storage.locks import LockWaits
from smspresto_pipeline.storage.port import Params, Row
from smspresto_pipeline.storage.postgres.arrow import (
    NumericLoader,
    copy_into_table,
    copy_into_temp_table,
    to_arrow,
    to_record_batch,
)
from smspresto_pipeline.storage.postgres.connection import (
    Secrets,
    check_url,
    connect,
    engine_errors,
    rollback,
)
from smspresto_pipeline.storage.postgres.migrate import (
    ddl_version,
    recorded_version,
    upgrade_schema,
)
from smspresto_pipeline.storage.postgres.read_only import run_read_only_query
from smspresto_pipeline.storage.queries import (
    POSTGRES,
    SCHEMA,
    load_sql,
    parameter_names,
    schema_tables,
    statement,
)
from smspresto_pipeline.storage.urls import redact_url

__all__ = ["PostgresDatabase", "PostgresSession"]

logger = logging.getLogger(__name__)

#: What the schema's creation and upgrade lock (``pg_advisory_xact_lock``'s one-bigint key
#: space): two processes creating it at once would otherwise race on the catalog (a unique
#: violation).
_SCHEMA_LOCK = "smspresto.schema"
#: What every :meth:`PostgresDatabase.transaction` locks: they take turns across processes, as
#: DuckDB's writers do, because the layers above count on it (an outbox claim reads the keys
#: taken, then inserts; a campaign reads its caps' counts, then claims, in one transaction).
#: A day's replacement is not one of them: it locks its days only.
_TRANSACTION_LOCK = "smspresto.transaction"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"


def _bound(name: str, params: Params) -> Params:
    """The parameters the file ``name`` uses, of a mapping (the port lets one mapping serve
    several files); tuples as lists, which psycopg sends as arrays."""
    if not isinstance(params, Mapping):
        return params
    names = parameter_names(name, POSTGRES)
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in params.items()
        if key in names
    }


class PostgresSession(SchemaCatalog):
    """A :class:`~smspresto_pipeline.storage.port.Session` over one psycopg connection."""

    def __init__(self, con: psycopg.Connection, secrets: Secrets) -> None:
        self.raw = con
        self._secrets = secrets

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return engine_errors(self._secrets)

    def _run(self, name: str, params: Params) -> psycopg.Cursor[Any]:
        with self._errors():
            return self.raw.execute(statement(name, POSTGRES, "pyformat"), _bound(name, params))

    def execute(self, name: str, params: Params = None) -> None:
        self._run(name, params)

    def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        cursor = self._run(name, params)
        with self._errors():
            return cursor.fetchall()

    def fetch_one(self, name: str, params: Params = None) -> Row | None:
        cursor = self._run(name, params)
        with self._errors():
            return cursor.fetchone()

    def fetch_arrow(self, name: str, params: Params = None) -> pa.Table:
        cursor = self._run(name, params)
        with self._errors():
            return to_arrow(cursor)

    def run_script(self, names: Sequence[str], *, begin: bool = False) -> list[Row]:
        # One round trip: without parameters psycopg sends the statements as one simple query;
        # each has its result, the last one's rows are the script's.
        statements = [load_sql(name, POSTGRES).strip().rstrip(";") for name in names]
        script = ";\n".join(["BEGIN", *statements] if begin else statements)
        with self._errors():
            cursor = self.raw.execute(script.encode())
            while cursor.nextset():
                pass
            return cursor.fetchall() if cursor.description else []

    @contextlib.contextmanager
    def load_arrow(
        self, relation: str, table: pa.Table, *, parquet: Sequence[Path] = ()
    ) -> Iterator[None]:
        con = self.raw
        with self._errors():
            copy_into_temp_table(con, relation, table, parquet)
        # Dropped at the end, in the transaction open then (a table created inside a
        # transaction that was rolled back is gone already: IF EXISTS).
        drop = sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(relation))
        with _then(lambda: con.execute(drop), self._secrets):
            yield

    def count_rows(self, relation: str) -> int:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(SCHEMA), sql.Identifier(relation)
        )
        with self._errors():
            row = self.raw.execute(query).fetchone()
        return int(row[0]) if row else 0

    def read_batches(
        self, relation: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        query = sql.SQL("SELECT {} FROM {}.{}").format(
            sql.SQL(", ").join(sql.Identifier(column) for column in columns),
            sql.Identifier(SCHEMA),
            sql.Identifier(relation),
        )
        # A server-side cursor: the server keeps the result and hands it out a batch at a time.
        with self._errors():
            cursor = self.raw.cursor(name=f"read_{relation}")
            cursor.execute(query)
        with cursor:
            while True:
                with self._errors():
                    rows = cursor.fetchmany(batch_rows)
                if not rows:
                    return
                yield to_record_batch(cursor.description or [], rows)

    def append_arrow(self, relation: str, table: pa.Table) -> None:
        with self._errors():
            copy_into_table(self.raw, SCHEMA, relation, table)

    def delete_all(self, relation: str) -> None:
        query = sql.SQL("DELETE FROM {}.{}").format(
            sql.Identifier(SCHEMA), sql.Identifier(relation)
        )
        with self._errors():
            self.raw.execute(query)

    def commit(self) -> None:
        with self._errors():
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        rollback(self.raw)


@contextlib.contextmanager
def _then(cleanup: Callable[[], object], secrets: Secrets) -> Iterator[None]:
    """Run ``cleanup`` once the block ends. When the block raised, the cleanup's own error is
    dropped: after a failed statement PostgreSQL refuses everything but ROLLBACK in the
    transaction, and the block's error is the one worth raising."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            cleanup()
        raise
    with engine_errors(secrets):
        cleanup()


class PostgresDatabase:
    """The warehouse in a PostgreSQL database: a
    :class:`~smspresto_pipeline.storage.port.Database`.

    Args:
        url: ``postgresql://user:password@host:port/dbname?options`` (libpq's URL). Never
            shown: its ``repr``, ``name`` and errors write the password ``***``.
        lock_waits: the allowance of waiting for locks (a statement waits at most what it
            allows for any lock: ``lock_timeout``), shared by every session.
    """

    def __init__(self, url: str, *, lock_waits: LockWaits) -> None:
        self._url = url
        self._secrets = Secrets(url)
        self.lock_waits = lock_waits
        self._schema_ready = False
        self._schema_guard = threading.Lock()
        # Idle connections of a kept_instance() block; None outside one.
        self._idle: list[psycopg.Connection] | None = None
        self._idle_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresDatabase(url={redact_url(self._url)!r})"

    @property
    def name(self) -> str:
        parts = urlsplit(self._url)
        return unquote(parts.path.strip("/")) or "postgres"

    @property
    def schema_ready(self) -> bool:
        return self._schema_ready

    @property
    def keeps_instance(self) -> bool:
        return self._idle is not None

    def check(self) -> None:
        check_url(self._url)
        with self._connection():
            pass

    def exists(self) -> bool:
        with self._connection() as con, engine_errors(self._secrets):
            return self._has_tables(con)

    def _has_tables(self, con: psycopg.Connection) -> bool:
        """Whether every table of the DDL is in the schema already."""
        session = PostgresSession(con, self._secrets)
        return set(schema_tables(POSTGRES)) <= session.tables()

    def ensure_schema(self) -> None:
        with self._schema_guard, self._connection() as con:
            with engine_errors(self._secrets):
                current = self._has_tables(con) and recorded_version(con) == ddl_version()
            if not current:
                # Created or upgraded (postgres/migrate.py), its version recorded, in one
                # transaction under the lock: a second process waits, then finds it whole.
                with engine_errors(self._secrets), con.transaction():
                    con.execute(_LOCK, [_SCHEMA_LOCK])
                    added = upgrade_schema(con)
                if added:
                    logger.info("%s upgraded: added the columns %s", self.name, ", ".join(added))
            self._schema_ready = True

    @contextlib.contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[PostgresSession]:
        # read_only changes nothing here: DuckDB needs it to share the file with a writer of
        # another process; PostgreSQL lets readers and writers be. (A read-only transaction
        # would refuse even the temporary tables of load_arrow: a user's query gets one.)
        if not self._schema_ready:
            self.ensure_schema()
        with self._connection() as con:
            yield PostgresSession(con, self._secrets)

    def writing(self) -> contextlib.AbstractContextManager[PostgresSession]:
        # No turn-taking: PostgreSQL serialises what conflicts (row locks, the day's lock).
        return self.session()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresSession]:
        with self.writing() as session:
            with session._errors():
                session.raw.execute("BEGIN")
                session.raw.execute(_LOCK, [_TRANSACTION_LOCK])
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def reading(self) -> contextlib.AbstractContextManager[PostgresSession]:
        return self.session(read_only=True)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PostgresSession]:
        with self.reading() as session:
            with session._errors():
                session.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield session
            finally:
                session.rollback()

    @contextlib.contextmanager
    def kept_instance(self) -> Iterator[None]:
        # A connection costs a TCP (and TLS) handshake and authentication: milliseconds on a
        # local server, tens of them to a managed one. Within the block a closed session's
        # connection waits for the next session (a pool for the loop, closed with it).
        self._idle = []
        try:
            yield
        finally:
            with self._idle_guard:
                idle, self._idle = self._idle, None
            for con in idle:
                con.close()

    def run_read_only_query(self, sql_text: str) -> pa.Table:
        return run_read_only_query(self, sql_text)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A connection, idle and clean: a kept one when there is, else a new one."""
        with self._idle_guard:
            con = self._idle.pop() if self._idle else None
        if con is None:
            con = self.open_raw()
        try:
            yield con
        finally:
            self._give_back(con)

    def _give_back(self, con: psycopg.Connection) -> None:
        rollback(con)
        with self._idle_guard:
            if (
                self._idle is not None
                and not con.closed
                and con.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            ):
                self._idle.append(con)
                return
        con.close()

    def open_raw(self) -> psycopg.Connection:
        """A new connection (closed by the caller), never a kept one: for a user's query too,
        whose settings and session locks must not outlive it."""
        con = connect(self._url, self._secrets, lock_timeout=self.lock_waits.timeout)
        con.adapters.register_loader("numeric", NumericLoader)
        return con

    @property
    def secrets(self) -> Secrets:
        """The URL's password, to scrub from messages."""
        return self._secrets
