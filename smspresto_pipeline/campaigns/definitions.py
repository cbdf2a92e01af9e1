"""A campaign's Dagster definitions: the sensor ``<name>_sensor`` and the send job ``<name>_send``.

:func:`build_campaign_defs` gives both in a :class:`dagster.Definitions`, using the resources
``smspresto`` (:class:`~smspresto_pipeline.resources.SMSPrestoResource`) and ``warehouse``
(:class:`~smspresto_pipeline.resources.WarehouseResource`), which the caller binds (merge with
the project's Definitions).

**The sensor never sends** (a tick times out after 60 s). Each evaluation runs the campaign's
query read-only, prepares the rows, drops the keys already in the outbox and the opted-out
numbers, applies the guards below in this order, and requests a run of the send job whose
``run_key`` names the batch (:func:`~smspresto_pipeline.campaigns.prepare.batch_run_key`), with
the chosen ``dedup_keys`` in the run's config: a tick that finds the same batch again requests
no second run. It skips, with the reason shown in the UI:

* **circuit breaker**: while the breaker is tripped (a failure-rate spike check failed at ERROR,
  or a person paused the campaigns; see :mod:`smspresto_pipeline.sending.breaker`), before
  running the query and without writing anything; the reason says why, since when, and how to
  resume. The run key carries the breaker's generation, so a batch whose run was refused during
  a pause is requested again after the resume;
* when the warehouse file is locked or busy (another process writes): never a failed tick;
  the sensor waits at most :data:`SENSOR_LOCK_TIMEOUT` seconds for the lock. Only a lock
  skips: a file that cannot be used for another reason (a directory, a file that is not a
  DuckDB database, a corrupt one, a directory that cannot be created) fails the tick naming
  the path and DuckDB's message, and fails the send job the same way (:class:`dagster.Failure`);
* **dead send runs** are settled first (rows they never requested released, the others
  ``ambiguous``), and rows released by any run (a short stock, a dead run, reconciliation)
  get a run request of their own; a run still taken for alive that holds ``pending`` rows is
  named in the skip reason, with when it will be judged dead;
* on the campaign's first activation unless ``send_on_first_activation``: the rows found are
  claimed as ``baseline`` (never sent) so switching a campaign on never texts a whole table.
  The activation itself is recorded in the same transaction
  (:class:`~smspresto_pipeline.sending.CampaignActivations`), even when the query returns
  nothing: rows appearing later are new, and sent. A campaign is activated once it has an
  activation row or any outbox row (a file older than the activations table); a lost outbox
  (the file replaced) loses both, so the next evaluation takes a baseline again. The reason
  says when, by whom and how many rows. A dry run records nothing and says how many rows
  the baseline would hold: it is taken when the campaign goes live;
* **volume breaker**: more new rows than the campaign's threshold
  (:func:`~smspresto_pipeline.campaigns.guards.volume_threshold`): nothing is claimed; the
  reason gives the numbers, how to confirm (launch the job with ``confirm_volume: true`` and
  ``surge_rest``), and what a confirmation does with them under the caps
  (:func:`~smspresto_pipeline.campaigns.guards.surge_outlook`): how many go in its first run,
  how many the caps let go before the held rest expires, how many expire;
* **quiet hours**: the new rows are claimed as ``held`` and nothing is sent; the reason says
  until when. Held rows go out once the window opens, oldest first, before new rows; those
  held longer than ``validity_seconds`` become ``expired`` and are never sent;
* **daily cap**: the campaign already tried ``max_per_day`` messages today (its time zone's
  day); the reason says when the next day starts. A batch takes at most ``max_per_run`` and
  what the day has left; the other rows wait (not claimed);
* when nothing new is left to send.

The sensor's writes (baseline, held, expired) are each one short transaction. It holds rows
itself rather than requesting a run to do it: a run per quiet tick would fill the run list
with runs that send nothing, and holding is the same kind of record as the baseline.

The query runs through :func:`~smspresto_pipeline.warehouse.run_read_only_query`: exactly one
``SELECT``, reading the warehouse's tables (``smspresto.*`` and the user's own in the same file)
and nothing else (no file, URL, ``ATTACH``, extension or setting). A query that is refused, or
that fails (a SQL error, a missing column), is a configuration error: the tick **fails** with
:class:`CampaignQueryError` naming the campaign and what was refused or DuckDB's message, so it
shows red in the UI rather than as a quiet skip; the send job fails the same way, before any
claim.

**The send job** runs the query again and keeps the keys the sensor chose (every row, when
launched by hand with no keys), drops rows already in the outbox, and decides again with the
run's own clock and counts, so a run started late or by hand obeys the same guards:

0. circuit breaker: while it is tripped, the run fails (:class:`dagster.Failure`) before
   claiming anything, unless its config says ``ignore_circuit_breaker`` (a person's explicit
   override, logged as a warning); a dry run reports it (``circuit_breaker``) and goes on;
1. first activation: a run of a campaign not activated yet (as above) records the activation
   and the baseline and sends nothing (unless ``send_on_first_activation``); its metadata
   says when (``activated_at``) and how many rows (``baseline``);
2. volume breaker: above the threshold, the run fails (:class:`dagster.Failure`) before
   claiming anything, unless its config says ``confirm_volume``; a confirmed run sends a first
   batch (caps applied) and does with the rest what ``surge_rest`` says
   (:class:`~smspresto_pipeline.campaigns.guards.SurgeRest`): ``expire``, claimed ``held`` for
   the next evaluations, which send what the caps allow before ``validity_seconds`` runs out;
   ``keep``, claimed ``held`` never to expire; ``drop``, claimed ``skipped``
   (``surge_dropped``). ``confirm_volume`` alone means ``expire`` when nothing would expire,
   and otherwise fails asking for the choice. The confirmation is recorded
   (``smspresto.campaign_surges``) with the claims;
3. it settles the campaign's dead send runs (:mod:`~smspresto_pipeline.campaigns.settle`:
   over, unknown to the instance, or silent for ``silent_after``): rows they never requested
   are released, those that may have left become ``ambiguous``; then it reconciles the
   campaign's ``ambiguous`` rows with the ingested archive
   (:func:`~smspresto_pipeline.campaigns.reconcile.reconcile`: never accepted means released);
4. it claims opted-out numbers and invalid rows as ``skipped`` with their reason;
5. in quiet hours it claims the new rows ``held`` and sends nothing;
6. otherwise, in one transaction (no other writer in between): held rows past their validity
   become ``expired``, then held rows (oldest first) and new rows fill the batch up to
   ``max_per_run`` and what is left of ``max_per_day``; a row whose number already had
   ``frequency_cap.max_messages`` messages in the cap's window (all campaigns, and the rows
   before it in the batch) is claimed ``skipped`` (``frequency_cap``), for good; the batch's
   held rows move to ``pending`` and its new rows are claimed ``pending`` under the run id;
7. it adopts released ``pending`` rows of earlier runs, checks the stock, then sends
   (:func:`~smspresto_pipeline.campaigns.send.send_claimed`: each batch recorded as requested,
   and its numbers' opt-outs read again, just before its request). When the stock is short (or
   cannot be read) nothing is sent and the claimed rows are **released** (``pending``, no run):
   they were provably never sent, so the next run of the campaign adopts and sends them.

A dry run makes the same decisions and reports them (``would_send``, ``held``, ``expired``,
``waiting_for_cap``, ``frequency_capped``, ``volume_threshold``), claims nothing and sends
nothing; a surge does not fail it (it is how one looks at a surge before confirming it). The
run fails (:class:`dagster.Failure`) when the send stopped (an ambiguous batch, a refusal of
the whole account, an unreachable API), after every mark is written.

Time is read through the ``clock`` given to :func:`build_campaign_defs` (the system clock by
default), so tests can put "now" inside or outside quiet hours.

Example:
    .. code-block:: python

        defs = dg.Definitions.merge(
            build_campaign_defs(campaign),
            dg.Definitions(resources={"smspresto": ..., "warehouse": ...}),
        )
"""

