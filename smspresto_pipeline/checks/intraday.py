"""Today's failures so far, per segment, against the same hours of the days before: the
intraday spike check's statistics, no Dagster.

The daily check (:mod:`~smspresto_pipeline.checks.spikes`) judges a day once it is over; a
carrier outage that starts at 09:00 is then seen the next morning. This check judges today
while it goes, with the daily check's own model (beta-binomial with the baseline's fitted
day-to-day spread, segments shrunk toward the account, Benjamini-Hochberg across segments, the
practical floor), on counts cut at a time of day:

1. **Settled messages only.** At ``now`` (the account's local time, as ``created_at`` is) the
   check counts today's messages created before ``cutoff = now - settle_lag`` (default 15
   minutes). The check runs right after the intraday ingest has read today's rows, statuses
   included, so a message counted has had 15 minutes to settle: SMS Presto's statuses move
   from pending within minutes (the simulator's in seconds), and what has not settled by then
   is handled below. A longer lag sees an outage later: one starting at 10:00 is first
   counted at the 10:30 evaluation (messages of 10:00-10:15) with 15 minutes, at 10:45 with
   30. Messages still pending at the cutoff are left out of the numerator and the
   denominator. That leaves a bias toward whichever outcome
   settles first: if failures settle later than deliveries (a handset that is off, retried
   until the carrier gives up), today's settled rate is too low and an outage is seen a tick
   later; if failures settle first (a carrier rejecting at once), the settled rate is too high.
   The second is the one that could raise a false alarm, and it is bounded: a segment with
   more than ``max_pending_share`` (10 %) of its messages before the cutoff still pending is
   not judged (a ``WARN`` saying so: statuses stuck pending are worth a look, and can be an
   outage of their own). At 10 % pending, even if every pending message ends delivered, the
   eventual rate is at least 0.9 times the settled one: a rise past the practical floor (1.5x
   the baseline) stays a rise of 1.35x or more, so what is flagged is not an artefact of the
   pending messages.
2. **The same hours.** Each earlier day is counted over the messages created before the same
   time of day (its statuses final by now): the baseline of 14:00 is the mornings and early
   afternoons of the last ``baseline_days``, not whole days (the traffic of a day's hours is
   not spread evenly, and neither are its campaigns). The walk over the earlier days (days
   flagged at this hour leave later baselines capped, as the daily check does) reads them from
   one query.
3. **The false-alarm budget.** The check runs every ``interval_minutes`` (96 evaluations a day
   at 15 minutes), each over every segment. Thresholds meant for one look a day would be
   crossed by chance many times more often. The daily check's ``error_p`` and ``warn_q`` are
   spent over the day's evaluations (Bonferroni: an evaluation's ``ERROR`` needs ``p <
   error_p / evaluations``), so that a segment's chance of a false ``ERROR`` over a whole day
   is, under the model, at most the daily check's for one look; and a segment needs
   ``min_failures`` settled failures today (default 10, the daily check's 5 doubled: the first
   failures of the morning say little). Spending alone did not keep the budget on the
   replay: a day's hours so far are a few campaign batches, whose senders' rates differ, so the
   spread of the same hours' rates from day to day is wider and more loosely estimated than
   whole days'; the spread is taken at its 99 % upper confidence bound
   (``dispersion_confidence`` 0.99, the daily check's 0.9), which took the tuning seed's false
   ``ERROR``s from 1.11 to 0.44 per 30 days.
   ``benchmarks/intraday_spike_detection.py`` measures the result on a replay of every
   15-minute tick of months of simulated history (figures in the README).

Example:
    >>> from datetime import UTC, datetime
    >>> assessment = assess_intraday(warehouse, datetime.now(UTC))  # doctest: +SKIP
    >>> [f.reason for f in assessment.findings if f.severity == "ERROR"]  # doctest: +SKIP
    ['carrier:MTN failures jumped from 5.1% to 24.0% (212 messages, p=3e-9)']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smspresto_pipeline.checks.reading import Source
from smspresto_pipeline.checks.spikes import (
    DailyCounts,
    Severity,
    SpikeConfig,
    SpikeFinding,
    assess_history,
    load_counts_before,
    worst_severity,
)
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone
from smspresto_pipeline.wording import plural

__all__ = [
    "IntradayAssessment",
    "IntradayConfig",
    "PendingCounts",
    "assess_intraday",
    "cutoff_at",
    "judge_intraday_history",
    "load_counts_before",
    "local_time",
]

#: Per segment, per day: messages created before the cutoff and still pending.
PendingCounts = Mapping[str, Mapping[date, int]]

_MINUTES_A_DAY = 24 * 60


class IntradayConfig(BaseModel):
    """How the intraday spike check judges (see the module for why each default).

    Example:
        >>> IntradayConfig().evaluations_per_day, IntradayConfig().evaluation_config().error_p
        (96, 1.0416666666666666e-05)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    settle_lag_minutes: int = Field(
        default=15,
        description="Minutes a message is given to settle: today's messages created in the "
        "last settle_lag_minutes before now are not counted yet (0 to 720).",
    )
    interval_minutes: int = Field(
        default=15,
        description="Minutes between evaluations (the intraday schedule's): error_p and warn_q "
        "are spent over the day's 1440 / interval_minutes evaluations (1 to 1440).",
    )
    max_pending_share: float = Field(
        default=0.1,
        description="A segment with more of its messages before the cutoff still pending is "
        "not judged (a WARN says so; 0 to 1).",
    )
    spikes: SpikeConfig = Field(
        default=SpikeConfig(min_failures=10, dispersion_confidence=0.99),
        description="The daily check's thresholds, error_p and warn_q for one look a day "
        "(by default min_failures 10 and dispersion_confidence 0.99: see the module).",
    )

    @field_validator("settle_lag_minutes")
    @classmethod
    def _check_settle_lag(cls, value: int) -> int:
        if not 0 <= value <= 720:
            raise ValueError(f"settle_lag_minutes must be between 0 and 720, got {value}")
        return value

    @field_validator("interval_minutes")
    @classmethod
    def _check_interval(cls, value: int) -> int:
        if not 1 <= value <= _MINUTES_A_DAY:
            raise ValueError(f"interval_minutes must be between 1 and 1440, got {value}")
        return value

    @field_validator("max_pending_share")
    @classmethod
    def _check_pending_share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"max_pending_share must be between 0 and 1, got {value}")
        return value

    @property
    def evaluations_per_day(self) -> int:
        """How many times a day the check runs (the day's alpha is spent over them)."""
        return -(-_MINUTES_A_DAY // self.interval_minutes)

    def evaluation_config(self) -> SpikeConfig:
        """The thresholds of one evaluation: ``error_p`` and ``warn_q`` spent evenly over the
        day's evaluations (Bonferroni), the rest as ``spikes`` says."""
        looks = self.evaluations_per_day
        return self.spikes.model_copy(
            update={"error_p": self.spikes.error_p / looks, "warn_q": self.spikes.warn_q / looks}
        )


@dataclasses.dataclass(frozen=True, slots=True)
class IntradayAssessment:
    """Today so far, as the check judged it at ``now``.

    Attributes:
        day: today, in the account's time zone.
        now: the evaluation's time (the account's local time, naive).
        cutoff: messages created before it count (``now - settle_lag``, not before midnight).
        findings: one per segment with messages before the cutoff, the account's first
            (``SpikeFinding``: ``messages`` and ``failed`` are today's settled ones so far).
        pending: per segment, today's messages before the cutoff still pending (left out).
    """

    day: date
    now: datetime
    cutoff: datetime
    findings: list[SpikeFinding]
    pending: dict[str, int]

    @property
    def severity(self) -> Severity | None:
        """``ERROR`` if a segment is one, else ``WARN`` if one is, else None."""
        return worst_severity(self.findings)


def local_time(now: datetime, timezone: str) -> datetime:
    """``now`` as the account's local time, naive (as ``created_at`` is).

    Raises:
        ValueError: ``now`` is naive (whose time would it be?), or ``timezone`` is unknown.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must carry its time zone, got the naive {now.isoformat()}")
    return now.astimezone(ZoneInfo(check_timezone(timezone))).replace(tzinfo=None)


def cutoff_at(local_now: datetime, settle_lag_minutes: int) -> datetime:
    """Before when today's messages count at ``local_now`` (the account's local time):
    ``settle_lag_minutes`` earlier, but not before today's midnight.

    Example:
        >>> cutoff_at(datetime(2025, 3, 10, 10, 15), 30)
        datetime.datetime(2025, 3, 10, 9, 45)
        >>> cutoff_at(datetime(2025, 3, 10, 0, 10), 30)
        datetime.datetime(2025, 3, 10, 0, 0)
    """
    midnight = datetime.combine(local_now.date(), time())
    return max(midnight, local_now - timedelta(minutes=settle_lag_minutes))


def judge_intraday_history(
    counts: DailyCounts,
    pending: PendingCounts,
    days: Sequence[date],
    config: IntradayConfig,
    cutoff: time,
) -> dict[date, list[SpikeFinding]]:
    """Each of ``days`` judged on its messages before ``cutoff``, as the check at that hour
    judges today: `assess_history` (days flagged at this hour leave later baselines capped)
    with one evaluation's thresholds, then a segment with too much still pending is not judged.
    ``counts`` hold, per segment and day, the settled messages before ``cutoff``."""
    results = assess_history(counts, days, config.evaluation_config())
    for day, findings in results.items():
        results[day] = [
            _unsettled(f, pending.get(f.segment, {}).get(day, 0), config, cutoff) for f in findings
        ]
    return results


def _unsettled(
    finding: SpikeFinding, pending: int, config: IntradayConfig, cutoff: time
) -> SpikeFinding:
    """``finding``, or a ``WARN`` that it is not judged when too much of it is pending."""
    total = finding.messages + pending
    if not pending or pending <= config.max_pending_share * total:
        return finding
    return dataclasses.replace(
        finding,
        p_value=None,
        severity="WARN",
        reason=(
            f"{finding.segment}: {pending:,} of the {plural(total, 'message')} created before "
            f"{cutoff:%H:%M} still pending {config.settle_lag_minutes} min later (over "
            f"{config.max_pending_share:.0%}): not judged until they settle"
        ),
    )


def assess_intraday(
    con: Source,
    now: datetime,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    config: IntradayConfig = IntradayConfig(),
    account: str | None = None,
) -> IntradayAssessment:
    """Today's failures so far (today in ``timezone`` at ``now``), per segment, against the
    same hours of the earlier days: one finding per segment (``all``, each sender, each
    carrier) with settled messages before the cutoff, the account's first.

    Reads ``smspresto.messages`` through ``con`` (a warehouse of either engine, a port
    session, or an engine's own connection, as `find_failure_spikes`), in one query: today and
    the ``2 * baseline_days`` before it, cut at the cutoff's time of day.

    Raises:
        ValueError: ``now`` is naive, or ``timezone`` unknown.
    """
    local_now = local_time(now, timezone)
    cutoff = cutoff_at(local_now, config.settle_lag_minutes)
    day = cutoff.date()
    start = day - timedelta(days=2 * config.spikes.baseline_days)
    counts, pending = load_counts_before(con, start, day, cutoff.time(), account)
    walk = [start + timedelta(days=i) for i in range((day - start).days + 1)]
    findings = judge_intraday_history(counts, pending, walk, config, cutoff.time())[day]
    today_pending = {s: by_day[day] for s, by_day in pending.items() if day in by_day}
    return IntradayAssessment(
        day=day, now=local_now, cutoff=cutoff, findings=findings, pending=today_pending
    )
