"""The simulator over real HTTP."""

import httpx

from smspresto_pipeline.simulator import RunningSimulator


def test_get_stock_answers_a_bare_number(simulator: RunningSimulator) -> None:
    answer = httpx.post(
        simulator.base_url,
        data={"action": "get-stock", "user": simulator.api_key, "pass": simulator.api_pass},
    )
    assert answer.text == "100000"
