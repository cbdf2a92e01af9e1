"""A real HTTP server that behaves like SMS Presto: the demo's, the tests' and the benchmarks'.

Stateful (sends appear in the archive, statuses move from pending to delivered or failed, the
stock decreases by segments), seeded with realistic history, serving both meanings of
``list-archive``'s paging, and injecting faults on demand.

Example:
    >>> from smspresto_pipeline.simulator import Fault, SimulatorConfig, run_simulator
    >>> cfg = SimulatorConfig(db_path=Path("sim.sqlite3"), messages_per_day=50)
    >>> with run_simulator(cfg) as sim:  # doctest: +SKIP
    ...     sim.add_fault(Fault("rate_limit", count=2))
    ...     client = SMSPrestoClient(api_key=sim.api_key, api_pass=sim.api_pass,
    ...                              base_url=sim.base_url)

Beyond the reference's codes it answers ``104`` (insufficient credit) and ``105`` (unknown
action); see `smspresto_pipeline.simulator.app`.
"""

from smspresto_pipeline.simulator.app import ARCHIVE_FIELDS, RequestRecord, SendRecord
from smspresto_pipeline.simulator.config import (
    FAULT_KINDS,
    Fault,
    FaultKind,
    Outage,
    SimulatorConfig,
    Spike,
)
from smspresto_pipeline.simulator.server import RunningSimulator, free_port, run_simulator, serve

__all__ = [
    "ARCHIVE_FIELDS",
    "FAULT_KINDS",
    "Fault",
    "FaultKind",
    "Outage",
    "RequestRecord",
    "RunningSimulator",
    "SendRecord",
    "SimulatorConfig",
    "Spike",
    "free_port",
    "run_simulator",
    "serve",
]
