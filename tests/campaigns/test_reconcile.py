"""Reconciliation of ambiguous outbox rows against the ingested archive, in real DuckDB files
and PostgreSQL databases (``@on_both_engines``): after a lost answer and the day's ingestion
through the simulator, and on hand-written archive days (time zones, one archived message per
row, coverage of the window)."""

import collections
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from campaign_fixtures import ARCHIVED_TEXT, ambiguous, archived
from conftest import MakeSimulator, on_both_engines

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.reconcile import reconcile
from smspresto_pipeline.campaigns.send import send_claimed
from smspresto_pipeline.sending import OUTBOX_STATES, Outbox, OutboxMessage
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

CAMPAIGN = "reminder"
# Nine hours ahead of UTC: an archive time read as UTC would fall outside every window.
ZONE = "Asia/Tokyo"
DAY = date(2025, 3, 6)
# 09:00 in Tokyo on DAY: when the hand-written rows were marked ambiguous.
MARKED = datetime(2025, 3, 6, 0, 0, tzinfo=UTC)


@pytest.fixture
def sim(make_simulator: MakeSimulator) -> Iterator[RunningSimulator]:
    with make_simulator(messages_per_day=0, timezone=ZONE) as running:
        yield running


def message(key: str, recipient: str, text: str = ARCHIVED_TEXT) -> OutboxMessage:
    return OutboxMessage(CAMPAIGN, key, recipient, "MaBoutique", text, 1, "GSM-7")


def rows_by_key(outbox: Outbox) -> dict[str, tuple[str, str | None]]:
    rows = outbox.rows(OUTBOX_STATES, campaign=CAMPAIGN)
    return {row.dedup_key: (row.state, row.api_message) for row in rows}


@on_both_engines
def test_a_lost_answer_is_resolved_sent_from_the_archive_without_resending(
    sim: RunningSimulator, outbox: Outbox, warehouse: Warehouse
) -> None:
    claimed = outbox.claim(
        [message(f"key-{i}", f"+225070808{i:04d}", f"Colis {i} arrivé.") for i in range(4)],
        run_id="run-1",
    )
    sim.add_fault(Fault("drop_after_send", count=1, actions=frozenset({"sendsms"})))
    with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url, max_retries=0) as client:
        report = send_claimed(client, outbox, claimed, run_id="run-1")
        assert report.ambiguous == 4
        # Nothing is resolved before the day's archive is in the warehouse.
        assert reconcile(outbox, timezone=ZONE).still_ambiguous == tuple(
            (CAMPAIGN, m.dedup_key) for m in claimed
        )
        day = datetime.now(ZoneInfo(ZONE)).date()  # the account's day, not ours
        warehouse.write_partition(day, client.iter_archive_pages(day, day))

    result = reconcile(outbox, timezone=ZONE, campaign=CAMPAIGN)

    assert result.sent == tuple((CAMPAIGN, m.dedup_key) for m in claimed)
    assert (result.released, result.still_ambiguous) == ((), ())
    rows = outbox.rows(OUTBOX_STATES, campaign=CAMPAIGN)
    assert {row.state for row in rows} == {"sent"}
    assert all(
        row.api_message is not None and row.api_message.startswith("reconciled with archive")
        for row in rows
    )
    assert all(row.api_status is None and row.sent_at is not None for row in rows)
    witness = collections.Counter(r for send in sim.sends for r, _ in send.messages)
    assert witness == {m.recipient: 1 for m in claimed}
    # Run again: nothing left to resolve, nothing changes.
    assert reconcile(outbox, timezone=ZONE) == type(result)()


