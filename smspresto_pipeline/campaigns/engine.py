"""The campaign engine: a campaign's evaluation from its query to a verdict carried out, without
Dagster, shared by the sensor, the send job and a dry run.

One evaluation (docs/architecture.md §2, a campaign row's way):

1. **the gate**, one read before the query
   (:func:`~smspresto_pipeline.sending.campaign_snapshot.read_gate`): a tripped circuit
   breaker stops here, the query never run; a file without the campaign's tables gets them;
2. **dead send runs settled** (:mod:`~.settle`) and, in a job, the campaign's ``ambiguous``
   rows **reconciled** with the archive (:mod:`~.reconcile`); a dry run writes nothing;
3. **the query**, kept to reading the warehouse's tables, its rows prepared (:mod:`~.prepare`);
4. **one snapshot** of what the warehouse says about the campaign, in one session
   (:func:`~smspresto_pipeline.sending.campaign_snapshot.read_campaign_snapshot`); a job
   reads it inside the transaction that then writes its claims, so no other writer comes
   between the counts the caps read and the claims that follow them;
5. **one decision** (:func:`~.decision.decide`: no I/O) and its verdict written in one
   transaction: the baseline, the held rows, the expired ones, the skipped ones, the claims;
6. a sensor requests a run for the batch (:class:`Request`) or skips (:class:`Skip`); a job
   adopts the released rows, checks the stock and sends (:func:`~.send.send_claimed`), and
   returns its :class:`Report`, or raises :class:`SendRunError`.

The Dagster face (:mod:`~.definitions`) turns a :class:`Skip` into a ``SkipReason``, a
:class:`Request` into a ``RunRequest``, a :class:`Report` into the run's metadata and
:class:`SendRunError` into a ``Failure``. Every text a person reads is written here.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.decision import (
    Baseline,
    ConfirmedSurge,
    Found,
    Hold,
    Paused,
    Refused,
    RunOptions,
    Send,
    breaker_verdict,
    decide,
    recordable,
    skipped_message,
    snapshot_window,
    sort_rows,
)
from smspresto_pipeline.campaigns.guards import VOLUME_HISTORY, SurgeOutlook, SurgeRest
from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.names import DAGSTER_RESUME_HINT
from smspresto_pipeline.campaigns.prepare import (
    PreparedBatch,
    PreparedMessage,
    batch_run_key,
    prepare_batch,
)
from smspresto_pipeline.campaigns.reconcile import reconcile
from smspresto_pipeline.campaigns.send import adopt_released, check_stock, send_claimed
from smspresto_pipeline.campaigns.settle import DeadRun, RunStatus, settle_dead_runs
from smspresto_pipeline.campaigns.timing import next_day_start, next_send_time
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sending import CampaignActivations, Outbox, OutboxMessage
from smspresto_pipeline.sending.campaign_snapshot import (
    CampaignGate,
    CampaignSnapshot,
    read_campaign_snapshot,
    read_gate,
)
from smspresto_pipeline.sending.outbox import OutboxSession, PendingOwner
from smspresto_pipeline.storage import QueryRefusedError, ReadOnlyQueryError, Session
from smspresto_pipeline.warehouse import Warehouse, run_read_only_query
from smspresto_pipeline.wording import plural

__all__ = [
    "SURGE_DROPPED",
    "CampaignQueryError",
    "Clock",
    "Report",
    "Request",
    "SendRunError",
    "Skip",
    "StatusOf",
    "confirm_hint",
    "evaluate",
    "op_name",
    "run",
]

#: Where a campaign's sensor and job read the time: a function returning an aware datetime.
Clock = Callable[[], datetime]
#: The orchestrator's view of a run (None: it does not know it), for settling dead runs.
StatusOf = Callable[[str], RunStatus | None]
#: The skip reason of the rows a confirmed surge drops (``surge_rest: drop``).
SURGE_DROPPED = "surge_dropped"

#: The smspresto tables a campaign reads: its outbox, the opt-outs, the archive (reconciling),
#: the surges confirmed (whose held rows may never expire) and those held for confirmation.
_CAMPAIGN_TABLES = frozenset(
    {"outbox", "opt_outs", "messages", "campaign_surges", "campaign_surges_held"}
)


class CampaignQueryError(RuntimeError):
    """The campaign's query was refused (not one SELECT, or reaching past the warehouse's
    tables), failed, or returned a result the campaign cannot use."""


@dataclasses.dataclass(frozen=True, slots=True)
class Skip:
    """A sensor's evaluation requests no run, for ``reason``."""

    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A sensor's evaluation requests a run of the send job for ``dedup_keys``; ``run_key``
    names the batch (a tick that finds the same batch again requests no second run)."""

    run_key: str
    dedup_keys: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """What a send run did, for its metadata.

    Attributes:
        selected: the rows it selected.
        skipped: the rows skipped, by reason.
        preview: a few of the messages sent (or that a dry run would send), numbers masked.
        counts: its figures by name (``sent``, ``held``, ``would_send`` ...).
        threshold: the volume breaker's threshold (None: it did not apply).
        texts: its words by name (``next_send_time``, ``circuit_breaker`` ...).
    """

    selected: int
    skipped: Mapping[str, int] = dataclasses.field(default_factory=dict)
    preview: Sequence[Mapping[str, object]] = ()
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    threshold: int | None = None
    texts: Mapping[str, str] = dataclasses.field(default_factory=dict)


class SendRunError(Exception):
    """A send run fails: ``description`` says why and what was (not) done; ``report`` (None:
    none) and ``texts`` are its metadata."""

    def __init__(
        self,
        description: str,
        report: Report | None = None,
        texts: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.report = report
        self.texts: Mapping[str, str] = texts or {}


def op_name(campaign: Campaign) -> str:
    """The send job's op, whose run config takes :class:`RunOptions`' fields."""
    return f"{campaign.name}_send_batch"


# --- the evaluation's steps, the same for the sensor and the job ----------------------------


def _gate(store: Warehouse, campaign: Campaign) -> CampaignGate:
    """The gate read; the schema created first in a file that lacks the campaign's tables (a
    user's own file before any ingestion): checked in a read-only session, written only
    when missing, so a sensor's usual tick stays a read."""
    with store.database.reading() as session:
        gate = read_gate(session, campaign.name)
    if gate.tables >= _CAMPAIGN_TABLES:
        return gate
    store.ensure_schema()
    with store.database.reading() as session:
        return read_gate(session, campaign.name)


