"""`smspresto warehouse copy`: every table of a warehouse, DuckDB -> PostgreSQL -> DuckDB, in one
transaction on the target, verified; run through the command (click's runner) on real DuckDB
files and a real PostgreSQL server, with history ingested from the simulator over HTTP."""

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest
from conftest import SIMULATOR_HISTORY_START
from copy_fixtures import PASSWORD, T, copy, fill_tables, tables, with_password

from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.api.models import AccountCounters
from smspresto_pipeline.cli import EXIT_API_ERROR, EXIT_BAD_INPUT
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.storage.copy import CopiedTable, copy_warehouse
from smspresto_pipeline.storage.port import Session
from smspresto_pipeline.storage.queries import schema_tables
from smspresto_pipeline.warehouse import Warehouse


def ingested_warehouse(sim: RunningSimulator, path: Path) -> Path:
    """A warehouse file whose every table holds rows: two days of the simulator's history
    through real ingestion, an account snapshot, and the rows of FILL."""
    warehouse = Warehouse(path, spool_dir=path.parent / "spool")
    with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client:
        for day in (SIMULATOR_HISTORY_START, date(2025, 3, 7)):
            warehouse.write_partition(day, client.iter_archive_pages(day, day))
        warehouse.insert_snapshot(client.get_counters())
    warehouse.insert_snapshot(AccountCounters(**dict.fromkeys(_COUNTERS, 0), taken_at=T))
    fill_tables(path)
    return path


_COUNTERS = [
    *("stock", "sent", "success", "failed", "contacts"),
    *("groups", "orders", "bills", "scheduled", "predefined"),
]


def pg_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as con:
        return con.execute(query).fetchall()


def pg_cursors(session: Session) -> int:
    """The cursors open on the server in ``session``'s transaction (PostgreSQL's)."""
    raw: psycopg.Connection = getattr(session, "raw")  # noqa: B009 (the engine's own)
    # Named: a DECLAREd cursor (the unnamed portal is a statement's own, this one's too).
    row = raw.execute("SELECT count(*) FROM pg_cursors WHERE name <> ''").fetchone()
    return int(row[0]) if row else 0


def pg_run(url: str, *statements: str) -> None:
    with psycopg.connect(url) as con:
        for statement in statements:
            con.execute(statement)


@pytest.fixture
def source(simulator: RunningSimulator, tmp_path: Path) -> Path:
    return ingested_warehouse(simulator, tmp_path / "source.duckdb")


def test_every_table_round_trips_exactly(source: Path, postgres_url: str, tmp_path: Path) -> None:
    back = tmp_path / "back.duckdb"
    assert copy(str(source), postgres_url).exit_code == 0
    result = copy(postgres_url, str(back))
    assert result.exit_code == 0, result.output
    before = tables(source)
    assert all(rows for _, rows in before.values())
    assert tables(back) == before
    views = pg_rows(
        postgres_url,
        "SELECT count(*) FROM information_schema.views WHERE table_schema = 'smspresto'",
    )
    assert views[0][0] >= 5


def test_a_target_holding_rows_is_refused_and_left_as_it_was(
    source: Path, postgres_url: str
) -> None:
    assert copy(str(source), postgres_url).exit_code == 0
    pg_run(postgres_url, "DELETE FROM smspresto.messages WHERE history_id % 2 = 0")
    before = pg_rows(postgres_url, "SELECT count(*) FROM smspresto.messages")

    result = copy(str(source), with_password(postgres_url))

    assert result.exit_code == EXIT_API_ERROR
    assert "is not empty" in result.output
    assert "Nothing was copied" in result.output
    assert f"messages: {before[0][0]:,} rows" in result.output
    assert "opt_outs: 2 rows" in result.output
    assert pg_rows(postgres_url, "SELECT count(*) FROM smspresto.messages") == before
    assert PASSWORD not in result.output


