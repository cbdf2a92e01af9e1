"""The DuckDB engine behind the port: one local file, attached under a fixed catalog name."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from smspresto_pipeline.storage.catalog import SchemaCatalog
from smspresto_pipeline.storage.duckdb.connection import (
    check_path,
    open_connection,
    release,
    rollback,
)
from smspresto_pipeline.storage.duckdb.migrate import upgrade_tables
from smspresto_pipeline.storage.duckdb.read_only import run_read_only_query
from smspresto_pipeline.storage.errors import ConstraintViolationError, StorageError
from smspresto_pipeline.storage.locks import LockWaits, process_write_lock
from smspresto_pipeline.storage.port import Params, Row
from smspresto_pipeline.storage.queries import (
    DUCKDB,
    SCHEMA,
    load_sql,
    parameter_names,
    schema_files,
    statement,
)

__all__ = ["DuckDBDatabase", "DuckDBSession"]

logger = logging.getLogger(__name__)

# Paths warned about once per process (see _warn_about_catalog_name).
_WARNED_PATHS: set[str] = set()
_WARNED_PATHS_GUARD = threading.Lock()


@contextlib.contextmanager
def _engine_errors() -> Iterator[None]:
    """DuckDB's errors as the port's (DuckDB's stays the ``__cause__``)."""
    try:
        yield
    except duckdb.ConstraintException as exc:
        raise ConstraintViolationError(str(exc)) from exc
    except duckdb.Error as exc:
        raise StorageError(str(exc)) from exc


@contextlib.contextmanager
def _then(cleanup: Callable[[], object]) -> Iterator[None]:
    """Run ``cleanup`` once the block ends. When the block raised, the cleanup's own error is
    dropped: after a failed statement DuckDB refuses everything but ROLLBACK in the
    transaction, and the block's error is the one worth raising."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cleanup()
        raise
    with _engine_errors():
        cleanup()


def _bound(name: str, params: Params) -> Params:
    """The parameters the file ``name`` uses, of a mapping (DuckDB refuses a named parameter
    that a statement lacks; the port lets one mapping serve several files)."""
    if not isinstance(params, Mapping):
        return params
    names = parameter_names(name, DUCKDB)
    return {key: value for key, value in params.items() if key in names}


#: The name an :meth:`DuckDBSession.append_arrow` reads its rows under, while it inserts them.
_APPENDED = "smspresto_appended_rows"


def _quoted(identifier: str) -> str:
    # Identifiers cannot be bound; these come from our own code and the catalog, not input.
    return '"' + identifier.replace('"', '""') + '"'


class DuckDBSession(SchemaCatalog):
    """A :class:`~smspresto_pipeline.storage.port.Session` over one DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.raw = con

    def _run(self, name: str, params: Params) -> duckdb.DuckDBPyConnection:
        with _engine_errors():
            return self.raw.execute(statement(name, DUCKDB, "dollar"), _bound(name, params))

    def execute(self, name: str, params: Params = None) -> None:
        self._run(name, params)

    def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        cursor = self._run(name, params)
        with _engine_errors():
            return cursor.fetchall()

    def fetch_one(self, name: str, params: Params = None) -> Row | None:
        cursor = self._run(name, params)
        with _engine_errors():
            # Every row fetched: after fetchone() DuckDB 2.0 holds the result open, and the
            # connection refuses other work (unregistering a load_arrow relation) until then.
            rows = cursor.fetchall()
        return rows[0] if rows else None

    def fetch_arrow(self, name: str, params: Params = None) -> pa.Table:
        # A relation, not a DB-API result: that would copy the rows once more into Arrow.
        with _engine_errors():
            relation = self.raw.sql(statement(name, DUCKDB, "dollar"), params=_bound(name, params))
            return relation.to_arrow_table()

    def run_script(self, names: Sequence[str], *, begin: bool = False) -> list[Row]:
        # One script, one call: every call into DuckDB hands the GIL back and forth with the
        # thread reading the API, which costs more than the statements themselves on small days.
        statements = [load_sql(name, DUCKDB).strip().rstrip(";") for name in names]
        script = ";\n".join(["BEGIN TRANSACTION", *statements] if begin else statements)
        with _engine_errors():
            return self.raw.execute(script).fetchall()

    @contextlib.contextmanager
    def load_arrow(
        self, relation: str, table: pa.Table, *, parquet: Sequence[Path] = ()
    ) -> Iterator[None]:
        # DuckDB reads a registered Arrow table in place, and a Parquet file itself, a row group
        # at a time within its memory_limit. (Through a pyarrow dataset, the scanner read ahead
        # batches of 131,072 rows: a 200,000-message day was in memory whole, twice.)
        con = self.raw
        if not parquet:
            con.register(relation, table)
            with _then(lambda: con.unregister(relation)):
                yield
            return
        memory, files = f"{relation}_memory", f"{relation}_files"

        def drop() -> None:
            con.execute(f"DROP VIEW IF EXISTS {_quoted(relation)}")
            con.execute(f"DROP VIEW IF EXISTS {_quoted(files)}")
            con.unregister(memory)

        con.register(memory, table)
        with _then(drop):
            with _engine_errors():
                con.read_parquet([str(path) for path in parquet]).to_view(files, replace=True)
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {_quoted(relation)} AS "
                    f"SELECT * FROM {_quoted(memory)} UNION ALL SELECT * FROM {_quoted(files)}"
                )
            yield

    def count_rows(self, relation: str) -> int:
        with _engine_errors():
            # fetchall: after fetchone() DuckDB 2.0 refuses other work on the connection.
            rows = self.raw.execute(f"SELECT count(*) FROM {SCHEMA}.{_quoted(relation)}").fetchall()
        return int(rows[0][0]) if rows else 0

    def read_batches(
        self, relation: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        names = ", ".join(_quoted(column) for column in columns)
        with _engine_errors():
            # A relation's reader streams: DuckDB computes each batch when it is asked for.
            reader = self.raw.sql(f"SELECT {names} FROM {SCHEMA}.{_quoted(relation)}")
            batches = reader.to_arrow_reader(batch_rows)
        with batches:
            while True:
                with _engine_errors():
                    try:
                        batch = batches.read_next_batch()
                    except StopIteration:
                        return
                yield batch

    def append_arrow(self, relation: str, table: pa.Table) -> None:
        names = ", ".join(_quoted(column) for column in table.column_names)
        # Read through a relation of its own, not load_arrow's registered view: a view dropped
        # in a transaction stays in the catalog until the transaction ends, and the Arrow table
        # with it, so a copy's one transaction held every batch it loaded until it committed.
        with _engine_errors():
            self.raw.from_arrow(table).query(
                _APPENDED,
                f"INSERT INTO {SCHEMA}.{_quoted(relation)} ({names}) "
                f"SELECT {names} FROM {_quoted(_APPENDED)}",
            )

    def delete_all(self, relation: str) -> None:
        with _engine_errors():
            self.raw.execute(f"DELETE FROM {SCHEMA}.{_quoted(relation)}").fetchall()

    def commit(self) -> None:
        with _engine_errors():
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        rollback(self.raw)


class DuckDBDatabase:
    """The warehouse in one DuckDB file: a :class:`~smspresto_pipeline.storage.port.Database`.

    DuckDB lets one process at a time open a file for writing. Connections are opened and
    closed here (never kept after a failed statement), and a lock held by another process is
    waited for with exponential backoff and jitter, within ``lock_waits``. DuckDB names a
    file's catalog after its name (``smspresto.duckdb`` would make ``smspresto.messages``
    ambiguous), so the file is attached under the alias ``warehouse``.

    Args:
        path: the DuckDB file (created with its parent directory when missing).
        lock_waits: the allowance of waiting for other processes' locks.
        lock_backoff / lock_backoff_max: the first and the longest pause between two attempts.
        memory_limit: DuckDB's memory limit per connection; larger work spills to
            ``<path>.tmp``.
        threads: DuckDB's threads per connection.
    """

    def __init__(
        self,
        path: Path,
        *,
        lock_waits: LockWaits,
        lock_backoff: float,
        lock_backoff_max: float,
        memory_limit: str,
        threads: int,
    ) -> None:
        self.path = path
        self.lock_waits = lock_waits
        self.lock_backoff = lock_backoff
        self.lock_backoff_max = lock_backoff_max
        self.config: dict[str, str | int] = {
            "memory_limit": memory_limit,
            "threads": threads,
            # Larger queries spill here (an in-memory connection has no temp directory).
            "temp_directory": f"{path}.tmp",
        }
        self._schema_ready = False
        self._instance: duckdb.DuckDBPyConnection | None = None
        self._warn_about_catalog_name()

    def __repr__(self) -> str:
        return f"DuckDBDatabase(path={str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def schema_ready(self) -> bool:
        return self._schema_ready

    @property
    def keeps_instance(self) -> bool:
        return self._instance is not None

    def exists(self) -> bool:
        return self.path.exists()

    def check(self) -> None:
        check_path(self.path)

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

    def ensure_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with process_write_lock(self.path):
            con = self._open(read_only=False)
            try:
                with _engine_errors():
                    for statement_ in _ddl_statements():
                        con.execute(statement_)
                    upgrade_tables(con)
            finally:
                release(con, kept=self.keeps_instance)
        self._schema_ready = True

    @contextlib.contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[DuckDBSession]:
        if not self._schema_ready and not (read_only and self.path.exists()):
            self.ensure_schema()
        con = self._open(read_only=read_only)
        try:
            yield DuckDBSession(con)
        finally:
            release(con, kept=self.keeps_instance)

    @contextlib.contextmanager
    def writing(self) -> Iterator[DuckDBSession]:
        with process_write_lock(self.path), self.session() as session:
            yield session

    @contextlib.contextmanager
    def transaction(self) -> Iterator[DuckDBSession]:
        with self.writing() as session:
            session.raw.execute("BEGIN TRANSACTION")
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[DuckDBSession]:
        # DuckDB refuses to attach a file that another connection of the same process has
        # attached ("Unique file handle conflict"), so a read taken while a writer works would
        # fail; it waits for the writer's transaction instead.
        with process_write_lock(self.path), self.session(read_only=True) as session:
            yield session

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[DuckDBSession]:
        with self.reading() as session:
            with _engine_errors():
                session.raw.execute("BEGIN TRANSACTION")
            try:
                yield session
            finally:
                session.rollback()

    @contextlib.contextmanager
    def kept_instance(self) -> Iterator[None]:
        # Creating a DuckDB instance costs ~25 ms, attaching a file to a kept one ~1 ms; the file
        # is detached when each connection closes, which frees it for other processes.
        self._instance = duckdb.connect(":memory:", config=dict(self.config))
        try:
            yield
        finally:
            instance, self._instance = self._instance, None
            instance.close()

    def run_read_only_query(self, sql: str) -> pa.Table:
        return run_read_only_query(self, sql)

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        return open_connection(
            self.path,
            read_only=read_only,
            config=self.config,
            waits=self.lock_waits,
            lock_backoff=self.lock_backoff,
            lock_backoff_max=self.lock_backoff_max,
            instance=self._instance,
        )


def _ddl_statements() -> list[str]:
    """The statements creating the schema and its tables, the schema first."""
    return [load_sql(name, DUCKDB) for name in schema_files(DUCKDB)]
