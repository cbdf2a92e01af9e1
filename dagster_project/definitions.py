"""The deployable code location: the library's assets, schedules and resources, configured
from environment variables (see `dagster_project.settings` for each variable).

Load it with ``dagster dev -m dagster_project`` (or ``dagster definitions validate -m
dagster_project``). The definitions are built when the module is imported; tests and scripts
that need another configuration call :func:`build_definitions` with their own mapping.
"""

import os
from collections.abc import Mapping

import dagster as dg

from dagster_project.settings import Settings
from smspresto_pipeline.api.client import DEFAULT_BASE_URL
from smspresto_pipeline.ingest.assets import (
    build_account_snapshot_asset,
    build_analytics_views_asset,
    build_archive_messages_asset,
)
from smspresto_pipeline.ingest.schedules import build_ingest_schedule, build_snapshot_schedule
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

__all__ = ["build_definitions", "defs"]


def build_definitions(env: Mapping[str, str] | None = None) -> dg.Definitions:
    """The code location's definitions under the settings read from ``env``.

    Args:
        env: the environment to read settings from (``os.environ`` when None). Secrets are
            never read here: the resources name them with ``dg.EnvVar``, which Dagster
            resolves from the process environment when a run starts.

    Returns:
        Assets ``archive_messages``, ``account_snapshot`` and ``analytics_views``; the daily
        ingest and hourly snapshot schedules (with their jobs) and ``analytics_views_job``;
        resources ``smspresto`` and ``warehouse``.
    """
    settings = Settings.from_env(os.environ if env is None else env)
    archive = build_archive_messages_asset(
        start_date=settings.start_date.isoformat(),
        max_concurrent_days=settings.max_concurrent_days,
        timezone=settings.timezone,
    )
    snapshot = build_account_snapshot_asset()
    views = build_analytics_views_asset()
    # The base URL is optional; when it is set, Dagster reads it at run time like the secrets,
    # so a deployment is repointed (e.g. at the simulator) by its environment alone.
    base_url: str = (
        dg.EnvVar("SMSPRESTO_BASE_URL") if settings.base_url_from_env else DEFAULT_BASE_URL
    )
    smspresto = SMSPrestoResource(
        api_key=dg.EnvVar("SMSPRESTO_API_KEY"),
        api_pass=dg.EnvVar("SMSPRESTO_API_PASS"),
        base_url=base_url,
        timezone=settings.timezone,
    )
    return dg.Definitions(
        assets=[archive, snapshot, views],
        jobs=[
            dg.define_asset_job(
                "analytics_views_job",
                selection=dg.AssetSelection.assets(views),
                description="Rebuild the analytics views over smspresto.messages.",
            )
        ],
        schedules=[
            build_ingest_schedule(
                asset=archive,
                hour=settings.ingest_hour,
                lookback_days=settings.lookback_days,
                default_status=settings.schedule_status,
            ),
            build_snapshot_schedule(
                asset=snapshot, timezone=settings.timezone, default_status=settings.schedule_status
            ),
        ],
        resources={
            "smspresto": smspresto,
            "warehouse": WarehouseResource(path=settings.duckdb_path),
        },
    )


defs = build_definitions()
