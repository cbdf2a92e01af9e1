"""The whole ingestion as one ``dg.Definitions``: assets, their checks, schedules, the views job,
the checks' job and sensor, resources.

:func:`build_ingest_defs` is the one place the ingestion is wired together. Code users call it;
:class:`~smspresto_pipeline.ingest.component.SMSPrestoIngestComponent` (the YAML front door,
used by the ``dagster_project`` code location) calls it too, so both get the same definitions.
"""

from collections.abc import Callable

import dagster as dg

from smspresto_pipeline.accounts import account_of, prefixed
from smspresto_pipeline.checks import SpikeConfig
from smspresto_pipeline.checks.definitions import (
    CHECKS_JOB,
    CHECKS_SENSOR,
    DEFAULT_BREAKER_DAYS,
    build_archive_checks,
    build_checks_job,
    build_checks_sensor,
    build_counters_reconcile_check,
)
from smspresto_pipeline.checks.intraday import IntradayConfig
from smspresto_pipeline.checks.intraday_defs import build_intraday_spike_check
from smspresto_pipeline.ingest.assets import (
    DEFAULT_MAX_CONCURRENT_DAYS,
    api_resource_key,
    build_account_snapshot_asset,
    build_analytics_views_asset,
    build_archive_messages_asset,
)
from smspresto_pipeline.ingest.intraday import (
    DEFAULT_INTRADAY_MINUTES,
    build_archive_today_asset,
    build_intraday_schedule,
    check_intraday_minutes,
)
from smspresto_pipeline.ingest.schedules import (
    DEFAULT_INGEST_HOUR,
    DEFAULT_LOOKBACK_DAYS,
    build_ingest_schedule,
    build_snapshot_schedule,
)
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE

__all__ = ["ANALYTICS_VIEWS_JOB", "build_ingest_defs"]

#: The job that rebuilds the analytics views.
ANALYTICS_VIEWS_JOB = "analytics_views_job"


