"""The simulator's clock and its carrier outages, over real HTTP on 127.0.0.1."""

from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import MakeSimulator

from smspresto_pipeline.simulator import Outage, RunningSimulator, SimulatorConfig
from smspresto_pipeline.simulator.seed import seed_days

DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, 9, 0)
HTTP = httpx.Client(timeout=10)


def listing(sim: RunningSimulator, day: date = DAY) -> list[dict[str, Any]]:
    fields = {"user": sim.api_key, "pass": sim.api_pass, "action": "list-archive"}
    fields |= {"dateFrom": day.isoformat(), "dateTo": day.isoformat(), "from": "0"}
    rows = HTTP.post(sim.base_url, data=fields | {"to": "1000000"}).json()
    return rows or []


def send(sim: RunningSimulator, *numbers: str) -> None:
    fields = {"user": sim.api_key, "pass": sim.api_pass, "action": "sendsms", "from": "SHOP"}
    answer = HTTP.post(sim.base_url, data=fields | {"to": ",".join(numbers), "message": "hi"})
    assert answer.json()["status"] == 0


def test_today_appears_as_the_clock_passes_it(make_simulator: MakeSimulator) -> None:
    (seeded,) = seed_days(42, DAY, DAY, 400, 0.05)
    created = sorted(row[1] for row in seeded.rows)
    with make_simulator(
        clock=START, history_start=DAY, history_end=DAY, messages_per_day=400, delivery_delay=600
    ) as sim:
        rows = listing(sim)
        assert [r["HIS_DATEHEURECREA"] for r in rows] == [
            c for c in created if c <= "2026-03-10 09:00:00"
        ]
        assert {r["HIS_STATUT"] for r in rows} != {"0"}
        appeared = sim.set_now(START + timedelta(hours=3))
        rows = listing(sim)
        visible = [c for c in created if c <= "2026-03-10 12:00:00"]
        assert appeared == len(visible) - len([c for c in created if c <= "2026-03-10 09:00:00"])
        assert [r["HIS_DATEHEURECREA"] for r in rows] == visible
        ids = [int(r["IDHISTORIQUE"]) for r in rows]
        assert ids == sorted(ids)  # ids follow creation: offsets never move
        # Rows created in the last ten minutes are still pending; older ones are final.
        for row in rows:
            recent = row["HIS_DATEHEURECREA"] > "2026-03-10 11:50:00"
            assert (row["HIS_STATUT"] == "0") == recent, row
        send(sim, "+2250712345678")
        (live,) = [r for r in listing(sim) if r["HIS_MESSAGE"] == "hi"]
        assert live["HIS_DATEHEURECREA"] == "2026-03-10 12:00:00"
        assert live["HIS_STATUT"] == "0"
        assert int(live["IDHISTORIQUE"]) > max(ids)
        sim.advance(timedelta(minutes=10))
        (live,) = [r for r in listing(sim) if r["HIS_MESSAGE"] == "hi"]
        assert live["HIS_STATUT"] in ("1", "2")
        with pytest.raises(ValueError, match="forward only"):
            sim.set_now(START)
        assert sim.message_count(DAY, DAY) == len(listing(sim))
        sim.set_now(datetime(2026, 3, 11, 0, 0))
        assert sim.message_count(DAY, DAY) == len(created) + 1


def test_real_time_has_no_clock_to_move(make_simulator: MakeSimulator) -> None:
    with make_simulator(messages_per_day=0) as sim, pytest.raises(RuntimeError, match="real time"):
        sim.set_now(START)


def test_a_clock_is_naive_local_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        SimulatorConfig(clock=datetime.fromisoformat("2026-03-10T09:00:00+00:00"))


def test_an_outage_fails_its_carrier_from_its_start(make_simulator: MakeSimulator) -> None:
    mtn, orange = [f"+22505{n:08d}" for n in range(40)], [f"+22507{n:08d}" for n in range(40)]
    with make_simulator(clock=START, messages_per_day=0, failure_rate=0.0, delivery_delay=1) as sim:
        sim.add_outage(Outage("carrier:MTN", 1.0, start=START + timedelta(minutes=5)))
        send(sim, *mtn[:20], *orange[:20])  # before the outage
        sim.advance(timedelta(minutes=5))
        send(sim, *mtn[20:], *orange[20:])
        sim.advance(timedelta(minutes=1))
        status = {r["HIS_DESTINATAIRE"]: r["HIS_STATUT"] for r in listing(sim)}
        assert {status[n] for n in mtn[:20] + orange} == {"1"}
        assert {status[n] for n in mtn[20:]} == {"2"}
        sim.clear_outages()
        send(sim, mtn[0])
        sim.advance(timedelta(minutes=1))
        assert listing(sim)[-1]["HIS_STATUT"] == "1"


def test_the_same_sends_settle_the_same_on_a_replay(make_simulator: MakeSimulator) -> None:
    """A simulated day replayed fails the same messages: statuses are drawn from the sends'
    order, not from when they reached the server."""
    numbers = [f"+22505{n:08d}" for n in range(60)]
    statuses = []
    for _ in range(2):
        with make_simulator(clock=START, messages_per_day=0, failure_rate=0.3) as sim:
            sim.add_outage(Outage("carrier:MTN", 0.5, start=START))
            send(sim, *numbers[:30])
            send(sim, *numbers[30:])
            sim.advance(timedelta(minutes=5))
            statuses.append([r["HIS_STATUT"] for r in listing(sim)])
    assert statuses[0] == statuses[1]
    assert set(statuses[0]) == {"1", "2"}


@pytest.mark.parametrize("segment", ["sender:X", "carrier:", "all"])
def test_an_outage_names_a_carrier(segment: str) -> None:
    with pytest.raises(ValueError, match="carrier:<name>"):
        Outage(segment, 0.5)
