"""The outbox, for real in tmp_path: claims that never give a key twice (threads, processes),
durable marks along the state machine, set-based reads, the caps' counts, older files."""

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import on_both_engines

from smspresto_pipeline.sending import OUTBOX_STATES, OptOuts, Outbox, OutboxMessage
from smspresto_pipeline.sending.outbox import (
    FINAL_STATES,
    TRANSITIONS,
    OutboxIntegrityError,
    OutboxMark,
    PendingOwner,
    Taken,
)
from smspresto_pipeline.storage.duckdb import database as duckdb_engine
from smspresto_pipeline.storage.queries import ParamStyle, statement
from smspresto_pipeline.warehouse import Warehouse, WarehouseSchemaError

NOW = datetime(2025, 3, 6, 9, 0)
OLD_OUTBOX_DDL = """
CREATE SCHEMA IF NOT EXISTS smspresto;
CREATE TABLE IF NOT EXISTS smspresto.outbox (
    campaign VARCHAR NOT NULL,
    dedup_key VARCHAR NOT NULL,
    recipient VARCHAR NOT NULL,
    sender VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    segments INTEGER NOT NULL,
    encoding VARCHAR NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'failed', 'ambiguous', 'skipped')),
    api_status INTEGER,
    api_message VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    PRIMARY KEY (campaign, dedup_key)
);
"""


def message(
    key: str, campaign: str = "reminder", recipient: str = "+2250708081488"
) -> OutboxMessage:
    return OutboxMessage(campaign, key, recipient, "ONIRIS", f"Bonjour Rémi ({key})", 1, "GSM-7")


def stored(warehouse: Warehouse) -> dict[str, tuple[object, ...]]:
    """Every row by dedup_key, read through a fresh connection (what another process sees)."""
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT dedup_key, state, skip_reason, api_status, api_message, run_id, sent_at "
            "FROM smspresto.outbox"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


# --- claims ------------------------------------------------------------------------------


@on_both_engines
def test_claim_inserts_pending_rows_and_returns_them(outbox: Outbox, warehouse: Warehouse) -> None:
    claimed = outbox.claim([message("a"), message("b")], run_id="run-1", now=NOW)
    assert [m.dedup_key for m in claimed] == ["a", "b"]
    assert stored(warehouse) == {
        "a": ("pending", None, None, None, "run-1", None),
        "b": ("pending", None, None, None, "run-1", None),
    }
    [row, _] = outbox.rows("pending")
    assert row.intended == message("a")
    assert (row.created_at, row.updated_at) == (NOW, NOW)


@on_both_engines
def test_a_key_is_claimed_once(outbox: Outbox, warehouse: Warehouse) -> None:
    assert outbox.claim([message("a")]) == [message("a")]
    changed = OutboxMessage("reminder", "a", "+2250505050505", "X", "other", 2, "UCS-2")
    again = outbox.claim([changed, message("b"), message("b")])
    assert again == [message("b")]  # "a" kept its first row; "b" given twice counts once
    [first] = outbox.rows("pending", campaign="reminder", limit=1)
    assert first.intended == message("a")
    assert len(stored(warehouse)) == 2


@on_both_engines
def test_the_same_key_in_two_campaigns_is_two_rows(outbox: Outbox) -> None:
    claimed = outbox.claim([message("a", "reminder"), message("a", "summary")])
    assert [m.campaign for m in claimed] == ["reminder", "summary"]


@on_both_engines
def test_concurrent_claims_from_threads_give_each_key_once(warehouse_target: str) -> None:
    keys = [f"k{i}" for i in range(200)]
    results: list[list[OutboxMessage]] = []
    start = threading.Barrier(6)

    def claim(offset: int) -> None:
        start.wait()
        # Each thread claims every key, in its own order and batches.
        order = keys[offset * 30 :] + keys[: offset * 30]
        for i in range(0, len(order), 50):
            outbox = Outbox(Warehouse(warehouse_target))
            results.append(outbox.claim(map(message, order[i : i + 50])))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [m.dedup_key for batch in results for m in batch]
    assert sorted(claimed) == sorted(keys)  # every key once, none twice


