"""A campaign's Dagster definitions: the sensor ``<name>_sensor`` and the send job ``<name>_send``.

:func:`build_campaign_defs` gives both in a :class:`dagster.Definitions`, using the resources
``smspresto`` (:class:`~smspresto_pipeline.resources.SMSPrestoResource`) and ``warehouse``
(:class:`~smspresto_pipeline.resources.WarehouseResource`), which the caller binds (merge with
the project's Definitions).

**The sensor never sends** (a tick times out after 60 s). Each evaluation runs the campaign's
query read-only, prepares the rows, drops the keys already in the outbox and the opted-out
numbers, and requests a run of the send job whose ``run_key`` names the batch
(:func:`~smspresto_pipeline.campaigns.prepare.batch_run_key`), with the chosen ``dedup_keys`` in
the run's config: a tick that finds the same batch again requests no second run. It skips,
with the reason shown in the UI:

* when the warehouse file is locked or busy (another process writes): never a failed tick;
  the sensor waits at most :data:`SENSOR_LOCK_TIMEOUT` seconds for the lock;
* when nothing new is left to send;
* on the campaign's first activation (no row of it in the outbox at all) unless
  ``send_on_first_activation``: the rows found are claimed as ``baseline`` (never sent; the
  one write a sensor makes, one short transaction) so switching a campaign on never texts a
  whole table. Limitation: a campaign whose query returns nothing at its first evaluations
  stays "first" until rows appear, and those are then the baseline.

A query that fails (a SQL error, a missing column) is a configuration error: the tick **fails**
with :class:`CampaignQueryError` naming the campaign and DuckDB's message, so it shows red in
the UI rather than as a quiet skip; the send job fails the same way, before any claim.

**The send job** runs the query again, keeps the keys the sensor chose (all rows, capped at
``max_per_run``, when launched by hand with no keys), drops rows already in the outbox, claims
opted-out numbers as ``skipped`` (``opted_out``) and invalid rows as ``skipped`` with their
reason, claims the rest ``pending`` under its run id (only what the claim returns is sent),
adopts released ``pending`` rows of earlier runs (and marks ``ambiguous`` the ``pending`` rows
of runs the instance says are over: they died with a request maybe in flight), checks the
stock, then sends (:func:`~smspresto_pipeline.campaigns.send.send_claimed`). When the stock is
short nothing is sent and the claimed rows are **released** (``pending``, no run): they were
provably never sent, so the next run of the campaign adopts and sends them. A dry run claims
nothing and sends nothing, and reports what would be sent. The run fails
(:class:`dagster.Failure`) when the send stopped (an ambiguous batch, a refusal of the whole
account, an unreachable API), after every mark is written.

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
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field

from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.prepare import (
    PreparedBatch,
    PreparedMessage,
    SkippedRow,
    batch_run_key,
    prepare_batch,
)
from smspresto_pipeline.campaigns.send import (
    adopt_released,
    check_stock,
    quarantine_orphans,
    send_claimed,
)
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.warehouse import OUTBOX_STATES, OptOuts, Outbox, OutboxMessage, Warehouse
from smspresto_pipeline.warehouse.connection import WarehouseLockedError

__all__ = [
    "SENSOR_LOCK_TIMEOUT",
    "CampaignQueryError",
    "CampaignSendConfig",
    "build_campaign_defs",
]

#: Most seconds a sensor evaluation waits for another process's lock before skipping.
SENSOR_LOCK_TIMEOUT = 10.0

#: Skip reasons whose rows cannot be recorded under their own key (none, or the key of an
#: earlier row of the batch): they are counted, never claimed.
_UNRECORDABLE = frozenset({"missing_dedup_key", "duplicate_dedup_key"})


class CampaignQueryError(RuntimeError):
    """The campaign's query failed or returned a result the campaign cannot use."""


class CampaignSendConfig(dg.Config):
    """The run config of a campaign's send job."""

    dedup_keys: list[str] = Field(
        default_factory=list,
        description="The rows to send, chosen by the sensor. Empty (a manual launch): every "
        "row the query returns now that is not yet in the outbox, up to max_per_run.",
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


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, (WarehouseLockedError, duckdb.IOException))


