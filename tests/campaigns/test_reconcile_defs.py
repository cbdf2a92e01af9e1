"""The reconciliation job and its schedule, through real runs over real DuckDB files: ambiguous
rows left by a lost answer (the simulator's) or written by hand, resolved against the ingested
archive; the run's metadata; harmless on a warehouse with nothing to reconcile."""

import collections
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from campaign_fixtures import ARCHIVED_TEXT, ambiguous, archived, warehouse_resource
from conftest import MakeSimulator

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns import build_reconcile_defs
from smspresto_pipeline.campaigns.reconcile_defs import RECONCILE_JOB_NAME
from smspresto_pipeline.campaigns.send import send_claimed
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.sending import OUTBOX_STATES, Outbox, OutboxMessage
from smspresto_pipeline.simulator import Fault
from smspresto_pipeline.warehouse import Warehouse

# Nine hours ahead of UTC: an archive time read in the wrong zone falls outside every window.
ZONE = "Asia/Tokyo"
DAY = date(2025, 3, 6)
# 09:00 in Tokyo on DAY.
MARKED = datetime(2025, 3, 6, 0, 0, tzinfo=UTC)


def bound(
    defs: dg.Definitions,
    path: Path,
    *,
    base_url: str = "http://127.0.0.1:9/console/api/",
    timezone: str = ZONE,
) -> dg.Definitions:
    """``defs`` with the resources it needs."""
    resources = {
        # The job reads only the account's time zone from it: no request is made.
        "smspresto": SMSPrestoResource(
            api_key="key", api_pass="secret", base_url=base_url, timezone=timezone
        ),
        "warehouse": warehouse_resource(path),
    }
    return dg.Definitions.merge(defs, dg.Definitions(resources=resources))


def run_job(
    path: Path,
    instance: dg.DagsterInstance,
    *,
    base_url: str = "http://127.0.0.1:9/console/api/",
    timezone: str = ZONE,
) -> dict[str, Any]:
    """One run of the reconciliation job; its op's output metadata."""
    defs = bound(build_reconcile_defs(), path, base_url=base_url, timezone=timezone)
    result = defs.resolve_job_def(RECONCILE_JOB_NAME).execute_in_process(instance=instance)
    assert result.success
    [event] = [e for e in result.all_node_events if e.is_successful_output]
    return {k: v.value for k, v in event.step_output_data.metadata.items()}


def message(campaign: str, key: str, recipient: str) -> OutboxMessage:
    return OutboxMessage(campaign, key, recipient, "MaBoutique", ARCHIVED_TEXT, 1, "GSM-7")


def states(outbox: Outbox) -> dict[tuple[str, str], str]:
    return {row.key: row.state for row in outbox.rows(OUTBOX_STATES)}


def test_a_lost_answer_is_resolved_by_a_run_once_the_day_is_ingested(
    make_simulator: MakeSimulator, warehouse: Warehouse, instance: dg.DagsterInstance
) -> None:
    outbox = Outbox(warehouse)
    with make_simulator(messages_per_day=0, timezone=ZONE) as sim:
        claimed = outbox.claim(
            [message("reminder", f"key-{i}", f"+225070808{i:04d}") for i in range(3)],
            run_id="run-1",
        )
        sim.add_fault(Fault("drop_after_send", count=1, actions=frozenset({"sendsms"})))
        with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url, max_retries=0) as client:
            assert send_claimed(client, outbox, claimed, run_id="run-1").ambiguous == 3

            # Before the day's archive is in the warehouse, nothing can be decided.
            before = run_job(warehouse.path, instance, base_url=sim.base_url)
            assert (before["resolved_sent"], before["released_unsent"]) == (0, 0)
            assert before["still_ambiguous"] == 3
            assert 0 <= before["oldest_ambiguous_age_seconds"] < 3600

            day = datetime.now(ZoneInfo(ZONE)).date()  # the account's day
            warehouse.write_partition(day, client.iter_archive_pages(day, day))

        after = run_job(warehouse.path, instance, base_url=sim.base_url)
        witness = collections.Counter(r for send in sim.sends for r, _ in send.messages)

    assert (after["resolved_sent"], after["released_unsent"], after["still_ambiguous"]) == (3, 0, 0)
    assert after["by_campaign"] == {"sent": {"reminder": 3}, "released": {}, "still_ambiguous": {}}
    assert after["oldest_ambiguous_age_seconds"] is None
    assert set(states(outbox).values()) == {"sent"}
    # Reconciled, never resent: the simulator received each message once.
    assert witness == {m.recipient: 1 for m in claimed}
    # A later run finds nothing left to do.
    again = run_job(warehouse.path, instance)
    assert (again["resolved_sent"], again["released_unsent"], again["still_ambiguous"]) == (0, 0, 0)


