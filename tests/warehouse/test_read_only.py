"""A user's query on a real DuckDB file: one SELECT reading the warehouse's tables, nothing else.

The file is the campaign tests' (``path``): the ``smspresto`` schema and the user's own
``main.customers``. Each refused query is checked for what it would have left behind: a file
written, a database created, a table emptied.
"""

from pathlib import Path

import duckdb
import pytest
from campaign_fixtures import add_customers, customer_ids

from smspresto_pipeline.storage.duckdb.read_only import restrict
from smspresto_pipeline.warehouse import (
    QueryRefusedError,
    ReadOnlyQueryError,
    Warehouse,
    run_read_only_query,
)

CUSTOMERS = "select id, phone from main.customers order by id"


def test_the_warehouse_tables_are_read(path: Path) -> None:
    """The user's own table and the smspresto schema, in one query (a WITH, a join)."""
    add_customers(path, 1, 2)
    sql = (
        "with sent as (select recipient from smspresto.outbox where state = 'sent') "
        "select c.id, c.phone, c.phone in (select recipient from sent) as texted "
        "from main.customers as c order by c.id"
    )
    table = run_read_only_query(Warehouse(path), sql)
    assert table.to_pylist() == [
        {"id": "c1", "phone": "0708081401", "texted": False},
        {"id": "c2", "phone": "0708081402", "texted": False},
    ]


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        (f"{CUSTOMERS}; delete from main.customers", r"holds 2 statements \('select id"),
        ("copy (select * from main.customers) to '{tmp}/out.csv'", "of type COPY"),
        ("attach '{tmp}/other.duckdb' as other", "of type ATTACH"),
        ("export database '{tmp}/export'", "of type EXPORT"),
        ("install httpfs", "'install httpfs' is a statement of type LOAD"),
        ("load parquet", "of type LOAD"),
        ("set memory_limit = '10GB'", "of type SET"),
        ("use memory", "of type SET"),
        ("pragma enable_profiling", "of type PRAGMA"),
        ("call pragma_version()", "of type CALL"),
        ("delete from main.customers", "of type DELETE"),
        ("insert into main.customers select * from main.customers", "of type INSERT"),
        ("create table main.copy as select * from main.customers", "of type CREATE"),
        ("-- only a comment", "holds no statement"),
    ],
)
def test_anything_but_one_select_is_refused_before_it_runs(
    path: Path, tmp_path: Path, sql: str, refused: str
) -> None:
    add_customers(path, 1, 2)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(QueryRefusedError, match=refused) as raised:
        run_read_only_query(Warehouse(path), sql.format(tmp=tmp_path))
    assert "it must be exactly one SELECT" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, attached
    assert customer_ids(path) == ["c1", "c2"]


@pytest.mark.parametrize(
    "sql",
    [
        "select * from read_csv('{tmp}/customers.csv')",
        "select content as recipient from read_text('/etc/hostname')",
        "select * from read_parquet('{tmp}/customers.parquet')",
        "select file from glob('{tmp}/*')",
        "select * from read_csv('http://127.0.0.1:9/customers.csv')",
    ],
)
def test_a_select_cannot_reach_a_file_or_url(path: Path, tmp_path: Path, sql: str) -> None:
    """Files that exist and are readable: only the connection's restriction keeps them out."""
    (tmp_path / "customers.csv").write_text("recipient,dedup_key\n0708081401,k1\n")
    with duckdb.connect() as con:
        con.execute(f"copy (select 1 as a) to '{tmp_path}/customers.parquet'")
    with pytest.raises(QueryRefusedError, match="reaches outside the warehouse's tables") as raised:
        run_read_only_query(Warehouse(path), sql.format(tmp=tmp_path))
    assert "Permission Error: Cannot access file" in str(raised.value)


def test_the_restriction_holds_for_any_statement(path: Path, tmp_path: Path) -> None:
    """What the statement check already refuses is refused by the connection as well: no file,
    no database, no extension, no setting (not even the restriction's own)."""
    with Warehouse(path).reading() as con:
        restrict(con)
        for statement, error in [
            (f"copy (select 1) to '{tmp_path}/out.csv'", duckdb.PermissionException),
            (f"attach '{tmp_path}/other.duckdb' as other", duckdb.PermissionException),
            ("install httpfs", duckdb.PermissionException),
            ("set enable_external_access = true", duckdb.InvalidInputException),
            ("set lock_configuration = false", duckdb.InvalidInputException),
            ("set memory_limit = '10GB'", duckdb.InvalidInputException),
        ]:
            with pytest.raises(error):
                con.execute(statement)
        assert con.execute("select count(*) from main.customers").fetchone() == (0,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.duckdb"]


@pytest.mark.parametrize(
    ("sql", "error"),
    [("select nope from main.customers", "nope"), ("selec 1", "syntax error")],
)
def test_a_sql_error_is_duckdbs_message_not_a_refusal(path: Path, sql: str, error: str) -> None:
    with pytest.raises(ReadOnlyQueryError, match=error) as raised:
        run_read_only_query(Warehouse(path), sql)
    assert not isinstance(raised.value, QueryRefusedError)


def test_large_queries_still_run(path: Path) -> None:
    """100,000 rows come back, and a query larger than the memory limit spills to the
    warehouse's temporary directory (the restriction leaves it usable)."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into main.customers select 'c' || range, '0708' || lpad(range::varchar, 6, "
            "'0'), md5(range::varchar) || md5((range * 7)::varchar), 'P' || range "
            "from range(100000)"
        )
    rows = run_read_only_query(Warehouse(path), "select phone as recipient from main.customers")
    assert rows.num_rows == 100_000
    # A sort and a window over every row: more than 16 MB, so it must spill to finish.
    spilling = (
        "select count(*) as n from (select phone, row_number() over (order by first_name) as r "
        "from main.customers order by first_name desc) where r % 2 = 0"
    )
    small = Warehouse(path, memory_limit="16MB")
    assert run_read_only_query(small, spilling).to_pylist() == [{"n": 50_000}]


def test_a_query_is_refused_inside_a_kept_instance(tmp_path: Path) -> None:
    """The restriction is the instance's for good: a kept instance would never attach again."""
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.ensure_schema()
    with warehouse.kept_instance(), pytest.raises(RuntimeError, match="kept_instance"):
        run_read_only_query(warehouse, "SELECT 1")
    assert run_read_only_query(warehouse, "SELECT 1 AS one").to_pylist() == [{"one": 1}]
