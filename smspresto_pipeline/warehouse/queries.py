"""The warehouse's schema and the statements creating it (the SQL files: ``storage.queries``)."""

from __future__ import annotations

import duckdb

from smspresto_pipeline.storage.queries import SCHEMA, group_files, load_sql

__all__ = ["SCHEMA", "ddl_statements", "load_sql", "schema_tables"]


def ddl_statements() -> list[str]:
    """The statements creating the schema and its tables, the schema first."""
    files = group_files("ddl")
    # The schema must exist before the tables in it; the rest are independent of each other.
    files.sort(key=lambda name: (name != "ddl/create_smspresto_schema.sql", name))
    return [load_sql(name) for name in files]


def schema_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The tables of the ``smspresto`` schema in the file attached to ``con``."""
    rows = con.execute(load_sql("dml/select_schema_tables.sql"), {"schema": SCHEMA}).fetchall()
    return frozenset(name for (name,) in rows)
