"""Dead send runs: noticed from the outbox and the orchestrator, and their rows settled.

A send run that dies (killed, its container or machine gone) leaves ``pending`` rows under its
``run_id``. Dagster's default run launcher cannot see a dead run worker: such a run stays
STARTED for ever. So a run owning ``pending`` rows is judged dead when

* the orchestrator says it is over (it failed, was canceled, or its launcher's run monitoring
  noticed the dead worker), or does not know it at all;
* or it is **silent**: none of its pending rows was written for ``silent_after`` (default
  :data:`DEFAULT_SILENT_AFTER`), whatever its status says. A live run writes at every batch
  (each is recorded as requested before its request, with the previous batch's mark), and a
  batch takes at most the client's timeouts and retries (minutes); silence longer than that
  is a dead worker.

Settling a dead run (one transaction, after checking that it wrote nothing since it was
judged): its rows never requested are **released** (``pending``, no run): provably never sent,
the campaign's next run adopts and sends them; its rows recorded as requested are marked
``ambiguous`` (their request may have left): never resent blindly, reconciliation resolves them
against the archive. A run wrongly judged silent loses nothing and sends nothing twice: its
rows that were requested stay its own to mark (``sent`` may follow ``ambiguous``), and those
it had not requested yet are no longer its own when their batch's turn comes.

Example:
    .. code-block:: python

        for dead in settle_dead_runs(outbox, status_of=lookup, campaign="welcome"):
            log.warning(dead.describe())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from smspresto_pipeline.sending.outbox import Outbox, PendingOwner
from smspresto_pipeline.storage.timestamps import utc_naive

__all__ = ["DEFAULT_SILENT_AFTER", "DeadRun", "RunStatus", "dead_owners", "settle_dead_runs"]

#: How long a run owning pending rows may write none of them before it is judged dead.
DEFAULT_SILENT_AFTER = timedelta(minutes=15)


@dataclasses.dataclass(frozen=True, slots=True)
class RunStatus:
    """A run as the orchestrator sees it.

    Attributes:
        over: the run has ended (succeeded, failed, canceled).
        label: how the orchestrator names its status (e.g. ``"STARTED"``, ``"FAILURE"``).
    """

    over: bool
    label: str


@dataclasses.dataclass(frozen=True, slots=True)
class DeadRun:
    """A dead run whose pending rows were settled.

    Attributes:
        campaign: the campaign.
        run_id: the run.
        why: why it was judged dead.
        released: its rows never requested, now released for a later run.
        quarantined: its rows recorded as requested, now ``ambiguous``.
    """

    campaign: str
    run_id: str
    why: str
    released: int
    quarantined: int

    def describe(self) -> str:
        """One sentence for a log, a skip reason or metadata."""
        return (
            f"send run {self.run_id} of campaign {self.campaign!r} {self.why}: "
            f"{self.released} rows it never requested were released for the next run, "
            f"{self.quarantined} rows whose request may have left were marked ambiguous "
            "(reconciled with the archive, never resent blindly)"
        )


def _why_dead(
    owner: PendingOwner, status: RunStatus | None, now: datetime, silent_after: timedelta
) -> str | None:
    """Why ``owner`` is dead, or None when it may still be running."""
    if status is None:
        return "is unknown to the orchestrator"
    if status.over:
        return f"ended ({status.label}) before recording all its answers"
    silent = now - owner.last_write
    if silent >= silent_after:
        minutes = silent.total_seconds() / 60
        return (
            f"has written nothing for {minutes:.0f} minutes although its status is "
            f"{status.label} (a worker that died without telling the orchestrator)"
        )
    return None


def dead_owners(
    outbox: Outbox,
    *,
    status_of: Callable[[str], RunStatus | None],
    campaign: str | None = None,
    now: datetime | None = None,
    silent_after: timedelta = DEFAULT_SILENT_AFTER,
    alive: Collection[str] = (),
) -> list[tuple[PendingOwner, str]]:
    """The runs owning ``pending`` rows that are dead, each with why, stalest first; nothing
    is written (:func:`settle_dead_runs` settles them; the alerts tell a person about them).
    The arguments are :func:`settle_dead_runs`'."""
    at = utc_naive(now)
    owners = [o for o in outbox.pending_owners(campaign) if o.run_id not in alive]
    return [
        (o, why)
        for o in owners
        if (why := _why_dead(o, status_of(o.run_id), at, silent_after)) is not None
    ]


def settle_dead_runs(
    outbox: Outbox,
    *,
    status_of: Callable[[str], RunStatus | None],
    campaign: str | None = None,
    now: datetime | None = None,
    silent_after: timedelta = DEFAULT_SILENT_AFTER,
    alive: Collection[str] = (),
) -> list[DeadRun]:
    """Find the dead runs owning ``pending`` rows and settle their rows (module docstring).

    Args:
        outbox: the outbox.
        status_of: the orchestrator's view of a run (None: it does not know the run).
        campaign: only this campaign's runs (None: every campaign).
        now: the time silence is measured to (default: now); the outbox's times are UTC.
        silent_after: how long a run may write none of its pending rows before it is dead.
        alive: runs known to be alive whatever they look like (the caller's own).

    Returns:
        The runs settled, stalest first.
    """
    at = utc_naive(now)
    found = dead_owners(
        outbox,
        status_of=status_of,
        campaign=campaign,
        now=at,
        silent_after=silent_after,
        alive=alive,
    )
    judged = {(o.campaign, o.run_id): (o, why) for o, why in found}
    if not judged:
        return []
    settled: list[DeadRun] = []
    with outbox.transaction() as session:
        for current in session.pending_owners(campaign):
            owner, why = judged.get((current.campaign, current.run_id), (None, ""))
            if owner is None or current.last_write != owner.last_write:
                continue  # not judged dead, or it wrote since: alive
            rows = [
                r
                for r in session.rows("pending", campaign=current.campaign)
                if r.run_id == current.run_id
            ]
            released = session.hand_over(
                current.campaign,
                [r.dedup_key for r in rows if r.requested_at is None],
                from_run=current.run_id,
                to_run=None,
                now=at,
            )
            quarantined = session.mark(
                current.campaign,
                [r.dedup_key for r in rows if r.requested_at is not None],
                "ambiguous",
                api_message=f"its run {why}: it may have been sent",
                now=at,
            )
            settled.append(
                DeadRun(current.campaign, current.run_id, why, len(released), len(quarantined))
            )
    return settled
