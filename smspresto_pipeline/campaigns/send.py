"""The send step: claimed outbox rows to SMS Presto, one request per batch, each batch marked.

:func:`send_claimed` sends a campaign's rows already claimed as ``pending`` by a run, in
batches of the client's ``batch_size`` through the per-recipient POST shape. What a batch's
outcome does (docs/architecture.md §4: an ambiguous send is never retried blindly, a row is
never sent twice)::

    answer                                   batch's rows   the run
    accepted (status 0)                      sent           goes on
    refused: recipient / message (102, 103)  failed         goes on
    refused: key, password, sender, other    failed         stops: it concerns every batch
    answer lost after the request left       ambiguous      stops: reconcile with the archive
    the request never left (after retries)   pending        stops: the API is unreachable

**Each batch is recorded as requested before its request leaves.** Just before a batch's
request, one transaction (:meth:`~smspresto_pipeline.sending.outbox.OutboxSession.take`)
writes the previous batch's mark, marks ``skipped`` (``opted_out``) the rows whose number
opted out since the claim (opt-outs are read again for every batch), and stamps
``requested_at`` on the rest of the rows the run still owns; only the rows read back from that
write are sent. So when a run dies (killed, its machine gone), its ``pending`` rows tell apart:

* never requested (no ``requested_at``): provably not sent. They are **released** (no run
  owns them) and a later run adopts and sends them (:func:`adopt_released`);
* requested: the request may have left. They are marked ``ambiguous``, never resent blindly,
  and reconciliation (:mod:`~smspresto_pipeline.campaigns.reconcile`) resolves them against
  the archive. At most one batch is in that case: the one in flight, or the last answered
  one whose mark was not written yet.

:mod:`~smspresto_pipeline.campaigns.settle` notices dead runs and does both. A run that only
looked dead (silent too long) and still lives loses its rows that were never requested, never
a message twice: its own next ``take`` finds them no longer its own.

When a run stops normally, it releases the rows of the batches it never attempted, and those of
a batch whose request provably never reached the API: every other row is ``sent``, ``failed``
or ``ambiguous``.

Example:
    .. code-block:: python

        check_stock(client, claimed)  # raises before any request when the stock is short
        report = send_claimed(client, outbox, claimed, run_id=context.run_id)
        report.sent, report.ambiguous, report.left_pending
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
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
from smspresto_pipeline.sending.outbox import Outbox, OutboxMark, OutboxMessage, OutboxRow, Taken
from smspresto_pipeline.sms import validate_sender
from smspresto_pipeline.wording import plural

__all__ = [
    "BatchOutcome",
    "BatchState",
    "SendReport",
    "adopt_released",
    "check_stock",
    "released_rows",
    "send_claimed",
]

#: Where a batch's rows stand after the run: ``pending`` only for a batch whose request never
#: left (released); ``skipped`` for one with no row left to send when its turn came.
BatchState = Literal["sent", "failed", "ambiguous", "pending", "skipped"]

# Refusals that concern only the batch's own rows; any other refusal (key, password, sender,
# a code the reference does not document, such as 104 "insufficient credit") would refuse
# every later batch too.
_BATCH_ONLY_REFUSALS = (InvalidRecipientError, InvalidMessageError, SMSValidationError)


@dataclasses.dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of one batch.

    Attributes:
        index: the batch's position in the run, from 0.
        dedup_keys: the keys of the rows it sent (or would have), in order.
        state: where those rows stand (:data:`BatchState`).
        segments: the SMS parts they are billed as.
        message_count: the API's ``message-count`` (0 unless sent).
        api_status: the API's status code (0 when sent; ``None`` when it gave none).
        api_message: the API's message, or why the batch was not sent.
        requested: whether its request was made (``False``: the run stopped before it, or no
            row was left to send).
        opted_out: the keys left out because their number opted out since the claim (marked
            ``skipped``).
        not_owned: the keys left out because the run no longer owned them when the batch's
            turn came (another run judged it dead and took over its unrequested rows).
    """

    index: int
    dedup_keys: tuple[str, ...]
    state: BatchState
    segments: int
    message_count: int = 0
    api_status: int | None = None
    api_message: str | None = None
    requested: bool = True
    opted_out: tuple[str, ...] = ()
    not_owned: tuple[str, ...] = ()


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
    def opted_out(self) -> int:
        """Rows marked ``skipped`` just before their batch's request: opted out since."""
        return sum(len(b.opted_out) for b in self.batches)

    @property
    def not_owned(self) -> int:
        """Rows another run took over before their batch's turn (none in a healthy run)."""
        return sum(len(b.not_owned) for b in self.batches)

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


def send_claimed(
    client: SMSPrestoClient,
    outbox: Outbox,
    messages: Sequence[OutboxMessage],
    *,
    run_id: str,
    clock: Callable[[], datetime] | None = None,
    honour_opt_outs: bool = True,
) -> SendReport:
    """Send messages claimed ``pending`` by ``run_id``, one request per batch, each batch
    recorded as requested just before its request and marked once its answer is known (see the
    module docstring).

    A batch's mark is written in the transaction that records the next batch as requested (one
    write per batch), and the last one before this returns or raises.

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
        honour_opt_outs: False only for the operator's own alerts (see
            :meth:`~smspresto_pipeline.sending.outbox.OutboxSession.take`).

    Raises:
        SMSValidationError: a sender cannot be sent from (every one checked before any
            request; the rows stay ``pending`` with this run, which may release them or mark
            them).
        Exception: anything unexpected while a batch is recorded, sent or marked (e.g. the
            outbox file): the rows never requested are released first; those of a batch whose
            request may have left and whose mark is not written stay ``pending`` with this run,
            for :mod:`~smspresto_pipeline.campaigns.settle` once the run is over.
        ValueError: messages of several campaigns.
    """
    if not messages:
        return SendReport(campaign="", run_id=run_id, batches=())
    campaign = _one_campaign(messages)
    for sender in dict.fromkeys(message.sender for message in messages):
        validate_sender(sender)
    batches = _batches(messages, client.batch_size)
    with outbox.database.kept_instance():
        return _send_batches(client, outbox, campaign, batches, run_id, clock, honour_opt_outs)


