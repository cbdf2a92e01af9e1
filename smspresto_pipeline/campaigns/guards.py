"""The guards' decisions, as plain functions: no I/O, no clock, no Dagster.

The sensor and the send job read the outbox, then ask these what to do:

* :func:`volume_threshold`: the volume breaker. The campaign's *usual* batch is the median of
  its last :data:`VOLUME_HISTORY` send runs' batches (what each run claimed to send); with
  fewer than :data:`VOLUME_MIN_HISTORY` runs it is ``volume_breaker_min_rows``. More new rows
  than ``max(volume_breaker_min_rows, volume_breaker_factor * usual)`` stop for confirmation.
* :func:`split_expired`: held rows still valid, and those past ``validity_seconds`` since
  they were first selected (their claim).
* :func:`batch_limit`: the most messages the next batch may take, ``max_per_run`` and what is
  left of ``max_per_day``.
* :func:`plan_batch`: the candidates in order, split into those sent now, those over the
  frequency cap (skipped, for good) and those left waiting for a later batch.
* :func:`surge_outlook`: what confirming a surge does with its rows under the caps: the first
  run's batch, and for the rest (held), what the caps send before it expires, what expires,
  and on which day the last would go if it never expired (:class:`SurgeRest` names the three
  choices a confirmation makes for the rest).

Example:
    >>> from smspresto_pipeline.campaigns.model import Campaign
    >>> campaign = Campaign(name="c", sql="select 1", template="Hi", sender="Shop",
    ...                     volume_breaker_min_rows=10, volume_breaker_factor=3)
    >>> volume_threshold(campaign, [20, 40, 30])
    90
    >>> volume_threshold(campaign, [20, 40])  # too little history: 3 x the floor
    30
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.timing import (
    expires_at,
    in_quiet_hours,
    is_expired,
    next_day_start,
    next_send_time,
)
from smspresto_pipeline.sending.outbox import OutboxMessage, OutboxRow

__all__ = [
    "VOLUME_HISTORY",
    "VOLUME_MIN_HISTORY",
    "BatchPlan",
    "SurgeOutlook",
    "SurgeRest",
    "batch_limit",
    "plan_batch",
    "split_expired",
    "surge_outlook",
    "volume_threshold",
]

#: How many of the campaign's latest send runs make its usual batch.
VOLUME_HISTORY = 10
#: Fewer earlier runs than this: the usual batch is ``volume_breaker_min_rows``.
VOLUME_MIN_HISTORY = 3

M = TypeVar("M", bound=OutboxMessage)


def volume_threshold(campaign: Campaign, run_sizes: Sequence[int]) -> int | None:
    """The most new rows a batch may find without stopping for confirmation.

    Args:
        campaign: its ``volume_breaker_factor`` (``None``: no breaker, and ``None`` returned)
            and ``volume_breaker_min_rows``.
        run_sizes: the rows each earlier send run claimed to send, newest first (only the
            first :data:`VOLUME_HISTORY` are read).
    """
    factor = campaign.volume_breaker_factor
    if factor is None:
        return None
    floor = campaign.volume_breaker_min_rows
    recent = list(run_sizes[:VOLUME_HISTORY])
    usual = statistics.median(recent) if len(recent) >= VOLUME_MIN_HISTORY else floor
    return max(floor, math.floor(factor * usual))


def split_expired(
    campaign: Campaign,
    held: Sequence[OutboxRow],
    now: datetime,
    *,
    kept_runs: Collection[str] = (),
) -> tuple[list[OutboxRow], list[OutboxRow]]:
    """``held`` rows as (still valid, expired by ``now``), each in the order given.

    A held row's validity counts from its claim (``created_at``, naive UTC): when the row was
    first selected. The rows held by one of ``kept_runs`` (runs that confirmed a surge with
    :attr:`SurgeRest.keep`) never expire.
    """
    valid: list[OutboxRow] = []
    expired: list[OutboxRow] = []
    for row in held:
        selected = row.created_at.replace(tzinfo=UTC)
        kept = row.run_id is not None and row.run_id in kept_runs
        (expired if not kept and is_expired(campaign, selected, now) else valid).append(row)
    return valid, expired


def batch_limit(campaign: Campaign, sent_today: int) -> int:
    """How many messages the next batch may send: ``max_per_run``, or what the day has left
    of ``max_per_day`` after ``sent_today`` (0 when the daily cap is reached)."""
    return max(0, min(campaign.max_per_run, campaign.max_per_day - sent_today))


@dataclasses.dataclass(frozen=True, slots=True)
class BatchPlan(Generic[M]):
    """What :func:`plan_batch` decided, each part in the candidates' order.

    Attributes:
        send: sent now (at most the limit).
        capped: over the frequency cap: skipped for good (``frequency_cap``).
        waiting: left for a later batch (the per-run or per-day cap): not decided yet.
    """

    send: tuple[M, ...] = ()
    capped: tuple[M, ...] = ()
    waiting: tuple[M, ...] = ()


def plan_batch(
    candidates: Sequence[M],
    *,
    limit: int,
    max_messages: int | None = None,
    recent: Mapping[str, int] | None = None,
) -> BatchPlan[M]:
    """Walk ``candidates`` in order, taking up to ``limit`` to send.

    A candidate whose recipient already had ``max_messages`` messages in the frequency cap's
    window (``recent``, plus the candidates taken before it) is capped and takes no place in
    the batch; once the batch is full, the rest wait, their cap undecided (the window moves).

    Args:
        candidates: held rows first (oldest first), then new rows.
        limit: the batch's size (:func:`batch_limit`).
        max_messages: the frequency cap's ``max_messages`` (``None``: no cap).
        recent: the messages each recipient had in the cap's window, all campaigns counted.
    """
    counts: collections.Counter[str] = collections.Counter(recent or {})
    send: list[M] = []
    capped: list[M] = []
    for index, message in enumerate(candidates):
        if len(send) >= limit:
            return BatchPlan(tuple(send), tuple(capped), tuple(candidates[index:]))
        if max_messages is not None and counts[message.recipient] >= max_messages:
            capped.append(message)
            continue
        counts[message.recipient] += 1
        send.append(message)
    return BatchPlan(tuple(send), tuple(capped))


class SurgeRest(enum.Enum):
    """What a confirmed surge does with the rows its first run does not send (held, for the
    next runs). The members' names are the run config's values."""

    #: The next runs send what the caps allow before validity_seconds (from the claim) runs
    #: out; the rest expires unsent, as any held row.
    expire = "expire"
    #: The held rows never expire: the next runs send them all, within max_per_run, max_per_day
    #: and the quiet hours, however many days that takes.
    keep = "keep"
    #: The rest is recorded ``skipped`` (``surge_dropped``) at once and never sent.
    drop = "drop"


@dataclasses.dataclass(frozen=True, slots=True)
class SurgeOutlook:
    """What confirming a surge of ``rows`` new rows does with them (:func:`surge_outlook`).

    Attributes:
        rows: the new rows found.
        day_left: what today's ``max_per_day`` has left before the confirmed run.
        quiet: the confirmed run falls in quiet hours (it holds every row, sends none).
        first_run: what the confirmed run sends (``max_per_run`` and ``day_left`` applied).
        held: the rest, held for the next runs.
        before_expiry: of ``held``, the most the caps let go before it expires.
        expire: of ``held``, what expires unsent (:attr:`SurgeRest.expire`).
        expires_at: when the held rows expire (``validity_seconds`` after the claim).
        last_day: the day (campaign's zone) the caps send the last held row if it never
            expires (:attr:`SurgeRest.keep`).
    """

    rows: int
    day_left: int
    quiet: bool
    first_run: int
    held: int
    before_expiry: int
    expire: int
    expires_at: datetime
    last_day: date


def surge_outlook(campaign: Campaign, rows: int, *, sent_today: int, now: datetime) -> SurgeOutlook:
    """What a run confirming ``rows`` new rows at ``now`` sends and holds, and what the caps
    make of the held rest.

    Each day of the campaign's time zone sends at most ``max_per_day`` (today: what
    ``sent_today`` and the first run leave), and only outside quiet hours: a day whose part of
    the span is quiet throughout sends nothing. The figures are the caps' ceiling: a frequency
    cap, or runs further apart than the caps need, send less; and the held rows go out only
    through runs (the sensor's, or launched).

    Example:
        >>> from datetime import datetime, timezone
        >>> campaign = Campaign(name="c", sql="select 1", template="Hi", sender="Shop")
        >>> outlook = surge_outlook(campaign, 60_000, sent_today=0,
        ...                         now=datetime(2025, 3, 6, 14, tzinfo=timezone.utc))
        >>> outlook.first_run, outlook.before_expiry, outlook.expire, outlook.last_day
        (1000, 19000, 40000, datetime.date(2025, 3, 11))
    """
    day_left = max(0, campaign.max_per_day - sent_today)
    quiet = in_quiet_hours(campaign, now)
    first = 0 if quiet else min(rows, campaign.max_per_run, day_left)
    held = rows - first
    until = expires_at(campaign, now)
    before_expiry, remaining = 0, held
    last_day = now.astimezone(campaign.zone).date()
    # The days the held rows are valid in (validity_seconds is at most 30 days), one by one.
    start, cap = now, day_left - first
    while start < until:
        end = next_day_start(campaign, start)
        if _sends(campaign, start, min(end, until)):
            before_expiry += cap
        if remaining > 0 and cap and _sends(campaign, start, end):
            remaining -= cap
            last_day = start.astimezone(campaign.zone).date()
        start, cap = end, campaign.max_per_day
    if remaining > 0:
        # Past the validity, every day has time outside the quiet hours (the window is shorter
        # than a day) and sends max_per_day.
        days = math.ceil(remaining / campaign.max_per_day)
        last_day = start.astimezone(campaign.zone).date() + timedelta(days=days - 1)
    before_expiry = min(held, before_expiry)
    return SurgeOutlook(
        rows=rows,
        day_left=day_left,
        quiet=quiet,
        first_run=first,
        held=held,
        before_expiry=before_expiry,
        expire=held - before_expiry,
        expires_at=until,
        last_day=last_day,
    )


def _sends(campaign: Campaign, start: datetime, end: datetime) -> bool:
    """Whether the campaign may send at some instant between ``start`` and ``end``."""
    return next_send_time(campaign, start) < end
