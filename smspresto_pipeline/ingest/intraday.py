"""Today, intraday: the asset ``archive_messages_today`` and its schedule every N minutes.

The daily partitions of ``archive_messages`` end yesterday (the nightly run reads them, with its
lookback); today is read while it goes. Each run reads ``list-archive`` for today (the account's
local day) from where the last read left off to the end, and upserts what it read into today's
rows of ``smspresto.messages`` and ``smspresto.archive_raw`` (typed as a daily write types them),
with the day's cursor in the same transaction (:mod:`smspresto_pipeline.warehouse.intraday`):
the next run starts at the first row that was still pending (statuses move minutes after
sending), so a run costs about (new rows + pending rows) / page size requests, not the whole day.

The nightly run still replaces the whole day idempotently; the two take turns on the day's lock
and never leave two copies of a row. After midnight the new day starts from offset 0, and
yesterday's rows read intraday stay until the nightly run replaces that day.

Each materialization says: ``day``, ``rows_read`` (rows this run read), ``new_rows``,
``rows_updated``, ``requests``, ``still_pending`` (today's rows pending now), ``resumed_at``
(the offset it started from), ``complete_until`` (when its read started: every message created
before it is stored, the coverage reconciliation reads) and today's ``dagster/row_count``.

Run config ``as_of`` (the account's local time, ISO; default now) reads the day of that time
and takes it as the read's start: a read must never claim to start later than it did, so a
time in the future is refused. It exists for replays and for a simulator on its own clock.
"""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from smspresto_pipeline.accounts import account_of, is_default
from smspresto_pipeline.conventions import GROUP_NAME, asset_kinds, table_metadata, table_tags
from smspresto_pipeline.ingest.assets import (
    ARCHIVE_MESSAGES_TODAY,
    _api_resource,
    _check_int,
    _check_resource_timezone,
    _check_warehouse_path,
    _key_prefix,
    _warehouse_resource,
    api_resource_key,
)
from smspresto_pipeline.resources import SMSPrestoResource
from smspresto_pipeline.storage.urls import Engine
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone
from smspresto_pipeline.warehouse.intraday import IntradayRead, read_intraday
from smspresto_pipeline.wording import plural

__all__ = [
    "DEFAULT_INTRADAY_MINUTES",
    "DEFAULT_INTRADAY_TAIL",
    "IntradayConfig",
    "build_archive_today_asset",
    "build_intraday_schedule",
    "check_intraday_minutes",
]

#: Minutes between two intraday reads, unless told otherwise.
DEFAULT_INTRADAY_MINUTES = 15
#: How far back (in rows before the end of the last read) a read goes for rows still pending.
DEFAULT_INTRADAY_TAIL = 20_000


def check_intraday_minutes(minutes: int) -> int:
    """Refuse an interval that does not divide the hour (a cron ``*/N`` restarts each hour).

    Raises:
        ValueError: naming the value.
    """
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 1 <= minutes <= 60
        or 60 % minutes
    ):
        raise ValueError(
            "intraday_minutes must divide the hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60) "
            f"or be None to read today only at night, got {minutes!r}"
        )
    return minutes


class IntradayConfig(dg.Config):
    """Run config of ``archive_messages_today``."""

    as_of: str | None = Field(
        default=None,
        description="The account's local time the read is of (ISO, e.g. 2026-03-10T10:15:00): "
        "it reads that time's day and counts as the read's start. Default: now. Never later "
        "than now.",
    )


def _read_start(as_of: str | None, zone: ZoneInfo) -> datetime:
    """When the read starts (aware): now, or ``as_of`` (local) when it is not later."""
    now = datetime.now(UTC)
    if as_of is None:
        return now
    try:
        local = datetime.fromisoformat(as_of)
    except ValueError:
        raise dg.Failure(
            description=f"as_of must be the account's local time as ISO text, got {as_of!r}"
        ) from None
    start = local.replace(tzinfo=zone) if local.tzinfo is None else local
    if start > now:
        # A read stamped later than it started would claim messages created meanwhile.
        local_now = now.astimezone(zone).replace(tzinfo=None, microsecond=0)
        raise dg.Failure(
            description=f"as_of must not be later than now ({local_now.isoformat()} in "
            f"{zone.key}), got {as_of!r}"
        )
    return start


def _metadata(done: IntradayRead) -> dict[str, Any]:
    write = done.write
    complete = write.cursor.complete_until
    return {
        "day": dg.MetadataValue.text(write.stats.partition_date.isoformat()),
        "rows_read": dg.MetadataValue.int(done.rows_read),
        "new_rows": dg.MetadataValue.int(write.new_rows),
        "rows_updated": dg.MetadataValue.int(write.updated_rows),
        "rows_kept_newer": dg.MetadataValue.int(write.kept_rows),
        "requests": dg.MetadataValue.int(done.requests),
        "still_pending": dg.MetadataValue.int(write.stats.pending),
        "resumed_at": dg.MetadataValue.int(done.resumed_at),
        "next_offset": dg.MetadataValue.int(write.cursor.first_pending),
        "complete_until": (
            dg.MetadataValue.null()
            if complete is None
            else dg.MetadataValue.timestamp(complete.replace(tzinfo=UTC))
        ),
        "delivered": dg.MetadataValue.int(write.stats.delivered),
        "failed": dg.MetadataValue.int(write.stats.failed),
        "dagster/row_count": dg.MetadataValue.int(write.stats.rows),
    }


