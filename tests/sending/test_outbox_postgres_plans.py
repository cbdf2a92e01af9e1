"""The send path's outbox statements on PostgreSQL find their rows through the outbox's primary
key, whatever the statistics say: a freshly claimed outbox has none (autovacuum analyzes it a
minute later at best), nor has a temporary table of keys ever, and the same statements written
``dedup_key IN (SELECT ...)`` were planned as a scan of every row of the campaign once per key
(2.4 s a statement on a 20,000-row outbox: 358 messages a second for the send job)."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import postgres_fixtures
import pyarrow as pa
import pytest

from smspresto_pipeline.sending import Outbox, OutboxMessage
from smspresto_pipeline.storage.queries import POSTGRES, parameter_names, statement
from smspresto_pipeline.warehouse import Warehouse

NOW = datetime(2025, 3, 6, 9, 0)
CAMPAIGN = "reminder"
RUN = "run-1"
#: The statements a send run makes per batch, and at its start and end, on a table of keys.
KEYED_STATEMENTS = (
    "dml/select_outbox_unrequested_keys.sql",
    "dml/update_outbox_requested.sql",
    "dml/select_outbox_moved_keys.sql",
    "dml/select_outbox_markable_rows.sql",
    "dml/update_outbox_marks.sql",
    "dml/select_outbox_markable_keys.sql",
    "dml/update_outbox_state.sql",
    "dml/select_outbox_owned_pending_keys.sql",
    "dml/update_outbox_released.sql",
    "dml/update_outbox_pending_run.sql",
)
PARAMS: dict[str, object] = {
    "campaign": CAMPAIGN,
    "run_id": RUN,
    "to_run": None,
    "now": NOW,
    "check_run": True,
    "state": "sent",
    "from_states": ["pending"],
    "api_status": 0,
    "api_message": "ok",
    "skip_reason": None,
    "sent_at": None,
}


def _outbox_scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The plan nodes under ``node`` that read the outbox (the UPDATE's own node aside)."""
    if node.get("Relation Name") == "outbox" and node["Node Type"] != "ModifyTable":
        yield node
    for child in node.get("Plans", ()):
        yield from _outbox_scans(child)


@pytest.fixture(scope="module")
def claimed_outbox(postgres_server: str) -> Iterator[Warehouse]:
    """A PostgreSQL outbox of 20,000 pending rows of one run, never analyzed."""
    for url in postgres_fixtures.fresh_database(postgres_server):
        warehouse = Warehouse(url)
        messages = [
            OutboxMessage(CAMPAIGN, f"k{i}", f"+22507{i:08d}", "ONIRIS", "Bonjour", 1, "GSM-7")
            for i in range(20_000)
        ]
        Outbox(warehouse).claim(messages, run_id=RUN, now=NOW)
        yield warehouse


@pytest.mark.parametrize("name", KEYED_STATEMENTS)
def test_a_batchs_statement_looks_its_keys_up_in_the_primary_key(
    claimed_outbox: Warehouse, name: str
) -> None:
    keys = pa.array([f"k{i}" for i in range(1_000, 1_500)], pa.string())
    n = len(keys)
    marked = pa.table(
        {
            "dedup_key": keys,
            "state": pa.array(["sent"] * n),
            "api_status": pa.array([0] * n, pa.int32()),
            "api_message": pa.array(["ok"] * n),
            "now": pa.array([NOW] * n, pa.timestamp("us")),
            "from_states": pa.array([["pending"]] * n, pa.list_(pa.string())),
        }
    )
    moved = marked.select(["dedup_key", "state", "now"])
    names = parameter_names(name, POSTGRES)
    explain = "EXPLAIN (FORMAT JSON) " + statement(name, POSTGRES, "pyformat")
    with (
        claimed_outbox.database.transaction() as session,
        session.load_arrow("outbox_keys", pa.table({"dedup_key": keys})),
        session.load_arrow("marked_rows", marked),
        session.load_arrow("moved_rows", moved),
    ):
        cursor = session.raw.execute(
            explain.encode(), {k: v for k, v in PARAMS.items() if k in names}
        )
        [(plans,)] = cursor.fetchall()
    scans = list(_outbox_scans(plans[0]["Plan"]))
    assert scans, plans
    for scan in scans:
        assert scan.get("Index Name") == "outbox_pkey", scan
        assert "dedup_key" in scan.get("Index Cond", ""), scan
