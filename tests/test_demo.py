"""The demo's waiting on a launched run: it returns when the run succeeded, and stops the demo
with the run's own error when it failed."""

from pathlib import Path

import dagster as dg
import pytest

from smspresto_pipeline.demo import DemoRunError, _wait_for_run


@dg.op
def accept() -> None:
    pass


@dg.op
def refuse() -> None:
    raise ValueError("the simulator said no")


@dg.job
def accepting_job() -> None:
    accept()


@dg.job
def refusing_job() -> None:
    refuse()


def test_a_succeeded_run_returns(tmp_path: Path) -> None:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = accepting_job.execute_in_process(instance=instance)
        _wait_for_run(instance, result.run_id, "accepting_job")


def test_a_failed_run_raises_with_its_error(tmp_path: Path) -> None:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = refusing_job.execute_in_process(instance=instance, raise_on_error=False)
        with pytest.raises(DemoRunError) as raised:
            _wait_for_run(instance, result.run_id, "refusing_job")
    message = str(raised.value)
    assert f"run {result.run_id} of refusing_job ended FAILURE" in message
    assert 'Execution of step "refuse" failed.' in message
    assert "ValueError: the simulator said no" in message
