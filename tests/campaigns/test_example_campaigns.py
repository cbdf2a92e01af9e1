"""The project's example campaigns (``dagster_project/defs/campaigns/``) and the scaffold's
query run alike on DuckDB and PostgreSQL: on the same history (the simulator's last days, up to
yesterday, ingested by the ingestion's own job into a DuckDB file and a fresh PostgreSQL
database) each query returns the same rows, and a dry run of each campaign reports the same
texts."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from campaign_fixtures import (
    Harness,
    example_campaign,
    example_query,
    insert_rows,
    output_metadata,
    warehouse_resource,
)
from conftest import MakeSimulator

from smspresto_pipeline.campaigns.component import _SCAFFOLD_SQL
from smspresto_pipeline.ingest import build_ingest_defs
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse, run_read_only_query

# The history ends yesterday (the account's zone, Africa/Abidjan, is UTC): the daily summary
# and the scaffold's query read yesterday.
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
FIRST = YESTERDAY - timedelta(days=4)
#: A campaign's clock outside the reminder's quiet hours (20:00 to 08:00).
NOON = datetime.combine(YESTERDAY + timedelta(days=1), datetime.min.time(), UTC).replace(hour=12)


@dataclass(frozen=True)
class Engines:
    """The simulator, and the warehouses (a DuckDB file, a PostgreSQL URL) it was ingested into."""

    sim: RunningSimulator
    targets: tuple[str, str]


def ingest(sim: RunningSimulator, target: str) -> None:
    """The simulator's days into ``target``, by the ingestion's job in one run."""
    defs = build_ingest_defs(
        start_date=FIRST.isoformat(),
        smspresto=SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
        ),
        warehouse=warehouse_resource(target),
    )
    tags = {
        PARTITION_RANGE_START_TAG: FIRST.isoformat(),
        PARTITION_RANGE_END_TAG: YESTERDAY.isoformat(),
    }
    job = defs.resolve_job_def("archive_messages_ingest_job")
    with dg.DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance, tags=tags).success


def reminded_recently(target: str, recipient: str) -> None:
    """``recipient`` texted by the reminder six days ago (its query leaves such a number alone),
    and a baseline row of another number (which does not count)."""
    insert_rows(
        target,
        "INSERT INTO smspresto.outbox (campaign, dedup_key, recipient, sender, message, "
        "segments, encoding, state, created_at, updated_at) VALUES ('failed_reminder', ?, ?, "
        "'MaBoutique', 'x', 1, 'GSM-7', ?, now() AT TIME ZONE 'UTC' - INTERVAL '6 days', "
        "now() AT TIME ZONE 'UTC')",
        [["earlier", recipient, "sent"]],
    )


@pytest.fixture
def engines(make_simulator: MakeSimulator, postgres_url: str, tmp_path: Path) -> Iterator[Engines]:
    # Few numbers, so that many have several messages (their latest one decides), and a few
    # first seen yesterday (the scaffold greets them).
    with make_simulator(
        history_start=FIRST, history_end=YESTERDAY, messages_per_day=60, recipient_pool=200
    ) as sim:
        targets = (str(tmp_path / "warehouse.duckdb"), postgres_url)
        for target in targets:
            ingest(sim, target)
        yield Engines(sim, targets)


def rows(target: str, sql: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The query's columns and rows, as a campaign reads them (read-only, through Arrow)."""
    table = run_read_only_query(Warehouse(target), sql)
    return table.column_names, table.to_pylist()


def test_each_example_query_returns_the_same_rows_on_both_engines(engines: Engines) -> None:
    duck, postgres = engines.targets
    reminder = example_query("failed_reminder")
    _, failing = rows(duck, reminder)
    assert len(failing) > 1, "the history has numbers whose last message failed"
    for target in engines.targets:
        reminded_recently(target, failing[0]["recipient"])
    for name, sql in [
        ("failed_reminder", reminder),
        ("daily_summary", example_query("daily_summary")),
        ("the scaffold's", _SCAFFOLD_SQL),
    ]:
        found = rows(duck, sql)
        assert found[1], f"{name}: no row, the comparison would prove nothing"
        assert rows(postgres, sql) == found, name
    # What the rows say, so that "the same" is not "the same mistake": the reminded number is
    # left alone on both, and the summary counts yesterday's messages.
    assert [row["recipient"] for row in rows(postgres, reminder)[1]] == [
        row["recipient"] for row in failing[1:]
    ]
    [summary] = rows(postgres, example_query("daily_summary"))[1]
    assert summary["dedup_key"] == summary["day"] == YESTERDAY
    assert summary["messages"] == engines.sim.message_count(YESTERDAY, YESTERDAY) > 0


@pytest.mark.parametrize("name", ["failed_reminder", "daily_summary"])
def test_a_dry_run_of_each_example_reports_the_same_texts_on_both_engines(
    engines: Engines, instance: dg.DagsterInstance, name: str
) -> None:
    # send_on_first_activation: a dry run then previews what it would send, not a baseline.
    campaign = example_campaign(name, dry_run=True, send_on_first_activation=True)
    reports = []
    for target in engines.targets:
        harness = Harness(campaign, engines.sim, target, instance, clock=lambda: NOON)
        reports.append(output_metadata(harness.run()))
    assert reports[0]["would_send"] > 0
    # The template formats what the query returns as it is: the day, the rate.
    formatted = f"du {YESTERDAY:%d/%m/%Y} : " if name == "daily_summary" else " du "
    assert all(formatted in row["message"] for row in reports[0]["preview"])
    assert reports[1] == reports[0]
    assert not engines.sim.sends
