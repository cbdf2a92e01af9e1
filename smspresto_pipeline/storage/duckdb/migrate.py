"""Bringing the tables of an older DuckDB file up to the current DDL, where that is safe.

``CREATE TABLE IF NOT EXISTS`` leaves a table made by an earlier DDL as it was (and creates a
table an older file lacks, such as ``campaign_pauses``). The outbox and opt-out tables gained
columns and states after files were already created. A table whose only difference is nullable
columns the current DDL adds at its end gets them (``ALTER TABLE ... ADD COLUMN``, its rows
kept, the new columns NULL); any other difference is mended only while the table is empty: it
is dropped and created again from ``storage/sql/ddl``. A table that already holds rows is never
rewritten here: that raises :class:`WarehouseSchemaError`, naming what differs.

The history's tables (``REBUILT_TABLES``) are the exception, for one change: accounts gave them
a column ``account`` with a default and ``messages`` a key of (account, history_id). A table of
the history whose columns are all still in the current DDL, with the same types, and which lacks
only columns that have a default, is rebuilt with its rows (renamed, created again, its rows
copied, the old one dropped, in the same transaction): the rows of a warehouse made before
accounts become the default account's.
"""

from __future__ import annotations

import functools

import duckdb

from smspresto_pipeline.storage.duckdb.connection import rollback
from smspresto_pipeline.storage.errors import WarehouseSchemaError
from smspresto_pipeline.storage.queries import SCHEMA, load_sql
from smspresto_pipeline.wording import plural

__all__ = ["REBUILT_TABLES", "UPGRADABLE_TABLES", "upgrade_tables"]

#: Tables recreated from the current DDL when an older file has them empty.
UPGRADABLE_TABLES = ("outbox", "opt_outs", "campaign_pauses")
#: Tables rebuilt with their rows when the current DDL only adds columns with a default.
REBUILT_TABLES = ("archive_raw", "messages", "account_snapshots")

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

_DEFAULTS = (
    "SELECT column_name FROM duckdb_columns() "
    "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
    "AND column_default IS NOT NULL"
)

Shape = tuple[tuple[tuple[object, ...], ...], tuple[str, ...]]


def _shape(con: duckdb.DuckDBPyConnection, table: str) -> Shape:
    columns = tuple(tuple(row) for row in con.execute(_COLUMNS, [SCHEMA, table]).fetchall())
    constraints = tuple(row[0] for row in con.execute(_CONSTRAINTS, [SCHEMA, table]).fetchall())
    return columns, constraints


def _ddl(table: str) -> str:
    return load_sql(f"ddl/create_{table}_table.sql")


@functools.cache
def _current(table: str) -> tuple[Shape, frozenset[str]]:
    # The shape the current DDL gives (and its columns with a default), built in a scratch
    # in-memory database, so the comparison holds whatever DuckDB prints for types and
    # constraints.
    with duckdb.connect(":memory:") as scratch:
        scratch.execute(load_sql("ddl/create_smspresto_schema.sql"))
        scratch.execute(_ddl(table))
        defaults = scratch.execute(_DEFAULTS, [SCHEMA, table]).fetchall()
        return _shape(scratch, table), frozenset(row[0] for row in defaults)


def upgrade_tables(
    con: duckdb.DuckDBPyConnection,
    tables: tuple[str, ...] = UPGRADABLE_TABLES,
    rebuilt: tuple[str, ...] = REBUILT_TABLES,
) -> list[str]:
    """Bring each of ``tables`` that differs from the current DDL up to it: add the nullable
    columns it lacks at its end, or recreate it when it is empty; rebuild each of ``rebuilt``
    that lacks columns with a default, keeping its rows.

    Runs in one transaction on ``con`` (a writing connection whose tables exist). Returns the
    names of the tables changed.

    Raises:
        WarehouseSchemaError: when a table differs from the current DDL and holds rows (one of
            ``rebuilt``: in another way than lacking columns with a default).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        recreated = [table for table in rebuilt if _rebuild_with_rows(con, table)]
        for table in tables:
            found, wanted = _shape(con, table), _current(table)[0]
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


def _rebuild_with_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Rebuild ``table`` from the current DDL with its rows when it lacks only columns with a
    default (they take it); False when it is current already.

    Raises:
        WarehouseSchemaError: when it differs in another way.
    """
    found = _shape(con, table)
    wanted, defaults = _current(table)
    if found == wanted:
        return False
    types = {str(column[0]): column[1] for column in wanted[0]}
    kept = [str(column[0]) for column in found[0]]
    missing = set(types) - set(kept)
    if any(types.get(str(name)) != data_type for name, data_type, _ in found[0]) or not (
        missing and missing <= defaults
    ):
        raise WarehouseSchemaError(
            f"{SCHEMA}.{table} was created by another version of smspresto-pipeline and is not "
            f"upgraded automatically. It differs from storage/sql/ddl/create_{table}_table.sql: "
            f"it has {_describe(found)}; the current DDL has {_describe(wanted)}."
        )
    # Identifiers cannot be bound; table and column names come from our own DDL and catalog.
    old = f"{table}_before_upgrade"
    columns = ", ".join(kept)
    con.execute(f"ALTER TABLE {SCHEMA}.{table} RENAME TO {old}")
    con.execute(_ddl(table))
    con.execute(
        f"INSERT INTO {SCHEMA}.{table} ({columns}) SELECT {columns} FROM {SCHEMA}.{old}"
    ).fetchall()  # its count: DuckDB runs nothing else on the connection before it is read
    con.execute(f"DROP TABLE {SCHEMA}.{old}")
    return True


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
