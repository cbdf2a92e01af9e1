"""Nothing lost, nothing twice, proven by killing it: send runs in processes of their own are
killed with SIGKILL at random moments (while they claim, between batches, with a request in
flight), then later runs settle what the dead ones left; the simulator's own record is the
witness that every eligible row was accepted exactly once. On a DuckDB file and on a PostgreSQL
database, where runs of other machines also start at the same moment: four runs at once send
every row once.

Each repetition: 2,000 customers (distinct numbers), batches of 50, up to three kills, then
runs to completion, with the archive ingested and reconciled whenever rows are ambiguous. More
repetitions (on each engine): ``SMSPRESTO_KILL_REPETITIONS=20 .venv/bin/pytest
tests/campaigns/test_kill_send.py -s`` (each prints what it went through)."""

import collections
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import postgres_fixtures
import pytest
from campaign_fixtures import (
    CUSTOMERS_SQL,
    CUSTOMERS_TEMPLATE,
    Target,
    customers_file,
    insert_rows,
    on_server,
    states,
)
from kill_fixtures import kill_at_random, reconcile_with_the_archive

from smspresto_pipeline.sending import Outbox
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

WORKER = Path(__file__).resolve().parents[1] / "send_worker.py"
ROWS = 2_000
BATCH = 50
#: How long a run that owns pending rows may stay silent before the next run settles it.
SILENT_AFTER = 2.0
_ASKED = os.environ.get("SMSPRESTO_KILL_REPETITIONS")
#: The seeds of each engine's repetitions (odd seeds have the slow server): by default one on
#: DuckDB (the quick server: kills land between batches and in the database's writes) and one on
#: PostgreSQL (the slow server's, where kills land with a request in flight), as many on each as
#: asked when asked.
SEEDS = {
    "duckdb": range(int(_ASKED or 1)),
    "postgres": range(int(_ASKED)) if _ASKED else range(1, 2),
}
KILL_RUNS = [(engine, seed) for engine, seeds in SEEDS.items() for seed in seeds]
#: Send runs started at once, on PostgreSQL: as many run workers, on as many machines.
AT_ONCE = 4


def customers(target: Target, rows: int = ROWS) -> list[str]:
    """``rows`` customers with distinct mobile numbers in ``main.customers`` of the warehouse
    ``target``; their numbers in E.164."""
    phones = [f"07{10_000_000 + i * 37:08d}" for i in range(rows)]
    customers_file(target)
    insert_rows(
        target,
        "INSERT INTO main.customers VALUES (?, ?, ?, ?)",
        [(f"c{i}", phone, f"Client{i}", f"P{i}") for i, phone in enumerate(phones)],
    )
    return [f"+225{phone}" for phone in phones]


class Workers:
    """Starts the campaign's send runs as processes recorded in one Dagster instance."""

    def __init__(
        self,
        tmp_path: Path,
        sim: RunningSimulator,
        path: Target,
        max_per_run: int = ROWS,
        instance_url: str | None = None,
    ) -> None:
        self.settings = tmp_path / "settings.json"
        self.settings.write_text(
            json.dumps(
                {
                    "campaign": {
                        "name": "reminder",
                        "sql": CUSTOMERS_SQL,
                        "template": CUSTOMERS_TEMPLATE,
                        "sender": "MaBoutique",
                        "send_on_first_activation": True,
                        "volume_breaker_factor": None,
                        "max_per_run": max_per_run,
                        "max_per_day": ROWS,
                    },
                    "base_url": sim.base_url,
                    "api_key": sim.api_key,
                    "api_pass": sim.api_pass,
                    "warehouse": str(path),
                    "batch_size": BATCH,
                    "silent_after": SILENT_AFTER,
                }
            )
        )
        home = tmp_path / "dagster_home"
        home.mkdir()
        if instance_url is not None:
            # Dagster's own storage on PostgreSQL, as a deployment's (deploy/dagster.yaml, and
            # its psycopg2 dialect): its default SQLite files, made by runs starting at once,
            # race on their own tables.
            url = instance_url.replace("postgresql://", "postgresql+psycopg2://", 1)
            storage = {"storage": {"postgres": {"postgres_url": url}}}
            (home / "dagster.yaml").write_text(json.dumps(storage))
            # Its schema made once before the runs, as a deployment's webserver or daemon (or
            # `dagster instance migrate`) makes it: four runs making it at once race in
            # dagster-postgres itself (`type "alembic_version" already exists`).
            with dg.DagsterInstance.from_config(str(home)):
                pass
        self.env = {**os.environ, "DAGSTER_HOME": str(home)}
        self.logs = tmp_path / "workers"
        self.logs.mkdir()
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with (self.logs / f"{self.started}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, str(WORKER), str(self.settings)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed whole, as a container is
            )

    def log(self) -> str:
        """The workers' output (a failed run's error is in it)."""
        return "\n".join(log.read_text() for log in sorted(self.logs.glob("*.log")))

    def run(self) -> int:
        worker = self.start()
        return worker.wait(timeout=240)


