"""The alerting sensor ``smspresto_alerts``: each tick gathers the events that need a person
and tells the new ones, by SMS to the operator's numbers and to an optional webhook.

:func:`build_alert_defs` gives the sensor; it uses the resources ``smspresto`` (the campaigns'
account: its API sends the SMS) and ``warehouse``, the caller's to bind. Each tick reads the
event sources (:mod:`~smspresto_pipeline.alerts.events`) and Dagster's failed runs of the send
and ingest jobs since its cursor, records them in the ledger (``smspresto.alert_deliveries``:
the cursor only bounds the runs read; a reset sensor finds the events already told there) and
tells them (:mod:`~smspresto_pipeline.alerts.delivery`).

Unlike the campaign sensors, this sensor sends itself, on purpose: an alert must not wait for
a run queue or a run worker (a failed run may be what it reports), and a tick sends few
messages (at most ``max_per_hour`` a channel in any hour, one SMS request for all of them, the
client's and the webhook's timeouts bounding each request).

Example:
    .. code-block:: python

        defs = dg.Definitions.merge(
            build_alert_defs(numbers=["+2250700000000"], sender="SMSPRESTO"),
            dg.Definitions(resources={"smspresto": ..., "warehouse": ...}),
        )
"""

# No ``from __future__ import annotations``: Dagster reads the sensor's annotations.

import dataclasses
import json
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from smspresto_pipeline.alerts.breaker_view import breaker_signature, breaker_view
from smspresto_pipeline.alerts.channels import Channel, SmsChannel, WebhookChannel
from smspresto_pipeline.alerts.delivery import tell
from smspresto_pipeline.alerts.events import DEFAULT_SOURCES, AlertFacts, EventSource, gather
from smspresto_pipeline.alerts.ledger import AlertLedger
from smspresto_pipeline.alerts.model import (
    DEFAULT_MAX_PER_HOUR,
    DEFAULT_RUNWAY_DAYS,
    DEFAULT_WEBHOOK_URL_ENV,
    Alert,
    AlertSettings,
)
from smspresto_pipeline.campaigns.definitions import SENSOR_LOCK_TIMEOUT
from smspresto_pipeline.campaigns.engine import Clock
from smspresto_pipeline.campaigns.names import DAGSTER_RESUME_HINT, PAUSE_JOB
from smspresto_pipeline.campaigns.prepare import mask_number
from smspresto_pipeline.campaigns.run_status import dagster_run_status
from smspresto_pipeline.campaigns.timing import system_clock
from smspresto_pipeline.checks.definitions import FAILURE_SPIKE_CHECK
from smspresto_pipeline.checks.freshness import DEFAULT_READY_HOUR
from smspresto_pipeline.checks.freshness_defs import ARCHIVE_ASSET
from smspresto_pipeline.conventions import GROUP_NAME, asset_kinds, table_metadata, table_tags
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import CircuitBreaker, Outbox
from smspresto_pipeline.sending.breaker import CHECK_PREFIX
from smspresto_pipeline.storage import is_lock_conflict
from smspresto_pipeline.storage.urls import Engine
from smspresto_pipeline.wording import plural

__all__ = [
    "ALERTS_SENSOR",
    "BREAKER_ASSET",
    "SPIKE_CHECK",
    "build_alert_defs",
    "failed_run_alerts",
    "spike_error_alerts",
]

#: The alerting sensor's name.
ALERTS_SENSOR = "smspresto_alerts"
#: How far back the first tick (no cursor) looks for failed runs.
_FIRST_LOOK_BACK = timedelta(days=1)
#: How far back each tick reads the spike checks' ERRORs (the ledger drops those already told).
#: Not a cursor: an evaluation's record is stamped when its run plans the check, by the storage's
#: clock (whole seconds on SQLite), so a record newer than the last tick can sort before it.
SPIKE_LOOK_BACK = timedelta(days=1)
_CAMPAIGN_TAG = "smspresto/campaign"
#: The asset the breaker's state is observed on.
BREAKER_ASSET = dg.AssetKey("smspresto_circuit_breaker")
#: The default account's failure-spike check, whose ERROR without a trip is told.
SPIKE_CHECK = dg.AssetCheckKey(ARCHIVE_ASSET, FAILURE_SPIKE_CHECK)


