"""The send step against the real simulator over HTTP and a real DuckDB outbox (and a
PostgreSQL one for the tests ``@on_both_engines``: sending, marking, releasing, dead runs'
settling): each claimed row sent once, one request per batch, every batch marked soon after its
answer; ambiguous, refused and unreachable batches, and what a later run may send."""

import collections
import dataclasses
import json
import socket
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import MakeSimulator, on_both_engines

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.send import (
    adopt_released,
    check_stock,
    released_rows,
    send_claimed,
)
from smspresto_pipeline.campaigns.settle import RunStatus, settle_dead_runs
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sending import OUTBOX_STATES, OptOuts, Outbox, OutboxMessage
from smspresto_pipeline.sending.outbox import OutboxRow, OutboxSession
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

CAMPAIGN = "reminder"
DROP = Fault("drop_after_send", count=1, actions=frozenset({"sendsms"}))
NOW = datetime(2026, 3, 6, 9, 0)


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


@on_both_engines
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


@on_both_engines
def test_each_batch_is_recorded_as_requested_before_its_request(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    """At each request, the outbox (what a process killed right then leaves) holds: the batches
    before it marked, this batch recorded as requested, the later ones never requested."""
    claimed = outbox.claim(messages(23), run_id="run-1")
    seen: list[dict[str, tuple[str, bool]]] = []

    def before_request(request: httpx.Request) -> None:
        if b"sendsms" in request.content:
            seen.append(
                {r.dedup_key: (r.state, r.requested_at is not None) for r in all_rows(outbox)}
            )

    hooks = {"request": [before_request], "response": []}
    with client_for(sim, event_hooks=hooks) as client:
        send_claimed(client, outbox, claimed, run_id="run-1")

    assert len(seen) == 5
    for index, rows in enumerate(seen):
        for i in range(23):
            batch = i // 5
            expected = (
                ("sent", True)
                if batch < index
                else ("pending", True)
                if batch == index
                else ("pending", False)
            )
            assert rows[f"key-{i}"] == expected, (index, i)
    assert set(states(outbox).values()) == {"sent"}


@on_both_engines
def test_a_number_opted_out_after_its_claim_is_skipped_before_its_batch(
    sim: RunningSimulator, outbox: Outbox, warehouse: Warehouse
) -> None:
    claimed = outbox.claim(messages(12), run_id="run-1")

    def opt_out_during_the_first_request(request: httpx.Request) -> None:
        if b"sendsms" in request.content and sendsms_requests(sim) == 0:
            OptOuts(warehouse).add([claimed[7].recipient, claimed[1].recipient])

    hooks = {"request": [opt_out_during_the_first_request], "response": []}
    with client_for(sim, event_hooks=hooks) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")

    # key-1's batch had left already; key-7's had not: it is skipped, never texted.
    assert (report.sent, report.opted_out, report.requests) == (11, 1, 3)
    assert sent_per_recipient(sim) == {m.recipient: 1 for m in claimed if m.dedup_key != "key-7"}
    row = {r.dedup_key: r for r in all_rows(outbox)}["key-7"]
    assert (row.state, row.skip_reason) == ("skipped", "opted_out")


@on_both_engines
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


@on_both_engines
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


@on_both_engines
def test_a_dead_runs_unrequested_rows_are_released_and_its_requested_ones_quarantined(
    outbox: Outbox,
) -> None:
    outbox.claim(messages(3), run_id="dead", now=NOW)
    with outbox.transaction() as session:
        session.take(CAMPAIGN, ["key-0"], run_id="dead", now=NOW)  # its request may have left
    outbox.claim(messages(5)[3:], run_id="alive", now=NOW)
    outbox.claim(messages(6)[5:], run_id=None, now=NOW)  # released: never sent
    statuses = {"dead": RunStatus(over=True, label="FAILURE"), "alive": None}

    settled = settle_dead_runs(
        outbox, status_of=statuses.get, campaign=CAMPAIGN, now=NOW, alive=("alive",)
    )

    assert [(d.run_id, d.released, d.quarantined) for d in settled] == [("dead", 2, 1)]
    assert "ended (FAILURE)" in settled[0].describe()
    rows = {row.dedup_key: row for row in all_rows(outbox)}
    assert {k: (r.state, r.run_id) for k, r in rows.items()} == {
        "key-0": ("ambiguous", "dead"),
        "key-1": ("pending", None),
        "key-2": ("pending", None),
        "key-3": ("pending", "alive"),
        "key-4": ("pending", "alive"),
        "key-5": ("pending", None),
    }
    adopted = adopt_released(outbox, CAMPAIGN, run_id="next")
    assert [m.dedup_key for m in adopted] == ["key-1", "key-2", "key-5"]


@on_both_engines
def test_a_silent_run_is_dead_whatever_its_status_a_live_one_is_left_alone(
    outbox: Outbox,
) -> None:
    outbox.claim(messages(2), run_id="silent", now=NOW)
    outbox.claim(messages(4)[2:], run_id="busy", now=NOW + timedelta(minutes=10))
    started = RunStatus(over=False, label="STARTED")

    def settle(now: datetime) -> list[tuple[str, str]]:
        found = settle_dead_runs(outbox, status_of=lambda _: started, campaign=CAMPAIGN, now=now)
        return [(d.run_id, d.why) for d in found]

    assert settle(NOW + timedelta(minutes=14)) == []
    [(run_id, why)] = settle(NOW + timedelta(minutes=15))
    assert run_id == "silent"
    assert "written nothing for 15 minutes although its status is STARTED" in why
    assert {r.run_id for r in released_rows(outbox, CAMPAIGN)} == {None}
    assert {r.dedup_key for r in released_rows(outbox, CAMPAIGN)} == {"key-0", "key-1"}


@on_both_engines
def test_a_run_judged_dead_while_alive_sends_nothing_it_no_longer_owns(
    sim: RunningSimulator, outbox: Outbox
) -> None:
    claimed = outbox.claim(messages(12), run_id="slow")

    def judged_dead_during_the_first_request(request: httpx.Request) -> None:
        if b"sendsms" in request.content and sendsms_requests(sim) == 0:
            settle_dead_runs(outbox, status_of=lambda _: None, campaign=CAMPAIGN)

    hooks = {"request": [judged_dead_during_the_first_request], "response": []}
    with client_for(sim, event_hooks=hooks) as client:
        report = send_claimed(client, outbox, claimed, run_id="slow")
        again = send_claimed(
            client, outbox, adopt_released(outbox, CAMPAIGN, run_id="next"), run_id="next"
        )

    # The first batch was in flight: quarantined, then marked sent by its own run's answer.
    assert (report.sent, report.not_owned, report.requests) == (5, 7, 1)
    assert (again.sent, again.requests) == (7, 2)
    assert sent_per_recipient(sim) == {m.recipient: 1 for m in claimed}
    assert set(states(outbox).values()) == {"sent"}


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


def test_a_failure_while_marking_stops_the_requests_and_keeps_the_unmarked_batch(
    sim: RunningSimulator, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed = outbox.claim(messages(17), run_id="run-1")
    real_mark = OutboxSession.mark_each

    def mark_then_fail(self: OutboxSession, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        if any("key-5" in mark.keys for mark in args[1]):  # batch 2's mark
            raise OSError("disk full")
        return real_mark(self, *args, **kwargs)

    monkeypatch.setattr(OutboxSession, "mark_each", mark_then_fail)
    with client_for(sim) as client, pytest.raises(OSError, match="disk full"):
        send_claimed(client, outbox, claimed, run_id="run-1")
    monkeypatch.undo()

    # Batch 2's mark goes with batch 3's record of its request: neither is written, and batch 3
    # never leaves.
    assert sendsms_requests(sim) == 2
    owners = {row.dedup_key: (row.state, row.run_id) for row in all_rows(outbox)}
    assert {owners[f"key-{i}"] for i in range(5)} == {("sent", "run-1")}
    # Batch 2 was accepted but not marked: it stays the run's, recorded as requested ...
    assert {owners[f"key-{i}"] for i in range(5, 10)} == {("pending", "run-1")}
    # ... while batches 3 and 4 never left: released for a later run.
    assert {owners[f"key-{i}"] for i in range(10, 17)} == {("pending", None)}
    dead = settle_dead_runs(
        outbox, status_of=lambda _: RunStatus(over=True, label="FAILURE"), campaign=CAMPAIGN
    )
    assert [(d.released, d.quarantined) for d in dead] == [(0, 5)]
    adopted = adopt_released(outbox, CAMPAIGN, run_id="run-2")
    assert [m.dedup_key for m in adopted] == [f"key-{i}" for i in range(10, 17)]
    assert sent_per_recipient(sim) == {m.recipient: 1 for m in claimed[:10]}