def test_a_read_waits_for_a_writer_of_the_same_process(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    outbox.claim([message("a")])
    writing, found = threading.Event(), []

    def write() -> None:
        with warehouse.transaction() as con:
            writing.set()
            con.execute("UPDATE smspresto.outbox SET state = 'sent'")
            time.sleep(0.3)

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(timeout=30)
    # DuckDB would refuse a second attach of the file in this process: the read waits instead.
    found.append(outbox.rows("sent"))
    writer.join()
    assert [r.dedup_key for r in found[0]] == ["a"]


_CLAIMER = """
import json, sys
from smspresto_pipeline.sending import Outbox, OutboxMessage
from smspresto_pipeline.warehouse import Warehouse
outbox = Outbox(Warehouse(sys.argv[1], lock_backoff=0.01, lock_backoff_max=0.1))
keys = [f"k{i}" for i in range(300)]
if sys.argv[2] == "reversed":
    keys.reverse()
claimed = []
print("ready", flush=True)
sys.stdin.readline()
for i in range(0, len(keys), 20):
    batch = [OutboxMessage("c", k, "+2250708081488", "ONIRIS", "Bonjour", 1, "GSM-7")
             for k in keys[i : i + 20]]
    claimed += [m.dedup_key for m in outbox.claim(batch)]
print(json.dumps(claimed), flush=True)
"""


@on_both_engines
def test_concurrent_claims_from_two_processes_give_each_key_once(
    warehouse: Warehouse, warehouse_target: str
) -> None:
    warehouse.ensure_schema()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, warehouse_target, order],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for order in ("forward", "reversed")
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    claimed = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        claimed.append(json.loads(out))
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(f"k{i}" for i in range(300))
    assert len(stored(warehouse)) == 300


@on_both_engines
@pytest.mark.parametrize("state", ["held", "baseline"])
def test_claim_in_another_state(outbox: Outbox, warehouse: Warehouse, state: str) -> None:
    outbox.claim([message("a")], state=state)  # type: ignore[arg-type]
    assert stored(warehouse)["a"][0] == state


@on_both_engines
def test_skipped_claims_keep_their_reason(outbox: Outbox, warehouse: Warehouse) -> None:
    bad = OutboxMessage("reminder", "x", "abc", "ONIRIS", "", 0, "GSM-7")
    assert outbox.claim([bad], state="skipped", skip_reason="'abc' is not a phone number")
    assert stored(warehouse)["x"][:2] == ("skipped", "'abc' is not a phone number")
    # A skipped key is taken: a later run does not claim it for sending.
    assert outbox.claim([bad]) == []


def test_claim_refuses_bad_arguments(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="skip_reason is required"):
        outbox.claim([message("a")], state="skipped")
    with pytest.raises(ValueError, match="skip_reason is required"):
        outbox.claim([message("a")], skip_reason="why")
    with pytest.raises(ValueError, match="cannot be claimed as 'sent'"):
        outbox.claim([message("a")], state="sent")  # type: ignore[arg-type]
    assert outbox.claim([]) == []


# --- existing keys -----------------------------------------------------------------------


@on_both_engines
def test_existing_keys_of_100_000_candidates(outbox: Outbox) -> None:
    outbox.claim(message(f"k{i}") for i in range(0, 100_000, 100))
    outbox.claim([message("k1", campaign="other")])
    found = outbox.existing_keys("reminder", (f"k{i}" for i in range(100_000)))
    assert found == {f"k{i}" for i in range(0, 100_000, 100)}
    assert outbox.existing_keys("other", ["k0", "k1"]) == {"k1"}
    assert outbox.existing_keys("reminder", []) == set()


def test_reads_of_a_missing_file_find_nothing_and_create_nothing(tmp_path: Path) -> None:
    outbox = Outbox(Warehouse(tmp_path / "none.duckdb"))
    assert outbox.existing_keys("reminder", ["a"]) == set()
    assert outbox.rows("pending") == []
    assert outbox.sent_to_recipients(["+2250708081488"], NOW) == {}
    assert outbox.campaign_sent_count("reminder", NOW) == 0
    assert not (tmp_path / "none.duckdb").exists()


# --- marks -------------------------------------------------------------------------------


