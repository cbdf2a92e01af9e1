"""The outbox: one row per intended SMS, claimed before any request and marked after it.

A row's life (``state``)::

    claim ──► pending ──► sent | failed                the API answered
       │         ├──────► ambiguous ──► sent | failed  the answer was lost; reconciled later
       │         └──────► skipped                      not sendable after all
       ├──► held ──► pending                           quiet hours: sent when the window opens
       │      ├────► expired                           past the validity period
       │      └────► skipped
       ├──► skipped                                    invalid (``skip_reason`` says why)
       └──► baseline                                   a campaign's first activation: never sent

``sent``, ``failed``, ``skipped``, ``expired`` and ``baseline`` are final. :meth:`Outbox.mark`
moves a row only along these arrows, so a late or repeated mark never undoes a final state.

The unique (campaign, dedup_key) is the guard against a second send: :meth:`Outbox.claim`
inserts rows in one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` statement and returns only
the rows it inserted, so of two runs claiming the same key, exactly one gets it. Every write is
one short transaction under the file's write lock; set-based reads and writes register the keys
as an Arrow table and join, whatever their number. :meth:`Outbox.transaction` gives an
:class:`OutboxSession` whose reads and writes share one transaction, for decisions that must
read and write atomically (the caps: count, then claim, with no other writer in between). The
account password is never stored here.

Example:
    >>> import tempfile, pathlib
    >>> from smspresto_pipeline.warehouse import Warehouse
    >>> outbox = Outbox(Warehouse(pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb"))
    >>> hello = OutboxMessage("welcome", "client-1", "+2250708081488", "ONIRIS", "Bonjour", 1,
    ...                       "GSM-7")
    >>> [m.dedup_key for m in outbox.claim([hello])], outbox.claim([hello])
    (['client-1'], [])
    >>> outbox.mark("welcome", ["client-1"], "sent", api_status=0, api_message="ok")
    ('client-1',)
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final, Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc

from smspresto_pipeline.storage import HasDatabase, Session
from smspresto_pipeline.storage.timestamps import utc_naive

__all__ = [
    "CLAIM_STATES",
    "DAILY_CAP_STATES",
    "FINAL_STATES",
    "OUTBOX_STATES",
    "SENT_OR_MAYBE_SENT",
    "TRANSITIONS",
    "ClaimState",
    "HeldSurge",
    "MarkState",
    "Outbox",
    "OutboxIntegrityError",
    "OutboxMark",
    "OutboxMessage",
    "OutboxRow",
    "OutboxSession",
    "OutboxState",
    "PendingOwner",
    "Taken",
]

OutboxState = Literal[
    "pending", "held", "baseline", "sent", "failed", "ambiguous", "skipped", "expired"
]
#: The states a row can be claimed (inserted) in.
ClaimState = Literal["pending", "held", "baseline", "skipped"]
#: The states a row can be moved to after its claim.
MarkState = Literal["pending", "sent", "failed", "ambiguous", "skipped", "expired"]

OUTBOX_STATES: Final[tuple[OutboxState, ...]] = get_args(OutboxState)
CLAIM_STATES: Final[tuple[ClaimState, ...]] = get_args(ClaimState)
#: For each state a row can be marked with, the states it may come from.
TRANSITIONS: Final[Mapping[MarkState, tuple[OutboxState, ...]]] = {
    "pending": ("held",),
    "sent": ("pending", "ambiguous"),
    "failed": ("pending", "ambiguous"),
    "ambiguous": ("pending",),
    "skipped": ("pending", "held"),
    "expired": ("held",),
}
FINAL_STATES: Final[frozenset[OutboxState]] = frozenset(OUTBOX_STATES) - {
    source for sources in TRANSITIONS.values() for source in sources
}
#: The states of a message that went, or may have gone (pending: a request may be in flight):
#: what the frequency cap counts against a recipient.
SENT_OR_MAYBE_SENT: Final[tuple[OutboxState, ...]] = ("pending", "sent", "ambiguous")
#: What a campaign's daily cap counts: every message it tried to send, refused ones included
#: (the attempt was made, and may have been billed).
DAILY_CAP_STATES: Final[tuple[OutboxState, ...]] = (*SENT_OR_MAYBE_SENT, "failed")

_MESSAGE_SCHEMA = pa.schema(
    [
        ("campaign", pa.string()),
        ("dedup_key", pa.string()),
        ("recipient", pa.string()),
        ("sender", pa.string()),
        ("message", pa.string()),
        ("segments", pa.int32()),
        ("encoding", pa.string()),
    ]
)


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One intended SMS, as a campaign renders it.

    Attributes:
        campaign: the campaign's name.
        dedup_key: what makes this message unique within the campaign (from its query).
        recipient: the number, in E.164 when valid (a skipped row may keep the raw input).
        sender: the sender name or number.
        message: the rendered text.
        segments: the SMS parts it is billed as.
        encoding: ``"GSM-7"`` or ``"UCS-2"``.
    """

    campaign: str
    dedup_key: str
    recipient: str
    sender: str
    message: str
    segments: int
    encoding: str

    @property
    def key(self) -> tuple[str, str]:
        """``(campaign, dedup_key)``: the outbox's unique key."""
        return self.campaign, self.dedup_key


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxRow(OutboxMessage):
    """One stored outbox row: the message's fields, then where it stands. Times are naive UTC."""

    state: OutboxState
    skip_reason: str | None
    api_status: int | None
    api_message: str | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    requested_at: datetime | None

    @property
    def intended(self) -> OutboxMessage:
        """The message this row records (an :class:`OutboxMessage`, not a row)."""
        return OutboxMessage(*(getattr(self, f.name) for f in dataclasses.fields(OutboxMessage)))


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxMark:
    """One mark for :meth:`OutboxSession.mark_each`: ``keys`` (of one campaign) moved to
    ``state`` with the API's answer, at ``now``. A ``skipped`` mark is not one of these (it
    needs its reason: see :meth:`Outbox.mark`)."""

    keys: tuple[str, ...]
    state: MarkState
    api_status: int | None
    api_message: str | None
    now: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class HeldSurge:
    """A surge a campaign's sensor holds for a person's confirmation (naive UTC).

    Attributes:
        campaign: the campaign.
        held_at: the first tick that held it.
        found_rows: the new rows found then.
        threshold: the volume breaker's threshold then.
        resolve: how to confirm it, in the campaign engine's words.
    """

    campaign: str
    held_at: datetime
    found_rows: int
    threshold: int
    resolve: str


