"""The DuckDB warehouse, for real in tmp_path: schema, typed day writes, idempotence, crash
safety, the lock, snapshots and views."""

import asyncio
import concurrent.futures
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import LockHolder

from smspresto_pipeline.api.models import ARCHIVE_FIELDS, AccountCounters, ArchiveRecord
from smspresto_pipeline.storage import StorageError, is_lock_conflict
from smspresto_pipeline.storage import queries as queries_module
from smspresto_pipeline.storage.duckdb import DuckDBDatabase
from smspresto_pipeline.storage.duckdb import connection as connection_module
from smspresto_pipeline.storage.duckdb import database as database_module
from smspresto_pipeline.warehouse import (
    DaySpool,
    PartitionStats,
    Warehouse,
    WarehouseLockedError,
    WarehouseOpenError,
)

DAY = date(2025, 3, 6)
NEXT_DAY = date(2025, 3, 7)


def record(history_id: int | str, day: date = DAY, **fields: Any) -> ArchiveRecord:
    """A list-archive row as the API sends it (every field a string)."""
    raw: dict[str, Any] = {
        "IDHISTORIQUE": str(history_id),
        "HIS_DESTINATAIRE": "+2250708081488",
        "HIS_MESSAGE": "Bonjour Rémi, votre reçu est prêt",
        "HIS_STATUT": "1",
        "HIS_NOMBRESMS": "1",
        "HIS_DATEHEURECREA": f"{day} 10:00:00",
        "HIS_DATEHEUREENVOI": f"{day} 10:00:03",
        "IDDATEHEURE": f"{day} 10:00:00",
        "CPT_REF": "SP22558371758",
        "IDSMSFILATTENTE": str(history_id),
        "HIS_EXPEDITEUR": "ONIRIS",
        "NOMCONTACT": "Diarrassouba Rémi",
    }
    raw.update(fields)
    return ArchiveRecord(raw)


def day_pages(day: date, ids: range, page_size: int = 3) -> list[list[ArchiveRecord]]:
    records = [record(i, day, HIS_STATUT=str(i % 3)) for i in ids]
    return [records[i : i + page_size] for i in range(0, len(records), page_size)]


def table(warehouse: Warehouse, name: str) -> list[tuple[Any, ...]]:
    """Every row of a table, loaded_at left out, in a stable order."""
    with warehouse.connect(read_only=True) as con:
        columns = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'smspresto' AND table_name = ? AND column_name != "
                "'loaded_at' ORDER BY ordinal_position",
                [name],
            ).fetchall()
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        rows: list[tuple[Any, ...]] = con.execute(
            f"SELECT {select} FROM smspresto.{name} ORDER BY ALL"
        ).fetchall()
        return rows


def loaded_ats(warehouse: Warehouse) -> dict[date, datetime]:
    """Each day's ``loaded_at``: the days one transaction wrote share theirs."""
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT partition_date, loaded_at FROM smspresto.messages"
        ).fetchall()
    stamps = dict(rows)
    assert len(stamps) == len(rows), "a day with two loaded_at"
    return stamps


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb", spool_dir=tmp_path / "spool", spill_rows=4)


def test_schema_has_every_table(warehouse: Warehouse) -> None:
    warehouse.ensure_schema()
    warehouse.ensure_schema()  # idempotent
    with warehouse.connect(read_only=True) as con:
        tables = {
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'smspresto'"
            ).fetchall()
        }
    assert tables == {
        "alert_deliveries",
        "archive_raw",
        "messages",
        "account_snapshots",
        "outbox",
        "opt_outs",
        "campaign_pauses",
        "campaign_activations",
        "campaign_surges",
        "campaign_surges_held",
        "intraday_reads",
    }


