"""Several accounts in one warehouse, for real in tmp_path: each (account, day) replaced alone,
history ids unique per account, and a warehouse made before accounts upgraded without loss."""

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from test_warehouse import DAY, NEXT_DAY, day_pages, record

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT, check_account, prefixed
from smspresto_pipeline.api.models import AccountCounters
from smspresto_pipeline.warehouse import Warehouse, WarehouseSchemaError

# The history's tables as the DDL made them before accounts (storage/sql/ddl at 437e7b0).
OLD_HISTORY_DDL = """
CREATE SCHEMA smspresto;
CREATE TABLE IF NOT EXISTS smspresto.messages (
    history_id BIGINT PRIMARY KEY,
    recipient VARCHAR NOT NULL,
    sender VARCHAR,
    recipient_valid BOOLEAN NOT NULL,
    message VARCHAR,
    status_code VARCHAR,
    status VARCHAR NOT NULL,
    segments INTEGER,
    created_at TIMESTAMP,
    sent_at TIMESTAMP,
    queued_at TIMESTAMP,
    account_ref VARCHAR,
    queue_id VARCHAR,
    contact_name VARCHAR,
    country VARCHAR,
    carrier VARCHAR,
    partition_date DATE NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS smspresto.archive_raw (
    IDHISTORIQUE VARCHAR,
    HIS_DESTINATAIRE VARCHAR,
    HIS_MESSAGE VARCHAR,
    HIS_STATUT VARCHAR,
    HIS_NOMBRESMS VARCHAR,
    HIS_DATEHEURECREA VARCHAR,
    HIS_DATEHEUREENVOI VARCHAR,
    IDDATEHEURE VARCHAR,
    CPT_REF VARCHAR,
    IDSMSFILATTENTE VARCHAR,
    HIS_EXPEDITEUR VARCHAR,
    NOMCONTACT VARCHAR,
    partition_date DATE NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS smspresto.account_snapshots (
    taken_at TIMESTAMP NOT NULL,
    stock BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    success BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    contacts BIGINT NOT NULL,
    groups BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    bills BIGINT NOT NULL,
    scheduled BIGINT NOT NULL,
    predefined BIGINT NOT NULL
);
"""


def rows(warehouse: Warehouse, sql: str) -> list[tuple[object, ...]]:
    with warehouse.connect(read_only=True) as con:
        return [tuple(row) for row in con.execute(sql).fetchall()]


def by_account(warehouse: Warehouse, table: str) -> dict[str, int]:
    counts = rows(warehouse, f"SELECT account, count(*) FROM smspresto.{table} GROUP BY 1")
    return {str(account): int(str(count)) for account, count in counts}


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "accounts.duckdb")


def test_an_accounts_day_is_replaced_without_touching_another_accounts(
    warehouse: Warehouse,
) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 11)), account="brand_a")
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 8)), account="brand_b")
    # brand_a's day read again, shorter: its day is replaced, brand_b's is left as it was.
    stats = warehouse.write_partition(DAY, day_pages(DAY, range(1, 5)), account="brand_a")
    assert (stats.rows, stats.raw_rows) == (4, 4)
    assert by_account(warehouse, "messages") == {"brand_a": 4, "brand_b": 7}
    assert by_account(warehouse, "archive_raw") == {"brand_a": 4, "brand_b": 7}
    assert warehouse.count_messages("brand_b") == 7
    assert warehouse.count_messages() == 11
    assert warehouse.partition_stats(DAY, account="brand_b").rows == 7
    assert [r["history_id"] for r in warehouse.previews([DAY], account="brand_b")[DAY]] == [
        1,
        2,
        3,
        4,
        5,
    ]
    # The same history_id in two accounts is two messages.
    assert rows(
        warehouse,
        "SELECT account, history_id FROM smspresto.messages WHERE history_id = 1 ORDER BY 1",
    ) == [("brand_a", 1), ("brand_b", 1)]


def test_an_id_moved_to_another_day_is_moved_in_its_own_account_only(
    warehouse: Warehouse,
) -> None:
    warehouse.write_partition(DAY, [[record(1), record(2)]], account="brand_a")
    warehouse.write_partition(DAY, [[record(1), record(2)]], account="brand_b")
    # brand_a's message 2 is read for the next day (its time zone changed, say).
    warehouse.write_partition(NEXT_DAY, [[record(2, NEXT_DAY)]], account="brand_a")
    assert rows(
        warehouse,
        "SELECT account, history_id, partition_date FROM smspresto.messages ORDER BY 1, 2",
    ) == [
        ("brand_a", 1, DAY),
        ("brand_a", 2, NEXT_DAY),
        ("brand_b", 1, DAY),
        ("brand_b", 2, DAY),
    ]


def test_the_writer_commits_two_accounts_days_in_separate_transactions(
    warehouse: Warehouse,
) -> None:
    spools = [warehouse.spool(DAY, account=account) for account in ("brand_a", "brand_b")]
    for spool in spools:
        spool.add(day_pages(DAY, range(1, 4))[0])
    with warehouse.writer(linger=5, max_delay=5) as writer:
        # Queued together: one transaction would hold both, but a transaction is one account's.
        futures = [writer.submit(spool) for spool in spools]
        writer.flush()
        assert [f.result(timeout=60).rows for f in futures] == [3, 3]
    assert by_account(warehouse, "messages") == {"brand_a": 3, "brand_b": 3}


