"""Dagster ingestion: the archive by day, today read while it goes, account snapshots, analytics
views and their schedules.

:func:`build_ingest_defs` wires all of it together in Python and
:class:`SMSPrestoIngestComponent` declares the same from a ``defs.yaml``; the finer factories
(``build_*``) build each piece. Every asset uses the resources ``smspresto``
(:class:`~smspresto_pipeline.resources.SMSPrestoResource`) and ``warehouse``
(:class:`~smspresto_pipeline.resources.WarehouseResource`).
"""

from smspresto_pipeline.ingest.assets import (
    ARCHIVE_MESSAGES,
    ARCHIVE_MESSAGES_TODAY,
    GROUP_NAME,
    archive_today_key,
    build_account_snapshot_asset,
    build_analytics_views_asset,
    build_archive_messages_asset,
    build_smspresto_assets,
)
from smspresto_pipeline.ingest.component import SMSPrestoIngestComponent
from smspresto_pipeline.ingest.definitions import ANALYTICS_VIEWS_JOB, build_ingest_defs
from smspresto_pipeline.ingest.intraday import build_archive_today_asset, build_intraday_schedule
from smspresto_pipeline.ingest.schedules import (
    build_ingest_schedule,
    build_snapshot_schedule,
    ingest_partition_keys,
)

__all__ = [
    "ANALYTICS_VIEWS_JOB",
    "ARCHIVE_MESSAGES",
    "ARCHIVE_MESSAGES_TODAY",
    "GROUP_NAME",
    "SMSPrestoIngestComponent",
    "archive_today_key",
    "build_account_snapshot_asset",
    "build_analytics_views_asset",
    "build_archive_messages_asset",
    "build_archive_today_asset",
    "build_ingest_defs",
    "build_ingest_schedule",
    "build_intraday_schedule",
    "build_smspresto_assets",
    "build_snapshot_schedule",
    "ingest_partition_keys",
]
