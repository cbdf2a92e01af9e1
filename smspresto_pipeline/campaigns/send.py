"""The send step: claimed outbox rows to SMS Presto, one request per batch, each batch marked.

:func:`send_claimed` sends a campaign's rows already claimed as ``pending`` by a run, in
batches of the client's ``batch_size`` through the per-recipient POST shape, and marks every
batch in the outbox once its answer is known (at most :data:`MARKS_IN_FLIGHT` batches behind
the requests), so a crash mid-run leaves every answered row marked but those few, which stay
``pending`` and are quarantined as ``ambiguous``. What a batch's outcome does (DESIGN.md §6:
an ambiguous send is never retried blindly, a row is never sent twice)::

    answer                                   batch's rows   the run
    accepted (status 0)                      sent           goes on
    refused: recipient / message (102, 103)  failed         goes on
    refused: key, password, sender, other    failed         stops: it concerns every batch
    answer lost after the request left       ambiguous      stops: reconcile with the archive
    the request never left (after retries)   pending        stops: the API is unreachable

**Pending means never sent.** A row stays ``pending`` only while its run has not yet made its
batch's request. When a run stops, it *releases* the rows of the batches it never attempted
(``run_id`` set to NULL): provably never sent, so a later run may adopt and send them
(:func:`adopt_released`). Rows of an attempted batch are never left ``pending``: they are
``sent``, ``failed`` or ``ambiguous``.

**Marks are written by a background thread** (:class:`_MarkWriter`), so writing a batch's
mark overlaps the next batches' requests instead of adding to them. The thread writes the marks
in the order the answers came, each with the time its answer came, several at a time: once
:data:`MARKS_PER_WRITE` marks wait, or the oldest has waited :data:`MARK_DELAY` seconds, or
the run stops sending, it writes every waiting mark in one transaction, on a connection it
closes right after (the file stays free for other processes in between: a write costs a
connection, a commit and DuckDB's checkpoint, so fewer writes leave more of the machine to
the requests). At most :data:`MARKS_IN_FLIGHT` answered batches wait for their mark: when the
writer falls behind, the next request waits for it.

**A run that died** (killed between a request and its mark, or failing to write the mark:
then it makes no further request and releases the batches it never attempted) leaves its
answered but unmarked rows ``pending`` with its ``run_id``: one of its batches may have been
in flight, and the outbox cannot tell which.
Those rows are not resent; :func:`quarantine_orphans` marks them ``ambiguous`` once the caller
knows the run is over, and reconciliation (:mod:`~smspresto_pipeline.campaigns.reconcile`)
resolves them against the archive. The caller (the Dagster job) names the finished runs from
the run's status in the instance, not from an age: a slow run is not a dead one, and guessing
from "older than N minutes" would resend a batch still in flight.

Example:
    .. code-block:: python

        check_stock(client, claimed)  # raises before any request when the stock is short
        report = send_claimed(client, outbox, claimed, run_id=context.run_id)
        report.sent, report.ambiguous, report.left_pending
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Literal

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.errors import (
    AmbiguousSendError,
    InvalidMessageError,
    InvalidRecipientError,
    SMSPrestoError,
    SMSValidationError,
)
from smspresto_pipeline.sms import validate_sender
from smspresto_pipeline.warehouse.outbox import Outbox, OutboxMark, OutboxMessage, OutboxRow
from smspresto_pipeline.wording import plural

__all__ = [
    "MARKS_IN_FLIGHT",
    "MARKS_PER_WRITE",
    "MARK_DELAY",
    "BatchOutcome",
    "BatchState",
    "SendReport",
    "adopt_released",
    "check_stock",
    "quarantine_orphans",
    "released_rows",
    "send_claimed",
]

#: Most answered batches whose marks wait to be written while the next batch is requested.
MARKS_IN_FLIGHT = 8
#: Marks waiting that start a write (every waiting mark is written then).
MARKS_PER_WRITE = 4
#: Most seconds a mark waits before a write starts, however few marks wait.
MARK_DELAY = 1.0

#: Where a batch's rows stand after the run: ``pending`` only for a batch never requested.
BatchState = Literal["sent", "failed", "ambiguous", "pending"]

# Refusals that concern only the batch's own rows; any other refusal (key, password, sender,
# a code the reference does not document, such as 104 "insufficient credit") would refuse
# every later batch too.
_BATCH_ONLY_REFUSALS = (InvalidRecipientError, InvalidMessageError, SMSValidationError)


@dataclasses.dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of one batch.

    Attributes:
        index: the batch's position in the run, from 0.
        dedup_keys: the rows' keys, in order.
        state: where its rows stand (:data:`BatchState`).
        segments: the SMS parts its rows are billed as.
        message_count: the API's ``message-count`` (0 unless sent).
        api_status: the API's status code (0 when sent; ``None`` when it gave none).
        api_message: the API's message, or why the batch was not sent.
        requested: whether its request was made (``False``: the run stopped before it).
    """

    index: int
    dedup_keys: tuple[str, ...]
    state: BatchState
    segments: int
    message_count: int = 0
    api_status: int | None = None
    api_message: str | None = None
    requested: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class SendReport:
    """The outcome of :func:`send_claimed`, batch by batch and in total.

    Attributes:
        campaign: the campaign's name.
        run_id: the run that sent.
        batches: every batch's outcome, in order (never-attempted batches included).
        stopped: why the run stopped before its last batch (``None``: it did not).
    """

    campaign: str
    run_id: str
    batches: tuple[BatchOutcome, ...]
    stopped: str | None = None

    def _rows(self, state: BatchState) -> int:
        return sum(len(b.dedup_keys) for b in self.batches if b.state == state)

    @property
    def sent(self) -> int:
        """Rows marked ``sent``."""
        return self._rows("sent")

    @property
    def failed(self) -> int:
        """Rows marked ``failed``."""
        return self._rows("failed")

    @property
    def ambiguous(self) -> int:
        """Rows marked ``ambiguous``."""
        return self._rows("ambiguous")

    @property
    def left_pending(self) -> int:
        """Rows left ``pending`` and released: never sent, a later run may send them."""
        return self._rows("pending")

    @property
    def pending_keys(self) -> tuple[str, ...]:
        """The keys of the rows left ``pending``."""
        return tuple(k for b in self.batches if b.state == "pending" for k in b.dedup_keys)

    @property
    def requests(self) -> int:
        """Batches requested: one ``sendsms`` request each (the client's own retries of a
        request that never left are not counted)."""
        return sum(b.requested for b in self.batches)

    @property
    def segments_billed(self) -> int:
        """The SMS parts of the rows sent."""
        return sum(b.segments for b in self.batches if b.state == "sent")

    @property
    def message_count(self) -> int:
        """The API's ``message-count``, summed over the batches sent."""
        return sum(b.message_count for b in self.batches)


