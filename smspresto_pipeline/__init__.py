"""smspresto-pipeline: the SMS Presto bulk-SMS API as a client library and Dagster definitions.

Importing the package is cheap: Dagster is loaded only when ``SMSPrestoResource``,
``SMSPrestoIngestComponent``, ``CampaignComponent`` or ``AlertsComponent`` is first used, so the
clients work in scripts and services that do not run Dagster.
"""

import importlib
from typing import TYPE_CHECKING, Any

from smspresto_pipeline.api import (
    ARCHIVE_FIELDS,
    AccountCounters,
    ArchiveRecord,
    AsyncSMSPrestoClient,
    SendResult,
    SMSPrestoClient,
)
from smspresto_pipeline.errors import (
    AmbiguousSendError,
    AuthenticationError,
    InvalidMessageError,
    InvalidRecipientError,
    InvalidSenderError,
    ProtocolError,
    SMSPrestoError,
    SMSValidationError,
    TransientError,
)

if TYPE_CHECKING:
    from smspresto_pipeline.alerts.component import AlertsComponent
    from smspresto_pipeline.campaigns.component import CampaignComponent
    from smspresto_pipeline.ingest.component import SMSPrestoIngestComponent
    from smspresto_pipeline.resources import SMSPrestoResource

__all__ = [
    "ARCHIVE_FIELDS",
    "AccountCounters",
    "AlertsComponent",
    "AmbiguousSendError",
    "ArchiveRecord",
    "AsyncSMSPrestoClient",
    "AuthenticationError",
    "CampaignComponent",
    "InvalidMessageError",
    "InvalidRecipientError",
    "InvalidSenderError",
    "ProtocolError",
    "SMSPrestoClient",
    "SMSPrestoError",
    "SMSPrestoIngestComponent",
    "SMSPrestoResource",
    "SMSValidationError",
    "SendResult",
    "TransientError",
]


# Names that import dagster, which takes seconds: loaded on first use only.
_LAZY = {
    "AlertsComponent": "smspresto_pipeline.alerts.component",
    "CampaignComponent": "smspresto_pipeline.campaigns.component",
    "SMSPrestoIngestComponent": "smspresto_pipeline.ingest.component",
    "SMSPrestoResource": "smspresto_pipeline.resources",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Dagster's registry of components (`dg list components`) finds them with dir() + getattr.
    return sorted({*globals(), *_LAZY})
