"""Configuration of the simulator: `SimulatorConfig`, the `Fault`s it can inject and the
failure `Spike`s it can seed."""

import dataclasses
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal

__all__ = ["FAULT_KINDS", "Fault", "FaultKind", "Outage", "SimulatorConfig", "Spike"]

FaultKind = Literal[
    "server_error", "rate_limit", "slow", "truncated_json", "drop_after_send", "bad_html"
]

#: Every fault kind, in the order the documentation lists them.
FAULT_KINDS: tuple[FaultKind, ...] = (
    "server_error",
    "rate_limit",
    "slow",
    "truncated_json",
    "drop_after_send",
    "bad_html",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """A failure the simulator injects into the next ``count`` matching requests.

    Kinds:
        ``server_error``: HTTP ``http_status`` (default 503) with an HTML page; not processed.
        ``rate_limit``: HTTP 429 with a ``Retry-After: <retry_after>`` header; not processed.
        ``slow``: sleep ``delay`` seconds, then process and answer normally.
        ``truncated_json``: process, then answer only the first half of the body (an empty
        body for the bare-number counters, whose halves would still be numbers).
        ``drop_after_send``: process (a send is accepted and stored), then close the
        connection without any HTTP response.
        ``bad_html``: HTTP ``http_status`` (default 200) with an HTML page; not processed.

    Example:
        >>> Fault("rate_limit", count=2, actions=frozenset({"list-archive"})).retry_after
        1.0
        >>> Fault.parse("slow:1:delay=3:actions=get-stock,get-send").delay
        3.0

    Attributes:
        kind: one of `FAULT_KINDS`.
        count: how many matching requests it fires for before it disarms.
        actions: the actions it applies to (``None``: every action).
        delay: seconds a ``slow`` answer waits.
        retry_after: the ``Retry-After`` seconds of a ``rate_limit`` answer.
        http_status: the HTTP status of ``server_error`` / ``bad_html`` answers.
    """

    kind: FaultKind
    count: int = 1
    actions: frozenset[str] | None = None
    delay: float = 1.0
    retry_after: float = 1.0
    http_status: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.count < 1:
            raise ValueError(f"fault count must be at least 1, got {self.count}")
        if self.delay < 0 or self.retry_after < 0:
            raise ValueError("fault delay and retry_after must not be negative")

    def matches(self, action: str) -> bool:
        """Whether this fault applies to a request for ``action``."""
        return self.actions is None or action in self.actions

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        """Build a fault from ``kind[:count][:key=value]...``, as typed on a command line.

        Keys: ``actions`` (comma-separated), ``delay``, ``retry_after``, ``http_status``.
        For example ``rate_limit:3``, ``server_error:2:http_status=502:actions=list-archive``.
        """
        kind, *rest = spec.strip().split(":")
        fields: dict[str, object] = {}
        for index, part in enumerate(rest):
            if index == 0 and part.isdigit():
                fields["count"] = int(part)
                continue
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"bad fault option {part!r} in {spec!r}: expected key=value")
            if key == "actions":
                fields[key] = frozenset(a.strip() for a in value.split(",") if a.strip())
            elif key in ("delay", "retry_after"):
                fields[key] = float(value)
            elif key in ("http_status", "count"):
                fields[key] = int(value)
            else:
                raise ValueError(f"unknown fault option {key!r} in {spec!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        return cls(kind, **fields)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, slots=True)
class Outage:
    """A carrier's outage armed at run time: from ``start`` on, live sends to ``segment``'s
    numbers fail at ``failure_rate`` (the others keep the configured rate).

    Example:
        >>> Outage("carrier:MTN", failure_rate=0.6).segment
        'carrier:MTN'

    Attributes:
        segment: ``carrier:<name>``, the carrier of the number range (``MTN``, ``Orange``,
            ``Moov``), as the seeded history names it.
        failure_rate: the share of those sends that fail, within [0, 1].
        start: from when (the account's local time, naive, on the simulator's clock); ``None``:
            from the moment it is armed.
    """

    segment: str
    failure_rate: float
    start: datetime | None = None

    def __post_init__(self) -> None:
        kind, _, name = self.segment.partition(":")
        if kind != "carrier" or not name:
            raise ValueError(f"outage segment must be 'carrier:<name>', got {self.segment!r}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"outage failure_rate must be within [0, 1], got {self.failure_rate}")

    @property
    def carrier(self) -> str:
        """The carrier's name."""
        return self.segment.partition(":")[2]


@dataclasses.dataclass(frozen=True, slots=True)
class Spike:
    """A failure spike seeded into the history: on ``day``, ``segment``'s failure rate is
    multiplied by ``factor`` (capped at 95 %), for the messages created from ``start`` on (the
    whole day when ``start`` is None).

    Example:
        >>> Spike.parse("2025-03-10:carrier:MTN:3")
        Spike(day=datetime.date(2025, 3, 10), segment='carrier:MTN', factor=3.0, start=None)
        >>> Spike.parse("2025-03-10T10:00:carrier:MTN:3").start
        datetime.time(10, 0)

    Attributes:
        day: the seeded day.
        segment: ``all``, ``sender:<name>`` (the sender as sent) or ``carrier:<name>`` (the
            carrier of the number range: ``Orange``, ``MTN``, ``Moov``, ...).
        factor: what the day's failure rate of the segment is multiplied by.
        start: the time of day (the account's local time) from which messages are affected:
            an outage that starts at 10:00 leaves the morning's messages as they were.
    """

    day: date
    segment: str
    factor: float
    start: time | None = None

    def __post_init__(self) -> None:
        kind, _, name = self.segment.partition(":")
        if not (self.segment == "all" or (kind in ("sender", "carrier") and name)):
            raise ValueError(
                f"spike segment must be 'all', 'sender:<name>' or 'carrier:<name>', "
                f"got {self.segment!r}"
            )
        if not self.factor > 0:
            raise ValueError(f"spike factor must be positive, got {self.factor}")

    def affects(self, created: datetime) -> bool:
        """Whether a message created at ``created`` (local time) is within the spike."""
        return created.date() == self.day and (self.start is None or created.time() >= self.start)

    @classmethod
    def parse(cls, spec: str) -> "Spike":
        """Build a spike from ``DAY[THH:MM]:SEGMENT:FACTOR`` (``2025-03-10:sender:ONIRIS:2.5``,
        ``2025-03-10T10:00:carrier:MTN:3``: from 10:00 on)."""
        match = _SPIKE_SPEC.fullmatch(spec.strip())
        if match is None:
            raise ValueError(
                f"bad spike {spec!r}: expected DAY:SEGMENT:FACTOR (DAY: YYYY-MM-DD, or "
                "YYYY-MM-DDTHH:MM for a spike from that time on)"
            )
        day, start, segment, factor = match.groups()
        try:
            return cls(
                date.fromisoformat(day),
                segment,
                float(factor),
                time.fromisoformat(start) if start else None,
            )
        except ValueError as exc:
            raise ValueError(f"bad spike {spec!r}: {exc}") from None


# DAY, an optional THH:MM, the segment (which may hold colons: carrier:MTN), the factor.
_SPIKE_SPEC = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}))?:(.+):([^:]+)")