def _settle(
    campaign: Campaign,
    store: Warehouse,
    now: datetime,
    *,
    status_of: StatusOf,
    silent_after: timedelta,
    log: logging.Logger,
    own_run: str | None = None,
) -> list[DeadRun]:
    """Settle the campaign's dead send runs (see :mod:`~.settle`): rows they never requested
    released, rows that may have left marked ``ambiguous``; each logged as a warning. A dry
    run writes nothing."""
    if campaign.dry_run:
        return []
    dead = settle_dead_runs(
        Outbox(store),
        status_of=status_of,
        campaign=campaign.name,
        now=now,
        silent_after=silent_after,
        alive=() if own_run is None else (own_run,),
    )
    for run_ in dead:
        log.warning(run_.describe())
    return dead


def _prepare(campaign: Campaign, store: Warehouse) -> PreparedBatch:
    """Run the campaign's query, kept to reading the warehouse's tables, and prepare its rows.

    Raises:
        WarehouseLockedError / WarehouseOpenError: the file is locked, or cannot be opened.
        CampaignQueryError: the query is refused (not one SELECT, or reaching past the
            warehouse's tables) or fails, or its result lacks a column.
    """
    try:
        table = run_read_only_query(store, campaign.sql)
    except ReadOnlyQueryError as exc:
        what = "was refused" if isinstance(exc, QueryRefusedError) else "failed"
        raise CampaignQueryError(
            f"campaign {campaign.name!r}: its query {what}, nothing was sent: {exc}"
        ) from None
    try:
        return prepare_batch(campaign, table)
    except SMSValidationError as exc:
        raise CampaignQueryError(f"{exc}; nothing was sent") from None


def _snapshot(
    session: Session, campaign: Campaign, batch: PreparedBatch, now: datetime
) -> CampaignSnapshot:
    """The campaign's facts, read in ``session`` for the rows of ``batch``."""
    day, cap_since = snapshot_window(campaign, now)
    keys = [m.dedup_key for m in batch.messages]
    keys += [str(r.dedup_key) for r in recordable(batch.skipped)]
    return read_campaign_snapshot(
        session,
        campaign.name,
        keys=keys,
        recipients=(m.recipient for m in batch.messages),
        day_start=day,
        cap_since=cap_since,
        runs=VOLUME_HISTORY,
    )


@dataclasses.dataclass
class _Written:
    """What writing a verdict moved, read back (counts of rows, keys where they are used)."""

    held: int = 0
    dropped: int = 0
    expired: tuple[str, ...] = ()
    opted_out: int = 0
    claimed: list[OutboxMessage] = dataclasses.field(default_factory=list)
    from_held: int = 0
    capped: int = 0


