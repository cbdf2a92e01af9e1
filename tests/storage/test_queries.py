"""The SQL files inside the package: found by name and dialect (the engine's own first, then the
portable one), their ``$name`` parameters written in a driver's style."""

import re
from pathlib import Path

import pytest

import smspresto_pipeline
from smspresto_pipeline.storage.queries import (
    SQL_ROOT,
    group_files,
    load_sql,
    parameter_names,
    sql_file,
    to_paramstyle,
)

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_sql_lives_inside_the_package() -> None:
    assert Path(smspresto_pipeline.__file__).parent / "storage" / "sql" == SQL_ROOT
    assert (SQL_ROOT / "ddl" / "create_messages_table.sql").is_file()
    assert not (CHECKOUT / "sql").exists(), "one place for the SQL, not two"


def test_an_engines_own_file_comes_first_then_the_portable_one() -> None:
    assert sql_file("dml/select_schema_tables.sql") == (
        SQL_ROOT / "duckdb" / "dml" / "select_schema_tables.sql"
    )
    assert sql_file("dml/count_messages.sql") == SQL_ROOT / "dml" / "count_messages.sql"
    # An engine without files of its own runs the portable ones, and misses DuckDB's.
    assert sql_file("dml/count_messages.sql", "postgresql") == (
        SQL_ROOT / "dml" / "count_messages.sql"
    )
    with pytest.raises(FileNotFoundError, match=r"select_schema_tables.sql' for postgresql"):
        sql_file("dml/select_schema_tables.sql", "postgresql")
    assert load_sql("dml/count_messages.sql").strip() == "SELECT count(*) FROM smspresto.messages;"


def test_a_group_holds_the_portable_files_and_the_engines() -> None:
    files = group_files("dml")
    assert files == sorted(files, key=lambda name: name.split("/")[-1])
    assert {"dml/count_messages.sql", "dml/insert_messages_staged.sql"} <= set(files)
    assert len(files) == len(set(files))
    assert "dml/insert_messages_staged.sql" not in group_files("dml", "postgresql")


@pytest.mark.parametrize("dialect", ["", "DuckDB", "../dml", "duck db"])
def test_a_dialect_must_be_a_plain_name(dialect: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(dialect))):
        sql_file("dml/count_messages.sql", dialect)


# What only DuckDB reads; a file using any of it belongs under sql/duckdb/.
_DUCKDB_ONLY = re.compile(
    r"count_if|group by all|by name|qualify|try_cast|duckdb_\w+\(|list_contains|min_by|"
    r"enable_external_access|lock_configuration|::double\b|\{",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SQL_ROOT.rglob("*.sql") if p.relative_to(SQL_ROOT).parts[0] != "duckdb"),
    ids=lambda p: p.relative_to(SQL_ROOT).as_posix(),
)
def test_a_portable_file_uses_no_duckdb_only_syntax(path: Path) -> None:
    code = "\n".join(line.split("--")[0] for line in path.read_text(encoding="utf-8").splitlines())
    assert not _DUCKDB_ONLY.findall(code), "move it under sql/duckdb/ or write it portably"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT $a, $b_2::VARCHAR", "SELECT %(a)s, %(b_2)s::VARCHAR"),
        # Not parameters: a string, a quoted identifier, comments; a % is doubled everywhere.
        ("SELECT '$a', \"$b\" -- $c\n", "SELECT '$a', \"$b\" -- $c\n"),
        ("/* $a */ SELECT 'it''s $x' || $y", "/* $a */ SELECT 'it''s $x' || %(y)s"),
        ("SELECT 5 % 2, '100%', $n", "SELECT 5 %% 2, '100%%', %(n)s"),
    ],
)
def test_parameters_are_written_in_the_drivers_style(sql: str, expected: str) -> None:
    assert to_paramstyle(sql, "pyformat") == expected
    assert to_paramstyle(sql, "dollar") == sql


def test_every_file_turns_to_pyformat_with_the_parameters_duckdb_binds() -> None:
    for path in SQL_ROOT.rglob("*.sql"):
        text = path.read_text(encoding="utf-8")
        names = set(re.findall(r"%\((\w+)\)s", to_paramstyle(text, "pyformat")))
        code = "\n".join(line.split("--")[0] for line in text.splitlines())
        assert names == set(re.findall(r"\$(\w+)", code)), path


def test_a_session_binds_of_a_mapping_the_parameters_its_file_names() -> None:
    # One mapping serves a select and its update (the outbox's moves): each binds its own.
    for path in SQL_ROOT.rglob("*.sql"):
        parts = path.relative_to(SQL_ROOT).parts
        own = parts[0] in {"duckdb", "postgres"}
        dialect, name = (parts[0], "/".join(parts[1:])) if own else ("duckdb", "/".join(parts))
        if sql_file(name, dialect) != path:
            continue  # a portable file that the engine's own replaces
        code = "\n".join(line.split("--")[0] for line in path.read_text("utf-8").splitlines())
        assert parameter_names(name, dialect) == set(re.findall(r"\$(\w+)", code)), path
    assert parameter_names("dml/select_outbox_moved_keys.sql", "duckdb") == {
        "campaign",
        "check_run",
        "run_id",
    }


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="'qmark'"):
        to_paramstyle("SELECT 1", "qmark")  # type: ignore[arg-type]
