"""Bringing a PostgreSQL warehouse made by an earlier version up to the current DDL.

The DDL is written ``IF NOT EXISTS`` (tables, indexes), so running it again creates what an
older warehouse lacks and leaves the rest; a column that a later DDL adds to an existing table
is what it cannot bring. As DuckDB's upgrade does (``storage/duckdb/migrate.py``), the tables
are compared with what the current DDL makes, and a column a table lacks is added
(``ALTER TABLE ... ADD COLUMN``, with its type, default and ``NOT NULL``; its rows kept, the
new column taking its default or NULL). A column that cannot be added to a table holding rows
(``NOT NULL`` without a default) is refused with :class:`WarehouseSchemaError`, naming it.
Columns the table has beyond the DDL's (a newer version's, or its owner's own) are left alone.

What the current DDL makes is read from PostgreSQL itself: each table's file is run once more
as a temporary table (``pg_temp``, dropped after), so types, defaults and nullability are
compared as the server writes them.

Whether to upgrade is decided by a version recorded in the database: the digest of the DDL
files, in the comment of the schema. A warehouse whose digest is the code's is current, and its
first use in a process costs one read; any other (an older digest, or none: a warehouse made
before the digest was recorded) is upgraded under the schema-creation advisory lock, and the
digest recorded in the same transaction. Every step is idempotent, so two processes upgrading
at once (one waits for the lock), or an older version's process recording its own digest in a
rolling deploy, leave the schema whole.
"""

from __future__ import annotations

import functools
import hashlib

import psycopg
from psycopg import sql

from smspresto_pipeline.storage.errors import WarehouseSchemaError
from smspresto_pipeline.storage.queries import POSTGRES, SCHEMA, load_sql, schema_files
from smspresto_pipeline.storage.queries import schema_tables as ddl_tables

__all__ = ["ddl_version", "recorded_version", "upgrade_schema"]

# name, type as the server writes it, NOT NULL, default expression (None: none)
Column = tuple[str, str, bool, str | None]

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
    pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute AS a
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_VERSION = "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s"
_CREATE = f"CREATE TABLE IF NOT EXISTS {SCHEMA}."


@functools.cache
def ddl_version() -> str:
    """The digest of the DDL files (their names and text, in the order they run)."""
    digest = hashlib.sha256()
    for name in schema_files(POSTGRES):
        digest.update(name.encode())
        digest.update(load_sql(name, POSTGRES).encode())
    return f"smspresto-pipeline ddl sha256:{digest.hexdigest()[:16]}"


def recorded_version(con: psycopg.Connection) -> str | None:
    """The version recorded in the schema's comment (None: no schema, or no version)."""
    row = con.execute(_VERSION, [SCHEMA]).fetchone()
    return None if row is None else row[0]


def upgrade_schema(con: psycopg.Connection) -> list[str]:
    """Run the DDL, add the columns the tables lack, and record :func:`ddl_version`.

    Runs in the caller's transaction, which holds the schema-creation lock. Returns the
    ``table.column`` names added.

    Raises:
        WarehouseSchemaError: a column the table lacks cannot be added (``NOT NULL`` without
            a default, and the table holds rows).
    """
    tables = {f"ddl/create_{table}_table.sql": table for table in ddl_tables(POSTGRES)}
    added: list[str] = []
    # Each table's columns right after its file, before the files that follow the tables
    # (the indexes) read them.
    for name in schema_files(POSTGRES):
        con.execute(load_sql(name, POSTGRES).encode())
        if name in tables:
            added += [f"{tables[name]}.{column[0]}" for column in _add(con, tables[name])]
    comment = sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
        sql.Identifier(SCHEMA), sql.Literal(ddl_version())
    )
    con.execute(comment)
    return added


def _add(con: psycopg.Connection, table: str) -> list[Column]:
    """Add to ``table`` the columns the current DDL gives it and it lacks; those columns."""
    ddl = load_sql(f"ddl/create_{table}_table.sql", POSTGRES)
    con.execute(ddl.replace(_CREATE, "CREATE TEMP TABLE ", 1).encode())
    try:
        wanted = _columns(con, f"pg_temp.{table}")
    finally:
        con.execute(sql.SQL("DROP TABLE pg_temp.{}").format(sql.Identifier(table)))
    found = {column[0] for column in _columns(con, f"{SCHEMA}.{table}")}
    missing = [column for column in wanted if column[0] not in found]
    relation = sql.Identifier(SCHEMA, table)
    for name, data_type, not_null, default in missing:
        if not_null and default is None and _holds_rows(con, relation):
            raise WarehouseSchemaError(
                f"{SCHEMA}.{table} lacks the column {name} ({data_type} NOT NULL, without a "
                "default) of the current DDL, which cannot be added to the rows it holds. Export "
                "the rows, drop the table and let the warehouse create it again, then reload them."
            )
        # Type and default as the server wrote them for our own DDL, not input.
        definition = sql.SQL(" ").join(
            [
                sql.Identifier(name),
                sql.SQL(data_type),
                sql.SQL("DEFAULT " + default) if default is not None else sql.SQL(""),
                sql.SQL("NOT NULL") if not_null else sql.SQL(""),
            ]
        )
        con.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(relation, definition))
    return missing


def _holds_rows(con: psycopg.Connection, relation: sql.Identifier) -> bool:
    row = con.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(relation)).fetchone()
    return bool(row and row[0])


def _columns(con: psycopg.Connection, relation: str) -> list[Column]:
    return [
        (str(name), str(data_type), bool(not_null), default)
        for name, data_type, not_null, default in con.execute(_COLUMNS, [relation]).fetchall()
    ]