class OutboxIntegrityError(RuntimeError):
    """Raised when what a write reads back differs from what it should have written: the
    transaction is rolled back and nothing is claimed, marked or sent on its account."""


@dataclasses.dataclass(frozen=True, slots=True)
class Taken:
    """One batch recorded as requested (:meth:`OutboxSession.take`).

    Attributes:
        requested: the keys to send now, in the order given: rows the run still owned, never
            requested before, their numbers not opted out.
        opted_out: the keys marked ``skipped`` (``opted_out``) instead: opted out since their
            claim.
    """

    requested: tuple[str, ...]
    opted_out: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class PendingOwner:
    """A run that owns ``pending`` rows of a campaign, as the outbox sees it.

    Attributes:
        campaign: the campaign.
        run_id: the run.
        requested: its pending rows recorded as requested (they may have been sent).
        unrequested: its pending rows never requested (provably not sent).
        last_write: its latest write to any of them (naive UTC): a live run writes at each
            batch.
    """

    campaign: str
    run_id: str
    requested: int
    unrequested: int
    last_write: datetime


def _expected(dedup_keys: Iterable[str], state: str, now: datetime) -> pa.Table:
    """The keys (once each, in order) with the state and time a write must leave them in."""
    keys = list(dict.fromkeys(dedup_keys))
    return pa.table(
        {
            "dedup_key": pa.array(keys, pa.string()),
            "state": pa.array([state] * len(keys), pa.string()),
            "now": pa.array([now] * len(keys), pa.timestamp("us")),
        }
    )


