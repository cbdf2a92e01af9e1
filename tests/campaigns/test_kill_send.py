"""Nothing lost, nothing twice, proven by killing it: send runs in processes of their own are
killed with SIGKILL at random moments (while they claim, between batches, with a request in
flight), then later runs settle what the dead ones left; the simulator's own record is the
witness that every eligible row was accepted exactly once.

Each repetition: 2,000 customers (distinct numbers), batches of 50, up to three kills, then
runs to completion, with the archive ingested and reconciled whenever rows are ambiguous. More
repetitions: ``SMSPRESTO_KILL_REPETITIONS=20 .venv/bin/pytest tests/campaigns/test_kill_send.py
-s`` (each prints what it went through)."""

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from campaign_fixtures import CUSTOMERS_SQL, CUSTOMERS_TEMPLATE, states

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.reconcile import reconcile
from smspresto_pipeline.sending import Outbox
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

WORKER = Path(__file__).resolve().parents[1] / "send_worker.py"
ROWS = 2_000
BATCH = 50
#: How long a run that owns pending rows may stay silent before the next run settles it.
SILENT_AFTER = 2.0
REPETITIONS = int(os.environ.get("SMSPRESTO_KILL_REPETITIONS", "3"))


def customers(path: Path) -> list[str]:
    """``ROWS`` customers with distinct mobile numbers; their numbers in E.164."""
    Warehouse(path).ensure_schema()
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE main.customers AS SELECT 'c' || i AS id, "
            "'07' || lpad((10000000 + i * 37)::VARCHAR, 8, '0') AS phone, "
            "'Client' || i AS first_name, 'P' || i AS parcel FROM range(?) r(i)",
            [ROWS],
        )
        phones = [row[0] for row in con.execute("SELECT phone FROM main.customers").fetchall()]
    return [f"+225{phone}" for phone in phones]


class Workers:
    """Starts the campaign's send runs as processes recorded in one Dagster instance."""

    def __init__(self, tmp_path: Path, sim: RunningSimulator, path: Path) -> None:
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
                        "max_per_run": ROWS,
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
        self.env = {**os.environ, "DAGSTER_HOME": str(home)}

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(WORKER), str(self.settings)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed whole, as a container is
        )

    def run(self) -> int:
        worker = self.start()
        return worker.wait(timeout=240)


def kill_at_random(
    worker: subprocess.Popen[bytes], sim: RunningSimulator, rng: random.Random
) -> str:
    """SIGKILL the worker's process group at a random moment: a few seconds after its start
    (starting, querying, claiming), or at a random time once its sends began (between two
    batches, writing a mark, a request in flight)."""
    start = time.monotonic()
    sends = len(sim.sends)
    if rng.random() < 0.25:
        moment = rng.uniform(0.5, 8.0)
        while worker.poll() is None and time.monotonic() - start < moment:
            time.sleep(0.005)
        when = f"{moment:.1f} s after its start"
    else:
        while worker.poll() is None and len(sim.sends) == sends:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 1.5))
        when = f"after {len(sim.sends) - sends} accepted batches"
    if worker.poll() is not None:
        return f"finished before its kill ({when})"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    return f"killed {when}"


def reconcile_with_the_archive(sim: RunningSimulator, path: Path) -> tuple[int, int]:
    """Ingest today's archive and resolve the ambiguous rows: (sent, released) counts."""
    warehouse = Warehouse(path)
    day = datetime.now(UTC).date()  # the simulator's account is on UTC
    time.sleep(1.1)  # loaded after the rows' windows close (after=1 s)
    with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client:
        warehouse.write_partition(day, client.iter_archive_pages(day, day))
    report = reconcile(Outbox(warehouse), timezone="UTC", after=timedelta(seconds=1))
    return len(report.sent), len(report.released)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(REPETITIONS))
def test_killed_send_runs_lose_nothing_and_send_nothing_twice(
    seed: int, sim: RunningSimulator, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    if seed % 2:
        # A server that takes 50 ms before it processes a send: most kills then land while a
        # request is in flight and not yet accepted (the archive later proves it never was).
        sim.add_fault(Fault("slow", count=10_000, actions=frozenset({"sendsms"}), delay=0.05))
    path = tmp_path / "warehouse.duckdb"
    numbers = customers(path)
    workers = Workers(tmp_path, sim, path)
    story = [f"seed {seed}" + (" (sends processed after 50 ms)" if seed % 2 else "")]
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

    witness = collections.Counter(r for send in sim.sends for r, _ in send.messages)
    duplicates = {number: n for number, n in witness.items() if n > 1}
    assert duplicates == {}, story
    assert set(witness) == set(numbers), (len(set(numbers) - set(witness)), story)
    assert collections.Counter(states(path).values()) == {"sent": ROWS}, story
