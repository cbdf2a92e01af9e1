"""One tick of a code location's sensor, as the sensor daemon ticks it: recorded in the Dagster
instance (the UI lists it under the sensor's ticks, with its skip message), its cursor kept and
its asset events stored (an observation, say), its run requests launched.

The demo runs it once, for the alerting sensor, after its checks have tripped the circuit
breaker: ``python -m smspresto_pipeline.demo_tick SENSOR`` in a process of its own, whose
environment carries the demo's settings (the code location reads them when it loads; the
demo's own process leaves its environment as it found it). Dagster has no command for this:
``dagster sensor preview`` evaluates a sensor but records nothing, and ``dagster-daemon run``
runs every daemon until stopped. So this calls the sensor daemon's own tick, on one sensor.
"""

# No ``from __future__ import annotations``: kept alike with the library's Dagster modules.

import logging
import os
import sys

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    SensorInstigatorData,
    TickStatus,
)
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import _process_tick_generator
from dagster._time import get_current_timestamp

__all__ = ["tick_sensor"]

_LOGGER = logging.getLogger("smspresto_pipeline.demo_tick")


def tick_sensor(sensor_name: str, *, module: str = "dagster_project") -> str:
    """Tick ``sensor_name`` of the code location ``module`` once, in the instance of
    ``DAGSTER_HOME``; the tick's outcome in words (its status, then its skip message).

    Ticked at once, even within the sensor's minimum interval of its last tick (a demo run
    right after another): what it tells is deduplicated by its own ledger, not by its timing.

    Raises:
        RuntimeError: the sensor is unknown or stopped, or its tick failed (with the error).
    """
    with (
        dg.DagsterInstance.get() as instance,
        WorkspaceProcessContext(
            instance,
            ModuleTarget(
                module_name=module,
                attribute=None,
                working_directory=os.getcwd(),
                location_name=None,
            ),
        ) as workspace,
    ):
        location = workspace.create_request_context().get_code_location(module)
        (repository,) = location.get_repositories().values()
        if not repository.has_sensor(sensor_name):
            raise RuntimeError(f"the code location {module} has no sensor {sensor_name!r}")
        sensor = repository.get_sensor(sensor_name)
        origin_id, selector_id = sensor.get_remote_origin_id(), sensor.selector_id
        state = instance.get_instigator_state(origin_id, selector_id)
        if not sensor.get_current_instigator_state(state).is_running:
            raise RuntimeError(f"the sensor {sensor_name} is stopped: start it to tick it")
        if state is None:
            # A sensor running by its default status has no state until its first tick: the
            # daemon records one first, as here.
            state = InstigatorState(
                sensor.get_remote_origin(),
                InstigatorType.SENSOR,
                InstigatorStatus.DECLARED_IN_CODE,
                SensorInstigatorData(
                    min_interval=sensor.min_interval_seconds,
                    last_sensor_start_timestamp=get_current_timestamp(),
                    sensor_type=sensor.sensor_type,
                ),
            )
            instance.add_instigator_state(state)
        before = {tick.tick_id for tick in instance.get_ticks(origin_id, selector_id, limit=5)}
        errors = [
            error
            for error in _process_tick_generator(
                workspace,
                _LOGGER,
                sensor,
                state,
                None,
                instance.get_tick_retention_settings(InstigatorType.SENSOR),
                None,
            )
            if error is not None
        ]
        tick = next(iter(instance.get_ticks(origin_id, selector_id, limit=1)), None)
    if errors:
        raise RuntimeError(f"the tick of {sensor_name} failed: {errors[0].to_string()}")
    if tick is None or tick.tick_id in before:
        raise RuntimeError(f"the sensor {sensor_name} recorded no new tick")
    if tick.status == TickStatus.FAILURE:
        error = tick.error.to_string() if tick.error else "no error recorded"
        raise RuntimeError(f"the tick of {sensor_name} failed: {error}")
    return f"{tick.status.value}: {tick.skip_reason or ''}".rstrip(": ")


def main(argv: list[str]) -> int:
    """``python -m smspresto_pipeline.demo_tick SENSOR``: tick it, print the outcome."""
    if len(argv) != 1:
        print("usage: python -m smspresto_pipeline.demo_tick SENSOR", file=sys.stderr)
        return 2
    try:
        print(tick_sensor(argv[0]))
    except RuntimeError as error:
        # The demo shows the lines starting "Error: " of a command that failed.
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