def _outbox_rows(session: Session, name: str, params: Mapping[str, object]) -> list[OutboxRow]:
    # By column name: a table upgraded from an older DDL has its later columns last.
    return [OutboxRow(**row) for row in session.fetch_arrow(name, params).to_pylist()]


def _check_claim(state: str, skip_reason: str | None) -> None:
    if state not in CLAIM_STATES:
        raise ValueError(f"rows cannot be claimed as {state!r}; use one of {CLAIM_STATES}")
    if (state == "skipped") != (skip_reason is not None):
        raise ValueError("skip_reason is required for skipped rows and only for them")


def _check_mark(state: str, skip_reason: str | None) -> None:
    if state not in TRANSITIONS:
        raise ValueError(f"rows cannot be marked {state!r}; use one of {tuple(TRANSITIONS)}")
    if state == "skipped" and skip_reason is None:
        raise ValueError("marking rows skipped needs a skip_reason")


def _states(states: OutboxState | Sequence[OutboxState]) -> list[str]:
    wanted: list[str] = [states] if isinstance(states, str) else list(states)
    unknown = sorted(set(wanted) - set(OUTBOX_STATES))
    if unknown:
        raise ValueError(f"unknown outbox states {unknown}; the states are {OUTBOX_STATES}")
    return wanted


