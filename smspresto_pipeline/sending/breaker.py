"""The circuit breaker: pausing every campaign while a check says something is wrong.

The breaker's state lives in the warehouse, table ``smspresto.campaign_pauses`` (one row per
*trip*), so the campaign sensors (which read the file read-only), the send jobs and the
``smspresto`` command all see the same state without Dagster. Campaigns are **paused while any
trip is active**. A trip ends when:

* the check that tripped it passes again for the same partition (:meth:`CircuitBreaker.clear`,
  automatic), or
* a person resumes the campaigns (:meth:`CircuitBreaker.resume`): every active trip ends at
  once, whatever tripped it. A later failure (another day) trips the breaker again.

Writes are idempotent: tripping again for a source and partition that already has an active
trip records no second trip (it keeps the first time and takes the newest reason), so re-running
a check does not stack trips. Rows are never deleted: :meth:`CircuitBreaker.history` shows who
paused, why, and who resumed. Reading a file that does not exist, or one made before this table
existed, finds the breaker closed and creates nothing.

**From an asset check**, one call does it (``severity`` as the check decided it: ``"ERROR"``
trips, ``None`` (passed) ends that partition's trip, ``"WARN"`` changes nothing, since a warning
is not a pass)::

    from smspresto_pipeline.sending.breaker import record_check_outcome

    state = record_check_outcome(
        warehouse,                        # a Warehouse (WarehouseResource.get_warehouse())
        check_name="archive_messages_failure_spike",
        partition="2025-03-06",           # context.partition_key
        severity="ERROR",                 # "ERROR", "WARN" or None
        reason="carrier:MTN failures jumped from 3% to 21% on 2025-03-06",
    )
    state.tripped  # True: every campaign sensor now skips, naming the reason

Example:
    >>> import tempfile, pathlib
    >>> from smspresto_pipeline.warehouse import Warehouse
    >>> breaker = CircuitBreaker(Warehouse(pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb"))
    >>> breaker.state().tripped
    False
    >>> _ = breaker.trip("MTN failures at 21%", source="check:spike", partition="2025-03-06")
    >>> breaker.state().tripped, breaker.state().latest.reason
    (True, 'MTN failures at 21%')
    >>> [t.source for t in breaker.resume(by="alice", reason="MTN confirmed the fix")]
    ['check:spike']
    >>> breaker.state().tripped
    False
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from smspresto_pipeline.storage import HasDatabase, Session
from smspresto_pipeline.storage.timestamps import utc_naive
from smspresto_pipeline.wording import plural

__all__ = [
    "CHECK_PREFIX",
    "RESUME_HINT",
    "BreakerState",
    "CircuitBreaker",
    "Trip",
    "breaker_state_on",
    "record_check_outcome",
]

#: The source of a check's trips is ``check:<check name>``.
CHECK_PREFIX = "check:"
#: The table holding the trips.
TABLE = "campaign_pauses"
#: How a person resumes the campaigns, whatever runs them (:meth:`BreakerState.describe`'s
#: default); a face that offers more ways (the Dagster jobs) passes its own hint.
RESUME_HINT = '`smspresto campaigns resume --reason "..."`'

#: Severities :func:`record_check_outcome` accepts (None: the check passed).
_SEVERITIES = frozenset({"ERROR", "WARN"})


@dataclasses.dataclass(frozen=True, slots=True)
class Trip:
    """One trip of the breaker; times are naive UTC.

    Attributes:
        source: what tripped it (``check:<name>``, ``cli:<user>``, ``job:<job>:<who>``).
        partition_key: the check's partition, None for a pause by hand.
        reason: why, in words a person acts on.
        tripped_at: when it was first recorded.
        resumed_at: when it ended; None while it is active.
        resumed_by: ``check:<name>`` when the check passed again, else who resumed.
        resume_reason: why it was resumed.
    """

    source: str
    partition_key: str | None
    reason: str
    tripped_at: datetime
    resumed_at: datetime | None = None
    resumed_by: str | None = None
    resume_reason: str | None = None

    @property
    def active(self) -> bool:
        """Whether the trip still pauses the campaigns."""
        return self.resumed_at is None

    @property
    def paused_by(self) -> str | None:
        """Who paused the campaigns by hand (``cli:<who>``, ``job:<job>:<who>``, or any other
        source but a check's); None when a check tripped the breaker."""
        if self.source.startswith(CHECK_PREFIX):
            return None
        kind, _, rest = self.source.partition(":")
        if kind == "cli" and rest:
            return rest
        if kind == "job" and rest.count(":"):
            return rest.split(":", 1)[1]
        return self.source

    def describe(self) -> str:
        """``<time> UTC: <reason> (<source>, partition <key>)``."""
        where = f", partition {self.partition_key}" if self.partition_key else ""
        return f"{self.tripped_at:%Y-%m-%d %H:%M} UTC: {self.reason} ({self.source}{where})"


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerState:
    """The breaker now.

    Attributes:
        trips: the active trips, newest first (empty: campaigns run).
        generation: how many trips were ever recorded. A campaign sensor puts it in its run
            keys, so a batch whose run was refused during a pause is requested again once the
            campaigns are resumed (Dagster never launches a run key twice).
    """

    trips: tuple[Trip, ...] = ()
    generation: int = 0

    @property
    def tripped(self) -> bool:
        """Whether campaigns are paused."""
        return bool(self.trips)

    @property
    def latest(self) -> Trip | None:
        """The newest active trip, if any."""
        return self.trips[0] if self.trips else None

    def tripped_by_check(self, check_name: str, partition: str | None) -> bool:
        """Whether the check ``check_name`` has an active trip for ``partition`` (the one its
        pass there ends)."""
        source = f"{CHECK_PREFIX}{check_name}"
        return any((t.source, t.partition_key) == (source, partition) for t in self.trips)

    def describe(self, resume_hint: str = RESUME_HINT) -> str:
        """One paragraph for a person: why campaigns are paused and how to resume them
        (``resume_hint``, the ways the caller's face offers)."""
        if not self.trips:
            return "campaigns are running: the circuit breaker is closed"
        latest = self.trips[0]
        others = len(self.trips) - 1
        more = f" (and {plural(others, 'more active trip')})" if others else ""
        if latest.paused_by is not None:
            # A person's pause is not the breaker's doing, and only a person ends it.
            return (
                f"campaigns are paused by {latest.paused_by} (manual pause): {latest.reason}, "
                f"since {latest.tripped_at:%Y-%m-%d %H:%M} UTC{more}; nothing is sent until a "
                f"person resumes them: {resume_hint}"
            )
        if others:
            automatic = "each trip ends (a check's when it passes again for its partition) or "
        elif latest.source.startswith(CHECK_PREFIX):
            automatic = f"the check passes again for {latest.partition_key or 'it'} or "
        else:
            automatic = ""
        return (
            f"campaigns are paused by the circuit breaker since {latest.describe()}{more}. "
            f"Nothing is sent until {automatic}a person resumes them: {resume_hint}"
        )


class CircuitBreaker:
    """The trips recorded in a warehouse (a :class:`~smspresto_pipeline.warehouse.Warehouse`;
    table ``smspresto.campaign_pauses``).

    Args:
        warehouse: the warehouse.

    Every write is one short transaction; times default to now (``now`` is for tests and
    back-filled records, naive values are UTC).
    """

    def __init__(self, warehouse: HasDatabase) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.warehouse!r})"

    def trip(
        self,
        reason: str,
        *,
        source: str,
        partition: str | None = None,
        now: datetime | None = None,
    ) -> Trip:
        """Pause every campaign; returns the active trip of ``source`` and ``partition``.

        When that source and partition already has an active trip, none is added: it keeps its
        time and takes ``reason``.

        Raises:
            ValueError: when ``reason`` or ``source`` is blank.
        """
        _require(reason=reason, source=source)
        key: dict[str, Any] = {"source": source, "partition_key": partition}
        with self.database.transaction() as session:
            # Check, then insert: in one transaction of the file's only writer, so no other
            # trip of this key can come in between.
            active = session.fetch_one("dml/select_campaign_pause_active.sql", key)
            if active is None:
                sql, params = "dml/insert_campaign_pause.sql", {**key, "now": utc_naive(now)}
            else:
                sql, params = "dml/update_campaign_pause_reason.sql", key
            row = session.fetch_one(sql, {**params, "reason": reason})
        assert row is not None
        return Trip(*row)

    def clear(
        self,
        *,
        source: str,
        partition: str | None = None,
        reason: str = "the check passed again",
        now: datetime | None = None,
    ) -> list[Trip]:
        """End the active trip of ``source`` and ``partition`` (the check passed again).

        Other trips stay active. Returns the trips ended (none when there was none).
        """
        return self._resume(
            everything=False,
            source=source,
            partition=partition,
            by=source,
            reason=reason,
            now=now,
        )

    def resume(self, *, by: str, reason: str, now: datetime | None = None) -> list[Trip]:
        """A person resumes every campaign: every active trip ends. Returns those ended.

        Raises:
            ValueError: when ``by`` or ``reason`` is blank (the history must say who and why).
        """
        _require(by=by, reason=reason)
        return self._resume(
            everything=True, source=None, partition=None, by=by, reason=reason, now=now
        )

    def state(self) -> BreakerState:
        """The active trips and the generation; closed when the file or the table is missing."""
        if not self.database.exists():
            return BreakerState()
        with self.database.reading() as session:
            return breaker_state_on(session)

    def history(self, *, limit: int | None = 50) -> list[Trip]:
        """Every trip, active or ended, newest first (at most ``limit``; None: all)."""
        if not self.database.exists():
            return []
        with self.database.reading() as session:
            if TABLE not in session.tables():
                return []
            return _select(session, active_only=False, limit=limit)

    def _resume(
        self,
        *,
        everything: bool,
        source: str | None,
        partition: str | None,
        by: str,
        reason: str,
        now: datetime | None,
    ) -> list[Trip]:
        params: dict[str, Any] = {
            "everything": everything,
            "source": source,
            "partition_key": partition,
            "resumed_by": by,
            "resume_reason": reason,
            "now": utc_naive(now),
        }
        with self.database.transaction() as session:
            rows = session.fetch_all("dml/update_campaign_pauses_resumed.sql", params)
            trips = [Trip(*row) for row in rows]
        return sorted(trips, key=lambda t: t.tripped_at, reverse=True)


