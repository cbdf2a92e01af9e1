"""The SQL files beside this module, found by name and dialect, with their ``$name`` parameters.

Layout of ``storage/sql/``: a group per use (``ddl/``, ``dml/``, ``analytics/``, ``checks/``,
``reports/``). A file that every engine runs as it is lives at ``sql/<group>/<name>.sql``; a file
written in one engine's dialect lives at ``sql/<engine>/<group>/<name>.sql`` (today
``sql/duckdb/...``: Arrow relations read through DuckDB, ``BY NAME``, ``TRY_CAST``,
``QUALIFY``, ``list_contains``, catalog functions, ``SET`` of DuckDB's settings). A name is
looked for in the engine's folder first, then among the portable files, so a second engine adds
only the files whose dialect differs. Parameters are written ``$name`` in every file;
:func:`to_paramstyle` turns them into a driver's own style.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

__all__ = [
    "DUCKDB",
    "POSTGRES",
    "SCHEMA",
    "SQL_ROOT",
    "ParamStyle",
    "group_files",
    "load_sql",
    "parameter_names",
    "schema_files",
    "schema_tables",
    "sql_file",
    "statement",
    "to_paramstyle",
]

#: The schema every table and view lives in.
SCHEMA = "smspresto"

#: The folder of the SQL files, inside the package (so an installed wheel carries it).
SQL_ROOT = Path(__file__).resolve().parent / "sql"

#: The dialect of the DuckDB engine: its own files are under ``sql/duckdb/``.
DUCKDB = "duckdb"

#: The dialect of the PostgreSQL engine: its own files are under ``sql/postgres/``.
POSTGRES = "postgres"

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _dialect_dir(dialect: str) -> Path:
    if not _NAME.fullmatch(dialect):
        raise ValueError(f"a dialect is a lower-case name such as 'duckdb', got {dialect!r}")
    return SQL_ROOT / dialect


def sql_file(relative: str, dialect: str = DUCKDB) -> Path:
    """The file of ``relative`` (``"<group>/<name>.sql"``) for ``dialect``: the engine's own
    when it has one, else the portable one.

    Raises:
        FileNotFoundError: naming the places looked in.
    """
    own, portable = _dialect_dir(dialect) / relative, SQL_ROOT / relative
    for candidate in (own, portable):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no SQL file {relative!r} for {dialect}: neither {own} nor {portable}")


@functools.cache
def load_sql(relative: str, dialect: str = DUCKDB) -> str:
    """The text of ``relative`` (``"<group>/<name>.sql"``) for ``dialect``, read once per process.

    The default dialect serves the code that still runs statements on a DuckDB connection of its
    own; code over the port names no dialect (the engine's session does).
    """
    return sql_file(relative, dialect).read_text(encoding="utf-8")


def group_files(group: str, dialect: str = DUCKDB) -> list[str]:
    """The files of ``group`` for ``dialect`` (the engine's own in place of a portable one of the
    same name), as names for :func:`load_sql`, sorted by file name."""
    names = {
        path.name
        for folder in (SQL_ROOT / group, _dialect_dir(dialect) / group)
        for path in folder.glob("*.sql")
    }
    return [f"{group}/{name}" for name in sorted(names)]


def schema_files(dialect: str) -> list[str]:
    """The ``ddl`` files for ``dialect`` in the order they must run: the schema first (the
    tables, independent of each other, follow by name)."""
    files = group_files("ddl", dialect)
    files.sort(key=lambda name: (name != "ddl/create_smspresto_schema.sql", name))
    return files


def schema_tables(dialect: str = DUCKDB) -> list[str]:
    """The tables of the schema, by name, as its ``ddl`` files create them (a file
    ``ddl/create_<table>_table.sql`` each): a table added to the DDL is in the list. (The
    ``ddl`` files are portable today: every dialect has the same tables.)"""
    return [
        name.removeprefix("ddl/create_").removesuffix("_table.sql")
        for name in schema_files(dialect)
        if name.endswith("_table.sql")
    ]


#: ``dollar``: ``$name``, as written (DuckDB); ``pyformat``: ``%(name)s`` (psycopg).
ParamStyle = Literal["dollar", "pyformat"]

# What may hold a `$` or `%` that is not a parameter: quoted strings and identifiers, comments.
_TOKENS = re.compile(
    r"""(?P<skip>'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/)"""
    r"|\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)",
    re.DOTALL,
)


def to_paramstyle(sql: str, style: ParamStyle) -> str:
    """``sql`` with its ``$name`` parameters written in ``style``.

    A ``$`` inside a string, a quoted identifier or a comment is left alone. For ``pyformat``
    every ``%`` is doubled first (the driver reads any ``%`` as the start of a placeholder).

    Example:
        >>> to_paramstyle("SELECT '$a', $b::VARCHAR, 5 % 2 -- $c", "pyformat")
        "SELECT '$a', %(b)s::VARCHAR, 5 %% 2 -- $c"
    """
    if style == "dollar":
        return sql
    if style != "pyformat":
        raise ValueError(f"style must be 'dollar' or 'pyformat', got {style!r}")

    def replace(found: re.Match[str]) -> str:
        name = found.group("name")
        return found.group(0) if name is None else f"%({name})s"

    return _TOKENS.sub(replace, sql.replace("%", "%%"))


@functools.cache
def parameter_names(relative: str, dialect: str) -> frozenset[str]:
    """The ``$name`` parameters of ``relative`` for ``dialect`` (those in strings, quoted
    identifiers and comments aside): what a session binds of the mapping it is given."""
    return frozenset(
        found.group("name")
        for found in _TOKENS.finditer(load_sql(relative, dialect))
        if found.group("name") is not None
    )


@functools.cache
def statement(relative: str, dialect: str, style: ParamStyle) -> str:
    """The text of ``relative`` for ``dialect``, its parameters in ``style``: what an engine's
    session runs, prepared once per process."""
    return to_paramstyle(load_sql(relative, dialect), style)
