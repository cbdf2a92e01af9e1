"""The freshness check of ``archive_messages``: it fails (ERROR) when the history is stale.

Our own ``@asset_check`` on the newest ingested day, not Dagster's
``build_last_update_freshness_checks``: that judges when the asset was last *materialized*,
and the daily ingest re-materializes the lookback's older days every morning, so a run that
wrote the days before yesterday but not yesterday (or a backfill of old days) would look fresh.
What matters is the newest *day* in the warehouse, in the account's time zone
(:mod:`~smspresto_pipeline.checks.freshness`: yesterday once the ingest had time to run, the
daily partitions ending yesterday); and it reads the warehouse, so a history written by another
deployment or by the CLI counts as well.

:func:`build_freshness_check_defs` gives the check, the job ``<asset>_freshness_job`` that
evaluates it and an hourly schedule (stopped unless ``default_status`` says otherwise). The
check uses the ``warehouse`` resource; the asset is the caller's (the ingest's definitions).
"""

# No ``from __future__ import annotations``: Dagster reads the check's annotations.

from datetime import UTC, datetime

import dagster as dg

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.checks.freshness import DEFAULT_READY_HOUR, read_freshness
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone

__all__ = ["ARCHIVE_ASSET", "build_freshness_check_defs"]

#: The asset whose freshness is checked unless told another.
ARCHIVE_ASSET = dg.AssetKey("archive_messages")


def build_freshness_check_defs(
    *,
    asset_key: dg.AssetKey = ARCHIVE_ASSET,
    timezone: str = DEFAULT_TIMEZONE,
    ready_hour: int = DEFAULT_READY_HOUR,
    account: str = DEFAULT_ACCOUNT,
    minute: int = 15,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.Definitions:
    """The check ``<asset>_freshness``, its job and its hourly schedule.

    Raises:
        ValueError: an unknown time zone, a ready hour outside 0-23, a minute outside 0-59.
    """
    check_timezone(timezone)
    if not 0 <= ready_hour <= 23:
        raise ValueError(f"ready_hour must be between 0 and 23, got {ready_hour!r}")
    if not 0 <= minute <= 59:
        raise ValueError(f"minute must be between 0 and 59, got {minute!r}")
    name = f"{asset_key.path[-1]}_freshness"

    @dg.asset_check(
        asset=asset_key,
        name=name,
        description=f"Fails when the newest day ingested is older than yesterday ({timezone}) "
        f"after {ready_hour}:00 there: a stale history hides an outage from the spike checks.",
    )
    def freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        verdict = read_freshness(
            warehouse.get_warehouse(),
            datetime.now(UTC),
            timezone=timezone,
            ready_hour=ready_hour,
            account=account,
        )
        return dg.AssetCheckResult(
            passed=not verdict.stale,
            severity=dg.AssetCheckSeverity.ERROR,
            description=verdict.describe(),
            metadata={
                "newest_day": dg.MetadataValue.text(str(verdict.newest or "")),
                "expected_day": dg.MetadataValue.text(verdict.expected.isoformat()),
                "days_behind": dg.MetadataValue.int(verdict.days_behind or 0),
            },
        )

    job = dg.define_asset_job(
        f"{asset_key.path[-1]}_freshness_job",
        selection=dg.AssetSelection.checks(freshness),
        description=f"Evaluates the check {name}.",
    )
    schedule = dg.ScheduleDefinition(
        name=f"{asset_key.path[-1]}_freshness_hourly",
        cron_schedule=f"{minute} * * * *",
        execution_timezone=timezone,
        job=job,
        default_status=default_status,
    )
    return dg.Definitions(asset_checks=[freshness], jobs=[job], schedules=[schedule])