def record_check_outcome(
    warehouse: HasDatabase,
    *,
    check_name: str,
    partition: str | None,
    severity: str | None,
    reason: str = "",
    now: datetime | None = None,
) -> BreakerState:
    """Let a check's outcome drive the breaker; returns the state after it.

    ``severity`` ``"ERROR"`` trips the breaker (source ``check:<check_name>``, the partition,
    ``reason``); None (the check passed) ends the trip this check recorded for ``partition``,
    if any; ``"WARN"`` changes nothing. Idempotent: re-running the check on the same partition
    gives the same state.

    Raises:
        ValueError: an unknown severity, or an ERROR without a reason.
    """
    source = f"{CHECK_PREFIX}{check_name}"
    if severity is not None and severity.upper() not in _SEVERITIES:
        raise ValueError(f"severity must be 'ERROR', 'WARN' or None, got {severity!r}")
    breaker = CircuitBreaker(warehouse)
    if severity is not None and severity.upper() == "ERROR":
        breaker.trip(reason, source=source, partition=partition, now=now)
        return breaker.state()
    state = breaker.state()
    if severity is None and state.tripped_by_check(check_name, partition):
        # Written only when there is a trip to end: a check passing every day (or a backfill
        # of passing days) takes no write lock.
        breaker.clear(source=source, partition=partition, now=now)
        state = breaker.state()
    return state


def _require(**values: str) -> None:
    blank = [name for name, value in values.items() if not value.strip()]
    if blank:
        raise ValueError(f"{' and '.join(blank)} must not be blank")


def breaker_state_on(session: Session, tables: frozenset[str] | None = None) -> BreakerState:
    """The breaker's state (as :meth:`CircuitBreaker.state`) in an open session; closed when
    the table is missing. ``tables``: the schema's tables, when already read."""
    if TABLE not in (session.tables() if tables is None else tables):
        return BreakerState()
    trips = _select(session, active_only=True, limit=None)
    [(generation,)] = session.fetch_all("dml/count_campaign_pauses.sql")
    return BreakerState(tuple(trips), int(generation))


def _select(session: Session, *, active_only: bool, limit: int | None) -> list[Trip]:
    rows = session.fetch_all(
        "dml/select_campaign_pauses.sql", {"active_only": active_only, "limit": limit}
    )
    return [Trip(*row) for row in rows]
