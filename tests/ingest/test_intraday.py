"""Today, intraday: ``archive_messages_today`` in real Dagster runs against the simulator on its
own clock over HTTP, on a real DuckDB file and a real PostgreSQL database (``@on_both_engines``):
each run's rows exact against the simulator's listing, only new and pending rows read again,
statuses updated, then the nightly partition replaces the day as a fresh ingest writes it."""

import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from campaign_fixtures import plain_connection, warehouse_resource
from conftest import MakeSimulator, on_both_engines

from smspresto_pipeline.checks.freshness import newest_day
from smspresto_pipeline.ingest import SMSPrestoIngestComponent, build_ingest_defs
from smspresto_pipeline.ingest.assets import archive_today_key, build_archive_messages_asset
from smspresto_pipeline.ingest.intraday import build_archive_today_asset
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import IntradayCursor, Warehouse

DAY = date(2026, 3, 10)
PAGE = 20
# Seeded rows and live sends stay pending ten minutes after their creation.
PENDING_FOR = 600
TICKS = [
    datetime(2026, 3, 10, 7, 0),
    datetime(2026, 3, 10, 7, 15),
    datetime(2026, 3, 10, 7, 30),
    datetime(2026, 3, 10, 9, 0),
    datetime(2026, 3, 10, 9, 5),
    datetime(2026, 3, 10, 12, 0),
    datetime(2026, 3, 10, 12, 15),
    datetime(2026, 3, 10, 23, 55),
]
MESSAGE_COLUMNS = (
    "history_id, recipient, sender, recipient_valid, message, status_code, status, segments, "
    "created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier, "
    "account, partition_date"
)
RAW_COLUMNS = (
    "IDHISTORIQUE, HIS_DESTINATAIRE, HIS_MESSAGE, HIS_STATUT, HIS_NOMBRESMS, HIS_DATEHEURECREA, "
    "HIS_DATEHEUREENVOI, IDDATEHEURE, CPT_REF, IDSMSFILATTENTE, HIS_EXPEDITEUR, NOMCONTACT, "
    "account, partition_date"
)
HTTP = httpx.Client(timeout=10)


@pytest.fixture(params=["limit", "range"])
def sim(
    request: pytest.FixtureRequest, make_simulator: MakeSimulator
) -> Iterator[RunningSimulator]:
    with make_simulator(
        clock=TICKS[0] - timedelta(hours=1),
        history_start=DAY - timedelta(days=1),
        history_end=DAY,
        messages_per_day=300,
        delivery_delay=PENDING_FOR,
        paging=request.param,
    ) as running:
        yield running


def resources(sim: RunningSimulator, target: str) -> dict[str, Any]:
    return {
        "smspresto": SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url, page_size=PAGE
        ),
        "warehouse": warehouse_resource(target),
    }


def listing(sim: RunningSimulator, day: date = DAY) -> list[dict[str, str]]:
    """The simulator's whole listing of ``day``, in one request (not counted below)."""
    fields = {"user": sim.api_key, "pass": sim.api_pass, "action": "list-archive"}
    fields |= {"dateFrom": day.isoformat(), "dateTo": day.isoformat(), "from": "0"}
    return HTTP.post(sim.base_url, data=fields | {"to": "1000000"}).json() or []


def archive_requests(sim: RunningSimulator) -> int:
    return sum(1 for r in sim.requests if r.action == "list-archive")


def read_today(sim: RunningSimulator, target: str, at: datetime) -> dict[str, Any]:
    """One run of archive_messages_today at ``at``; its materialization's metadata."""
    result = dg.materialize(
        [build_archive_today_asset()],
        resources=resources(sim, target),
        run_config={"ops": {"archive_messages_today": {"config": {"as_of": at.isoformat()}}}},
    )
    (materialization,) = result.asset_materializations_for_node("archive_messages_today")
    return {k: v.value for k, v in materialization.metadata.items()}