class _OutboxCalls(abc.ABC):
    """The outbox's reads and writes, written once for :class:`Outbox` (each call in its own
    session) and :class:`OutboxSession` (every call in one): they differ only in
    :meth:`_writing` and :meth:`_reading`."""

    @abc.abstractmethod
    def _writing(self) -> contextlib.AbstractContextManager[Session]:
        """The session one call writes in (its reads see its writes)."""

    @abc.abstractmethod
    def _reading(self) -> contextlib.AbstractContextManager[Session | None]:
        """The session one call reads in; None when there is nothing to read (the warehouse is
        missing: the call finds nothing and creates nothing)."""

    def existing_keys(self, campaign: str, dedup_keys: Iterable[str]) -> set[str]:
        """The keys among ``dedup_keys`` that already have a row of ``campaign`` (any state).

        One join, whatever the number of keys; nothing is created when the file is missing.
        """
        keys = pa.table({"dedup_key": pa.array(list(dedup_keys), pa.string())})
        if not keys.num_rows:
            return set()
        with self._reading() as session:
            if session is None:
                return set()
            with session.load_arrow("candidate_keys", keys):
                rows = session.fetch_all(
                    "dml/select_outbox_existing_keys.sql", {"campaign": campaign}
                )
        return {row[0] for row in rows}

    def claim(
        self,
        messages: Iterable[OutboxMessage],
        *,
        state: ClaimState = "pending",
        skip_reason: str | None = None,
        run_id: str | None = None,
        now: datetime | None = None,
    ) -> list[OutboxMessage]:
        """Insert rows for ``messages`` in ``state``; return those this call inserted.

        A key that already has a row (from an earlier claim, another run, or earlier in
        ``messages``) is left alone and not returned: only the returned messages may be sent.
        The insert is one statement, so concurrent claims of a key give it to one caller.

        Args:
            messages: the messages to claim, in any campaigns.
            state: ``pending`` (to send now), ``held`` (quiet hours), ``baseline`` (record,
                never send) or ``skipped`` (with ``skip_reason``).
            skip_reason: why the rows are skipped; required for ``skipped``, refused otherwise.
            run_id: the run claiming the rows.
            now: the claim time (default: now); stored in UTC as ``created_at``, which is also
                when a ``held`` row was first selected (its validity counts from it).

        Raises:
            ValueError: for a state rows cannot be claimed in, or a missing/extra skip_reason.
            OutboxIntegrityError: the rows read back are not those the claim should have left.
        """
        _check_claim(state, skip_reason)
        batch: dict[tuple[str, str], OutboxMessage] = {}
        for message in messages:
            batch.setdefault(message.key, message)
        if not batch:
            return []
        # Column by column: a dict per message is several times slower on 10,000 rows.
        table = pa.Table.from_pydict(
            {name: [getattr(m, name) for m in batch.values()] for name in _MESSAGE_SCHEMA.names},
            schema=_MESSAGE_SCHEMA,
        )
        params = {
            "state": state,
            "skip_reason": skip_reason,
            "run_id": run_id,
            "now": utc_naive(now),
        }
        owners = "dml/select_outbox_claim_owners.sql"
        with self._writing() as session, session.load_arrow("claimed_messages", table):
            taken = {(c, k) for c, k, _ in session.fetch_all(owners, params)}
            session.execute("dml/insert_outbox_claimed.sql", params)
            after = session.fetch_all(owners, params)
            claimed = {(c, k) for c, k, here in after if here} - taken
            if len(after) != len(batch) or len(claimed) != len(batch) - len(taken):
                raise OutboxIntegrityError(
                    f"a claim of {len(batch)} rows ({len(taken)} already in the outbox) reads "
                    f"back {len(after)} rows, {len(claimed)} of them claimed here; rolled back, "
                    "nothing claimed"
                )
        return [message for key, message in batch.items() if key in claimed]

    def mark(
        self,
        campaign: str,
        dedup_keys: Iterable[str],
        state: MarkState,
        *,
        api_status: int | None = None,
        api_message: str | None = None,
        skip_reason: str | None = None,
        run_id: str | None = None,
        sent_at: datetime | None = None,
        now: datetime | None = None,
    ) -> tuple[str, ...]:
        """Move rows of ``campaign`` to ``state`` in one statement; return the keys moved.

        Only rows in a state that may lead to ``state`` move (see :data:`TRANSITIONS`): a row
        already final, or of another campaign, is left as it is and not returned. Values left
        None keep the row's own; ``sent_at`` (default ``now``) is set only by ``sent``.

        Args:
            campaign: the campaign whose rows are marked.
            dedup_keys: the rows' keys (e.g. the recipients of one batch).
            state: ``sent``, ``failed``, ``ambiguous``, ``skipped`` (with ``skip_reason``),
                ``expired`` or ``pending`` (a held row whose window opened).
            api_status / api_message: the API's answer for the batch.
            run_id: the run that marks them.

        Raises:
            ValueError: for a state rows cannot be marked with, or ``skipped`` with no reason.
        """
        _check_mark(state, skip_reason)
        at = utc_naive(now)
        params = {
            "campaign": campaign,
            "state": state,
            "from_states": list(TRANSITIONS[state]),
            "api_status": api_status,
            "api_message": api_message,
            "skip_reason": skip_reason,
            "run_id": run_id,
            "sent_at": None if sent_at is None else utc_naive(sent_at),
            "now": at,
        }
        return self._write_move(
            campaign,
            "outbox_keys",
            _expected(dedup_keys, state, at),
            ("dml/select_outbox_markable_keys.sql", "dml/update_outbox_state.sql"),
            params,
            run_id=run_id,
        )

    def mark_each(
        self, campaign: str, marks: Sequence[OutboxMark], *, run_id: str | None = None
    ) -> tuple[str, ...]:
        """Several :meth:`mark` calls in one UPDATE (each mark keeps its state, answer and
        time; its keys must appear in no other mark); the keys moved, in the order given."""
        for mark in marks:
            _check_mark(mark.state, None)
        keys = [key for mark in marks for key in dict.fromkeys(mark.keys)]
        if len(set(keys)) != len(keys):
            raise ValueError("a key appears in two marks")
        counts = [len(dict.fromkeys(mark.keys)) for mark in marks]

        def each(values: list[object]) -> list[object]:
            return [
                value for value, count in zip(values, counts, strict=True) for _ in range(count)
            ]

        table = pa.table(
            {
                "dedup_key": pa.array(keys, pa.string()),
                "state": pa.array(each([m.state for m in marks]), pa.string()),
                "api_status": pa.array(each([m.api_status for m in marks]), pa.int32()),
                "api_message": pa.array(each([m.api_message for m in marks]), pa.string()),
                "now": pa.array(each([utc_naive(m.now) for m in marks]), pa.timestamp("us")),
                "from_states": pa.array(
                    each([list(TRANSITIONS[m.state]) for m in marks]), pa.list_(pa.string())
                ),
            }
        )
        return self._write_move(
            campaign,
            "marked_rows",
            table,
            ("dml/select_outbox_markable_rows.sql", "dml/update_outbox_marks.sql"),
            {"campaign": campaign, "run_id": run_id},
            run_id=run_id,
        )

    def hand_over(
        self,
        campaign: str,
        dedup_keys: Iterable[str],
        *,
        from_run: str | None,
        to_run: str | None,
        now: datetime | None = None,
    ) -> tuple[str, ...]:
        """Give ``pending`` rows of ``campaign`` owned by ``from_run`` and never requested to
        ``to_run``; return the keys moved, read back.

        ``None`` means no run: a later run adopts released rows from ``None``, and the rows a
        dead run never requested are handed from it to ``None``. A row recorded as requested
        never moves here (it may have been sent). One statement, so of two runs adopting the
        same key exactly one gets it.
        """
        at = utc_naive(now)
        return self._write_move(
            campaign,
            "outbox_keys",
            _expected(dedup_keys, "pending", at),
            ("dml/select_outbox_unrequested_keys.sql", "dml/update_outbox_pending_run.sql"),
            {"campaign": campaign, "run_id": from_run, "to_run": to_run, "now": at},
            run_id=to_run,
            check_run=True,
        )

    def release(
        self, campaign: str, dedup_keys: Iterable[str], *, run_id: str, now: datetime | None = None
    ) -> tuple[str, ...]:
        """Release ``pending`` rows of ``campaign`` that ``run_id`` owns and knows never left
        (never requested, or refused before reaching the API): no run owns them any more and
        their ``requested_at`` is cleared, so a later run adopts and sends them. Returns the keys
        released, read back."""
        at = utc_naive(now)
        return self._write_move(
            campaign,
            "outbox_keys",
            _expected(dedup_keys, "pending", at),
            ("dml/select_outbox_owned_pending_keys.sql", "dml/update_outbox_released.sql"),
            {"campaign": campaign, "run_id": run_id, "now": at},
            run_id=None,
            check_run=True,
        )

    def take(
        self,
        campaign: str,
        dedup_keys: Iterable[str],
        *,
        run_id: str,
        now: datetime | None = None,
        honour_opt_outs: bool = True,
    ) -> Taken:
        """Record one batch as requested, just before its request: the rows ``run_id`` still
        owns and never requested are stamped ``requested_at`` and returned, read back, as the
        rows to send; those whose number opted out since their claim are marked ``skipped``
        (``opted_out``) instead. A row another run took over (its run was judged dead) is in
        neither: it is no longer this run's to send.

        ``honour_opt_outs=False`` is for the operator's own alerts only
        (:mod:`smspresto_pipeline.alerts`): an opt-out is a customer's stop request, and the
        operator's number may well have tried a campaign's stop reply."""
        at = utc_naive(now)
        keys = list(dict.fromkeys(dedup_keys))
        if not keys:
            return Taken((), ())
        with self._writing() as session:
            asked = pa.table({"dedup_key": pa.array(keys, pa.string())})
            with session.load_arrow("outbox_keys", asked):
                found = session.fetch_all(
                    "dml/select_outbox_unrequested_keys.sql",
                    {"campaign": campaign, "run_id": run_id},
                )
            opted = {key for key, opted_out in found if opted_out and honour_opt_outs}
            # Marking the opted-out rows skipped leaves the others as found: no second lookup.
            skipped = OutboxSession(session).mark(
                campaign,
                [k for k in keys if k in opted],
                "skipped",
                skip_reason="opted_out",
                run_id=run_id,
                now=at,
            )
            requested = _move(
                session,
                campaign,
                "outbox_keys",
                _expected((k for k in keys if k not in opted), "pending", at),
                ("dml/select_outbox_unrequested_keys.sql", "dml/update_outbox_requested.sql"),
                {"campaign": campaign, "run_id": run_id, "now": at},
                run_id=run_id,
                check_run=True,
                movable={key for key, _ in found if key not in opted},
            )
        return Taken(requested, skipped)

    def _write_move(
        self,
        campaign: str,
        view: str,
        rows: pa.Table,
        sql: tuple[str, str],
        params: Mapping[str, object],
        *,
        run_id: str | None,
        check_run: bool | None = None,
    ) -> tuple[str, ...]:
        """:func:`_move` in a writing session, opened only when there are rows to move."""
        if not rows.num_rows:
            return ()
        with self._writing() as session:
            return _move(
                session, campaign, view, rows, sql, params, run_id=run_id, check_run=check_run
            )

    def pending_owners(self, campaign: str | None = None) -> list[PendingOwner]:
        """The runs owning ``pending`` rows (of ``campaign``, or of every campaign), with their
        requested and never-requested counts and their last write, stalest first."""
        with self._reading() as session:
            if session is None:
                return []
            rows = session.fetch_all("dml/select_outbox_pending_owners.sql", {"campaign": campaign})
        return [PendingOwner(*row) for row in rows]

    def rows(
        self,
        states: OutboxState | Sequence[OutboxState],
        *,
        campaign: str | None = None,
        created_before: datetime | None = None,
        limit: int | None = None,
    ) -> list[OutboxRow]:
        """Rows in ``states``, oldest first: e.g. a campaign's ``ambiguous`` rows to reconcile,
        or its ``held`` rows once the window opens (``created_before`` finds the expired ones).

        ``campaign`` None means every campaign; nothing is created when the file is missing.
        """
        params = {
            "states": _states(states),
            "campaign": campaign,
            "created_before": None if created_before is None else utc_naive(created_before),
            "limit": limit,
        }
        with self._reading() as session:
            if session is None:
                return []
            return _outbox_rows(session, "dml/select_outbox_rows.sql", params)

    def released(self, campaign: str) -> list[OutboxRow]:
        """The ``pending`` rows of ``campaign`` that no run owns (``run_id`` NULL: released by
        a run that stopped before their batch's request), oldest first; read in SQL, so a run
        that holds many pending rows of its own costs nothing here."""
        with self._reading() as session:
            if session is None:
                return []
            return _outbox_rows(session, "dml/select_outbox_released.sql", {"campaign": campaign})

    def sent_to_recipients(self, recipients: Iterable[str], since: datetime) -> dict[str, int]:
        """Messages that went, or may have gone, to each recipient since ``since``, across
        every campaign (the frequency cap). Recipients with none are absent from the result.

        Counts the states of :data:`SENT_OR_MAYBE_SENT`, at ``sent_at`` (or, not sent yet, the
        row's last change: its claim, or the move of a held row to pending).
        """
        numbers = pa.table({"recipient": pa.array(list(set(recipients)), pa.string())})
        if not numbers.num_rows:
            return {}
        with self._reading() as session:
            if session is None:
                return {}
            with session.load_arrow("capped_recipients", numbers):
                rows = session.fetch_all(
                    "dml/count_outbox_sent_by_recipient.sql",
                    {"states": list(SENT_OR_MAYBE_SENT), "since": utc_naive(since)},
                )
        return {recipient: int(count) for recipient, count in rows}

    def campaign_sent_count(self, campaign: str, since: datetime) -> int:
        """Messages ``campaign`` tried to send since ``since`` (the daily cap): the states of
        :data:`DAILY_CAP_STATES`, at ``sent_at`` (or the row's last change, as above)."""
        with self._reading() as session:
            if session is None:
                return 0
            # fetch_all, not fetch_one: a result left unfinished blocks a session's next statement.
            [(count,)] = session.fetch_all(
                "dml/count_outbox_sent_by_campaign.sql",
                {"campaign": campaign, "states": list(DAILY_CAP_STATES), "since": utc_naive(since)},
            )
        return int(count)

    def run_sizes(self, campaign: str, *, runs: int = 10) -> list[int]:
        """How many rows each of ``campaign``'s last ``runs`` send runs claimed to send, newest
        first: the rows now in :data:`DAILY_CAP_STATES` per ``run_id`` (whatever became of
        them; baseline, held and skipped rows are not counted). The volume breaker's history."""
        with self._reading() as session:
            if session is None:
                return []
            rows = session.fetch_all(
                "dml/select_outbox_run_sizes.sql",
                {"campaign": campaign, "states": list(DAILY_CAP_STATES), "runs": runs},
            )
        return [int(row[0]) for row in rows]

    def record_surge(
        self,
        campaign: str,
        *,
        run_id: str,
        found_rows: int,
        threshold: int,
        rest: str,
        rest_rows: int,
        now: datetime | None = None,
    ) -> None:
        """Record that ``run_id`` confirmed a surge of ``found_rows`` new rows (above
        ``threshold``), and what it did with the ``rest_rows`` its first batch left: ``rest`` is
        ``expire``, ``keep`` or ``drop`` (table ``smspresto.campaign_surges``). Write it in the
        transaction of the run's claims."""
        params = {
            "campaign": campaign,
            "run_id": run_id,
            "now": utc_naive(now),
            "found_rows": found_rows,
            "threshold": threshold,
            "rest": rest,
            "rest_rows": rest_rows,
        }
        with self._writing() as session:
            session.execute("dml/insert_campaign_surge.sql", params)

    def surge_runs(self, campaign: str, rest: str) -> frozenset[str]:
        """The runs that confirmed a surge of ``campaign`` saying ``rest`` (``keep``: the rows
        they held never expire)."""
        with self._reading() as session:
            if session is None:
                return frozenset()
            rows = session.fetch_all(
                "dml/select_campaign_surge_runs.sql", {"campaign": campaign, "rest": rest}
            )
        return frozenset(str(row[0]) for row in rows)

    def hold_surge(
        self,
        campaign: str,
        *,
        found_rows: int,
        threshold: int,
        resolve: str,
        now: datetime | None = None,
    ) -> None:
        """Record that ``campaign``'s sensor holds a surge of ``found_rows`` new rows (above
        ``threshold``) for a person to confirm as ``resolve`` says (table
        ``smspresto.campaign_surges_held``); a campaign with an open one gets no second."""
        params = {
            "campaign": campaign,
            "now": utc_naive(now),
            "found_rows": found_rows,
            "threshold": threshold,
            "resolve": resolve,
        }
        with self._writing() as session:
            session.execute("dml/insert_campaign_surge_held.sql", params)

    def end_held_surge(self, campaign: str, *, now: datetime | None = None) -> None:
        """End ``campaign``'s open held surge, if any (confirmed, or no longer a surge)."""
        with self._writing() as session:
            session.execute(
                "dml/update_campaign_surges_held_ended.sql",
                {"campaign": campaign, "now": utc_naive(now)},
            )

    def held_surges(self, campaign: str | None = None) -> list[HeldSurge]:
        """The open held surges (of ``campaign``, or of every campaign), oldest first."""
        with self._reading() as session:
            if session is None or "campaign_surges_held" not in session.tables():
                return []
            rows = session.fetch_all("dml/select_campaign_surges_held.sql", {"campaign": campaign})
        return [HeldSurge(*row) for row in rows]