def build_ingest_defs(
    *,
    start_date: str,
    smspresto: SMSPrestoResource,
    warehouse: WarehouseResource,
    timezone: str = DEFAULT_TIMEZONE,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    ingest_hour: int = DEFAULT_INGEST_HOUR,
    max_concurrent_days: int = DEFAULT_MAX_CONCURRENT_DAYS,
    page_size: int | None = None,
    schedule_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
    spike_config: SpikeConfig | None = None,
    circuit_breaker_days: int = DEFAULT_BREAKER_DAYS,
    account: str | None = None,
    pool: str | None = None,
    translate: Callable[[dg.AssetSpec], dg.AssetSpec] | None = None,
    intraday_minutes: int | None = DEFAULT_INTRADAY_MINUTES,
) -> dg.Definitions:
    """The ingestion's definitions, with the resources they use.

    Several accounts share one warehouse with one call each, every call naming its ``account``:
    each call's assets, checks, jobs, schedules, sensor and API resource are its own (prefixed:
    ``<account>/archive_messages``, ``<account>__archive_messages_daily_ingest``,
    ``<account>__smspresto_archive_checks``, the resource ``<account>__smspresto``), and its
    runs replace that account's days only. Without an account (or ``"default"``) the names are
    the plain ones below, as in a project of one account.

    Args:
        start_date: the first day of ``archive_messages``, ``YYYY-MM-DD``.
        smspresto: the API's resource (bound as ``smspresto``).
        warehouse: the DuckDB resource (bound as ``warehouse``).
        timezone: the account's time zone: partitions and schedules follow it.
        lookback_days: days before yesterday that the daily ingest re-reads.
        ingest_hour: hour of the daily ingest, in ``timezone``.
        max_concurrent_days: days one run fetches at the same time.
        page_size: rows per ``list-archive`` request (the resource's ``page_size`` if None).
        schedule_status: the schedules' status when first deployed (``STOPPED`` by default, so
            a library never starts calling a paid API by surprise); the checks' sensor follows it.
        spike_config: the failure-rate spike check's thresholds (`SpikeConfig`'s defaults if
            None).
        circuit_breaker_days: only a spike on one of this many newest days stored pauses the
            campaigns (older ones fail their check and pause nothing).
        account: the account's name (a lowercase identifier, :mod:`smspresto_pipeline.accounts`);
            None for the default account.
        pool: a Dagster concurrency pool for the three assets, which write the warehouse (e.g.
            ``"smspresto_warehouse"``: at one slot, runs side by side write a DuckDB file in
            turn instead of waiting for its lock; docs/deployment.md); None for no pool.
        translate: applied to each asset's spec before the checks, jobs and schedules are
            built on them: a new key (its dependents follow), group, tags, owners,
            description... (the component's ``translation:``); None keeps them.
        intraday_minutes: minutes between two reads of today (``archive_messages_today``, a
            divisor of the hour); None: today is read only by the nightly run.

    Returns:
        Assets ``archive_messages``, ``account_snapshot`` and ``analytics_views``; the checks
        on ``archive_messages`` (``failure_rate_spike`` and the data-quality checks, per day, in
        one step for all the days of a run) and ``counters_reconcile`` on ``account_snapshot``
        (the counters against the archive); schedules ``archive_messages_daily_ingest`` (its
        job leaves the archive's checks out) and ``account_snapshot_hourly`` (its job evaluates
        ``counters_reconcile``); the job ``analytics_views_job``; the job
        ``smspresto_archive_checks`` (the checks of a day or a range of days) and the sensor
        ``smspresto_archive_checks_sensor`` that launches it for the days materialized (a run
        per stretch of consecutive days); unless ``intraday_minutes`` is None, the asset
        ``archive_messages_today``, its check ``archive_messages_today_failure_spike`` (today's
        failures so far against the same hours of earlier days; an ERROR trips the circuit
        breaker) and its schedule ``archive_messages_today_intraday``;
        resources ``smspresto`` and ``warehouse``.

    Example:
        .. code-block:: python

            import dagster as dg
            from smspresto_pipeline import SMSPrestoResource
            from smspresto_pipeline.ingest import build_ingest_defs
            from smspresto_pipeline.resources import WarehouseResource

            defs = build_ingest_defs(
                start_date="2024-01-01",
                smspresto=SMSPrestoResource(
                    api_key=dg.EnvVar("SMSPRESTO_API_KEY"),
                    api_pass=dg.EnvVar("SMSPRESTO_API_PASS"),
                ),
                warehouse=WarehouseResource(path="data/smspresto_warehouse.duckdb"),
            )
    """
    name = account_of(account)
    engine = warehouse.engine_at_load()
    if intraday_minutes is not None:
        check_intraday_minutes(intraday_minutes)
    archive = build_archive_messages_asset(
        start_date=start_date,
        max_concurrent_days=max_concurrent_days,
        timezone=timezone,
        page_size=page_size,
        pool=pool,
        account=name,
        engine=engine,
    )
    snapshot = build_account_snapshot_asset(pool=pool, account=name, engine=engine)
    views = build_analytics_views_asset(pool=pool, account=name, engine=engine)
    assets = [archive, snapshot, views]
    if intraday_minutes is not None:
        assets.append(
            build_archive_today_asset(
                timezone=timezone, page_size=page_size, pool=pool, account=name, engine=engine
            )
        )
    if translate is not None:
        assets = _translated(assets, translate)
    archive, snapshot, views, *today = assets
    checks = [
        build_archive_checks(
            asset=archive, config=spike_config, breaker_days=circuit_breaker_days, account=name
        )
    ]
    checks_job = build_checks_job(asset=archive, name=prefixed(CHECKS_JOB, name))
    reconcile = build_counters_reconcile_check(
        snapshot=snapshot, archive=archive, timezone=timezone, account=name
    )
    running = schedule_status == dg.DefaultScheduleStatus.RUNNING
    intraday: list[dg.ScheduleDefinition] = []
    today_checks: list[dg.AssetChecksDefinition] = []
    if intraday_minutes is not None:
        # Today's spike check runs with each read (the schedule's job selects the asset and
        # its checks): its thresholds are spent over that many evaluations a day.
        today_checks.append(
            build_intraday_spike_check(
                asset_key=today[0].key,
                config=IntradayConfig(interval_minutes=intraday_minutes),
                timezone=timezone,
                account=name,
            )
        )
        intraday.append(
            build_intraday_schedule(
                asset=today[0],
                minutes=intraday_minutes,
                timezone=timezone,
                default_status=schedule_status,
            )
        )
    return dg.Definitions(
        assets=[archive, snapshot, views, *today],
        # The sensor and the checks job cover the archive's checks only; the reconciliation
        # runs with the snapshot.
        asset_checks=[*checks, reconcile, *today_checks],
        jobs=[
            dg.define_asset_job(
                prefixed(ANALYTICS_VIEWS_JOB, name),
                selection=dg.AssetSelection.assets(views),
                description="Rebuild the analytics views over smspresto.messages.",
            ),
            checks_job,
        ],
        sensors=[
            build_checks_sensor(
                asset=archive,
                job_name=checks_job.name,
                name=prefixed(CHECKS_SENSOR, name),
                check_names=[spec.name for check in checks for spec in check.check_specs],
                default_status=dg.DefaultSensorStatus.RUNNING
                if running
                else dg.DefaultSensorStatus.STOPPED,
            )
        ],
        schedules=[
            build_ingest_schedule(
                asset=archive,
                hour=ingest_hour,
                lookback_days=lookback_days,
                default_status=schedule_status,
            ),
            build_snapshot_schedule(
                asset=snapshot, timezone=timezone, default_status=schedule_status
            ),
            *intraday,
        ],
        resources={api_resource_key(name): smspresto, "warehouse": warehouse},
    )


def _translated(
    assets: list[dg.AssetsDefinition], translate: Callable[[dg.AssetSpec], dg.AssetSpec]
) -> list[dg.AssetsDefinition]:
    """``assets`` with ``translate`` applied to their specs; a key it changes is changed in the
    assets that depend on it too (``map_asset_specs`` keeps keys: a key moves through
    ``with_attributes``)."""
    specs = {asset.key: translate(asset.get_asset_spec()) for asset in assets}
    renamed = {key: spec.key for key, spec in specs.items() if spec.key != key}

    def moved(asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
        spec = specs[asset.key]
        deps = [dg.AssetDep(renamed.get(dep.asset_key, dep.asset_key)) for dep in spec.deps]
        rekeyed = asset.with_attributes(asset_key_replacements=renamed) if renamed else asset
        return rekeyed.map_asset_specs(lambda old: spec.replace_attributes(key=old.key, deps=deps))

    return [moved(asset) for asset in assets]
