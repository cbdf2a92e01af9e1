"""The alerts' ledger: table ``smspresto.alert_deliveries``, one row per (channel, event).

An event is recorded ``waiting`` for every channel the first tick it is seen; a channel then
moves it along (``sending``, ``delivered``, ``failed``, ``ambiguous``: the DDL says what each
means). The row's unique (channel, event_key) makes an event told once per channel, whatever
the ticks and processes, and keeps the events the rate limit holds until their turn (a sensor's
cursor is lost when the sensor is reset; this table is not).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import pyarrow as pa

from smspresto_pipeline.alerts.model import Alert
from smspresto_pipeline.storage import HasDatabase
from smspresto_pipeline.storage.timestamps import utc_naive

__all__ = ["AlertLedger", "Delivery", "DeliveryState"]

DeliveryState = Literal["waiting", "sending", "delivered", "failed", "ambiguous"]


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One event to tell on one channel, as the ledger holds it (times naive UTC)."""

    event_key: str
    kind: str
    short_text: str
    long_text: str
    state: DeliveryState
    detail: str | None
    created_at: datetime
    attempted_at: datetime | None


class AlertLedger:
    """Reads and writes of ``smspresto.alert_deliveries`` in a warehouse.

    Args:
        warehouse: the warehouse (anything with a ``database``).
    """

    def __init__(self, warehouse: HasDatabase) -> None:
        self.database = warehouse.database

    def record(self, channel: str, alerts: Sequence[Alert], now: datetime) -> None:
        """Record ``alerts`` as ``waiting`` on ``channel``; an event already there is left."""
        if not alerts:
            return
        table = pa.table(
            {
                "event_key": [a.key for a in alerts],
                "kind": [a.kind for a in alerts],
                "short_text": [a.sms_text() for a in alerts],
                "long_text": [a.webhook_text() for a in alerts],
            }
        )
        params = {"channel": channel, "now": utc_naive(now)}
        with self.database.transaction() as session, session.load_arrow("new_alerts", table):
            session.execute("alerts/insert_alert_deliveries.sql", params)

    def in_state(self, channel: str, state: DeliveryState) -> list[Delivery]:
        """The deliveries of ``channel`` in ``state``, oldest first."""
        if not self.database.exists():
            return []
        with self.database.reading() as session:
            rows = session.fetch_all(
                "alerts/select_alert_deliveries.sql", {"channel": channel, "state": state}
            )
        return [Delivery(*row) for row in rows]

    def attempted_since(self, channel: str, since: datetime) -> int:
        """Alerts ``channel`` attempted since ``since``: what its rate limit counts."""
        if not self.database.exists():
            return 0
        with self.database.reading() as session:
            rows = session.fetch_all(
                "alerts/count_alert_deliveries_attempted.sql",
                {"channel": channel, "since": utc_naive(since)},
            )
        return int(rows[0][0])

    def move(
        self,
        channel: str,
        event_key: str,
        *,
        from_state: DeliveryState,
        state: DeliveryState,
        now: datetime,
        detail: str | None = None,
    ) -> None:
        """Move one delivery from ``from_state`` to ``state`` (its first attempt's time kept)."""
        params = {
            "channel": channel,
            "event_key": event_key,
            "from_state": from_state,
            "state": state,
            "detail": detail,
            "now": utc_naive(now),
        }
        with self.database.transaction() as session:
            session.execute("alerts/update_alert_delivery.sql", params)
