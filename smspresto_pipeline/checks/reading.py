"""How the checks read the warehouse: through a session of the storage port (the Dagster
checks), a warehouse (anything with a ``database``: a ``Warehouse`` of either engine), or an
engine's own connection (``find_failure_spikes(con, ...)`` on a DuckDB connection, as
documented, or on the psycopg connection of a PostgreSQL warehouse's ``reading()``). No engine
is imported here: the port tells a connection's engine (``storage.session_over``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from smspresto_pipeline.storage import HasDatabase, Params, Row, Session, session_over
from smspresto_pipeline.storage.queries import load_sql

__all__ = ["Connection", "Reader", "Source", "fetch_all", "fetch_one", "reader"]


class Connection(Protocol):
    """What is used of a DuckDB connection (``duckdb.DuckDBPyConnection``), or of anything that
    runs DuckDB's SQL as one does."""

    def execute(self, query: str, parameters: object = ..., /) -> Connection: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


#: What a check is given to read through.
Source = Session | HasDatabase | Connection
#: What a check reads through, once its source is open (see :func:`reader`).
Reader = Session | Connection


@contextlib.contextmanager
def reader(source: Source) -> Iterator[Reader]:
    """What to read ``source`` through within the block: a session as it is; a warehouse's
    read-only session, opened once for the block; an engine's own connection as a port session
    in its engine's dialect; anything else as a connection that runs DuckDB's SQL."""
    if isinstance(source, Session):
        yield source
    elif isinstance(source, HasDatabase):
        with source.database.reading() as session:
            yield session
    else:
        yield session_over(source) or source


def fetch_all(source: Reader, name: str, params: Params = None) -> list[Row]:
    """The rows of the SQL file ``name`` (``"checks/<file>.sql"``) run with ``params``."""
    if isinstance(source, Session):
        return source.fetch_all(name, params)
    return source.execute(load_sql(name), params).fetchall()


def fetch_one(source: Reader, name: str, params: Params = None) -> Row | None:
    """The first row of ``name`` (``None`` when it returns none)."""
    rows = fetch_all(source, name, params)
    return rows[0] if rows else None
