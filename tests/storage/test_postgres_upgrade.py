"""A PostgreSQL warehouse made by an earlier version is brought up to the current DDL on its
first use (``storage/postgres/migrate.py``): what the DDL added since (columns, an index) is
there, the rows are kept, the DDL's version is recorded, and a second upgrade finds
nothing to do; a column that cannot be added to a table holding rows is refused, naming it."""

import logging
from datetime import date, datetime

import psycopg
import pytest
from campaign_fixtures import ambiguous

from smspresto_pipeline.sending import OUTBOX_STATES, Outbox, OutboxMessage
from smspresto_pipeline.storage import WarehouseSchemaError
from smspresto_pipeline.storage.postgres.migrate import (
    ddl_version,
    recorded_version,
    upgrade_schema,
)
from smspresto_pipeline.warehouse import Warehouse

DAY = date(2025, 3, 6)


def filled(url: str) -> Warehouse:
    """A warehouse at the current DDL with a day of history and two outbox rows."""
    warehouse = Warehouse(url)
    page = [
        {"IDHISTORIQUE": str(i), "HIS_STATUT": "1", "HIS_DATEHEURECREA": f"{DAY} 10:00:00"}
        for i in range(1, 6)
    ]
    warehouse.write_partition(DAY, [page])
    messages = [
        OutboxMessage("reminder", key, "+2250708080001", "MaBoutique", "Bonjour", 1, "GSM-7")
        for key in ("a", "b")
    ]
    ambiguous(Outbox(warehouse), *messages, at=datetime(2025, 3, 6, 9, 0))
    return warehouse


def columns(con: psycopg.Connection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'smspresto' AND table_name = %s ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [name for (name,) in rows]


def counts(con: psycopg.Connection) -> tuple[int, int, int]:
    row = con.execute(
        "SELECT (SELECT count(*) FROM smspresto.messages), "
        "(SELECT count(*) FROM smspresto.archive_raw), (SELECT count(*) FROM smspresto.outbox)"
    ).fetchone()
    assert row is not None
    return row


def test_a_warehouse_of_the_previous_version_is_upgraded_on_first_use(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    filled(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as con:
        before = counts(con)
        outbox_columns = columns(con, "outbox")
        # What the DDL added since an earlier version, every table still there: a nullable
        # column (the outbox's requested_at), a column with a default (the raw archive's
        # account, and with it its index), an index; and the version it did not record.
        con.execute("ALTER TABLE smspresto.outbox DROP COLUMN requested_at")
        con.execute("ALTER TABLE smspresto.archive_raw DROP COLUMN account")
        con.execute("DROP INDEX smspresto.outbox_recipient")
        con.execute("COMMENT ON SCHEMA smspresto IS NULL")

    # Another process's first use.
    with caplog.at_level(logging.INFO, logger="smspresto_pipeline.storage.postgres.database"):
        assert Warehouse(postgres_url).count_messages() == before[0]
    assert "added the columns archive_raw.account, outbox.requested_at" in caplog.text

    with psycopg.connect(postgres_url, autocommit=True) as con:
        assert counts(con) == before
        assert columns(con, "outbox") == outbox_columns
        assert "account" in columns(con, "archive_raw")
        accounts = con.execute("SELECT DISTINCT account FROM smspresto.archive_raw").fetchall()
        assert accounts == [("default",)]
        indexes = con.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'smspresto'"
        ).fetchall()
        assert {"outbox_recipient", "archive_raw_account_day"} <= {name for (name,) in indexes}
        assert recorded_version(con) == ddl_version()
        # Recorded: a second upgrade finds nothing to add.
        with con.transaction():
            assert upgrade_schema(con) == []
    rows = Outbox(Warehouse(postgres_url)).rows(OUTBOX_STATES)
    assert sorted((row.dedup_key, row.state, row.requested_at) for row in rows) == [
        ("a", "ambiguous", None),
        ("b", "ambiguous", None),
    ]


def test_a_column_that_cannot_be_added_to_rows_is_refused_naming_it(postgres_url: str) -> None:
    filled(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("ALTER TABLE smspresto.outbox DROP COLUMN recipient")
        con.execute("COMMENT ON SCHEMA smspresto IS NULL")

    with pytest.raises(
        WarehouseSchemaError, match=r"outbox lacks the column recipient .*cannot be added"
    ):
        Warehouse(postgres_url).ensure_schema()

    with psycopg.connect(postgres_url, autocommit=True) as con:
        # Nothing half done: the rows are there, no version is recorded.
        assert counts(con)[2] == 2
        assert recorded_version(con) is None