def test_a_schema_the_engine_refuses_raises_the_ports_error(tmp_path: Path) -> None:
    """A view where the outbox table belongs: the upgrade's DROP TABLE fails in DuckDB, and
    the error comes as the port's (DuckDB's kept as the cause), the view kept, the file free."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA smspresto")
        con.execute("CREATE VIEW smspresto.outbox AS SELECT 1 AS x WHERE false")
    for _ in range(2):  # the failed attempt released the file: the next one fails alike
        with pytest.raises(StorageError, match=r'"outbox" is of type View') as failed:
            Warehouse(path).ensure_schema()
        assert isinstance(failed.value.__cause__, duckdb.CatalogException)
    with duckdb.connect(str(path), read_only=True) as con:
        views = "SELECT view_name FROM duckdb_views() WHERE schema_name = 'smspresto'"
        assert con.execute(views).fetchall() == [("outbox",)]


def test_day_is_typed_and_counted(warehouse: Warehouse) -> None:
    pages = [
        [
            record(1),
            record(2, HIS_STATUT="2", HIS_NOMBRESMS="3"),
            record(3, HIS_STATUT="0", HIS_DATEHEUREENVOI="0000-00-00 00:00:00"),
        ],
        [record(4, HIS_STATUT="7", HIS_NOMBRESMS="", NOMCONTACT=None)],
    ]
    stats = warehouse.write_partition(DAY, pages)
    assert stats == PartitionStats(
        partition_date=DAY,
        rows=4,
        delivered=1,
        failed=1,
        pending=1,
        unknown=1,
        segments=5,
        pages=2,
        raw_rows=4,
    )
    assert stats.failure_rate == 0.5
    with warehouse.connect(read_only=True) as con:
        row = con.execute(
            "SELECT history_id, recipient, recipient_valid, sender, message, status_code, status, "
            "segments, created_at, sent_at, queued_at, account_ref, queue_id, contact_name, "
            "country, carrier, partition_date FROM smspresto.messages WHERE history_id = 2"
        ).fetchone()
        assert row == (
            2,
            "+2250708081488",
            True,
            "ONIRIS",
            "Bonjour Rémi, votre reçu est prêt",
            "2",
            "failed",
            3,
            datetime(2025, 3, 6, 10, 0, 0),
            datetime(2025, 3, 6, 10, 0, 3),
            datetime(2025, 3, 6, 10, 0, 0),
            "SP22558371758",
            "2",
            "Diarrassouba Rémi",
            "CI",
            "Orange",
            DAY,
        )
        zero_date, unknown_segments = con.execute(
            "SELECT (SELECT sent_at FROM smspresto.messages WHERE history_id = 3), "
            "(SELECT segments FROM smspresto.messages WHERE history_id = 4)"
        ).fetchone() or (None, None)
        assert zero_date is None
        assert unknown_segments is None
        raw = con.execute(
            "SELECT HIS_DATEHEUREENVOI, NOMCONTACT, partition_date FROM smspresto.archive_raw "
            "WHERE IDHISTORIQUE IN ('3', '4') ORDER BY IDHISTORIQUE"
        ).fetchall()
    assert raw == [
        ("0000-00-00 00:00:00", "Diarrassouba Rémi", DAY),
        ("2025-03-06 10:00:03", None, DAY),
    ]


def test_recipients_old_national_and_invalid(warehouse: Warehouse) -> None:
    pages = [
        [
            record(1, HIS_DESTINATAIRE="+22508081488"),  # before the 2021 renumbering
            record(2, HIS_DESTINATAIRE="05 04 03 02 01"),  # national form
            record(3, HIS_DESTINATAIRE="+22521234567"),  # an old fixed line: not migrated
            record(5, HIS_DESTINATAIRE="abc"),
            record(4, HIS_DESTINATAIRE="+33612345678"),
        ]
    ]
    warehouse.write_partition(DAY, pages)
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT recipient, recipient_valid, country FROM smspresto.messages ORDER BY history_id"
        ).fetchall()
    assert rows == [
        ("+2250708081488", True, "CI"),
        ("+2250504030201", True, "CI"),
        ("+22521234567", False, "CI"),
        ("+33612345678", True, "FR"),
        ("abc", False, None),
    ]


def test_status_map_is_configurable(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb", status_map={"1": "delivered", "9": "failed"})
    stats = warehouse.write_partition(DAY, [[record(1, HIS_STATUT="9"), record(2, HIS_STATUT="2")]])
    assert (stats.failed, stats.unknown, stats.delivered) == (1, 1, 0)
    assert stats.failure_rate == 1.0


def test_rewriting_a_day_gives_the_same_tables(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 11)))
    warehouse.write_partition(NEXT_DAY, day_pages(NEXT_DAY, range(11, 15)))
    first = (table(warehouse, "messages"), table(warehouse, "archive_raw"))
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 11)))
    assert (table(warehouse, "messages"), table(warehouse, "archive_raw")) == first
    assert len(first[0]) == 14


def test_rewrite_replaces_the_day_only(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 11)))
    warehouse.write_partition(NEXT_DAY, day_pages(NEXT_DAY, range(11, 15)))
    stats = warehouse.write_partition(DAY, [[record(1, HIS_STATUT="2"), record(2)]])
    assert (stats.rows, stats.failed) == (2, 1)
    assert warehouse.count_messages() == 6
    with warehouse.connect(read_only=True) as con:
        by_day = con.execute(
            "SELECT partition_date, count(*) FROM smspresto.archive_raw GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert by_day == [(DAY, 2), (NEXT_DAY, 4)]


def test_a_file_with_duckdbs_default_row_groups_takes_new_and_rewritten_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files written before the warehouse chose its row group size have row groups of up to
    # 122,880 rows; writing to them with smaller ones must work (messages has a primary key,
    # the case some DuckDB releases got wrong).
    path = tmp_path / "older.duckdb"
    with monkeypatch.context() as older:
        older.setattr(connection_module, "_ATTACH", "ATTACH ? AS warehouse")
        Warehouse(path).write_partition(DAY, [[record(i) for i in range(1, 20_001)]])
    warehouse = Warehouse(path)
    with warehouse.connect(read_only=True) as con:
        assert con.execute(
            "SELECT max(count) FROM pragma_storage_info('smspresto.messages')"
        ).fetchone() == (20_000,)
    warehouse.write_partition(NEXT_DAY, [[record(i, NEXT_DAY) for i in range(20_001, 40_001)]])
    stats = warehouse.write_partition(DAY, [[record(i, HIS_STATUT="2") for i in range(1, 101)]])
    assert (stats.rows, stats.failed) == (100, 100)
    with warehouse.connect(read_only=True) as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT history_id) FROM smspresto.messages"
        ).fetchone() == (20_100, 20_100)


def test_empty_day_clears_it_and_has_no_failure_rate(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 5)))
    stats = warehouse.write_partition(DAY, [])
    assert (stats.rows, stats.raw_rows, stats.segments, stats.pages) == (0, 0, 0, 0)
    assert stats.failure_rate is None
    assert table(warehouse, "messages") == []


def test_only_pending_means_no_failure_rate() -> None:
    assert PartitionStats(DAY, 3, 0, 0, 3, 0, 3).failure_rate is None


def test_duplicate_and_id_less_rows(warehouse: Warehouse) -> None:
    pages = [[record(1, HIS_STATUT="0"), record("x"), record(1, HIS_STATUT="1")]]
    stats = warehouse.write_partition(DAY, pages)
    assert (stats.rows, stats.raw_rows, stats.delivered) == (1, 3, 1), "last reading wins"


def test_message_moving_to_another_day_stays_unique(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, [[record(1), record(2)]])
    warehouse.write_partition(NEXT_DAY, [[record(2, NEXT_DAY)]])
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT history_id, partition_date FROM smspresto.messages ORDER BY 1"
        ).fetchall()
    assert rows == [(1, DAY), (2, NEXT_DAY)]


def test_crash_while_reading_a_day_keeps_its_previous_contents(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 11)))
    warehouse.write_partition(NEXT_DAY, day_pages(NEXT_DAY, range(11, 15)))
    before = (table(warehouse, "messages"), table(warehouse, "archive_raw"))

    def broken_pages() -> Iterator[list[ArchiveRecord]]:
        yield [record(i, HIS_STATUT="2") for i in range(100, 110)]
        yield [record(i, HIS_STATUT="2") for i in range(110, 120)]
        raise ConnectionError("the API went away mid-day")

    with pytest.raises(ConnectionError):
        warehouse.write_partition(DAY, broken_pages())
    assert (table(warehouse, "messages"), table(warehouse, "archive_raw")) == before
    assert list((tmp_path / "spool").iterdir()) == [], "staged pages are cleaned up"


def test_failed_commit_rolls_back_and_releases_the_lock(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 11)))
    before = (table(warehouse, "messages"), table(warehouse, "archive_raw"))
    real_sql = queries_module.load_sql

    def broken_insert(relative: str, dialect: str) -> str:
        # The day's rows are already deleted and re-inserted into archive_raw when this fails.
        if relative.startswith("dml/insert_messages_staged"):
            return "INSERT INTO smspresto.messages SELECT * FROM no_such_table"
        return real_sql(relative, dialect)

    monkeypatch.setattr(database_module, "load_sql", broken_insert)
    with warehouse.spool(DAY) as spool:
        spool.add([record(50)])
        with pytest.raises(StorageError, match="no_such_table") as failed:
            warehouse.commit(spool)
    assert isinstance(failed.value.__cause__, duckdb.CatalogException), "DuckDB's, as the cause"
    monkeypatch.undo()
    assert (table(warehouse, "messages"), table(warehouse, "archive_raw")) == before
    # Another process can write at once: nothing kept the file locked.
    code = f"import duckdb; duckdb.connect({str(warehouse.path)!r}).execute('CHECKPOINT')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_small_day_stays_in_memory(warehouse: Warehouse) -> None:
    with warehouse.spool(DAY) as spool:
        spool.add(day_pages(DAY, range(1, 4))[0])
        assert (spool.path, spool.buffered_rows) == (None, 3)
        stats = warehouse.commit(spool)
    assert stats.rows == 3
    assert not (warehouse.spool_dir and warehouse.spool_dir.exists()), "nothing written to disk"


def test_a_large_day_is_spilled_and_memory_stays_bounded(warehouse: Warehouse) -> None:
    # spill_rows=4: past four rows the day goes to Parquet, and later pages follow it each
    # time more than four are held: memory never holds more than spill_rows rows plus one
    # page, whatever the day.
    with warehouse.spool(DAY) as spool:
        held = []
        for page in day_pages(DAY, range(1, 15), page_size=3):
            spool.add(page)
            held.append(spool.buffered_rows)
        assert held == [3, 0, 3, 0, 2]
        assert spool.path is not None
        assert spool.path.parent.name.startswith(f"smspresto-spool-{os.getpid()}-")
        spool.finish()
        parquet = pq.ParquetFile(spool.path)
        groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
        assert groups == [6, 6, 2]
        assert parquet.schema_arrow.names[: len(ARCHIVE_FIELDS)] == list(ARCHIVE_FIELDS)
        stats = warehouse.commit(spool)
        spilled = spool.path
    assert (stats.rows, stats.pages) == (14, 5)
    assert not spilled.exists()
    with warehouse.connect(read_only=True) as con:
        order = con.execute(
            "SELECT IDHISTORIQUE FROM smspresto.archive_raw WHERE partition_date = ?", [DAY]
        ).fetchall()
    assert [int(i) for (i,) in order] == list(range(1, 15)), "kept in the order received"


def test_numbers_sent_as_json_numbers_are_kept_as_text(warehouse: Warehouse) -> None:
    raw = dict(record(1).raw, IDHISTORIQUE=1, HIS_STATUT=2, HIS_NOMBRESMS=3)
    stats = warehouse.write_partition(DAY, [[raw]])
    assert (stats.rows, stats.failed, stats.segments) == (1, 1, 3)
    assert table(warehouse, "archive_raw")[0][:5] == (
        "1",
        "+2250708081488",
        record(1).message,
        "2",
        "3",
    )


def test_async_write(warehouse: Warehouse) -> None:
    async def pages() -> AsyncIterator[list[ArchiveRecord]]:
        for page in day_pages(DAY, range(1, 8)):
            yield page

    stats = asyncio.run(warehouse.write_partition_async(DAY, pages()))
    assert (stats.rows, stats.pages) == (7, 3)


def test_lock_held_too_long_raises(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.ensure_schema()
    holder = LockHolder(warehouse.path)
    try:
        impatient = Warehouse(warehouse.path, lock_timeout=0.2, lock_backoff=0.05)
        with pytest.raises(WarehouseLockedError, match=r"stayed locked by .*\(PID \d+\)"):
            impatient.write_partition(DAY, [[record(1)]])
    finally:
        holder.release()


def test_a_lock_conflict_is_told_from_any_other_error(warehouse: Warehouse) -> None:
    """DuckDB's own lock error and ours once the wait ran out are lock conflicts; a file DuckDB
    cannot open for another reason is not (and raises at once, naming the path)."""
    warehouse.ensure_schema()
    with LockHolder(warehouse.path):
        with pytest.raises(duckdb.IOException) as duckdbs:
            duckdb.connect(str(warehouse.path), read_only=True)
        with pytest.raises(WarehouseLockedError) as ours:
            Warehouse(warehouse.path, lock_timeout=0).count_messages()
    assert is_lock_conflict(duckdbs.value)
    assert is_lock_conflict(ours.value)
    truncated = warehouse.path.with_name("truncated.duckdb")
    truncated.write_bytes(warehouse.path.read_bytes()[:5000])
    with pytest.raises(WarehouseOpenError) as other:
        Warehouse(truncated, lock_timeout=1).count_messages()
    assert not is_lock_conflict(other.value)
    assert not is_lock_conflict(other.value.__cause__ or other.value)


@pytest.mark.parametrize(
    ("make", "duckdb_says"),
    [
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: p.write_text("id,recipient\n1,0708081488\n"), "not a valid DuckDB database"),
        (lambda p: p.write_bytes(bytes(8) + b"DUCK" + bytes(4000)), "Could not read enough bytes"),
    ],
)
def test_a_file_duckdb_cannot_open_is_not_waited_for(
    tmp_path: Path, make: Callable[[Path], object], duckdb_says: str
) -> None:
    path = tmp_path / "warehouse.duckdb"
    make(path)
    warehouse = Warehouse(path, lock_timeout=60)
    for read_only in (True, False):
        with (
            pytest.raises(WarehouseOpenError, match=duckdb_says) as raised,
            warehouse.connect(read_only=read_only),
        ):
            pass
        assert f"DuckDB cannot open {path}" in str(raised.value)
    assert warehouse.lock_waits.waited == 0.0  # not taken for a lock, so never waited for


def test_lock_waits_are_reported_and_share_one_allowance(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    """Each wait is reported (who holds the file, then again while it lasts), and the
    allowance is for all of the object's connections: once spent, the next gives up at once."""
    warehouse.ensure_schema()
    log = logging.getLogger("smspresto_pipeline.tests.lock_waits")
    caplog.set_level(logging.INFO, logger=log.name)
    holder = LockHolder(warehouse.path)
    try:
        run = Warehouse(
            warehouse.path, lock_timeout=0.6, lock_backoff=0.05, log=log, lock_report_every=0.2
        )
        with pytest.raises(WarehouseLockedError, match=r"over \d+ attempt"):
            run.write_partition(DAY, [[record(1)]])
        with pytest.raises(WarehouseLockedError, match=r"over 1 attempt here"):
            run.write_partition(NEXT_DAY, [[record(2)]])
    finally:
        holder.release()
    messages = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert re.search(r"is locked by .*\(PID \d+\); waiting for it", messages[0]), messages
    assert any("is still locked by" in message for message in messages), messages


