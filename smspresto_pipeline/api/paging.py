"""Paging through ``list-archive``, correct whatever ``from``/``to`` mean.

The reference's example ``from=0&to=50`` fits two readings: an offset and a count
(SQL ``LIMIT from, to``) or a start and an end index (inclusive or not). One strategy is
right under all of them without knowing which one the server uses:

* ask ``from = <rows received so far>`` and ``to = from + page_size``;
* advance ``from`` by the number of rows the page held;
* de-duplicate on ``IDHISTORIQUE`` (a guard against overlapping pages);
* stop on an empty page, or on a page that brings nothing new.

Under the offset+count reading the asked count grows (``from + page_size``): pages get larger,
never overlap, and the walk takes fewer requests. (Switching to ``to = page_size`` once a page
exceeds ``page_size + 1`` rows would bound them, but a server whose pages overlap can produce
such a page under the index reading too, and the switch would then lose rows: a daily
partition is a few pages either way, so the simple rule stays.) Under the index reading a page holds
``page_size`` rows (exclusive end) or ``page_size + 1`` (inclusive end); advancing by the rows
received lands exactly after the last one. A short page is not taken as the end, since a
server may cap its pages below what was asked: only an empty page ends the walk.

The shape follows dlt's ``BasePaginator``: the paginator holds the state, the client asks it
for the next request's parameters and hands it each page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smspresto_pipeline.api.models import ArchiveRecord

__all__ = ["ArchivePaginator"]


class ArchivePaginator:
    """The ``from``/``to`` state of one ``list-archive`` walk.

    Example:
        >>> p = ArchivePaginator(page_size=2)
        >>> p.request_params()
        {'from': '0', 'to': '2'}
        >>> [r.history_id for r in p.update_state([{"IDHISTORIQUE": "1"}, {"IDHISTORIQUE": "2"}])]
        [1, 2]
        >>> p.request_params(), p.has_next_page
        ({'from': '2', 'to': '4'}, True)
        >>> p.update_state([])
        []
        >>> p.has_next_page
        False
    """

    __slots__ = ("_offset", "_seen", "has_next_page", "page_size")

    def __init__(self, page_size: int) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.page_size = page_size
        self.has_next_page = True
        self._offset = 0
        # Ids as the server sent them: one server always sends the same type.
        self._seen: set[Any] = set()

    def request_params(self) -> dict[str, str]:
        """The ``from`` and ``to`` form fields of the next request."""
        return {"from": str(self._offset), "to": str(self._offset + self.page_size)}

    def update_state(self, rows: Sequence[Mapping[str, Any]]) -> list[ArchiveRecord]:
        """Take one page of rows (already checked to carry ``IDHISTORIQUE``).

        Returns:
            The page's rows not seen before, in the server's order.
        """
        self._offset += len(rows)
        keys = [row["IDHISTORIQUE"] for row in rows]
        page_keys = set(keys)
        if len(page_keys) == len(keys) and self._seen.isdisjoint(page_keys):
            # The usual case, kept cheap for large archives: a page of rows all new.
            self._seen |= page_keys
            fresh = rows
        else:
            fresh = [row for key, row in zip(keys, rows, strict=True) if self._first_sight(key)]
        # A page with nothing new would repeat forever on a server that ignores from/to.
        if not fresh:
            self.has_next_page = False
        return list(map(ArchiveRecord, fresh))

    def _first_sight(self, key: Any) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True
