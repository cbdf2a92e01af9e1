"""Paging through ``list-archive``, correct whatever ``from``/``to`` mean, in bounded pages.

The reference's example ``from=0&to=50`` fits two readings: an offset and a count
(SQL ``LIMIT from, to``) or a start and an end index (inclusive or not). The walk is right under
all of them without being told, and no page holds more than ``page_size`` rows (``+ 1`` under an
inclusive end), as docs/architecture.md §3 asks:

* advance ``from`` by the number of rows each page held; de-duplicate on ``IDHISTORIQUE``;
  stop on an empty page, or on a page that brings nothing new (a server ignoring ``from``/``to``);
* the first request asks for half a page (``from=0, to=h``, ``h = page_size // 2``): every
  reading answers at most ``h + 1`` rows, and ``h + 1`` rows can only be an inclusive end;
* the second asks ``from=n, to=page_size``: read as a count, that is a full page (``page_size``
  rows, more than the ``page_size - n`` indexes asked, which gives the reading away); read as
  indexes, the rest of the first full page;
* one of these two pages holding more new rows than its indexes could hold (``to - from + 1``)
  shows the count reading: from then on ``to = page_size``. Otherwise, from the third request
  on, the reading is taken to be indexes and ``to = from + page_size``. (A count-reading server
  that has not shown itself by then has no more rows than it already sent, or caps its pages
  itself.)

A client remembers a count reading shown by one walk: its later walks (the other days of a
backfill) start with ``to = page_size``, without the half page, one request fewer per day. Only
the count reading is remembered, since only it is ever proven; the indexes reading taken by
default from the third request may be a count-reading server whose day ran out early, and
carried to a larger day it would make the pages double.

A walk may resume from an offset (``start``: the rows before it were read by an earlier walk
of the same day, which the archive's order keeps in place, new rows coming last), told the
reading an earlier walk proved. Under a reading not proven yet it probes first, with pages
bounded under either reading: ``from=start, to=h`` (``h < start``) answers rows only under the
count reading (indexes from ``start`` to ``h`` hold nothing), and when it answers none,
``from=start, to=start+h`` answers rows only under the indexes reading (under the count
reading nothing was left at ``start``), else the walk is over. A ``start`` of at most ``h`` is
walked from the first row: the few rows read again cost less than a probe. What a walk proved
(:attr:`ArchivePaginator.proven`) is what a later walk may be told.

Without the half page, the count reading would make the second page ``2 x page_size`` and, under
``to = from + page_size``, pages would keep doubling: a 200,000-message day arrived in pages of
64,000 rows and more. A short page is not taken as the end, since a server may cap its pages
below what was asked: only an empty page ends the walk.

The shape follows dlt's ``BasePaginator``: the paginator holds the state, the client asks it
for the next request's parameters and hands it each page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from smspresto_pipeline.api.models import ArchiveRecord

__all__ = ["ArchivePaginator"]


class ArchivePaginator:
    """The ``from``/``to`` state of one ``list-archive`` walk.

    Example:
        >>> p = ArchivePaginator(page_size=4)
        >>> p.request_params()
        {'from': '0', 'to': '2'}
        >>> [r.history_id for r in p.update_state([{"IDHISTORIQUE": "1"}, {"IDHISTORIQUE": "2"}])]
        [1, 2]
        >>> p.request_params()
        {'from': '2', 'to': '4'}
        >>> len(p.update_state([{"IDHISTORIQUE": str(i)} for i in range(3, 7)]))  # a count
        4
        >>> p.reading, p.request_params()
        ('count', {'from': '6', 'to': '4'})
        >>> p.update_state([])
        []
        >>> p.has_next_page
        False
    """

    __slots__ = (
        "_offset",
        "_pages",
        "_probe",
        "_seen",
        "has_next_page",
        "page_offset",
        "page_size",
        "proven",
        "reading",
        "requests",
        "start",
    )

    def __init__(
        self,
        page_size: int,
        *,
        reading: Literal["unknown", "count", "indexes"] = "unknown",
        start: int = 0,
    ) -> None:
        """A walk from the first row, or from ``start``.

        Args:
            page_size: the most rows a page may hold (``+ 1`` under an inclusive end).
            reading: what an earlier walk on the same server proved (:attr:`proven`):
                ``"count"``, every request asks ``to = page_size``; ``"indexes"``,
                ``to = from + page_size``.
            start: the offset of the first row to read (rows before it were read before).
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if start < 0:
            raise ValueError(f"start must not be negative, got {start}")
        self.page_size = page_size
        self.has_next_page = True
        #: What ``from``/``to`` mean to this server, as far as the pages have shown it.
        self.reading: Literal["unknown", "count", "indexes"] = reading
        #: The reading this walk was told or showed (an unproven ``indexes`` is a default).
        self.proven: Literal["unknown", "count", "indexes"] = reading
        half = max(1, page_size // 2)
        if reading == "unknown" and start <= half:
            start = 0
        #: Where the walk starts (``0`` for a ``start`` within a half page, unprobed).
        self.start = start
        #: The offset of the last page taken (its first row's).
        self.page_offset = start
        self._probe = reading == "unknown" and start > 0
        #: Requests answered so far (pages taken, empty ones included).
        self.requests = 0
        self._offset = start
        self._pages = 0
        # Ids as the server sent them: one server always sends the same type.
        self._seen: set[Any] = set()

    @property
    def offset(self) -> int:
        """The offset of the next row: every row before it was received."""
        return self._offset

    def _to(self) -> int:
        if self._probe:
            half = max(1, self.page_size // 2)
            return half if self._pages == 0 else self._offset + half
        if self.reading == "count":
            return self.page_size
        if self.reading == "indexes":
            return self._offset + self.page_size
        if self._pages == 0:
            return max(1, self.page_size // 2)
        return max(self.page_size, self._offset + 1)

    def request_params(self) -> dict[str, str]:
        """The ``from`` and ``to`` form fields of the next request."""
        return {"from": str(self._offset), "to": str(self._to())}

    def update_state(self, rows: Sequence[Mapping[str, Any]]) -> list[ArchiveRecord]:
        """Take one page of rows (already checked to carry ``IDHISTORIQUE``), the answer to
        the request :meth:`request_params` described.

        Returns:
            The page's rows not seen before, in the server's order.
        """
        self.requests += 1
        if self._probe:
            return self._update_probe(rows)
        return self._take(rows)

    def _take(self, rows: Sequence[Mapping[str, Any]]) -> list[ArchiveRecord]:
        keys = [row["IDHISTORIQUE"] for row in rows]
        page_keys = set(keys)
        if len(page_keys) == len(keys) and self._seen.isdisjoint(page_keys):
            # The usual case, kept cheap for large archives: a page of rows all new.
            self._seen |= page_keys
            fresh = rows
        else:
            fresh = [row for key, row in zip(keys, rows, strict=True) if self._first_sight(key)]
        if self.reading == "unknown":
            # New rows only: a server whose pages overlap repeats rows it sent before.
            indexes_asked = self._to() - self._offset
            if len(fresh) > indexes_asked + 1:
                self.reading = self.proven = "count"
            elif self._pages == 0 and len(fresh) == indexes_asked + 1:
                # Only an inclusive end answers one more row.
                self.reading = self.proven = "indexes"
            elif self._pages >= 1:
                self.reading = "indexes"
        self._pages += 1
        self.page_offset = self._offset
        self._offset += len(rows)
        # A page with nothing new would repeat forever on a server that ignores from/to.
        if not fresh:
            self.has_next_page = False
        return list(map(ArchiveRecord, fresh))

    def _update_probe(self, rows: Sequence[Mapping[str, Any]]) -> list[ArchiveRecord]:
        """A probe's answer (see the module docstring): the reading it shows, or the end."""
        first = self._pages == 0
        self._pages += 1
        if rows:
            self._probe = False
            self.reading = self.proven = "count" if first else "indexes"
            self._pages = 2  # past the detection of a walk from the first row
            return self._take(rows)
        if not first:
            self._probe = False
            self.has_next_page = False
        return []

    def _first_sight(self, key: Any) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True
