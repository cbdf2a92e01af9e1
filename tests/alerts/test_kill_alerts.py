"""Nothing lost, nothing twice, proven by killing it, for the alerts' own send path: ticks of the
alerting sensor in processes of their own are killed with SIGKILL at random moments (claiming,
between two batches, a request in flight), then later ticks settle what the dead ones left,
with the archive reconciled whenever an SMS is ambiguous; the simulator's record is the witness
that each operator's number received each alert exactly once."""

import collections
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kill_fixtures import kill_at_random, reconcile_with_the_archive

from smspresto_pipeline.alerts import ALERTS_CAMPAIGN
from smspresto_pipeline.sending import OUTBOX_STATES, CircuitBreaker, Outbox
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

WORKER = Path(__file__).resolve().parents[1] / "alert_worker.py"
#: Ten operators on call, four trips of the breaker: 40 SMS in batches of 4.
NUMBERS = [f"+22507000000{n:02d}" for n in range(10)]
TRIPS = 4


def _tick(settings: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(settings)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed whole
    )


def _states(warehouse: Warehouse) -> collections.Counter[str]:
    rows = Outbox(warehouse).rows(OUTBOX_STATES, campaign=ALERTS_CAMPAIGN)
    return collections.Counter(row.state for row in rows)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3])
def test_killed_alert_ticks_tell_each_operator_each_alert_exactly_once(
    seed: int, sim: RunningSimulator, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    # 50 ms before each send is processed: kills land with a request in flight.
    sim.add_fault(Fault("slow", count=10_000, actions=frozenset({"sendsms"}), delay=0.05))
    path = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(path)
    breaker = CircuitBreaker(warehouse)
    for n in range(TRIPS):
        breaker.trip(
            f"carrier:MTN failures at {20 + n}%",
            source="check:spike",
            partition=f"2025-03-0{n + 1}",
        )
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "base_url": sim.base_url,
                "api_key": sim.api_key,
                "api_pass": sim.api_pass,
                "warehouse": str(path),
                "numbers": NUMBERS,
                "batch_size": 4,
            }
        )
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    story = []
    for _ in range(rng.randint(2, 3)):
        story.append(kill_at_random(_tick(settings, env), sim, rng))
        story.append(f"outbox {dict(_states(warehouse))}")
    for _ in range(6):
        assert _tick(settings, env).wait(timeout=120) == 0, story
        found = _states(warehouse)
        story.append(f"settling tick: outbox {dict(found)}")
        if set(found) == {"sent"} and found["sent"] == TRIPS * len(NUMBERS):
            break
        if found["ambiguous"]:
            sent, released = reconcile_with_the_archive(sim, path)
            story.append(f"reconciled: {sent} found in the archive, {released} never accepted")
        time.sleep(0.2)
    print("\n  ".join(story))

    received = collections.Counter(
        (number, text) for send in sim.sends for number, text in send.messages if number in NUMBERS
    )
    assert {key: n for key, n in received.items() if n > 1} == {}, story
    assert len(received) == TRIPS * len(NUMBERS), story
    assert _states(warehouse) == {"sent": TRIPS * len(NUMBERS)}, story