# No ``from __future__ import annotations``: Dagster reads the sensor's and op's annotations.

import collections
import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from smspresto_pipeline.campaigns.breaker_defs import DAGSTER_RESUME_HINT
from smspresto_pipeline.campaigns.guards import (
    VOLUME_HISTORY,
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
from smspresto_pipeline.campaigns.prepare import (
    PreparedBatch,
    PreparedMessage,
    SkippedRow,
    batch_run_key,
    prepare_batch,
)
from smspresto_pipeline.campaigns.reconcile import reconcile
from smspresto_pipeline.campaigns.run_status import dagster_run_status
from smspresto_pipeline.campaigns.send import adopt_released, check_stock, send_claimed
from smspresto_pipeline.campaigns.settle import DEFAULT_SILENT_AFTER, DeadRun, settle_dead_runs
from smspresto_pipeline.campaigns.timing import (
    day_start,
    in_quiet_hours,
    next_day_start,
    next_send_time,
    system_clock,
)
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import (
    BreakerState,
    CampaignActivations,
    CircuitBreaker,
    OptOuts,
    Outbox,
    OutboxMessage,
)
from smspresto_pipeline.sending.activations import is_activated_on
from smspresto_pipeline.sending.opt_outs import opted_out_on
from smspresto_pipeline.sending.outbox import OutboxRow, OutboxSession
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.warehouse.connection import (
    WarehouseLockedError,
    WarehouseOpenError,
    WarehousePathError,
    check_path,
    is_lock_conflict,
)
from smspresto_pipeline.warehouse.queries import schema_tables
from smspresto_pipeline.warehouse.read_only import (
    QueryRefusedError,
    ReadOnlyQueryError,
    run_read_only_query,
)
from smspresto_pipeline.wording import plural

__all__ = [
    "SENSOR_LOCK_TIMEOUT",
    "CampaignQueryError",
    "CampaignSendConfig",
    "Clock",
    "build_campaign_defs",
]

#: Most seconds a sensor evaluation waits for another process's lock before skipping.
SENSOR_LOCK_TIMEOUT = 10.0

#: Where a campaign's sensor and job read the time: a function returning an aware datetime.
Clock = Callable[[], datetime]

#: Skip reasons whose rows cannot be recorded under their own key (none, or the key of an
#: earlier row of the batch): they are counted, never claimed.
_UNRECORDABLE = frozenset({"missing_dedup_key", "duplicate_dedup_key"})


class CampaignQueryError(RuntimeError):
    """The campaign's query was refused (not one SELECT, or reaching past the warehouse's
    tables), failed, or returned a result the campaign cannot use."""


class CampaignSendConfig(dg.Config):
    """The run config of a campaign's send job."""

    dedup_keys: list[str] = Field(
        default_factory=list,
        description="The rows to send, chosen by the sensor (new rows and held ones). Empty (a "
        "manual launch): every held row and every row the query returns now that is not yet in "
        "the outbox, within the caps.",
    )
    confirm_volume: bool = Field(
        default=False,
        description="Confirm a batch the volume breaker stopped: the run sends a first batch "
        "(caps applied) and does with the rest what surge_rest says. Alone, it means "
        "surge_rest: expire when the caps send the whole rest before it expires; otherwise the "
        "run fails, claiming nothing, and asks for surge_rest.",
    )
    surge_rest: SurgeRest | None = Field(
        default=None,
        description="With confirm_volume, what becomes of the rows the first batch leaves (the "
        "volume breaker's message gives the numbers for each): expire: held; the next runs "
        "send what max_per_day allows before validity_seconds runs out, the rest expires "
        "unsent. keep: held and never expired; the next runs send them all, within "
        "max_per_run, max_per_day and quiet hours, over as many days as that takes. drop: "
        "recorded skipped (surge_dropped) now, never sent.",
    )
    ignore_circuit_breaker: bool = Field(
        default=False,
        description="Send even though the circuit breaker has paused the campaigns (a failure "
        "spike, or a person's pause): a person's explicit override, logged. The breaker stays "
        "tripped for the other runs and sensors.",
    )


def _sensor_warehouse(resource: WarehouseResource) -> Warehouse:
    """The resource's warehouse, waiting at most SENSOR_LOCK_TIMEOUT for another's lock."""
    backoff = resource.lock_backoff
    return Warehouse(
        resource.path,
        log=dg.get_dagster_logger("smspresto_pipeline"),
        lock_timeout=min(resource.lock_timeout, SENSOR_LOCK_TIMEOUT),
        lock_backoff=backoff,
        lock_backoff_max=max(resource.lock_backoff_max, backoff),
        memory_limit=resource.memory_limit,
        threads=resource.threads,
    )


#: The smspresto tables a campaign reads: its outbox, the opt-outs, the archive (reconciling),
#: the surges confirmed (whose held rows may never expire).
_CAMPAIGN_TABLES = frozenset({"outbox", "opt_outs", "messages", "campaign_surges"})
#: The skip reason of the rows a confirmed surge drops (``surge_rest: drop``).
SURGE_DROPPED = "surge_dropped"


def _ensure_schema(store: Warehouse) -> None:
    """Create the ``smspresto`` schema in a file that lacks it (a user's own DuckDB file
    before any ingestion): checked on a read-only connection, written only when missing, so
    a sensor's usual tick stays a read.

    Raises:
        WarehouseLockedError / WarehouseOpenError: the file is locked, or cannot be opened.
    """
    if store.path.exists():
        with store.reading() as con:
            tables = schema_tables(con)
        if tables >= _CAMPAIGN_TABLES:
            return
    store.ensure_schema()


def _prepare(campaign: Campaign, warehouse: Warehouse) -> PreparedBatch:
    """Run the campaign's query, kept to reading the warehouse's tables, and prepare its rows.

    Raises:
        WarehouseLockedError / WarehouseOpenError: the file is locked, or cannot be opened.
        CampaignQueryError: the query is refused (not one SELECT, or reaching past the
            warehouse's tables) or fails, or its result lacks a column.
    """
    try:
        table = run_read_only_query(warehouse, campaign.sql)
    except ReadOnlyQueryError as exc:
        what = "was refused" if isinstance(exc, QueryRefusedError) else "failed"
        raise CampaignQueryError(
            f"campaign {campaign.name!r}: its query {what}, nothing was sent: {exc}"
        ) from None
    try:
        return prepare_batch(campaign, table)
    except SMSValidationError as exc:
        raise CampaignQueryError(f"{exc}; nothing was sent") from None


def _skipped_message(campaign: Campaign, row: SkippedRow) -> OutboxMessage:
    """An outbox record of a skipped row (it has a key of its own)."""
    return OutboxMessage(
        campaign.name, row.dedup_key or "", row.recipient or "", campaign.sender, "", 0, "GSM-7"
    )


def _recordable(rows: Iterable[SkippedRow]) -> list[SkippedRow]:
    return [r for r in rows if r.dedup_key is not None and r.reason not in _UNRECORDABLE]


def _op_name(campaign: Campaign) -> str:
    return f"{campaign.name}_send_batch"


def _as_prepared(row: OutboxRow) -> PreparedMessage:
    """A held row's message, as recorded when it was first selected."""
    return PreparedMessage(*(getattr(row, f.name) for f in dataclasses.fields(OutboxMessage)))


def _when(at: datetime, campaign: Campaign) -> str:
    return at.astimezone(campaign.zone).strftime(f"%Y-%m-%d %H:%M ({campaign.timezone})")


@dataclasses.dataclass(frozen=True)
class _Found:
    """What the campaign's query returns now that the outbox does not hold yet.

    Attributes:
        batch: the prepared query result (every row).
        new: sendable messages, opted-out numbers left out.
        opted_out: sendable messages to opted-out numbers.
        skipped: invalid rows that can be recorded under their own key.
        first_activation: not activated yet: no activation row and no outbox row at all.
    """

    batch: PreparedBatch
    new: list[PreparedMessage]
    opted_out: list[PreparedMessage]
    skipped: list[SkippedRow]
    first_activation: bool


def _find(campaign: Campaign, store: Warehouse, wanted: Collection[str] | None = None) -> _Found:
    """Run the query and keep the rows not yet in the outbox (only ``wanted`` keys, if given)."""
    batch = _prepare(campaign, store)
    messages: Sequence[PreparedMessage] = batch.messages
    skipped = _recordable(batch.skipped)
    if wanted is not None:
        messages = [m for m in messages if m.dedup_key in wanted]
        skipped = [r for r in skipped if r.dedup_key in wanted]
    keys = [m.dedup_key for m in messages] + [str(r.dedup_key) for r in skipped]
    # The lookups on one read session (each connection opens a DuckDB instance).
    with store.reading() as con:
        existing = OutboxSession(con).existing_keys(campaign.name, keys)
        messages = [m for m in messages if m.dedup_key not in existing]
        opted = opted_out_on(con, (m.recipient for m in messages))
        activated = is_activated_on(con, campaign.name)
    return _Found(
        batch=batch,
        new=[m for m in messages if m.recipient not in opted],
        opted_out=[m for m in messages if m.recipient in opted],
        skipped=[r for r in skipped if r.dedup_key not in existing],
        first_activation=not activated,
    )


def _baseline(campaign: Campaign, found: _Found) -> list[OutboxMessage]:
    """Every row the query returns now, as the first activation records it."""
    rows: list[OutboxMessage] = list(found.batch.messages)
    rows += [_skipped_message(campaign, r) for r in _recordable(found.batch.skipped)]
    return rows


def _first_activation(
    context: dg.OpExecutionContext,
    campaign: Campaign,
    store: Warehouse,
    found: _Found,
    now: datetime,
) -> dg.Output[None]:
    """A run's first activation: record it with the baseline (every row the query returns,
    whatever keys the run was given: recording only some would leave the others "new", and the
    next tick would send them) and send nothing. A dry run records nothing."""
    name = campaign.name
    baseline = _baseline(campaign, found)
    texts: dict[str, str] = {}
    if campaign.dry_run:
        recorded = len(baseline)  # what it would record
        context.log.info(
            f"dry run of campaign {name!r}: its first activation would record "
            f"{plural(len(baseline), 'row')} as baseline (never sent); nothing recorded"
        )
    else:
        activation = CampaignActivations(store).activate(
            name,
            baseline,
            by=f"job:{campaign.job_name}:{context.run_id}",
            run_id=context.run_id,
            now=now,
        )
        if activation is None:
            # Another evaluation activated it since this run read the outbox: its baseline
            # stands; this run sends nothing, and the next one sends what is new.
            recorded = 0
            context.log.info(
                f"campaign {name!r} was activated by another evaluation meanwhile: nothing "
                "recorded, nothing sent"
            )
        else:
            recorded = activation.baseline_rows
            texts = {
                "activated_at": f"{activation.activated_at.isoformat()} UTC",
                "activated_by": activation.activated_by,
            }
            context.log.info(
                f"first activation of campaign {name!r}: {activation.describe()} (never "
                "sent); set send_on_first_activation to send them too"
            )
    metadata = _metadata(
        campaign,
        found.batch.rows,
        {},
        [],
        {"baseline": recorded, "sent": 0, "requests": 0},
        texts=texts,
    )
    return dg.Output(None, metadata=metadata)


def _threshold(campaign: Campaign, outbox: Outbox, found: _Found) -> int | None:
    """The volume breaker's threshold; None when it does not apply (disabled, or the first
    activation of a campaign told to send on it: the user said to send)."""
    if campaign.volume_breaker_factor is None or found.first_activation:
        return None
    return volume_threshold(campaign, outbox.run_sizes(campaign.name, runs=VOLUME_HISTORY))


def _outlook(campaign: Campaign, outbox: Outbox, rows: int, now: datetime) -> SurgeOutlook:
    """What confirming ``rows`` new rows now would do (the day's sends read from the outbox)."""
    sent_today = outbox.campaign_sent_count(campaign.name, day_start(campaign, now))
    return surge_outlook(campaign, rows, sent_today=sent_today, now=now)


def _surge_message(campaign: Campaign, outlook: SurgeOutlook, threshold: int) -> str:
    return (
        f"volume breaker: campaign {campaign.name!r} found {outlook.rows} new rows to send, "
        f"above its threshold of {threshold} ({campaign.volume_breaker_factor:g} times its "
        f"usual batch, the median of its last {VOLUME_HISTORY} runs; at least "
        f"{campaign.volume_breaker_min_rows}). Nothing was claimed or sent. If this volume is "
        f"expected, launch the job {campaign.job_name} with the run config "
        f"'ops: {{{_op_name(campaign)}: {{config: {{confirm_volume: true, surge_rest: "
        f"<expire|keep|drop>}}}}}}'. {_outlook_text(campaign, outlook)}"
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


@dataclasses.dataclass(frozen=True)
class _Surge:
    """A surge the run's config confirms: what becomes of its rest, and its figures."""

    rest: SurgeRest
    found: int
    threshold: int


def _confirmed_surge(
    campaign: Campaign,
    config: CampaignSendConfig,
    outlook: SurgeOutlook,
    threshold: int,
    metadata: Mapping[str, Any],
) -> _Surge:
    """The surge as the run's config confirms it.

    Raises:
        dagster.Failure: the surge is not confirmed, or confirm_volume alone would let rows
            expire (with ``metadata``); nothing was claimed.
    """
    if not config.confirm_volume:
        raise dg.Failure(
            description=_surge_message(campaign, outlook, threshold), metadata=metadata
        )
    rest = config.surge_rest
    if rest is None and outlook.expire:
        raise dg.Failure(
            description=f"campaign {campaign.name!r}: confirm_volume alone would let "
            f"{outlook.expire} of the {outlook.rows} new rows expire unsent: nothing was "
            "claimed or sent. Launch the job again saying what becomes of the rest: "
            f"'ops: {{{_op_name(campaign)}: {{config: {{confirm_volume: true, surge_rest: "
            f"<expire|keep|drop>}}}}}}'. {_outlook_text(campaign, outlook)}",
            metadata=metadata,
        )
    # Alone, with nothing that would expire: the rest is sent as the caps allow.
    return _Surge(rest or SurgeRest.expire, outlook.rows, threshold)


def _settle_surge(
    session: OutboxSession,
    campaign: Campaign,
    rest: Sequence[OutboxMessage],
    surge: _Surge,
    reasons: dict[str, int],
    *,
    run_id: str,
    now: datetime,
) -> int:
    """Claim a confirmed surge's ``rest`` as it says and record the confirmation, in the
    session's transaction; the rows held (those dropped are counted in ``reasons``)."""
    if surge.rest is SurgeRest.drop:
        claimed = session.claim(
            rest, state="skipped", skip_reason=SURGE_DROPPED, run_id=run_id, now=now
        )
        reasons[SURGE_DROPPED] = len(claimed)
    else:
        claimed = session.claim(rest, state="held", run_id=run_id, now=now)
    session.record_surge(
        campaign.name,
        run_id=run_id,
        found_rows=surge.found,
        threshold=surge.threshold,
        rest=surge.rest.value,
        rest_rows=len(claimed),
        now=now,
    )
    return 0 if surge.rest is SurgeRest.drop else len(claimed)


@dataclasses.dataclass(frozen=True)
class _Decision:
    """A batch decided outside quiet hours (see :func:`_decide`)."""

    plan: BatchPlan[PreparedMessage]
    held_keys: frozenset[str]
    expired: list[OutboxRow]
    sent_today: int
    limit: int


def _decide(
    campaign: Campaign,
    session: OutboxSession,
    held: Sequence[OutboxRow],
    new: Sequence[PreparedMessage],
    now: datetime,
) -> _Decision:
    """Expiry, the daily cap and the frequency cap over held rows (oldest first) then new ones,
    reading the counts through ``session``."""
    kept = session.surge_runs(campaign.name, SurgeRest.keep.value)
    valid, expired = split_expired(campaign, held, now, kept_runs=kept)
    sent_today = session.campaign_sent_count(campaign.name, day_start(campaign, now))
    limit = batch_limit(campaign, sent_today)
    candidates = [_as_prepared(r) for r in valid] + list(new)
    cap = campaign.frequency_cap
    recent: dict[str, int] = {}
    if cap is not None and candidates and limit:
        since = now - timedelta(seconds=cap.window_seconds)
        recent = session.sent_to_recipients((m.recipient for m in candidates), since)
    plan = plan_batch(
        candidates,
        limit=limit,
        max_messages=None if cap is None else cap.max_messages,
        recent=recent,
    )
    held_keys = frozenset(r.dedup_key for r in valid)
    return _Decision(plan, held_keys, expired, sent_today, limit)


def _build_sensor(
    campaign: Campaign, job: dg.JobDefinition, clock: Clock, silent_after: timedelta
) -> dg.SensorDefinition:
    @dg.sensor(
        name=campaign.sensor_name,
        job=job,
        minimum_interval_seconds=campaign.minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=campaign.description
        or f"Requests a run of {campaign.job_name} for the new rows of campaign {campaign.name!r}.",
    )
    def campaign_sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.RunRequest | dg.SkipReason:
        store = _sensor_warehouse(warehouse)
        try:
            check_path(store.path)
            breaker = CircuitBreaker(store).state()
            if breaker.tripped:
                return dg.SkipReason(
                    f"{breaker.describe(DAGSTER_RESUME_HINT)}. Nothing was queried or claimed."
                )
            return _evaluate(context, campaign, store, clock(), breaker, silent_after)
        except Exception as exc:
            # Only another process's lock passes; any other error (an unusable path, a file
            # DuckDB cannot open, a refused query) fails the tick, naming what is wrong.
            if not is_lock_conflict(exc):
                raise
            return dg.SkipReason(
                f"the warehouse {warehouse.path} is locked or busy (another process is "
                f"writing to it): {exc}. The next evaluation tries again."
            )

    return campaign_sensor


def _evaluate(
    context: dg.SensorEvaluationContext,
    campaign: Campaign,
    store: Warehouse,
    now: datetime,
    breaker: BreakerState,
    silent_after: timedelta,
) -> dg.RunRequest | dg.SkipReason:
    name = campaign.name
    _ensure_schema(store)
    outbox = Outbox(store)
    dead = _settle(context, campaign, outbox, now, silent_after)
    found = _find(campaign, store)

    if found.first_activation and not campaign.send_on_first_activation:
        if campaign.dry_run:
            # A dry run writes nothing: the baseline is the rows there when it goes live, not
            # when it was first previewed (else the rows of the preview weeks would all be new).
            return dg.SkipReason(
                f"dry run of campaign {name!r}: its first activation would record "
                f"{plural(len(_baseline(campaign, found)), 'row')} as baseline (never sent); "
                "nothing recorded: the baseline is taken when the campaign goes live"
            )
        activation = CampaignActivations(store).activate(
            name, _baseline(campaign, found), by=f"sensor:{campaign.sensor_name}", now=now
        )
        if activation is None:
            return dg.SkipReason(
                f"campaign {name!r} was activated by another evaluation since this one read the "
                "outbox: nothing recorded; the next evaluation sends what is new"
            )
        return dg.SkipReason(
            f"first activation of campaign {name!r}: {activation.describe()}: the rows the "
            "query returned then are never sent; only rows appearing later are sent (set "
            "send_on_first_activation to send them too)"
        )

    threshold = _threshold(campaign, outbox, found)
    if threshold is not None and len(found.new) > threshold:
        outlook = _outlook(campaign, outbox, len(found.new), now)
        return dg.SkipReason(_surge_message(campaign, outlook, threshold))

    if in_quiet_hours(campaign, now):
        return _quiet_skip(campaign, outbox, found, now)

    held = outbox.rows("held", campaign=name)
    opted_held = OptOuts(store).opted_out(r.recipient for r in held)
    with outbox.reading() as session:
        decision = _decide(
            campaign, session, [r for r in held if r.recipient not in opted_held], found.new, now
        )
    expired = [r.dedup_key for r in decision.expired]
    if expired and not campaign.dry_run:
        expired = list(outbox.mark(name, expired, "expired", now=now))
    plan = decision.plan
    chosen = [m.dedup_key for m in (*plan.send, *plan.capped)]
    chosen += [r.dedup_key for r in held if r.recipient in opted_held]
    chosen += [str(r.dedup_key) for r in found.skipped]
    # Rows released by a run that stopped before their request (or by settling a dead one, or
    # by reconciliation: never accepted) are sent by the next run, which this one requests.
    released = [] if campaign.dry_run else outbox.released(name)
    chosen += [r.dedup_key for r in released]
    if not chosen:
        if plan.waiting and not decision.limit:
            return dg.SkipReason(
                f"daily cap reached: campaign {name!r} tried "
                f"{plural(decision.sent_today, 'message')} today (max_per_day "
                f"{campaign.max_per_day}); {plural(len(plan.waiting), 'row')} "
                f"{'waits' if len(plan.waiting) == 1 else 'wait'} for the next day, which "
                f"starts at {_when(next_day_start(campaign, now), campaign)}"
            )
        why = (
            [f"{plural(len(found.opted_out), 'opted-out number')} left out"]
            if found.opted_out
            else []
        )
        if expired:
            why.append(f"{plural(len(expired), 'held row')} expired, past validity_seconds")
        why += [run.describe() for run in dead]
        why += _waiting_on_runs(outbox, campaign, silent_after)
        return dg.SkipReason("nothing new to send" + (f" ({'; '.join(why)})" if why else ""))
    context.log.info(
        f"campaign {name!r}: requesting a run for {plural(len(plan.send), 'message')} "
        f"({len(decision.held_keys & {m.dedup_key for m in plan.send})} held until now) and "
        f"{plural(len(released), 'row')} released by earlier runs, "
        f"{plural(len(chosen) - len(plan.send) - len(released), 'row')} to record as skipped, "
        f"{plural(len(plan.waiting), 'row')} waiting for the caps"
    )
    run_key = batch_run_key(name, chosen)
    if released:
        # The same rows may be released again (a run that stopped before their request): each
        # release is a new batch to request.
        run_key += f"-r{max(r.updated_at for r in released):%Y%m%d%H%M%S%f}"
    if breaker.generation:
        # Dagster never launches a run key twice: a batch whose run the breaker refused must
        # get a new key once the campaigns are resumed. The refusal needed a trip recorded
        # after the request, so the generation has moved on since.
        run_key = f"{run_key}-b{breaker.generation}"
    return dg.RunRequest(
        run_key=run_key,
        run_config={"ops": {_op_name(campaign): {"config": {"dedup_keys": chosen}}}},
        tags={"smspresto/campaign": name},
    )


def _quiet_skip(campaign: Campaign, outbox: Outbox, found: _Found, now: datetime) -> dg.SkipReason:
    """In quiet hours: hold the new rows (a dry run records nothing) and say until when."""
    quiet = campaign.quiet_hours
    assert quiet is not None  # in_quiet_hours says so
    until = _when(next_send_time(campaign, now), campaign)
    window = f"quiet hours ({quiet.start} to {quiet.end})"
    if not found.new:
        return dg.SkipReason(f"{window} until {until}: nothing new to hold")
    if campaign.dry_run:
        return dg.SkipReason(
            f"{window} until {until}: {plural(len(found.new), 'new row')} would be held (dry run: "
            "nothing recorded)"
        )
    held = outbox.claim(found.new, state="held", now=now)
    return dg.SkipReason(
        f"{window} until {until}: {plural(len(held), 'new row')} held; sent when the window "
        f"opens, unless held longer than validity_seconds ({campaign.validity_seconds} s), "
        "then expired"
    )


def _metadata(
    campaign: Campaign,
    selected: int,
    skipped: dict[str, int],
    preview: list[dict[str, object]],
    counts: Mapping[str, int],
    *,
    threshold: int | None = None,
    texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "campaign": dg.MetadataValue.text(campaign.name),
        "dry_run": dg.MetadataValue.bool(campaign.dry_run),
        "rows_selected": dg.MetadataValue.int(selected),
        "skipped_by_reason": dg.MetadataValue.json(skipped),
        "skipped": dg.MetadataValue.int(sum(skipped.values())),
        "preview": dg.MetadataValue.json(preview),
    }
    if threshold is not None:
        metadata["volume_threshold"] = dg.MetadataValue.int(threshold)
    metadata.update({name: dg.MetadataValue.int(value) for name, value in counts.items()})
    metadata.update({name: dg.MetadataValue.text(value) for name, value in (texts or {}).items()})
    return metadata


def _send_op(campaign: Campaign, clock: Clock, silent_after: timedelta) -> dg.OpDefinition:
    @dg.op(
        name=_op_name(campaign),
        description=f"Sends the chosen rows of campaign {campaign.name!r}, each at most once.",
        tags={"kind": "duckdb"},
    )
    def send_batch(
        context: dg.OpExecutionContext,
        config: CampaignSendConfig,
        smspresto: SMSPrestoResource,
        warehouse: WarehouseResource,
    ) -> dg.Output[None]:
        store = warehouse.get_warehouse(default_region=campaign.default_region)
        try:
            check_path(store.path)
            return _run_send(context, campaign, config, smspresto, store, clock, silent_after)
        except CampaignQueryError as exc:
            raise dg.Failure(description=str(exc)) from None
        except (WarehousePathError, WarehouseOpenError, WarehouseLockedError) as exc:
            raise dg.Failure(
                description=f"campaign {campaign.name!r}: the warehouse cannot be used: {exc}"
            ) from None

    return send_batch


def _check_breaker(
    context: dg.OpExecutionContext,
    campaign: Campaign,
    config: CampaignSendConfig,
    store: Warehouse,
) -> str | None:
    """The breaker's description when it is tripped (None when closed).

    Raises:
        dagster.Failure: tripped, and neither a dry run nor told to ignore it; nothing was
            claimed.
    """
    breaker = CircuitBreaker(store).state()
    if not breaker.tripped:
        return None
    paused = breaker.describe(DAGSTER_RESUME_HINT)
    if campaign.dry_run:
        context.log.warning(f"dry run of campaign {campaign.name!r} while {paused}")
    elif config.ignore_circuit_breaker:
        context.log.warning(
            f"campaign {campaign.name!r} sends although {paused}: this run was launched with "
            "ignore_circuit_breaker: true"
        )
    else:
        raise dg.Failure(
            description=f"campaign {campaign.name!r}: nothing was claimed or sent: {paused}. "
            "To send anyway, launch the job with the run config "
            f"'ops: {{{_op_name(campaign)}: {{config: {{ignore_circuit_breaker: true}}}}}}'.",
            metadata={"circuit_breaker": dg.MetadataValue.text(paused)},
        )
    return paused


def _settle(
    context: dg.OpExecutionContext | dg.SensorEvaluationContext,
    campaign: Campaign,
    outbox: Outbox,
    now: datetime,
    silent_after: timedelta,
) -> list[DeadRun]:
    """Settle the campaign's dead send runs (see :mod:`~smspresto_pipeline.campaigns.settle`):
    rows they never requested released, rows that may have left marked ``ambiguous``; each
    logged as a warning. A dry run writes nothing."""
    if campaign.dry_run:
        return []
    own = context.run_id if isinstance(context, dg.OpExecutionContext) else None
    dead = settle_dead_runs(
        outbox,
        status_of=dagster_run_status(context.instance),
        campaign=campaign.name,
        now=now,
        silent_after=silent_after,
        alive=() if own is None else (own,),
    )
    for run in dead:
        context.log.warning(run.describe())
    return dead


def _waiting_on_runs(outbox: Outbox, campaign: Campaign, silent_after: timedelta) -> list[str]:
    """What waits under runs still taken for alive: their pending rows, and when they are
    judged dead if they stay silent."""
    waiting = []
    for owner in outbox.pending_owners(campaign.name):
        last = owner.last_write.replace(tzinfo=UTC)
        waiting.append(
            f"{plural(owner.requested + owner.unrequested, 'row')} pending under send run "
            f"{owner.run_id} "
            f"(its last write {_when(last, campaign)}; settled as a dead run if it writes "
            f"nothing more by {_when(last + silent_after, campaign)})"
        )
    return waiting


def _reconcile(
    context: dg.OpExecutionContext, outbox: Outbox, campaign: Campaign
) -> tuple[int, int]:
    """Resolve the campaign's ``ambiguous`` rows against the archive; (sent, released) counts:
    released rows were never accepted, and this run adopts and sends them.

    An archive never ingested leaves them ambiguous (the warehouse creates its tables on the
    first write, so the table is there, empty): the run goes on.
    """
    if not outbox.rows("ambiguous", campaign=campaign.name, limit=1):
        return 0, 0
    report = reconcile(outbox, timezone=campaign.timezone, campaign=campaign.name)
    context.log.info(
        f"campaign {campaign.name!r}: reconciled with the archive: {len(report.sent)} sent, "
        f"{len(report.released)} never accepted (released: sent again by this run), "
        f"{len(report.still_ambiguous)} still ambiguous"
    )
    return len(report.sent), len(report.released)


def _run_send(
    context: dg.OpExecutionContext,
    campaign: Campaign,
    config: CampaignSendConfig,
    smspresto: SMSPrestoResource,
    store: Warehouse,
    clock: Clock,
    silent_after: timedelta,
) -> dg.Output[None]:
    name, run_id, now = campaign.name, context.run_id, clock()
    # The run writes anyway: its first write would create the schema, this does it first (a
    # user's own file may not have it yet) and spares that check to the later writes.
    store.ensure_schema()
    paused = _check_breaker(context, campaign, config, store)
    outbox = Outbox(store)
    wanted = frozenset(config.dedup_keys) if config.dedup_keys else None
    found = _find(campaign, store, wanted)
    reasons: dict[str, int] = dict(collections.Counter(str(r.reason) for r in found.skipped))
    if found.opted_out:
        reasons["opted_out"] = len(found.opted_out)

    if found.first_activation and not campaign.send_on_first_activation:
        return _first_activation(context, campaign, store, found, now)

    threshold = _threshold(campaign, outbox, found)
    surge = None
    if threshold is not None and len(found.new) > threshold and not campaign.dry_run:
        outlook = _outlook(campaign, outbox, len(found.new), now)
        refused = _metadata(campaign, len(found.new), reasons, [], {}, threshold=threshold)
        surge = _confirmed_surge(campaign, config, outlook, threshold, refused)
    held = [
        r for r in outbox.rows("held", campaign=name) if wanted is None or r.dedup_key in wanted
    ]
    opted_held = OptOuts(store).opted_out(r.recipient for r in held)
    if wanted is not None:
        returned = {m.dedup_key for m in found.batch.messages}
        returned |= {str(r.dedup_key) for r in found.batch.skipped}
        if missing := len(wanted - returned - {r.dedup_key for r in held}):
            context.log.warning(
                f"{missing} of the {plural(len(wanted), 'chosen row')} no longer returned by "
                "the query (or no longer sendable): left alone"
            )
    selected = len(found.new) + len(found.opted_out) + len(found.skipped) + len(held)
    quiet = in_quiet_hours(campaign, now)
    texts = {"next_send_time": next_send_time(campaign, now).isoformat()} if quiet else {}

    if campaign.dry_run:
        return _dry_run(
            context, campaign, outbox, found, held, opted_held, reasons, now, threshold, paused
        )

    dead = _settle(context, campaign, outbox, now, silent_after)
    reconciled_sent, reconciled_released = _reconcile(context, outbox, campaign)
    if found.opted_out:
        outbox.claim(
            found.opted_out, state="skipped", skip_reason="opted_out", run_id=run_id, now=now
        )
    by_reason: dict[str, list[OutboxMessage]] = collections.defaultdict(list)
    for row in found.skipped:
        by_reason[row.reason].append(_skipped_message(campaign, row))
    for reason, rows in by_reason.items():
        outbox.claim(rows, state="skipped", skip_reason=reason, run_id=run_id, now=now)
    counts = {
        "sent": 0,
        "failed": 0,
        "ambiguous": 0,
        "left_pending": 0,
        "dead_runs": len(dead),
        "quarantined": sum(run.quarantined for run in dead),
        "released_from_dead_runs": sum(run.released for run in dead),
        "reconciled_sent": reconciled_sent,
        "reconciled_released": reconciled_released,
        "held": 0,
        "expired": 0,
        "waiting_for_cap": 0,
        "frequency_capped": 0,
    }

    if quiet:
        if surge is None:
            counts["held"] = len(outbox.claim(found.new, state="held", run_id=run_id, now=now))
        else:
            with outbox.transaction() as session:
                counts["held"] = _settle_surge(
                    session, campaign, found.new, surge, reasons, run_id=run_id, now=now
                )
        context.log.info(
            f"campaign {name!r}: quiet hours until {texts['next_send_time']}: "
            f"{plural(counts['held'], 'new row')} held, nothing sent"
        )
        metadata = _metadata(
            campaign,
            selected,
            reasons,
            [],
            {**counts, "segments_billed": 0, "requests": 0},
            threshold=threshold,
            texts=texts,
        )
        return dg.Output(None, metadata=metadata)

    with outbox.transaction() as session:
        # One transaction: the counts the caps read cannot change before the claims that
        # follow them (no other writer of the file, in any process, runs in between).
        current = [
            r
            for r in session.rows("held", campaign=name)
            if wanted is None or r.dedup_key in wanted
        ]
        gone = [r.dedup_key for r in current if r.recipient in opted_held]
        gone = list(
            session.mark(name, gone, "skipped", skip_reason="opted_out", run_id=run_id, now=now)
        )
        current = [r for r in current if r.recipient not in opted_held]
        decision = _decide(campaign, session, current, found.new, now)
        plan = decision.plan
        expired = session.mark(name, [r.dedup_key for r in decision.expired], "expired", now=now)
        moved = session.mark(
            name,
            [m.dedup_key for m in plan.send if m.dedup_key in decision.held_keys],
            "pending",
            run_id=run_id,
            now=now,
        )
        fresh = session.claim(
            [m for m in plan.send if m.dedup_key not in decision.held_keys],
            run_id=run_id,
            now=now,
        )
        capped_held = session.mark(
            name,
            [m.dedup_key for m in plan.capped if m.dedup_key in decision.held_keys],
            "skipped",
            skip_reason="frequency_cap",
            run_id=run_id,
            now=now,
        )
        capped_new = session.claim(
            [m for m in plan.capped if m.dedup_key not in decision.held_keys],
            state="skipped",
            skip_reason="frequency_cap",
            run_id=run_id,
            now=now,
        )
        if surge is not None:
            # A confirmed surge: the rest is claimed now, so the next ticks do not trip the
            # breaker again (the rows are no longer new).
            rest = [m for m in plan.waiting if m.dedup_key not in decision.held_keys]
            counts["held"] = _settle_surge(
                session, campaign, rest, surge, reasons, run_id=run_id, now=now
            )
    ours = set(moved) | {m.dedup_key for m in fresh}
    claimed: list[OutboxMessage] = [m for m in plan.send if m.dedup_key in ours]
    if gone:
        reasons["opted_out"] = reasons.get("opted_out", 0) + len(gone)
    if frequency_capped := len(capped_held) + len(capped_new):
        reasons["frequency_cap"] = frequency_capped
    counts.update(
        expired=len(expired),
        waiting_for_cap=len(plan.waiting),
        frequency_capped=frequency_capped,
    )
    preview = dataclasses.replace(found.batch, messages=plan.send).preview()

    # Opt-outs of adopted rows (and of every other row) are read again just before each
    # batch's request, by send_claimed.
    adopted = adopt_released(outbox, name, run_id=run_id)
    claimed += adopted
    context.log.info(
        f"campaign {name!r}: {plural(len(claimed), 'message')} claimed ({len(moved)} held "
        f"until now, {len(adopted)} adopted from earlier runs), "
        f"{plural(len(expired), 'held row')} expired, {plural(len(plan.waiting), 'row')} "
        f"waiting for the caps, {plural(sum(reasons.values()), 'row')} skipped {reasons}"
    )

    if not claimed:
        metadata = _metadata(
            campaign,
            selected,
            reasons,
            preview,
            {**counts, "segments_billed": 0, "requests": 0},
            threshold=threshold,
        )
        return dg.Output(None, metadata=metadata)
    with smspresto.get_client() as client:
        try:
            check_stock(client, claimed)
        except BaseException as exc:
            # No request was made (a short stock, or the API unreachable for the stock's
            # read): every claimed row is released, for the next run to adopt and send.
            keys = [m.dedup_key for m in claimed]
            outbox.release(name, keys, run_id=run_id, now=clock())
            if not isinstance(exc, SMSValidationError):
                raise
            counts["left_pending"] = len(keys)
            raise dg.Failure(
                description=f"campaign {name!r}: {exc}. Released (pending, no run): the "
                f"{plural(len(keys), 'claimed row')}, which the next run of the campaign adopts "
                "and sends.",
                metadata=_metadata(
                    campaign, selected, reasons, preview, counts, threshold=threshold
                ),
            ) from None
        report = send_claimed(client, outbox, claimed, run_id=run_id, clock=clock)
    counts.update(
        sent=report.sent,
        failed=report.failed,
        ambiguous=report.ambiguous,
        left_pending=report.left_pending,
    )
    if report.opted_out:
        # Numbers that opted out after their row was claimed: skipped just before the request.
        reasons["opted_out"] = reasons.get("opted_out", 0) + report.opted_out
    metadata = _metadata(
        campaign,
        selected,
        reasons,
        preview,
        {**counts, "segments_billed": report.segments_billed, "requests": report.requests},
        threshold=threshold,
    )
    if report.stopped is not None:
        raise dg.Failure(
            description=f"campaign {name!r}: the send stopped at {report.stopped}. "
            f"{report.sent} sent, {report.failed} failed, {report.ambiguous} ambiguous (never "
            f"resent: reconcile them with the archive), {report.left_pending} released for a "
            "later run.",
            metadata=metadata,
        )
    return dg.Output(None, metadata=metadata)


def _dry_run(
    context: dg.OpExecutionContext,
    campaign: Campaign,
    outbox: Outbox,
    found: _Found,
    held: Sequence[OutboxRow],
    opted_held: Collection[str],
    reasons: dict[str, int],
    now: datetime,
    threshold: int | None,
    paused: str | None,
) -> dg.Output[None]:
    """The run's decisions, reported: nothing claimed, nothing sent."""
    name = campaign.name
    selected = len(found.new) + len(found.opted_out) + len(found.skipped) + len(held)
    counts = {"held": 0, "expired": 0, "waiting_for_cap": 0, "frequency_capped": 0}
    texts: dict[str, str] = {} if paused is None else {"circuit_breaker": paused}
    to_send: Sequence[PreparedMessage] = ()
    if threshold is not None and len(found.new) > threshold:
        outlook = _outlook(campaign, outbox, len(found.new), now)
        context.log.warning(_surge_message(campaign, outlook, threshold))
    if in_quiet_hours(campaign, now):
        texts["next_send_time"] = next_send_time(campaign, now).isoformat()
        counts["held"] = len(found.new)
    else:
        current = [r for r in held if r.recipient not in opted_held]
        with outbox.reading() as session:
            decision = _decide(campaign, session, current, found.new, now)
        to_send = decision.plan.send
        counts.update(
            expired=len(decision.expired),
            waiting_for_cap=len(decision.plan.waiting),
            frequency_capped=len(decision.plan.capped),
        )
    segments = sum(m.segments for m in to_send)
    context.log.info(
        f"dry run of campaign {name!r}: would send {plural(len(to_send), 'message')} "
        f"({plural(segments, 'SMS part')}); {counts}; nothing claimed, nothing sent"
    )
    metadata = _metadata(
        campaign,
        selected,
        reasons,
        dataclasses.replace(found.batch, messages=tuple(to_send)).preview(),
        {
            **counts,
            "would_send": len(to_send),
            "would_bill_segments": segments,
            "segments_saved": sum(m.segments_saved for m in to_send),
            "sent": 0,
            "requests": 0,
        },
        threshold=threshold,
        texts=texts,
    )
    return dg.Output(None, metadata=metadata)


def build_campaign_defs(
    campaign: Campaign,
    *,
    clock: Clock = system_clock,
    silent_after: timedelta = DEFAULT_SILENT_AFTER,
) -> dg.Definitions:
    """The campaign's sensor ``<name>_sensor`` and send job ``<name>_send``.

    The resources ``smspresto`` and ``warehouse`` are the caller's to bind. The sensor starts
    stopped: switch it on in the UI (or with ``dagster sensor start``).

    Args:
        campaign: the campaign.
        clock: where the sensor and the job read the time (an aware datetime): quiet hours,
            validity, the daily cap's day and the frequency cap's window follow it. Default: the
            system clock; tests give a fixed one.
        silent_after: how long a send run owning pending rows may write none of them before
            the sensor and the next run judge it dead and settle its rows (Dagster's default
            run launcher leaves a killed run STARTED); see
            :mod:`~smspresto_pipeline.campaigns.settle`.
    """
    op = _send_op(campaign, clock, silent_after)

    @dg.job(
        name=campaign.job_name,
        description=campaign.description or f"Sends campaign {campaign.name!r}.",
        tags={"smspresto/campaign": campaign.name},
    )
    def send_job() -> None:
        op()

    sensor = _build_sensor(campaign, send_job, clock, silent_after)
    return dg.Definitions(jobs=[send_job], sensors=[sensor])
