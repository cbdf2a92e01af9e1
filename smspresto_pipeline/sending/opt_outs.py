"""Opt-outs: the numbers that must never be messaged, whatever the campaign or command.

Numbers are stored in E.164, normalised with :func:`smspresto_pipeline.sms.normalize_number`
(national forms read in the warehouse's ``default_region``); a batch holding invalid numbers
is refused whole, with every bad number listed. Checks are set-based: a batch of numbers is
loaded as an Arrow table and joined. Reading a file that does not exist finds no opt-outs and
creates nothing.

Example:
    >>> import tempfile, pathlib
    >>> from smspresto_pipeline.warehouse import Warehouse
    >>> opt_outs = OptOuts(Warehouse(pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb"))
    >>> opt_outs.add(["07 08 08 14 88"], reason="asked by phone").added
    ('+2250708081488',)
    >>> opt_outs.opted_out(["+2250708081488", "+2250505050505"])
    {'+2250708081488'}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sending.replies import is_stop_reply, read_replies
from smspresto_pipeline.sms import normalize_number, normalize_recipients
from smspresto_pipeline.storage import HasDatabase, Session
from smspresto_pipeline.storage.timestamps import utc_naive

__all__ = [
    "OptOut",
    "OptOutChange",
    "OptOuts",
    "RegionalWarehouse",
    "ReplyImport",
    "opted_out_on",
]


@dataclasses.dataclass(frozen=True, slots=True)
class OptOut:
    """One opted-out number; ``created_at`` is naive UTC."""

    recipient: str
    reason: str | None
    source: str | None
    created_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class OptOutChange:
    """What an add or a remove did: the numbers changed, and those already as asked."""

    changed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def added(self) -> tuple[str, ...]:
        """For an add: the numbers newly opted out."""
        return self.changed

    @property
    def removed(self) -> tuple[str, ...]:
        """For a remove: the numbers no longer opted out."""
        return self.changed


@dataclasses.dataclass(frozen=True, slots=True)
class ReplyImport:
    """What a reply import did.

    Attributes:
        added: numbers newly opted out.
        already: numbers that asked to stop and were already opted out.
        invalid: one line per stop request whose number is invalid (``line N: why``).
        ignored: replies that are not stop requests (blank lines aside).
    """

    added: tuple[str, ...]
    already: tuple[str, ...]
    invalid: tuple[str, ...]
    ignored: int


class RegionalWarehouse(HasDatabase, Protocol):
    """A warehouse that says how to read numbers written without a ``+`` (the history's
    ``Warehouse``)."""

    @property
    def default_region(self) -> str:
        """The country of numbers written in national form."""


class OptOuts:
    """Reads and writes of ``smspresto.opt_outs`` in a warehouse (a
    :class:`~smspresto_pipeline.warehouse.Warehouse`).

    Args:
        warehouse: the warehouse.
        region: the country of numbers written in national form (default: the warehouse's
            ``default_region``).
    """

    def __init__(self, warehouse: RegionalWarehouse, *, region: str | None = None) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database
        self.region = region or warehouse.default_region

    def __repr__(self) -> str:
        return f"OptOuts({self.warehouse!r}, region={self.region!r})"

    def add(
        self,
        numbers: Iterable[str],
        *,
        reason: str | None = None,
        source: str = "manual",
        now: datetime | None = None,
    ) -> OptOutChange:
        """Opt ``numbers`` out (one transaction); a number already opted out keeps its record.

        Raises:
            SMSValidationError: when any number is invalid (nothing is added); ``problems``
                lists each one.
        """
        recipients = normalize_recipients(numbers, region=self.region)
        return self._write(recipients, reason=reason, source=source, now=now)

    def remove(self, numbers: Iterable[str]) -> OptOutChange:
        """Opt ``numbers`` back in; ``unchanged`` lists those that were not opted out.

        Raises:
            SMSValidationError: when any number is invalid (nothing is removed).
        """
        recipients = normalize_recipients(numbers, region=self.region)
        with (
            self.database.transaction() as session,
            session.load_arrow("removed_opt_outs", _numbers(recipients)),
        ):
            rows = session.fetch_all("dml/delete_opt_outs.sql")
        return _change(recipients, {row[0] for row in rows})

    def entries(self) -> list[OptOut]:
        """Every opted-out number, oldest first."""
        if not self.database.exists():
            return []
        with self.database.reading() as session:
            rows = session.fetch_all("dml/select_opt_outs.sql")
        return [OptOut(*row) for row in rows]

    def opted_out(self, recipients: Iterable[str]) -> set[str]:
        """The numbers among ``recipients`` (E.164, as normalised for sending) opted out."""
        numbers = set(recipients)
        if not numbers or not self.database.exists():
            return set()
        with self.database.reading() as session:
            return opted_out_on(session, numbers)

    def is_opted_out(self, number: str) -> bool:
        """Whether ``number`` (any form :func:`normalize_number` reads) is opted out.

        Raises:
            SMSValidationError: when ``number`` is not a valid number.
        """
        recipient = normalize_number(number, self.region)
        return recipient in self.opted_out([recipient])

    def import_replies(
        self,
        path: str | Path,
        *,
        phone_column: str | None = None,
        text_column: str | None = None,
        now: datetime | None = None,
    ) -> ReplyImport:
        """Opt out every number whose reply in the CSV at ``path`` asks to stop.

        Stop requests are recognised by :func:`~smspresto_pipeline.sending.replies.is_stop_reply`
        and stored with source ``reply-import``, all in one transaction. Invalid numbers are
        reported, not fatal.

        Raises:
            ValueError: when the CSV has no header, or no phone or text column.
        """
        valid: dict[str, None] = {}
        invalid: list[str] = []
        ignored = 0
        for reply in read_replies(path, phone_column=phone_column, text_column=text_column):
            if not is_stop_reply(reply.text):
                ignored += 1
                continue
            try:
                valid.setdefault(normalize_number(reply.phone, self.region), None)
            except SMSValidationError as exc:
                invalid.append(f"line {reply.line}: {exc}")
        change = self._write(tuple(valid), reason="replied STOP", source="reply-import", now=now)
        return ReplyImport(change.added, change.unchanged, tuple(invalid), ignored)

    def _write(
        self,
        recipients: tuple[str, ...],
        *,
        reason: str | None,
        source: str,
        now: datetime | None,
    ) -> OptOutChange:
        if not recipients:
            return OptOutChange((), ())
        params = {"reason": reason, "source": source, "now": utc_naive(now)}
        with (
            self.database.transaction() as session,
            session.load_arrow("new_opt_outs", _numbers(recipients)),
        ):
            rows = session.fetch_all("dml/insert_opt_outs.sql", params)
        return _change(recipients, {row[0] for row in rows})


def opted_out_on(session: Session, recipients: Iterable[str]) -> set[str]:
    """:meth:`OptOuts.opted_out` in an open session of the warehouse (one read session for
    several lookups)."""
    numbers = _numbers(set(recipients))
    if not numbers.num_rows:
        return set()
    with session.load_arrow("checked_recipients", numbers):
        rows = session.fetch_all("dml/select_opted_out_recipients.sql")
    return {row[0] for row in rows}


def _numbers(recipients: Iterable[str]) -> pa.Table:
    return pa.table({"recipient": pa.array(list(recipients), pa.string())})


def _change(recipients: tuple[str, ...], changed: set[str]) -> OptOutChange:
    return OptOutChange(
        tuple(r for r in recipients if r in changed),
        tuple(r for r in recipients if r not in changed),
    )
