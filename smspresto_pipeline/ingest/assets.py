"""Factories of the ingestion assets: the archive by day, account snapshots, analytics views.

Every asset is in group ``smspresto`` with kinds ``smspresto`` and the warehouse's engine
(``engine``: ``duckdb``, the default, or ``postgres``), and the archive and the snapshots name
their tables (``dagster/table_name``, ``dagster/column_schema``: :mod:`smspresto_pipeline.
conventions`). They use two resources:

* ``smspresto``: a :class:`~smspresto_pipeline.resources.SMSPrestoResource` (the API),
* ``warehouse``: a :class:`~smspresto_pipeline.resources.WarehouseResource` (the warehouse).

Each factory takes an ``account`` (:mod:`smspresto_pipeline.accounts`): a named account's assets
are keyed ``<account>/<name>`` and read the API through the resource ``<account>__smspresto``
(its own credentials); the warehouse is shared, its rows told apart by ``account``. Without an
account (or with ``default``) the keys and the resource are the plain ones.

Example:
    .. code-block:: python

        import dagster as dg
        from smspresto_pipeline.ingest.assets import build_smspresto_assets
        from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

        defs = dg.Definitions(
            assets=build_smspresto_assets(start_date="2025-01-01"),
            resources={
                "smspresto": SMSPrestoResource(
                    api_key=dg.EnvVar("SMSPRESTO_API_KEY"),
                    api_pass=dg.EnvVar("SMSPRESTO_API_PASS"),
                ),
                "warehouse": WarehouseResource(path="data/smspresto_warehouse.duckdb"),
            },
        )
"""

import concurrent.futures
import contextlib
import gc
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg

from smspresto_pipeline.accounts import account_of, is_default, prefixed
from smspresto_pipeline.conventions import GROUP_NAME, asset_kinds, table_metadata, table_tags
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.storage.urls import Engine
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone
from smspresto_pipeline.warehouse import (
    PartitionStats,
    Warehouse,
    WarehouseOpenError,
    WarehousePathError,
)
from smspresto_pipeline.wording import plural

__all__ = [
    "ARCHIVE_MESSAGES",
    "ARCHIVE_MESSAGES_TODAY",
    "DEFAULT_MAX_CONCURRENT_DAYS",
    "GROUP_NAME",
    "api_resource_key",
    "archive_today_key",
    "asset_key",
    "build_account_snapshot_asset",
    "build_analytics_views_asset",
    "build_archive_messages_asset",
    "build_smspresto_assets",
]

#: The key of the daily archive asset.
ARCHIVE_MESSAGES = "archive_messages"
#: The key of today's archive, read while the day goes (:mod:`smspresto_pipeline.ingest.intraday`).
ARCHIVE_MESSAGES_TODAY = "archive_messages_today"
#: Days one run of the archive fetches at the same time, unless told otherwise.
DEFAULT_MAX_CONCURRENT_DAYS = 4

#: The key of the API's resource (the default account's; a named account's is prefixed).
_API_RESOURCE = "smspresto"
_PREVIEW_COLUMNS = ("history_id", "created_at", "sender", "recipient", "status", "segments")


def api_resource_key(account: str | None = None) -> str:
    """The key of ``account``'s API resource: ``smspresto``, or ``<account>__smspresto``."""
    return prefixed(_API_RESOURCE, account)


def asset_key(name: str, account: str | None = None) -> dg.AssetKey:
    """The key of ``account``'s asset ``name``: ``name``, or ``<account>/<name>``."""
    return dg.AssetKey([name] if is_default(account) else [account_of(account), name])


def archive_today_key(account: str | None = None) -> dg.AssetKey:
    """The key of ``account``'s ``archive_messages_today`` (the intraday read of today): what
    checks of today's rows attach to."""
    return asset_key(ARCHIVE_MESSAGES_TODAY, account)


def _key_prefix(account: str | None) -> list[str] | None:
    return None if is_default(account) else [account_of(account)]


def _api_resource(context: dg.AssetExecutionContext, key: str) -> SMSPrestoResource:
    resource = getattr(context.resources, key)
    assert isinstance(resource, SMSPrestoResource), f"{key} is not an SMSPrestoResource"
    return resource


def _warehouse_resource(context: dg.AssetExecutionContext) -> WarehouseResource:
    resource = context.resources.warehouse
    assert isinstance(resource, WarehouseResource), "warehouse is not a WarehouseResource"
    return resource


def _check_date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _masked(number: object) -> str:
    # A preview is for eyeballing a load, not for reading whom the account texts.
    text = str(number or "")
    return text if len(text) <= 6 else f"{text[:6]}{'•' * (len(text) - 8)}{text[-2:]}"