def test_lock_conflict_is_waited_out(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    warehouse.ensure_schema()
    holder = LockHolder(warehouse.path)
    retried = threading.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "is locked" in record.getMessage():
                retried.set()

    logger = logging.getLogger("smspresto_pipeline.warehouse")
    handler = Signal(level=logging.DEBUG)
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    outcome: list[PartitionStats | BaseException] = []

    def write() -> None:
        try:
            outcome.append(warehouse.write_partition(DAY, [[record(1), record(2)]]))
        except BaseException as exc:
            outcome.append(exc)

    writer = threading.Thread(target=write)
    try:
        writer.start()
        assert retried.wait(timeout=60), "the writer never met the lock"
        holder.release()
        writer.join(timeout=120)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert len(outcome) == 1
    assert isinstance(outcome[0], PartitionStats)
    assert any("lock obtained after waiting" in r.getMessage() for r in caplog.records)
    assert outcome[0].rows == 2


def test_previews_are_each_days_first_messages(warehouse: Warehouse) -> None:
    # Created in reverse order of id on DAY, and one message with no creation time (last).
    rows = [record(i, HIS_DATEHEURECREA=f"{DAY} 1{9 - i}:00:00") for i in range(1, 8)]
    rows.append(record(8, HIS_DATEHEURECREA="0000-00-00 00:00:00"))
    warehouse.write_partition(DAY, [rows])
    warehouse.write_partition(NEXT_DAY, [[record(20, NEXT_DAY)]])
    previews = warehouse.previews([DAY, NEXT_DAY, date(2025, 3, 8)], limit=3)
    assert [p["history_id"] for p in previews[DAY]] == [7, 6, 5]
    assert previews[DAY][0] == {
        "history_id": 7,
        "created_at": datetime(2025, 3, 6, 12, 0),
        "sender": "ONIRIS",
        "recipient": "+2250708081488",
        "status": "delivered",
        "segments": 1,
        "country": "CI",
        "carrier": "Orange",
    }
    assert [p["history_id"] for p in previews[NEXT_DAY]] == [20]
    assert previews[date(2025, 3, 8)] == []
    assert [p["history_id"] for p in warehouse.previews([DAY], limit=10)[DAY]] == [
        7,
        6,
        5,
        4,
        3,
        2,
        1,
        8,
    ]
    assert warehouse.previews([DAY], limit=0) == {DAY: []}
    assert warehouse.previews([]) == {}


def test_snapshots_append(warehouse: Warehouse) -> None:
    counters = {
        "stock": 100,
        "sent": 50,
        "success": 45,
        "failed": 5,
        "contacts": 400,
        "groups": 10,
        "orders": 15,
        "bills": 10,
        "scheduled": 1,
        "predefined": 2,
    }
    taken = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)
    assert warehouse.insert_snapshot(AccountCounters(**counters, taken_at=taken)) == 1
    counters["stock"] = 90
    assert warehouse.insert_snapshot(AccountCounters(**counters, taken_at=taken)) == 2
    rows = table(warehouse, "account_snapshots")
    assert [r[:2] for r in rows] == [
        (datetime(2025, 3, 6, 12, 0), 90),
        (datetime(2025, 3, 6, 12, 0), 100),
    ]


