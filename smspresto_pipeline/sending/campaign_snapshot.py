"""What a campaign's decision reads from the warehouse, read at once in one session.

The campaign engine (:mod:`smspresto_pipeline.campaigns.engine`) decides without I/O from
plain facts: this module gathers them in one read, one transaction (the caller's session of the
storage port: a sensor's read-only one, or the send run's write transaction, whose claims then
follow a snapshot no other writer can change). Rather than a question to storage per guard, one
:func:`read_campaign_snapshot` returns a frozen :class:`CampaignSnapshot`: the circuit breaker,
the activation, which of the query's keys the outbox already holds, the opt-outs, the held,
released and pending rows, the run sizes behind the volume breaker, the day's sends behind the
daily cap, the surges kept, the frequency cap's counts.

:func:`read_gate` is the smaller read taken before the campaign's query runs: the breaker (a
paused campaign runs no query), the tables of the schema (a file without them gets them first)
and whether the campaign has ``ambiguous`` rows to reconcile.

Example:
    >>> import tempfile, pathlib
    >>> from datetime import UTC, datetime
    >>> from smspresto_pipeline.warehouse import Warehouse
    >>> store = Warehouse(pathlib.Path(tempfile.mkdtemp()) / "w.duckdb")
    >>> store.ensure_schema()
    >>> with store.database.reading() as session:
    ...     facts = read_campaign_snapshot(session, "welcome", keys=["a"], recipients=[],
    ...                                    day_start=datetime(2025, 3, 6, tzinfo=UTC))
    >>> facts.activated, facts.breaker.tripped, facts.sent_today
    (False, False, 0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime

from smspresto_pipeline.sending.activations import is_activated_on
from smspresto_pipeline.sending.breaker import BreakerState, breaker_state_on
from smspresto_pipeline.sending.opt_outs import opted_out_on
from smspresto_pipeline.sending.outbox import OutboxRow, OutboxSession, PendingOwner
from smspresto_pipeline.storage import Session

__all__ = [
    "CampaignGate",
    "CampaignSnapshot",
    "read_campaign_snapshot",
    "read_gate",
]

#: The surge choice whose held rows never expire (``SurgeRest.keep`` of the campaigns).
_KEEP = "keep"


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignGate:
    """What is read before a campaign's query runs (:func:`read_gate`).

    Attributes:
        breaker: the circuit breaker now.
        tables: the tables of the ``smspresto`` schema in the file.
        has_ambiguous: the campaign has ``ambiguous`` rows (reconciliation has work).
    """

    breaker: BreakerState
    tables: frozenset[str]
    has_ambiguous: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignSnapshot:
    """What the outbox, the opt-outs, the activations and the breaker say about one campaign,
    read in one transaction (:func:`read_campaign_snapshot`). Times are naive UTC.

    Attributes:
        campaign: the campaign's name.
        breaker: the circuit breaker.
        activated: the campaign has an activation row or any outbox row.
        existing_keys: the keys asked about that already have an outbox row (any state).
        opted_out: the numbers asked about, and those of the held rows, that opted out.
        held: the campaign's ``held`` rows, oldest first.
        released: its ``pending`` rows no run owns, oldest first.
        pending_owners: the runs owning its ``pending`` rows, stalest first.
        run_sizes: what its latest send runs claimed to send, newest first.
        sent_today: the messages it tried to send since the day's start (the daily cap).
        kept_surge_runs: the runs that confirmed a surge saying ``keep`` (their held rows
            never expire).
        surge_held: the campaign has an open surge held for confirmation (its sensor ends it
            when it no longer holds one).
        recent: for the frequency cap, the messages each number asked about (and each held
            row's) had since the cap's window opened, every campaign counted; empty when no
            window was given.
    """

    campaign: str
    breaker: BreakerState = dataclasses.field(default_factory=BreakerState)
    activated: bool = False
    existing_keys: frozenset[str] = frozenset()
    opted_out: frozenset[str] = frozenset()
    held: tuple[OutboxRow, ...] = ()
    released: tuple[OutboxRow, ...] = ()
    pending_owners: tuple[PendingOwner, ...] = ()
    run_sizes: tuple[int, ...] = ()
    sent_today: int = 0
    kept_surge_runs: frozenset[str] = frozenset()
    surge_held: bool = False
    recent: Mapping[str, int] = dataclasses.field(default_factory=dict)


def read_gate(session: Session, campaign: str) -> CampaignGate:
    """The breaker, the schema's tables and whether ``campaign`` has ``ambiguous`` rows."""
    tables = session.tables()
    ambiguous = "outbox" in tables and bool(
        OutboxSession(session).rows("ambiguous", campaign=campaign, limit=1)
    )
    return CampaignGate(breaker_state_on(session, tables), tables, ambiguous)


def read_campaign_snapshot(
    session: Session,
    campaign: str,
    *,
    keys: Iterable[str],
    recipients: Iterable[str],
    day_start: datetime,
    cap_since: datetime | None = None,
    runs: int = 10,
) -> CampaignSnapshot:
    """The facts about ``campaign`` (:class:`CampaignSnapshot`), in ``session`` (the file's
    schema must be there: the caller made sure).

    Args:
        session: an open session; a transaction's, when the caller writes after deciding.
        campaign: the campaign's name.
        keys: the dedup keys its query returns now: which ones the outbox holds already.
        recipients: the numbers of its query's messages: which ones opted out, and (with
            ``cap_since``) their messages in the frequency cap's window.
        day_start: when the daily cap's day began (aware).
        cap_since: when the frequency cap's window opened (aware); None: no frequency cap.
        runs: how many of its latest send runs the volume breaker reads.
    """
    tables = session.tables()
    outbox = OutboxSession(session)
    held = tuple(outbox.rows("held", campaign=campaign))
    numbers = set(recipients) | {row.recipient for row in held}
    return CampaignSnapshot(
        campaign=campaign,
        breaker=breaker_state_on(session, tables),
        activated=is_activated_on(session, campaign),
        existing_keys=frozenset(outbox.existing_keys(campaign, keys)),
        opted_out=frozenset(opted_out_on(session, numbers)),
        held=held,
        released=tuple(outbox.released(campaign)),
        pending_owners=tuple(outbox.pending_owners(campaign)),
        run_sizes=tuple(outbox.run_sizes(campaign, runs=runs)),
        sent_today=outbox.campaign_sent_count(campaign, day_start),
        kept_surge_runs=outbox.surge_runs(campaign, _KEEP),
        surge_held=bool(outbox.held_surges(campaign)),
        recent={} if cap_since is None else outbox.sent_to_recipients(numbers, cap_since),
    )
