"""Rows per second of :func:`~smspresto_pipeline.campaigns.prepare.prepare_batch`.

Builds a DuckDB table of ``--rows`` personalised rows (mostly distinct Ivorian mobile numbers
written in national form, first names with accents and some NULLs, amounts, dates), runs the
campaign's query with ``to_arrow_table()`` as the sensor will, then prepares the result
``--rounds`` times. The query and the preparation are timed apart; figures are medians.

Prints JSON: ``{rows, query_s, prepare_s, rows_per_s, messages, skipped, segments, ...}``.

Usage::

    .venv/bin/python benchmarks/prepare.py [--rows 100000] [--rounds 3] [--smart-encoding]
"""

import argparse
import json
import statistics
import time

import duckdb

from smspresto_pipeline.campaigns import Campaign
from smspresto_pipeline.campaigns.prepare import prepare_batch

SETUP = """
create table customers as
select
    i as id,
    -- national form, mostly distinct: Orange (07), MTN (05) and Moov (01) ranges
    ['07', '05', '01'][1 + i % 3] || lpad(cast((i * 7919) % 100000000 as varchar), 8, '0')
        as phone,
    case when i % 10 = 0 then null
         else ['Awa', 'Koffi', 'Adjoua', 'Yao', 'Aïcha', 'Kouamé'][1 + i % 6] end as first_name,
    1000 + (i * 37) % 90000 as amount,
    date '2025-03-06' + cast(i % 30 as integer) as due_date
from range(?) as t(i)
"""

QUERY = """
select phone as recipient, 'invoice-' || id as dedup_key, first_name, amount, due_date
from customers
"""

TEMPLATE = (
    "Bonjour {{ first_name or 'client' }}, votre facture de {{ amount }} FCFA est à régler "
    "avant le {{ due_date.strftime('%d/%m') }}. Merci de votre confiance \u2013 MaBoutique"
)


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smart-encoding", action="store_true")
    args = parser.parse_args()

    campaign = Campaign(
        name="invoice_reminder",
        sql=QUERY,
        template=TEMPLATE,
        sender="MaBoutique",
        smart_encoding=args.smart_encoding,
    )
    con = duckdb.connect()
    con.execute(SETUP, [args.rows])
    query_times, prepare_times = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        table = con.sql(campaign.sql).to_arrow_table()
        query_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        batch = prepare_batch(campaign, table)
        prepare_times.append(time.perf_counter() - started)
    prepare_s = statistics.median(prepare_times)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "distinct_numbers": len({m.recipient for m in batch.messages}),
                "rounds": args.rounds,
                "smart_encoding": args.smart_encoding,
                "query_s": round(statistics.median(query_times), 3),
                "prepare_s": round(prepare_s, 3),
                "prepare_best_s": round(min(prepare_times), 3),
                "rows_per_s": round(args.rows / prepare_s),
                "messages": len(batch.messages),
                "skipped": batch.skipped_by_reason(),
                "segments": batch.segments,
                "segments_saved": batch.segments_saved,
            }
        )
    )


if __name__ == "__main__":
    main()
