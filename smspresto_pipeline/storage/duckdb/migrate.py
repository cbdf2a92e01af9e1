"""Bringing the tables of an older DuckDB file up to the current DDL, where that is safe.

``CREATE TABLE IF NOT EXISTS`` leaves a table made by an earlier DDL as it was (and creates a
table an older file lacks, such as ``campaign_pauses``). The outbox and opt-out tables gained
columns and states after files were already created. A table whose only difference is nullable
columns the current DDL adds at its end gets them (``ALTER TABLE ... ADD COLUMN``, its rows
kept, the new columns NULL); any other difference is mended only while the table is empty: it
is dropped and created again from ``storage/sql/ddl``. A table that already holds rows is never
rewritten here: that raises :class:`WarehouseSchemaError`, naming what differs.
"""

from __future__ import annotations

import functools

import duckdb

from smspresto_pipeline.storage.duckdb.connection import rollback
from smspresto_pipeline.storage.errors import WarehouseSchemaError
from smspresto_pipeline.storage.queries import SCHEMA, load_sql
from smspresto_pipeline.wording import plural

__all__ = ["UPGRADABLE_TABLES", "upgrade_tables"]

#: Tables recreated from the current DDL when an older file has them empty.
UPGRADABLE_TABLES = ("outbox", "opt_outs", "campaign_pauses")

_COLUMNS = (
    "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
    "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
    "ORDER BY column_index"
)
_CONSTRAINTS = (
    "SELECT constraint_text FROM duckdb_constraints() "
    "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
    "ORDER BY constraint_text"
)

Shape = tuple[tuple[tuple[object, ...], ...], tuple[str, ...]]


def _shape(con: duckdb.DuckDBPyConnection, table: str) -> Shape:
    columns = tuple(tuple(row) for row in con.execute(_COLUMNS, [SCHEMA, table]).fetchall())
    constraints = tuple(row[0] for row in con.execute(_CONSTRAINTS, [SCHEMA, table]).fetchall())
    return columns, constraints


def _ddl(table: str) -> str:
    return load_sql(f"ddl/create_{table}_table.sql")


@functools.cache
def _current_shape(table: str) -> Shape:
    # The shape the current DDL gives, built in a scratch in-memory database, so the comparison
    # holds whatever DuckDB prints for types and constraints.
    with duckdb.connect(":memory:") as scratch:
        scratch.execute(load_sql("ddl/create_smspresto_schema.sql"))
        scratch.execute(_ddl(table))
        return _shape(scratch, table)


def upgrade_tables(
    con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] = UPGRADABLE_TABLES
) -> list[str]:
    """Bring each of ``tables`` that differs from the current DDL up to it: add the nullable
    columns it lacks at its end, or recreate it when it is empty.

    Runs in one transaction on ``con`` (a writing connection whose tables exist). Returns the
    names of the tables changed.

    Raises:
        WarehouseSchemaError: when a table differs from the current DDL and holds rows.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        recreated = []
        for table in tables:
            found, wanted = _shape(con, table), _current_shape(table)
            if found == wanted:
                continue
            added = _added_columns(found, wanted)
            if added:
                for name, data_type, _ in added:
                    # Identifiers cannot be bound; names and types come from our own DDL.
                    con.execute(f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN {name} {data_type}")
                recreated.append(table)
                continue
            # Identifiers cannot be bound; the names come from UPGRADABLE_TABLES, not input.
            row = con.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()
            rows = int(row[0]) if row else 0
            if rows:
                raise WarehouseSchemaError(
                    f"{SCHEMA}.{table} was created by an older version of smspresto-pipeline "
                    f"and holds {plural(rows, 'row')}, so it is not recreated automatically. It "
                    f"differs from storage/sql/ddl/create_{table}_table.sql: it has "
                    f"{_describe(found)}; "
                    f"the current DDL has {_describe(wanted)}. Export the rows, drop the table "
                    "and let the warehouse create it again, then reload them."
                )
            con.execute(f"DROP TABLE {SCHEMA}.{table}")
            con.execute(_ddl(table))
            recreated.append(table)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return recreated


def _added_columns(found: Shape, wanted: Shape) -> tuple[tuple[object, ...], ...]:
    """The nullable columns ``wanted`` has after all of ``found``'s, when that is the only
    difference (same columns before them, same constraints); empty otherwise."""
    (found_columns, found_constraints), (wanted_columns, wanted_constraints) = found, wanted
    extra = wanted_columns[len(found_columns) :]
    if (
        found_constraints != wanted_constraints
        or wanted_columns[: len(found_columns)] != found_columns
        or not extra
        or not all(is_nullable for *_, is_nullable in extra)
    ):
        return ()
    return extra


def _describe(shape: Shape) -> str:
    columns, constraints = shape
    names = ", ".join(str(column[0]) for column in columns)
    return f"columns ({names}) and constraints [{'; '.join(constraints)}]"