def witnessed(sim: RunningSimulator) -> collections.Counter[str]:
    """How many times the simulator accepted a message to each number."""
    return collections.Counter(r for send in sim.sends for r, _ in send.messages)


@pytest.mark.slow
@pytest.mark.parametrize(("warehouse_target", "seed"), KILL_RUNS, indirect=["warehouse_target"])
def test_killed_send_runs_lose_nothing_and_send_nothing_twice(
    seed: int, sim: RunningSimulator, tmp_path: Path, warehouse_target: str
) -> None:
    rng = random.Random(seed)
    if seed % 2:
        # A server that takes 50 ms before it processes a send: most kills then land while a
        # request is in flight and not yet accepted (the archive later proves it never was).
        sim.add_fault(Fault("slow", count=10_000, actions=frozenset({"sendsms"}), delay=0.05))
    path: Target = warehouse_target if on_server(warehouse_target) else Path(warehouse_target)
    numbers = customers(path)
    workers = Workers(tmp_path, sim, path)
    engine = "postgres" if on_server(path) else "duckdb"
    story = [f"{engine} seed {seed}" + (" (sends processed after 50 ms)" if seed % 2 else "")]
    for _ in range(rng.randint(1, 3)):
        story.append(kill_at_random(workers.start(), sim, rng))
        story.append(f"outbox {dict(collections.Counter(states(path).values()))}")
    for _ in range(8):
        time.sleep(SILENT_AFTER)  # the killed runs are silent from now on
        workers.run()
        found = collections.Counter(states(path).values())
        story.append(f"settling run: outbox {dict(found)}")
        if found == {"sent": ROWS}:
            break
        if found["ambiguous"]:
            sent, released = reconcile_with_the_archive(sim, path)
            story.append(f"reconciled: {sent} found in the archive, {released} never accepted")
    print("\n  ".join(story))

    witness = witnessed(sim)
    duplicates = {number: n for number, n in witness.items() if n > 1}
    assert duplicates == {}, story
    assert set(witness) == set(numbers), (len(set(numbers) - set(witness)), story)
    assert collections.Counter(states(path).values()) == {"sent": ROWS}, story


@pytest.fixture
def instance_url(postgres_server: str) -> Iterator[str]:
    """A database of its own on the test server, for Dagster's storage."""
    yield from postgres_fixtures.fresh_database(postgres_server)


@pytest.mark.slow
def test_send_runs_started_at_once_on_postgresql_send_every_row_once(
    sim: RunningSimulator, tmp_path: Path, postgres_url: str, instance_url: str
) -> None:
    # Each run may take a quarter of the rows: every one of them claims, and sends, its own.
    numbers = customers(postgres_url)
    workers = Workers(
        tmp_path, sim, postgres_url, max_per_run=ROWS // AT_ONCE, instance_url=instance_url
    )
    started = [workers.start() for _ in range(AT_ONCE)]
    assert [worker.wait(timeout=240) for worker in started] == [0] * AT_ONCE, workers.log()

    assert witnessed(sim) == dict.fromkeys(numbers, 1)
    rows = Outbox(Warehouse(postgres_url)).rows("sent", campaign="reminder")
    per_run = collections.Counter(row.run_id for row in rows)
    assert sorted(per_run.values()) == [ROWS // AT_ONCE] * AT_ONCE
