"""What every campaign shares: the outbox's reconciliation and the circuit breaker's jobs.

``smspresto_reconcile_outbox`` (hourly schedule ``smspresto_reconcile_outbox_hourly``, state
from ``SMSPRESTO_SCHEDULES`` like the ingestion's) resolves every campaign's ``ambiguous`` rows
against the ingested archive, in the account's time zone (``SMSPRESTO_TIMEZONE``).
``smspresto_pause_campaigns`` and ``smspresto_resume_campaigns`` let a person stop and restart
every campaign from the UI. The resources ``smspresto`` and ``warehouse`` come from the
ingest component.
"""

import os

import dagster as dg

from dagster_project.settings import Settings
from smspresto_pipeline.campaigns import build_reconcile_defs
from smspresto_pipeline.campaigns.breaker_defs import build_breaker_defs


@dg.definitions
def defs() -> dg.Definitions:
    """The reconciliation job and schedule, and the pause and resume jobs."""
    settings = Settings.from_env(os.environ)
    status = (
        dg.DefaultScheduleStatus.RUNNING
        if settings.schedule_status == "running"
        else dg.DefaultScheduleStatus.STOPPED
    )
    return dg.Definitions.merge(
        build_reconcile_defs(timezone=settings.timezone, default_status=status),
        build_breaker_defs(),
    )