def test_one_transaction_replaces_one_accounts_days(warehouse: Warehouse) -> None:
    spools = [warehouse.spool(DAY, account="brand_a"), warehouse.spool(NEXT_DAY)]
    with pytest.raises(ValueError, match=r"one account, got \['brand_a', 'default'\]"):
        warehouse.commit_days(spools)


def test_snapshots_are_counted_per_account(warehouse: Warehouse) -> None:
    names = ("stock", "sent", "success", "failed", "contacts", "groups", "orders", "bills")
    counters = AccountCounters(
        **dict.fromkeys((*names, "scheduled", "predefined"), 1),
        taken_at=datetime(2025, 3, 6, tzinfo=UTC),
    )
    assert warehouse.insert_snapshot(counters, account="brand_a") == 1
    assert warehouse.insert_snapshot(counters, account="brand_b") == 1
    assert warehouse.insert_snapshot(counters) == 1
    assert by_account(warehouse, "account_snapshots") == {
        "brand_a": 1,
        "brand_b": 1,
        DEFAULT_ACCOUNT: 1,
    }


@pytest.mark.parametrize("bad", ["", "Brand", "brand a", "1brand", "brand__a", "a" * 33, None])
def test_a_bad_account_name_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValueError, match=rf"account must be .* got {re.escape(repr(bad))}"):
        check_account(bad)


def test_the_default_account_keeps_plain_names() -> None:
    assert prefixed("archive_messages_ingest_job", None) == "archive_messages_ingest_job"
    assert prefixed("archive_messages_ingest_job", DEFAULT_ACCOUNT) == "archive_messages_ingest_job"
    assert prefixed("smspresto_archive_checks", "brand_a") == "brand_a__smspresto_archive_checks"


# --- a warehouse made before accounts --------------------------------------------------------


def old_file(path: Path) -> None:
    """A warehouse of the DDL before accounts, with a day of history and a snapshot."""
    with duckdb.connect(str(path)) as con:
        con.execute(OLD_HISTORY_DDL)
        for history_id in (1, 2, 3):
            con.execute(
                "INSERT INTO smspresto.messages (history_id, recipient, recipient_valid, status, "
                "partition_date, loaded_at) VALUES (?, '+2250708081488', true, 'delivered', ?, "
                "now())",
                [history_id, DAY],
            )
            con.execute(
                "INSERT INTO smspresto.archive_raw (IDHISTORIQUE, partition_date, loaded_at) "
                "VALUES (?, ?, now())",
                [str(history_id), DAY],
            )
        con.execute(
            "INSERT INTO smspresto.account_snapshots VALUES (now(), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"
        )


def test_a_warehouse_made_before_accounts_keeps_its_rows_as_the_default_accounts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.duckdb"
    old_file(path)
    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    assert by_account(warehouse, "messages") == {DEFAULT_ACCOUNT: 3}
    assert by_account(warehouse, "archive_raw") == {DEFAULT_ACCOUNT: 3}
    assert by_account(warehouse, "account_snapshots") == {DEFAULT_ACCOUNT: 1}
    assert rows(warehouse, "SELECT history_id, status FROM smspresto.messages ORDER BY 1") == [
        (1, "delivered"),
        (2, "delivered"),
        (3, "delivered"),
    ]
    # The key is now per account: another account's message 1 is stored beside the old one,
    # and the default account's day read again replaces the migrated rows.
    warehouse.write_partition(DAY, [[record(1)]], account="brand_b")
    warehouse.write_partition(DAY, [[record(1), record(2)]])
    assert by_account(warehouse, "messages") == {DEFAULT_ACCOUNT: 2, "brand_b": 1}
    assert by_account(warehouse, "archive_raw") == {DEFAULT_ACCOUNT: 2, "brand_b": 1}
    # Upgraded once: a second opening changes nothing.
    Warehouse(path).ensure_schema()
    assert by_account(warehouse, "messages") == {DEFAULT_ACCOUNT: 2, "brand_b": 1}


@pytest.mark.parametrize(
    ("columns", "row"),
    [
        ("taken_at VARCHAR, stock BIGINT", "('x', 1)"),  # a type changed
        ("taken_at TIMESTAMP, stock BIGINT", "(now(), 1)"),  # lacks columns without a default
    ],
)
def test_a_history_table_of_another_shape_with_rows_is_refused(
    tmp_path: Path, columns: str, row: str
) -> None:
    path = tmp_path / "odd.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA smspresto")
        con.execute(f"CREATE TABLE smspresto.account_snapshots ({columns})")
        con.execute(f"INSERT INTO smspresto.account_snapshots VALUES {row}")
    with pytest.raises(WarehouseSchemaError, match=r"smspresto\.account_snapshots .*taken_at"):
        Warehouse(path).ensure_schema()
    with duckdb.connect(str(path), read_only=True) as con:
        described = con.execute("DESCRIBE smspresto.account_snapshots").fetchall()
        assert [column[0] for column in described] == ["taken_at", "stock"]
        assert con.execute("SELECT count(*) FROM smspresto.account_snapshots").fetchone() == (1,)
