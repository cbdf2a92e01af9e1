"""Alerts: the operator is told, once per event, when a person is needed.

The parts without Dagster: an :class:`Alert` and the operator's :class:`AlertSettings`
(``model``), the event sources over the warehouse (``events``), the ledger of what was told
(``ledger``, table ``smspresto.alert_deliveries``), the channels (``channels``: SMS through the
outbox and the campaigns' send path, a Slack-compatible webhook) and the rate limit
(``delivery``). Their Dagster face, loaded on first use: :func:`build_alert_defs`
(``definitions``) gives the sensor ``smspresto_alerts``.

Example:
    >>> from smspresto_pipeline.alerts import AlertSettings
    >>> AlertSettings.of(numbers=["07 08 08 14 88"], sender="OPS").numbers
    ('+2250708081488',)
"""

import importlib
from typing import TYPE_CHECKING, Any

from smspresto_pipeline.alerts.model import ALERTS_CAMPAIGN, Alert, AlertSettings

if TYPE_CHECKING:
    from smspresto_pipeline.alerts.definitions import build_alert_defs

__all__ = ["ALERTS_CAMPAIGN", "Alert", "AlertSettings", "build_alert_defs"]

# Loading Dagster takes seconds: the face is imported when it is asked for.
_LAZY = {"build_alert_defs": "smspresto_pipeline.alerts.definitions"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