def _preview_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "_no message this day_"
    lines = [
        "| " + " | ".join(_PREVIEW_COLUMNS) + " |",
        "|" + "---|" * len(_PREVIEW_COLUMNS),
    ]
    for row in rows:
        cells = [
            _masked(row["recipient"]) if column == "recipient" else str(row[column] or "")
            for column in _PREVIEW_COLUMNS
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _failure_rate_text(stats: PartitionStats) -> str:
    final = stats.delivered + stats.failed
    if final == 0:
        return f"no final status yet ({stats.pending} pending)"
    return f"{100 * stats.failed / final:.2f} % ({stats.failed} failed of {final} final)"


def _day_metadata(stats: PartitionStats, preview: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    # Per-day figures only. The table's total (dagster/row_count) is reported once per run, on
    # an observation without partition: stamped on each day, it would plot as a step per day.
    rate = stats.failure_rate
    return {
        "dagster/partition_row_count": dg.MetadataValue.int(stats.rows),
        "delivered": dg.MetadataValue.int(stats.delivered),
        "failed": dg.MetadataValue.int(stats.failed),
        "pending": dg.MetadataValue.int(stats.pending),
        "unknown": dg.MetadataValue.int(stats.unknown),
        # Numeric (the UI plots it), rounded for reading; None while nothing of the day is
        # final: "no evidence", which is not 0 % failures.
        "failure_rate": (
            dg.MetadataValue.null() if rate is None else dg.MetadataValue.float(round(rate, 4))
        ),
        "failure_rate_text": dg.MetadataValue.text(_failure_rate_text(stats)),
        "segments": dg.MetadataValue.int(stats.segments),
        "pages": dg.MetadataValue.int(stats.pages),
        "raw_rows": dg.MetadataValue.int(stats.raw_rows),
        "preview": dg.MetadataValue.md(_preview_markdown(preview)),
    }


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects alive now (Dagster's, mostly) out of the garbage collector's passes.

    Reading pages allocates millions of short-lived objects, and each full collection then
    walked the whole heap of the run process as well: about a tenth of the event loop's time
    on a 300,000-message backfill. Frozen objects are only skipped, not kept: they return to
    the collector afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _check_resource_timezone(
    smspresto: SMSPrestoResource, api_key: str, timezone: str, days: str
) -> None:
    """Fail when the resource's account zone is not ``timezone``, that of ``days`` (what the
    asset's days are, for the message)."""
    if smspresto.timezone != timezone:
        # Days asked of the API in one zone and stored as days of another would be shifted
        # by hours. (Run config given for the resource resets its unset fields to their
        # defaults: this is where that shows.)
        raise dg.Failure(
            description=(
                f"{days} in {timezone}, but the {api_key} "
                f"resource's account time zone is {smspresto.timezone}: give both the same "
                f"time zone (SMSPrestoResource(timezone={timezone!r}))"
            )
        )


def _check_warehouse_path(warehouse: WarehouseResource) -> None:
    """Fail the step, before any request, when the warehouse can never be written: otherwise
    the API is read in full and only the writes fail."""
    try:
        warehouse.get_warehouse().check()
    except (WarehousePathError, WarehouseOpenError) as error:
        raise dg.Failure(
            description=f"The warehouse resource's target is unusable: {error}. Set it "
            "(SMSPRESTO_WAREHOUSE_URL or SMSPRESTO_DUCKDB_PATH in the dagster_project code "
            "location, warehouse_url_env or duckdb_path in a component) to a warehouse this "
            "process can reach and write: a PostgreSQL URL or a DuckDB file."
        ) from None


def _ingest_days(
    smspresto: SMSPrestoResource,
    warehouse: Warehouse,
    days: Sequence[date],
    *,
    max_concurrent_days: int,
    page_size: int | None,
    account: str,
) -> list[PartitionStats | Exception]:
    # At most max_concurrent_days days are read at once, each by a thread of the pool with the
    # synchronous client (cheaper per row than the async one under the interpreter lock). A day
    # read is handed to the writer, which commits the days that are ready together while the
    # next ones are read (and makes the readers wait when too many rows are staged, so memory
    # stays bounded).
    with smspresto.get_client() as client, warehouse.writer() as writer:

        def ingest(day: date) -> concurrent.futures.Future[PartitionStats]:
            spool = warehouse.spool(day, account=account)
            try:
                for page in client.iter_archive_pages(day, day, page_size):
                    spool.add(page)
            except BaseException:
                spool.discard()
                raise
            return writer.put(spool)

        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent_days, thread_name_prefix="smspresto-day"
        ) as pool:
            reads = [pool.submit(ingest, day) for day in days]
            concurrent.futures.wait(reads)
        writer.flush()  # nothing more will come: no need to wait for more days
        result: list[PartitionStats | Exception] = []
        for read in reads:
            error = read.exception()
            if error is None:
                error = read.result().exception()
            if error is None:
                result.append(read.result().result())
            elif isinstance(error, Exception):
                result.append(error)
            else:
                raise error
    return result


def build_archive_messages_asset(
    *,
    start_date: str,
    end_offset: int = 0,
    max_concurrent_days: int = DEFAULT_MAX_CONCURRENT_DAYS,
    timezone: str = DEFAULT_TIMEZONE,
    page_size: int | None = None,
    pool: str | None = None,
    preview_rows: int = 5,
    account: str | None = None,
    engine: Engine = "duckdb",
) -> dg.AssetsDefinition:
    """The ``archive_messages`` asset: the account's message history, one partition a day.

    A run reads its days from ``list-archive`` concurrently (at most ``max_concurrent_days``
    at once) and writes each day in one short DuckDB transaction that replaces the day in
    ``smspresto.archive_raw`` and ``smspresto.messages``: re-running days is safe and picks up
    status changes. A backfill is one run (``BackfillPolicy.single_run()``). Each partition gets
    its own metadata: ``dagster/partition_row_count``, ``delivered``, ``failed``, ``pending``,
    ``unknown``, ``failure_rate`` (failed / (delivered + failed) to 4 decimals, null while no
    message of the day is final), ``failure_rate_text`` (e.g. ``9.42 % (29 failed of 308
    final)``), ``segments``, ``pages``, ``raw_rows`` and a masked ``preview``. The whole
    table's ``dagster/row_count`` (the account's rows) is recorded once per run, as an
    observation without partition. Resources: ``smspresto`` (``<account>__smspresto`` for a
    named account), ``warehouse``.

    When some days fail, the others are still written and reported, and the run fails naming
    the failed days, so a retry needs only those.

    Args:
        start_date: the first partition, ``YYYY-MM-DD``.
        end_offset: partitions past the last complete day (1 includes today, still growing).
        max_concurrent_days: days read at the same time within one run.
        timezone: the account's time zone: a partition is a day of it.
        page_size: rows per ``list-archive`` request (the resource's ``page_size`` if None).
        pool: a Dagster concurrency pool for the asset (e.g. to let one run write at a time).
        preview_rows: messages shown in each partition's ``preview``.
        account: the account (:mod:`smspresto_pipeline.accounts`): its days are replaced, and
            no other account's; a named one's asset is keyed ``<account>/archive_messages``.
        engine: the warehouse's engine, for the asset's kinds (``duckdb`` or ``postgres``).

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline.ingest.assets import build_archive_messages_asset
            from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

            archive = build_archive_messages_asset(start_date="2025-01-01")
            dg.materialize(
                [archive],
                partition_key="2025-01-02",
                resources={
                    "smspresto": SMSPrestoResource(api_key="key", api_pass="secret"),
                    "warehouse": WarehouseResource(path="data/smspresto_warehouse.duckdb"),
                },
            )
    """
    _check_date("start_date", start_date)
    _check_int("end_offset", end_offset, 0)
    _check_int("max_concurrent_days", max_concurrent_days, 1)
    check_timezone(timezone)
    if page_size is not None:
        _check_int("page_size", page_size, 1)
    _check_int("preview_rows", preview_rows, 0)
    name = account_of(account)
    api_key = api_resource_key(name)

    partitions = dg.DailyPartitionsDefinition(
        start_date=start_date, timezone=timezone, end_offset=end_offset
    )

    def archive_messages(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
        smspresto, warehouse = _api_resource(context, api_key), _warehouse_resource(context)
        _check_resource_timezone(
            smspresto, api_key, timezone, f"{ARCHIVE_MESSAGES}' partitions are days"
        )
        _check_warehouse_path(warehouse)
        days = sorted(date.fromisoformat(key) for key in context.partition_keys)
        store = warehouse.get_warehouse(
            status_map=smspresto.status_map, default_region=smspresto.default_region
        )
        with _frozen_heap():
            outcomes = _ingest_days(
                smspresto,
                store,
                days,
                max_concurrent_days=max_concurrent_days,
                page_size=page_size,
                account=name,
            )
        written = [o for o in outcomes if isinstance(o, PartitionStats)]
        failed = {day: o for day, o in zip(days, outcomes, strict=True) if isinstance(o, Exception)}
        previews = store.previews(
            [s.partition_date for s in written], limit=preview_rows, account=name
        )
        for stats in written:
            metadata = _day_metadata(stats, previews[stats.partition_date])
            key = stats.partition_date.isoformat()
            if failed:
                # The step fails below, so no materialization would be recorded for the days
                # that were written: record theirs here.
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=context.asset_key, partition=key, metadata=metadata
                    )
                )
            else:
                context.add_asset_metadata(metadata, partition_key=key)
        if written:
            # Once per run and without partition: the UI's partition plots skip it, and the
            # asset's overview shows it as the table's row count.
            context.log_event(
                dg.AssetObservation(
                    asset_key=context.asset_key,
                    metadata={
                        "dagster/row_count": dg.MetadataValue.int(store.count_messages(name))
                    },
                )
            )
        context.log.info(
            f"{plural(len(written), 'day')} written: "
            f"{plural(sum(s.rows for s in written), 'message')}, "
            f"{plural(sum(s.pages for s in written), 'page')}"
        )
        if failed:
            for day, error in failed.items():
                context.log.error(f"{day}: {type(error).__name__}: {error}")
            first = next(iter(failed.values()))
            raise dg.Failure(
                description=(
                    f"{len(failed)} of {plural(len(days), 'day')} failed and kept their "
                    f"previous contents: {', '.join(d.isoformat() for d in failed)}"
                ),
            ) from first
        return dg.MaterializeResult()

    # Single-run backfills are a deliberate choice (docs/architecture.md §2), though still marked
    # beta: a warning to every user of the code location on each load would help no one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.asset(
            name=ARCHIVE_MESSAGES,
            key_prefix=_key_prefix(name),
            required_resource_keys={api_key, "warehouse"},
            group_name=GROUP_NAME,
            kinds=asset_kinds(engine),
            metadata=table_metadata("messages"),
            tags=table_tags("messages"),
            partitions_def=partitions,
            backfill_policy=dg.BackfillPolicy.single_run(),
            pool=pool,
            description=(
                "SMS Presto's message history, one partition per day of creation (in the "
                "account's time zone), read from `list-archive`. Each day is replaced in one "
                "transaction in `smspresto.archive_raw` (the API's fields, verbatim) and "
                "`smspresto.messages` (typed). Per day: `dagster/partition_row_count`, "
                "delivered, failed, pending, `failure_rate` (failed / (delivered + failed); "
                "null while nothing is final) and a preview. A backfill is one run."
                + ("" if is_default(name) else f" Account `{name}`: its rows only.")
            ),
        )(archive_messages)


