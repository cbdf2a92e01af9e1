"""Reconciliation on a schedule: the job ``smspresto_reconcile_outbox``, its hourly schedule, and
its sensor after each read of today.

A send whose answer was lost leaves its rows ``ambiguous``; only the archive can say whether
SMS Presto accepted them (:mod:`~smspresto_pipeline.campaigns.reconcile`). The job's one op,
``reconcile_outbox``, first settles the send runs that died with rows ``pending``
(:mod:`~smspresto_pipeline.campaigns.settle`: a killed run stays STARTED under Dagster's
default launcher): their rows never requested are released for the campaign's next run, those
that may have left become ``ambiguous``. Then it resolves every campaign's ``ambiguous`` rows
against the ingested archive (``smspresto.messages``): a row found in the archive becomes
``sent``, one absent from an archive that covers its window was never accepted and is released
(the campaign's next run sends it), and the rest wait for a later ingestion. Nothing is sent
here. The run's metadata names the dead runs it settled, says how many rows each way, and how
long the oldest row still ambiguous has waited (a number that keeps growing means the archive
of its day is not being ingested).

Within the hour: the sensor ``smspresto_reconcile_outbox_after_intraday`` launches the job after
each materialization of ``archive_messages_today`` (today's rows read every few minutes,
:mod:`smspresto_pipeline.ingest.intraday`), so an ambiguous send is resolved against today's rows,
not tomorrow's ingest. A job of its own rather than a step of the read: the read must not fail
(nor wait) when the outbox is busy or a dead run's settling goes wrong, and the ingestion does not
know the campaigns; the sensor's run key is the materialization's, so each read reconciles once.
A row absent from today's rows is released only once the day's latest read started after the
row's window closed (``smspresto.intraday_reads.complete_until``).

It uses the resources ``warehouse``
(:class:`~smspresto_pipeline.resources.WarehouseResource`) and ``smspresto``
(:class:`~smspresto_pipeline.resources.SMSPrestoResource`), the latter only for the account's
time zone (the zone of the archive's times): the job makes no API call.

Example:
    .. code-block:: python

        defs = dg.Definitions.merge(
            build_reconcile_defs(default_status=dg.DefaultScheduleStatus.RUNNING),
            dg.Definitions(resources={"smspresto": ..., "warehouse": ...}),
        )
"""

# No ``from __future__ import annotations``: Dagster reads the op's annotations.

import collections
from datetime import UTC, datetime, timedelta

import dagster as dg

from smspresto_pipeline.campaigns.names import RECONCILE_JOB
from smspresto_pipeline.campaigns.reconcile import (
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    ReconcileReport,
    check_window,
    reconcile,
)
from smspresto_pipeline.campaigns.run_status import dagster_run_status
from smspresto_pipeline.campaigns.settle import DEFAULT_SILENT_AFTER, settle_dead_runs
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import Outbox
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone
from smspresto_pipeline.wording import plural

__all__ = ["RECONCILE_AFTER_INTRADAY", "RECONCILE_JOB_NAME", "build_reconcile_defs"]

#: The name of the reconciliation job; its schedule is ``<job>_hourly``.
RECONCILE_JOB_NAME = RECONCILE_JOB
#: The sensor that launches it after each read of today.
RECONCILE_AFTER_INTRADAY = f"{RECONCILE_JOB}_after_intraday"
#: The asset whose reads it follows: the default account's ``archive_messages_today`` (the
#: campaigns send through the default account; the name is the ingestion's, which this layer
#: does not import: tests/campaigns/test_reconcile_intraday.py pins them equal).
_TODAY = dg.AssetKey("archive_messages_today")


def _by_campaign(pairs: tuple[tuple[str, str], ...]) -> dict[str, int]:
    return dict(sorted(collections.Counter(campaign for campaign, _ in pairs).items()))