class OutboxSession(_OutboxCalls):
    """The outbox's reads and writes in one open session of the storage port.

    Given by :meth:`Outbox.transaction` (everything inside commits together, and no other
    writer of the file runs in between) and :meth:`Outbox.reading` (several reads, one
    session); or made on a session of the caller's, to read or write the outbox beside other
    things in it. The methods are :class:`Outbox`'s.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        yield self.session

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Session | None]:
        yield self.session


class Outbox(_OutboxCalls):
    """Reads and writes of ``smspresto.outbox`` in a warehouse (a
    :class:`~smspresto_pipeline.warehouse.Warehouse`, or anything holding its database).

    Each method is one short transaction (or one read-only session; a read of a missing
    warehouse finds nothing and does not create it); :meth:`transaction` groups several.

    Args:
        warehouse: the warehouse (its lock settings apply to every write here).
    """

    def __init__(self, warehouse: HasDatabase) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database

    def __repr__(self) -> str:
        return f"Outbox({self.warehouse!r})"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[OutboxSession]:
        """An :class:`OutboxSession` inside one transaction: its reads see its own writes, it
        commits when the block ends and rolls back when it raises. No other writer of the file
        (in this process or another) runs until it ends, so keep it short; don't call this
        :class:`Outbox`'s own methods inside it (they open their own session)."""
        with self.database.transaction() as session:
            yield OutboxSession(session)

    @contextlib.contextmanager
    def reading(self) -> Iterator[OutboxSession]:
        """An :class:`OutboxSession` in a read-only session: several reads, one session (the
        warehouse must exist; don't write through it)."""
        with self.database.reading() as session:
            yield OutboxSession(session)

    def _writing(self) -> contextlib.AbstractContextManager[Session]:
        return self.database.transaction()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Session | None]:
        if not self.database.exists():
            yield None
            return
        with self.database.reading() as session:
            yield session


