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
import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Generic, TypeVar

from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.timing import is_expired
from smspresto_pipeline.warehouse.outbox import OutboxMessage, OutboxRow

__all__ = [
    "VOLUME_HISTORY",
    "VOLUME_MIN_HISTORY",
    "BatchPlan",
    "batch_limit",
    "plan_batch",
    "split_expired",
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
    campaign: Campaign, held: Sequence[OutboxRow], now: datetime
) -> tuple[list[OutboxRow], list[OutboxRow]]:
    """``held`` rows as (still valid, expired by ``now``), each in the order given.

    A held row's validity counts from its claim (``created_at``, naive UTC): when the row was
    first selected.
    """
    valid: list[OutboxRow] = []
    expired: list[OutboxRow] = []
    for row in held:
        selected = row.created_at.replace(tzinfo=UTC)
        (expired if is_expired(campaign, selected, now) else valid).append(row)
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