def check_stock(client: SMSPrestoClient, messages: Sequence[OutboxMessage]) -> int:
    """Return the account's stock, or raise when it cannot pay for ``messages``' segments.

    Raises:
        SMSValidationError: the stock is below the segments the messages cost; nothing sent.
    """
    needed = sum(message.segments for message in messages)
    stock = client.get_stock()
    if stock < needed:
        raise SMSValidationError(
            f"nothing sent: the {plural(len(messages), 'message')} cost "
            f"{plural(needed, 'SMS part')} and the "
            f"account's stock is {stock}"
        )
    return stock


def _one_campaign(messages: Sequence[OutboxMessage]) -> str:
    campaigns = {message.campaign for message in messages}
    if len(campaigns) != 1:
        raise ValueError(
            f"send_claimed sends one campaign's messages, got campaigns {sorted(campaigns)}"
        )
    return campaigns.pop()


def _batches(messages: Sequence[OutboxMessage], size: int) -> list[Sequence[OutboxMessage]]:
    """Batches of ``size`` messages, each from one sender: the senders in order of their first
    message (a row held or released under a campaign's former sender keeps it)."""
    by_sender: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        by_sender.setdefault(message.sender, []).append(message)
    return [rows[i : i + size] for rows in by_sender.values() for i in range(0, len(rows), size)]


