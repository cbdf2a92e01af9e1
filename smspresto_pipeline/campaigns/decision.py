"""A campaign's one decision: from plain facts to a verdict, without I/O, clock or Dagster.

The sensor, the send job and a dry run all ask :func:`decide` (docs/architecture.md §2, a
campaign row's way). Its inputs are values:

* the rows the campaign's query returns, prepared (:class:`~.prepare.PreparedBatch`), and
  sorted against the outbox and the opt-outs by :func:`sort_rows` (:class:`Found`);
* what the warehouse says, read in one snapshot
  (:class:`~smspresto_pipeline.sending.campaign_snapshot.CampaignSnapshot`);
* the time ``now`` (aware), the campaign, and the run's :class:`RunOptions`.

The guards, in their order, and the verdict each gives:

1. **circuit breaker** tripped: :class:`Paused` (a sensor skips; a job fails, unless a dry run
   or told ``ignore_circuit_breaker``, which go on and say so);
2. **first activation** (no activation row, no outbox row) unless
   ``send_on_first_activation``: :class:`Baseline`, every row the query returns, never sent;
3. **volume breaker**: more new rows than :func:`~.guards.volume_threshold`: :class:`Refused`
   (a sensor; a job not confirming with ``confirm_volume``, or confirming alone rows that
   would expire); a confirmed job goes on with a :class:`ConfirmedSurge`; a dry run goes on,
   the surge seen;
4. **quiet hours**: :class:`Hold` (the new rows are held, nothing sent);
5. otherwise :class:`Send`: held rows past ``validity_seconds`` expire; held rows (oldest
   first) then new ones fill the batch up to ``max_per_run`` and what ``max_per_day`` has left;
   a number over its **frequency cap** is capped (skipped for good); the rest waits.

Example:
    >>> import pyarrow as pa
    >>> from datetime import UTC, datetime
    >>> from smspresto_pipeline.campaigns.model import Campaign
    >>> from smspresto_pipeline.campaigns.prepare import prepare_batch
    >>> from smspresto_pipeline.sending.campaign_snapshot import CampaignSnapshot
    >>> campaign = Campaign(name="c", sql="select 1", template="Hi", sender="Shop")
    >>> batch = prepare_batch(campaign, pa.table({"recipient": ["0708081488"],
    ...                                           "dedup_key": ["a"]}))
    >>> facts = CampaignSnapshot("c", activated=True)
    >>> verdict = decide(campaign, sort_rows(batch, facts), facts,
    ...                  datetime(2025, 3, 6, 12, tzinfo=UTC), RunOptions())
    >>> [m.dedup_key for m in verdict.plan.send]
    ['a']
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Literal

from smspresto_pipeline.campaigns.guards import (
    BatchPlan,
    SurgeOutlook,
    SurgeRest,
    batch_limit,
    plan_batch,
    split_expired,
    surge_outlook,
    volume_threshold,
)
from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.names import DAGSTER_RESUME_HINT
from smspresto_pipeline.campaigns.prepare import PreparedBatch, PreparedMessage, SkippedRow
from smspresto_pipeline.campaigns.timing import day_start, in_quiet_hours
from smspresto_pipeline.sending.breaker import BreakerState
from smspresto_pipeline.sending.campaign_snapshot import CampaignSnapshot
from smspresto_pipeline.sending.outbox import OutboxMessage, OutboxRow

__all__ = [
    "Baseline",
    "ConfirmedSurge",
    "Found",
    "Hold",
    "Paused",
    "Refused",
    "RunOptions",
    "Send",
    "Trigger",
    "Verdict",
    "baseline_rows",
    "breaker_verdict",
    "decide",
    "recordable",
    "snapshot_window",
    "sort_rows",
]

#: Who asks: a sensor's evaluation (it never sends, it requests a run) or a send job's run.
Trigger = Literal["sensor", "job"]

#: Skip reasons whose rows cannot be recorded under their own key (none, or the key of an
#: earlier row of the batch): they are counted, never claimed.
_UNRECORDABLE = frozenset({"missing_dedup_key", "duplicate_dedup_key"})


@dataclasses.dataclass(frozen=True, slots=True)
class RunOptions:
    """How an evaluation was asked for.

    Attributes:
        trigger: ``"sensor"`` or ``"job"``.
        wanted: the keys a job was given to send (None: every row, as a manual launch).
        confirm_volume: a job confirms a batch the volume breaker stopped.
        surge_rest: with ``confirm_volume``, what becomes of the rows its first batch leaves.
        ignore_circuit_breaker: a job sends although the breaker is tripped.
    """

    trigger: Trigger = "job"
    wanted: frozenset[str] | None = None
    confirm_volume: bool = False
    surge_rest: SurgeRest | None = None
    ignore_circuit_breaker: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """The query's rows sorted against the outbox and the opt-outs (:func:`sort_rows`).

    Attributes:
        batch: the prepared query result (every row).
        new: sendable messages not in the outbox yet, opted-out numbers left out.
        opted_out: sendable messages not in the outbox yet, to opted-out numbers.
        skipped: invalid rows not in the outbox yet that can be recorded under their own key.
        held: the campaign's held rows (of the keys chosen, if any), numbers not opted out.
        opted_held: its held rows (of the keys chosen) whose number opted out since.
    """

    batch: PreparedBatch
    new: tuple[PreparedMessage, ...] = ()
    opted_out: tuple[PreparedMessage, ...] = ()
    skipped: tuple[SkippedRow, ...] = ()
    held: tuple[OutboxRow, ...] = ()
    opted_held: tuple[OutboxRow, ...] = ()

    @property
    def selected(self) -> int:
        """The rows a run selected: new, opted out, skipped and held."""
        return (
            len(self.new)
            + len(self.opted_out)
            + len(self.skipped)
            + len(self.held)
            + len(self.opted_held)
        )

    def skipped_by_reason(self) -> dict[str, int]:
        """How many rows are skipped for each reason (the invalid ones, then opted out)."""
        reasons = dict(collections.Counter(str(r.reason) for r in self.skipped))
        if self.opted_out:
            reasons["opted_out"] = len(self.opted_out)
        return reasons


def recordable(rows: Collection[SkippedRow]) -> list[SkippedRow]:
    """The skipped rows that can be recorded under a key of their own."""
    return [r for r in rows if r.dedup_key is not None and r.reason not in _UNRECORDABLE]


def sort_rows(
    batch: PreparedBatch, snapshot: CampaignSnapshot, wanted: Collection[str] | None = None
) -> Found:
    """Keep the rows the outbox does not hold yet (only ``wanted`` keys, if given), and split
    them, and the held rows, by whether their number opted out."""
    messages = [m for m in batch.messages if m.dedup_key not in snapshot.existing_keys]
    skipped = [r for r in recordable(batch.skipped) if r.dedup_key not in snapshot.existing_keys]
    held = list(snapshot.held)
    if wanted is not None:
        messages = [m for m in messages if m.dedup_key in wanted]
        skipped = [r for r in skipped if r.dedup_key in wanted]
        held = [r for r in held if r.dedup_key in wanted]
    opted = snapshot.opted_out
    return Found(
        batch=batch,
        new=tuple(m for m in messages if m.recipient not in opted),
        opted_out=tuple(m for m in messages if m.recipient in opted),
        skipped=tuple(skipped),
        held=tuple(r for r in held if r.recipient not in opted),
        opted_held=tuple(r for r in held if r.recipient in opted),
    )


def snapshot_window(campaign: Campaign, now: datetime) -> tuple[datetime, datetime | None]:
    """The times the snapshot counts from: the daily cap's day start, and the frequency cap's
    window start (None: no frequency cap)."""
    cap = campaign.frequency_cap
    since = None if cap is None else now - timedelta(seconds=cap.window_seconds)
    return day_start(campaign, now), since


def baseline_rows(campaign: Campaign, batch: PreparedBatch) -> list[OutboxMessage]:
    """Every row the query returns now, as a first activation records it (whatever keys a run
    was given: recording only some would leave the others new, and the next tick sends them)."""
    rows: list[OutboxMessage] = list(batch.messages)
    rows += [skipped_message(campaign, r) for r in recordable(batch.skipped)]
    return rows


def skipped_message(campaign: Campaign, row: SkippedRow) -> OutboxMessage:
    """An outbox record of a skipped row (it has a key of its own)."""
    return OutboxMessage(
        campaign.name, row.dedup_key or "", row.recipient or "", campaign.sender, "", 0, "GSM-7"
    )


# --- the verdicts ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Paused:
    """The circuit breaker is tripped: nothing is claimed or sent."""

    breaker: BreakerState


@dataclasses.dataclass(frozen=True, slots=True)
class Baseline:
    """The campaign's first activation: ``rows`` are recorded ``baseline``, never sent."""

    rows: tuple[OutboxMessage, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Refused:
    """The volume breaker stopped a surge: nothing is claimed or sent.

    Attributes:
        outlook: what a confirmation would do with the rows.
        threshold: the volume breaker's threshold.
        rest_asked: the run confirmed the surge, but alone, and rows would expire: it must
            say what becomes of them (``surge_rest``).
    """

    outlook: SurgeOutlook
    threshold: int
    rest_asked: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ConfirmedSurge:
    """A surge a run confirms: what becomes of its rest, and its figures."""

    rest: SurgeRest
    found: int
    threshold: int


@dataclasses.dataclass(frozen=True, slots=True)
class Hold:
    """Quiet hours: the new rows are held (a confirmed surge's as it says), nothing is sent.

    Attributes:
        found: the rows found.
        threshold: the volume breaker's threshold (None: it does not apply).
        surge: the surge a run confirmed, if any.
        surge_seen: a surge a dry run looks at (it does not stop a dry run).
        paused: the breaker's description when a job goes on although it is tripped.
    """

    found: Found
    threshold: int | None = None
    surge: ConfirmedSurge | None = None
    surge_seen: SurgeOutlook | None = None
    paused: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Send:
    """A batch to send (a sensor requests a run for it; a job claims and sends it).

    Attributes:
        found, threshold, surge, surge_seen, paused: as :class:`Hold`'s.
        plan: the candidates (held rows still valid, oldest first, then new rows) split into
            sent now, over the frequency cap, and waiting for the caps.
        held_keys: the keys of the held rows among the candidates.
        expired: the held rows past ``validity_seconds``.
        sent_today: what the campaign tried to send today (its time zone's day).
        limit: the batch's size: ``max_per_run`` and what is left of ``max_per_day``.
        released: the campaign's ``pending`` rows no run owns, to adopt (none in a dry run).
    """

    found: Found
    plan: BatchPlan[PreparedMessage]
    held_keys: frozenset[str] = frozenset()
    expired: tuple[OutboxRow, ...] = ()
    sent_today: int = 0
    limit: int = 0
    released: tuple[OutboxRow, ...] = ()
    threshold: int | None = None
    surge: ConfirmedSurge | None = None
    surge_seen: SurgeOutlook | None = None
    paused: str | None = None

    def chosen_keys(self) -> list[str]:
        """The keys a sensor hands its run: the batch, the rows over the frequency cap and the
        opted-out or invalid ones (to record as skipped), and the released rows."""
        chosen = [m.dedup_key for m in (*self.plan.send, *self.plan.capped)]
        chosen += [r.dedup_key for r in self.found.opted_held]
        chosen += [str(r.dedup_key) for r in self.found.skipped]
        chosen += [r.dedup_key for r in self.released]
        return chosen


Verdict = Paused | Baseline | Refused | Hold | Send


def breaker_verdict(
    campaign: Campaign, breaker: BreakerState, options: RunOptions
) -> Paused | None:
    """:class:`Paused` when the breaker stops this evaluation: a sensor's always, a job's
    unless it is a dry run or told to ignore the breaker."""
    if not breaker.tripped:
        return None
    if options.trigger == "job" and (campaign.dry_run or options.ignore_circuit_breaker):
        return None
    return Paused(breaker)


def decide(
    campaign: Campaign,
    found: Found,
    snapshot: CampaignSnapshot,
    now: datetime,
    options: RunOptions,
) -> Verdict:
    """The verdict on ``found`` at ``now`` (module docstring): no I/O.

    Args:
        campaign: the campaign (its guards, and ``dry_run``).
        found: the query's rows sorted against the snapshot (:func:`sort_rows`).
        snapshot: what the warehouse says (read for :func:`snapshot_window`'s times).
        now: the time (aware): quiet hours, validity, the caps' day and window.
        options: who asks, and how.
    """
    paused = breaker_verdict(campaign, snapshot.breaker, options)
    if paused is not None:
        return paused
    first = not snapshot.activated
    if first and not campaign.send_on_first_activation:
        return Baseline(tuple(baseline_rows(campaign, found.batch)))
    # No breaker on the first activation of a campaign told to send on it: the user said to.
    threshold = None if first else volume_threshold(campaign, snapshot.run_sizes)
    surge: ConfirmedSurge | None = None
    seen: SurgeOutlook | None = None
    if threshold is not None and len(found.new) > threshold:
        outlook = surge_outlook(campaign, len(found.new), sent_today=snapshot.sent_today, now=now)
        if options.trigger == "job" and campaign.dry_run:
            seen = outlook  # how one looks at a surge before confirming it
        elif options.trigger == "sensor" or not options.confirm_volume:
            return Refused(outlook, threshold)
        elif options.surge_rest is None and outlook.expire:
            return Refused(outlook, threshold, rest_asked=True)
        else:
            # Alone, with nothing that would expire: the rest is sent as the caps allow.
            surge = ConfirmedSurge(options.surge_rest or SurgeRest.expire, outlook.rows, threshold)
    tripped = snapshot.breaker.describe(DAGSTER_RESUME_HINT) if snapshot.breaker.tripped else None
    if in_quiet_hours(campaign, now):
        return Hold(found, threshold, surge, seen, tripped)
    valid, expired = split_expired(campaign, found.held, now, kept_runs=snapshot.kept_surge_runs)
    limit = batch_limit(campaign, snapshot.sent_today)
    cap = campaign.frequency_cap
    plan = plan_batch(
        [_as_prepared(r) for r in valid] + list(found.new),
        limit=limit,
        max_messages=None if cap is None else cap.max_messages,
        recent=snapshot.recent,
    )
    return Send(
        found=found,
        plan=plan,
        held_keys=frozenset(r.dedup_key for r in valid),
        expired=tuple(expired),
        sent_today=snapshot.sent_today,
        limit=limit,
        released=() if campaign.dry_run else snapshot.released,
        threshold=threshold,
        surge=surge,
        surge_seen=seen,
        paused=tripped,
    )


def _as_prepared(row: OutboxRow) -> PreparedMessage:
    """A held row's message, as recorded when it was first selected."""
    return PreparedMessage(*(getattr(row, f.name) for f in dataclasses.fields(OutboxMessage)))
