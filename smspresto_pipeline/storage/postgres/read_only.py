"""A user's query on PostgreSQL, kept to reading what the connection's role may read.

A campaign's query is written by whoever configures the campaign. :func:`run_read_only_query`:

* refuses, before connecting, a text that does not start as a read (``SELECT``, ``WITH``,
  ``VALUES``, ``TABLE``, or one of these in parentheses, after comments);
* runs it on a connection of its own (closed afterwards: nothing it sets or locks for its
  session outlives it), in a ``READ ONLY`` transaction that is rolled back, with a
  ``statement_timeout``, as a prepared statement: PostgreSQL's extended protocol refuses more
  than one statement in it, so a second statement hidden after a ``;`` is refused by the server;
* a read-only transaction refuses every write (``INSERT``/``UPDATE``/``DELETE``/``MERGE``,
  ``SELECT ... INTO``, DDL, ``COPY FROM``, ``nextval``, a function that writes), whatever the role.

What reads past the warehouse's tables is left to the role's privileges, which this library does
not assume: ``pg_read_file``, ``COPY ... TO`` a file or program and ``lo_import`` need a superuser
(or ``pg_read_server_files`` / ``pg_write_server_files``); ``dblink`` and ``postgres_fdw`` need
their extension installed in the database. Functions that act outside the transaction
(``pg_cancel_backend``/``pg_terminate_backend`` on the same role's sessions, session advisory
locks, ``pg_notify``) are as allowed as the role allows: give the campaigns' warehouse a role of
its own with no more than it needs (the README's PostgreSQL section).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa
from psycopg import errors as pg_errors

from smspresto_pipeline.storage.errors import QueryRefusedError, ReadOnlyQueryError, excerpt
from smspresto_pipeline.storage.postgres.arrow import to_arrow

if TYPE_CHECKING:
    from smspresto_pipeline.storage.postgres.database import PostgresDatabase

__all__ = ["STATEMENT_TIMEOUT_MS", "run_read_only_query"]

#: The longest a user's query may run: a sensor's tick is given 60 s in all.
STATEMENT_TIMEOUT_MS = 50_000

_COMMENTS = re.compile(r"\s+|--[^\n]*|/\*.*?\*/", re.DOTALL)
_READS = ("select", "with", "values", "table")
# What the server says when a statement writes, reaches a file, or holds a second statement.
_REFUSED = (
    pg_errors.ReadOnlySqlTransaction,
    pg_errors.InsufficientPrivilege,
    pg_errors.UndefinedFile,
)


def run_read_only_query(database: PostgresDatabase, sql: str) -> pa.Table:
    """The rows ``sql`` returns, read in a read-only transaction.

    Raises:
        QueryRefusedError: ``sql`` is not exactly one read statement, or the server refused it
            as a write or for want of a privilege (its message says which).
        ReadOnlyQueryError: PostgreSQL could not parse or run it (its message), or it ran past
            :data:`STATEMENT_TIMEOUT_MS`.
        WarehouseOpenError: the server could not be reached.
    """
    _check_read(sql)
    secrets = database.secrets
    with database.open_raw() as con:
        try:
            con.execute("BEGIN READ ONLY")
            con.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            # prepare=True: the extended protocol, which holds one statement only, and no
            # placeholder processing of the user's `%`.
            # The connection is closed next, which rolls the transaction back.
            cursor = con.execute(sql.encode(), prepare=True)
            return to_arrow(cursor)
        except _REFUSED as exc:
            raise QueryRefusedError(
                "it writes, or reaches past the warehouse's tables, which it may not: "
                + secrets.scrub(str(exc))
            ) from None
        except pg_errors.SyntaxError as exc:
            if "multiple commands" in str(exc):
                raise QueryRefusedError(
                    f"{excerpt(sql)} holds more than one statement; it must be exactly one SELECT"
                ) from None
            raise ReadOnlyQueryError(secrets.scrub(str(exc))) from None
        except psycopg.Error as exc:
            raise ReadOnlyQueryError(secrets.scrub(str(exc))) from None


def _check_read(sql: str) -> None:
    """Refuse a text that is empty or does not start as a read."""
    code = _COMMENTS.sub(" ", sql).strip().lstrip("(").lstrip()
    if not code.rstrip(";").strip():
        raise QueryRefusedError("it holds no statement; it must be exactly one SELECT")
    first = re.split(r"[\s(]", code, maxsplit=1)[0].lower()
    if first not in _READS:
        raise QueryRefusedError(
            f"{excerpt(sql)} is not a read (it starts with {first.upper()!r}); it must be "
            "exactly one SELECT"
        )