def build_archive_today_asset(
    *,
    timezone: str = DEFAULT_TIMEZONE,
    page_size: int | None = None,
    tail: int = DEFAULT_INTRADAY_TAIL,
    pool: str | None = None,
    account: str | None = None,
    engine: Engine = "duckdb",
) -> dg.AssetsDefinition:
    """The asset ``archive_messages_today``: today's messages, read while the day goes.

    Not partitioned: a run reads today (in ``timezone``) from the day's cursor to the end of the
    listing and upserts it (see the module docstring). Resources: ``smspresto``
    (``<account>__smspresto`` for a named account), ``warehouse``.

    Args:
        timezone: the account's time zone: today is a day of it.
        page_size: rows per ``list-archive`` request (the resource's ``page_size`` if None).
        tail: rows before the end of the last read that a read goes back at most for rows
            still pending (older ones wait for the daily partition).
        pool: a Dagster concurrency pool for the asset.
        account: the account; a named one's asset is keyed ``<account>/archive_messages_today``.
        engine: the warehouse's engine (the asset's kind beside ``smspresto``).

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline.ingest.intraday import build_archive_today_asset

            dg.materialize(
                [build_archive_today_asset()],
                resources={"smspresto": ..., "warehouse": ...},
            )
    """
    check_timezone(timezone)
    if page_size is not None:
        _check_int("page_size", page_size, 1)
    _check_int("tail", tail, 0)
    name = account_of(account)
    api_key = api_resource_key(name)
    zone = ZoneInfo(timezone)

    def archive_messages_today(
        context: dg.AssetExecutionContext, config: IntradayConfig
    ) -> dg.MaterializeResult[None]:
        smspresto: SMSPrestoResource = _api_resource(context, api_key)
        warehouse = _warehouse_resource(context)
        _check_resource_timezone(
            smspresto, api_key, timezone, f"{ARCHIVE_MESSAGES_TODAY} reads days"
        )
        _check_warehouse_path(warehouse)
        started = _read_start(config.as_of, zone)
        today = started.astimezone(zone).date()
        store = warehouse.get_warehouse(
            status_map=smspresto.status_map, default_region=smspresto.default_region
        )
        with smspresto.get_client() as client:
            done = read_intraday(
                client,
                store,
                today,
                started=started,
                page_size=page_size or smspresto.page_size,
                tail=tail,
                account=name,
            )
        write = done.write
        context.log.info(
            f"{today}: {plural(done.rows_read, 'row')} read from offset {done.resumed_at} in "
            f"{plural(done.requests, 'request')}: {write.new_rows} new, "
            f"{write.updated_rows} read again; {write.stats.pending} still pending of "
            f"{plural(write.stats.rows, 'message')} today"
        )
        return dg.MaterializeResult(metadata=_metadata(done))

    return dg.asset(
        name=ARCHIVE_MESSAGES_TODAY,
        key_prefix=_key_prefix(name),
        required_resource_keys={api_key, "warehouse"},
        group_name=GROUP_NAME,
        kinds=asset_kinds(engine),
        metadata=table_metadata("messages"),
        tags=table_tags("messages"),
        pool=pool,
        description=(
            "Today's messages (the account's local day), read from `list-archive` while the "
            "day goes: each run reads the rows created since the last one and those still "
            "pending then, and upserts them into today's rows of `smspresto.messages` and "
            "`smspresto.archive_raw`; the nightly `archive_messages` run replaces the day "
            "whole. Metadata: rows read, new, updated, requests, still pending, the day."
            + ("" if is_default(name) else f" Account `{name}`: its rows only.")
        ),
    )(archive_messages_today)


def build_intraday_schedule(
    *,
    asset: dg.AssetsDefinition,
    minutes: int = DEFAULT_INTRADAY_MINUTES,
    timezone: str = DEFAULT_TIMEZONE,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A schedule materialising ``asset`` (``archive_messages_today``) every ``minutes``
    minutes of the account's time zone, named ``<asset>_intraday``, its job ``<asset>_job``.

    Raises:
        ValueError: ``minutes`` does not divide the hour; an unknown time zone.

    Example:
        .. code-block:: python

            schedule = build_intraday_schedule(asset=build_archive_today_asset(), minutes=10)
    """
    check_intraday_minutes(minutes)
    check_timezone(timezone)
    identifier = asset.key.to_python_identifier()
    cron = "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"
    job = dg.define_asset_job(
        f"{identifier}_job",
        selection=dg.AssetSelection.assets(asset),
        description=f"Read today's messages: `{asset.key.to_user_string()}`.",
    )
    return dg.ScheduleDefinition(
        name=f"{identifier}_intraday",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=job,
        default_status=default_status,
        description=f"Every {plural(minutes, 'minute')} ({timezone}): read today's new messages "
        "and the statuses of those still pending.",
    )
