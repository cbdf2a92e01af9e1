"""What the benchmarks share: the bare ``list-archive`` loop they measure the library against,
and the flags that shape the simulated history.

The bare loop gets what the measured code gets: the same page size and JSON decoder (orjson),
and it is told what the server's ``from``/``to`` mean (the client works that out), so its pages
are the ideal ones.
"""

import argparse

import httpx
import orjson

API_KEY = "bench-key"
API_PASS = "bench-pass"


def bare_pages(
    http: httpx.Client,
    base_url: str,
    date_from: str,
    date_to: str,
    *,
    page_size: int,
    paging: str,
) -> int:
    """Every page of ``date_from``..``date_to``, one request after another, decoded and
    dropped; the number of rows."""
    rows = 0
    offset = 0
    while True:
        to = page_size if paging == "limit" else offset + page_size
        response = http.post(
            base_url,
            data={
                "user": API_KEY,
                "pass": API_PASS,
                "action": "list-archive",
                "dateFrom": date_from,
                "dateTo": date_to,
                "from": str(offset),
                "to": str(to),
            },
        )
        response.raise_for_status()
        page = orjson.loads(response.content) if response.content.strip() else None
        if not page:
            return rows
        rows += len(page)
        offset += len(page)


def add_history_arguments(
    parser: argparse.ArgumentParser, *, paging: str, pools: list[int] | None = None
) -> None:
    """``--recipient-pool`` and ``--paging``, with realistic defaults.

    With ``pools``, ``--recipient-pool`` takes one or more sizes (``pools`` by default), each
    measured in turn.
    """
    help_text = (
        "distinct numbers the history draws from (0: every message a new number, as on a "
        "marketing list; 3000: a shop's recurring customers)"
    )
    if pools is None:
        parser.add_argument("--recipient-pool", type=int, default=0, help=help_text)
    else:
        parser.add_argument(
            "--recipient-pool",
            type=int,
            nargs="+",
            default=pools,
            help=f"{help_text}; default: {' '.join(map(str, pools))}",
        )
    parser.add_argument(
        "--paging",
        choices=["limit", "range"],
        default=paging,
        help="what the server's from/to mean: offset+count (limit) or start/end indexes (range)",
    )
