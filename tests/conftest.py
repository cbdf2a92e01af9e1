"""Shared fixtures: a real SMS Presto simulator over HTTP on 127.0.0.1.

``simulator`` is a small, seeded account (five days, about 40 messages a day, from
``SIMULATOR_HISTORY_START`` to ``SIMULATOR_HISTORY_END``; the last day is a failure spike).
``make_simulator(**overrides)`` builds others: any `SimulatorConfig` field can be overridden,
and each call gets its own SQLite file in ``tmp_path`` unless ``db_path`` is given::

    def test_paging(make_simulator):
        with make_simulator(paging="range", messages_per_day=120) as sim:
            ...
"""

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from smspresto_pipeline.simulator import RunningSimulator, SimulatorConfig, run_simulator

SIMULATOR_HISTORY_START = date(2025, 3, 6)
SIMULATOR_HISTORY_END = date(2025, 3, 10)

MakeSimulator = Callable[..., AbstractContextManager[RunningSimulator]]


def simulator_config(tmp_path: Path, **overrides: Any) -> SimulatorConfig:
    """The tests' default simulator configuration, with ``overrides``."""
    fields: dict[str, Any] = {
        "db_path": tmp_path / "simulator.sqlite3",
        "seed": 42,
        "history_start": SIMULATOR_HISTORY_START,
        "history_end": SIMULATOR_HISTORY_END,
        "messages_per_day": 40,
        "delivery_delay": 0.5,
    }
    fields.update(overrides)
    return SimulatorConfig(**fields)


@pytest.fixture
def make_simulator(tmp_path: Path) -> MakeSimulator:
    """A factory of running simulators: ``with make_simulator(**overrides) as sim: ...``."""
    numbers = itertools.count(1)

    def make(**overrides: Any) -> AbstractContextManager[RunningSimulator]:
        overrides.setdefault("db_path", tmp_path / f"simulator-{next(numbers)}.sqlite3")
        return run_simulator(simulator_config(tmp_path, **overrides))

    return make


@pytest.fixture
def simulator(make_simulator: MakeSimulator) -> Iterator[RunningSimulator]:
    """A running simulator with a small seeded history (see the module docstring)."""
    with make_simulator() as sim:
        yield sim
