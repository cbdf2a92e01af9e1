"""A campaign's Dagster definitions: its asset, the sensor ``<name>_sensor`` and the send job
``<name>_send``.

:func:`build_campaign_defs` gives them in a :class:`dagster.Definitions`, using the resources
``smspresto`` (:class:`~smspresto_pipeline.resources.SMSPrestoResource`) and ``warehouse``
(:class:`~smspresto_pipeline.resources.WarehouseResource`), which the caller binds (merge with
the project's Definitions).

**The campaign is an asset** (keyed by its name), as the Census and Hightouch components model
a sync: its upstream are the tables its query reads (``deps``; the archive,
``archive_messages``, by default), so the asset graph shows history -> campaign. The send job
is the asset job materializing it: each run that sends records a materialization whose
metadata holds its figures (``rows_selected``, ``sent``, ``failed``, ``ambiguous``, ``held``,
``skipped``, ``segments_billed``, ``requests`` ...) as numbers, which the UI plots per run. The
sensor still decides when (it requests the job's runs); the outbox still decides what. What a
run records:

* a run that ends well (sent, held for quiet hours, nothing new, a first activation's baseline,
  a dry run's report) materializes the asset with its figures;
* a run that fails after it made requests (the send stopped: an ambiguous batch, a refusal of
  the whole account, an unreachable API) records the materialization too, then fails: the
  messages it sent were sent, and a plot or Insights that skipped them would undercount;
* a run refused before any request (the circuit breaker, the volume breaker, a short stock, a
  refused query, an unusable warehouse) fails with its figures on the failure and records no
  materialization: nothing went out.

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
  (:class:`~smspresto_pipeline.warehouse.CampaignActivations`), even when the query returns
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
   running the query or claiming anything, unless its config says ``ignore_circuit_breaker``
   (a person's explicit override, logged as a warning); a dry run reports it
   (``circuit_breaker``) and goes on;
1. it settles the campaign's dead send runs (:mod:`~smspresto_pipeline.campaigns.settle`:
   over, unknown to the instance, or silent for ``silent_after``): rows they never requested
   are released, those that may have left become ``ambiguous``; then it reconciles the
   campaign's ``ambiguous`` rows with the ingested archive
   (:func:`~smspresto_pipeline.campaigns.reconcile.reconcile`: never accepted means released),
   as the sensor settles them before it decides (a dry run does neither);
2. then, in one transaction (no other writer in between: the counts the guards read cannot
   change before the claims that follow them), it reads the warehouse's facts once and decides:
3. first activation: a run of a campaign not activated yet (as above) records the activation
   and the baseline and sends nothing (unless ``send_on_first_activation``); its metadata
   says when (``activated_at``) and how many rows (``baseline``);
4. volume breaker: above the threshold, the run fails (:class:`dagster.Failure`) before
   claiming anything, unless its config says ``confirm_volume``; a confirmed run sends a first
   batch (caps applied) and does with the rest what ``surge_rest`` says
   (:class:`~smspresto_pipeline.campaigns.guards.SurgeRest`): ``expire``, claimed ``held`` for
   the next evaluations, which send what the caps allow before ``validity_seconds`` runs out;
   ``keep``, claimed ``held`` never to expire; ``drop``, claimed ``skipped``
   (``surge_dropped``). ``confirm_volume`` alone means ``expire`` when nothing would expire,
   and otherwise fails asking for the choice. The confirmation is recorded
   (``smspresto.campaign_surges``) with the claims;
5. it claims opted-out numbers and invalid rows as ``skipped`` with their reason; in quiet
   hours it claims the new rows ``held`` and sends nothing;
6. otherwise held rows past their validity become ``expired``, then held rows (oldest first)
   and new rows fill the batch up to ``max_per_run`` and what is left of ``max_per_day``; a
   row whose number already had ``frequency_cap.max_messages`` messages in the cap's window
   (all campaigns, and the rows before it in the batch) is claimed ``skipped``
   (``frequency_cap``), for good; the batch's held rows move to ``pending`` and its new rows
   are claimed ``pending`` under the run id;
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

This module is only the Dagster face: the guards above are decided once, without Dagster, by
:func:`~smspresto_pipeline.campaigns.decision.decide`, from a snapshot of the warehouse read in
one transaction, and carried out by :mod:`~smspresto_pipeline.campaigns.engine` (the same for
the sensor, the job and a dry run). Here a verdict becomes a ``SkipReason``, a ``RunRequest``,
the run's metadata or a :class:`dagster.Failure`, and the job's config the run's options.

Example:
    .. code-block:: python

        defs = dg.Definitions.merge(
            build_campaign_defs(campaign),
            dg.Definitions(resources={"smspresto": ..., "warehouse": ...}),
        )
"""

