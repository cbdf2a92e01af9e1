"""Dagster ingestion: the archive by day, account snapshots, analytics views and their schedules.

The factories (``build_*``) build the definitions in Python; every asset uses the resources
``smspresto`` (:class:`~smspresto_pipeline.resources.SMSPrestoResource`) and ``warehouse``
(:class:`~smspresto_pipeline.resources.WarehouseResource`).
"""

from smspresto_pipeline.ingest.assets import (
    ARCHIVE_MESSAGES,
    GROUP_NAME,
    build_account_snapshot_asset,
    build_analytics_views_asset,
    build_archive_messages_asset,
    build_smspresto_assets,
)
from smspresto_pipeline.ingest.schedules import (
    build_ingest_schedule,
    build_snapshot_schedule,
    ingest_partition_keys,
)

__all__ = [
    "ARCHIVE_MESSAGES",
    "GROUP_NAME",
    "build_account_snapshot_asset",
    "build_analytics_views_asset",
    "build_archive_messages_asset",
    "build_ingest_schedule",
    "build_smspresto_assets",
    "build_snapshot_schedule",
    "ingest_partition_keys",
]
