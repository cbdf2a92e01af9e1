"""Where the events come from: each source reads the warehouse (no Dagster) and returns the
alerts of what needs a person now.

A source is a function of :class:`AlertFacts` to alerts; :data:`DEFAULT_SOURCES` is the list the
sensor reads, and a later source (the intraday spike check's, say) joins it by being added
there or passed to :func:`~smspresto_pipeline.alerts.definitions.build_alert_defs`. The events
of Dagster's own records (a failed run) come from the Dagster face
(:mod:`~smspresto_pipeline.alerts.definitions`). Each alert's key names its event so that the
same event found again by a later tick is the same alert, told once:

==================  ==========================================================  ==============
source              event                                                       key
==================  ==========================================================  ==============
breaker_alerts      an active trip of the circuit breaker (a spike check's      ``breaker-trip:
                    ERROR, or a person's pause)                                 <trip>``
stranded_alerts     a dead send run still owning pending outbox rows            ``stranded:
                                                                                <campaign>:
                                                                                <run>``
surge_alerts        a surge a campaign's sensor holds for a person's            ``surge-held:
                    confirmation (the volume breaker)                           <campaign>:
                                                                                <held at>``
stock_alerts        the latest snapshot's stock will not last ``runway_days``   ``stock-runway:
                    at the recent pace (at most one a day)                      <account>:<day>``
freshness_alerts    the history's newest day is older than expected             ``history-stale:
                                                                                <account>:
                                                                                <newest day>``
==================  ==========================================================  ==============

A spike check's ERROR trips the breaker (the checks' default): its alert is the trip's, so one
event gives one alert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.alerts.model import ALERTS_CAMPAIGN, Alert, AlertSettings
from smspresto_pipeline.campaigns.names import DAGSTER_RESUME_HINT, RECONCILE_JOB
from smspresto_pipeline.campaigns.settle import DEFAULT_SILENT_AFTER, RunStatus, dead_owners
from smspresto_pipeline.checks.freshness import read_freshness
from smspresto_pipeline.sending import CircuitBreaker, Outbox
from smspresto_pipeline.sending.breaker import Trip
from smspresto_pipeline.storage import HasDatabase
from smspresto_pipeline.storage.timestamps import utc_naive
from smspresto_pipeline.wording import plural

__all__ = [
    "DEFAULT_SOURCES",
    "AlertFacts",
    "EventSource",
    "breaker_alerts",
    "freshness_alerts",
    "gather",
    "stock_alerts",
    "stranded_alerts",
    "surge_alerts",
]


@dataclasses.dataclass(frozen=True, slots=True)
class AlertFacts:
    """What a source reads from.

    Attributes:
        warehouse: the warehouse.
        now: the tick's time (aware).
        settings: the alerts' settings (thresholds, the account's time zone).
        status_of: the orchestrator's view of a run (None: unknown), for dead send runs.
        account: the account whose history and stock are watched.
        silent_after: how long a send run may write nothing before it is judged dead.
        ingest_hint: how to re-run the ingest, as the face says it.
    """

    warehouse: HasDatabase
    now: datetime
    settings: AlertSettings
    status_of: Callable[[str], RunStatus | None]
    account: str = DEFAULT_ACCOUNT
    silent_after: timedelta = DEFAULT_SILENT_AFTER
    ingest_hint: str = "a backfill of archive_messages over the missing days, in the UI"


EventSource = Callable[[AlertFacts], Iterable[Alert]]


def _trip_key(trip: Trip) -> str:
    return f"breaker-trip:{trip.source}:{trip.partition_key or '-'}:{trip.tripped_at:%Y%m%dT%H%M%S}"


def breaker_alerts(facts: AlertFacts) -> list[Alert]:
    """One alert per active trip of the circuit breaker."""
    alerts = []
    for trip in CircuitBreaker(facts.warehouse).state().trips:
        if trip.paused_by is not None:
            what = f"Campaigns paused by {trip.paused_by}: {trip.reason}."
            kind, resolve = "paused", DAGSTER_RESUME_HINT
        else:
            what = f"Circuit breaker tripped: {trip.reason}."
            kind = "breaker-trip"
            resolve = f"once the cause is fixed (e.g. the carrier), {DAGSTER_RESUME_HINT}"
        alerts.append(
            Alert(_trip_key(trip), kind, what, "every campaign: nothing is sent", resolve)
        )
    return alerts


def stranded_alerts(facts: AlertFacts) -> list[Alert]:
    """One alert per dead send run still owning pending outbox rows (its campaign's own sensor
    settles them at its next evaluation; a campaign whose sensor is off keeps them)."""
    outbox = Outbox(facts.warehouse)
    alerts = []
    for owner, why in dead_owners(
        outbox, status_of=facts.status_of, now=facts.now, silent_after=facts.silent_after
    ):
        if owner.campaign == ALERTS_CAMPAIGN:
            continue  # the alerts settle their own rows at each tick
        rows = owner.requested + owner.unrequested
        alerts.append(
            Alert(
                f"stranded:{owner.campaign}:{owner.run_id}",
                "stranded",
                f"Send run {owner.run_id} of campaign {owner.campaign!r} {why}, leaving "
                f"{plural(rows, 'row')} pending ({owner.requested} maybe sent).",
                f"those rows of {owner.campaign!r}: not sent, not reconciled",
                f"launch the job {RECONCILE_JOB} in the UI (or wait for its hourly schedule): "
                "it releases the unsent rows and reconciles the others",
            )
        )
    return alerts


def surge_alerts(facts: AlertFacts) -> list[Alert]:
    """One alert per surge a campaign's sensor holds for confirmation (a surge held again after
    it ended is a new one)."""
    return [
        Alert(
            f"surge-held:{surge.campaign}:{surge.held_at:%Y%m%dT%H%M%S}",
            "surge-held",
            f"Campaign {surge.campaign!r} found {surge.found_rows} new rows, above its volume "
            f"threshold of {surge.threshold}: the surge is held for confirmation since "
            f"{surge.held_at:%Y-%m-%d %H:%M} UTC.",
            f"campaign {surge.campaign!r}: it sends nothing new until a person confirms",
            f"if this volume is expected, {surge.resolve}",
        )
        for surge in Outbox(facts.warehouse).held_surges()
    ]


def stock_alerts(facts: AlertFacts) -> list[Alert]:
    """An alert when the latest snapshot's stock will not last ``runway_days`` at the pace of
    the last ``pace_days`` days of history (SMS parts billed a day); at most one a day."""
    database = facts.warehouse.database
    if not database.exists():
        return []
    settings = facts.settings
    today = facts.now.astimezone(ZoneInfo(settings.timezone)).date()
    params = {
        "account": facts.account,
        "today": today,
        "since": today - timedelta(days=settings.pace_days),
    }
    with database.reading() as session:
        if not {"account_snapshots", "messages"} <= session.tables():
            return []
        rows = session.fetch_all("alerts/select_stock_and_pace.sql", params)
    stock, taken_at, parts = rows[0]
    pace = float(parts) / settings.pace_days
    if stock is None or pace <= 0 or stock >= pace * settings.runway_days:
        return []
    runway = stock / pace
    return [
        Alert(
            f"stock-runway:{facts.account}:{utc_naive(taken_at):%Y-%m-%d}",
            "stock-runway",
            f"Stock {stock} SMS parts (read {utc_naive(taken_at):%Y-%m-%d %H:%M} UTC): about "
            f"{runway:.1f} days at {pace:.0f} a day, under {settings.runway_days:g}.",
            "every campaign once the stock is spent (a run refuses what it cannot pay)",
            "top up the account's stock with SMS Presto",
        )
    ]


def freshness_alerts(facts: AlertFacts) -> list[Alert]:
    """An alert when the history's newest day is older than expected by now (one per newest
    day: a history that stays stale is told once; an empty warehouse is not told)."""
    settings = facts.settings
    freshness = read_freshness(
        facts.warehouse,
        facts.now,
        timezone=settings.timezone,
        ready_hour=settings.ready_hour,
        account=facts.account,
    )
    if not freshness.stale or freshness.newest is None:
        return []
    return [
        Alert(
            f"history-stale:{facts.account}:{freshness.newest.isoformat()}",
            "history-stale",
            f"History stale: {freshness.describe()}.",
            "the spike checks and the circuit breaker (they judge ingested days only), and "
            "the reconciliation of ambiguous sends",
            f"see why the daily ingest failed (its runs in the UI), then {facts.ingest_hint}",
        )
    ]


#: The sources the alerting sensor reads, in order (the first alert of a key wins).
DEFAULT_SOURCES: tuple[EventSource, ...] = (
    breaker_alerts,
    stranded_alerts,
    surge_alerts,
    stock_alerts,
    freshness_alerts,
)


def gather(facts: AlertFacts, sources: Sequence[EventSource] = DEFAULT_SOURCES) -> list[Alert]:
    """The alerts of every source, once per key, in the sources' order."""
    found: dict[str, Alert] = {}
    for source in sources:
        for alert in source(facts):
            found.setdefault(alert.key, alert)
    return list(found.values())