def test_views(warehouse: Warehouse) -> None:
    warehouse.write_partition(
        DAY,
        [
            [
                record(1, HIS_STATUT="2", HIS_DESTINATAIRE="+2250101010101"),
                record(2, HIS_STATUT="2", HIS_DESTINATAIRE="+2250101010101"),
                record(3, HIS_STATUT="1"),
                record(4, HIS_STATUT="0", HIS_EXPEDITEUR="SHOP", HIS_NOMBRESMS="2"),
            ]
        ],
    )
    counts = warehouse.create_views()
    assert set(counts) == {
        "daily_delivery_by_sender",
        "failure_rate_by_carrier",
        "hourly_volume",
        "daily_segments_billed",
        "repeatedly_failing_recipients",
    }
    with warehouse.connect(read_only=True) as con:
        by_sender = con.execute(
            "SELECT sender, messages, failed, failure_rate "
            "FROM smspresto.daily_delivery_by_sender ORDER BY sender"
        ).fetchall()
        assert by_sender == [("ONIRIS", 3, 2, 2 / 3), ("SHOP", 1, 0, None)]
        carriers = con.execute(
            "SELECT country, carrier, failed, failure_rate FROM smspresto.failure_rate_by_carrier "
            "ORDER BY carrier"
        ).fetchall()
        assert carriers == [("CI", "Moov", 2, 1.0), ("CI", "Orange", 0, 0.0)]
        assert con.execute("SELECT * FROM smspresto.daily_segments_billed").fetchall() == [
            (DAY, 4, 5, 1, "default")
        ]
        assert con.execute(
            "SELECT recipient, failures FROM smspresto.repeatedly_failing_recipients"
        ).fetchall() == [("+2250101010101", 2)]
        assert con.execute("SELECT hour, messages FROM smspresto.hourly_volume").fetchall() == [
            (datetime(2025, 3, 6, 10), 4)
        ]