def test_replace_empties_the_target_first(source: Path, postgres_url: str, tmp_path: Path) -> None:
    assert copy(str(source), postgres_url).exit_code == 0
    pg_rows(
        postgres_url,
        "INSERT INTO smspresto.opt_outs VALUES ('+2250101010101', NULL, NULL, now()) RETURNING 1",
    )
    result = copy("--replace", str(source), postgres_url)
    assert result.exit_code == 0, result.output
    assert "Emptied first (--replace)" in result.output
    back = tmp_path / "back.duckdb"
    assert copy(postgres_url, str(back)).exit_code == 0
    assert tables(back) == tables(source)


def test_a_copy_that_fails_midway_leaves_the_target_as_it_was(
    source: Path, postgres_url: str
) -> None:
    assert copy(str(source), postgres_url).exit_code == 0
    # The outbox comes after the history: by then the target's tables were emptied and refilled.
    pg_run(
        postgres_url,
        "DELETE FROM smspresto.messages WHERE history_id % 3 = 0",
        "DELETE FROM smspresto.outbox WHERE state = 'sent'",
        "ALTER TABLE smspresto.outbox ADD CONSTRAINT no_sent CHECK (state <> 'sent')",
    )
    before = {
        table: pg_rows(postgres_url, f"SELECT count(*) FROM smspresto.{table}")
        for table in schema_tables()
    }

    result = copy("--replace", str(source), with_password(postgres_url))

    assert result.exit_code == EXIT_API_ERROR
    assert "The copy failed" in result.output
    assert "no_sent" in result.output
    assert "was left as it was" in result.output
    after = {
        table: pg_rows(postgres_url, f"SELECT count(*) FROM smspresto.{table}")
        for table in schema_tables()
    }
    assert after == before
    assert PASSWORD not in result.output


def alter_rows_on_insert(url: str, table: str, body: str) -> None:
    """A trigger on ``table`` that runs ``body`` (PL/pgSQL) on each row inserted: the copy's
    loads altered on their way in, as no engine would, for its verification to catch."""
    pg_run(
        url,
        f"CREATE FUNCTION smspresto.alter_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{body} END $$",
        f"CREATE TRIGGER alter_row BEFORE INSERT ON smspresto.{table} "
        "FOR EACH ROW EXECUTE FUNCTION smspresto.alter_row()",
    )


@pytest.mark.parametrize(
    ("trigger", "table"),
    [
        # A row's key changed on its way in: the count holds, the keys do not.
        ("NEW.dedup_key := NEW.dedup_key || '-changed'; RETURN NEW;", "outbox"),
        # A row dropped on its way in: the count differs.
        ("IF NEW.dedup_key = 'k1' THEN RETURN NULL; END IF; RETURN NEW;", "outbox"),
    ],
    ids=["keys", "count"],
)
def test_a_table_that_differs_after_the_load_fails_loudly_and_is_rolled_back(
    source: Path, postgres_url: str, trigger: str, table: str
) -> None:
    assert copy(str(source), postgres_url).exit_code == 0
    alter_rows_on_insert(postgres_url, table, trigger)
    before = pg_rows(postgres_url, f"SELECT dedup_key FROM smspresto.{table} ORDER BY 1")

    result = copy("--replace", str(source), postgres_url)

    assert result.exit_code == EXIT_API_ERROR, result.output
    assert f"The copy of {table} differs from the source" in result.output
    assert pg_rows(postgres_url, f"SELECT dedup_key FROM smspresto.{table} ORDER BY 1") == before