def build_account_snapshot_asset(
    *, pool: str | None = None, account: str | None = None, engine: Engine = "duckdb"
) -> dg.AssetsDefinition:
    """The ``account_snapshot`` asset: appends the ten account counters to
    ``smspresto.account_snapshots`` at each materialisation.

    The counters are the materialisation's numeric metadata (``stock``, ``sent``, ``success``,
    ``failed``, ``contacts``, ``groups``, ``orders``, ``bills``, ``scheduled``, ``predefined``),
    so the Dagster UI plots them; ``dagster/row_count`` is the number of snapshots kept.
    Resources: ``smspresto`` (``<account>__smspresto`` for a named account), ``warehouse``.

    Args:
        pool: a Dagster concurrency pool for the asset.
        account: the account (:mod:`smspresto_pipeline.accounts`) whose counters are read and
            stored; a named one's asset is keyed ``<account>/account_snapshot``.
        engine: the warehouse's engine, for the asset's kinds (``duckdb`` or ``postgres``).

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline.ingest.assets import build_account_snapshot_asset
            from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

            dg.materialize(
                [build_account_snapshot_asset()],
                resources={
                    "smspresto": SMSPrestoResource(api_key="key", api_pass="secret"),
                    "warehouse": WarehouseResource(path="data/smspresto_warehouse.duckdb"),
                },
            )
    """
    name = account_of(account)
    api_key = api_resource_key(name)

    @dg.asset(
        name="account_snapshot",
        key_prefix=_key_prefix(name),
        required_resource_keys={api_key, "warehouse"},
        group_name=GROUP_NAME,
        kinds=asset_kinds(engine),
        metadata=table_metadata("account_snapshots"),
        tags=table_tags("account_snapshots"),
        pool=pool,
        description="The ten SMS Presto account counters (stock, sent, success, failed, "
        "contacts, ...), one row per reading in `smspresto.account_snapshots`; each reading's "
        "counters are its metadata, so they plot over time.",
    )
    def account_snapshot(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
        smspresto, warehouse = _api_resource(context, api_key), _warehouse_resource(context)
        _check_warehouse_path(warehouse)
        with smspresto.get_client() as client:
            counters = client.get_counters()
        snapshots = warehouse.get_warehouse().insert_snapshot(counters, account=name)
        metadata: dict[str, Any] = {
            name: dg.MetadataValue.int(value) for name, value in counters.as_dict().items()
        }
        metadata["taken_at"] = dg.MetadataValue.timestamp(counters.taken_at)
        metadata["dagster/row_count"] = dg.MetadataValue.int(snapshots)
        return dg.MaterializeResult(metadata=metadata)

    return account_snapshot


def build_analytics_views_asset(
    *,
    deps: Sequence[str] | None = None,
    pool: str | None = None,
    account: str | None = None,
    engine: Engine = "duckdb",
) -> dg.AssetsDefinition:
    """The ``analytics_views`` asset: (re)creates every view of ``sql/analytics`` in schema
    ``smspresto``.

    Views: ``daily_delivery_by_sender``, ``failure_rate_by_carrier`` (by country and carrier),
    ``hourly_volume``, ``daily_segments_billed``, ``repeatedly_failing_recipients``. Metadata
    gives each view's row count. Resource: ``warehouse``.

    The views are the warehouse's, over every account (each has a column ``account``): a named
    account's asset (``<account>/analytics_views``) recreates the same views.

    Args:
        deps: the asset keys the views read (``account``'s archive when None; a key with
            parts is written ``a/b``).
        pool: a Dagster concurrency pool for the asset.
        account: the account whose ingestion this asset belongs to.
        engine: the warehouse's engine, for the asset's kinds (``duckdb`` or ``postgres``).

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline.ingest.assets import build_analytics_views_asset
            from smspresto_pipeline.resources import WarehouseResource

            dg.materialize(
                [build_analytics_views_asset()],
                resources={"warehouse": WarehouseResource(path="data/smspresto_warehouse.duckdb")},
            )
    """
    if deps is not None and (
        isinstance(deps, str) or not all(isinstance(d, str) and d for d in deps)
    ):
        raise ValueError(f"deps must be a sequence of asset key strings, got {deps!r}")
    name = account_of(account)
    upstream = (
        [asset_key(ARCHIVE_MESSAGES, name)]
        if deps is None
        else [dg.AssetKey.from_user_string(d) for d in deps]
    )

    @dg.asset(
        name="analytics_views",
        key_prefix=_key_prefix(name),
        group_name=GROUP_NAME,
        kinds=asset_kinds(engine),
        deps=upstream,
        pool=pool,
        description="The analytics views over `smspresto.messages` (the files of "
        "`sql/analytics/`), recreated: daily delivery by sender, failure rate by carrier, "
        "hourly volume, segments billed per day, repeatedly failing recipients.",
    )
    def analytics_views(warehouse: WarehouseResource) -> dg.MaterializeResult[None]:
        _check_warehouse_path(warehouse)
        counts = warehouse.get_warehouse().create_views()
        metadata: dict[str, Any] = {
            f"rows/{name}": dg.MetadataValue.int(count) for name, count in counts.items()
        }
        metadata["views"] = dg.MetadataValue.md(
            "\n".join(
                f"- `smspresto.{name}`: {plural(count, 'row')}" for name, count in counts.items()
            )
        )
        return dg.MaterializeResult(metadata=metadata)

    return analytics_views


def build_smspresto_assets(
    *,
    start_date: str,
    end_offset: int = 0,
    max_concurrent_days: int = DEFAULT_MAX_CONCURRENT_DAYS,
    timezone: str = DEFAULT_TIMEZONE,
    page_size: int | None = None,
    pool: str | None = None,
    account: str | None = None,
    engine: Engine = "duckdb",
) -> list[dg.AssetsDefinition]:
    """The three ingestion assets: ``archive_messages``, ``account_snapshot``,
    ``analytics_views``; the arguments go to :func:`build_archive_messages_asset` (and
    ``pool``, ``account`` and ``engine`` to all three).

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline.ingest.assets import build_smspresto_assets

            assets = build_smspresto_assets(start_date="2025-01-01", max_concurrent_days=8)
            defs = dg.Definitions(assets=assets)  # plus resources smspresto and warehouse
    """
    return [
        build_archive_messages_asset(
            start_date=start_date,
            end_offset=end_offset,
            max_concurrent_days=max_concurrent_days,
            timezone=timezone,
            page_size=page_size,
            pool=pool,
            account=account,
            engine=engine,
        ),
        build_account_snapshot_asset(pool=pool, account=account, engine=engine),
        build_analytics_views_asset(pool=pool, account=account, engine=engine),
    ]