@on_both_engines
def test_marks_are_durable(outbox: Outbox, warehouse: Warehouse, warehouse_target: str) -> None:
    outbox.claim([message("a"), message("b"), message("c")], now=NOW)
    later = NOW + timedelta(minutes=1)
    sent = outbox.mark(
        "reminder", ["a", "b"], "sent", api_status=0, api_message="Envoyé", run_id="r1", now=later
    )
    assert sent == ("a", "b")
    assert outbox.mark("reminder", ["c"], "failed", api_status=102, api_message="Numéro") == ("c",)
    # A new process (here: a new connection and a new object) sees the marks.
    assert stored(warehouse) == {
        "a": ("sent", None, 0, "Envoyé", "r1", later),
        "b": ("sent", None, 0, "Envoyé", "r1", later),
        "c": ("failed", None, 102, "Numéro", None, None),
    }
    [a] = Outbox(Warehouse(warehouse_target)).rows("sent", limit=1)
    assert (a.updated_at, a.sent_at) == (later, later)


@on_both_engines
def test_marks_take_aware_times_in_utc(outbox: Outbox) -> None:
    outbox.claim([message("a")])
    paris = datetime(2025, 3, 6, 10, 0, tzinfo=UTC).astimezone()
    outbox.mark("reminder", ["a"], "sent", sent_at=paris)
    assert outbox.rows("sent")[0].sent_at == datetime(2025, 3, 6, 10, 0)


@on_both_engines
def test_final_states_are_never_undone(outbox: Outbox, warehouse: Warehouse) -> None:
    outbox.claim([message("a")])
    outbox.mark("reminder", ["a"], "sent", api_status=0)
    for state in ("failed", "ambiguous", "skipped", "expired", "pending"):
        assert outbox.mark("reminder", ["a"], state, skip_reason="late") == ()
    assert stored(warehouse)["a"][0] == "sent"


@on_both_engines
def test_ambiguous_rows_are_resolved_by_reconciliation(outbox: Outbox) -> None:
    outbox.claim([message("a"), message("b"), message("c")])
    outbox.mark("reminder", ["a", "b"], "ambiguous", api_message="answer lost")
    assert [r.dedup_key for r in outbox.rows("ambiguous", campaign="reminder")] == ["a", "b"]
    assert outbox.mark("reminder", ["a"], "sent") == ("a",)
    assert outbox.mark("reminder", ["b"], "failed") == ("b",)
    assert outbox.rows("ambiguous") == []
    [b] = outbox.rows("failed")
    assert b.api_message == "answer lost"  # kept: nothing new was said about it


@on_both_engines
def test_held_rows_are_released_or_expire(outbox: Outbox) -> None:
    outbox.claim([message("early")], state="held", now=NOW)
    outbox.claim([message("late")], state="held", now=NOW + timedelta(hours=5))
    due = outbox.rows("held", campaign="reminder", created_before=NOW + timedelta(hours=1))
    assert [r.dedup_key for r in due] == ["early"]
    assert outbox.mark("reminder", ["early"], "expired") == ("early",)
    assert outbox.mark("reminder", ["late"], "pending") == ("late",)
    assert outbox.mark("reminder", ["early", "late"], "sent") == ("late",)
    assert {r.dedup_key: r.state for r in outbox.rows(OUTBOX_STATES)} == {
        "early": "expired",
        "late": "sent",
    }


@on_both_engines
def test_baseline_rows_are_never_sent(outbox: Outbox) -> None:
    outbox.claim([message("a")], state="baseline")
    for state in TRANSITIONS:
        assert outbox.mark("reminder", ["a"], state, skip_reason="x") == ()
    assert outbox.claim([message("a")]) == []


@on_both_engines
def test_marks_touch_only_their_campaign(outbox: Outbox) -> None:
    outbox.claim([message("a", "reminder"), message("a", "summary")])
    outbox.mark("summary", ["a"], "sent")
    assert [(r.campaign, r.state) for r in outbox.rows(OUTBOX_STATES)] == [
        ("reminder", "pending"),
        ("summary", "sent"),
    ]


def test_mark_refuses_bad_arguments(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="cannot be marked 'baseline'"):
        outbox.mark("reminder", ["a"], "baseline")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a skip_reason"):
        outbox.mark("reminder", ["a"], "skipped")
    with pytest.raises(ValueError, match="unknown outbox states"):
        outbox.rows("done")  # type: ignore[arg-type]
    assert outbox.mark("reminder", [], "sent") == ()


