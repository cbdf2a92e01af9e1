"""Whether the ingested history is fresh: its newest day against the day expected by now.

The archive's daily partitions end yesterday, in the account's time zone, and the daily ingest
writes yesterday in the morning (``SMSPRESTO_INGEST_HOUR``, 06:00 by default). So the newest day
expected is yesterday once the ingest had time to run (``ready_hour``: by default two hours
after the ingest), and the day before until then. A history whose newest day is older is
*stale*: the spike checks judge only the days ingested, and the circuit breaker with them, so a
stale history hides an outage. No Dagster here: the freshness check
(:mod:`~smspresto_pipeline.checks.freshness_defs`) and the alerts
(:mod:`smspresto_pipeline.alerts`) read the same verdict.

Example:
    >>> from datetime import date, datetime, UTC
    >>> expected_newest_day(datetime(2025, 3, 11, 9, 0, tzinfo=UTC), "Africa/Abidjan", 8)
    datetime.date(2025, 3, 10)
    >>> judge_freshness(date(2025, 3, 8), date(2025, 3, 10)).stale
    True
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.storage import HasDatabase
from smspresto_pipeline.wording import plural

__all__ = [
    "DEFAULT_READY_HOUR",
    "Freshness",
    "expected_newest_day",
    "judge_freshness",
    "newest_day",
    "read_freshness",
    "stale_history_note",
]

#: The hour (account's time zone) by which yesterday is expected in the history: the daily
#: ingest's default hour (6) and two hours for it to run and be retried.
DEFAULT_READY_HOUR = 8


@dataclasses.dataclass(frozen=True, slots=True)
class Freshness:
    """The history's newest day against the one expected.

    Attributes:
        newest: the newest day ingested (None: nothing ingested yet).
        expected: the newest day the history should hold by now.
    """

    newest: date | None
    expected: date

    @property
    def stale(self) -> bool:
        """Whether the history lacks a day it should hold by now (or holds none)."""
        return self.newest is None or self.newest < self.expected

    @property
    def days_behind(self) -> int | None:
        """Days between the newest day and the one expected (None: nothing ingested)."""
        return None if self.newest is None else max((self.expected - self.newest).days, 0)

    def describe(self) -> str:
        """One sentence for a check's description or an alert."""
        if self.newest is None:
            return f"no day ingested yet; {self.expected} was expected by now"
        if not self.stale:
            return f"the newest day ingested is {self.newest}, as expected"
        behind = plural(self.days_behind or 0, "day")
        return (
            f"the newest day ingested is {self.newest}, {behind} behind {self.expected} "
            "(expected by now)"
        )


def expected_newest_day(now: datetime, timezone: str, ready_hour: int = DEFAULT_READY_HOUR) -> date:
    """The newest day the history should hold at ``now`` (aware): yesterday in ``timezone`` once
    it is ``ready_hour`` there, else the day before yesterday.

    Raises:
        ValueError: ``now`` is naive, or ``ready_hour`` is outside 0-23.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if not 0 <= ready_hour <= 23:
        raise ValueError(f"ready_hour must be between 0 and 23, got {ready_hour!r}")
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() - timedelta(days=1 if local.hour >= ready_hour else 2)


def judge_freshness(newest: date | None, expected: date) -> Freshness:
    """The verdict for a history whose newest day is ``newest``."""
    return Freshness(newest, expected)


def newest_day(warehouse: HasDatabase, account: str = DEFAULT_ACCOUNT) -> date | None:
    """The newest day of ``account`` in ``smspresto.messages`` (None: none, or no warehouse;
    nothing is created)."""
    database = warehouse.database
    if not database.exists():
        return None
    with database.reading() as session:
        if "messages" not in session.tables():
            return None
        rows = session.fetch_all("checks/select_newest_day.sql", {"account": account})
    value = rows[0][0] if rows else None
    return value if isinstance(value, date) else None


def read_freshness(
    warehouse: HasDatabase,
    now: datetime,
    *,
    timezone: str,
    ready_hour: int = DEFAULT_READY_HOUR,
    account: str = DEFAULT_ACCOUNT,
) -> Freshness:
    """The freshness of ``account``'s history in ``warehouse`` at ``now``."""
    expected = expected_newest_day(now, timezone, ready_hour)
    return judge_freshness(newest_day(warehouse, account), expected)


def stale_history_note(
    newest: date | None, now: datetime, timezone: str, ready_hour: int = DEFAULT_READY_HOUR
) -> str | None:
    """What a verdict on the history's days must add when the history is stale at ``now``
    (None: fresh). The circuit breaker's words take it, so a spike on the newest day stored is
    never read as today's when that day is long past.

    Example:
        >>> from datetime import date, datetime, UTC
        >>> stale_history_note(date(2025, 3, 10), datetime(2025, 3, 11, 9, tzinfo=UTC), "UTC")
        >>> stale_history_note(date(2025, 3, 8), datetime(2025, 3, 11, 9, tzinfo=UTC), "UTC")[:64]
        'judged on a stale history: the newest day ingested is 2025-03-08'
    """
    freshness = judge_freshness(newest, expected_newest_day(now, timezone, ready_hour))
    return f"judged on a stale history: {freshness.describe()}" if freshness.stale else None
