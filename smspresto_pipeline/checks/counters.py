"""The account counters against the archive: plain SQL over the warehouse, no Dagster.

`check_counters_reconcile` compares the latest account snapshot's ``success`` and ``failed``
counters (``smspresto.account_snapshots``) with the archive's delivered and failed totals
(``smspresto.messages``). The counters cover the whole account, the archive only the days
stored, so a gap is normal; the check says what explains it (days not stored, named; pending
messages; messages of another status; rows written after the snapshot) and fails only on what
is left over beyond a tolerance: a status map that swaps codes, days written from another
account, a counter reset.

Example:
    >>> with warehouse.reading() as con:  # doctest: +SKIP
    ...     check_counters_reconcile(con, timezone="Africa/Abidjan").summary
    'the counters and the archive agree: success 212 vs 212 delivered, ...'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smspresto_pipeline.checks.reading import Reader, Source, fetch_all, fetch_one, reader
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE
from smspresto_pipeline.wording import plural

__all__ = [
    "COUNTERS_RECONCILE",
    "CountersResult",
    "check_counters_reconcile",
    "validate_tolerances",
]

#: The check's name.
COUNTERS_RECONCILE = "counters_reconcile"

# Day ranges listed by name in the explanation; the rest are counted.
_RANGES_SHOWN = 10


@dataclasses.dataclass(frozen=True, slots=True)
class CountersResult:
    """The outcome of the reconciliation.

    Attributes:
        passed: the gap is explained, up to the tolerance (or there is no snapshot yet).
        summary: one sentence for people: the figures and what explains the gap, or what to
            look for.
        metadata: the counters, the archive's totals, the gaps, ``unexplained`` and
            ``allowed``, the snapshot's day (in the account's time zone), the days without
            rows and the days holding pending messages (as ``first..last`` ranges), the
            ``explanation``; plain JSON values.
    """

    passed: bool
    summary: str
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class _Totals:
    messages: int
    delivered: int
    failed: int
    pending: int
    other: int
    loaded_after_snapshot: int
    first_day: date | None
    last_day: date | None


def _ranges(days: Sequence[date]) -> list[str]:
    """Consecutive days as ``first..last`` (or one day), in order."""
    ranges: list[list[date]] = []
    for day in days:
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [
        first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        for first, last in ranges
    ]


def _listed(ranges: Sequence[str]) -> str:
    shown = ", ".join(ranges[:_RANGES_SHOWN])
    more = len(ranges) - _RANGES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def validate_tolerances(tolerance: int, tolerance_ratio: float) -> None:
    """Raise ``ValueError`` unless ``tolerance`` is an integer >= 0 and ``tolerance_ratio`` is
    in [0, 1)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"tolerance must be an integer >= 0, got {tolerance!r}")
    if not 0 <= tolerance_ratio < 1:
        raise ValueError(f"tolerance_ratio must be in [0, 1), got {tolerance_ratio!r}")


def check_counters_reconcile(
    con: Source,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    tolerance: int = 10,
    tolerance_ratio: float = 0.001,
    account: str | None = None,
) -> CountersResult:
    """The latest account snapshot's ``success`` and ``failed`` counters against the archive's
    delivered and failed totals.

    The counters cover the whole account (every message ever sent, as the provider sees it at
    the snapshot), the archive only the days stored. A gap is explained, up to:

    * counters above the archive: the messages the ``sent`` counter has and the archive does
      not (days before the first stored day, days not ingested yet, days without rows: named),
      plus messages stored as pending (they may have settled since; the daily ingest re-reads
      its lookback days) or with a status that is neither delivered, failed nor pending;
    * archive above the counters: messages written after the snapshot was taken.

    What is left over is unexplained: the check fails when it exceeds ``max(tolerance,
    tolerance_ratio * (success + failed))``. Without a snapshot there is nothing to compare
    and the check passes, saying so.

    Args:
        con: the warehouse (a ``Warehouse`` of either engine), a port session or an engine's
            own connection to it (see :mod:`~smspresto_pipeline.checks.reading`).
        timezone: the account's time zone (the snapshot's day is named in it).
        tolerance: messages of unexplained gap allowed.
        tolerance_ratio: share of the counters' success + failed allowed, if larger.
        account: the account whose snapshot and archive are compared; None reads every
            account's rows together (a warehouse of one account).
    """
    validate_tolerances(tolerance, tolerance_ratio)
    with reader(con) as source:
        return _reconcile(source, ZoneInfo(timezone), tolerance, tolerance_ratio, account)


