"""The demo's launching and waiting: a launch that fails, or a run that fails, stops the demo
with the error that says why; the operator's message is printed masked, with its state (the
demo itself runs end to end in tests/e2e)."""

import dataclasses
import io
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest
from e2e_fixtures import base_env
from rich.console import Console

from smspresto_pipeline.demo import (
    DayCheck,
    DemoRunError,
    DemoSummary,
    _launch_run,
    _print_summary,
    _wait_for_run,
    spike_day,
)
from smspresto_pipeline.sending import OutboxRow


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


@pytest.mark.slow
def test_a_launch_that_fails_raises_with_the_commands_error(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**base_env(), "DAGSTER_HOME": str(home), "SMSPRESTO_SCHEDULES": "stopped"}
    log = tmp_path / "launch.log"
    with pytest.raises(DemoRunError) as raised:
        _launch_run(job_name="no_such_job", tags={}, env=env, log=log)
    message = str(raised.value)
    assert message.startswith("`dagster job launch` of no_such_job exited with 2:\n")
    assert message.splitlines()[1].startswith('  Error: Job "no_such_job" not found'), message
    assert message.endswith(f"Its whole output is in {log}.")


def _summary(operator_message: OutboxRow | None) -> DemoSummary:
    day = date(2026, 3, 1)
    return DemoSummary(day, day, 0, {}, [], {}, (), operator_message)


def test_the_operators_message_is_printed_masked_with_its_state(tmp_path: Path) -> None:
    now = datetime(2026, 3, 2, 6, 0)
    row = OutboxRow(
        "daily_summary",
        "2026-03-01",
        "+2250700000000",
        "SMSPresto",
        "[info] bilan du 01/03/2026 : 30 messages, 3 en échec (10,0 %).",
        1,
        "GSM-7",
        "sent",
        None,
        0,
        "ok",
        "run",
        now,
        now,
        now,
        now,
    )
    out = io.StringIO()
    _print_summary(Console(file=out, width=400), _summary(row), tmp_path)
    printed = out.getvalue()
    assert (
        "Campaign daily_summary: the message to the operator (+225 07 ** ** ** 00) is sent: "
        "[info] bilan du 01/03/2026 : 30 messages, 3 en échec (10,0 %)." in printed
    ), "the text is printed as written (brackets are not console markup)"
    assert "+2250700000000" not in printed

    out = io.StringIO()
    _print_summary(Console(file=out, width=400), _summary(None), tmp_path)
    assert "The daily_summary campaign recorded no message" in out.getvalue()


@pytest.mark.parametrize(
    ("last_day", "expected"),
    [
        (date(2026, 3, 5), date(2026, 3, 4)),  # Thursday: Wednesday
        (date(2026, 3, 7), date(2026, 3, 6)),  # Saturday: Friday
        (date(2026, 3, 8), date(2026, 3, 6)),  # Sunday: Friday
        (date(2026, 3, 9), date(2026, 3, 6)),  # Monday: Friday, three days before
    ],
)
def test_the_spike_is_on_the_weekday_before_the_last_day(last_day: date, expected: date) -> None:
    assert spike_day(last_day) == expected
    assert (last_day - expected).days < 4, "among the days the demo checks"


def test_the_spike_verdicts_and_the_breaker_are_printed(tmp_path: Path) -> None:
    day = date(2026, 3, 4)
    reason = "carrier:MTN failures jumped from 5.7% to 39.8% (88 messages, p=1e-8)"
    summary = DemoSummary(
        day,
        day,
        0,
        {},
        [],
        {},
        (),
        None,
        spike_day=day,
        checks=(
            DayCheck(day, False, "ERROR", ("carrier:MTN",), reason, "run-1"),
            DayCheck(date(2026, 3, 5), True, None, (), "all failures at 8.0% [sic]", "run-2"),
        ),
        breaker="campaigns are paused by the circuit breaker since ...",
    )
    out = io.StringIO()
    _print_summary(Console(file=out, width=400), summary, tmp_path)
    printed = out.getvalue()
    assert "carrier:MTN fails about 50% of its messages on 2026-03-04." in printed
    (spike_row,) = [line for line in printed.splitlines() if "│ 2026-03-04 " in line]
    assert "failed: ERROR" in spike_row
    assert reason in spike_row
    (clean_row,) = [line for line in printed.splitlines() if "│ 2026-03-05 " in line]
    assert "passed" in clean_row
    assert "[sic]" in clean_row, "a reason is printed as written (not console markup)"
    assert "Circuit breaker: campaigns are paused by the circuit breaker since ..." in printed


def test_the_alert_to_the_operator_on_call_is_printed_masked(tmp_path: Path) -> None:
    now = datetime(2026, 3, 5, 1, 0)
    text = "SMS Presto alert: Circuit breaker tripped: [carrier:MTN] ... Do: resume."
    row = OutboxRow(
        "smspresto_alerts",
        "breaker-trip:check:failure_rate_spike:2026-03-04:20260305T010000|+2250700000001",
        "+2250700000001",
        "SMSPresto",
        text,
        1,
        "GSM-7",
        "sent",
        None,
        0,
        "ok",
        "smspresto_alerts:tick",
        now,
        now,
        now,
        now,
    )
    error = DayCheck(date(2026, 3, 4), False, "ERROR", ("carrier:MTN",), "jumped", "run-1")
    summary = dataclasses.replace(_summary(None), checks=(error,), alert=row)
    out = io.StringIO()
    _print_summary(Console(file=out, width=400), summary, tmp_path)
    printed = out.getvalue()
    assert (
        "Alert: the sensor smspresto_alerts texted the operator on call (+225 07 ** ** ** 01), "
        f"sent: {text}" in printed
    ), "the text is printed as written (brackets are not console markup)"
    assert "+2250700000001" not in printed

    out = io.StringIO()
    _print_summary(Console(file=out, width=400), dataclasses.replace(summary, alert=None), tmp_path)
    assert "The sensor smspresto_alerts told the operator nothing" in out.getvalue()
    out = io.StringIO()
    _print_summary(Console(file=out, width=400), _summary(None), tmp_path)
    assert "smspresto_alerts" not in out.getvalue(), "no ERROR, no trip: nothing to tell"
