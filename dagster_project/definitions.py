"""The deployable code location: a ``dg`` project whose ``defs/`` folder declares the ingestion
and the campaigns.

``dagster_project/defs/ingest/defs.yaml`` declares one
:class:`~smspresto_pipeline.SMSPrestoIngestComponent`, configured from the ``SMSPRESTO_*``
environment variables (see :mod:`dagster_project.settings`). Load it with ``dg dev``,
``dg check defs``, ``dagster dev -m dagster_project`` or ``dagster definitions validate -m
dagster_project``; the definitions are built when Dagster loads them, not on import.
"""

import os
from pathlib import Path

import dagster as dg

from dagster_project.settings import Settings
from smspresto_pipeline.conventions import quiet_dagster_internal_warnings

__all__ = ["defs"]

# Here, where the module is imported: Dagster copies the definitions after they load, and warns
# then about beta parameters it passes itself (smspresto_pipeline.conventions says which).
quiet_dagster_internal_warnings()


@dg.definitions
def defs() -> dg.Definitions:
    """Everything under ``defs/``: assets ``archive_messages``, ``account_snapshot`` and
    ``analytics_views``; the daily ingest and hourly snapshot schedules (with their jobs) and
    ``analytics_views_job``; resources ``smspresto`` and ``warehouse``."""
    # Every setting is read here first: a bad one fails the load with its own message. Read
    # by the components' YAML instead, it would be reported as the error of whichever
    # component comes first (campaigns/daily_summary), under a tree and a stack trace.
    Settings.from_env(os.environ)
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