# No ``from __future__ import annotations``: Dagster reads the sensor's and op's annotations.

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from smspresto_pipeline.campaigns import engine
from smspresto_pipeline.campaigns.decision import RunOptions
from smspresto_pipeline.campaigns.engine import CampaignQueryError, Clock, Report, op_name
from smspresto_pipeline.campaigns.guards import SurgeRest
from smspresto_pipeline.campaigns.model import Campaign
from smspresto_pipeline.campaigns.names import DAGSTER_RESUME_HINT
from smspresto_pipeline.campaigns.run_status import dagster_run_status
from smspresto_pipeline.campaigns.settle import DEFAULT_SILENT_AFTER
from smspresto_pipeline.campaigns.timing import system_clock
from smspresto_pipeline.conventions import GROUP_NAME, asset_kinds
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.storage import (
    WarehouseLockedError,
    WarehouseOpenError,
    WarehousePathError,
    is_lock_conflict,
)
from smspresto_pipeline.storage.urls import Engine
from smspresto_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

__all__ = [
    "DEFAULT_DEPS",
    "SENSOR_LOCK_TIMEOUT",
    "CampaignQueryError",
    "CampaignSendConfig",
    "Clock",
    "build_campaign_defs",
]

#: Most seconds a sensor evaluation waits for another process's lock before skipping.
SENSOR_LOCK_TIMEOUT = 10.0

#: What a campaign reads unless it says otherwise: the archive, ``smspresto.messages``, which
#: the ingestion's asset ``archive_messages`` writes (named here: the campaigns and the
#: ingestion stand side by side and import nothing of each other).
DEFAULT_DEPS: tuple[dg.AssetKey, ...] = (dg.AssetKey("archive_messages"),)


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
    return resource.get_warehouse(max_lock_timeout=SENSOR_LOCK_TIMEOUT)


def sensor_description(campaign: Campaign) -> str:
    """What the campaign's sensor does, and what stops it and how to resume, as the UI's sensor
    list shows it (no click into a tick)."""
    what = (
        campaign.description
        or f"Requests a run of {campaign.job_name} for the new rows of campaign {campaign.name!r}."
    )
    return (
        f"{what} It requests nothing while the circuit breaker pauses the campaigns (each tick, "
        "and the asset smspresto_circuit_breaker when the alerts are on, say why and since "
        "when; resume with "
        f"{DAGSTER_RESUME_HINT}), nor while a surge above its volume threshold waits for a "
        f"person to confirm it (launch {campaign.job_name} with confirm_volume: true)."
    )


def _build_sensor(
    campaign: Campaign,
    job: "UnresolvedAssetJobDefinition",
    clock: Clock,
    silent_after: timedelta,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=campaign.sensor_name,
        job=job,
        minimum_interval_seconds=campaign.minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=sensor_description(campaign),
    )
    def campaign_sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.RunRequest | dg.SkipReason:
        store = _sensor_warehouse(warehouse)
        try:
            store.check()
            outcome = engine.evaluate(
                campaign,
                store,
                clock(),
                status_of=dagster_run_status(context.instance),
                silent_after=silent_after,
                log=context.log,
            )
        except Exception as exc:
            # Only another process's lock passes; any other error (an unusable path, a file
            # DuckDB cannot open, a refused query) fails the tick, naming what is wrong.
            if not is_lock_conflict(exc):
                raise
            return dg.SkipReason(
                f"the warehouse {store.target} is locked or busy (another process is "
                f"writing to it): {exc}. The next evaluation tries again."
            )
        if isinstance(outcome, engine.Skip):
            return dg.SkipReason(outcome.reason)
        return dg.RunRequest(
            run_key=outcome.run_key,
            run_config={
                "ops": {op_name(campaign): {"config": {"dedup_keys": list(outcome.dedup_keys)}}}
            },
            tags={"smspresto/campaign": campaign.name},
        )

    return campaign_sensor


def _metadata(
    campaign: Campaign, report: Report | None, texts: Mapping[str, str]
) -> dict[str, Any]:
    """A send run's report as the metadata of its output (or of its Failure)."""
    metadata: dict[str, Any] = {}
    if report is not None:
        skipped = dict(report.skipped)
        metadata.update(
            {
                "campaign": dg.MetadataValue.text(campaign.name),
                "dry_run": dg.MetadataValue.bool(campaign.dry_run),
                "rows_selected": dg.MetadataValue.int(report.selected),
                "skipped_by_reason": dg.MetadataValue.json(skipped),
                "skipped": dg.MetadataValue.int(sum(skipped.values())),
                "preview": dg.MetadataValue.json([dict(row) for row in report.preview]),
            }
        )
        if report.threshold is not None:
            metadata["volume_threshold"] = dg.MetadataValue.int(report.threshold)
        metadata.update({k: dg.MetadataValue.int(v) for k, v in report.counts.items()})
    metadata.update({k: dg.MetadataValue.text(v) for k, v in texts.items()})
    return metadata