def _write(
    session: OutboxSession,
    campaign: Campaign,
    verdict: Hold | Send,
    *,
    run_id: str | None,
    now: datetime,
) -> _Written:
    """Write a :class:`Hold` or :class:`Send` verdict in ``session``'s one transaction.

    A sensor (``run_id`` None) holds new rows and expires held ones; a run also records the
    opted-out and invalid rows as skipped, and claims its batch (held rows moved to
    ``pending``, new ones claimed ``pending``, those over the frequency cap ``skipped``), and a
    confirmed surge's rest as it says."""
    name, found, written = campaign.name, verdict.found, _Written()
    if run_id is not None:
        session.claim(
            found.opted_out, state="skipped", skip_reason="opted_out", run_id=run_id, now=now
        )
        by_reason: dict[str, list[OutboxMessage]] = collections.defaultdict(list)
        for row in found.skipped:
            by_reason[row.reason].append(skipped_message(campaign, row))
        for reason, rows in by_reason.items():
            session.claim(rows, state="skipped", skip_reason=reason, run_id=run_id, now=now)
    if isinstance(verdict, Hold):
        if verdict.surge is None:
            written.held = len(session.claim(found.new, state="held", run_id=run_id, now=now))
        else:
            assert run_id is not None  # only a run confirms a surge
            _write_surge(session, campaign, found.new, verdict.surge, written, run_id, now)
        return written
    written.expired = session.mark(name, [r.dedup_key for r in verdict.expired], "expired", now=now)
    if run_id is None:
        return written
    gone = session.mark(
        name,
        [r.dedup_key for r in found.opted_held],
        "skipped",
        skip_reason="opted_out",
        run_id=run_id,
        now=now,
    )
    plan, held = verdict.plan, verdict.held_keys
    moved = session.mark(
        name,
        [m.dedup_key for m in plan.send if m.dedup_key in held],
        "pending",
        run_id=run_id,
        now=now,
    )
    fresh = session.claim([m for m in plan.send if m.dedup_key not in held], run_id=run_id, now=now)
    capped = session.mark(
        name,
        [m.dedup_key for m in plan.capped if m.dedup_key in held],
        "skipped",
        skip_reason="frequency_cap",
        run_id=run_id,
        now=now,
    )
    capped_new = session.claim(
        [m for m in plan.capped if m.dedup_key not in held],
        state="skipped",
        skip_reason="frequency_cap",
        run_id=run_id,
        now=now,
    )
    if verdict.surge is not None:
        # A confirmed surge: the rest is claimed now, so the next ticks do not trip the
        # breaker again (the rows are no longer new).
        rest = [m for m in plan.waiting if m.dedup_key not in held]
        _write_surge(session, campaign, rest, verdict.surge, written, run_id, now)
    ours = set(moved) | {m.dedup_key for m in fresh}
    written.claimed = [m for m in plan.send if m.dedup_key in ours]
    written.from_held, written.opted_out = len(moved), len(gone)
    written.capped = len(capped) + len(capped_new)
    return written


def _write_surge(
    session: OutboxSession,
    campaign: Campaign,
    rest: Sequence[OutboxMessage],
    surge: ConfirmedSurge,
    written: _Written,
    run_id: str,
    now: datetime,
) -> None:
    """Claim a confirmed surge's ``rest`` as it says and record the confirmation."""
    if surge.rest is SurgeRest.drop:
        claimed = session.claim(
            rest, state="skipped", skip_reason=SURGE_DROPPED, run_id=run_id, now=now
        )
        written.dropped = len(claimed)
    else:
        claimed = session.claim(rest, state="held", run_id=run_id, now=now)
        written.held = len(claimed)
    session.end_held_surge(campaign.name, now=now)
    session.record_surge(
        campaign.name,
        run_id=run_id,
        found_rows=surge.found,
        threshold=surge.threshold,
        rest=surge.rest.value,
        rest_rows=len(claimed),
        now=now,
    )


# --- the sensor ------------------------------------------------------------------------------