def _move(
    session: Session,
    campaign: str,
    view: str,
    rows: pa.Table,
    sql: tuple[str, str],
    params: Mapping[str, object],
    *,
    run_id: str | None,
    check_run: bool | None = None,
    movable: set[str] | None = None,
) -> tuple[str, ...]:
    """Move outbox rows of ``campaign`` and return the keys moved, in the order of ``rows``.

    ``rows`` (a ``dedup_key`` column, the ``state`` and ``now`` each row must end with, and
    what the UPDATE reads) is loaded as the relation ``view``; the SELECT ``sql[0]`` finds the rows
    that may move (unless the caller read them in this transaction: ``movable``), the
    UPDATE ``sql[1]`` moves exactly those, and what it moved is read back (state, time
    and, when ``check_run``, ``run_id``): never the statement's echo.

    Raises:
        OutboxIntegrityError: the rows read back differ from those that should have moved
            (the caller's transaction then rolls back).
    """
    if not rows.num_rows:
        return ()
    select, update = sql
    if movable is None:
        with session.load_arrow(view, rows):
            movable = {row[0] for row in session.fetch_all(select, params)}
    if not movable:
        return ()
    rows = rows.filter(pc.is_in(rows["dedup_key"], value_set=pa.array(list(movable))))
    with session.load_arrow(view, rows):
        session.execute(update, params)
    check = run_id is not None if check_run is None else check_run
    with session.load_arrow("moved_rows", rows.select(["dedup_key", "state", "now"])):
        moved = {
            row[0]
            for row in session.fetch_all(
                "dml/select_outbox_moved_keys.sql",
                {"campaign": campaign, "run_id": run_id, "check_run": check},
            )
        }
    if moved != movable:
        raise OutboxIntegrityError(
            f"campaign {campaign!r}: {len(movable)} outbox rows should have moved and "
            f"{len(moved)} read back as moved; rolled back, nothing moved"
        )
    return tuple(rows["dedup_key"].to_pylist())