def test_the_state_machine_ends_in_final_states() -> None:
    assert frozenset({"sent", "failed", "skipped", "expired", "baseline"}) == FINAL_STATES
    assert set(OUTBOX_STATES) == {"pending", "held", "ambiguous"} | FINAL_STATES


# --- caps --------------------------------------------------------------------------------


@on_both_engines
def test_counts_for_the_caps(outbox: Outbox) -> None:
    ama, kone = "+2250708081488", "+2250505050505"
    # Claimed five days ago, sent two days ago: counted from its send.
    outbox.claim([message("old", recipient=ama)], now=NOW - timedelta(days=5))
    outbox.mark("reminder", ["old"], "sent", sent_at=NOW - timedelta(days=2))
    outbox.claim(
        [message("a", recipient=ama), message("k", recipient=kone), message("f", recipient=kone)],
        now=NOW,
    )
    outbox.claim([message("s", "summary", recipient=ama)], now=NOW)
    outbox.claim([message("h", "summary", recipient=kone)], state="held", now=NOW)
    outbox.mark("reminder", ["a"], "sent", now=NOW)
    outbox.mark("reminder", ["f"], "failed", now=NOW)
    outbox.mark("summary", ["s"], "ambiguous", now=NOW)
    since = NOW - timedelta(days=1)
    # ama: "a" sent and "s" ambiguous (may have gone); kone: "k" pending (a request may be in
    # flight); the failed and held rows and the old send do not count against a recipient.
    assert outbox.sent_to_recipients([ama, kone, "+2250101020304"], since) == {ama: 2, kone: 1}
    assert outbox.sent_to_recipients([ama], NOW - timedelta(days=3)) == {ama: 3}
    # The daily cap counts what the campaign tried: "a", "k" and the failed "f".
    assert outbox.campaign_sent_count("reminder", since) == 3
    assert outbox.campaign_sent_count("summary", since) == 1
    assert outbox.campaign_sent_count("reminder", NOW + timedelta(seconds=1)) == 0


@on_both_engines
def test_run_sizes_count_what_each_run_claimed_to_send_newest_first(outbox: Outbox) -> None:
    outbox.claim([message("a"), message("b"), message("c")], run_id="run-1", now=NOW)
    outbox.mark("reminder", ["a"], "sent", now=NOW)
    outbox.mark("reminder", ["b"], "failed", now=NOW)  # tried: counted, whatever became of it
    later = NOW + timedelta(hours=1)
    outbox.claim([message("d")], run_id="run-2", now=later)
    # Neither skipped, held nor baseline rows were claimed to be sent.
    outbox.claim([message("e")], state="skipped", skip_reason="opted_out", run_id="run-2")
    outbox.claim([message("f")], state="held", run_id="run-3", now=later)
    outbox.claim([message("g")], state="baseline", run_id="run-3", now=later)
    outbox.claim([message("h", "summary")], run_id="run-4", now=later)  # another campaign
    assert outbox.run_sizes("reminder") == [1, 3]
    assert outbox.run_sizes("reminder", runs=1) == [1]
    # A held row sent by a later run counts in that run's batch.
    outbox.mark("reminder", ["f"], "pending", run_id="run-5", now=later + timedelta(hours=1))
    assert outbox.run_sizes("reminder") == [1, 1, 3]