def _watched(run: dg.DagsterRun, jobs: frozenset[str]) -> str | None:
    """What a failed run blocks, when it is a run the alerts watch (None: not watched)."""
    campaign = run.tags.get(_CAMPAIGN_TAG)
    if campaign:
        return f"campaign {campaign!r}: its rows wait for its next run"
    if run.job_name.endswith("_ingest_job") or run.job_name in jobs:
        return "the history's next days, and with them the spike checks and the breaker"
    return None


def failed_run_alerts(
    instance: dg.DagsterInstance, since: datetime, jobs: frozenset[str] = frozenset()
) -> tuple[list[Alert], datetime]:
    """An alert per failed run of a campaign's send job, an ingest job (``*_ingest_job``) or
    one of ``jobs``, updated after ``since``; and the newest update seen (the next cursor)."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since),
        limit=100,
        ascending=True,
    )
    alerts, newest = [], since
    for record in records:
        newest = max(newest, record.update_timestamp)
        run = record.dagster_run
        blocks = _watched(run, jobs)
        if blocks is None:
            continue
        alerts.append(
            Alert(
                f"run-failed:{run.run_id}",
                "run-failed",
                f"Run {run.run_id[:8]} of job {run.job_name} failed.",
                blocks,
                f"open run {run.run_id[:8]} in the UI (Runs), fix its error, then re-execute it",
            )
        )
    return alerts, newest


def _breaker_check_name(key: dg.AssetCheckKey) -> str:
    """The name a spike check trips the breaker under: ``failure_rate_spike``, or
    ``<account>__failure_rate_spike`` for a named account's (asset key ``[<account>, ...]``)."""
    return "__".join([*key.asset_key.path[:-1], key.name])


def spike_error_alerts(
    instance: dg.DagsterInstance,
    checks: Sequence[dg.AssetCheckKey],
    tripped: Callable[[str, str | None], bool],
    since: datetime,
) -> list[Alert]:
    """An alert per (check, partition) whose spike check failed at ``ERROR`` in a run planned
    after ``since`` without tripping the circuit breaker (it was switched off for the check, or
    the day lay outside its ``breaker_days``): an ``ERROR`` that tripped it is the trip's alert,
    told once. ``tripped(check name, partition)`` says whether the breaker ever recorded that
    trip. The same ERROR is found again by later ticks: the ledger tells it once."""
    alerts = []
    for key in checks:
        records = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=100, status={AssetCheckExecutionRecordStatus.FAILED}
        )
        for record in records:  # newest first
            if record.create_timestamp < since.timestamp():
                break
            evaluation = record.evaluation
            if evaluation is None or evaluation.severity != dg.AssetCheckSeverity.ERROR:
                continue
            partition = record.partition
            if tripped(_breaker_check_name(key), partition):
                continue
            check = key.to_user_string()
            alerts.append(
                Alert(
                    f"spike-error:{check}:{partition or '-'}",
                    "spike-error",
                    f"Spike check ERROR on {partition or 'its asset'}, breaker not tripped: "
                    f"{evaluation.description or 'see the check'} ({check}; the breaker is off "
                    "for it, or the day is past its breaker_days).",
                    "nothing: campaigns keep sending",
                    f'to stop them, `smspresto campaigns pause --reason "..."` or the job '
                    f"{PAUSE_JOB} in the UI",
                )
            )
    return alerts


def _runs_after(cursor: str | None, now: datetime) -> datetime:
    """The cursor's time of the newest failed run read; the first tick looks back a day."""
    if not cursor:
        return now - _FIRST_LOOK_BACK
    return datetime.fromisoformat(json.loads(cursor)["runs_after"])