def stored(target: str, day: date = DAY) -> dict[int, str]:
    """The day's stored messages: history_id -> status code."""
    with plain_connection(target, read_only=True) as con:
        rows = con.execute(
            "SELECT history_id, status_code FROM smspresto.messages WHERE partition_date = "
            f"DATE '{day}'"
        ).fetchall()
    return dict(rows)


def table(target: str, columns: str, name: str, day: date = DAY) -> list[tuple[Any, ...]]:
    with plain_connection(target, read_only=True) as con:
        return sorted(
            con.execute(
                f"SELECT {columns} FROM smspresto.{name} WHERE partition_date = DATE '{day}'"
            ).fetchall(),
            key=repr,
        )


def first_pending(rows: list[dict[str, str]]) -> int:
    return next((i for i, r in enumerate(rows) if r["HIS_STATUT"] == "0"), len(rows))


def send(sim: RunningSimulator, *numbers: str) -> None:
    fields = {"user": sim.api_key, "pass": sim.api_pass, "action": "sendsms", "from": "SHOP"}
    answer = HTTP.post(sim.base_url, data=fields | {"to": ",".join(numbers), "message": "Promo"})
    assert answer.json()["status"] == 0


@on_both_engines
def test_intraday_reads_follow_the_day_and_the_night_replaces_it(
    sim: RunningSimulator, warehouse_target: str, tmp_path: Path
) -> None:
    before: list[dict[str, str]] = []
    pending_read_again = 0
    for tick, at in enumerate(TICKS):
        sim.set_now(at)
        if tick == 3:
            send(sim, *(f"+22507{n:08d}" for n in range(30)))  # pending at this tick
        now = listing(sim)
        asked = archive_requests(sim)
        meta = read_today(sim, warehouse_target, at)
        requests = archive_requests(sim) - asked

        # The day as stored is the listing as it reads now: every row, its status.
        assert stored(warehouse_target) == {int(r["IDHISTORIQUE"]): r["HIS_STATUT"] for r in now}
        # Only the rows from the first one pending at the last read were read again (from the
        # first row within a half page, where a probe would cost more).
        resumed = first_pending(before)
        resumed = 0 if resumed <= PAGE // 2 else resumed
        assert meta["resumed_at"] == resumed, tick
        assert meta["rows_read"] == len(now) - resumed
        assert meta["new_rows"] == len(now) - len(before)
        assert meta["rows_updated"] == len(before) - resumed
        assert meta["still_pending"] == sum(r["HIS_STATUT"] == "0" for r in now)
        assert meta["day"] == DAY.isoformat()
        assert meta["requests"] == requests
        # A page per page_size rows read, plus the empty page that ends the walk and, the
        # first time the paging reading is unknown at an offset, a probe.
        assert requests <= math.ceil(meta["rows_read"] / PAGE) + 3, (tick, requests, meta)
        # A row pending at the last read and final now was read again with its new status.
        earlier = {r["IDHISTORIQUE"]: r["HIS_STATUT"] for r in before}
        pending_read_again += sum(
            earlier.get(r["IDHISTORIQUE"]) == "0" and r["HIS_STATUT"] != "0" for r in now
        )
        before = now
    assert pending_read_again > 30  # the pending path was exercised (the live send's too)

    # After midnight: the new day starts from offset 0; yesterday's rows stay as they were.
    sim.set_now(datetime(2026, 3, 11, 0, 30))
    yesterday = stored(warehouse_target)
    meta = read_today(sim, warehouse_target, datetime(2026, 3, 11, 0, 30))
    assert (meta["day"], meta["resumed_at"]) == ("2026-03-11", 0)
    assert stored(warehouse_target) == yesterday

    # The nightly run replaces the day whole: the same as a fresh ingest of the day.
    sim.set_now(datetime(2026, 3, 11, 6, 0))
    fresh = str(tmp_path / "fresh.duckdb")
    for target in (warehouse_target, fresh):
        dg.materialize(
            [build_archive_messages_asset(start_date="2026-03-01")],
            resources=resources(sim, target),
            partition_key=DAY.isoformat(),
        )
    for columns, name in ((MESSAGE_COLUMNS, "messages"), (RAW_COLUMNS, "archive_raw")):
        assert table(warehouse_target, columns, name) == table(fresh, columns, name), name
    assert len(table(fresh, MESSAGE_COLUMNS, "messages")) == len(listing(sim))
    # The day's intraday cursor went with the replacement; the new day's stays.
    assert Warehouse(warehouse_target).intraday_cursor(DAY).reads == 0
    assert Warehouse(warehouse_target).intraday_cursor(DAY + timedelta(days=1)).reads == 1


