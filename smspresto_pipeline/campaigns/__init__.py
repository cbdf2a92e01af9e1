"""Campaigns: templated SMS sent to the rows a SQL query returns, each row at most once.

A :class:`Campaign` names a query, a sandboxed Jinja2 template, a sender and its limits and
guards. Its pure parts live here: the model (``model``), rendering and smart encoding
(``render``), preparing a query's rows into messages and skipped rows (``prepare``), quiet
hours and expiry (``timing``), the guards (``guards``), and the engine: one decision from the
rows, the warehouse's snapshot and the clock to a verdict (``decision``), carried out the same
way for the sensor, the send job and a dry run (``engine``); none of them imports Dagster.
Their Dagster face, loaded on first use: :func:`build_campaign_defs` (``definitions``) gives a
campaign's asset ``<name>``, sensor ``<name>_sensor`` and send job ``<name>_send``;
:class:`CampaignComponent` (``component``) declares a campaign in a ``defs.yaml`` beside its
query and template files;
:func:`build_reconcile_defs` (``reconcile_defs``) gives the hourly job that resolves every
campaign's ``ambiguous`` rows against the ingested archive (``reconcile``), and
:func:`build_shared_campaign_defs` (``shared_defs``) gives it with the circuit breaker's pause and
resume jobs: what a project's campaigns share, once.

Example:
    >>> from smspresto_pipeline.campaigns import Campaign
    >>> Campaign(name="welcome", sql="select ...", template="Bienvenue {{ name }} !",
    ...          sender="MaBoutique").job_name
    'welcome_send'
"""

import importlib
from typing import TYPE_CHECKING, Any

from smspresto_pipeline.campaigns.model import Campaign

if TYPE_CHECKING:
    from smspresto_pipeline.campaigns.component import CampaignComponent
    from smspresto_pipeline.campaigns.definitions import build_campaign_defs
    from smspresto_pipeline.campaigns.reconcile_defs import build_reconcile_defs
    from smspresto_pipeline.campaigns.shared_defs import build_shared_campaign_defs

__all__ = [
    "Campaign",
    "CampaignComponent",
    "build_campaign_defs",
    "build_reconcile_defs",
    "build_shared_campaign_defs",
]

# The Dagster face, loaded on first use: importing the engine (``campaigns.engine``) or the
# model must not load Dagster, which takes seconds and is not needed to decide or to send.
_LAZY = {
    "CampaignComponent": "smspresto_pipeline.campaigns.component",
    "build_campaign_defs": "smspresto_pipeline.campaigns.definitions",
    "build_reconcile_defs": "smspresto_pipeline.campaigns.reconcile_defs",
    "build_shared_campaign_defs": "smspresto_pipeline.campaigns.shared_defs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