def evaluate(
    campaign: Campaign,
    store: Warehouse,
    now: datetime,
    *,
    status_of: StatusOf,
    silent_after: timedelta,
    log: logging.Logger,
) -> Skip | Request:
    """A sensor's evaluation: a run to request, or why not (the module docstring's steps).
    It never sends; it writes only a baseline, held rows, expired ones and dead runs' rows.

    Raises:
        WarehouseLockedError / WarehouseOpenError: the file is locked, or cannot be opened.
        CampaignQueryError: the query is refused or fails, or its result lacks a column.
    """
    options = RunOptions(trigger="sensor")
    gate = _gate(store, campaign)
    if breaker_verdict(campaign, gate.breaker, options) is not None:
        return Skip(
            f"{gate.breaker.describe(DAGSTER_RESUME_HINT)}. Nothing was queried or claimed."
        )
    dead = _settle(campaign, store, now, status_of=status_of, silent_after=silent_after, log=log)
    batch = _prepare(campaign, store)
    with store.database.reading() as session:
        snapshot = _snapshot(session, campaign, batch, now)
    found = sort_rows(batch, snapshot)
    verdict = decide(campaign, found, snapshot, now, options)
    if isinstance(verdict, Paused):
        return Skip(f"{verdict.breaker.describe(DAGSTER_RESUME_HINT)}. Nothing was claimed.")
    if isinstance(verdict, Baseline):
        return Skip(_sensor_baseline(campaign, store, verdict, now))
    if isinstance(verdict, Refused):
        if not (snapshot.surge_held or campaign.dry_run):
            Outbox(store).hold_surge(
                campaign.name,
                found_rows=verdict.outlook.rows,
                threshold=verdict.threshold,
                resolve=confirm_hint(campaign),
                now=now,
            )
        return Skip(surge_message(campaign, verdict.outlook, verdict.threshold))
    if snapshot.surge_held:
        # The surge held until now is gone: confirmed, or its rows no longer new.
        Outbox(store).end_held_surge(campaign.name, now=now)
    if isinstance(verdict, Hold):
        return Skip(_sensor_hold(campaign, store, verdict, now))
    expired: Sequence[str] = [r.dedup_key for r in verdict.expired]
    if expired and not campaign.dry_run:
        with store.database.transaction() as session:
            written = _write(OutboxSession(session), campaign, verdict, run_id=None, now=now)
        expired = written.expired
    chosen = verdict.chosen_keys()
    if not chosen:
        return Skip(_nothing_to_send(campaign, verdict, expired, dead, snapshot, now, silent_after))
    plan, released = verdict.plan, verdict.released
    log.info(
        f"campaign {campaign.name!r}: requesting a run for {plural(len(plan.send), 'message')} "
        f"({len(verdict.held_keys & {m.dedup_key for m in plan.send})} held until now) and "
        f"{plural(len(released), 'row')} released by earlier runs, "
        f"{plural(len(chosen) - len(plan.send) - len(released), 'row')} to record as skipped, "
        f"{plural(len(plan.waiting), 'row')} waiting for the caps"
    )
    run_key = batch_run_key(campaign.name, chosen)
    if released:
        # The same rows may be released again (a run that stopped before their request): each
        # release is a new batch to request.
        run_key += f"-r{max(r.updated_at for r in released):%Y%m%d%H%M%S%f}"
    if snapshot.breaker.generation:
        # Dagster never launches a run key twice: a batch whose run the breaker refused must
        # get a new key once the campaigns are resumed. The refusal needed a trip recorded
        # after the request, so the generation has moved on since.
        run_key = f"{run_key}-b{snapshot.breaker.generation}"
    return Request(run_key, tuple(chosen))


def _sensor_baseline(campaign: Campaign, store: Warehouse, verdict: Baseline, now: datetime) -> str:
    """Record a sensor's first activation (a dry run records nothing); say so."""
    name = campaign.name
    if campaign.dry_run:
        # A dry run writes nothing: the baseline is the rows there when it goes live, not
        # when it was first previewed (else the rows of the preview weeks would all be new).
        return (
            f"dry run of campaign {name!r}: its first activation would record "
            f"{plural(len(verdict.rows), 'row')} as baseline (never sent); "
            "nothing recorded: the baseline is taken when the campaign goes live"
        )
    activation = CampaignActivations(store).activate(
        name, verdict.rows, by=f"sensor:{campaign.sensor_name}", now=now
    )
    if activation is None:
        return (
            f"campaign {name!r} was activated by another evaluation since this one read the "
            "outbox: nothing recorded; the next evaluation sends what is new"
        )
    return (
        f"first activation of campaign {name!r}: {activation.describe()}: the rows the "
        "query returned then are never sent; only rows appearing later are sent (set "
        "send_on_first_activation to send them too)"
    )


def _sensor_hold(campaign: Campaign, store: Warehouse, verdict: Hold, now: datetime) -> str:
    """In quiet hours: hold the new rows (a dry run records nothing) and say until when."""
    quiet = campaign.quiet_hours
    assert quiet is not None  # in quiet hours, so it has them
    until = _when(next_send_time(campaign, now), campaign)
    window = f"quiet hours ({quiet.start} to {quiet.end})"
    new = verdict.found.new
    if not new:
        return f"{window} until {until}: nothing new to hold"
    if campaign.dry_run:
        return (
            f"{window} until {until}: {plural(len(new), 'new row')} would be held (dry run: "
            "nothing recorded)"
        )
    with store.database.transaction() as session:
        held = _write(OutboxSession(session), campaign, verdict, run_id=None, now=now).held
    return (
        f"{window} until {until}: {plural(held, 'new row')} held; sent when the window "
        f"opens, unless held longer than validity_seconds ({campaign.validity_seconds} s), "
        "then expired"
    )


