"""What one day holds after it was written."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

__all__ = ["PartitionStats"]


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionStats:
    """What one day holds after it was written.

    Attributes:
        partition_date: the day.
        rows: messages stored for the day (one per ``history_id``).
        delivered / failed / pending / unknown: messages per status (``unknown`` is any status
            name other than the three).
        segments: billed segments summed over the day's messages.
        pages: API pages read for the day.
        raw_rows: rows kept verbatim in ``archive_raw`` (more than ``rows`` only when the API
            sent rows without a numeric id, or the same id twice).
    """

    partition_date: date
    rows: int
    delivered: int
    failed: int
    pending: int
    unknown: int
    segments: int
    pages: int = 0
    raw_rows: int = 0

    @property
    def failure_rate(self) -> float | None:
        """``failed / (delivered + failed)``; ``None`` while no message of the day is final.

        ``None`` rather than 0.0: a day with nothing final says nothing about delivery, and a
        spike check must neither call it healthy nor alarming.
        """
        final = self.delivered + self.failed
        return None if final == 0 else self.failed / final


def stats_from_row(row: tuple[Any, ...], pages: int) -> PartitionStats:
    """The stats of one row of ``select_partition_stats.sql``."""
    day, rows, delivered, failed, pending, unknown, segments, raw_rows = row
    return PartitionStats(
        partition_date=day,
        rows=rows,
        delivered=delivered,
        failed=failed,
        pending=pending,
        unknown=unknown,
        segments=int(segments),
        pages=pages,
        raw_rows=raw_rows,
    )