def test_the_asset_key_and_a_read_in_the_future(sim: RunningSimulator, tmp_path: Path) -> None:
    assert archive_today_key() == dg.AssetKey("archive_messages_today")
    assert archive_today_key("brand_a") == dg.AssetKey(["brand_a", "archive_messages_today"])
    later = datetime.now() + timedelta(days=2)
    result = dg.materialize(
        [build_archive_today_asset()],
        resources=resources(sim, str(tmp_path / "w.duckdb")),
        run_config={"ops": {"archive_messages_today": {"config": {"as_of": later.isoformat()}}}},
        raise_on_error=False,
    )
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    description = failure.step_failure_data.user_failure_data.description or ""
    assert "as_of must not be later than now" in description
    assert later.isoformat() in description
    assert archive_requests(sim) == 0


@on_both_engines
def test_a_read_stored_after_a_later_daily_write_keeps_the_newer_rows(
    make_simulator: MakeSimulator, warehouse: Warehouse, warehouse_target: str
) -> None:
    """The order the concurrent runs cannot force: a read whose transaction comes after the
    day's replacement by a run that read later. The day keeps one copy of each row, the
    replacement's (newer statuses), and the read's cursor."""
    noon = datetime(2026, 3, 10, 12, 0)
    with make_simulator(
        clock=noon - timedelta(hours=1),
        history_start=DAY,
        history_end=DAY,
        messages_per_day=300,
        delivery_delay=600,
    ) as sim:
        sim.set_now(noon)
        send(sim, *(f"+22505{n:08d}" for n in range(20)))  # pending for ten minutes
        client = resources(sim, warehouse_target)["smspresto"].get_client()
        with client, warehouse.spool(DAY) as spool:
            for page in client.iter_archive_pages(DAY, DAY):
                spool.add(page)
            read = listing(sim)
            sim.set_now(noon + timedelta(minutes=15))  # the pending rows settle
            later = listing(sim)
            assert [r["HIS_STATUT"] for r in read] != [r["HIS_STATUT"] for r in later]
            warehouse.write_partition(DAY, client.iter_archive_pages(DAY, DAY))
            cursor = IntradayCursor(len(read), first_pending(read), "unknown", noon)
            write = warehouse.upsert_intraday(spool, cursor)
    assert (write.new_rows, write.updated_rows, write.kept_rows) == (0, 0, len(read))
    target = warehouse_target
    assert stored(target) == {int(r["IDHISTORIQUE"]): r["HIS_STATUT"] for r in later}
    raw = [row[0] for row in table(target, RAW_COLUMNS, "archive_raw")]
    assert sorted(raw) == sorted(r["IDHISTORIQUE"] for r in later)
    assert warehouse.intraday_cursor(DAY).complete_until == noon


