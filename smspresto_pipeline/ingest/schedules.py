"""Schedule factories: the daily archive ingest (with a lookback) and the hourly account snapshot.

Statuses of SMS change after they are sent (pending, then delivered or failed), so the daily
ingest re-reads the last few days as well as yesterday. It requests all of those days as one
run over a partition key range, which the archive asset (``BackfillPolicy.single_run()``) fetches
concurrently and writes day by day. That run leaves the asset's checks out: dagster 1.13
evaluates a partitioned check only in a run of one partition, so the checks of each day run
afterwards in their own job (``smspresto_pipeline.checks.definitions.build_checks_sensor``).
"""

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone
from smspresto_pipeline.wording import plural

__all__ = [
    "DEFAULT_INGEST_HOUR",
    "DEFAULT_LOOKBACK_DAYS",
    "build_ingest_schedule",
    "build_snapshot_schedule",
    "ingest_partition_keys",
]

#: Hour of the daily ingest (in the account's time zone), unless told otherwise.
DEFAULT_INGEST_HOUR = 6
#: Days before yesterday that the daily ingest re-reads, unless told otherwise.
DEFAULT_LOOKBACK_DAYS = 3

#: Run tags that make one run cover a partition key range (read by Dagster's executor, the
#: ``dagster asset materialize --partition-range`` command uses the same pair).
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def _check_time(hour: int, minute: int) -> None:
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be between 0 and 23, got {hour!r}")
    if not 0 <= minute <= 59:
        raise ValueError(f"minute must be between 0 and 59, got {minute!r}")


def _asset_schedule(
    selection: dg.AssetSelection,
    *,
    job_name: str,
    job_description: str,
    name: str,
    cron_schedule: str,
    timezone: str,
    default_status: dg.DefaultScheduleStatus,
    description: str,
    execution_fn: Callable[[dg.ScheduleEvaluationContext], dg.RunRequest | dg.SkipReason]
    | None = None,
) -> dg.ScheduleDefinition:
    """A schedule whose job materialises ``selection``; ``execution_fn`` shapes each run."""
    job = dg.define_asset_job(job_name, selection=selection, description=job_description)
    return dg.ScheduleDefinition(
        name=name,
        cron_schedule=cron_schedule,
        execution_timezone=timezone,
        job=job,
        execution_fn=execution_fn,
        default_status=default_status,
        description=description,
    )


def ingest_partition_keys(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    scheduled_time: datetime,
    lookback_days: int,
) -> list[str]:
    """The partition keys one daily ingest tick covers: yesterday and the lookback days before it.

    "Yesterday" is read in the partitions' time zone (the account's), and days before the
    partitions' start or after their end are left out, so the list may be short or empty.

    Args:
        partitions_def: the archive asset's daily partitions.
        scheduled_time: the tick's scheduled time (time-zone aware).
        lookback_days: how many days before yesterday are re-read.

    Returns:
        The keys, oldest first.
    """
    zone = ZoneInfo(partitions_def.timezone)
    today = scheduled_time.astimezone(zone).date()
    window_end = datetime.combine(today, time(), tzinfo=zone)
    window_start = window_end - timedelta(days=lookback_days + 1)
    first = partitions_def.start.astimezone(zone)
    window_start = max(window_start, first)
    if partitions_def.end is not None:
        window_end = min(window_end, partitions_def.end.astimezone(zone))
    if window_start >= window_end:
        return []
    return list(
        partitions_def.get_partition_keys_in_time_window(dg.TimeWindow(window_start, window_end))
    )