def _reconcile(
    con: Reader, zone: ZoneInfo, tolerance: int, tolerance_ratio: float, account: str | None
) -> CountersResult:
    scope = {"account": account}
    snapshot = fetch_one(con, "checks/select_latest_snapshot_counters.sql", scope)
    if snapshot is None:
        return CountersResult(
            passed=True,
            summary="no account snapshot yet: nothing to reconcile",
            metadata={"snapshots": 0},
        )
    taken_at, sent, success, failed = snapshot
    row = fetch_one(con, "checks/select_archive_totals.sql", {**scope, "taken_at": taken_at})
    assert row is not None  # an aggregate without GROUP BY always answers one row
    totals = _Totals(*row)
    snapshot_day = taken_at.replace(tzinfo=UTC).astimezone(zone).date()

    not_stored = sent - totals.messages
    success_gap = success - totals.delivered
    failed_gap = failed - totals.failed
    # Counters above the archive: each message not stored, pending or of another status can
    # account for one message of the success and failed counters together.
    explains_above = max(not_stored, 0) + totals.pending + totals.other
    above = max(success_gap, 0) + max(failed_gap, 0)
    # The archive above the counters: only rows written after the snapshot can be newer.
    explains_below = totals.loaded_after_snapshot
    below = max(-success_gap, 0) + max(-failed_gap, 0)
    unexplained = max(
        above - explains_above, below - explains_below, -not_stored - explains_below, 0
    )
    allowed = max(tolerance, math.floor(tolerance_ratio * (success + failed)))

    day_rows = fetch_all(con, "checks/select_archive_days.sql", scope)
    pending_days = _ranges([day for day, pending in day_rows if pending])
    without_rows: list[date] = []
    if totals.first_day is not None:
        stored = {day for day, _ in day_rows}
        day = totals.first_day
        while day <= snapshot_day:
            if day not in stored:
                without_rows.append(day)
            day += timedelta(days=1)
    missing_ranges = _ranges(without_rows)

    reasons = []
    if not_stored > 0:
        where = (
            f"days before {totals.first_day.isoformat()}"
            if totals.first_day is not None
            else "every day (the archive is empty)"
        )
        if missing_ranges:
            where += f", and days without any stored message: {_listed(missing_ranges)}"
        verb = "is" if not_stored == 1 else "are"
        reasons.append(
            f"{not_stored} of the account's {plural(sent, 'message')} {verb} not stored ({where})"
        )
    if totals.pending:
        reasons.append(
            f"{totals.pending} stored as pending on {_listed(pending_days)} (they may have "
            "settled since; the daily ingest re-reads its lookback days)"
        )
    if totals.other:
        reasons.append(f"{totals.other} stored with a status other than delivered/failed/pending")
    if totals.loaded_after_snapshot and (below or not_stored < 0):
        reasons.append(f"{totals.loaded_after_snapshot} written after the snapshot was taken")
    figures = (
        f"success {success} vs {totals.delivered} delivered, failed {failed} vs "
        f"{totals.failed} failed, sent {sent} vs {totals.messages} stored"
    )
    if unexplained > allowed:
        summary = (
            f"{plural(unexplained, 'message')} of the gap "
            f"{'is' if unexplained == 1 else 'are'} unexplained (allowed {allowed}): "
            f"{figures}. Look for a status map that swaps codes, days written from another "
            "account, or a counter reset"
        )
    elif success_gap == failed_gap == not_stored == 0:
        summary = f"the counters and the archive agree: {figures}"
    else:
        summary = f"the gap is explained: {figures}"
        if reasons:
            summary += "; " + "; ".join(reasons)
    return CountersResult(
        passed=unexplained <= allowed,
        summary=summary,
        metadata={
            "snapshot_taken_at": taken_at.isoformat(sep=" "),
            "counter_sent": int(sent),
            "counter_success": int(success),
            "counter_failed": int(failed),
            "archive_messages": totals.messages,
            "archive_delivered": totals.delivered,
            "archive_failed": totals.failed,
            "archive_pending": totals.pending,
            "archive_other_status": totals.other,
            "success_gap": int(success_gap),
            "failed_gap": int(failed_gap),
            "not_stored": int(not_stored),
            "unexplained": int(unexplained),
            "allowed": int(allowed),
            "first_stored_day": None if totals.first_day is None else totals.first_day.isoformat(),
            "last_stored_day": None if totals.last_day is None else totals.last_day.isoformat(),
            "snapshot_day": snapshot_day.isoformat(),
            "days_without_rows": missing_ranges,
            "pending_days": pending_days,
            "explanation": "; ".join(reasons) if reasons else "no gap",
        },
    )
