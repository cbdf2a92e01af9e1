"""How the checks read the warehouse: through a session of the storage port (the Dagster
checks), or through a user's own DuckDB connection (``find_failure_spikes(con, ...)`` on any
DuckDB file, as documented). No engine is imported here.
"""

from __future__ import annotations

from typing import Any, Protocol

from smspresto_pipeline.storage import Params, Row, Session
from smspresto_pipeline.storage.queries import load_sql

__all__ = ["Connection", "Source", "fetch_all", "fetch_one"]


class Connection(Protocol):
    """What is used of a DuckDB connection (``duckdb.DuckDBPyConnection``)."""

    def execute(self, query: str, parameters: object = ..., /) -> Connection: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


#: What a check reads through.
Source = Session | Connection


def fetch_all(source: Source, name: str, params: Params = None) -> list[Row]:
    """The rows of the SQL file ``name`` (``"checks/<file>.sql"``) run with ``params``."""
    if isinstance(source, Session):
        return source.fetch_all(name, params)
    # A DuckDB connection of the user's: the file in DuckDB's dialect.
    return source.execute(load_sql(name), params).fetchall()


def fetch_one(source: Source, name: str, params: Params = None) -> Row | None:
    """The first row of ``name`` (``None`` when it returns none)."""
    if isinstance(source, Session):
        return source.fetch_one(name, params)
    rows = fetch_all(source, name, params)
    return rows[0] if rows else None