def _campaign_spec(
    campaign: Campaign, deps: Sequence[dg.AssetKey | str], engine: Engine
) -> dg.AssetSpec:
    """The campaign's asset: keyed by its name, downstream of the tables its query reads."""
    return dg.AssetSpec(
        key=dg.AssetKey(campaign.name),
        deps=[dg.AssetKey.from_user_string(k) if isinstance(k, str) else k for k in deps],
        group_name=GROUP_NAME,
        kinds=asset_kinds(engine),
        description=campaign.description
        or f"The sends of campaign {campaign.name!r}: each materialization is a run's figures.",
    )


def _send_asset(
    campaign: Campaign,
    spec: dg.AssetSpec,
    clock: Clock,
    silent_after: timedelta,
    pool: str | None,
) -> dg.AssetsDefinition:
    # The op keeps its name (the run config names it: ops: {<name>_send_batch: ...}) whatever
    # key a translation gives the asset.
    @dg.multi_asset(
        name=op_name(campaign),
        specs=[spec],
        description=f"Sends the chosen rows of campaign {campaign.name!r}, each at most once.",
        pool=pool,
    )
    def send_batch(
        context: dg.AssetExecutionContext,
        config: CampaignSendConfig,
        smspresto: SMSPrestoResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult[None]:
        options = RunOptions(
            trigger="job",
            wanted=frozenset(config.dedup_keys) if config.dedup_keys else None,
            confirm_volume=config.confirm_volume,
            surge_rest=config.surge_rest,
            ignore_circuit_breaker=config.ignore_circuit_breaker,
        )
        try:
            store = warehouse.get_warehouse(default_region=campaign.default_region)
            store.check()
            report = engine.run(
                campaign,
                store,
                options,
                run_id=context.run.run_id,
                clock=clock,
                client=smspresto.get_client,
                status_of=dagster_run_status(context.instance),
                silent_after=silent_after,
                log=context.log,
            )
        except engine.SendRunError as failed:
            metadata = _metadata(campaign, failed.report, failed.texts)
            if failed.report is not None and failed.report.counts.get("requests", 0) > 0:
                # Sent before it stopped: what left is recorded, as a run that ended well's.
                context.log_event(dg.AssetMaterialization(asset_key=spec.key, metadata=metadata))
            raise dg.Failure(description=failed.description, metadata=metadata) from None
        except CampaignQueryError as exc:
            raise dg.Failure(description=str(exc)) from None
        except (WarehousePathError, WarehouseOpenError, WarehouseLockedError) as exc:
            raise dg.Failure(
                description=f"campaign {campaign.name!r}: the warehouse cannot be used: {exc}"
            ) from None
        return dg.MaterializeResult(metadata=_metadata(campaign, report, report.texts))

    return send_batch


def build_campaign_defs(
    campaign: Campaign,
    *,
    clock: Clock = system_clock,
    silent_after: timedelta = DEFAULT_SILENT_AFTER,
    pool: str | None = None,
    deps: Sequence[dg.AssetKey | str] = DEFAULT_DEPS,
    engine: Engine = "duckdb",
    translate: Callable[[dg.AssetSpec], dg.AssetSpec] | None = None,
) -> dg.Definitions:
    """The campaign's asset ``<name>``, its sensor ``<name>_sensor`` and its send job
    ``<name>_send``, the asset job materializing the asset.

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
        pool: a Dagster concurrency pool for the send job's op, which writes the warehouse (the
            outbox); None for no pool. A send step holds its slot for the whole run, API calls
            included: in the ingestion's pool at one slot, a long send delays the ingest
            (docs/deployment.md).
        deps: the asset keys of the tables the campaign's query reads (its asset's upstream),
            as keys or strings (``"brand_a/archive_messages"``). Default: the archive,
            ``archive_messages``.
        engine: the warehouse's engine, for the asset's kinds (``duckdb``, ``postgres``).
        translate: applied to the asset's spec (another key, group, tags ...); the send job
            materializes the asset under its new key.
    """
    spec = _campaign_spec(campaign, deps, engine)
    if translate is not None:
        spec = translate(spec)
    asset = _send_asset(campaign, spec, clock, silent_after, pool)
    send_job = dg.define_asset_job(
        name=campaign.job_name,
        selection=[spec.key],
        description=campaign.description or f"Sends campaign {campaign.name!r}.",
        tags={"smspresto/campaign": campaign.name},
    )
    sensor = _build_sensor(campaign, send_job, clock, silent_after)
    return dg.Definitions(assets=[asset], jobs=[send_job], sensors=[sensor])