@on_both_engines
def test_a_transaction_reads_its_own_writes_and_commits_them_together(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    with outbox.transaction() as session:
        session.claim([message("a")], run_id="run-1", now=NOW)
        assert session.campaign_sent_count("reminder", NOW) == 1
        session.mark("reminder", ["a"], "sent", now=NOW)
    assert stored(warehouse)["a"][0] == "sent"

    def claim_then_fail() -> None:
        with outbox.transaction() as session:
            session.claim([message("b")], now=NOW)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        claim_then_fail()
    assert "b" not in stored(warehouse)  # rolled back


# --- files made by an older version ------------------------------------------------------


def old_file(path: Path, rows: int = 0) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(OLD_OUTBOX_DDL)
        for i in range(rows):
            con.execute(
                "INSERT INTO smspresto.outbox VALUES (?, ?, '+2250708081488', 'ONIRIS', 'Bonjour',"
                " 1, 'GSM-7', 'sent', 0, 'ok', NULL, now(), now(), now())",
                ["reminder", f"k{i}"],
            )


def test_an_empty_outbox_of_the_old_ddl_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old_file(path)
    outbox = Outbox(Warehouse(path))
    outbox.claim([message("a")], state="baseline")
    outbox.claim([message("b")], state="skipped", skip_reason="opted out")
    assert {r.dedup_key: r.state for r in outbox.rows(OUTBOX_STATES)} == {
        "a": "baseline",
        "b": "skipped",
    }


def test_an_outbox_of_the_old_ddl_with_rows_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old_file(path, rows=2)
    with pytest.raises(WarehouseSchemaError, match=r"smspresto\.outbox .* holds 2 rows") as caught:
        Warehouse(path).ensure_schema()
    assert "skip_reason" in str(caught.value)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM smspresto.outbox").fetchone() == (2,)
        columns = [r[0] for r in con.execute("DESCRIBE smspresto.outbox").fetchall()]
    assert "skip_reason" not in columns
    # The failed upgrade released the file: it opens again.
    with pytest.raises(WarehouseSchemaError):
        Warehouse(path).ensure_schema()


def test_a_current_file_is_left_as_it_is(outbox: Outbox, warehouse: Warehouse) -> None:
    outbox.claim([message("a")])
    warehouse.ensure_schema()
    Warehouse(warehouse.path).ensure_schema()
    assert list(stored(warehouse)) == ["a"]


@on_both_engines
def test_hand_over_moves_only_pending_rows_of_the_named_run(outbox: Outbox) -> None:
    outbox.claim([message("a"), message("b"), message("c")], run_id="run-1", now=NOW)
    outbox.mark("reminder", ["c"], "sent", run_id="run-1", now=NOW)

    released = outbox.hand_over("reminder", ["a", "b", "c"], from_run="run-1", to_run=None)
    assert released == ("a", "b")  # c was sent: it stays with its run
    assert outbox.hand_over("reminder", ["a"], from_run="run-1", to_run="run-2") == ()
    assert outbox.hand_over("reminder", ["a", "x"], from_run=None, to_run="run-2") == ("a",)
    assert outbox.hand_over("reminder", ["a"], from_run=None, to_run="run-3") == ()
    assert outbox.hand_over("other", ["b"], from_run=None, to_run="run-2") == ()
    owners = {row.dedup_key: row.run_id for row in outbox.rows(OUTBOX_STATES)}
    assert owners == {"a": "run-2", "b": None, "c": "run-1"}


@on_both_engines
def test_released_gives_the_campaigns_pending_rows_no_run_owns(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    assert outbox.released("reminder") == []
    assert not warehouse.database.exists()  # nothing created by a read
    keys = ["a", "b", "c", "d", "e"]
    outbox.claim([message(k) for k in keys] + [message("a", campaign="other")], run_id="run-1")
    outbox.claim([message("f")], state="held", now=NOW)
    outbox.mark("reminder", ["c"], "sent", run_id="run-1")
    outbox.hand_over("reminder", ["b", "c", "d"], from_run="run-1", to_run=None)
    outbox.hand_over("other", ["a"], from_run="run-1", to_run=None)

    released = outbox.released("reminder")
    assert [row.dedup_key for row in released] == ["b", "d"]  # c was sent, a and e are run-1's
    assert {(row.state, row.run_id, row.campaign) for row in released} == {
        ("pending", None, "reminder")
    }


def _every_column(warehouse: Warehouse) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        return con.execute("SELECT * FROM smspresto.outbox ORDER BY campaign, dedup_key").fetchall()


def test_mark_each_writes_what_one_mark_a_batch_writes(tmp_path: Path) -> None:
    # The same outbox twice: one mark() per batch in one, one mark_each() in the other; every
    # column of every row must end the same (states allowed or not, answers, times, run).
    marks = [
        OutboxMark(("k1", "k2", "k1"), "sent", 0, "accepted", NOW + timedelta(seconds=1)),
        OutboxMark(("k3",), "failed", 105, "invalid number", NOW + timedelta(seconds=2)),
        OutboxMark(("k4", "k5"), "ambiguous", None, "answer lost", NOW + timedelta(seconds=3)),
        OutboxMark(("k6", "gone"), "sent", 0, None, NOW + timedelta(seconds=4)),
    ]
    outcomes = []
    for name in ("one-by-one", "at-once"):
        warehouse = Warehouse(tmp_path / f"{name}.duckdb")
        outbox = Outbox(warehouse)
        keys = ["k1", "k2", "k3", "k4", "k5", "k6", "k7"]
        outbox.claim([message(k) for k in keys], run_id="run-1", now=NOW)
        outbox.claim([message("k1", campaign="other")], run_id="run-1", now=NOW)
        outbox.mark("reminder", ["k6"], "ambiguous", api_message="lost", now=NOW)
        outbox.mark("reminder", ["k5"], "sent", api_status=0, now=NOW)  # not pending any more
        with outbox.transaction() as session:
            if name == "one-by-one":
                moved: tuple[str, ...] = ()
                for m in marks:
                    moved += session.mark(
                        "reminder",
                        m.keys,
                        m.state,
                        api_status=m.api_status,
                        api_message=m.api_message,
                        run_id="run-2",
                        now=m.now,
                    )
            else:
                moved = session.mark_each("reminder", marks, run_id="run-2")
        outcomes.append((moved, _every_column(warehouse)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == ("k1", "k2", "k3", "k4", "k6")


@on_both_engines
def test_mark_each_refuses_a_key_in_two_marks(outbox: Outbox, warehouse: Warehouse) -> None:
    outbox.claim([message("k1")], now=NOW)
    twice = [
        OutboxMark(("k1",), "sent", 0, None, NOW),
        OutboxMark(("k1",), "failed", 105, None, NOW),
    ]
    with outbox.transaction() as session, pytest.raises(ValueError, match="two marks"):
        session.mark_each("reminder", twice)
    assert stored(warehouse)["k1"][0] == "pending"


# --- what a write moved is read back, never taken from its echo ---------------------------


def test_duckdb_update_returning_under_reports_past_a_row_group(tmp_path: Path) -> None:
    """The engine's defect the outbox reads back around (DuckDB 2.0.1, the warehouse's
    ROW_GROUP_SIZE 16384). When this fails, RETURNING is exact again: the read-back stays."""
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH '{tmp_path / 'rgs.duckdb'}' AS w (ROW_GROUP_SIZE 16384)")
        con.execute("USE w")
        con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, state VARCHAR, run VARCHAR)")
        con.execute(
            "INSERT INTO t SELECT 'key-' || lpad(i::VARCHAR, 6, '0'), 'held', NULL "
            "FROM range(100000) r(i)"
        )
        con.execute("CHECKPOINT")
        con.execute("BEGIN")
        returned = con.execute(
            "UPDATE t SET state = 'pending', run = 'A' WHERE k IN (SELECT 'key-' || "
            "lpad(i::VARCHAR, 6, '0') FROM range(20000) r(i)) RETURNING k"
        ).fetchall()
        [(updated,)] = con.execute("SELECT count(*) FROM t WHERE run = 'A'").fetchall()
    assert updated == 20_000
    assert len(returned) < updated


def big_messages(count: int, start: int = 0) -> list[OutboxMessage]:
    return [
        OutboxMessage("surge", f"k{i:06d}", f"+22507{i:08d}", "ONIRIS", "Bonjour", 1, "GSM-7")
        for i in range(start, start + count)
    ]


def checkpoint(warehouse: Warehouse) -> None:
    """Write the file's rows into its row groups (DuckDB does so as its log grows): the
    layout under which RETURNING under-reports."""
    with warehouse.connect() as con:
        con.execute("CHECKPOINT")


def test_every_write_past_a_row_group_reports_exactly_what_it_moved(tmp_path: Path) -> None:
    """60,000 held rows (a confirmed surge); a run moves 20,000 of them to pending, sends and
    marks them, releases and adopts others: each call returns every row it moved. (DuckDB's
    RETURNING under-reports when the UPDATE runs on several threads: ``threads=4`` here.)"""
    warehouse = Warehouse(tmp_path / "surge.duckdb", threads=4)
    outbox = Outbox(warehouse)
    assert len(outbox.claim(big_messages(60_000), state="held", now=NOW)) == 60_000
    checkpoint(warehouse)
    batch = [f"k{i:06d}" for i in range(0, 60_000, 3)]  # 20,000 keys over every row group
    later = NOW + timedelta(minutes=1)
    with outbox.transaction() as session:
        moved = session.mark("surge", batch, "pending", run_id="run-A", now=later)
        assert len(moved) == 20_000
        owned = session.rows("pending", campaign="surge")
        assert {r.dedup_key for r in owned} == set(batch)
        taken = session.take("surge", batch, run_id="run-A", now=later)
        assert len(taken.requested) == 20_000
    marks = [OutboxMark(tuple(batch), "sent", 0, "ok", later)]
    checkpoint(warehouse)
    with outbox.transaction() as session:
        assert len(session.mark_each("surge", marks, run_id="run-A")) == 20_000
    rest = [f"k{i:06d}" for i in range(60_000) if i % 3]
    checkpoint(warehouse)
    assert len(outbox.mark("surge", rest, "pending", run_id="run-B", now=later)) == 40_000
    checkpoint(warehouse)
    assert len(outbox.release("surge", rest, run_id="run-B", now=later)) == 40_000
    checkpoint(warehouse)
    assert len(outbox.hand_over("surge", rest, from_run=None, to_run="run-C")) == 40_000
    counts = {r.run_id: 0 for r in outbox.rows("pending", campaign="surge")}
    assert set(counts) == {"run-C"}
    # A claim past a row group, with a third of its keys taken already.
    checkpoint(warehouse)
    claimed = outbox.claim(big_messages(30_000, start=50_000), run_id="run-D", now=later)
    assert [m.dedup_key for m in claimed] == [f"k{i:06d}" for i in range(60_000, 80_000)]


def test_a_write_whose_read_back_differs_rolls_back_and_fails_loudly(
    outbox: Outbox, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox.claim([message("a"), message("b")], state="held", now=NOW)

    def one_row_short(name: str, dialect: str, style: ParamStyle) -> str:
        sql = statement(name, dialect, style)
        if name == "dml/select_outbox_moved_keys.sql":
            sql = sql.rstrip().rstrip(";") + " AND outbox.dedup_key <> 'b';"
        return sql

    # The file the engine runs, one row short: what DuckDB 2.0.1's RETURNING did past a row group.
    monkeypatch.setattr(duckdb_engine, "statement", one_row_short)
    with pytest.raises(OutboxIntegrityError, match="2 outbox rows should have moved and 1 read"):
        outbox.mark("reminder", ["a", "b"], "pending", run_id="run-1", now=NOW)
    assert {key: row[0] for key, row in stored(warehouse).items()} == {"a": "held", "b": "held"}


def test_a_claim_whose_read_back_differs_rolls_back_and_fails_loudly(
    outbox: Outbox, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same guard on a claim, whether one call or inside a transaction of its own."""
    outbox.claim([message("a")], run_id="run-0", now=NOW)

    def one_row_short(name: str, dialect: str, style: ParamStyle) -> str:
        sql = statement(name, dialect, style)
        if name == "dml/select_outbox_claim_owners.sql":
            sql = sql.rstrip().rstrip(";") + " WHERE outbox.dedup_key <> 'c';"
        return sql

    monkeypatch.setattr(duckdb_engine, "statement", one_row_short)
    batch = [message("a"), message("b"), message("c")]
    short = r"a claim of 3 rows \(1 already in the outbox\) reads back 2 rows, 1 of them claimed"
    with pytest.raises(OutboxIntegrityError, match=short):
        outbox.claim(batch, run_id="run-1", now=NOW)
    with pytest.raises(OutboxIntegrityError, match=short), outbox.transaction() as session:
        session.claim(batch, run_id="run-1", now=NOW)
    assert {key: row[4] for key, row in stored(warehouse).items()} == {"a": "run-0"}


# --- a batch recorded as requested before its request ----------------------------------


@on_both_engines
def test_take_records_the_batch_as_requested_and_skips_numbers_opted_out_since(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    rows = [message("a", recipient="+2250708081488"), message("b", recipient="+2250505050505")]
    outbox.claim([*rows, message("c")], run_id="run-1", now=NOW)
    OptOuts(warehouse).add(["+2250505050505"], reason="STOP")
    with outbox.transaction() as session:
        taken = session.take("reminder", ["a", "b", "x"], run_id="run-1", now=NOW)
        assert taken == Taken(requested=("a",), opted_out=("b",))
        # Requested once: a second take of the same rows finds nothing left to request.
        assert session.take("reminder", ["a"], run_id="run-1", now=NOW) == Taken((), ())
        # Another run's take finds nothing of its own.
        assert session.take("reminder", ["c"], run_id="run-2", now=NOW) == Taken((), ())
    by_key = {r.dedup_key: r for r in outbox.rows(OUTBOX_STATES)}
    assert by_key["a"].requested_at == NOW
    assert by_key["a"].state == "pending"
    assert (by_key["b"].state, by_key["b"].skip_reason) == ("skipped", "opted_out")
    assert by_key["c"].requested_at is None


@on_both_engines
def test_requested_rows_are_never_handed_over_but_their_run_may_release_them(
    outbox: Outbox,
) -> None:
    outbox.claim([message("a"), message("b")], run_id="run-1", now=NOW)
    with outbox.transaction() as session:
        session.take("reminder", ["a"], run_id="run-1", now=NOW)
    # Another's view of a dead run moves only what it never requested.
    assert outbox.hand_over("reminder", ["a", "b"], from_run="run-1", to_run=None) == ("b",)
    # The run itself knows a's request never reached the API: it releases it.
    assert outbox.release("reminder", ["a", "b"], run_id="run-1") == ("a",)
    assert {r.dedup_key: (r.run_id, r.requested_at) for r in outbox.released("reminder")} == {
        "a": (None, None),
        "b": (None, None),
    }


@on_both_engines
def test_pending_owners_count_requested_and_unrequested_rows_per_run(outbox: Outbox) -> None:
    outbox.claim([message("a"), message("b"), message("c")], run_id="run-1", now=NOW)
    outbox.claim([message("d")], run_id="run-2", now=NOW + timedelta(minutes=5))
    later = NOW + timedelta(minutes=2)
    with outbox.transaction() as session:
        session.take("reminder", ["a", "b"], run_id="run-1", now=later)
    assert outbox.pending_owners("reminder") == [
        PendingOwner("reminder", "run-1", requested=2, unrequested=1, last_write=later),
        PendingOwner("reminder", "run-2", 0, 1, NOW + timedelta(minutes=5)),
    ]
    assert outbox.pending_owners("other") == []


def test_an_outbox_of_the_previous_ddl_with_rows_gains_requested_at(tmp_path: Path) -> None:
    path = tmp_path / "previous.duckdb"
    warehouse = Warehouse(path)
    Outbox(warehouse).claim([message("a")], run_id="run-1", now=NOW)
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE smspresto.outbox DROP COLUMN requested_at")
    reopened = Warehouse(path)
    reopened.ensure_schema()
    upgraded = Outbox(reopened)
    [row] = upgraded.rows("pending")
    assert (row.dedup_key, row.run_id, row.requested_at) == ("a", "run-1", None)
    with upgraded.transaction() as session:
        assert session.take("reminder", ["a"], run_id="run-1", now=NOW).requested == ("a",)


@on_both_engines
def test_a_campaign_has_one_open_held_surge_until_it_ends(outbox: Outbox) -> None:
    """Each tick of a sensor holding the same surge asks to hold it again, at its own time: the
    first hold stays the one open (its time and figures are what the alert and the status tell),
    other campaigns hold their own, and once it ends the next surge is held anew."""
    later = NOW + timedelta(minutes=1)
    outbox.hold_surge("promo", found_rows=900, threshold=500, resolve="confirm", now=NOW)
    outbox.hold_surge("promo", found_rows=950, threshold=500, resolve="confirm", now=later)
    outbox.hold_surge("news", found_rows=700, threshold=500, resolve="confirm", now=later)
    held = [(s.campaign, s.held_at, s.found_rows) for s in outbox.held_surges()]
    assert held == [("promo", NOW, 900), ("news", later, 700)]

    outbox.end_held_surge("promo", now=later)
    outbox.hold_surge("promo", found_rows=1200, threshold=500, resolve="confirm", now=later)
    assert [(s.held_at, s.found_rows) for s in outbox.held_surges("promo")] == [(later, 1200)]
