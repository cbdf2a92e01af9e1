"""Typed results of the SMS Presto API."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["ARCHIVE_FIELDS", "AccountCounters", "ArchiveRecord", "SendResult"]

#: The fields of one ``list-archive`` row, in the reference's order.
ARCHIVE_FIELDS: tuple[str, ...] = (
    "IDHISTORIQUE",
    "HIS_DESTINATAIRE",
    "HIS_MESSAGE",
    "HIS_STATUT",
    "HIS_NOMBRESMS",
    "HIS_DATEHEURECREA",
    "HIS_DATEHEUREENVOI",
    "IDDATEHEURE",
    "CPT_REF",
    "IDSMSFILATTENTE",
    "HIS_EXPEDITEUR",
    "NOMCONTACT",
)


@dataclasses.dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of a send: what the API said, summed over the batches it took.

    Attributes:
        message_count: the API's ``message-count`` summed over batches.
        api_message: the API's ``message`` of the last batch.
        recipients: the E.164 numbers sent to, in order, without duplicates.
        batches: how many requests the send took.
    """

    message_count: int
    api_message: str
    recipients: tuple[str, ...]
    batches: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class AccountCounters:
    """The ten account counters, read at ``taken_at``."""

    stock: int
    sent: int
    success: int
    failed: int
    contacts: int
    groups: int
    orders: int
    bills: int
    scheduled: int
    predefined: int
    taken_at: datetime

    def as_dict(self) -> dict[str, int]:
        """The ten counters by name, without the time."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "taken_at"
        }


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _parse_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ArchiveRecord:
    """One row of ``list-archive``: a thin typed view over the API's verbatim fields.

    The raw mapping is kept as the API sent it (``raw``), so nothing is lost; the typed
    properties parse on access, which keeps paging through large archives cheap.

    Example:
        >>> r = ArchiveRecord({"IDHISTORIQUE": "1", "HIS_NOMBRESMS": "2"})
        >>> r.history_id, r.segments
        (1, 2)
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"ArchiveRecord(history_id={self.raw.get('IDHISTORIQUE')!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArchiveRecord) and dict(self.raw) == dict(other.raw)

    def __hash__(self) -> int:
        return hash(self.raw.get("IDHISTORIQUE"))

    def _text(self, field: str) -> str | None:
        value = self.raw.get(field)
        return None if value is None else str(value)

    @property
    def history_id(self) -> int:
        """``IDHISTORIQUE``: the message's unique id in the account's history."""
        return int(self.raw["IDHISTORIQUE"])

    @property
    def recipient(self) -> str:
        """``HIS_DESTINATAIRE`` verbatim (not normalised: old numbers stay as they were)."""
        return str(self.raw.get("HIS_DESTINATAIRE") or "")

    @property
    def sender(self) -> str | None:
        """``HIS_EXPEDITEUR``."""
        return self._text("HIS_EXPEDITEUR")

    @property
    def message(self) -> str:
        """``HIS_MESSAGE``."""
        return str(self.raw.get("HIS_MESSAGE") or "")

    @property
    def status_code(self) -> str | None:
        """``HIS_STATUT`` verbatim; its meaning is configured, not documented."""
        return self._text("HIS_STATUT")

    @property
    def segments(self) -> int | None:
        """``HIS_NOMBRESMS``: the number of billed segments."""
        return _parse_int(self.raw.get("HIS_NOMBRESMS"))

    @property
    def created_at(self) -> datetime | None:
        """``HIS_DATEHEURECREA`` in the account's time zone (naive)."""
        return _parse_time(self.raw.get("HIS_DATEHEURECREA"))

    @property
    def sent_at(self) -> datetime | None:
        """``HIS_DATEHEUREENVOI`` in the account's time zone (naive)."""
        return _parse_time(self.raw.get("HIS_DATEHEUREENVOI"))

    @property
    def queued_at(self) -> datetime | None:
        """``IDDATEHEURE`` in the account's time zone (naive)."""
        return _parse_time(self.raw.get("IDDATEHEURE"))

    @property
    def account_ref(self) -> str | None:
        """``CPT_REF``."""
        return self._text("CPT_REF")

    @property
    def queue_id(self) -> str | None:
        """``IDSMSFILATTENTE``."""
        return self._text("IDSMSFILATTENTE")

    @property
    def contact_name(self) -> str | None:
        """``NOMCONTACT``."""
        return self._text("NOMCONTACT")