def _nothing_to_send(
    campaign: Campaign,
    verdict: Send,
    expired: Sequence[str],
    dead: Sequence[DeadRun],
    snapshot: CampaignSnapshot,
    now: datetime,
    silent_after: timedelta,
) -> str:
    """Why a sensor requests no run: the daily cap, or nothing new (and what it noticed)."""
    waiting = verdict.plan.waiting
    if waiting and not verdict.limit:
        return (
            f"daily cap reached: campaign {campaign.name!r} tried "
            f"{plural(verdict.sent_today, 'message')} today (max_per_day "
            f"{campaign.max_per_day}); {plural(len(waiting), 'row')} "
            f"{'waits' if len(waiting) == 1 else 'wait'} for the next day, which "
            f"starts at {_when(next_day_start(campaign, now), campaign)}"
        )
    opted = verdict.found.opted_out
    why = [f"{plural(len(opted), 'opted-out number')} left out"] if opted else []
    if expired:
        why.append(f"{plural(len(expired), 'held row')} expired, past validity_seconds")
    why += [run_.describe() for run_ in dead]
    why += [_waiting_on(owner, campaign, silent_after) for owner in snapshot.pending_owners]
    return "nothing new to send" + (f" ({'; '.join(why)})" if why else "")


def _waiting_on(owner: PendingOwner, campaign: Campaign, silent_after: timedelta) -> str:
    """What waits under a run still taken for alive: its pending rows, and when it is judged
    dead if it stays silent."""
    last = owner.last_write.replace(tzinfo=UTC)
    return (
        f"{plural(owner.requested + owner.unrequested, 'row')} pending under send run "
        f"{owner.run_id} "
        f"(its last write {_when(last, campaign)}; settled as a dead run if it writes "
        f"nothing more by {_when(last + silent_after, campaign)})"
    )


# --- the send job ----------------------------------------------------------------------------


def run(
    campaign: Campaign,
    store: Warehouse,
    options: RunOptions,
    *,
    run_id: str,
    clock: Clock,
    client: Callable[[], contextlib.AbstractContextManager[SMSPrestoClient]],
    status_of: StatusOf,
    silent_after: timedelta,
    log: logging.Logger,
) -> Report:
    """A send run (or a dry run): the module docstring's steps, then the send.

    Args:
        campaign: the campaign.
        store: its warehouse.
        options: the run's options (``trigger`` ``"job"``).
        run_id: the run, which owns the rows it claims.
        clock: the time (read once for the decision, then for each mark).
        client: gives the API client (a context manager), opened only to send.
        status_of: the orchestrator's view of a run, to settle dead ones.
        silent_after: how long a run owning pending rows may stay silent before it is dead.
        log: where the run says what it does.

    Raises:
        SendRunError: the breaker or the volume breaker refused the run (nothing claimed), the
            stock is short (the claimed rows released), or the send stopped (every mark
            written).
        CampaignQueryError: the query is refused or fails, or its result lacks a column.
        WarehouseLockedError / WarehouseOpenError: the file is locked, or cannot be opened.
    """
    name, now = campaign.name, clock()
    # The run writes anyway: its first write would create the schema, this does it first (a
    # user's own file may not have it yet) and spares that check to the later writes.
    store.ensure_schema()
    gate = _gate(store, campaign)
    _check_breaker(campaign, gate, options, log)
    counts: dict[str, int] = {}
    if not campaign.dry_run:
        dead = _settle(
            campaign,
            store,
            now,
            status_of=status_of,
            silent_after=silent_after,
            log=log,
            own_run=run_id,
        )
        # Rows of dead runs whose request may have left are ambiguous now: reconciled too.
        ambiguous = gate.has_ambiguous or any(r.quarantined for r in dead)
        reconciled = _reconcile(campaign, store, log) if ambiguous else (0, 0)
        counts = _run_counts(dead, reconciled)
    batch = _prepare(campaign, store)
    with store.database.reading() if campaign.dry_run else store.database.transaction() as session:
        # A run's snapshot, decision and claims share one transaction: the counts the caps
        # read cannot change before the claims that follow them.
        snapshot = _snapshot(session, campaign, batch, now)
        found = sort_rows(batch, snapshot, options.wanted)
        verdict = decide(campaign, found, snapshot, now, options)
        written = (
            _write(OutboxSession(session), campaign, verdict, run_id=run_id, now=now)
            if isinstance(verdict, Hold | Send) and not campaign.dry_run
            else None
        )
    if isinstance(verdict, Paused):  # tripped since the gate read
        raise _breaker_failure(campaign, verdict.breaker.describe(DAGSTER_RESUME_HINT))
    if isinstance(verdict, Baseline):
        return _run_baseline(campaign, store, verdict, found, run_id, now, log)
    reasons = found.skipped_by_reason()
    if isinstance(verdict, Refused):
        report = Report(len(found.new), reasons, threshold=verdict.threshold)
        raise SendRunError(_refusal(campaign, verdict), report)
    assert isinstance(verdict, Hold | Send)
    _warn_missing(options, found, log)
    if verdict.surge_seen is not None:
        log.warning(surge_message(campaign, verdict.surge_seen, verdict.threshold or 0))
    if campaign.dry_run:
        return _dry_run(campaign, verdict, now, log)
    assert written is not None
    if verdict.surge is not None and verdict.surge.rest is SurgeRest.drop:
        reasons[SURGE_DROPPED] = written.dropped
    if isinstance(verdict, Hold):
        counts.update(held=written.held)
        send_time = next_send_time(campaign, now).isoformat()
        log.info(
            f"campaign {name!r}: quiet hours until {send_time}: "
            f"{plural(written.held, 'new row')} held, nothing sent"
        )
        counts.update(segments_billed=0, requests=0)
        texts = {"next_send_time": send_time}
        return Report(found.selected, reasons, [], counts, verdict.threshold, texts)
    return _send(campaign, store, verdict, written, reasons, counts, run_id, clock, client, log)


