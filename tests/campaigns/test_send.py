"""The send step against the real simulator over HTTP and a real DuckDB outbox: each claimed
row sent once, one request per batch, every batch marked soon after its answer; ambiguous,
refused and unreachable batches, and what a later run may send."""

import collections
import dataclasses
import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from conftest import MakeSimulator

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.send import (
    MARKS_IN_FLIGHT,
    adopt_released,
    check_stock,
    quarantine_orphans,
    released_rows,
    send_claimed,
)
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import OUTBOX_STATES, Outbox, OutboxMessage
from smspresto_pipeline.warehouse.outbox import OutboxRow, OutboxSession

CAMPAIGN = "reminder"
DROP = Fault("drop_after_send", count=1, actions=frozenset({"sendsms"}))


def messages(count: int, campaign: str = CAMPAIGN) -> list[OutboxMessage]:
    """``count`` messages to distinct numbers; every third takes two SMS parts."""
    return [
        OutboxMessage(
            campaign,
            f"key-{i}",
            f"+225070808{i:04d}",
            "MaBoutique",
            f"Bonjour client {i}, votre colis est arrivé." + (" x" * 100 if i % 3 == 0 else ""),
            2 if i % 3 == 0 else 1,
            "GSM-7",
        )
        for i in range(count)
    ]


def client_for(sim: RunningSimulator, batch_size: int = 5, **kwargs: object) -> SMSPrestoClient:
    settings: dict[str, object] = {"max_retries": 0, "batch_size": batch_size, **kwargs}
    return SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url, **settings)  # type: ignore[arg-type]


def sent_per_recipient(sim: RunningSimulator) -> collections.Counter[str]:
    """How many times the simulator accepted a message to each number: the witness."""
    return collections.Counter(r for send in sim.sends for r, _ in send.messages)


def states(outbox: Outbox) -> dict[str, str]:
    return {row.dedup_key: row.state for row in all_rows(outbox)}


def all_rows(outbox: Outbox) -> list[OutboxRow]:
    return outbox.rows(OUTBOX_STATES, campaign=CAMPAIGN)


def sendsms_requests(sim: RunningSimulator) -> int:
    return sum(1 for request in sim.requests if request.action == "sendsms")