def staged(warehouse: Warehouse, day: date, pages: list[list[ArchiveRecord]]) -> DaySpool:
    spool = warehouse.spool(day)
    for page in pages:
        spool.add(page)
    return spool


def test_writer_commits_the_days_that_are_ready_together(tmp_path: Path) -> None:
    days = [date(2025, 3, d) for d in range(1, 7)]
    pages = {day: day_pages(day, range(day.day * 100, day.day * 100 + 7)) for day in days}
    one_by_one = Warehouse(tmp_path / "one.duckdb")
    expected = [one_by_one.write_partition(day, pages[day]) for day in days]

    batched = Warehouse(tmp_path / "batched.duckdb")
    batched.ensure_schema()
    holder = LockHolder(batched.path)  # the days pile up until the file is free
    with batched.writer() as writer:
        futures = [writer.submit(staged(batched, day, pages[day])) for day in days]
        holder.release()
        results = [future.result(timeout=120) for future in futures]
    assert [r.rows for r in results] == [r.rows for r in expected] == [7] * 6
    assert results == expected
    # Committed in fewer transactions than days: the ones queued behind the lock went together.
    assert len(set(loaded_ats(batched).values())) < len(days)
    assert table(batched, "messages") == table(one_by_one, "messages")
    assert table(batched, "archive_raw") == table(one_by_one, "archive_raw")


