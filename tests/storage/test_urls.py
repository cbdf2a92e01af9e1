"""A warehouse's target from a path or URL, and its password never shown."""

from pathlib import Path

import pytest

from smspresto_pipeline.storage.urls import WarehouseTarget, parse_target, redact_url

SECRET = "s3cr%40t-pass"  # an encoded "@" too


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("data/smspresto_warehouse.duckdb", Path("data/smspresto_warehouse.duckdb")),
        ("/srv/w.duckdb", Path("/srv/w.duckdb")),
        ("duckdb:///data/w.duckdb", Path("data/w.duckdb")),
        ("duckdb:////srv/w.duckdb", Path("/srv/w.duckdb")),
        ("DuckDB:///w.duckdb", Path("w.duckdb")),
        (Path("w.duckdb"), Path("w.duckdb")),
    ],
)
def test_a_path_or_duckdb_url_is_a_duckdb_file(value: str | Path, path: Path) -> None:
    assert parse_target(value) == WarehouseTarget("duckdb", path=path)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_a_postgresql_url_keeps_its_password_but_never_shows_it(scheme: str) -> None:
    url = f"{scheme}://sms:{SECRET}@db.example.com:5432/sms?sslmode=require"
    target = parse_target(url)
    assert target.engine == "postgres"
    assert target.url == url  # what the engine connects with
    for shown in (str(target), repr(target), target.display, f"{target}", f"{target!r}"):
        assert SECRET not in shown
        assert "s3cr" not in shown
    assert target.display == f"{scheme}://sms:***@db.example.com:5432/sms?sslmode=require"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("postgresql:///db?host=/run/pg&PASSWORD=pw", "postgresql:///db?host=/run/pg&PASSWORD=***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "got ''"),
        ("   ", "got ''"),
        ("mysql://u:pw@h/db", "got the scheme 'mysql' in mysql://u:***@h/db"),
        (
            "postgresql://u:pw@h:5432",
            "must name its database (…/dbname): postgresql://u:***@h:5432",
        ),
        ("postgresql://u:pw@h:port/db", "port is not a number: postgresql://u:***@h:port/db"),
        ("duckdb://w.duckdb", "duckdb:/// then the file's path, got 'duckdb://w.duckdb'"),
        ("duckdb:///", "duckdb:/// then the file's path"),
    ],
)
def test_bad_targets_are_refused_with_the_password_hidden(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"warehouse|URL|url") as caught:
        parse_target(value)
    assert message in str(caught.value)
    assert "pw" not in str(caught.value).replace("path", "")


def test_a_warehouse_opens_a_duckdb_url_and_shows_its_target(tmp_path: Path) -> None:
    from smspresto_pipeline.warehouse import Warehouse

    warehouse = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    assert warehouse.path == tmp_path / "w.duckdb"
    assert repr(warehouse) == f"Warehouse({str(tmp_path / 'w.duckdb')!r})"
    warehouse.create_views()
    assert (tmp_path / "w.duckdb").exists()