def _check_breaker(
    campaign: Campaign, gate: CampaignGate, options: RunOptions, log: logging.Logger
) -> None:
    """Log a run that goes on although the breaker is tripped (a dry run, or told to ignore
    it).

    Raises:
        SendRunError: tripped, and neither a dry run nor told to ignore it; nothing was claimed.
    """
    breaker = gate.breaker
    if not breaker.tripped:
        return
    paused = breaker.describe(DAGSTER_RESUME_HINT)
    if breaker_verdict(campaign, breaker, options) is not None:
        raise _breaker_failure(campaign, paused)
    if campaign.dry_run:
        log.warning(f"dry run of campaign {campaign.name!r} while {paused}")
    else:
        log.warning(
            f"campaign {campaign.name!r} sends although {paused}: this run was launched with "
            "ignore_circuit_breaker: true"
        )


def _breaker_failure(campaign: Campaign, paused: str) -> SendRunError:
    return SendRunError(
        f"campaign {campaign.name!r}: nothing was claimed or sent: {paused}. "
        "To send anyway, launch the job with the run config "
        f"'ops: {{{op_name(campaign)}: {{config: {{ignore_circuit_breaker: true}}}}}}'.",
        texts={"circuit_breaker": paused},
    )


def _reconcile(campaign: Campaign, store: Warehouse, log: logging.Logger) -> tuple[int, int]:
    """Resolve the campaign's ``ambiguous`` rows against the archive; (sent, released) counts:
    released rows were never accepted, and this run adopts and sends them.

    An archive never ingested leaves them ambiguous (the warehouse creates its tables on the
    first write, so the table is there, empty): the run goes on.
    """
    report = reconcile(Outbox(store), timezone=campaign.timezone, campaign=campaign.name)
    log.info(
        f"campaign {campaign.name!r}: reconciled with the archive: {len(report.sent)} sent, "
        f"{len(report.released)} never accepted (released: sent again by this run), "
        f"{len(report.still_ambiguous)} still ambiguous"
    )
    return len(report.sent), len(report.released)


def _run_counts(dead: Sequence[DeadRun], reconciled: tuple[int, int]) -> dict[str, int]:
    """A run's counts before it decides: nothing sent yet, the dead runs it settled and the
    rows it reconciled."""
    return {
        "sent": 0,
        "failed": 0,
        "ambiguous": 0,
        "left_pending": 0,
        "dead_runs": len(dead),
        "quarantined": sum(r.quarantined for r in dead),
        "released_from_dead_runs": sum(r.released for r in dead),
        "reconciled_sent": reconciled[0],
        "reconciled_released": reconciled[1],
        "held": 0,
        "expired": 0,
        "waiting_for_cap": 0,
        "frequency_capped": 0,
    }


def _run_baseline(
    campaign: Campaign,
    store: Warehouse,
    verdict: Baseline,
    found: Found,
    run_id: str,
    now: datetime,
    log: logging.Logger,
) -> Report:
    """A run's first activation: record it with the baseline (every row the query returns,
    whatever keys the run was given) and send nothing. A dry run records nothing."""
    name = campaign.name
    texts: dict[str, str] = {}
    if campaign.dry_run:
        recorded = len(verdict.rows)  # what it would record
        log.info(
            f"dry run of campaign {name!r}: its first activation would record "
            f"{plural(recorded, 'row')} as baseline (never sent); nothing recorded"
        )
    else:
        activation = CampaignActivations(store).activate(
            name, verdict.rows, by=f"job:{campaign.job_name}:{run_id}", run_id=run_id, now=now
        )
        if activation is None:
            # Another evaluation activated it since this run read the outbox: its baseline
            # stands; this run sends nothing, and the next one sends what is new.
            recorded = 0
            log.info(
                f"campaign {name!r} was activated by another evaluation meanwhile: nothing "
                "recorded, nothing sent"
            )
        else:
            recorded = activation.baseline_rows
            texts = {
                "activated_at": f"{activation.activated_at.isoformat()} UTC",
                "activated_by": activation.activated_by,
            }
            log.info(
                f"first activation of campaign {name!r}: {activation.describe()} (never "
                "sent); set send_on_first_activation to send them too"
            )
    counts = {"baseline": recorded, "sent": 0, "requests": 0}
    return Report(found.batch.rows, {}, [], counts, None, texts)


