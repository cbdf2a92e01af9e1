"""Reconciliation: ``ambiguous`` outbox rows resolved against the ingested archive.

A batch whose answer was lost may or may not have been accepted; the archive
(``smspresto.messages``, ingested from ``list-archive``) is the account's own record of what
it accepted. :func:`reconcile` matches every ambiguous row in one join, against the sending
account's rows only (``account``; a warehouse may hold several accounts' history, and another
account's message to the same number with the same text is not this row's send):

* same ``recipient`` (E.164) and same text, created within the row's window: from ``before``
  (default 5 minutes) before the row was marked ambiguous (its ``updated_at``, just after the
  request) to ``after`` (default 60 minutes) after it, which leaves room for the API's clock
  and queue. The archive's ``created_at`` is the account's local time, the outbox's times are
  UTC: the archive's times are converted with the account's ``timezone`` before comparing;
* a match: the row becomes ``sent`` (``api_message`` names the archive's ``history_id``;
  ``api_status`` stays NULL: the archive holds a delivery status, not the send's answer);
* no match, and the archive is known complete past the window's end (every day the window
  touches was ingested after the window closed, by ``loaded_at``; or ``ingested_until`` says
  so): the message was never accepted. The row is **released**: ``pending`` with no run, as a
  batch whose request never left, so the campaign's next run adopts and sends it (the
  archive's proof, not a guess: an ambiguous row is never resent blindly);
* otherwise the row stays ``ambiguous``, to try again after the next ingestion.

Nothing is sent here. When several ambiguous rows share a recipient and a
text, the k-th by time takes the k-th archived message in its window, so one archived message
never resolves two rows. A day with no message at all has no ``loaded_at``: rows whose window
touches it stay ambiguous unless ``ingested_until`` is given.

Example:
    .. code-block:: python

        warehouse.write_partition(day, client.iter_archive_pages(day, day))
        report = reconcile(outbox, campaign="welcome", timezone="Africa/Abidjan")
        report.sent, report.released, report.still_ambiguous
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pyarrow as pa

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT, check_account
from smspresto_pipeline.sending.outbox import Outbox
from smspresto_pipeline.storage.timestamps import utc_naive

__all__ = ["DEFAULT_AFTER", "DEFAULT_BEFORE", "ReconcileReport", "check_window", "reconcile"]

#: How long before a row was marked ambiguous an archived message may have been created.
DEFAULT_BEFORE = timedelta(minutes=5)
#: How long after it: the API's clock and queue.
DEFAULT_AFTER = timedelta(minutes=60)

_RESOLVED_SCHEMA = pa.schema(
    [
        ("campaign", pa.string()),
        ("dedup_key", pa.string()),
        ("state", pa.string()),
        ("api_message", pa.string()),
        ("sent_at", pa.timestamp("us")),
    ]
)


@dataclasses.dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What :func:`reconcile` resolved, as ``(campaign, dedup_key)`` pairs.

    Attributes:
        sent: rows found in the archive, now ``sent``.
        released: rows absent from an archive that covers their window (never accepted), now
            ``pending`` with no run: the campaign's next run sends them.
        still_ambiguous: rows left ``ambiguous`` (their window is not covered yet).
    """

    sent: tuple[tuple[str, str], ...] = ()
    released: tuple[tuple[str, str], ...] = ()
    still_ambiguous: tuple[tuple[str, str], ...] = ()


def check_window(before: timedelta, after: timedelta) -> None:
    """Refuse a reconciliation window that is negative, or of a day or more.

    Raises:
        ValueError: naming both bounds.
    """
    if before < timedelta(0) or after < timedelta(0) or before + after >= timedelta(days=1):
        raise ValueError(
            f"the window must not be negative and must be under a day, got before={before} "
            f"and after={after}"
        )


def reconcile(
    outbox: Outbox,
    *,
    timezone: str,
    account: str = DEFAULT_ACCOUNT,
    campaign: str | None = None,
    before: timedelta = DEFAULT_BEFORE,
    after: timedelta = DEFAULT_AFTER,
    ingested_until: datetime | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """Resolve ``ambiguous`` rows against ``smspresto.messages`` (see the module docstring).

    Args:
        outbox: the outbox; the archive is read from the same warehouse file.
        timezone: the account's time zone (an IANA name), the zone of the archive's times.
        account: the account the campaigns sent through, whose archive alone is read (matches
            and coverage); a campaign sends through the default account's API (``smspresto``).
        campaign: only this campaign's rows (``None``: every campaign).
        before / after: the window around each row's ``updated_at``; together under a day.
        ingested_until: the archive is complete up to this time (aware, or naive UTC);
            default: each day's latest ``loaded_at``.
        now: the time recorded as ``updated_at`` (default: now).

    Raises:
        ValueError: a negative window, or one of a day or more; an invalid account name.
    """
    check_window(before, after)
    params = {
        "account": check_account(account),
        "campaign": campaign,
        "timezone": timezone,
        "before_seconds": before.total_seconds(),
        "after_seconds": after.total_seconds(),
        "ingested_until": None if ingested_until is None else utc_naive(ingested_until),
    }
    with outbox.database.transaction() as session:
        matches = session.fetch_all("dml/select_outbox_archive_matches.sql", params)
        resolved: list[dict[str, object]] = []
        waiting: list[tuple[str, str]] = []
        for name, key, history_id, archived_at, covered in matches:
            if history_id is not None:
                message = f"reconciled with archive history_id {history_id}"
                resolved.append(_row(name, key, "sent", message, archived_at))
            elif covered:
                message = (
                    "never accepted: absent from the archive, which covers its window; "
                    "released to be sent by the campaign's next run"
                )
                resolved.append(_row(name, key, "pending", message, None))
            else:
                waiting.append((name, key))
        at = {"now": utc_naive(now)}
        reconciled = pa.Table.from_pylist(resolved, schema=_RESOLVED_SCHEMA)
        with session.load_arrow("reconciled_rows", reconciled):
            # Rows resolved meanwhile are left alone, so fewer may move than were resolved;
            # what did is read back (never RETURNING's echo, which under-reports on DuckDB 2.0).
            session.execute("dml/update_outbox_reconciled.sql", at)
            moved = session.fetch_all("dml/select_outbox_reconciled_rows.sql", at)
    states = {(name, key): state for name, key, state in moved}
    return ReconcileReport(
        sent=tuple(sorted(k for k, s in states.items() if s == "sent")),
        released=tuple(sorted(k for k, s in states.items() if s == "pending")),
        still_ambiguous=tuple(waiting),
    )


def _row(
    campaign: str, key: str, state: str, message: str, sent_at: datetime | None
) -> dict[str, object]:
    return {
        "campaign": campaign,
        "dedup_key": key,
        "state": state,
        "api_message": message,
        "sent_at": sent_at,
    }
