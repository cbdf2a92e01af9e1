"""The tests' PostgreSQL server: real, reachable, and a database of each test's own."""

from urllib.parse import urlsplit

import postgres_fixtures
import psycopg
import pytest


def test_each_test_gets_an_empty_database_of_its_own(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as con:
        name = con.execute("select current_database()").fetchone()
        assert name is not None
        assert name[0].startswith("smspresto_test_")
        tables = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        con.execute("create table t (x int primary key)")
        con.execute("insert into t values (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            con.execute("insert into t values (1)")


def test_fresh_databases_are_dropped_afterwards(postgres_server: str) -> None:
    made = postgres_fixtures.fresh_database(postgres_server)
    url = next(made)
    name = urlsplit(url).path.lstrip("/")
    held = psycopg.connect(url, autocommit=True)
    held.execute("create table t (x int)")
    made.close()  # the test ends while a session still holds the database
    held.close()
    with psycopg.connect(postgres_server) as con:
        row = con.execute("select count(*) from pg_database where datname = %s", (name,))
        assert row.fetchone() == (0,)
