"""The port: what the layers above ask of a warehouse, whatever engine holds it.

A :class:`Database` opens :class:`Session`\\ s (read-only, for writing, or inside one
transaction) and waits out another process's lock. A session runs the SQL files of
``storage/sql`` by name (``"dml/count_messages.sql"``: the engine picks its own file or the
portable one) with bound ``$name`` parameters, and bulk-loads Arrow tables as temporary relations
that those files read. Errors come as the types of :mod:`~smspresto_pipeline.storage.errors`.
What holds a database (:class:`HasDatabase`: the history's ``Warehouse``) is what the parts
beside the history take, so that they reach the same file, whatever its engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from smspresto_pipeline.storage.locks import LockWaits

__all__ = ["Database", "HasDatabase", "Params", "Row", "Session"]

#: Bound parameters: by name (``$name`` in the file; a name the file does not use is left out,
#: so one mapping may serve several files) or by position.
Params = Mapping[str, Any] | Sequence[Any] | None
Row = tuple[Any, ...]


@runtime_checkable
class Session(Protocol):
    """One connection to the warehouse, used from one thread, closed by its :class:`Database`.

    Runtime-checkable: a function that also takes a user's own engine connection (the checks'
    ``find_failure_spikes(con, ...)``) tells the two apart with ``isinstance``.
    """

    @property
    def raw(self) -> Any:
        """The engine's own connection, for SQL written in its dialect (a user's query; code
        not yet over the port). Nothing else should need it."""

    def execute(self, name: str, params: Params = None) -> None:
        """Run the SQL file ``name`` (``"<group>/<file>.sql"``) with ``params``."""

    def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        """Run ``name``; its rows."""

    def fetch_one(self, name: str, params: Params = None) -> Row | None:
        """Run ``name``; its first row (``None`` when it returns none)."""

    def fetch_arrow(self, name: str, params: Params = None) -> pa.Table:
        """Run ``name``; its rows as an Arrow table."""

    def run_script(self, names: Sequence[str], *, begin: bool = False) -> list[Row]:
        """Run the files ``names`` (without parameters) in one call to the engine, after
        ``BEGIN`` when ``begin``; the rows of the last one."""

    def load_arrow(
        self, relation: str, table: pa.Table, *, parquet: Sequence[Path] = ()
    ) -> AbstractContextManager[None]:
        """Within the block, the temporary relation ``relation`` holds ``table``'s rows, then
        those of the Parquet files ``parquet`` (the same columns), in that order."""

    def count_rows(self, relation: str) -> int:
        """The rows of ``relation`` (a table or view of the schema, by name)."""

    def read_batches(
        self, relation: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The ``columns`` of the schema's table ``relation``, ``batch_rows`` rows at a time
        (in no order), streamed: the table is never in memory whole. On PostgreSQL the session
        must be in a transaction (:meth:`Database.snapshot`'s is)."""

    def append_arrow(self, relation: str, table: pa.Table) -> None:
        """Insert ``table``'s rows into the schema's table ``relation``, its columns by name as
        the catalog spells them (a column of ``relation`` that ``table`` lacks takes its
        default). Nothing of ``table`` is held once it returns, even in a transaction that
        goes on (a copy appends every batch of a table in one)."""

    def delete_all(self, relation: str) -> None:
        """Delete every row of the schema's table ``relation``."""

    def views(self) -> list[str]:
        """The views of the schema, by name."""

    def tables(self) -> frozenset[str]:
        """The tables of the schema (a file made by an older version may lack some; a user's
        own file may have none yet)."""

    def commit(self) -> None:
        """Commit the transaction open on this session."""

    def rollback(self) -> None:
        """Roll back the transaction open on this session, if any (never raises: the error
        that made the caller roll back is the one worth raising)."""


class Database(Protocol):
    """A warehouse on one engine: where it is, how long to wait for it, how to open it."""

    @property
    def name(self) -> str:
        """A short name for threads and messages (no secret in it)."""

    @property
    def lock_waits(self) -> LockWaits:
        """The allowance of waiting for other processes' locks, shared by every session."""

    @property
    def keeps_instance(self) -> bool:
        """Whether sessions open on a kept instance now (see :meth:`kept_instance`)."""

    @property
    def schema_ready(self) -> bool:
        """Whether this object created (or found) the schema already."""

    def exists(self) -> bool:
        """Whether the warehouse is there to be read: a read of one that is not finds nothing,
        and must not create it (a read-only session of a missing DuckDB file would)."""

    def check(self) -> None:
        """Refuse, cheaply, a warehouse that cannot be written now: before a run asks the API
        for anything, so that it does not read it all only to fail at its first write. A
        DuckDB file is checked without being opened (no lock taken); a server is connected to
        once.

        Raises:
            WarehousePathError: naming the warehouse and what is wrong with it.
            WarehouseOpenError: the server cannot be reached or refuses the connection.
        """

    def ensure_schema(self) -> None:
        """Create the schema and its tables when missing; bring older tables up to date.

        Raises:
            WarehouseSchemaError: when an older table holds rows and cannot be upgraded.
            StorageError: when the engine refuses a statement (an object of a table's name
                that is not that table, say).
        """

    def session(self, *, read_only: bool = False) -> AbstractContextManager[Session]:
        """A session; the schema is made first by the first writing one.

        Raises:
            WarehouseLockedError: when another process held the lock past the allowance.
            WarehouseOpenError: when the engine cannot open the warehouse for another reason.
        """

    def writing(self) -> AbstractContextManager[Session]:
        """A writing session, once this process's other writers are done (the caller runs
        its own transactions on it)."""

    def transaction(self) -> AbstractContextManager[Session]:
        """A writing session inside one transaction: committed when the block ends, rolled
        back (and the session closed) when it raises."""

    def reading(self) -> AbstractContextManager[Session]:
        """A read-only session, once this process's writers are done."""

    def snapshot(self) -> AbstractContextManager[Session]:
        """A read-only session inside one transaction, rolled back at the end: every read in it
        sees the warehouse as it was when the first began (a copy of all its tables)."""

    def kept_instance(self) -> AbstractContextManager[None]:
        """Within the block, sessions open faster (for a loop of short transactions); the
        warehouse is free for other processes between two of them, as ever."""

    def run_read_only_query(self, sql: str) -> pa.Table:
        """The rows a user's ``sql`` returns, reading the warehouse's tables and nothing else.

        Raises:
            QueryRefusedError: not exactly one read statement, or it reaches past the tables.
            ReadOnlyQueryError: the engine could not parse or run it.
        """


@runtime_checkable
class HasDatabase(Protocol):
    """What holds a warehouse's :class:`Database` (the history's ``Warehouse``): the outbox,
    the opt-outs, the activations and the breaker take one, so their callers pass the warehouse
    they have, and another engine's database drops in behind it. Runtime-checkable, as
    :class:`Session` is: the checks take either, or a user's own connection."""

    @property
    def database(self) -> Database:
        """The warehouse's database."""