def _warn_missing(options: RunOptions, found: Found, log: logging.Logger) -> None:
    """Warn of the keys a run was given that the query no longer returns."""
    wanted = options.wanted
    if wanted is None:
        return
    returned = {m.dedup_key for m in found.batch.messages}
    returned |= {str(r.dedup_key) for r in found.batch.skipped}
    returned |= {r.dedup_key for r in (*found.held, *found.opted_held)}
    if missing := len(wanted - returned):
        log.warning(
            f"{missing} of the {plural(len(wanted), 'chosen row')} no longer returned by "
            "the query (or no longer sendable): left alone"
        )


def _dry_run(
    campaign: Campaign, verdict: Hold | Send, now: datetime, log: logging.Logger
) -> Report:
    """A dry run's decisions, reported: nothing claimed, nothing sent."""
    found = verdict.found
    counts = {"held": 0, "expired": 0, "waiting_for_cap": 0, "frequency_capped": 0}
    texts = {} if verdict.paused is None else {"circuit_breaker": verdict.paused}
    to_send: Sequence[PreparedMessage] = ()
    if isinstance(verdict, Hold):
        texts["next_send_time"] = next_send_time(campaign, now).isoformat()
        counts["held"] = len(found.new)
    else:
        to_send = verdict.plan.send
        counts.update(
            expired=len(verdict.expired),
            waiting_for_cap=len(verdict.plan.waiting),
            frequency_capped=len(verdict.plan.capped),
        )
    segments = sum(m.segments for m in to_send)
    log.info(
        f"dry run of campaign {campaign.name!r}: would send "
        f"{plural(len(to_send), 'message')} ({plural(segments, 'SMS part')}); {counts}; "
        "nothing claimed, nothing sent"
    )
    counts.update(
        would_send=len(to_send),
        would_bill_segments=segments,
        segments_saved=sum(m.segments_saved for m in to_send),
        sent=0,
        requests=0,
    )
    preview = _preview(found.batch, to_send)
    return Report(
        found.selected, found.skipped_by_reason(), preview, counts, verdict.threshold, texts
    )


def _preview(batch: PreparedBatch, messages: Sequence[PreparedMessage]) -> list[dict[str, object]]:
    return dataclasses.replace(batch, messages=tuple(messages)).preview()


def _send(
    campaign: Campaign,
    store: Warehouse,
    verdict: Send,
    written: _Written,
    reasons: dict[str, int],
    counts: dict[str, int],
    run_id: str,
    clock: Clock,
    client: Callable[[], contextlib.AbstractContextManager[SMSPrestoClient]],
    log: logging.Logger,
) -> Report:
    """Adopt the released rows, check the stock, send what the run claimed; its report."""
    name, plan, outbox = campaign.name, verdict.plan, Outbox(store)
    if written.opted_out:
        reasons["opted_out"] = reasons.get("opted_out", 0) + written.opted_out
    if written.capped:
        reasons["frequency_cap"] = written.capped
    counts.update(
        held=written.held,
        expired=len(written.expired),
        waiting_for_cap=len(plan.waiting),
        frequency_capped=written.capped,
    )
    preview = _preview(verdict.found.batch, plan.send)
    # Opt-outs of adopted rows (and of every other row) are read again just before each
    # batch's request, by send_claimed.
    adopted = adopt_released(outbox, name, run_id=run_id)
    claimed = written.claimed + adopted
    log.info(
        f"campaign {name!r}: {plural(len(claimed), 'message')} claimed ({written.from_held} "
        f"held until now, {len(adopted)} adopted from earlier runs), "
        f"{plural(len(written.expired), 'held row')} expired, "
        f"{plural(len(plan.waiting), 'row')} waiting for the caps, "
        f"{plural(sum(reasons.values()), 'row')} skipped {reasons}"
    )
    selected, threshold = verdict.found.selected, verdict.threshold
    if not claimed:
        counts.update(segments_billed=0, requests=0)
        return Report(selected, reasons, preview, counts, threshold)
    with client() as api:
        try:
            check_stock(api, claimed)
        except BaseException as exc:
            # No request was made (a short stock, or the API unreachable for the stock's
            # read): every claimed row is released, for the next run to adopt and send.
            keys = [m.dedup_key for m in claimed]
            outbox.release(name, keys, run_id=run_id, now=clock())
            if not isinstance(exc, SMSValidationError):
                raise
            counts["left_pending"] = len(keys)
            raise SendRunError(
                f"campaign {name!r}: {exc}. Released (pending, no run): the "
                f"{plural(len(keys), 'claimed row')}, which the next run of the campaign adopts "
                "and sends.",
                Report(selected, reasons, preview, counts, threshold),
            ) from None
        report = send_claimed(api, outbox, claimed, run_id=run_id, clock=clock)
    counts.update(
        sent=report.sent,
        failed=report.failed,
        ambiguous=report.ambiguous,
        left_pending=report.left_pending,
    )
    if report.opted_out:
        # Numbers that opted out after their row was claimed: skipped just before the request.
        reasons["opted_out"] = reasons.get("opted_out", 0) + report.opted_out
    counts.update(segments_billed=report.segments_billed, requests=report.requests)
    result = Report(selected, reasons, preview, counts, threshold)
    if report.stopped is not None:
        raise SendRunError(
            f"campaign {name!r}: the send stopped at {report.stopped}. "
            f"{report.sent} sent, {report.failed} failed, {report.ambiguous} ambiguous (never "
            f"resent: reconcile them with the archive), {report.left_pending} released for a "
            "later run.",
            result,
        )
    return result


