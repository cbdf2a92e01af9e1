"""What only the PostgreSQL engine has to prove: writers in separate processes (other days side
by side, the same day in turn, the schema made at once), the password kept out of every
message, and a clear word when its driver is missing."""

import logging
import sys
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pytest
from process_fixtures import said, start, tell

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.storage import WarehouseOpenError, WarehousePathError, open_database
from smspresto_pipeline.storage.errors import WarehouseLockedError
from smspresto_pipeline.storage.postgres.connection import Secrets
from smspresto_pipeline.storage.queries import POSTGRES, parameter_names, statement
from smspresto_pipeline.storage.urls import parse_target
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.warehouse.replace import staged_days
from smspresto_pipeline.warehouse.staging import SPOOL_SCHEMA

DAY, NEXT_DAY = date(2025, 3, 6), date(2025, 3, 7)

# Writes DAY (argv[2] messages from id argv[3]) to the warehouse at argv[1] once told "go".
_DAY_WRITER = """
import sys
from datetime import date
from smspresto_pipeline.warehouse import Warehouse
url, count, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
warehouse = Warehouse(url)
warehouse.ensure_schema()
page = [{"IDHISTORIQUE": str(i), "HIS_DESTINATAIRE": "+2250708081488", "HIS_STATUT": "1",
         "HIS_DATEHEURECREA": "2025-03-06 10:00:00"} for i in range(first, first + count)]
print("ready", flush=True)
sys.stdin.readline()
print(warehouse.write_partition(date(2025, 3, 6), [page]).rows, flush=True)
"""

# Holds DAY's lock (an open day's transaction) in another process until told to stop.
_DAY_HOLDER = """
import sys
from datetime import date
from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.warehouse.replace import staged_days
warehouse = Warehouse(sys.argv[1])
with warehouse.database.writing() as session:
    with session.load_arrow("staged_days", staged_days([date(2025, 3, 6)], DEFAULT_ACCOUNT)):
        session.run_script(["dml/lock_staged_days.sql"], begin=True)
        print("holding", flush=True)
        sys.stdin.readline()
        session.rollback()
"""


def page(day: date, ids: range) -> list[dict[str, str]]:
    return [
        {"IDHISTORIQUE": str(i), "HIS_STATUT": "1", "HIS_DATEHEURECREA": f"{day} 10:00:00"}
        for i in ids
    ]


def test_another_day_is_written_while_a_process_holds_a_day(postgres_url: str) -> None:
    Warehouse(postgres_url).ensure_schema()
    holder = start(_DAY_HOLDER, postgres_url)
    try:
        assert said(holder) == "holding"
        # Allowed no wait at all (1 ms for any lock): a wait for the holder would fail it.
        impatient = Warehouse(postgres_url, lock_timeout=0)
        assert impatient.write_partition(NEXT_DAY, [page(NEXT_DAY, range(10, 13))]).rows == 3
        # The held day is another matter: its writer waits its turn, here none.
        with pytest.raises(WarehouseLockedError, match="lock"):
            impatient.write_partition(DAY, [page(DAY, range(1, 3))])
        # Another account's same day is another lock: written at once, beside the held one.
        assert impatient.write_partition(DAY, [page(DAY, range(1, 3))], account="brand_b").rows == 2
    finally:
        tell(holder, "stop")
        holder.communicate(timeout=60)
    assert holder.returncode == 0
    assert Warehouse(postgres_url, lock_timeout=0).write_partition(DAY, [page(DAY, range(1, 3))])


def test_the_same_day_from_two_processes_at_once_is_written_once(postgres_url: str) -> None:
    writers = [
        start(_DAY_WRITER, postgres_url, "300", "1"),
        start(_DAY_WRITER, postgres_url, "200", "1001"),
    ]
    for writer in writers:
        assert said(writer) == "ready"
    for writer in writers:
        tell(writer, "go")
    counts = []
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0
        counts.append(int(out))
    assert counts == [300, 200]
    with Warehouse(postgres_url).connect(read_only=True) as con:
        row = con.execute(
            "SELECT count(*), count(DISTINCT history_id), min(history_id), max(history_id)"
            " FROM smspresto.messages"
        ).fetchone()
        raw = con.execute("SELECT count(*) FROM smspresto.archive_raw").fetchone()
    # One reading of the day, whole: the first writer's (ids 1-300) or the second's
    # (1001-1200), never both (a writer that did not wait would not see the other's rows).
    assert row in {(300, 300, 1, 300), (200, 200, 1001, 1200)}
    assert raw == (row[0],)