def test_every_campaign_is_reconciled_in_the_account_time_zone(
    warehouse: Warehouse, instance: dg.DagsterInstance
) -> None:
    outbox = Outbox(warehouse)
    now = datetime.now(UTC)
    # Archived at 09:00:30 in Tokyo (00:00:30 UTC): "found" is in the archive.
    ambiguous(outbox, message("reminder", "found", "+2250708080001"), at=MARKED)
    # Another campaign; its number is absent from a day loaded long after the window closed.
    ambiguous(outbox, message("summary", "absent", "+2250708080002"), at=MARKED)
    # Marked a minute ago: today's archive, loaded now, does not cover its window yet.
    ambiguous(outbox, message("reminder", "fresh", "+2250708080003"), at=now - timedelta(minutes=1))
    warehouse.write_partition(DAY, [[archived(1, "+2250708080001", f"{DAY} 09:00:30")]])
    today = now.astimezone(ZoneInfo(ZONE)).date()
    warehouse.write_partition(today, [[archived(2, "+2250708080009", f"{today} 00:00:01")]])

    metadata = run_job(warehouse.path, instance)

    assert states(outbox) == {
        ("reminder", "found"): "sent",
        ("summary", "absent"): "pending",
        ("reminder", "fresh"): "ambiguous",
    }
    assert (metadata["resolved_sent"], metadata["released_unsent"]) == (1, 1)
    assert metadata["still_ambiguous"] == 1
    assert metadata["by_campaign"] == {
        "sent": {"reminder": 1},
        "released": {"summary": 1},
        "still_ambiguous": {"reminder": 1},
    }
    # The fresh row has waited about a minute (not the ages of the rows resolved, 2025's).
    age = metadata["oldest_ambiguous_age_seconds"]
    assert 50 <= age < 600
    assert age == round(age, 1), "tenths of a second, not 63.48213"
    assert metadata["account_timezone"] == ZONE


@pytest.mark.parametrize(
    ("account_zone", "state", "counted"),
    [(ZONE, "sent", "resolved_sent"), ("UTC", "pending", "released_unsent")],
)
def test_the_archive_is_read_in_the_resource_time_zone(
    warehouse: Warehouse,
    instance: dg.DagsterInstance,
    account_zone: str,
    state: str,
    counted: str,
) -> None:
    # Marked at 01:00 UTC; archived at "10:00:30": 01:00:30 UTC if the account is in Tokyo (its
    # message), nine hours past the row's window on a covered day if the account is on UTC.
    outbox = Outbox(warehouse)
    ambiguous(outbox, message("reminder", "key", "+2250708080001"), at=MARKED + timedelta(hours=1))
    warehouse.write_partition(DAY, [[archived(1, "+2250708080001", f"{DAY} 10:00:30")]])

    metadata = run_job(warehouse.path, instance, timezone=account_zone)

    assert states(outbox) == {("reminder", "key"): state}
    assert metadata[counted] == 1
    assert metadata["account_timezone"] == account_zone


def test_the_job_is_harmless_on_a_missing_file_or_an_empty_warehouse(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    missing = tmp_path / "never" / "warehouse.duckdb"
    metadata = run_job(missing, instance)
    assert (metadata["resolved_sent"], metadata["released_unsent"]) == (0, 0)
    assert metadata["still_ambiguous"] == 0
    assert metadata["oldest_ambiguous_age_seconds"] is None
    assert not missing.exists()

    # A file with no archive ingested and no outbox row yet (only the user's own table).
    empty = Warehouse(tmp_path / "empty.duckdb")
    with empty.connect() as con:
        con.execute("CREATE TABLE main.customers(id VARCHAR)")
    metadata = run_job(empty.path, instance)
    assert (metadata["resolved_sent"], metadata["released_unsent"]) == (0, 0)
    assert metadata["still_ambiguous"] == 0


def test_the_job_settles_dead_send_runs_and_names_them(
    warehouse: Warehouse, instance: dg.DagsterInstance
) -> None:
    """A run the instance does not know (a lost instance, a deleted run) died with two rows
    pending: the one it recorded as requested may have left, the other did not."""
    outbox = Outbox(warehouse)
    rows = [message("reminder", key, f"+22507080800{i:02d}") for i, key in enumerate("ab")]
    outbox.claim(rows, run_id="ghost-run")
    with outbox.transaction() as session:
        session.take("reminder", ["a"], run_id="ghost-run")

    metadata = run_job(warehouse.path, instance)

    assert states(outbox) == {("reminder", "a"): "ambiguous", ("reminder", "b"): "pending"}
    assert [r.dedup_key for r in outbox.released("reminder")] == ["b"]
    assert metadata["dead_runs"] == 1
    assert (metadata["released_from_dead_runs"], metadata["quarantined_from_dead_runs"]) == (1, 1)
    [detail] = metadata["dead_run_details"]
    assert "ghost-run" in detail
    assert "unknown to the orchestrator" in detail
    # Settled once: the next run finds nothing more to settle.
    assert run_job(warehouse.path, instance)["dead_runs"] == 0


def test_the_schedule_is_hourly_and_stopped_unless_asked(tmp_path: Path) -> None:
    defs = bound(build_reconcile_defs(), tmp_path / "warehouse.duckdb")
    schedule = defs.resolve_schedule_def(f"{RECONCILE_JOB_NAME}_hourly")
    assert schedule.cron_schedule == "30 * * * *"
    assert schedule.job_name == RECONCILE_JOB_NAME
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED

    running = bound(
        build_reconcile_defs(minute=5, default_status=dg.DefaultScheduleStatus.RUNNING),
        tmp_path / "warehouse.duckdb",
    )
    schedule = running.resolve_schedule_def(f"{RECONCILE_JOB_NAME}_hourly")
    assert schedule.cron_schedule == "5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"minute": 60}, "minute must be between 0 and 59, got 60"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone name, got 'Mars/Olympus'"),
        ({"after": timedelta(days=1)}, "under a day"),
        ({"before": timedelta(minutes=-1)}, "must not be negative"),
    ],
)
def test_the_factory_refuses_bad_arguments(arguments: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        build_reconcile_defs(**arguments)


def test_the_password_appears_in_no_event(
    warehouse: Warehouse, instance: dg.DagsterInstance
) -> None:
    outbox = Outbox(warehouse)
    ambiguous(outbox, message("reminder", "found", "+2250708080001"), at=MARKED)
    run_job(warehouse.path, instance)
    [run] = instance.get_runs()
    assert all("secret" not in str(entry) for entry in instance.all_logs(run.run_id))
