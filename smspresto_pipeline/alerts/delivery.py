"""Telling the events: each channel records them, settles what an earlier tick left, and tells
the waiting ones within its rate limit.

**Rate limit.** A channel attempts at most ``max_per_hour`` alerts in any hour (a rolling hour,
counted in the ledger by their first attempt). When more are waiting than the hour has room for,
one summary alert (key ``rate-limit:<channel>:<UTC hour>``, so at most one a clock hour) says
how many are held, and takes the last place; the held events stay ``waiting`` in the ledger and
are told, oldest first, as the hour makes room: never lost, never repeated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from smspresto_pipeline.alerts.channels import Channel
from smspresto_pipeline.alerts.ledger import AlertLedger, Delivery
from smspresto_pipeline.alerts.model import Alert
from smspresto_pipeline.wording import plural

__all__ = ["ChannelReport", "tell"]

_HOUR = timedelta(hours=1)
_SUMMARY_KIND = "rate-limit"


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelReport:
    """What one channel did in one tick.

    Attributes:
        channel: the channel's name.
        told: the event keys it attempted this tick, in order (a summary included).
        held: events left waiting for the hour to make room.
    """

    channel: str
    told: tuple[str, ...]
    held: int

    def describe(self) -> str:
        """One line for the sensor's tick."""
        held = f", {plural(self.held, 'alert')} held by the rate limit" if self.held else ""
        return f"{self.channel}: {plural(len(self.told), 'alert')} told{held}"


def _summary(channel: str, held: int, max_per_hour: int, now: datetime) -> Alert:
    return Alert(
        key=f"{_SUMMARY_KIND}:{channel}:{now:%Y-%m-%dT%H}",
        kind=_SUMMARY_KIND,
        what=f"{plural(held, 'more alert')} held by the limit of {max_per_hour} an hour on "
        f"the {channel} channel.",
        blocks="nothing: they follow, oldest first, as the hour makes room",
        resolve="see them all now in the UI: sensor smspresto_alerts, its latest tick",
    )


def _within_limit(
    ledger: AlertLedger, channel: str, max_per_hour: int, now: datetime
) -> tuple[list[Delivery], int]:
    """The waiting deliveries to tell now (a summary of the rest recorded and included when they
    do not all fit), and how many stay held."""
    waiting = ledger.in_state(channel, "waiting")
    room = max_per_hour - ledger.attempted_since(channel, now - _HOUR)
    if room <= 0 or len(waiting) <= room:
        return (waiting if room > 0 else []), max(len(waiting) - max(room, 0), 0)
    events = [d for d in waiting if d.kind != _SUMMARY_KIND]
    summary = _summary(channel, len(events) - (room - 1), max_per_hour, now)
    ledger.record(channel, [summary], now)
    summaries = [d for d in ledger.in_state(channel, "waiting") if d.event_key == summary.key]
    # This hour's summary already told: its place goes to one more event.
    chosen = events[: room - len(summaries)] + summaries
    return chosen, len(events) - (len(chosen) - len(summaries))


def tell(
    alerts: Sequence[Alert],
    channels: Sequence[Channel],
    ledger: AlertLedger,
    now: datetime,
    *,
    max_per_hour: int,
) -> list[ChannelReport]:
    """Record ``alerts`` on every channel and tell the waiting ones within the rate limit.

    Args:
        alerts: the events found this tick (those already recorded are left as they are).
        channels: the channels to tell them through.
        ledger: the warehouse's ledger.
        now: the tick's time (aware).
        max_per_hour: alerts a channel attempts in any hour at most, a summary included.

    Returns:
        One report per channel, in order.
    """
    reports = []
    for channel in channels:
        ledger.record(channel.name, alerts, now)
        channel.prepare(ledger, now)
        chosen, held = _within_limit(ledger, channel.name, max_per_hour, now)
        if chosen:
            channel.deliver(chosen, ledger, now)
        reports.append(ChannelReport(channel.name, tuple(d.event_key for d in chosen), held))
    return reports
