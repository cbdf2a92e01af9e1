"""Reconciliation within the hour: ambiguous sends resolved against today's rows read intraday,
in real Dagster runs (the read, the sensor's tick, the reconcile job) against the simulator on
its own clock over HTTP, on a real DuckDB file and a real PostgreSQL database. A row absent from
today's rows is released only once a read that STARTED after its window closed found nothing:
a message created after the last read began is never taken for a send that never happened."""

import collections
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest
from campaign_fixtures import ambiguous, warehouse_resource
from conftest import MakeSimulator, on_both_engines

from smspresto_pipeline.campaigns.reconcile_defs import (
    RECONCILE_AFTER_INTRADAY,
    RECONCILE_JOB_NAME,
    build_reconcile_defs,
)
from smspresto_pipeline.ingest.assets import archive_today_key
from smspresto_pipeline.ingest.intraday import build_archive_today_asset
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.sending import OUTBOX_STATES, Outbox, OutboxMessage
from smspresto_pipeline.simulator import RunningSimulator

CAMPAIGN = "promo"
TEXT = "Promo du jour : -20 % sur tout."
NINE = datetime(2026, 3, 10, 9, 0)  # the account is on UTC (Africa/Abidjan): local = UTC
AFTER = timedelta(minutes=15)
HTTP = httpx.Client(timeout=10)
FOUND, NEVER, LATE, LATE_ABSENT = (f"+22507000000{n}" for n in range(1, 5))


@pytest.fixture
def sim(make_simulator: MakeSimulator) -> Iterator[RunningSimulator]:
    with make_simulator(clock=NINE, messages_per_day=0, delivery_delay=60) as running:
        yield running


def send(sim: RunningSimulator, number: str) -> None:
    """The API accepts the message (the answer the outbox lost)."""
    fields = {"user": sim.api_key, "pass": sim.api_pass, "action": "sendsms", "from": "SHOP"}
    assert (
        HTTP.post(sim.base_url, data=fields | {"to": number, "message": TEXT}).json()["status"] == 0
    )


def resources(sim: RunningSimulator, target: str) -> dict[str, Any]:
    return {
        "smspresto": SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url, page_size=10
        ),
        "warehouse": warehouse_resource(target),
    }


def read_and_reconcile(
    sim: RunningSimulator, target: str, instance: dg.DagsterInstance, cursor: str | None
) -> str | None:
    """A read of today at the simulator's now, the sensor's tick after it, and the run it asks
    for; the sensor's cursor."""
    read = dg.materialize(
        [build_archive_today_asset()],
        resources=resources(sim, target),
        instance=instance,
        run_config={"ops": {"archive_messages_today": {"config": {"as_of": sim.now.isoformat()}}}},
    )
    sensor = reconcile_defs(sim, target).resolve_sensor_def(RECONCILE_AFTER_INTRADAY)
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor.evaluate_tick(context)
    assert result.run_requests is not None
    (request,) = result.run_requests
    assert request.run_key == f"after-read:{read.run_id}"
    reconcile_job(sim, target, instance)
    return result.cursor


def reconcile_defs(sim: RunningSimulator, target: str) -> dg.Definitions:
    return dg.Definitions.merge(
        build_reconcile_defs(after=AFTER), dg.Definitions(resources=resources(sim, target))
    )


def reconcile_job(sim: RunningSimulator, target: str, instance: dg.DagsterInstance) -> None:
    job = reconcile_defs(sim, target).resolve_job_def(RECONCILE_JOB_NAME)
    assert job.execute_in_process(instance=instance).success


def states(outbox: Outbox) -> dict[str, str]:
    return {row.recipient: row.state for row in outbox.rows(OUTBOX_STATES, campaign=CAMPAIGN)}


def message(number: str) -> OutboxMessage:
    return OutboxMessage(CAMPAIGN, number, number, "SHOP", TEXT, 1, "GSM-7")


@on_both_engines
def test_sends_are_resolved_within_the_hour_never_before_a_read_covers_them(
    sim: RunningSimulator, outbox: Outbox, warehouse_target: str
) -> None:
    ambiguous(outbox, message(FOUND), message(NEVER), at=NINE)
    ambiguous(outbox, message(LATE), message(LATE_ABSENT), at=NINE + timedelta(minutes=5))
    send(sim, FOUND)
    with dg.DagsterInstance.ephemeral() as instance:
        sim.set_now(NINE + timedelta(minutes=16))
        cursor = read_and_reconcile(sim, warehouse_target, instance, None)
        # Sixteen minutes after the send: found in today's rows; the one never accepted is
        # released (its window closed at 09:15, before the read started at 09:16); the late
        # ones' windows (to 09:20) are not covered yet.
        assert states(outbox) == {
            FOUND: "sent",
            NEVER: "pending",
            LATE: "ambiguous",
            LATE_ABSENT: "ambiguous",
        }

        # LATE's message is accepted at 09:18, after the read began: absent from today's rows,
        # inside its window. Reconciling again (the hourly schedule) must not release it: a
        # release would send it twice.
        sim.set_now(NINE + timedelta(minutes=18))
        send(sim, LATE)
        reconcile_job(sim, warehouse_target, instance)
        assert states(outbox)[LATE] == "ambiguous"

        # A read at 09:19 finds it; LATE_ABSENT's window (to 09:20) is still not covered.
        sim.set_now(NINE + timedelta(minutes=19))
        cursor = read_and_reconcile(sim, warehouse_target, instance, cursor)
        assert states(outbox)[LATE] == "sent"
        assert states(outbox)[LATE_ABSENT] == "ambiguous"

        # The first read to start past 09:20 proves it was never accepted.
        sim.set_now(NINE + timedelta(minutes=21))
        read_and_reconcile(sim, warehouse_target, instance, cursor)
        assert states(outbox)[LATE_ABSENT] == "pending"
    witness = collections.Counter(r for s in sim.sends for r, _ in s.messages)
    assert witness == {FOUND: 1, LATE: 1}


def test_the_sensor_follows_the_ingestions_asset() -> None:
    def sensor(**options: Any) -> dg.SensorDefinition:
        (found,) = build_reconcile_defs(**options).sensors or []
        assert isinstance(found, dg.SensorDefinition)
        return found

    watching = sensor()
    assert isinstance(watching, dg.AssetSensorDefinition)
    assert watching.name == RECONCILE_AFTER_INTRADAY
    assert watching.asset_key == archive_today_key()
    assert watching.default_status == dg.DefaultSensorStatus.STOPPED
    running = sensor(default_status=dg.DefaultScheduleStatus.RUNNING)
    assert running.default_status == dg.DefaultSensorStatus.RUNNING
    assert not build_reconcile_defs(after_reads_of=None).sensors


@on_both_engines
def test_a_read_that_finds_nothing_still_covers_the_day(
    sim: RunningSimulator, outbox: Outbox, warehouse_target: str
) -> None:
    # Today holds no message at all: the read writes no row, and its start alone says how far
    # the day is complete.
    ambiguous(outbox, message(NEVER), at=NINE - timedelta(minutes=20))
    with dg.DagsterInstance.ephemeral() as instance:
        read_and_reconcile(sim, warehouse_target, instance, None)
    assert states(outbox) == {NEVER: "pending"}
    assert sim.sends == []