def test_the_schedule_reads_today_every_n_minutes_in_the_accounts_zone() -> None:
    defs = build_ingest_defs(
        start_date="2026-03-01",
        smspresto=SMSPrestoResource(api_key="key", api_pass="pass", timezone="Asia/Tokyo"),
        warehouse=warehouse_resource("/tmp/unused.duckdb"),
        timezone="Asia/Tokyo",
        intraday_minutes=10,
        schedule_status=dg.DefaultScheduleStatus.RUNNING,
    )
    schedule = defs.resolve_schedule_def("archive_messages_today_intraday")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("*/10 * * * *", "Asia/Tokyo")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "archive_messages_today_job"
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 10, 9, 10)
        )
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.run_config == {}  # the run reads "now": today in the account's zone
    job = defs.resolve_job_def("archive_messages_today_job")
    assert job.asset_layer.executable_asset_keys == {archive_today_key()}


@pytest.mark.parametrize("minutes", [0, 7, 45, 61])
def test_an_interval_that_does_not_divide_the_hour_is_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match=f"intraday_minutes must divide the hour.*{minutes!r}"):
        build_ingest_defs(
            start_date="2026-03-01",
            smspresto=SMSPrestoResource(api_key="key", api_pass="pass"),
            warehouse=warehouse_resource("/tmp/unused.duckdb"),
            intraday_minutes=minutes,
        )
    with pytest.raises(ValueError, match="intraday_minutes must divide the hour"):
        SMSPrestoIngestComponent.model_validate(
            {"start_date": "2026-03-01", "intraday_minutes": minutes}
        )


def test_none_reads_today_only_at_night() -> None:
    defs = build_ingest_defs(
        start_date="2026-03-01",
        smspresto=SMSPrestoResource(api_key="key", api_pass="pass"),
        warehouse=warehouse_resource("/tmp/unused.duckdb"),
        intraday_minutes=None,
    )
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert archive_today_key() not in keys
    assert "archive_messages_today_intraday" not in {s.name for s in defs.schedules or []}


@on_both_engines
def test_a_day_read_intraday_is_not_a_day_ingested_whole(
    sim: RunningSimulator, warehouse: Warehouse, warehouse_target: str
) -> None:
    """The freshness check and the breaker's newest day count the days the nightly run wrote:
    today's rows (and yesterday's, while the nightly run has not replaced it) are not."""
    yesterday = DAY - timedelta(days=1)
    dg.materialize(
        [build_archive_messages_asset(start_date="2026-03-01")],
        resources=resources(sim, warehouse_target),
        partition_key=yesterday.isoformat(),
    )
    sim.set_now(TICKS[5])
    read_today(sim, warehouse_target, TICKS[5])
    assert stored(warehouse_target)  # today's rows are there
    assert newest_day(warehouse) == yesterday
    sim.set_now(datetime(2026, 3, 11, 6, 0))
    read_today(sim, warehouse_target, datetime(2026, 3, 11, 0, 15))
    assert newest_day(warehouse) == yesterday  # the 10th, read intraday, waits for the night
    dg.materialize(
        [build_archive_messages_asset(start_date="2026-03-01")],
        resources=resources(sim, warehouse_target),
        partition_key=DAY.isoformat(),
    )
    assert newest_day(warehouse) == DAY


@on_both_engines
def test_a_read_that_started_earlier_and_committed_later_leaves_the_cursor(
    warehouse: Warehouse,
) -> None:
    """Two runs at once commit in either order: the cursor stays the later read's."""
    row = {"IDHISTORIQUE": "1", "HIS_STATUT": "1", "HIS_DATEHEURECREA": f"{DAY} 09:00:00"}
    later = IntradayCursor(1, 1, "count", datetime(2026, 3, 10, 9, 30))
    earlier = IntradayCursor(1, 0, "unknown", datetime(2026, 3, 10, 9, 15))
    for cursor in (later, earlier):
        with warehouse.spool(DAY) as spool:
            spool.add([row])
            warehouse.upsert_intraday(spool, cursor)
    stored_cursor = warehouse.intraday_cursor(DAY)
    assert (stored_cursor.first_pending, stored_cursor.paging) == (1, "count")
    assert stored_cursor.complete_until == later.complete_until
    assert stored_cursor.reads == 1
