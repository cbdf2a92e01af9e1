"""A list-archive walk resumed from an offset (the intraday reading), over real HTTP."""

from typing import Any

import pytest
from conftest import MakeSimulator
from test_client import FIRST_DAY, client_for

from smspresto_pipeline.api.paging import ArchivePaginator

PAGE = 8


def start_sim(make_simulator: MakeSimulator, **overrides: Any) -> Any:
    settings = {"history_start": FIRST_DAY, "history_end": FIRST_DAY, "messages_per_day": 37}
    return make_simulator(**settings, **overrides)


class Recording(ArchivePaginator):
    """A walk that keeps each request's (from, to)."""

    def __init__(self, page_size: int, **options: Any) -> None:
        super().__init__(page_size, **options)
        self.asked: list[tuple[int, int]] = []

    def request_params(self) -> dict[str, str]:
        params = super().request_params()
        self.asked.append((int(params["from"]), int(params["to"])))
        return params


def walk(sim: Any, paginator: Recording) -> tuple[list[int], list[tuple[int, int]]]:
    """The ids read and each request's (from, to)."""
    with client_for(sim) as client:
        pages = client.iter_archive_pages(FIRST_DAY, FIRST_DAY, paginator=paginator)
        ids = [r.history_id for page in pages for r in page]
    return ids, paginator.asked


@pytest.mark.parametrize("paging", ["limit", "range"])
@pytest.mark.parametrize("max_page_size", [None, 5])
@pytest.mark.parametrize("told", ["unknown", "proven"])
def test_a_walk_resumed_reads_the_rest_in_bounded_pages(
    make_simulator: MakeSimulator, paging: Any, max_page_size: int | None, told: str
) -> None:
    with start_sim(make_simulator, paging=paging, max_page_size=max_page_size) as sim:
        resumed_walks(sim, paging, told, max_page_size)


def resumed_walks(sim: Any, paging: str, told: str, cap: int | None) -> None:
    everything, _ = walk(sim, Recording(PAGE))
    assert len(everything) == sim.message_count(FIRST_DAY, FIRST_DAY) > 3 * PAGE
    reading = {"limit": "count", "range": "indexes"}[paging]
    for start in (0, 3, PAGE, 2 * PAGE + 1, len(everything) - 1, len(everything)):
        paginator = Recording(PAGE, start=start, reading=reading if told == "proven" else "unknown")
        ids, asked = walk(sim, paginator)
        # Resumed within a half page (unproven), the walk starts over: a few rows read again.
        first = paginator.start
        assert ids == everything[first:], (start, asked)
        assert first == start or (told == "unknown" and start <= PAGE // 2 and first == 0)
        assert paginator.offset == len(everything)
        # No page may hold more than page_size rows (+ 1 under an inclusive end), whatever
        # the server's reading: the answer to each request is bounded by what it asked (or
        # by the server's own cap).
        for frm, to in asked:
            bound = to if paging == "limit" else max(0, to - frm)
            bound = min(bound, cap or bound, len(everything) - frm)
            assert bound <= PAGE + 1, (start, asked)
        if start > PAGE // 2 and start < len(everything):
            assert paginator.proven == reading, asked


def test_a_probe_at_the_end_costs_two_requests(make_simulator: MakeSimulator) -> None:
    with start_sim(make_simulator, paging="range") as sim:
        total = sim.message_count(FIRST_DAY, FIRST_DAY)
        paginator = Recording(PAGE, start=total)
        ids, asked = walk(sim, paginator)
    assert ids == []
    assert asked == [(total, PAGE // 2), (total, total + PAGE // 2)]
    assert paginator.proven == "unknown"


def test_a_negative_start_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        ArchivePaginator(PAGE, start=-1)