class _MarkWriter:
    """Writes one run's batch marks from a background thread, in the order they were given.

    :meth:`put` hands a mark over, waiting while :data:`MARKS_IN_FLIGHT` marks are unwritten;
    the thread writes the waiting marks in one transaction, on a connection it opens for them
    and closes once they are written, when :data:`MARKS_PER_WRITE` wait, when the oldest has
    waited :data:`MARK_DELAY` seconds, and on :meth:`close`. A failed write stops the thread:
    the marks not written leave their rows ``pending`` with the run (for
    :func:`quarantine_orphans`), and :meth:`check`, :meth:`put` and :meth:`close` raise the
    error.
    """

    def __init__(self, outbox: Outbox, campaign: str, run_id: str) -> None:
        self._outbox = outbox
        self._campaign = campaign
        self._run_id = run_id
        self._queue: queue.SimpleQueue[OutboxMark | None] = queue.SimpleQueue()
        self._unwritten = threading.Semaphore(MARKS_IN_FLIGHT)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"smspresto-outbox-marks-{run_id}", daemon=True
        )
        self._thread.start()

    def check(self) -> None:
        """Raise the error that stopped the thread, if one did."""
        if self._error is not None:
            raise self._error

    def put(self, mark: OutboxMark) -> None:
        """Hand ``mark`` over once fewer than :data:`MARKS_IN_FLIGHT` marks are unwritten."""
        while not self._unwritten.acquire(timeout=0.05):
            self.check()
        self.check()
        self._queue.put(mark)

    def close(self) -> None:
        """Wait until every mark handed over is written (or the thread stopped); raise the
        error that stopped it, if any."""
        self._queue.put(None)
        self._thread.join()
        self.check()

    def _run(self) -> None:
        waiting: list[OutboxMark] = []
        due = 0.0  # when the oldest waiting mark must be written
        closing = False
        while not closing:
            try:
                item = self._queue.get(
                    timeout=max(0.0, due - time.monotonic()) if waiting else None
                )
            except queue.Empty:
                pass  # the oldest waiting mark is due
            else:
                if item is None:
                    closing = True
                else:
                    if not waiting:
                        due = time.monotonic() + MARK_DELAY
                    waiting.append(item)
                    if len(waiting) < MARKS_PER_WRITE:
                        continue
            if waiting and not self._write(waiting):
                return
            waiting = []

    def _write(self, marks: Sequence[OutboxMark]) -> bool:
        """Write ``marks`` in one transaction; False (the error kept for the sending thread)
        when that failed."""
        try:
            with self._outbox.transaction() as session:
                # One UPDATE for all of them (joined on the outbox's key), not one a batch.
                session.mark_each(self._campaign, marks, run_id=self._run_id)
        except BaseException as exc:  # handed to the sending thread, which raises it
            self._error = exc
            return False
        for _ in marks:
            self._unwritten.release()
        return True


def send_claimed(
    client: SMSPrestoClient,
    outbox: Outbox,
    messages: Sequence[OutboxMessage],
    *,
    run_id: str,
    clock: Callable[[], datetime] | None = None,
) -> SendReport:
    """Send messages claimed ``pending`` by ``run_id``, one request per batch, marking each
    batch once its answer is known (see the module docstring for each outcome).

    Every mark is written before this returns or raises (or, when writing one failed, the
    error is raised, no later batch is requested, and the rows it left unmarked stay
    ``pending`` with this run).

    Args:
        client: the API client; its ``batch_size`` sets the batches.
        outbox: the outbox the messages were claimed in.
        messages: one campaign's messages, claimed as ``pending`` by ``run_id`` (only what
            :meth:`Outbox.claim` returned: never a row claimed elsewhere). Each is sent from
            its own ``sender``: a row rendered before the campaign's sender changed keeps the
            old one, and each batch holds one sender's rows.
        run_id: the run sending them.
        clock: what the marks record as their time (``sent_at``); default: now. The caps
            count sends at that time, so a campaign given another clock passes it here too.

    Raises:
        SMSValidationError: a sender cannot be sent from (every one checked before any
            request; the rows stay ``pending`` with this run, which may release them or mark
            them).
        Exception: anything unexpected while a batch is sent or marked (e.g. the outbox file):
            the batches not yet requested are released first; the rows of the batches whose
            mark was not written stay ``pending`` with this run, for :func:`quarantine_orphans`
            once the run is over.
        ValueError: messages of several campaigns.
    """
    if not messages:
        return SendReport(campaign="", run_id=run_id, batches=())
    campaign = _one_campaign(messages)
    for sender in dict.fromkeys(message.sender for message in messages):
        validate_sender(sender)
    batches = _batches(messages, client.batch_size)
    outcomes: list[BatchOutcome] = []
    stopped: str | None = None
    started = 0  # batches whose request was started (it may have left)
    writer = _MarkWriter(outbox, campaign, run_id)
    try:
        for index, batch in enumerate(batches):
            if stopped is not None:
                outcomes.append(_never_attempted(index, batch))
                continue
            writer.check()  # a mark could not be written: no further request
            started = index + 1
            outcome, mark, stop = _send_batch(client, batch[0].sender, index, batch, clock)
            outcomes.append(outcome)
            if mark is not None:
                writer.put(mark)
            if stop:
                stopped = f"batch {index + 1} of {len(batches)}: {outcome.api_message}"
        writer.close()
    except BaseException:
        # An unexpected failure (the outbox file, an interrupt): the marks handed over are
        # written if they can be, and the batches provably never sent are released. A batch
        # whose request may have left and whose mark is not written stays this run's, for
        # quarantine_orphans.
        with contextlib.suppress(BaseException):
            writer.close()
        never = [m.dedup_key for b in batches[started:] for m in b]
        outbox.hand_over(campaign, _unsent(outcomes) + never, from_run=run_id, to_run=None)
        raise
    outbox.hand_over(campaign, _unsent(outcomes), from_run=run_id, to_run=None)
    return SendReport(campaign, run_id, tuple(outcomes), stopped)