def test_every_row_is_sent_once_one_request_per_batch(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    claimed = outbox.claim(messages(23), run_id="run-1")
    with client_for(sim) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")

    assert sendsms_requests(sim) == report.requests == len(report.batches) == 5  # ceil(23 / 5)
    witness = sent_per_recipient(sim)
    assert witness == {m.recipient: 1 for m in claimed}
    assert [len(send.messages) for send in sim.sends] == [5, 5, 5, 5, 3]
    texts = {r: t for send in sim.sends for r, t in send.messages}
    assert texts == {m.recipient: m.message for m in claimed}
    assert (report.sent, report.failed, report.ambiguous, report.left_pending) == (23, 0, 0, 0)
    assert report.stopped is None
    assert report.segments_billed == sum(m.segments for m in claimed) == 31
    assert report.message_count == 23
    rows = all_rows(outbox)
    assert {row.state for row in rows} == {"sent"}
    assert {(row.api_status, row.api_message, row.run_id) for row in rows} == {
        (0, "Message sent successfully.", "run-1")
    }
    assert all(row.sent_at is not None for row in rows)
    stored = json.dumps([dataclasses.asdict(row) for row in rows], default=str)
    assert sim.api_pass not in stored


def test_no_more_than_marks_in_flight_answered_batches_wait_for_their_mark(
    sim: RunningSimulator, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    written: list[str] = []
    real_mark = OutboxSession.mark_each

    def slow_mark(self: OutboxSession, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        # A writer slower than the requests (0.2 s a batch): the bound must hold them back.
        time.sleep(0.2 * len(args[1]))
        moved = real_mark(self, *args, **kwargs)
        written.extend(moved)
        return moved

    def before_request(request: httpx.Request) -> None:
        if b"sendsms" in request.content:
            seen.append(len(written))  # no read of the file here: it would wait for the writer

    monkeypatch.setattr(OutboxSession, "mark_each", slow_mark)
    claimed = outbox.claim(messages(5 * (2 * MARKS_IN_FLIGHT + 4)), run_id="run-1")
    hooks = {"request": [before_request], "response": []}
    with client_for(sim, event_hooks=hooks) as client:
        send_claimed(client, outbox, claimed, run_id="run-1")

    assert seen[0] == 0
    for index, marked in enumerate(seen):
        # Batches 0 .. index-1 were answered: all but MARKS_IN_FLIGHT of them are marked.
        assert marked >= 5 * (index - MARKS_IN_FLIGHT), index
    # Every mark is written when send_claimed returns.
    assert set(states(outbox).values()) == {"sent"}


def test_a_lost_answer_makes_the_batch_ambiguous_and_stops(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    claimed = outbox.claim(messages(12), run_id="run-1")
    sim.add_fault(DROP)
    with client_for(sim) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")

    assert sendsms_requests(sim) == report.requests == 1
    assert (report.sent, report.ambiguous, report.left_pending) == (0, 5, 7)
    assert report.stopped is not None
    assert "batch 1 of 3" in report.stopped
    assert report.pending_keys == tuple(f"key-{i}" for i in range(5, 12))
    rows = {row.dedup_key: row for row in all_rows(outbox)}
    assert {k for k, r in rows.items() if r.state == "ambiguous"} == {f"key-{i}" for i in range(5)}
    assert {k for k, r in rows.items() if r.state == "pending"} == set(report.pending_keys)
    # Released: no run owns the never-requested rows any more; the ambiguous ones keep theirs.
    assert {r.run_id for r in rows.values() if r.state == "pending"} == {None}
    assert {r.run_id for r in rows.values() if r.state == "ambiguous"} == {"run-1"}
    # The simulator did accept the first batch, once: nothing was resent.
    assert sent_per_recipient(sim) == {m.recipient: 1 for m in claimed[:5]}


def test_a_rerun_sends_only_the_released_rows(sim: RunningSimulator, outbox: Outbox) -> None:
    claimed = outbox.claim(messages(12), run_id="run-1")
    sim.add_fault(DROP)
    with client_for(sim) as client:
        send_claimed(client, outbox, claimed, run_id="run-1")
        assert {r.dedup_key for r in released_rows(outbox, CAMPAIGN)} == {
            f"key-{i}" for i in range(5, 12)
        }
        adopted = adopt_released(outbox, CAMPAIGN, run_id="run-2")
        assert adopt_released(outbox, CAMPAIGN, run_id="run-3") == []  # one owner per row
        report = send_claimed(client, outbox, adopted, run_id="run-2")
        # A third run finds nothing left to send.
        assert adopt_released(outbox, CAMPAIGN, run_id="run-4") == []

    assert sorted(adopted, key=claimed.index) == claimed[5:]
    assert (report.sent, report.requests) == (7, 2)
    assert sent_per_recipient(sim) == {m.recipient: 1 for m in claimed}
    assert sendsms_requests(sim) == 3
    final = states(outbox)
    assert [final[f"key-{i}"] for i in range(12)] == ["ambiguous"] * 5 + ["sent"] * 7


def test_a_wrong_password_fails_the_batch_with_the_api_code_and_stops(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    claimed = outbox.claim(messages(12), run_id="run-1")
    with SMSPrestoClient(
        sim.api_key, "not-the-password", sim.base_url, batch_size=5, max_retries=0
    ) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")

    assert sendsms_requests(sim) == report.requests == 1
    assert sim.sends == []
    assert (report.failed, report.left_pending) == (5, 7)
    rows = {row.dedup_key: row for row in all_rows(outbox)}
    failed = [rows[f"key-{i}"] for i in range(5)]
    assert {(r.state, r.api_status) for r in failed} == {("failed", 11)}
    assert {rows[k].state for k in report.pending_keys} == {"pending"}
    stored = json.dumps([dataclasses.asdict(row) for row in rows.values()], default=str)
    assert "not-the-password" not in stored
    assert sim.api_pass not in stored


def _api_answering(body: dict[str, object], requests: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("code", "api_message", "stops"),
    [(100, "Invalid sender", True), (102, "Invalid recipient", False)],
)
def test_a_refused_batch_is_failed_with_the_api_code(
    outbox: Outbox, code: int, api_message: str, stops: bool
) -> None:
    # The simulator's sender rules are the client's own, so a sender it refuses never leaves
    # the client: a mock API answers the refusal the real one may give.
    requests: list[httpx.Request] = []
    transport = _api_answering({"status": code, "message": api_message}, requests)
    claimed = outbox.claim(messages(12), run_id="run-1")
    with SMSPrestoClient("key", "secret", batch_size=5, transport=transport) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")

    assert len(requests) == report.requests == (1 if stops else 3)
    assert report.failed == (5 if stops else 12)
    assert report.left_pending == (7 if stops else 0)
    assert (report.stopped is not None) == stops
    failed = [row for row in all_rows(outbox) if row.state == "failed"]
    assert {(row.api_status, row.api_message) for row in failed} == {(code, api_message)}


def test_an_unreachable_api_leaves_every_row_pending_and_released(outbox: Outbox) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/console/api/"
    claimed = outbox.claim(messages(7), run_id="run-1")
    with SMSPrestoClient("key", "secret", url, batch_size=5, max_retries=0) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")

    assert (report.sent, report.failed, report.ambiguous, report.left_pending) == (0, 0, 0, 7)
    assert report.stopped is not None
    assert "never reached" in report.stopped
    assert {r.dedup_key for r in released_rows(outbox, CAMPAIGN)} == {m.dedup_key for m in claimed}


def test_too_little_stock_raises_before_any_request(
    make_simulator: MakeSimulator, outbox: Outbox
) -> None:
    claimed = outbox.claim(messages(4), run_id="run-1")  # 6 SMS parts: keys 0 and 3 take two
    with make_simulator(messages_per_day=0, initial_stock=5) as sim, client_for(sim) as client:
        with pytest.raises(SMSValidationError, match=r"cost 6 SMS parts.*stock is 5"):
            check_stock(client, claimed)
        assert sendsms_requests(sim) == 0
    with make_simulator(messages_per_day=0, initial_stock=6) as sim, client_for(sim) as client:
        assert check_stock(client, claimed) == 6


def test_rows_of_a_dead_run_become_ambiguous_never_resent(outbox: Outbox) -> None:
    outbox.claim(messages(3), run_id="dead")
    outbox.claim(messages(5)[3:], run_id="alive")
    outbox.claim(messages(6)[5:], run_id=None)  # released: never sent

    assert quarantine_orphans(outbox, CAMPAIGN, {"other"}) == ()
    assert quarantine_orphans(outbox, CAMPAIGN, {"dead", "other"}) == ("key-0", "key-1", "key-2")
    rows = {row.dedup_key: row for row in all_rows(outbox)}
    assert {k: r.state for k, r in rows.items()} == {
        "key-0": "ambiguous",
        "key-1": "ambiguous",
        "key-2": "ambiguous",
        "key-3": "pending",
        "key-4": "pending",
        "key-5": "pending",
    }
    assert [m.dedup_key for m in adopt_released(outbox, CAMPAIGN, run_id="next")] == ["key-5"]


def test_one_campaign_per_send(outbox: Outbox) -> None:
    mixed = messages(2) + messages(1, campaign="other")
    with SMSPrestoClient("key", "secret") as client, pytest.raises(ValueError, match="one"):
        send_claimed(client, outbox, mixed, run_id="run-1")


def test_rows_of_two_senders_go_in_batches_of_one_sender_each(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    # Rows rendered before the campaign's sender changed (held, released) keep the old one.
    rows = messages(7)
    old = [dataclasses.replace(m, sender="AncienNom") for m in rows[:3]]
    claimed = outbox.claim(old + rows[3:], run_id="run-1")
    with client_for(sim, batch_size=5) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")
    assert (report.sent, report.requests) == (7, 2)
    assert [(send.sender, len(send.messages)) for send in sim.sends] == [
        ("AncienNom", 3),
        ("MaBoutique", 4),
    ]
    assert set(states(outbox).values()) == {"sent"}


def test_a_sender_the_api_would_refuse_stops_before_any_request(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    bad = [dataclasses.replace(m, sender="Ma-Boutique!") for m in messages(3)]
    claimed = outbox.claim(bad, run_id="run-1")
    with client_for(sim) as client, pytest.raises(SMSValidationError, match="Ma-Boutique"):
        send_claimed(client, outbox, claimed, run_id="run-1")
    assert sendsms_requests(sim) == 0
    assert set(states(outbox).values()) == {"pending"}


def test_a_failure_while_marking_stops_the_requests_and_keeps_unmarked_batches(
    sim: RunningSimulator, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed = outbox.claim(messages(17), run_id="run-1")
    real_mark = OutboxSession.mark_each

    def mark_then_fail(self: OutboxSession, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        if any("key-5" in mark.keys for mark in args[1]):  # batch 2's mark
            raise OSError("disk full")
        return real_mark(self, *args, **kwargs)

    def third_request_after_the_failure(request: httpx.Request) -> None:
        # Batch 3's request leaves once the writer died on batch 2's mark: the answer it gets
        # cannot be marked.
        if b"sendsms" in request.content and sendsms_requests(sim) == 2:
            for thread in threading.enumerate():
                if thread.name.startswith("smspresto-outbox-marks-"):
                    thread.join(10)

    monkeypatch.setattr(OutboxSession, "mark_each", mark_then_fail)
    hooks = {"request": [third_request_after_the_failure], "response": []}
    with (
        client_for(sim, event_hooks=hooks) as client,
        pytest.raises(OSError, match="disk full"),
    ):
        send_claimed(client, outbox, claimed, run_id="run-1")
    monkeypatch.undo()

    assert sendsms_requests(sim) == 3  # no request once the failure was known
    owners = {row.dedup_key: (row.state, row.run_id) for row in all_rows(outbox)}
    # Batch 1's mark was written, or went down with batch 2's in the same transaction.
    first = {owners[f"key-{i}"] for i in range(5)}
    assert first in ({("sent", "run-1")}, {("pending", "run-1")})
    # Batches 2 and 3 were accepted but not marked: they stay the dead run's, never resent ...
    assert {owners[f"key-{i}"] for i in range(5, 15)} == {("pending", "run-1")}
    # ... while batch 4 never left: released for a later run.
    assert {owners[f"key-{i}"] for i in range(15, 17)} == {("pending", None)}
    unmarked = {k for k, owner in owners.items() if owner == ("pending", "run-1")}
    assert set(quarantine_orphans(outbox, CAMPAIGN, {"run-1"})) == unmarked
    assert [m.dedup_key for m in adopt_released(outbox, CAMPAIGN, run_id="run-2")] == [
        "key-15",
        "key-16",
    ]
    assert sent_per_recipient(sim) == {m.recipient: 1 for m in claimed[:15]}