def test_two_processes_make_the_schema_at_once(postgres_url: str) -> None:
    code = (
        "import sys\nfrom smspresto_pipeline.warehouse import Warehouse\n"
        "w = Warehouse(sys.argv[1])\nprint('ready', flush=True)\nsys.stdin.readline()\n"
        "w.ensure_schema()\n"
    )
    makers = [start(code, postgres_url), start(code, postgres_url)]
    for maker in makers:
        assert said(maker) == "ready"
    for maker in makers:
        tell(maker, "go")
    for maker in makers:
        maker.communicate(timeout=120)
        assert maker.returncode == 0
    assert Warehouse(postgres_url).database.exists()


PASSWORD = "s3cr3t-Pa55word"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://smspresto:{PASSWORD}@127.0.0.1:1/warehouse",  # nothing listens there
        f"postgresql://smspresto:{PASSWORD}@no-such-host.invalid/warehouse",
        f"postgresql://smspresto@127.0.0.1:1/warehouse?password={PASSWORD}&sslmode=bogus",
        f"postgresql://smspresto:{PASSWORD}@127.0.0.1:1/warehouse?no_such_option=1",
    ],
)
def test_the_password_is_in_no_error_repr_or_log_of_a_failed_connection(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    warehouse = Warehouse(url)
    shown = [repr(warehouse), str(warehouse.target), warehouse.database.name]
    shown.append(repr(warehouse.database))
    for attempt in (warehouse.check, warehouse.count_messages, warehouse.ensure_schema):
        try:
            attempt()
        except (WarehouseOpenError, WarehousePathError) as exc:
            error: BaseException | None = exc
            while error is not None:
                shown += [str(error), repr(error)]
                error = error.__cause__ or error.__context__
    shown += [record.getMessage() for record in caplog.records]
    assert any("***" in text or "127.0.0.1" in text or "no-such-host" in text for text in shown)
    assert not [text for text in shown if PASSWORD in text]


def test_a_bad_url_option_is_refused_without_connecting() -> None:
    warehouse = Warehouse(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db?no_such_option=1")
    with pytest.raises(WarehousePathError, match="no_such_option") as raised:
        warehouse.check()
    assert PASSWORD not in str(raised.value)


def test_an_unreachable_server_is_refused_by_the_check(postgres_url: str) -> None:
    """A run checks its warehouse before it asks the API for anything: a server that refuses
    the connection fails that check, redacted; a reachable one passes it."""
    Warehouse(postgres_url).check()
    warehouse = Warehouse(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db")
    with pytest.raises(WarehouseOpenError, match=r"u:\*\*\*@127\.0\.0\.1:1/db") as raised:
        warehouse.check()
    assert PASSWORD not in str(raised.value)


def test_a_message_quoting_the_password_is_scrubbed() -> None:
    secrets = Secrets("postgresql://u:p%40ss%2Fword@host/db")
    assert secrets.scrub("dsn: u:p%40ss%2Fword@host, then p@ss/word") == "dsn: u:***@host, then ***"
    assert not Secrets("postgresql://u@host/db").held_by("anything")


def test_without_psycopg_a_postgresql_warehouse_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An install without the extra: a server cannot produce that, so psycopg is hidden here.
    for name in list(sys.modules):
        if name == "psycopg" or name.startswith(
            ("psycopg.", "smspresto_pipeline.storage.postgres")
        ):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    target = parse_target(f"postgresql://u:{PASSWORD}@host/db")
    with pytest.raises(
        WarehouseOpenError, match=r"pip install 'smspresto-pipeline\[postgres\]'"
    ) as raised:
        open_database(
            target,
            lock_timeout=1,
            lock_backoff=0.1,
            lock_backoff_max=1,
            memory_limit="64MB",
            threads=1,
        )
    assert PASSWORD not in str(raised.value)


_TRANSACTION_HOLDER = """
import sys
from smspresto_pipeline.warehouse import Warehouse
with Warehouse(sys.argv[1]).database.transaction():
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_transactions_take_turns_across_processes_as_on_duckdb(postgres_url: str) -> None:
    # The outbox counts on it: a claim reads the keys taken, then inserts; a campaign reads
    # its caps' counts, then claims. No other transaction may slip in between.
    Warehouse(postgres_url).ensure_schema()
    holder = start(_TRANSACTION_HOLDER, postgres_url)
    try:
        assert said(holder) == "holding"
        impatient = Warehouse(postgres_url, lock_timeout=0)
        with pytest.raises(WarehouseLockedError), impatient.database.transaction():
            pass
        with impatient.database.reading() as session:  # readers need no turn
            assert "outbox" in session.tables()
    finally:
        tell(holder, "stop")
        holder.communicate(timeout=60)
    assert holder.returncode == 0


def _reads(node: dict[str, Any], table: str) -> list[tuple[str | None, str]]:
    """How the plan under ``node`` reads ``table`` (a DELETE's own node aside): each read's
    index and its condition (a bitmap scan's are its index scan's), ``(None, "")`` for a read
    through no index."""
    reads = []
    if node.get("Relation Name") == table and node["Node Type"] != "ModifyTable":
        bitmap = [child for child in node.get("Plans", ()) if "Index Name" in child]
        for index_scan in bitmap or [node]:
            reads.append((index_scan.get("Index Name"), index_scan.get("Index Cond", "")))
    for child in node.get("Plans", ()):
        reads += _reads(child, table)
    return reads


@pytest.mark.parametrize(
    ("name", "table", "index", "column"),
    [
        (
            "dml/delete_messages_partitions.sql",
            "messages",
            "messages_account_day",
            "partition_date",
        ),
        (
            "dml/delete_archive_raw_partitions.sql",
            "archive_raw",
            "archive_raw_account_day",
            "partition_date",
        ),
        ("dml/delete_messages_staged_ids.sql", "messages", "messages_pkey", "history_id"),
        ("dml/count_outbox_sent_by_recipient.sql", "outbox", "outbox_recipient", "recipient"),
    ],
)
def test_a_days_replacement_and_the_frequency_cap_read_through_an_index(
    postgres_url: str, name: str, table: str, index: str, column: str
) -> None:
    """A day's write deletes one account's days (and the ids it moves), the frequency cap
    counts some recipients: an index serves each, its condition holding the days, ids or
    recipients, so none reads the account's whole history or the whole outbox (asked with
    sequential scans turned off, which a plan can only obey when such an index exists; a
    condition on the account alone would read all its days)."""
    warehouse = Warehouse(postgres_url)
    warehouse.ensure_schema()
    params = {"states": ["sent"], "since": datetime(2025, 3, 1)}
    names = parameter_names(name, POSTGRES)
    explain = "EXPLAIN (FORMAT JSON) " + statement(name, POSTGRES, "pyformat")
    recipients = pa.table({"recipient": ["+2250708081488"]})
    with (
        warehouse.database.transaction() as session,
        session.load_arrow("staged_days", staged_days([DAY], DEFAULT_ACCOUNT)),
        session.load_arrow("capped_recipients", recipients),
        session.load_arrow("staged", SPOOL_SCHEMA.empty_table()),
    ):
        session.run_script(["dml/create_staged_messages_view.sql"])
        session.raw.execute("SET LOCAL enable_seqscan = off")
        cursor = session.raw.execute(
            explain.encode(), {k: v for k, v in params.items() if k in names}
        )
        [(plans,)] = cursor.fetchall()
        session.rollback()
    reads = _reads(plans[0]["Plan"], table)
    assert reads, plans
    for used, condition in reads:
        assert used == index, reads
        assert column in condition, reads
