"""The simulator's state: one SQLite file (account, archive, seeded days).

One connection, shared by the server's event loop and the test thread behind a lock: every
statement is short (a 500-row page is a few milliseconds), so the lock is never contended
for long. The SQL lives in ``sql/*.sql`` beside this module.
"""

import dataclasses
import functools
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime
from importlib import resources
from pathlib import Path

from smspresto_pipeline.simulator.config import Spike
from smspresto_pipeline.simulator.seed import account_seed, seed_days

__all__ = ["Account", "NewMessage", "Store"]

#: One new message: recipient, text, segments, final status.
NewMessage = tuple[str, str, int, str]

_FAR_PAST = "0000-00-00"
_FAR_FUTURE = "9999-99-99"
_PAGE_ENDS_KEPT = 4096


@functools.cache
def _sql(name: str) -> str:
    return (resources.files("smspresto_pipeline.simulator") / "sql" / f"{name}.sql").read_text(
        encoding="utf-8"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    """The account row: its reference, its stock and the counters kept beside the archive."""

    account_ref: str
    stock: int
    contacts: int
    groups: int
    orders: int
    bills: int
    scheduled: int
    predefined: int


class Store:
    """The SQLite state of one simulated account."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_sql("create_schema"))
        self._account_ref = ""
        self._page_ends: OrderedDict[tuple[str, str, int], tuple[str, int]] = OrderedDict()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def is_seeded(self) -> bool:
        """Whether the account exists (seeding commits it last, with the history)."""
        with self._lock:
            return self._db.execute(_sql("select_account")).fetchone() is not None

    def seed(
        self,
        *,
        seed: int,
        start: date,
        end: date,
        messages_per_day: int,
        failure_rate: float,
        initial_stock: int,
        created_at: datetime,
        recipient_pool: int = 3000,
        spikes: Sequence[Spike] = (),
        spike_period: int = 13,
        upcoming_after: datetime | None = None,
    ) -> None:
        """Create the account and its history in one transaction.

        Rows created after ``upcoming_after`` (a simulated clock's start) wait in ``upcoming``
        until :meth:`release_until` passes them.
        """
        after = None if upcoming_after is None else upcoming_after.isoformat(" ", "seconds")
        extra = account_seed(seed)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                days = seed_days(
                    seed,
                    start,
                    end,
                    messages_per_day,
                    failure_rate,
                    recipient_pool,
                    spikes=spikes,
                    spike_period=spike_period,
                )
                for day in days:
                    # created_at is the row's second field.
                    now = [r for r in day.rows if after is None or r[1] <= after]
                    self._db.executemany(_sql("insert_message"), now)
                    later = day.rows[len(now) :]
                    self._db.executemany(_sql("insert_upcoming"), later)
                    self._db.execute(
                        _sql("insert_seeded_day"),
                        (day.day.isoformat(), len(day.rows), day.failure_rate, int(day.spike)),
                    )
                self._db.execute(
                    _sql("insert_account"),
                    {
                        "account_ref": extra.account_ref,
                        "stock": initial_stock,
                        "contacts": extra.contacts,
                        "groups": extra.groups,
                        "orders": extra.orders,
                        "bills": extra.bills,
                        "scheduled": extra.scheduled,
                        "predefined": extra.predefined,
                        "seed": seed,
                        "created_at": created_at.isoformat(" ", "seconds"),
                    },
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def release_until(self, until: datetime, *, until_epoch: float, delay: float) -> int:
        """Move the seeded rows created by ``until`` (local time) into the archive, each
        pending until ``delay`` seconds after its creation; how many moved."""
        params = {
            "until": until.isoformat(" ", "seconds"),
            "until_epoch": until_epoch,
            "delay": delay,
        }
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                moved = self._db.execute(_sql("release_upcoming"), params).rowcount
                self._db.execute(_sql("delete_released_upcoming"), params)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(moved)

    def account(self) -> Account:
        """The account row."""
        with self._lock:
            row = self._db.execute(_sql("select_account")).fetchone()
        return Account(*row)

    def archive_page(
        self,
        date_from: str | None,
        date_to: str | None,
        *,
        offset: int,
        limit: int | None,
        now: float,
    ) -> list[tuple[str, ...]]:
        """Rows created between the two days (inclusive), ordered by id, as text fields.

        ``now`` (Unix seconds) decides which statuses have settled.
        """
        if not self._account_ref:
            self._account_ref = self.account().account_ref
        date_from = date_from or _FAR_PAST
        date_to = date_to or _FAR_FUTURE
        params: dict[str, object] = {
            "date_from": date_from,
            "date_to": date_to,
            "offset": offset,
            "limit": -1 if limit is None else limit,
            "now": now,
            "account_ref": self._account_ref,
        }
        with self._lock:
            after = self._page_ends.get((date_from, date_to, offset))
            if after is None:
                rows = self._db.execute(_sql("select_archive_page"), params).fetchall()
            else:
                params["after_date"], params["after_id"] = after
                rows = self._db.execute(_sql("select_archive_page_after"), params).fetchall()
            if rows:
                self._remember_page_end((date_from, date_to, offset + len(rows)), rows[-1])
        return rows

    def _remember_page_end(self, key: tuple[str, str, int], last: tuple[str, ...]) -> None:
        # Where a page ended, so the next page (from = this offset) seeks instead of skipping.
        # Safe because positions never move: rows are never deleted, and a new row sorts
        # after every existing one (it is created now, with the largest id).
        self._page_ends[key] = (last[5][:10], int(last[0]))
        self._page_ends.move_to_end(key)
        if len(self._page_ends) > _PAGE_ENDS_KEPT:
            self._page_ends.popitem(last=False)

    def count(self, date_from: str | None = None, date_to: str | None = None) -> int:
        """How many rows were created between the two days (inclusive; ``None``: open)."""
        params = {"date_from": date_from or _FAR_PAST, "date_to": date_to or _FAR_FUTURE}
        with self._lock:
            (total,) = self._db.execute(_sql("count_messages"), params).fetchone()
        return int(total)

    def delivery_counters(self, now: float) -> tuple[int, int, int]:
        """Sent, delivered and failed messages as seen at ``now``."""
        with self._lock:
            sent, success, failed = self._db.execute(
                _sql("select_delivery_counters"), {"now": now}
            ).fetchone()
        return int(sent), int(success), int(failed)

    def record_send(
        self,
        sender: str,
        messages: Sequence[NewMessage],
        *,
        created_at: datetime,
        sent_at: datetime,
        settle_at: float,
    ) -> bool:
        """Bill and store one accepted send; ``False`` (nothing stored) if the stock is short."""
        segments = sum(message[2] for message in messages)
        created = created_at.isoformat(" ", "seconds")
        sent = sent_at.isoformat(" ", "seconds")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                billed = self._db.execute(_sql("take_stock"), {"segments": segments}).rowcount
                if billed != 1:
                    self._db.execute("ROLLBACK")
                    return False
                (queue_id,) = self._db.execute(_sql("select_next_queue_id")).fetchone()
                self._db.executemany(
                    _sql("insert_message"),
                    [
                        (
                            created_at.date().isoformat(),
                            created,
                            sent,
                            created,
                            recipient,
                            text,
                            count,
                            sender,
                            "",
                            queue_id,
                            status,
                            settle_at,
                        )
                        for recipient, text, count, status in messages
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def set_status(self, history_id: int, status: str) -> None:
        """Give a row a final status now (for example a late delivery report)."""
        with self._lock:
            updated = self._db.execute(
                _sql("update_message_status"), {"id": history_id, "status": status}
            ).rowcount
        if updated != 1:
            raise KeyError(f"no message with IDHISTORIQUE {history_id}")

    def spike_days(self) -> list[date]:
        """The seeded days planned as failure spikes (periodic or injected)."""
        with self._lock:
            rows = self._db.execute(_sql("select_spike_days")).fetchall()
        return [date.fromisoformat(day) for (day,) in rows]