def test_writer_releases_the_file_when_idle(warehouse: Warehouse) -> None:
    with warehouse.writer(idle_release=0.05) as writer:
        asyncio.run(writer.commit(staged(warehouse, DAY, [[record(1)]])))
        # Another process gets the file while the writer waits for more days.
        code = f"import duckdb; duckdb.connect({str(warehouse.path)!r}).execute('CHECKPOINT')"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        stats = writer.submit(staged(warehouse, NEXT_DAY, [[record(2)]])).result(timeout=60)
    assert stats.rows == 1
    assert warehouse.count_messages() == 2


def test_writer_one_bad_day_does_not_fail_the_others(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.ensure_schema()
    real_source = DaySpool.source

    def source(spool: DaySpool) -> Any:
        if spool.day == NEXT_DAY:
            raise OSError("the staged rows of this day are unreadable")
        return real_source(spool)

    monkeypatch.setattr(DaySpool, "source", source)
    holder = LockHolder(warehouse.path)
    with warehouse.writer() as writer:
        good = writer.submit(staged(warehouse, DAY, [[record(1), record(2)]]))
        bad = writer.submit(staged(warehouse, NEXT_DAY, [[record(3)]]))
        holder.release()
        assert good.result(timeout=60).rows == 2
        with pytest.raises(OSError, match="unreadable"):
            bad.result(timeout=60)
    assert [row[0] for row in table(warehouse, "messages")] == [1, 2]


def test_writer_same_day_twice_keeps_the_last_reading(warehouse: Warehouse) -> None:
    with warehouse.writer() as writer:
        first = writer.submit(staged(warehouse, DAY, [[record(1, HIS_STATUT="0")]]))
        second = writer.submit(staged(warehouse, DAY, [[record(1, HIS_STATUT="1")]]))
        assert first.result(timeout=60).pending == 1
        assert second.result(timeout=60).delivered == 1
    assert [row[6] for row in table(warehouse, "messages")] == ["delivered"]


def test_id_in_two_days_of_one_transaction_is_stored_once(warehouse: Warehouse) -> None:
    # The later reading wins, as when the two days are committed one after the other.
    stats = warehouse.commit_days(
        [
            staged(warehouse, DAY, [[record(1), record(2)]]),
            staged(warehouse, NEXT_DAY, [[record(2, NEXT_DAY), record(3, NEXT_DAY)]]),
        ]
    )
    assert [(s.rows, s.raw_rows) for s in stats] == [(1, 2), (2, 2)]
    assert [(r[0], r[-1]) for r in table(warehouse, "messages")] == [
        (1, DAY),
        (2, NEXT_DAY),
        (3, NEXT_DAY),
    ]


def test_staging_files_of_a_killed_process_are_removed(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    orphan = spool_dir / f"smspresto-spool-{dead_pid}-2025-03-06-abc"
    orphan.mkdir()
    (orphan / "day.parquet").write_bytes(b"left behind")
    alive = spool_dir / f"smspresto-spool-{os.getpid()}-2025-03-06-def"
    alive.mkdir()
    unrelated = spool_dir / "someone-else"
    unrelated.mkdir()
    warehouse = Warehouse(tmp_path / "w.duckdb", spool_dir=spool_dir)
    with warehouse.spool(DAY):
        pass
    assert sorted(p.name for p in spool_dir.iterdir()) == sorted([alive.name, unrelated.name])


def test_a_file_named_like_the_schema_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "smspresto.duckdb"
    with caplog.at_level(logging.WARNING, logger="smspresto_pipeline.storage"):
        warehouse = Warehouse(path)
        Warehouse(path)
        Warehouse(tmp_path / "smspresto_warehouse.duckdb")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "smspresto.smspresto.messages" in warnings[0]
    # The library itself still works on such a file (it attaches it under an alias).
    assert warehouse.write_partition(DAY, [[record(1)]]).rows == 1
    assert warehouse.create_views()["daily_segments_billed"] == 1


def test_file_opened_directly_reads_tables_and_views(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, day_pages(DAY, range(1, 5)))
    counts = warehouse.create_views()
    assert counts
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM smspresto.messages").fetchone() == (4,)
        for name, count in counts.items():
            row = con.execute(f"SELECT count(*) FROM smspresto.{name}").fetchone()
            assert row == (count,), name
    finally:
        con.close()


def test_writer_makes_readers_wait_while_too_many_rows_are_staged(
    warehouse: Warehouse,
) -> None:
    warehouse.ensure_schema()
    holder = LockHolder(warehouse.path)  # nothing can be committed until it lets go

    async def scenario() -> list[PartitionStats]:
        with warehouse.writer(batch_rows=2, max_staged_rows=3, linger=0.01) as writer:
            first = await writer.enqueue(staged(warehouse, DAY, [[record(1), record(2)]]))
            second = asyncio.ensure_future(
                writer.enqueue(staged(warehouse, NEXT_DAY, [[record(3), record(4)]]))
            )
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert not second.done(), "four rows staged with room for three"
            await asyncio.to_thread(holder.release)
            return [await first, await (await second)]

    stats = asyncio.run(scenario())
    assert [s.rows for s in stats] == [2, 2]
    assert table(warehouse, "messages")[-1][0] == 4


def test_writer_put_makes_reading_threads_wait_while_too_many_rows_are_staged(
    warehouse: Warehouse,
) -> None:
    warehouse.ensure_schema()
    holder = LockHolder(warehouse.path)  # nothing can be committed until it lets go
    with warehouse.writer(batch_rows=2, max_staged_rows=3, linger=0.01) as writer:
        first = writer.put(staged(warehouse, DAY, [[record(1), record(2)]]))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
            second = reader.submit(
                writer.put, staged(warehouse, NEXT_DAY, [[record(3), record(4)]])
            )
            concurrent.futures.wait([second], timeout=0.2)
            waited = not second.done()
            holder.release()  # first, so that a failure below does not hang the writer
            assert waited, "four rows staged with room for three"
            stats = [first.result(timeout=60), second.result(timeout=60).result(timeout=60)]
    assert [s.rows for s in stats] == [2, 2]
    assert table(warehouse, "messages")[-1][0] == 4


def test_writer_gathers_days_that_come_a_few_tenths_of_a_second_apart(
    warehouse: Warehouse,
) -> None:
    # As from a server that takes its time: one transaction for the three days (a transaction
    # a day cost a backfill a third more CPU), started by flush() here.
    days = [DAY, NEXT_DAY, NEXT_DAY + timedelta(days=1)]
    with warehouse.writer(max_delay=600) as writer:
        futures = []
        for n, day in enumerate(days):
            futures.append(writer.submit(staged(warehouse, day, [[record(n + 1)]])))
            time.sleep(0.3)
        assert not any(future.done() for future in futures)
        writer.flush()
        assert [f.result(timeout=60).rows for f in futures] == [1, 1, 1]
    assert len(set(loaded_ats(warehouse).values())) == 1, "one transaction, one loaded_at"


def test_writer_that_fell_behind_commits_the_days_queued_meanwhile_together(
    warehouse: Warehouse,
) -> None:
    # Days that waited in the queue past max_delay (the writer was busy with a transaction) go
    # in the next transaction together: one transaction each made a writer that fell behind a
    # server's pace fall further behind.
    warehouse.ensure_schema()
    holder = LockHolder(warehouse.path)  # the first day's transaction waits for it
    days = [DAY + timedelta(days=n) for n in range(4)]
    with warehouse.writer(max_delay=0.01, linger=0.01) as writer:
        futures = [writer.submit(staged(warehouse, days[0], [[record(1)]]))]
        time.sleep(0.2)  # the first day is being written, alone
        futures += [
            writer.submit(staged(warehouse, day, [[record(n + 2)]]))
            for n, day in enumerate(days[1:])
        ]
        time.sleep(0.2)  # the three others wait past max_delay
        holder.release()
        assert [f.result(timeout=60).rows for f in futures] == [1, 1, 1, 1]
    stamps = loaded_ats(warehouse)
    assert sorted(stamps) == days
    first, *others = [stamps[day] for day in days]
    assert len(set(others)) == 1, "the three days queued meanwhile: one transaction"
    assert first not in others


def test_writer_opens_a_new_connection_once_recycle_rows_were_written_over_one(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection's memory grows with what it wrote; a backfill of years must not keep one.
    warehouse.ensure_schema()
    opened: list[duckdb.DuckDBPyConnection] = []
    database = warehouse.database
    assert isinstance(database, DuckDBDatabase)
    open_connection = database._open

    def counted(*, read_only: bool) -> duckdb.DuckDBPyConnection:
        opened.append(open_connection(read_only=read_only))
        return opened[-1]

    monkeypatch.setattr(database, "_open", counted)
    days = [DAY + timedelta(days=n) for n in range(5)]
    with warehouse.writer(recycle_rows=4, idle_release=600) as writer:
        for n, day in enumerate(days):
            future = writer.submit(staged(warehouse, day, [[record(2 * n + 1), record(2 * n + 2)]]))
            writer.flush()
            assert future.result(timeout=60).rows == 2
    # Two days of two rows a connection: the third and the fifth day open a new one.
    assert len(opened) == 3


def test_writer_flush_commits_without_waiting_for_more_days(warehouse: Warehouse) -> None:
    # A linger and a delay far longer than the test: only flush() can start the transaction.
    with warehouse.writer(linger=600, max_delay=600) as writer:
        future = writer.submit(staged(warehouse, DAY, [[record(1)]]))
        writer.flush()
        assert future.result(timeout=60).rows == 1


def test_a_kept_instance_frees_the_file_between_two_transactions(tmp_path: Path) -> None:
    """A send's loop of short transactions keeps one DuckDB instance; between two of them
    another process opens the file for writing, as between any two connections."""
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    probe = (
        "import duckdb, sys\n"
        "with duckdb.connect(sys.argv[1]) as con:\n"
        "    con.execute('CREATE TABLE IF NOT EXISTS main.probe(i INTEGER)')\n"
        "    con.execute('INSERT INTO main.probe VALUES (1)')\n"
    )
    with warehouse.kept_instance():
        for _ in range(2):
            with warehouse.transaction() as con:
                con.execute("CREATE TABLE IF NOT EXISTS main.mine(i INTEGER)")
                con.execute("INSERT INTO main.mine VALUES (1)")
            subprocess.run([sys.executable, "-c", probe, str(warehouse.path)], check=True)
        kept = warehouse.keeps_instance
    assert (kept, warehouse.keeps_instance) == (True, False)
    with warehouse.connect(read_only=True) as con:
        counts = [
            con.execute(f"SELECT count(*) FROM main.{t}").fetchone() for t in ("mine", "probe")
        ]
    assert counts == [(2,), (2,)]