# --- the words -------------------------------------------------------------------------------


def _when(at: datetime, campaign: Campaign) -> str:
    """``at`` on the campaign's wall clock, naming its time zone."""
    return at.astimezone(campaign.zone).strftime(f"%Y-%m-%d %H:%M ({campaign.timezone})")


def _refusal(campaign: Campaign, verdict: Refused) -> str:
    """Why the volume breaker refused a run."""
    if not verdict.rest_asked:
        return surge_message(campaign, verdict.outlook, verdict.threshold)
    outlook = verdict.outlook
    return (
        f"campaign {campaign.name!r}: confirm_volume alone would let "
        f"{outlook.expire} of the {outlook.rows} new rows expire unsent: nothing was "
        "claimed or sent. Launch the job again saying what becomes of the rest: "
        f"'ops: {{{op_name(campaign)}: {{config: {{confirm_volume: true, surge_rest: "
        f"<expire|keep|drop>}}}}}}'. {_outlook_text(campaign, outlook)}"
    )


def surge_message(campaign: Campaign, outlook: SurgeOutlook, threshold: int) -> str:
    """The volume breaker's words: the numbers, how to confirm, what a confirmation does."""
    return (
        f"volume breaker: campaign {campaign.name!r} found {outlook.rows} new rows to send, "
        f"above its threshold of {threshold} ({campaign.volume_breaker_factor:g} times its "
        f"usual batch, the median of its last {VOLUME_HISTORY} runs; at least "
        f"{campaign.volume_breaker_min_rows}). Nothing was claimed or sent. If this volume is "
        f"expected, {confirm_hint(campaign)}. {_outlook_text(campaign, outlook)}"
    )


def confirm_hint(campaign: Campaign) -> str:
    """How a person confirms a surge the volume breaker holds (the surge's alert says it too)."""
    return (
        f"launch the job {campaign.job_name} with the run config "
        f"'ops: {{{op_name(campaign)}: {{config: {{confirm_volume: true, surge_rest: "
        f"<expire|keep|drop>}}}}}}'"
    )


def _outlook_text(campaign: Campaign, outlook: SurgeOutlook) -> str:
    """What a confirmation does with a surge, in numbers, and what each ``surge_rest`` means."""
    first = (
        "sends nothing now (quiet hours)"
        if outlook.quiet
        else f"sends {outlook.first_run} now (max_per_run {campaign.max_per_run}; "
        f"{outlook.day_left} left of today's max_per_day {campaign.max_per_day})"
    )
    if not outlook.held:
        return f"A confirmed run {first}, which is all of them."
    expire = (
        f"all {outlook.held} go before that"
        if not outlook.expire
        else f"the caps let at most {outlook.before_expiry} of them go before that "
        f"(max_per_day {campaign.max_per_day} a day, {campaign.timezone}) and the other "
        f"{outlook.expire} expire unsent"
    )
    return (
        f"A confirmed run {first} and holds the other {outlook.held} for the next runs (the "
        f"sensor {campaign.sensor_name} sends them while it is running), which expire at "
        f"{_when(outlook.expires_at, campaign)} (validity_seconds {campaign.validity_seconds} "
        f"after the claim). surge_rest says what becomes of them: expire: {expire}; keep: they "
        f"never expire and all go within max_per_day and quiet hours, the last on "
        f"{outlook.last_day.isoformat()}; drop: they are recorded skipped "
        f"({SURGE_DROPPED}) now and never sent."
    )