@pytest.mark.parametrize(
    ("trigger", "table"),
    [
        # A key changed into one that Python's hash takes for it: hash(-1) == hash(-2).
        ("IF NEW.history_id = -1 THEN NEW.history_id := -2; END IF; RETURN NEW;", "messages"),
        # A table without a key (every column compared): hash(0) == hash(2**61 - 1).
        (
            "IF NEW.stock = 0 THEN NEW.stock := 2305843009213693951; END IF; RETURN NEW;",
            "account_snapshots",
        ),
    ],
    ids=["key", "column"],
)
def test_a_value_changed_into_one_of_the_same_python_hash_fails_the_copy(
    source: Path, postgres_url: str, trigger: str, table: str
) -> None:
    with duckdb.connect(str(source)) as con:
        con.execute(
            "INSERT INTO smspresto.messages (history_id, recipient, recipient_valid, status, "
            "partition_date, loaded_at) VALUES (-1, '+2250707000009', true, 'delivered', "
            "DATE '2025-03-07', $t)",
            {"t": T},
        )
    Warehouse(postgres_url).database.ensure_schema()
    alter_rows_on_insert(postgres_url, table, trigger)

    result = copy(str(source), postgres_url)

    assert result.exit_code == EXIT_API_ERROR, result.output
    assert f"The copy of {table} differs from the source" in result.output
    assert pg_rows(postgres_url, f"SELECT count(*) FROM smspresto.{table}") == [(0,)]


def test_file_to_file(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy" / "target.duckdb"
    result = copy(str(source), str(target))
    assert result.exit_code == 0, result.output
    assert tables(target) == tables(source)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["mysql://u:" + PASSWORD + "@h/db", "x.duckdb"], "postgresql://"),
        (["{tmp}/missing.duckdb", "{tmp}/x.duckdb"], "no warehouse at"),
        (["{tmp}/a.duckdb", "duckdb:///{tmp}/a.duckdb"], "the same warehouse"),
        (["{tmp}/a.duckdb", "{tmp}"], "is a directory"),
        (["{tmp}/a.duckdb", "{tmp}/x.duckdb", "--batch-rows", "0"], "--batch-rows"),
    ],
    ids=["scheme", "missing-source", "same", "target-directory", "batch-rows"],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path: Path, args: list[str], says: str) -> None:
    Warehouse(tmp_path / "a.duckdb").database.ensure_schema()
    result = copy(*(arg.format(tmp=tmp_path) for arg in args))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert says in result.output
    assert PASSWORD not in result.output
    assert not (tmp_path / "x.duckdb").exists()


def test_an_unreachable_server_exits_1_without_its_password(source: Path) -> None:
    url = f"postgresql://ops:{PASSWORD}@127.0.0.1:1/sms?connect_timeout=2"
    result = copy(str(source), url)
    assert result.exit_code == EXIT_API_ERROR, result.output
    assert "postgresql://ops:***@127.0.0.1:1/sms" in result.output
    assert PASSWORD not in result.output


def test_a_copy_into_duckdb_holds_one_batch_at_a_time(source: Path, postgres_url: str) -> None:
    """The target's one transaction must not keep the Arrow batches loaded into it (a view
    dropped in a transaction stays until it ends, and with it the batch it read): the memory
    Arrow holds once a table is copied is no more than one batch's, however many it took."""
    assert copy(str(source), postgres_url).exit_code == 0
    held: dict[str, int] = {}
    baseline = pa.total_allocated_bytes()

    def copied(table: CopiedTable) -> None:
        held[table.name] = pa.total_allocated_bytes() - baseline

    batch_rows = 5
    report = copy_warehouse(
        Warehouse(postgres_url).database,
        Warehouse(source.parent / "back.duckdb").database,
        batch_rows=batch_rows,
        on_table=copied,
    )

    rows = {table.name: table.rows for table in report.tables}
    assert rows["messages"] > 10 * batch_rows
    assert rows["archive_raw"] > 10 * batch_rows
    assert held == dict.fromkeys(rows, 0)


def test_reading_yields_batches_of_batch_rows_postgres_from_a_server_side_cursor(
    source: Path, postgres_url: str
) -> None:
    assert copy(str(source), postgres_url).exit_code == 0
    for where in (source, postgres_url):
        database = Warehouse(where).database
        with database.snapshot() as session:
            total = session.count_rows("messages")
            sizes, open_cursors = [], []
            for batch in session.read_batches("messages", ["history_id"], 7):
                sizes.append(batch.num_rows)
                if where == postgres_url:
                    open_cursors.append(pg_cursors(session))
        assert sizes == [7] * (total // 7) + ([total % 7] if total % 7 else [])
        if where == postgres_url:
            assert open_cursors == [1] * len(sizes)