def _unsent(outcomes: Sequence[BatchOutcome]) -> list[str]:
    """The keys of the batches left ``pending``: never requested, or never reached the API."""
    return [k for o in outcomes if o.state == "pending" for k in o.dedup_keys]


def _never_attempted(index: int, batch: Sequence[OutboxMessage]) -> BatchOutcome:
    return BatchOutcome(
        index,
        tuple(message.dedup_key for message in batch),
        "pending",
        sum(m.segments for m in batch),
        api_message="never attempted: the run stopped before it",
        requested=False,
    )


def _send_batch(
    client: SMSPrestoClient,
    sender: str,
    index: int,
    batch: Sequence[OutboxMessage],
    clock: Callable[[], datetime] | None,
) -> tuple[BatchOutcome, OutboxMark | None, bool]:
    """Send one batch; return its outcome, the mark to write (None: nothing was sent) and
    whether the run must stop."""
    keys = tuple(message.dedup_key for message in batch)
    segments = sum(message.segments for message in batch)
    try:
        result = client.send_messages(sender, [(m.recipient, m.message) for m in batch])
    except AmbiguousSendError as exc:
        why = f"the answer was lost after the request left: {exc}"
        mark = OutboxMark(keys, "ambiguous", None, why, _now(clock))
        return BatchOutcome(index, keys, "ambiguous", segments, api_message=why), mark, True
    except SMSPrestoError as exc:
        if exc.code is None and not isinstance(exc, SMSValidationError):
            # No API status: the request never left, or was refused before any processing
            # (connection refused after retries, a 4xx without a code). Nothing was sent.
            why = f"not sent, the request never reached the API: {exc}"
            return BatchOutcome(index, keys, "pending", segments, api_message=why), None, True
        why = exc.api_message or str(exc)
        mark = OutboxMark(keys, "failed", exc.code, why, _now(clock))
        outcome = BatchOutcome(index, keys, "failed", segments, 0, exc.code, why)
        return outcome, mark, not isinstance(exc, _BATCH_ONLY_REFUSALS)
    mark = OutboxMark(keys, "sent", 0, result.api_message, _now(clock))
    outcome = BatchOutcome(
        index, keys, "sent", segments, result.message_count, 0, result.api_message
    )
    return outcome, mark, False


def _now(clock: Callable[[], datetime] | None) -> datetime:
    """When an answer came: the mark's time (the caps count sends at it)."""
    return datetime.now(UTC) if clock is None else clock()


def released_rows(outbox: Outbox, campaign: str) -> list[OutboxRow]:
    """The ``pending`` rows of ``campaign`` that no run owns: released by a run that stopped
    before their batch's request, so provably never sent."""
    return outbox.released(campaign)


def adopt_released(outbox: Outbox, campaign: str, *, run_id: str) -> list[OutboxMessage]:
    """Give ``run_id`` the released ``pending`` rows of ``campaign``; return the messages it now
    owns, ready for :func:`send_claimed`. Of two runs adopting at once, each row goes to one."""
    rows = released_rows(outbox, campaign)
    adopted = set(
        outbox.hand_over(campaign, (r.dedup_key for r in rows), from_run=None, to_run=run_id)
    )
    return [row.intended for row in rows if row.dedup_key in adopted]


def quarantine_orphans(
    outbox: Outbox, campaign: str, finished_run_ids: Collection[str]
) -> tuple[str, ...]:
    """Mark ``ambiguous`` the ``pending`` rows of ``campaign`` still owned by runs that are over.

    A run that ends normally leaves none (it marks or releases each batch); one that died may
    have died with a request in flight, so its rows may have been sent: never resent, they go
    to reconciliation. Returns the keys marked.

    Args:
        finished_run_ids: runs known to be over (succeeded, failed or canceled): a run still
            going is never named here, however old its rows.
    """
    finished = set(finished_run_ids)
    keys = [
        row.dedup_key
        for row in outbox.rows("pending", campaign=campaign)
        if row.run_id is not None and row.run_id in finished
    ]
    return outbox.mark(
        campaign,
        keys,
        "ambiguous",
        api_message="its run ended before recording an answer: it may have been sent",
    )
