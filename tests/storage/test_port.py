"""The storage port on each engine (a DuckDB file, a PostgreSQL database): sessions, Arrow
loads, the port's errors, transactions, the schema, a user's read-only query, and a day of the
history replaced whole. The same assertions hold on both."""

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import on_both_engines

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.api.models import ArchiveRecord
from smspresto_pipeline.sending import OptOuts, Outbox
from smspresto_pipeline.storage import (
    ConstraintViolationError,
    QueryRefusedError,
    ReadOnlyQueryError,
)
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.warehouse.replace import staged_days

DAY, NEXT_DAY, THIRD_DAY = date(2025, 3, 6), date(2025, 3, 7), date(2025, 3, 8)
NOW = datetime(2025, 3, 6, 9, 0)
TABLES = {
    "account_snapshots",
    "alert_deliveries",
    "archive_raw",
    "campaign_activations",
    "campaign_pauses",
    "campaign_surges",
    "campaign_surges_held",
    "intraday_reads",
    "messages",
    "opt_outs",
    "outbox",
}


def page(day: date, ids: range, **fields: str) -> list[ArchiveRecord]:
    """A list-archive page of ``day`` (every field a string, as the API sends it)."""
    return [
        ArchiveRecord(
            {
                "IDHISTORIQUE": str(i),
                "HIS_DESTINATAIRE": "+2250708081488",
                "HIS_MESSAGE": "Bonjour Rémi",
                "HIS_STATUT": str(i % 3),
                "HIS_NOMBRESMS": "2",
                "HIS_DATEHEURECREA": f"{day} 10:00:00",
                "HIS_DATEHEUREENVOI": "0000-00-00 00:00:00",  # the API's "no value"
                "IDDATEHEURE": "",
                "HIS_EXPEDITEUR": "ONIRIS",
                **fields,
            }
        )
        for i in ids
    ]


