"""What every campaign of a project shares: the circuit breaker's jobs and the reconciliation.

:func:`build_shared_campaign_defs` gives, once for a whole project:

* ``smspresto_resume_campaigns`` and ``smspresto_pause_campaigns``
  (:mod:`~smspresto_pipeline.campaigns.breaker_defs`), which the campaigns' messages name when
  the breaker pauses them;
* ``smspresto_reconcile_outbox`` and its schedule ``smspresto_reconcile_outbox_hourly``
  (:mod:`~smspresto_pipeline.campaigns.reconcile_defs`).

The first :class:`~smspresto_pipeline.campaigns.CampaignComponent` of a project returns them,
so a project made of campaigns alone is whole. A project in Python merges them once with its
campaigns' definitions (Dagster refuses two definitions of one name).

Example:
    .. code-block:: python

        defs = dg.Definitions.merge(
            build_campaign_defs(reminder),
            build_shared_campaign_defs(),
            dg.Definitions(resources={"smspresto": ..., "warehouse": ...}),
        )
"""

import dagster as dg

from smspresto_pipeline.campaigns.breaker_defs import build_breaker_defs
from smspresto_pipeline.campaigns.reconcile_defs import build_reconcile_defs
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE

__all__ = ["build_shared_campaign_defs"]


def build_shared_campaign_defs(
    *,
    timezone: str = DEFAULT_TIMEZONE,
    schedule_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.Definitions:
    """The breaker's pause and resume jobs, the reconciliation job and its hourly schedule.

    They use the resources ``smspresto`` and ``warehouse``, the caller's to bind.

    Args:
        timezone: the account's time zone (the reconciliation schedule's).
        schedule_status: whether the reconciliation schedule runs as soon as it is deployed.

    Raises:
        ValueError: an unknown time zone.
    """
    return dg.Definitions.merge(
        build_breaker_defs(),
        build_reconcile_defs(timezone=timezone, default_status=schedule_status),
    )
