"""Talking to SMS Presto: the clients, the API's records, paging and redaction. No Dagster.

One core (:mod:`~smspresto_pipeline.api.core`) makes every decision; the sync and async clients
(:mod:`~smspresto_pipeline.api.client`) only do the I/O. :mod:`~smspresto_pipeline.api.paging`
walks ``list-archive`` under either reading of its ``from``/``to``, and
:mod:`~smspresto_pipeline.api.redaction` keeps the credentials out of every text we produce.
"""

from smspresto_pipeline.api.client import AsyncSMSPrestoClient, SMSPrestoClient
from smspresto_pipeline.api.core import DEFAULT_BASE_URL, USER_AGENT
from smspresto_pipeline.api.models import (
    ARCHIVE_FIELDS,
    AccountCounters,
    ArchiveRecord,
    SendResult,
)

__all__ = [
    "ARCHIVE_FIELDS",
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "AccountCounters",
    "ArchiveRecord",
    "AsyncSMSPrestoClient",
    "SMSPrestoClient",
    "SendResult",
]