def messages(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.connect(read_only=True) as con:
        rows: list[tuple[Any, ...]] = con.execute(
            "SELECT history_id, partition_date, status, segments, created_at, sent_at, queued_at"
            " FROM smspresto.messages ORDER BY history_id"
        ).fetchall()
    return rows


@on_both_engines
def test_the_schema_is_made_by_the_first_writer_and_found_by_the_next(
    warehouse: Warehouse, warehouse_target: str
) -> None:
    assert not warehouse.database.exists()
    assert Outbox(warehouse).rows("pending") == []  # a read creates nothing
    assert not warehouse.database.exists()
    warehouse.ensure_schema()
    assert warehouse.database.exists()
    again = Warehouse(warehouse_target)
    again.ensure_schema()  # idempotent
    with again.database.reading() as session:
        assert session.tables() == TABLES
        assert session.views() == []


@on_both_engines
def test_arrow_loads_hold_the_table_then_the_parquet_files(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    spilled = tmp_path / "spilled.parquet"
    pq.write_table(staged_days([THIRD_DAY], DEFAULT_ACCOUNT), spilled)
    relation = staged_days([NEXT_DAY, DAY], DEFAULT_ACCOUNT)
    with (
        warehouse.database.session() as session,
        session.load_arrow("staged_days", relation, parquet=[spilled]),
    ):
        rows = session.fetch_all("dml/select_partition_stats.sql")
    with (
        warehouse.database.session() as session,
        session.load_arrow("staged_days", relation, parquet=[spilled]),
    ):
        table = session.fetch_arrow("dml/select_partition_stats.sql")
    with (
        warehouse.database.session() as session,
        session.load_arrow("staged_days", staged_days([DAY], DEFAULT_ACCOUNT)),
    ):
        one = session.fetch_one("dml/select_partition_stats.sql")
    # The table's rows and the file's (its position 0 ties with the table's first).
    assert rows[0][0] == NEXT_DAY
    assert {row[0] for row in rows} == {NEXT_DAY, DAY, THIRD_DAY}
    assert {row[1:] for row in rows} == {(0, 0, 0, 0, 0, 0, 0)}
    assert table.num_rows == 3
    assert table.column(0).type == pa.date32()
    assert one == (DAY, 0, 0, 0, 0, 0, 0, 0)


@on_both_engines
def test_a_broken_constraint_is_the_ports_error_and_rolls_back(warehouse: Warehouse) -> None:
    params = {"campaign": "c", "now": NOW, "baseline_rows": -1, "activated_by": "test"}

    def activate_twice() -> None:
        with warehouse.database.transaction() as session:
            session.fetch_all("dml/insert_campaign_activation.sql", {**params, "campaign": "ok"})
            session.fetch_all("dml/insert_campaign_activation.sql", params)

    with pytest.raises(ConstraintViolationError) as raised:
        activate_twice()
    assert raised.value.__cause__ is not None  # the engine's own error, kept
    with warehouse.database.reading() as session:
        assert session.fetch_all("dml/select_campaign_activations.sql", {"campaign": "ok"}) == []
    with warehouse.database.transaction() as session:
        [row] = session.fetch_all(
            "dml/insert_campaign_activation.sql", {**params, "campaign": "ok", "baseline_rows": 2}
        )
    assert row[0] == "ok"
    assert row[2] == 2


@on_both_engines
def test_a_day_is_replaced_whole_and_a_rerun_gives_the_same_table(warehouse: Warehouse) -> None:
    stats = warehouse.write_partition(DAY, [page(DAY, range(1, 4)), page(DAY, range(4, 7))])
    warehouse.write_partition(NEXT_DAY, [page(NEXT_DAY, range(10, 12))])
    assert (stats.partition_date, stats.rows, stats.raw_rows, stats.segments) == (DAY, 6, 6, 12)
    assert (stats.delivered, stats.failed, stats.pending) == (2, 2, 2)
    first = messages(warehouse)
    assert first[0] == (1, DAY, "delivered", 2, datetime(2025, 3, 6, 10), None, None)
    # The same day again: replaced, not added to.
    again = warehouse.write_partition(DAY, [page(DAY, range(1, 4)), page(DAY, range(4, 7))])
    assert messages(warehouse) == first
    assert again.rows == 6
    assert warehouse.count_messages() == 8
    # A shorter reading of the day leaves only what it holds; a row without a numeric id
    # stays in archive_raw only; an id read twice keeps its last reading.
    last = warehouse.write_partition(
        DAY,
        [page(DAY, range(1, 3)), page(DAY, range(2, 3), HIS_STATUT="2"), page(DAY, range(0))],
    )
    bad = warehouse.write_partition(
        NEXT_DAY, [page(NEXT_DAY, range(10, 11)), [ArchiveRecord({"IDHISTORIQUE": "x"})]]
    )
    assert (last.rows, last.failed, bad.rows, bad.raw_rows) == (2, 1, 1, 2)
    assert [row[:3] for row in messages(warehouse)] == [
        (1, DAY, "delivered"),
        (2, DAY, "failed"),
        (10, NEXT_DAY, "delivered"),
    ]


@on_both_engines
def test_odd_values_of_the_api_are_typed_alike_on_both_engines(warehouse: Warehouse) -> None:
    """Typed while staging, by DuckDB's TRY_CAST whatever the engine: PostgreSQL's own input
    functions would read 'now' as the load's time and 'infinity' as a time Python cannot hold,
    where the history keeps no value."""
    odd = [
        ("2025-03-06 10:00:00", "2025-03-06T10:00:04", " 2 "),
        ("now", "infinity", "1e3"),
        ("epoch", "-infinity", "+3"),
        ("today", "Jan 6 2025", "two"),
        ("0000-01-01 00:00:00", "2025-02-30 10:00:00", ""),
    ]
    pages = [
        page(
            DAY,
            range(n, n + 1),
            HIS_DATEHEURECREA=created,
            HIS_DATEHEUREENVOI=sent,
            HIS_NOMBRESMS=n_sms,
        )
        for n, (created, sent, n_sms) in enumerate(odd, start=1)
    ]
    warehouse.write_partition(DAY, pages)
    assert [(row[3], row[4], row[5]) for row in messages(warehouse)] == [
        (2, datetime(2025, 3, 6, 10), datetime(2025, 3, 6, 10, 0, 4)),
        (1000, None, None),
        (3, datetime(1970, 1, 1), None),
        (None, None, None),
        (None, None, None),
    ]


@on_both_engines
def test_opt_outs_are_added_once_and_checked_set_wise(warehouse: Warehouse) -> None:
    opt_outs = OptOuts(warehouse)
    assert opt_outs.add(["0708081488"], reason="STOP").added == ("+2250708081488",)
    change = opt_outs.add(["+2250708081488", "0505050505"], reason="call")
    assert change.added == ("+2250505050505",)
    assert change.unchanged == ("+2250708081488",)
    assert opt_outs.opted_out(["+2250708081488", "+2250101020304"]) == {"+2250708081488"}


@on_both_engines
def test_a_users_query_reads_and_is_refused_anything_else(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, [page(DAY, range(1, 4))])
    table = warehouse.database.run_read_only_query(
        "-- the delivered ones\nSELECT history_id, recipient FROM smspresto.messages"
        " WHERE status = 'delivered' AND message LIKE 'Bon%' ORDER BY history_id"
    )
    assert table.to_pylist() == [{"history_id": 1, "recipient": "+2250708081488"}]
    for sql in (
        "SELECT 1; SELECT 2",
        "DELETE FROM smspresto.messages",
        "",
        "-- nothing\n",
    ):
        with pytest.raises(QueryRefusedError):
            warehouse.database.run_read_only_query(sql)
    with pytest.raises(ReadOnlyQueryError, match="no_such_table"):
        warehouse.database.run_read_only_query("SELECT * FROM smspresto.no_such_table")
    assert len(messages(warehouse)) == 3


@on_both_engines
def test_the_analytics_views_are_made_and_read(warehouse: Warehouse) -> None:
    warehouse.write_partition(DAY, [page(DAY, range(1, 7))])
    assert warehouse.create_views() == {
        "daily_delivery_by_sender": 1,
        "daily_segments_billed": 1,
        "failure_rate_by_carrier": 1,
        "hourly_volume": 1,
        "repeatedly_failing_recipients": 1,
    }
    assert warehouse.previews([DAY], limit=2)[DAY][1]["history_id"] == 2
