"""A user's query, run so that it reads the warehouse's tables and reaches nothing else.

A campaign's query is written by whoever configures the campaign, and it runs twice per batch
(the sensor, then the send job). :func:`run_read_only_query` keeps it to reading:

* it must be exactly one statement, and a read (``SELECT``, ``WITH``, ``FROM``, ``VALUES``,
  ``DESCRIBE`` ...): checked on DuckDB's own parse, before the file is opened;
* the file is attached read-only (:meth:`DuckDBDatabase.reading`);
* once the file is attached, DuckDB's ``enable_external_access`` is switched off and then
  ``lock_configuration`` on (``storage/sql/duckdb/dml/restrict_connection.sql``): no file or URL
  can be read or written (``read_csv``, ``read_text``, ``glob``, ``COPY``, ``EXPORT``), no
  database attached, no extension installed or loaded, no setting changed. Every table of the
  attached file stays readable (``smspresto.*`` and the user's own), and a large query still
  spills to the warehouse's temporary directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from smspresto_pipeline.storage.errors import QueryRefusedError, ReadOnlyQueryError, excerpt
from smspresto_pipeline.storage.queries import load_sql

if TYPE_CHECKING:
    from smspresto_pipeline.storage.duckdb.database import DuckDBDatabase

__all__ = ["restrict", "run_read_only_query"]


def run_read_only_query(database: DuckDBDatabase, sql: str) -> pa.Table:
    """The rows ``sql`` returns, read from the warehouse's tables and from nothing else.

    Raises:
        QueryRefusedError: ``sql`` is not exactly one read statement (nothing was run), or it
            tried to reach a file, a URL, a database or an extension (DuckDB's message names it).
        ReadOnlyQueryError: DuckDB could not parse or run it (a SQL error: DuckDB's message).
        WarehouseLockedError / WarehouseOpenError: the file could not be opened.
        RuntimeError: inside :meth:`~DuckDBDatabase.kept_instance`, whose instance the
            restriction would keep from attaching the file ever again.
    """
    if database.keeps_instance:
        raise RuntimeError(
            "a campaign query restricts its DuckDB instance for good: run it outside "
            "Warehouse.kept_instance()"
        )
    statement = _one_read(sql)
    with database.reading() as session:
        con = session.raw
        restrict(con)
        try:
            return con.sql(statement).to_arrow_table()
        except duckdb.PermissionException as exc:
            raise QueryRefusedError(
                "it reaches outside the warehouse's tables, which it may not (no file, URL, "
                f"other database or extension): {exc}"
            ) from None
        except duckdb.Error as exc:
            raise ReadOnlyQueryError(str(exc)) from None


def restrict(con: duckdb.DuckDBPyConnection) -> None:
    """Keep ``con`` to what is attached to it already, for good: no file or URL, no other
    database, no extension; then lock its settings (these two included)."""
    con.execute(load_sql("dml/restrict_connection.sql"))


def _one_read(sql: str) -> duckdb.Statement:
    """The one statement of ``sql``, when it is a read."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(str(exc)) from None
    if len(statements) != 1:
        excerpts = "; ".join(excerpt(s.query) for s in statements)
        raise QueryRefusedError(
            f"it holds {len(statements)} statements ({excerpts}); it must be exactly one SELECT"
            if statements
            else "it holds no statement; it must be exactly one SELECT"
        )
    [statement] = statements
    if statement.type is not duckdb.StatementType.SELECT:
        raise QueryRefusedError(
            f"{excerpt(statement.query)} is a statement of type {statement.type.name}, not a "
            "read; it must be exactly one SELECT"
        )
    return statement
