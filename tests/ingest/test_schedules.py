"""The ingest and snapshot schedules: which partitions a tick asks for, as one run."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from smspresto_pipeline.ingest.schedules import (
    build_ingest_schedule,
    build_snapshot_schedule,
    ingest_partition_keys,
)

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="Africa/Abidjan")


@dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
def archive_messages(context: dg.AssetExecutionContext) -> None:
    context.log.info(f"days {context.partition_keys}")


@dg.asset
def account_snapshot() -> None:
    pass


def tick(
    schedule: dg.ScheduleDefinition, when: datetime
) -> list[dg.RunRequest] | list[dg.SkipReason]:
    context = dg.build_schedule_context(scheduled_execution_time=when)
    data = schedule.evaluate_tick(context)
    if data.skip_message:
        return [dg.SkipReason(data.skip_message)]
    return list(data.run_requests or [])


def partition_range(request: dg.RunRequest) -> tuple[str, str]:
    key_range = request.partition_key_range
    assert key_range is not None, request.tags
    return key_range.start, key_range.end


def test_daily_tick_asks_yesterday_and_three_days_before_as_one_run() -> None:
    schedule = build_ingest_schedule(asset=archive_messages)
    (request,) = tick(schedule, datetime(2025, 3, 10, 6, 0, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    assert partition_range(request) == ("2025-03-06", "2025-03-09")
    assert request.partition_key is None
    assert request.run_key == "2025-03-06...2025-03-09"
    assert DAILY.get_partition_keys_in_range(dg.PartitionKeyRange(*partition_range(request))) == [
        "2025-03-06",
        "2025-03-07",
        "2025-03-08",
        "2025-03-09",
    ]


def test_schedule_defaults() -> None:
    schedule = build_ingest_schedule(asset=archive_messages)
    assert schedule.name == "archive_messages_daily_ingest"
    assert schedule.job_name == "archive_messages_ingest_job"
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "Africa/Abidjan"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_lookback_and_hour_are_configurable() -> None:
    schedule = build_ingest_schedule(
        asset=archive_messages,
        hour=4,
        minute=30,
        lookback_days=0,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    assert schedule.cron_schedule == "30 4 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    (request,) = tick(schedule, datetime(2025, 3, 1, 4, 30, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    assert partition_range(request) == ("2025-02-28", "2025-02-28")


def test_yesterday_is_read_in_the_partitions_time_zone() -> None:
    paris = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="Europe/Paris")
    schedule = build_ingest_schedule(asset="archive_messages", partitions_def=paris)
    assert schedule.execution_timezone == "Europe/Paris"
    # 23:30 UTC on 9 March is already 10 March in Paris: yesterday there is 9 March.
    (request,) = tick(schedule, datetime(2025, 3, 9, 23, 30, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    assert partition_range(request) == ("2025-03-06", "2025-03-09")


def test_window_is_clipped_to_the_first_partition() -> None:
    schedule = build_ingest_schedule(asset=archive_messages, lookback_days=5)
    (request,) = tick(schedule, datetime(2025, 1, 3, 6, 0, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    assert partition_range(request) == ("2025-01-01", "2025-01-02")


def test_tick_before_any_partition_skips_with_a_reason() -> None:
    schedule = build_ingest_schedule(asset=archive_messages)
    (skip,) = tick(schedule, datetime(2025, 1, 1, 6, 0, tzinfo=UTC))
    assert isinstance(skip, dg.SkipReason)
    assert "2025-01-01" in (skip.skip_message or "")


def test_window_is_clipped_to_a_fixed_end() -> None:
    bounded = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-20")
    keys = ingest_partition_keys(bounded, datetime(2025, 2, 1, tzinfo=UTC), 3)
    assert keys == []
    keys = ingest_partition_keys(bounded, datetime(2025, 1, 20, 6, tzinfo=UTC), 3)
    assert keys == ["2025-01-16", "2025-01-17", "2025-01-18", "2025-01-19"]


def test_run_request_executes_exactly_the_range() -> None:
    seen: list[list[str]] = []

    @dg.asset(
        name="archive_messages",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def recording(context: dg.AssetExecutionContext) -> None:
        seen.append(list(context.partition_keys))

    schedule = build_ingest_schedule(asset=recording)
    (request,) = tick(schedule, datetime(2025, 3, 10, 6, 0, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    defs = dg.Definitions(assets=[recording], schedules=[schedule])
    job = defs.resolve_job_def(schedule.job_name)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=request.tags)
    assert result.success
    assert seen == [["2025-03-06", "2025-03-07", "2025-03-08", "2025-03-09"]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hour": 24}, "hour"),
        ({"minute": -1}, "minute"),
        ({"lookback_days": -1}, "lookback_days"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"asset": "archive_messages"}, "partitions"),
        ({"asset": account_snapshot}, "partitions"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"asset": archive_messages, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_ingest_schedule(**arguments)  # type: ignore[arg-type]


def test_snapshot_schedule_runs_every_hour() -> None:
    schedule = build_snapshot_schedule(asset=account_snapshot, minute=5)
    assert schedule.name == "account_snapshot_hourly"
    assert schedule.cron_schedule == "5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    (request,) = tick(schedule, datetime(2025, 3, 10, 7, 5, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    defs = dg.Definitions(assets=[account_snapshot], schedules=[schedule])
    assert defs.resolve_job_def(schedule.job_name).asset_layer.executable_asset_keys == {
        dg.AssetKey("account_snapshot")
    }


def test_snapshot_schedule_rejects_a_bad_minute() -> None:
    with pytest.raises(ValueError, match="minute"):
        build_snapshot_schedule(minute=60)