def build_alert_defs(
    *,
    numbers: Sequence[str] = (),
    sender: str = "SMSPRESTO",
    region: str = "CI",
    webhook_url_env: str = DEFAULT_WEBHOOK_URL_ENV,
    max_per_hour: int = DEFAULT_MAX_PER_HOUR,
    runway_days: float = DEFAULT_RUNWAY_DAYS,
    pace_days: int = 7,
    ready_hour: int = DEFAULT_READY_HOUR,
    sources: Sequence[EventSource] = DEFAULT_SOURCES,
    watched_jobs: Sequence[str] = (),
    spike_checks: Sequence[dg.AssetCheckKey] = (SPIKE_CHECK,),
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    engine: Engine = "duckdb",
    clock: Clock = system_clock,
) -> dg.Definitions:
    """The sensor ``smspresto_alerts``, and the asset ``smspresto_circuit_breaker`` (group
    ``smspresto``, table ``smspresto.campaign_pauses``) it observes the breaker's state on.

    Args:
        numbers: the operator's numbers (national forms read as ``region``'s); empty: no SMS.
        sender: the sender name the SMS alerts come from.
        region: the country national numbers are read in.
        webhook_url_env: the environment variable holding the webhook's URL, read at each tick
            (unset: no webhook). The URL is a secret: only its variable's name is configured.
        max_per_hour: alerts a channel attempts in any hour at most (a summary included).
        runway_days: the stock alert fires below this many days of stock at the recent pace.
        pace_days: days of history the pace is measured over.
        ready_hour: the hour (account's time zone) by which yesterday is expected ingested.
        sources: the event sources read at each tick (:data:`~.events.DEFAULT_SOURCES`).
        watched_jobs: more jobs whose failed runs are told (the send and ingest jobs always).
        spike_checks: the failure-spike checks whose ``ERROR`` is told when it did not trip
            the breaker (``archive_messages``'s; a named account's is on
            ``[<account>, archive_messages]``).
        minimum_interval_seconds: the least time between two ticks.
        default_status: whether the sensor runs as soon as it is deployed (stopped: a
            deployment opts in, as for the schedules).
        engine: the warehouse's engine, for the breaker asset's kinds (``duckdb``,
            ``postgres``).
        clock: where a tick reads the time (an aware datetime): the freshness and stock
            events, the rate limit's hour and the first tick's look-back follow it, as the
            campaigns' ``clock`` does theirs. Default: the system clock; a replay or a test on
            the simulator's clock gives its own.

    Raises:
        ValueError: naming the bad value (a number, the sender, a bound), before
            anything is sent.

    Example:
        .. code-block:: python

            defs = build_alert_defs(numbers=["07 08 08 14 88"], sender="OPS")
            defs.resolve_sensor_def("smspresto_alerts")
    """
    settings = AlertSettings.of(
        numbers=numbers,
        sender=sender,
        region=region,
        webhook_url_env=webhook_url_env,
        max_per_hour=max_per_hour,
        runway_days=runway_days,
        pace_days=pace_days,
        ready_hour=ready_hour,
    )
    jobs = frozenset(watched_jobs)
    checks = tuple(spike_checks)
    sms = ", ".join(mask_number(number) for number in settings.numbers) or "no number"

    @dg.sensor(
        name=ALERTS_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=f"Tells the operator when a person is needed (the breaker tripped or a "
        f"person paused, a surge waits for confirmation, a send run died, a run failed, a "
        f"spike check ERROR did not trip the breaker, the stock runs low, the history is "
        f"stale): SMS to {sms}, and the webhook named by ${settings.webhook_url_env} when set; "
        f"at most {settings.max_per_hour} alerts an hour a channel, each event once, each "
        "saying the command or UI action that resolves it. It never pauses or resumes "
        "anything itself; what it told is in the table smspresto.alert_deliveries.",
    )
    def smspresto_alerts(
        context: dg.SensorEvaluationContext,
        smspresto: SMSPrestoResource,
        warehouse: WarehouseResource,
    ) -> dg.SkipReason | dg.SensorResult:
        now = clock()
        store = warehouse.get_warehouse(max_lock_timeout=SENSOR_LOCK_TIMEOUT)
        # The account's time zone is the API resource's, as the ingest's and campaigns' are.
        facts = AlertFacts(
            store,
            now,
            dataclasses.replace(settings, timezone=smspresto.timezone),
            dagster_run_status(context.instance),
        )
        try:
            alerts = gather(facts, sources)
            failed, newest = failed_run_alerts(
                context.instance, _runs_after(context.cursor, now), jobs
            )
            trips = {(t.source, t.partition_key) for t in CircuitBreaker(store).history(limit=None)}
            spikes = spike_error_alerts(
                context.instance,
                checks,
                lambda name, partition: (f"{CHECK_PREFIX}{name}", partition) in trips,
                now - SPIKE_LOOK_BACK,
            )
            failed += spikes
            breaker = CircuitBreaker(store).state()
            channels: list[Channel] = []
            if settings.numbers:
                channels.append(
                    SmsChannel(
                        smspresto.get_client(),
                        Outbox(store),
                        numbers=settings.numbers,
                        sender=settings.sender,
                        tick_id=f"{ALERTS_SENSOR}:{uuid.uuid4().hex}",
                    )
                )
            url = os.environ.get(settings.webhook_url_env, "").strip()
            if url:
                channels.append(WebhookChannel(url))
            reports = tell(
                [*alerts, *failed],
                channels,
                AlertLedger(store),
                now,
                max_per_hour=settings.max_per_hour,
            )
        except Exception as exc:
            if not is_lock_conflict(exc):
                raise
            return dg.SkipReason(
                f"the warehouse {store.target} is locked or busy: {exc}. The next tick tries again."
            )
        # The runs read are recorded in the ledger: the cursor may move past them.
        signature = breaker_signature(breaker)
        seen = json.loads(context.cursor).get("breaker") if context.cursor else None
        context.update_cursor(
            json.dumps(
                {
                    "runs_after": newest.isoformat(),
                    "breaker": signature,
                }
            )
        )
        found = [*alerts, *failed]
        need = "needs" if len(found) == 1 else "need"
        lines = [f"{plural(len(found), 'event')} {need} a person now" + (":" if found else ".")]
        lines += [f"- {alert.kind}: {alert.what} ({alert.key})" for alert in found]
        lines += [report.describe() for report in reports] or [
            "no channel: set numbers or the webhook's variable"
        ]
        if signature == seen:
            return dg.SkipReason("\n".join(lines))
        # The breaker changed since the last tick: its state goes on the asset's page.
        observation = dg.AssetObservation(
            asset_key=BREAKER_ASSET,
            description=str(breaker_view(breaker, DAGSTER_RESUME_HINT)["status"]),
            metadata=breaker_view(breaker, DAGSTER_RESUME_HINT),
        )
        return dg.SensorResult(skip_reason="\n".join(lines), asset_events=[observation])

    breaker_asset = dg.AssetSpec(
        BREAKER_ASSET,
        description="The circuit breaker of the campaigns: whether they are paused, why, since "
        f"when and by whom, observed by the sensor {ALERTS_SENSOR} each time it changes (see "
        "the latest observation's metadata). A person resumes them with "
        f"{DAGSTER_RESUME_HINT}.",
        group_name=GROUP_NAME,
        kinds=asset_kinds(engine),
        metadata=table_metadata("campaign_pauses"),
        tags=table_tags("campaign_pauses"),
    )
    return dg.Definitions(sensors=[smspresto_alerts], assets=[breaker_asset])