@on_both_engines
def test_archive_times_are_local_and_one_message_resolves_one_row(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    twice = "+2250708080001"
    ambiguous(
        outbox, message("a", twice), message("b", twice), message("c", "+2250708080002"), at=MARKED
    )
    ambiguous(outbox, message("later", twice), at=MARKED + timedelta(hours=3))
    warehouse.write_partition(
        DAY,
        [
            [
                # 09:00:30 in Tokyo is 00:00:30 UTC: inside a's window, not later's.
                archived(1, twice, f"{DAY} 09:00:30"),
                # The same text to the same number, in no window: resolves nothing.
                archived(2, twice, f"{DAY} 07:30:00"),
                # Another text to c's number: not c's message.
                archived(3, "+2250708080002", f"{DAY} 09:00:10", HIS_MESSAGE="Autre texte"),
            ]
        ],
    )

    result = reconcile(outbox, timezone=ZONE)

    assert result.sent == ((CAMPAIGN, "a"),)
    # b and c are absent from a day loaded long after their window closed; so is "later".
    assert result.released == ((CAMPAIGN, "b"), (CAMPAIGN, "c"), (CAMPAIGN, "later"))
    rows = rows_by_key(outbox)
    assert rows["a"] == ("sent", "reconciled with archive history_id 1")
    # Never accepted: released for the campaign's next run, which sends them.
    assert rows["b"][0] == "pending"
    assert "never accepted" in (rows["b"][1] or "")
    released = {row.dedup_key: (row.run_id, row.requested_at) for row in outbox.released(CAMPAIGN)}
    assert released == dict.fromkeys(("b", "c", "later"), (None, None))


@on_both_engines
def test_a_window_the_archive_does_not_cover_yet_stays_ambiguous(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(ZONE)).date()
    ambiguous(outbox, message("fresh", "+2250708080001"), at=now)
    # A day never ingested: its absence proves nothing.
    ambiguous(outbox, message("unloaded", "+2250708080002"), at=MARKED + timedelta(days=2))
    # Today's archive, loaded now: before the fresh row's window closes (now + 60 minutes).
    warehouse.write_partition(today, [[archived(1, "+2250708080009", f"{today} 00:00:01")]])

    result = reconcile(outbox, timezone=ZONE)

    assert (result.sent, result.released) == ((), ())
    assert set(result.still_ambiguous) == {(CAMPAIGN, "fresh"), (CAMPAIGN, "unloaded")}
    assert {state for state, _ in rows_by_key(outbox).values()} == {"ambiguous"}

    # The caller knows the archive is complete up to a later time: now they are absent.
    later = reconcile(outbox, timezone=ZONE, ingested_until=now + timedelta(hours=2))
    assert later.released == ((CAMPAIGN, "fresh"), (CAMPAIGN, "unloaded"))


@on_both_engines
def test_a_window_across_midnight_needs_both_days(outbox: Outbox, warehouse: Warehouse) -> None:
    # 23:30 in Tokyo on DAY: the window runs to 00:30 on the next local day.
    late = MARKED + timedelta(hours=14, minutes=30)
    ambiguous(outbox, message("late", "+2250708080001"), at=late)
    # 00:02 in Tokyo on DAY: the window starts at 23:57 on the day before.
    ambiguous(
        outbox, message("early", "+2250708080002"), at=MARKED - timedelta(hours=8, minutes=58)
    )
    warehouse.write_partition(DAY, [[archived(1, "+2250708080009", f"{DAY} 23:00:00")]])
    assert set(reconcile(outbox, timezone=ZONE).still_ambiguous) == {
        (CAMPAIGN, "late"),
        (CAMPAIGN, "early"),
    }

    for day in (DAY - timedelta(days=1), DAY + timedelta(days=1)):
        warehouse.write_partition(day, [[archived(day.day, "+2250708080009", f"{day} 12:00:00")]])
    assert reconcile(outbox, timezone=ZONE).released == ((CAMPAIGN, "early"), (CAMPAIGN, "late"))


@on_both_engines
def test_a_narrower_window_or_another_campaign_leaves_rows_alone(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    ambiguous(outbox, message("a", "+2250708080001"), at=MARKED)
    warehouse.write_partition(DAY, [[archived(1, "+2250708080001", f"{DAY} 09:20:00")]])

    assert reconcile(outbox, timezone=ZONE, campaign="other").still_ambiguous == ()
    # 20 minutes after the mark is outside a 10-minute window (not known complete yet).
    narrow = reconcile(outbox, timezone=ZONE, after=timedelta(minutes=10), ingested_until=MARKED)
    assert narrow.still_ambiguous == ((CAMPAIGN, "a"),)
    assert rows_by_key(outbox)["a"][0] == "ambiguous"
    assert reconcile(outbox, timezone=ZONE).sent == ((CAMPAIGN, "a"),)


def test_the_window_is_checked() -> None:
    outbox = Outbox(Warehouse(Path("/nonexistent/never-opened.duckdb")))
    with pytest.raises(ValueError, match="under a day"):
        reconcile(outbox, timezone=ZONE, before=timedelta(hours=1), after=timedelta(hours=23))


@on_both_engines
def test_only_the_sending_accounts_archive_resolves_a_row(
    outbox: Outbox, warehouse: Warehouse
) -> None:
    ambiguous(outbox, message("a", "+2250708080001"), at=MARKED)
    # Another account of the warehouse texted the same number the same words in the window,
    # and its day was loaded long after the window closed.
    warehouse.write_partition(
        DAY, [[archived(1, "+2250708080001", f"{DAY} 09:00:30")]], account="brand_b"
    )

    # Neither its message (not this row's send) nor its loaded day (not this account's
    # archive) resolves the row: it stays ambiguous, neither sent nor released to be resent.
    result = reconcile(outbox, timezone=ZONE)
    assert (result.sent, result.released) == ((), ())
    assert result.still_ambiguous == ((CAMPAIGN, "a"),)
    assert rows_by_key(outbox)["a"][0] == "ambiguous"

    # The same message in the sending account's own archive resolves it.
    warehouse.write_partition(DAY, [[archived(7, "+2250708080001", f"{DAY} 09:00:30")]])
    assert reconcile(outbox, timezone=ZONE).sent == ((CAMPAIGN, "a"),)
    assert rows_by_key(outbox)["a"] == ("sent", "reconciled with archive history_id 7")