@dataclasses.dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything the simulator needs; every field has a default.

    The SQLite file at ``db_path`` holds the account and its archive: it is seeded once,
    when it does not exist yet, and keeps its state (sends, stock) across runs.

    Example:
        >>> cfg = SimulatorConfig(db_path=Path("sim.sqlite3"), messages_per_day=50)
        >>> with run_simulator(cfg) as sim:  # doctest: +SKIP
        ...     print(sim.base_url)

    Attributes:
        db_path: the SQLite file.
        api_key: the ``user`` the API accepts.
        api_pass: the ``pass`` the API accepts.
        seed: makes the seeded history deterministic.
        history_start: first day of seeded history (default: 30 days before yesterday).
        history_end: last day of seeded history, inclusive (default: yesterday).
        messages_per_day: average seeded volume per day (weekends are quieter).
        recipient_pool: how many distinct numbers the seeded history draws from (a shop's
            customers: numbers recur); ``0`` gives every seeded message a new number, as a
            marketing list does.
        paging: what ``list-archive``'s ``from``/``to`` mean: ``limit`` (offset and count,
            like SQL ``LIMIT from, to``) or ``range`` (start and end indexes, end excluded).
        max_page_size: the most rows one ``list-archive`` answer holds (``None``: no cap).
        empty_page: the body of an empty ``list-archive`` page: ``[]``, ``null`` or nothing.
        initial_stock: the SMS credit of a new account.
        delivery_delay: seconds a new send stays pending (``0``) before its final status.
        failure_rate: share of new sends that fail, and the mean failure rate of ordinary
            seeded days (a seeded day's rate varies around it: by day, weekday, sender and
            carrier; old eight-digit Ivorian numbers fail on top).
        spike_period: one seeded day in ``spike_period`` is an account-wide failure spike
            (30-40 % failed); ``0``: none.
        spikes: failure spikes seeded on chosen days for a sender, a carrier or all.
        timezone: the account's time zone; ``dateFrom``/``dateTo`` are days in it.
        faults: faults armed at start.
        clock: the simulated time at start (the account's local time, naive), advanced by
            `RunningSimulator.set_now` / `advance` only: the archive then shows the seeded
            rows created by that time (today's appear as the clock passes them, pending for
            ``delivery_delay`` seconds), new sends are stamped with it and statuses settle by
            it; the seeded history ends on its day unless ``history_end`` says otherwise.
            ``None``: real time.
        host: the interface to listen on.
        port: the port (``0``: any free port).
    """

    db_path: Path = Path("data/simulator.sqlite3")
    api_key: str = "demo-key"
    api_pass: str = dataclasses.field(default="demo-pass", repr=False)
    seed: int = 42
    history_start: date | None = None
    history_end: date | None = None
    messages_per_day: int = 300
    recipient_pool: int = 3000
    paging: Literal["limit", "range"] = "limit"
    max_page_size: int | None = None
    empty_page: Literal["[]", "null", ""] = "[]"
    initial_stock: int = 100_000
    delivery_delay: float = 2.0
    failure_rate: float = 0.05
    spike_period: int = 13
    spikes: tuple[Spike, ...] = ()
    timezone: str = "Africa/Abidjan"
    faults: tuple[Fault, ...] = ()
    clock: datetime | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.paging not in ("limit", "range"):
            raise ValueError(f"paging must be 'limit' or 'range', got {self.paging!r}")
        if self.empty_page not in ("[]", "null", ""):
            raise ValueError(f"empty_page must be '[]', 'null' or '', got {self.empty_page!r}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within [0, 1], got {self.failure_rate}")
        if min(self.messages_per_day, self.initial_stock, self.delivery_delay) < 0:
            raise ValueError("messages_per_day, initial_stock and delivery_delay must be >= 0")
        if self.spike_period < 0:
            raise ValueError(f"spike_period must be 0 (none) or more, got {self.spike_period}")
        if self.recipient_pool < 0:
            raise ValueError(
                f"recipient_pool must be 0 (all distinct) or more, got {self.recipient_pool}"
            )
        if self.max_page_size is not None and self.max_page_size < 1:
            raise ValueError(f"max_page_size must be at least 1, got {self.max_page_size}")
        if self.clock is not None and self.clock.tzinfo is not None:
            raise ValueError(
                f"clock is the account's local time, naive: got {self.clock.isoformat()}"
            )
        if (
            self.history_start is not None
            and self.history_end is not None
            and self.history_start > self.history_end
        ):
            raise ValueError(
                f"history_start {self.history_start} is after history_end {self.history_end}"
            )