def _send_batches(
    client: SMSPrestoClient,
    outbox: Outbox,
    campaign: str,
    batches: Sequence[Sequence[OutboxMessage]],
    run_id: str,
    clock: Callable[[], datetime] | None,
    honour_opt_outs: bool,
) -> SendReport:
    """:func:`send_claimed`'s loop, once the batches are made and their senders checked."""
    outcomes: list[BatchOutcome] = []
    stopped: str | None = None
    unwritten: list[OutboxMark] = []  # the last answer's mark, written with the next take
    try:
        for index, batch in enumerate(batches):
            if stopped is not None:
                outcomes.append(_never_attempted(index, batch))
                continue
            with outbox.transaction() as session:
                session.mark_each(campaign, unwritten, run_id=run_id)
                taken = session.take(
                    campaign,
                    (m.dedup_key for m in batch),
                    run_id=run_id,
                    now=_now(clock),
                    honour_opt_outs=honour_opt_outs,
                )
            unwritten = []
            outcome, mark, stop = _send_batch(client, index, batch, taken, clock)
            outcomes.append(outcome)
            if mark is not None:
                unwritten.append(mark)
            if stop:
                stopped = f"batch {index + 1} of {len(batches)}: {outcome.api_message}"
        _write_marks(outbox, campaign, unwritten, run_id)
    except BaseException:
        # An unexpected failure (the outbox file, an interrupt): the answered batch's mark is
        # written if it can be; the rows provably never sent are released. A batch whose
        # request may have left and whose mark is not written stays this run's, for settling.
        with contextlib.suppress(BaseException):
            _write_marks(outbox, campaign, unwritten, run_id)
        rest = [m.dedup_key for b in batches[len(outcomes) :] for m in b]
        outbox.release(campaign, _unsent(outcomes), run_id=run_id)
        outbox.hand_over(campaign, rest, from_run=run_id, to_run=None)  # never requested only
        raise
    outbox.release(campaign, _unsent(outcomes), run_id=run_id)
    return SendReport(campaign, run_id, tuple(outcomes), stopped)


def _write_marks(outbox: Outbox, campaign: str, marks: Sequence[OutboxMark], run_id: str) -> None:
    if marks:
        with outbox.transaction() as session:
            session.mark_each(campaign, marks, run_id=run_id)


def _unsent(outcomes: Sequence[BatchOutcome]) -> list[str]:
    """The keys of the batches left ``pending``: never attempted, or never reached the API."""
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
    index: int,
    batch: Sequence[OutboxMessage],
    taken: Taken,
    clock: Callable[[], datetime] | None,
) -> tuple[BatchOutcome, OutboxMark | None, bool]:
    """Send the rows of one batch that ``taken`` recorded as requested; return the batch's
    outcome, the mark to write (None: nothing was sent) and whether the run must stop."""
    requested = set(taken.requested)
    rows = [m for m in batch if m.dedup_key in requested]
    not_owned = tuple(
        m.dedup_key
        for m in batch
        if m.dedup_key not in requested and m.dedup_key not in taken.opted_out
    )

    def left_out(outcome: BatchOutcome) -> BatchOutcome:
        return dataclasses.replace(outcome, opted_out=taken.opted_out, not_owned=not_owned)

    keys = tuple(message.dedup_key for message in rows)
    segments = sum(message.segments for message in rows)
    if not rows:
        why = "no row left to send: opted out since the claim, or no longer this run's"
        outcome = BatchOutcome(index, (), "skipped", 0, api_message=why, requested=False)
        return left_out(outcome), None, False
    try:
        result = client.send_messages(rows[0].sender, [(m.recipient, m.message) for m in rows])
    except AmbiguousSendError as exc:
        why = f"the answer was lost after the request left: {exc}"
        mark = OutboxMark(keys, "ambiguous", None, why, _now(clock))
        outcome = BatchOutcome(index, keys, "ambiguous", segments, api_message=why)
        return left_out(outcome), mark, True
    except SMSPrestoError as exc:
        if exc.code is None and not isinstance(exc, SMSValidationError):
            # No API status: the request never left, or was refused before any processing
            # (connection refused after retries, a 4xx without a code). Nothing was sent.
            why = f"not sent, the request never reached the API: {exc}"
            outcome = BatchOutcome(index, keys, "pending", segments, api_message=why)
            return left_out(outcome), None, True
        why = exc.api_message or str(exc)
        mark = OutboxMark(keys, "failed", exc.code, why, _now(clock))
        outcome = BatchOutcome(index, keys, "failed", segments, 0, exc.code, why)
        stop = not isinstance(exc, _BATCH_ONLY_REFUSALS)
        return left_out(outcome), mark, stop
    mark = OutboxMark(keys, "sent", 0, result.api_message, _now(clock))
    outcome = BatchOutcome(
        index, keys, "sent", segments, result.message_count, 0, result.api_message
    )
    return left_out(outcome), mark, False


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