def _prepare(campaign: Campaign, warehouse: Warehouse) -> PreparedBatch:
    """Run the campaign's query read-only and prepare its rows.

    Raises:
        WarehouseLockedError / duckdb.IOException: the file is locked or busy.
        CampaignQueryError: the query fails, or its result lacks a column.
    """
    try:
        with warehouse.reading() as con:
            table: pa.Table = con.sql(campaign.sql).to_arrow_table()
    except duckdb.IOException:
        raise
    except duckdb.Error as exc:
        raise CampaignQueryError(
            f"campaign {campaign.name!r}: its query failed, nothing was sent: {exc}"
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


def _has_outbox_rows(outbox: Outbox, campaign: Campaign) -> bool:
    return bool(outbox.rows(OUTBOX_STATES, campaign=campaign.name, limit=1))


def _build_sensor(campaign: Campaign, job: dg.JobDefinition) -> dg.SensorDefinition:
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
            return _evaluate(context, campaign, store)
        except Exception as exc:
            if not _is_lock_error(exc):
                raise
            return dg.SkipReason(
                f"the warehouse {warehouse.path} is locked or busy (another process is "
                f"writing to it): {exc}. The next evaluation tries again."
            )

    return campaign_sensor


def _evaluate(
    context: dg.SensorEvaluationContext, campaign: Campaign, store: Warehouse
) -> dg.RunRequest | dg.SkipReason:
    batch = _prepare(campaign, store)
    outbox = Outbox(store)
    recordable = _recordable(batch.skipped)
    keys = [m.dedup_key for m in batch.messages] + [str(r.dedup_key) for r in recordable]
    existing = outbox.existing_keys(campaign.name, keys)
    messages = [m for m in batch.messages if m.dedup_key not in existing]
    opted = OptOuts(store).opted_out(m.recipient for m in messages)
    skipped = [r for r in recordable if r.dedup_key not in existing]

    if not _has_outbox_rows(outbox, campaign) and not campaign.send_on_first_activation:
        if not messages and not skipped:
            return dg.SkipReason(
                "first activation: the query returns no row to record as a baseline yet"
            )
        recorded = outbox.claim(
            [*messages, *(_skipped_message(campaign, r) for r in skipped)], state="baseline"
        )
        return dg.SkipReason(
            f"first activation of campaign {campaign.name!r}: {len(recorded)} rows the query "
            "returns now were recorded as baseline and will never be sent; only rows appearing "
            "later are sent (set send_on_first_activation to send them too)"
        )

    to_send = [m for m in messages if m.recipient not in opted][: campaign.max_per_run]
    if not to_send and not skipped:
        why = f" ({len(opted)} opted-out numbers left out)" if opted else ""
        return dg.SkipReason(f"nothing new to send{why}")
    chosen = [m.dedup_key for m in to_send] + [str(r.dedup_key) for r in skipped]
    context.log.info(
        f"campaign {campaign.name!r}: requesting a run for {len(to_send)} messages and "
        f"{len(skipped)} rows to record as skipped"
    )
    return dg.RunRequest(
        run_key=batch_run_key(campaign.name, chosen),
        run_config={"ops": {_op_name(campaign): {"config": {"dedup_keys": chosen}}}},
        tags={"smspresto/campaign": campaign.name},
    )


def _metadata(
    campaign: Campaign,
    selected: int,
    skipped: dict[str, int],
    preview: list[dict[str, object]],
    **counts: int,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "campaign": dg.MetadataValue.text(campaign.name),
        "dry_run": dg.MetadataValue.bool(campaign.dry_run),
        "rows_selected": dg.MetadataValue.int(selected),
        "skipped_by_reason": dg.MetadataValue.json(skipped),
        "skipped": dg.MetadataValue.int(sum(skipped.values())),
        "preview": dg.MetadataValue.json(preview),
    }
    metadata.update({name: dg.MetadataValue.int(value) for name, value in counts.items()})
    return metadata


def _send_op(campaign: Campaign) -> dg.OpDefinition:
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
            return _run_send(context, campaign, config, smspresto, store)
        except CampaignQueryError as exc:
            raise dg.Failure(description=str(exc)) from None

    return send_batch


def _quarantine_dead_runs(context: dg.OpExecutionContext, outbox: Outbox, campaign: str) -> int:
    """Mark ``ambiguous`` the ``pending`` rows still owned by runs the instance says are over
    (a run that died between a request and its mark); a run still going is left alone."""
    owners = {
        row.run_id
        for row in outbox.rows("pending", campaign=campaign)
        if row.run_id is not None and row.run_id != context.run_id
    }
    finished = []
    for run_id in owners:
        run = context.instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            finished.append(run_id)
    quarantined = quarantine_orphans(outbox, campaign, finished) if finished else ()
    if quarantined:
        context.log.warning(
            f"campaign {campaign!r}: {len(quarantined)} rows of {len(finished)} runs that ended "
            "without recording an answer were marked ambiguous (never resent: reconcile them)"
        )
    return len(quarantined)


def _run_send(
    context: dg.OpExecutionContext,
    campaign: Campaign,
    config: CampaignSendConfig,
    smspresto: SMSPrestoResource,
    store: Warehouse,
) -> dg.Output[None]:
    name, run_id = campaign.name, context.run_id
    batch = _prepare(campaign, store)
    outbox = Outbox(store)
    messages: Sequence[PreparedMessage] = batch.messages
    skipped = _recordable(batch.skipped)
    if config.dedup_keys:
        wanted = set(config.dedup_keys)
        messages = [m for m in messages if m.dedup_key in wanted]
        skipped = [r for r in skipped if r.dedup_key in wanted]
        found = {m.dedup_key for m in messages} | {str(r.dedup_key) for r in skipped}
        if missing := len(wanted - found):
            context.log.warning(
                f"{missing} of the {len(wanted)} chosen rows are no longer returned by the "
                "query (or no longer sendable): left alone"
            )
    existing = outbox.existing_keys(
        name, [m.dedup_key for m in messages] + [str(r.dedup_key) for r in skipped]
    )
    messages = [m for m in messages if m.dedup_key not in existing][: campaign.max_per_run]
    skipped = [r for r in skipped if r.dedup_key not in existing]
    opted = OptOuts(store).opted_out(m.recipient for m in messages)
    opted_out = [m for m in messages if m.recipient in opted]
    to_send = [m for m in messages if m.recipient not in opted]
    reasons: dict[str, int] = dict(collections.Counter(str(r.reason) for r in skipped))
    if opted_out:
        reasons["opted_out"] = len(opted_out)
    preview = dataclasses.replace(batch, messages=tuple(to_send)).preview()
    selected = len(messages) + len(skipped)

    if campaign.dry_run:
        segments = sum(m.segments for m in to_send)
        context.log.info(
            f"dry run of campaign {name!r}: would send {len(to_send)} messages "
            f"({segments} SMS parts); nothing claimed, nothing sent"
        )
        metadata = _metadata(
            campaign,
            selected,
            reasons,
            preview,
            would_send=len(to_send),
            would_bill_segments=segments,
            segments_saved=sum(m.segments_saved for m in to_send),
            sent=0,
            requests=0,
        )
        return dg.Output(None, metadata=metadata)

    quarantined = _quarantine_dead_runs(context, outbox, name)
    if opted_out:
        outbox.claim(opted_out, state="skipped", skip_reason="opted_out", run_id=run_id)
    by_reason: dict[str, list[OutboxMessage]] = collections.defaultdict(list)
    for row in skipped:
        by_reason[row.reason].append(_skipped_message(campaign, row))
    for reason, rows in by_reason.items():
        outbox.claim(rows, state="skipped", skip_reason=reason, run_id=run_id)
    claimed: list[OutboxMessage] = outbox.claim(to_send, state="pending", run_id=run_id)
    adopted = adopt_released(outbox, name, run_id=run_id)
    adopted_opted = OptOuts(store).opted_out(m.recipient for m in adopted)
    if adopted_opted:
        gone = [m.dedup_key for m in adopted if m.recipient in adopted_opted]
        outbox.mark(name, gone, "skipped", skip_reason="opted_out", run_id=run_id)
        adopted = [m for m in adopted if m.recipient not in adopted_opted]
    claimed += adopted
    context.log.info(
        f"campaign {name!r}: {len(claimed)} messages claimed ({len(adopted)} adopted from "
        f"earlier runs), {sum(reasons.values())} rows skipped {reasons}"
    )

    counts = {"sent": 0, "failed": 0, "ambiguous": 0, "left_pending": 0, "quarantined": quarantined}
    if not claimed:
        metadata = _metadata(
            campaign, selected, reasons, preview, **counts, segments_billed=0, requests=0
        )
        return dg.Output(None, metadata=metadata)
    with smspresto.get_client() as client:
        try:
            check_stock(client, claimed)
        except SMSValidationError as exc:
            keys = [m.dedup_key for m in claimed]
            outbox.hand_over(name, keys, from_run=run_id, to_run=None)
            raise dg.Failure(
                description=f"campaign {name!r}: {exc}. The {len(keys)} claimed rows were "
                "released (pending, no run): the next run of the campaign adopts and sends them.",
                metadata=_metadata(
                    campaign, selected, reasons, preview, **counts, left_pending=len(keys)
                ),
            ) from None
        report = send_claimed(client, outbox, claimed, run_id=run_id)
    metadata = _metadata(
        campaign,
        selected,
        reasons,
        preview,
        sent=report.sent,
        failed=report.failed,
        ambiguous=report.ambiguous,
        left_pending=report.left_pending,
        segments_billed=report.segments_billed,
        requests=report.requests,
        quarantined=quarantined,
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


def build_campaign_defs(campaign: Campaign) -> dg.Definitions:
    """The campaign's sensor ``<name>_sensor`` and send job ``<name>_send``.

    The resources ``smspresto`` and ``warehouse`` are the caller's to bind. The sensor starts
    stopped: switch it on in the UI (or with ``dagster sensor start``).
    """
    op = _send_op(campaign)

    @dg.job(
        name=campaign.job_name,
        description=campaign.description or f"Sends campaign {campaign.name!r}.",
        tags={"smspresto/campaign": campaign.name},
    )
    def send_job() -> None:
        op()

    return dg.Definitions(jobs=[send_job], sensors=[_build_sensor(campaign, send_job)])