def build_ingest_schedule(
    *,
    asset: dg.AssetsDefinition | dg.AssetKey | str = "archive_messages",
    partitions_def: dg.TimeWindowPartitionsDefinition | None = None,
    hour: int = DEFAULT_INGEST_HOUR,
    minute: int = 0,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    timezone: str | None = None,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
    name: str | None = None,
) -> dg.ScheduleDefinition:
    """A daily schedule that ingests yesterday plus ``lookback_days`` earlier days in one run.

    Each tick requests a single run whose partition key range spans the days (run tags
    ``dagster/asset_partition_range_start`` / ``_end``), with ``run_key`` set to the range, so a
    tick retried after a failure never launches a second run for the same day.

    The default status is ``STOPPED``, Dagster's convention for library code: importing the
    factory never starts calling a paid API by surprise. A deployment opts in (the
    ``dagster_project`` code location does so from configuration).

    Args:
        asset: the daily-partitioned archive asset, or its key (then pass ``partitions_def``).
        partitions_def: the asset's partitions; taken from ``asset`` when it is a definition.
        hour: hour of the day the tick fires, in ``timezone``.
        minute: minute of the hour the tick fires.
        lookback_days: days before yesterday that are re-read (statuses change after sending).
        timezone: the schedule's time zone; defaults to the partitions' (the account's).
        default_status: whether the schedule runs as soon as it is deployed.
        name: the schedule's name; defaults to ``<asset>_daily_ingest``.

    Returns:
        The schedule, targeting a job named ``<asset>_ingest_job`` that materializes the asset
        without its checks (a run over a range of days cannot evaluate partitioned checks).

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline.ingest.assets import build_archive_messages_asset
            from smspresto_pipeline.ingest.schedules import build_ingest_schedule

            archive = build_archive_messages_asset(start_date="2025-01-01")
            defs = dg.Definitions(
                assets=[archive],
                schedules=[build_ingest_schedule(asset=archive, hour=5, lookback_days=7)],
            )
    """
    _check_time(hour, minute)
    if lookback_days < 0:
        raise ValueError(f"lookback_days must be 0 or more, got {lookback_days!r}")
    if isinstance(asset, dg.AssetsDefinition):
        asset_key = asset.key
        if partitions_def is None and isinstance(
            asset.partitions_def, dg.TimeWindowPartitionsDefinition
        ):
            partitions_def = asset.partitions_def
    else:
        asset_key = dg.AssetKey.from_coercible(asset)
    if partitions_def is None:
        raise ValueError(
            f"asset {asset_key.to_user_string()!r} needs time-window (daily) partitions: pass an "
            "asset with a DailyPartitionsDefinition, or partitions_def"
        )
    timezone = timezone or partitions_def.timezone
    check_timezone(timezone)
    resolved_partitions = partitions_def
    identifier = asset_key.to_python_identifier()

    def requests(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        keys = ingest_partition_keys(
            resolved_partitions, context.scheduled_execution_time, lookback_days
        )
        if not keys:
            return dg.SkipReason(
                f"no partition of {asset_key.to_user_string()} between yesterday and "
                f"{plural(lookback_days, 'day')} before (the partitions start on "
                f"{resolved_partitions.start.date().isoformat()})"
            )
        return dg.RunRequest(
            run_key=f"{keys[0]}...{keys[-1]}",
            tags={PARTITION_RANGE_START_TAG: keys[0], PARTITION_RANGE_END_TAG: keys[-1]},
        )

    return _asset_schedule(
        # Without the asset's checks: a run over a range of days cannot evaluate a partitioned
        # check (no partition_key); they run per day in a job of their own.
        dg.AssetSelection.assets(asset_key).without_checks(),
        job_name=f"{identifier}_ingest_job",
        job_description=(
            f"Ingest `{asset_key.to_user_string()}` for a range of days in one run (run tags "
            "`dagster/asset_partition_range_start` and `_end`), without its checks (they run "
            "per day afterwards)."
        ),
        name=name or f"{identifier}_daily_ingest",
        cron_schedule=f"{minute} {hour} * * *",
        timezone=timezone,
        default_status=default_status,
        description=(
            f"Every day at {hour:02d}:{minute:02d} ({timezone}): ingest yesterday and the "
            f"{plural(lookback_days, 'day')} before it, in one run."
        ),
        execution_fn=requests,
    )


def build_snapshot_schedule(
    *,
    asset: dg.AssetsDefinition | dg.AssetKey | str = "account_snapshot",
    minute: int = 0,
    timezone: str = DEFAULT_TIMEZONE,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
    name: str | None = None,
) -> dg.ScheduleDefinition:
    """An hourly schedule that materialises the account snapshot asset.

    Args:
        asset: the account snapshot asset, or its key.
        minute: minute of each hour the tick fires.
        timezone: the schedule's time zone (matters only for the UI's display of ticks).
        default_status: whether the schedule runs as soon as it is deployed (see
            :func:`build_ingest_schedule` for why the default is ``STOPPED``).
        name: the schedule's name; defaults to ``<asset>_hourly``.

    Returns:
        The schedule, targeting a job named ``<asset>_job``.

    Example:
        .. code-block:: python

            from smspresto_pipeline.ingest.schedules import build_snapshot_schedule

            snapshot_schedule = build_snapshot_schedule(minute=5)
    """
    _check_time(0, minute)
    check_timezone(timezone)
    asset_key = (
        asset.key if isinstance(asset, dg.AssetsDefinition) else dg.AssetKey.from_coercible(asset)
    )
    identifier = asset_key.to_python_identifier()
    return _asset_schedule(
        dg.AssetSelection.assets(asset_key),
        job_name=f"{identifier}_job",
        job_description=f"Materialise `{asset_key.to_user_string()}`.",
        name=name or f"{identifier}_hourly",
        cron_schedule=f"{minute} * * * *",
        timezone=timezone,
        default_status=default_status,
        description=f"Every hour at minute {minute}: take a snapshot of the account's counters.",
    )
