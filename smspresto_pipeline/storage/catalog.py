"""What a session lists of the schema: its tables and views, the same way on every engine.

Each engine asks its own catalog (``dml/select_schema_tables.sql`` and
``dml/select_schema_views.sql`` are in each dialect: DuckDB's ``duckdb_tables()``,
PostgreSQL's ``information_schema``); what is done with the rows is written here, once.
"""

from __future__ import annotations

import abc

from smspresto_pipeline.storage.port import Params, Row
from smspresto_pipeline.storage.queries import SCHEMA

__all__ = ["SchemaCatalog"]


class SchemaCatalog(abc.ABC):
    """The base of the engines' sessions: :meth:`tables` and :meth:`views` of the port's
    :class:`~smspresto_pipeline.storage.port.Session`, over the engine's :meth:`fetch_all`."""

    @abc.abstractmethod
    def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        """Run the SQL file ``name``; its rows (the engine's)."""

    def views(self) -> list[str]:
        """The views of the schema, by name."""
        rows = self.fetch_all("dml/select_schema_views.sql", {"schema": SCHEMA})
        return [name for (name,) in rows]

    def tables(self) -> frozenset[str]:
        """The tables of the schema."""
        rows = self.fetch_all("dml/select_schema_tables.sql", {"schema": SCHEMA})
        return frozenset(name for (name,) in rows)
