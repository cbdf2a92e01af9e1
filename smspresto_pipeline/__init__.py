"""smspresto-pipeline: the SMS Presto bulk-SMS API as a client library and Dagster definitions.

Importing the package is cheap: Dagster is loaded only when ``SMSPrestoResource`` is first
used, so the clients work in scripts and services that do not run Dagster.
"""

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
    from smspresto_pipeline.resources import SMSPrestoResource

__all__ = [
    "ARCHIVE_FIELDS",
    "AccountCounters",
    "AmbiguousSendError",
    "ArchiveRecord",
    "AsyncSMSPrestoClient",
    "AuthenticationError",
    "InvalidMessageError",
    "InvalidRecipientError",
    "InvalidSenderError",
    "ProtocolError",
    "SMSPrestoClient",
    "SMSPrestoError",
    "SMSPrestoResource",
    "SMSValidationError",
    "SendResult",
    "TransientError",
]


def __getattr__(name: str) -> Any:
    # The resource imports dagster, which takes seconds: load it on first use only.
    if name == "SMSPrestoResource":
        from smspresto_pipeline.resources import SMSPrestoResource

        return SMSPrestoResource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
