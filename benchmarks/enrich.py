"""Microseconds per row of the warehouse's enrichment (:meth:`Enricher.columns`).

Draws simulated history days the way the simulator seeds them (``seed_days``: mostly Ivorian
mobiles, a few old eight-digit Ivorian numbers, some West African ones), about ``--per-day``
rows a day, and enriches each day in one call, as ``DaySpool`` does when it commits a day.
Two histories: every number distinct (a marketing list) and numbers drawn from a pool of
3,000 (a shop's recurring customers). Each round enriches ``--days`` days not seen before (so
the per-number cache of the slow path starts cold for the distinct numbers); figures are
medians over ``--rounds`` rounds. ``first_call_ms`` is the first call, on one number (the
one-off compiling of ``phonenumbers``' metadata), left out of the per-row figures.

Prints JSON: ``{distinct_us_per_row, pool_us_per_row, first_call_ms, rows_per_round, ...}``.

Usage::

    .venv/bin/python benchmarks/enrich.py [--days 5] [--per-day 3500] [--rounds 5]
"""

import argparse
import json
import statistics
import time
from datetime import date, timedelta

import pyarrow as pa

from smspresto_pipeline.simulator.seed import seed_days
from smspresto_pipeline.warehouse.enrich import DEFAULT_STATUS_MAP, Enricher

SEED = 7
START = date(2024, 1, 1)


def days(pool: int, first: date, count: int, per_day: int) -> list[tuple[pa.Array, pa.Array]]:
    """``count`` seeded days from ``first``: each day's numbers and status codes."""
    found = []
    end = first + timedelta(days=count - 1)
    for day in seed_days(SEED, first, end, per_day, 0.05, recipient_pool=pool):
        numbers = pa.array([row[4] for row in day.rows], pa.string())
        codes = pa.array([row[10] for row in day.rows], pa.string())
        found.append((numbers, codes))
    return found


def us_per_row(enricher: Enricher, pages: list[tuple[pa.Array, pa.Array]]) -> float:
    """The time to enrich ``pages``, one call each, in microseconds per row."""
    rows = sum(len(numbers) for numbers, _ in pages)
    started = time.perf_counter()
    for numbers, codes in pages:
        enricher.columns(numbers, codes)
    return (time.perf_counter() - started) / rows * 1e6


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--per-day", type=int, default=3500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    enricher = Enricher(DEFAULT_STATUS_MAP, "CI")
    started = time.perf_counter()
    enricher.columns(pa.array(["+2250708081488"]), pa.array(["1"]))
    first_call_ms = (time.perf_counter() - started) * 1e3

    figures: dict[str, list[float]] = {"distinct": [], "pool": []}
    rows = 0
    for index in range(args.rounds + 1):  # round 0 warms up
        first = START + timedelta(days=index * args.days)
        distinct = days(0, first, args.days, args.per_day)
        pool = days(3000, first, args.days, args.per_day)
        rows = sum(len(numbers) for numbers, _ in distinct)
        if index:
            figures["distinct"].append(us_per_row(enricher, distinct))
            figures["pool"].append(us_per_row(enricher, pool))
        else:
            us_per_row(enricher, distinct)
            us_per_row(enricher, pool)
    print(
        json.dumps(
            {
                "distinct_us_per_row": round(statistics.median(figures["distinct"]), 3),
                "pool_us_per_row": round(statistics.median(figures["pool"]), 3),
                "distinct_best": round(min(figures["distinct"]), 3),
                "pool_best": round(min(figures["pool"]), 3),
                "first_call_ms": round(first_call_ms, 1),
                "rows_per_round": rows,
                "days_per_round": args.days,
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
