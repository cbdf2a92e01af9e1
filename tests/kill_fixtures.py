"""Killing send processes at random moments, and settling after them: shared by the kill tests
of the campaigns' send runs and of the alerting sensor's ticks."""

import os
import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

from campaign_fixtures import Target

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.campaigns.reconcile import reconcile
from smspresto_pipeline.sending import Outbox
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse


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


def reconcile_with_the_archive(sim: RunningSimulator, path: Target) -> tuple[int, int]:
    """Ingest today's archive and resolve the ambiguous rows: (sent, released) counts."""
    warehouse = Warehouse(path)
    day = datetime.now(UTC).date()  # the simulator's account is on UTC
    time.sleep(1.1)  # loaded after the rows' windows close (after=1 s)
    with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client:
        warehouse.write_partition(day, client.iter_archive_pages(day, day))
    report = reconcile(Outbox(warehouse), timezone="UTC", after=timedelta(seconds=1))
    return len(report.sent), len(report.released)