def _reconcile_op(before: timedelta, after: timedelta, silent_after: timedelta) -> dg.OpDefinition:
    @dg.op(
        name="reconcile_outbox",
        description="Settles the rows of dead send runs, then resolves every campaign's "
        "ambiguous outbox rows against the ingested archive (sent, or released when never "
        "accepted); sends nothing.",
        tags={"kind": "duckdb"},
    )
    def reconcile_outbox(
        context: dg.OpExecutionContext,
        smspresto: SMSPrestoResource,
        warehouse: WarehouseResource,
    ) -> dg.Output[None]:
        store = warehouse.get_warehouse()
        outbox = Outbox(store)
        # A file that does not exist yet has sent nothing: no reason to create it.
        report = ReconcileReport()
        dead = []
        if store.database.exists():
            dead = settle_dead_runs(
                outbox,
                status_of=dagster_run_status(context.instance),
                silent_after=silent_after,
                alive=(context.run_id,),
            )
            for run in dead:
                context.log.warning(run.describe())
            report = reconcile(outbox, timezone=smspresto.timezone, before=before, after=after)
        waiting = outbox.rows("ambiguous")
        sent, released = report.sent, report.released
        now = datetime.now(UTC).replace(tzinfo=None)
        oldest = min((row.updated_at for row in waiting), default=None)
        age = None if oldest is None else (now - oldest).total_seconds()
        context.log.info(
            f"{plural(len(sent), 'ambiguous row')} resolved sent, {len(released)} never "
            f"accepted (released for their campaign's next run), {len(waiting)} still ambiguous"
            + ("" if age is None else f" (the oldest for {age / 3600:.1f} hours)")
        )
        metadata = {
            "dead_runs": dg.MetadataValue.int(len(dead)),
            "dead_run_details": dg.MetadataValue.json([run.describe() for run in dead]),
            "released_from_dead_runs": dg.MetadataValue.int(sum(r.released for r in dead)),
            "quarantined_from_dead_runs": dg.MetadataValue.int(sum(r.quarantined for r in dead)),
            "resolved_sent": dg.MetadataValue.int(len(sent)),
            "released_unsent": dg.MetadataValue.int(len(released)),
            "still_ambiguous": dg.MetadataValue.int(len(waiting)),
            "oldest_ambiguous_age_seconds": dg.MetadataValue.float(round(age, 1))
            if age is not None
            else dg.MetadataValue.null(),
            "by_campaign": dg.MetadataValue.json(
                {
                    "sent": _by_campaign(sent),
                    "released": _by_campaign(released),
                    "still_ambiguous": _by_campaign(tuple(row.key for row in waiting)),
                }
            ),
            "account_timezone": dg.MetadataValue.text(smspresto.timezone),
        }
        return dg.Output(None, metadata=metadata)

    return reconcile_outbox


def build_reconcile_defs(
    *,
    minute: int = 30,
    timezone: str = DEFAULT_TIMEZONE,
    before: timedelta = DEFAULT_BEFORE,
    after: timedelta = DEFAULT_AFTER,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
    silent_after: timedelta = DEFAULT_SILENT_AFTER,
    after_reads_of: dg.AssetKey | None = _TODAY,
) -> dg.Definitions:
    """The job ``smspresto_reconcile_outbox``, its schedule ``<job>_hourly`` and, unless
    ``after_reads_of`` is None, the sensor ``<job>_after_intraday``.

    The resources ``smspresto`` and ``warehouse`` are the caller's to bind. The schedule starts
    stopped, as the ingest schedules do (importing a factory never starts anything): a
    deployment opts in with ``default_status``.

    Args:
        minute: the minute of each hour the schedule fires.
        timezone: the schedule's time zone (only how the UI shows its ticks).
        before / after: the window around the moment a row was marked ambiguous in which its
            archived message may have been created (see
            :func:`~smspresto_pipeline.campaigns.reconcile.reconcile`).
        default_status: whether the schedule runs as soon as it is deployed.
        silent_after: how long a send run owning pending rows may write none of them before
            it is judged dead and its rows settled.
        after_reads_of: the asset after each materialization of which the sensor launches the
            job (today's intraday read); None: no sensor. The sensor follows
            ``default_status``.

    Raises:
        ValueError: a minute outside 0-59, an unknown time zone, or a window that is negative
            or of a day or more.

    Example:
        .. code-block:: python

            from smspresto_pipeline.campaigns import build_reconcile_defs

            defs = build_reconcile_defs(minute=45)
            defs.resolve_job_def("smspresto_reconcile_outbox")
    """
    if not 0 <= minute <= 59:
        raise ValueError(f"minute must be between 0 and 59, got {minute!r}")
    check_timezone(timezone)
    check_window(before, after)
    op = _reconcile_op(before, after, silent_after)

    @dg.job(
        name=RECONCILE_JOB_NAME,
        description="Resolves the campaigns' ambiguous outbox rows against the ingested archive.",
    )
    def reconcile_job() -> None:
        op()

    schedule = dg.ScheduleDefinition(
        name=f"{RECONCILE_JOB_NAME}_hourly",
        cron_schedule=f"{minute} * * * *",
        execution_timezone=timezone,
        job=reconcile_job,
        default_status=default_status,
        description=f"Every hour at minute {minute}: resolve the campaigns' ambiguous outbox "
        "rows against the archive ingested so far.",
    )
    sensors = []
    if after_reads_of is not None:

        @dg.asset_sensor(
            asset_key=after_reads_of,
            job=reconcile_job,
            name=RECONCILE_AFTER_INTRADAY,
            default_status=dg.DefaultSensorStatus.RUNNING
            if default_status == dg.DefaultScheduleStatus.RUNNING
            else dg.DefaultSensorStatus.STOPPED,
            description=f"After each read of `{after_reads_of.to_user_string()}` (today's "
            "messages): resolve the campaigns' ambiguous outbox rows against today's rows, "
            "within minutes of the send rather than after the nightly ingest.",
        )
        def reconcile_after_intraday(
            context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
        ) -> dg.RunRequest:
            # One reconciliation per read: the newest read's run names it (reads that came
            # while none was launched are covered by it, being older).
            return dg.RunRequest(run_key=f"after-read:{asset_event.run_id}")

        sensors.append(reconcile_after_intraday)
    return dg.Definitions(jobs=[reconcile_job], schedules=[schedule], sensors=sensors)
