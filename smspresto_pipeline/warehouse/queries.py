"""The SQL files of ``sql/`` (``ddl/``, ``dml/``, ``analytics/``, ``reports/``), read once.

In an installed wheel the directory ships as ``smspresto_pipeline/sql``; in a checkout it is
``sql/`` at the root.
"""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb

__all__ = ["SCHEMA", "ddl_statements", "load_sql", "schema_tables", "sql_dir"]

#: The schema every table and view lives in.
SCHEMA = "smspresto"


def sql_dir() -> Path:
    """The directory holding ``ddl/``, ``dml/`` and ``analytics/``.

    ``smspresto_pipeline/sql`` in an installed wheel, ``sql/`` at the root of a checkout.
    """
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "sql", package.parent / "sql"):
        if (candidate / "ddl").is_dir():
            return candidate
    raise FileNotFoundError(f"no sql/ddl directory next to or above {package}")


@functools.cache
def load_sql(relative: str) -> str:
    """The text of ``sql/<relative>``, read once per process."""
    return (sql_dir() / relative).read_text(encoding="utf-8")


def ddl_statements() -> list[str]:
    """The statements creating the schema and its tables, the schema first."""
    files = sorted((sql_dir() / "ddl").glob("*.sql"))
    # The schema must exist before the tables in it; the rest are independent of each other.
    files.sort(key=lambda p: (p.name != "create_smspresto_schema.sql", p.name))
    return [p.read_text(encoding="utf-8") for p in files]


def schema_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The tables of the ``smspresto`` schema in the file attached to ``con``."""
    rows = con.execute(load_sql("dml/select_schema_tables.sql"), {"schema": SCHEMA}).fetchall()
    return frozenset(name for (name,) in rows)
