"""The headless demo: the simulator, a month of history in DuckDB through Dagster, a summary.

`run_demo` starts the bundled simulator (its SQLite file under ``data/``), whose history has
one injected failure spike: carrier MTN fails about half its messages on one of the last days
(:func:`spike_day`). It backfills the last 30 days of ``archive_messages`` in one run, takes an
account snapshot, builds the analytics views and prints what DuckDB now holds. Then the
``daily_summary`` campaign (``dagster_project/defs/campaigns/daily_summary``) texts yesterday's
figures to the operator's number (the simulator's :data:`DEMO_OPERATOR_NUMBER`) through its send
job, and the demo prints that message's outbox row: its key is the day, so a second demo run on
the same day sends nothing more. Last, the checks of ``archive_messages`` run for the days the
daily ingest re-reads (yesterday and the three before), one run of ``smspresto_archive_checks``
per day, as a backfill of the job launched from the UI or the CLI runs them (its sensor asks
for one run over consecutive days instead): the demo prints each day's failure-rate spike verdict
(the spike day fails at ``ERROR`` naming ``carrier:MTN``) and the circuit breaker, which that
``ERROR`` trips: the campaigns stay paused until a person resumes them (a new demo run does,
first, so that it can text the operator again). Then the alerting sensor ``smspresto_alerts``
ticks once, as the sensor daemon ticks it (:mod:`smspresto_pipeline.demo_tick`): it texts the
trip to the operator on call (the simulator's :data:`DEMO_ALERT_NUMBER`, in
``SMSPRESTO_ALERT_NUMBERS``) and observes the breaker's state on the asset
``smspresto_circuit_breaker``; the demo prints that SMS's outbox row. Runs are recorded in a
persistent Dagster instance (``data/dagster_home``), and ``data/demo.env`` keeps the settings,
so that ``scripts/ui.sh`` opens the Dagster UI on the same runs and data. Running it again gives
the same tables: every day is rewritten in one transaction, and only a new account snapshot row and
a new trip of the breaker (and its alert) are added.

The runs are launched as the UI and the CLI launch them: ``dagster job launch -m
dagster_project`` submits each one to the instance, whose run launcher starts it from the code
location's server. A run launched so carries its job's origin (code location and repository),
which is how the UI lists it under its job; ``execute_in_process`` would record runs attached
to no job. The demo then waits on the instance until the run finishes. The checks' runs are
launched the same way, in one ``dagster job backfill`` of the days (one run per day).
"""

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smspresto_pipeline.alerts.channels import SmsChannel
from smspresto_pipeline.alerts.ledger import AlertLedger
from smspresto_pipeline.alerts.model import ALERTS_CAMPAIGN
from smspresto_pipeline.campaigns.breaker_defs import DAGSTER_RESUME_HINT
from smspresto_pipeline.campaigns.prepare import mask_number
from smspresto_pipeline.checks.definitions import CHECKS_JOB, FAILURE_SPIKE_CHECK
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.sending import OUTBOX_STATES, Outbox, OutboxRow
from smspresto_pipeline.sending.breaker import CircuitBreaker
from smspresto_pipeline.simulator import SimulatorConfig, Spike, run_simulator
from smspresto_pipeline.simulator.seed import day_rates
from smspresto_pipeline.storage.queries import load_sql
from smspresto_pipeline.storage.timestamps import utc_naive
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.wording import plural

__all__ = [
    "DEMO_ALERT_NUMBER",
    "DEMO_OPERATOR_NUMBER",
    "DEMO_SPIKE_SEGMENT",
    "DayCheck",
    "DemoRunError",
    "DemoSummary",
    "run_demo",
    "spike_day",
]

#: The number the demo's daily summary texts: a simulator's number, never a real operator's.
DEMO_OPERATOR_NUMBER = "+2250700000000"
#: The number the demo's alerts text (the operator on call): a simulator's number too.
DEMO_ALERT_NUMBER = "+2250700000001"
#: The alerting sensor the demo ticks once its checks have tripped the breaker.
_ALERTS_SENSOR = "smspresto_alerts"
#: The campaign the demo runs end to end (dagster_project/defs/campaigns/daily_summary).
_SUMMARY_CAMPAIGN = "daily_summary"
#: The segment whose failures the demo's simulator multiplies on `spike_day`.
DEMO_SPIKE_SEGMENT = "carrier:MTN"
# The failure rate the spike gives MTN that day (a carrier outage): about ten times its usual
# 5 %. A fixed factor would not do: the day's own rate wobbles (over-dispersion), and x4 on a
# calm day stays within what MTN's ordinary days spread over.
_SPIKE_RATE = 0.5
# The days the checks run for: yesterday and the lookback days the daily ingest re-reads.
_CHECKED_DAYS = 4
# Tags the demo's checks runs, so that it finds them among the instance's runs.
_CHECKS_TAG = "smspresto/demo_checks"

_TIMEZONE = DEFAULT_TIMEZONE
_CODE_LOCATION = "dagster_project"
# Written on every demo run: the instance is the demo's own, and a file left by an older demo
# lacks the run coordinator.
_DAGSTER_YAML = """\
# Written by `smspresto demo` each time it runs: the demo's own Dagster instance.
telemetry:
  enabled: false
# The demo launches its runs with `dagster job launch`, and no daemon runs then. Dagster's
# default QueuedRunCoordinator only queues a submitted run for the daemon to start, so the runs
# would wait forever. DefaultRunCoordinator hands each run straight to the run launcher, which
# starts it from the code location's server. `dg dev` (scripts/ui.sh) works the same on
# this instance: runs launched in the UI or by a schedule start at once, without a queue.
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""
_RUN_CONFIG = {
    # Each of the demo's jobs is one step: running it in the run's own process spares the
    # start of a step process (seconds) per run.
    "execution": {"config": {"in_process": {}}},
    # The runs' full logs go to the Dagster instance (the UI shows them); the terminal gets a
    # summary.
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}
# The longest `dagster job launch` may take (it loads the code location, then submits the run),
# and the longest a run may take after that (a 30-day backfill takes seconds).
_LAUNCH_TIMEOUT = 120.0
_RUN_TIMEOUT = 600.0
# A line of Python's or click's error output that names the error: "ValueError: ...".
_ERROR_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception)|Error): ")


class DemoRunError(RuntimeError):
    """Raised when a run the demo launched could not be launched, failed or did not finish."""


def spike_day(last_day: date) -> date:
    """The day the demo's simulator injects its MTN spike: the weekday before ``last_day``
    (weekend days carry too few messages to judge), so always among the days checked."""
    day = last_day - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


@dataclasses.dataclass(frozen=True, slots=True)
class DayCheck:
    """The failure-rate spike check of one day, as the demo's checks run recorded it.

    Attributes:
        day: the partition checked.
        passed: whether the check passed.
        severity: ``ERROR`` or ``WARN`` when it failed, None when it passed.
        flagged: the segments flagged (``carrier:MTN``, ...).
        reason: the check's sentence (the worst segment's, or the account's when it passed).
        run_id: the checks run.
    """

    day: date
    passed: bool
    severity: str | None
    flagged: tuple[str, ...]
    reason: str
    run_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo loaded.

    Attributes:
        first_day: first day backfilled.
        last_day: last day backfilled (yesterday in the account's time zone).
        messages: rows in ``smspresto.messages`` for those days.
        by_status: messages per status, over the whole table.
        daily: ``(day, messages, failed, failure rate or None)`` per day.
        counters: the account counters of the snapshot the demo took.
        run_ids: the Dagster runs the demo launched (archive, snapshot, views, daily summary).
        operator_message: the daily summary's outbox row for yesterday (its state, number and
            text); ``None`` if the campaign recorded none.
        spike_day: the day of the injected MTN spike (None when it falls before ``first_day``).
        checks: the failure-rate spike check of each day checked, oldest first.
        breaker: the circuit breaker after the checks, in words.
        alert: the SMS the alerting sensor sent the operator on call during this demo run (the
            outbox row of the trip's alert, told in the ledger); ``None`` if none was told.
    """

    first_day: date
    last_day: date
    messages: int
    by_status: dict[str, int]
    daily: list[tuple[date, int, int, float | None]]
    counters: dict[str, int]
    run_ids: tuple[str, ...]
    operator_message: OutboxRow | None
    spike_day: date | None = None
    checks: tuple[DayCheck, ...] = ()
    breaker: str = ""
    alert: OutboxRow | None = None


def _write_env_file(path: Path, values: Mapping[str, str]) -> None:
    lines = [
        "# Written by `smspresto demo`: the settings scripts/ui.sh opens the Dagster UI with.",
        *(f"{name}={value}" for name, value in sorted(values.items())),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _launch_run(
    *, job_name: str, tags: Mapping[str, str], env: Mapping[str, str], log: Path
) -> str:
    """Launch ``job_name`` from the code location with ``dagster job launch``; the run's id.

    The command returns once the run is submitted; the run goes on in a process the code
    location's server starts. Its output (and the run's console log) is appended to ``log``.
    """
    run_id = str(uuid.uuid4())
    # `python -m dagster` is the `dagster` command of this very environment.
    command = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "launch",
        "-m",
        _CODE_LOCATION,
        "-j",
        job_name,
        "--run-id",
        run_id,
        "--config-json",
        json.dumps(_RUN_CONFIG),
        "--tags",
        json.dumps(dict(tags)),
    ]
    _run_command(command, what=f"`dagster job launch` of {job_name}", env=env, log=log)
    return run_id


def _launch_backfill(
    *, job_name: str, days: list[date], tags: Mapping[str, str], env: Mapping[str, str], log: Path
) -> None:
    """Launch one run of the partitioned ``job_name`` per day with ``dagster job backfill``
    (the code location is loaded once for all of them); the runs carry ``tags``."""
    command = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "backfill",
        "-m",
        _CODE_LOCATION,
        "-j",
        job_name,
        "--partitions",
        ",".join(day.isoformat() for day in days),
        "--tags",
        json.dumps(dict(tags)),
        "--noprompt",
    ]
    _run_command(command, what=f"`dagster job backfill` of {job_name}", env=env, log=log)


def _run_command(command: list[str], *, what: str, env: Mapping[str, str], log: Path) -> None:
    """Run a command (``dagster job ...``, a sensor's tick) to its end, its output appended to
    ``log``; raise `DemoRunError` with the error lines of its output when it fails or takes too
    long. ``what`` names the command in that error."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        start = log.stat().st_size
        # A file, not a pipe: the code server and the run inherit it and outlive the command.
        try:
            code = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
                command,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=_LAUNCH_TIMEOUT,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    if code != 0:
        outcome = f"took over {_LAUNCH_TIMEOUT:.0f} s" if code is None else f"exited with {code}"
        with log.open("rb") as out:
            out.seek(start)
            lines = out.read().decode("utf-8", errors="replace").splitlines()
        # The exception lines say what went wrong; the tracebacks around them repeat each other.
        errors = dict.fromkeys(line for line in lines if _ERROR_LINE.match(line)) or lines[-20:]
        raise DemoRunError(
            f"{what} {outcome}:\n"
            + "\n".join(f"  {line}" for line in errors)
            + f"\nIts whole output is in {log}."
        )


def _tick_sensor(sensor: str, *, env: Mapping[str, str], log: Path) -> None:
    """Tick ``sensor`` once as the sensor daemon does (:mod:`smspresto_pipeline.demo_tick`), in
    a process of its own: the code location loads there with ``env``'s settings."""
    command = [sys.executable, "-m", "smspresto_pipeline.demo_tick", sensor]
    _run_command(command, what=f"the tick of the sensor {sensor}", env=env, log=log)


def _run_errors(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's failure events, oldest first: each message, then its error and their causes.

    Stack traces stay out (the UI shows them); an error repeated by a later event is shown once.
    """
    lines: list[str] = []
    failures = {
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.RUN_FAILURE,
        dg.DagsterEventType.ENGINE_EVENT,
    }
    for record in instance.all_logs(run_id, of_type=failures):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
            error = event.job_failure_data.error
        else:
            error = event.engine_event_data.error
            if error is None:
                continue  # an engine event without an error is the run's ordinary news
        lines.append(record.message)
        while error is not None:
            text = "  " + error.message.strip()
            if text not in lines:
                lines.append(text)
            error = error.cause
    return "\n".join(lines)


def _wait_for_run(instance: dg.DagsterInstance, run_id: str, job_name: str) -> None:
    """Return when the run succeeded; raise `DemoRunError` when it failed or took too long."""
    deadline = time.monotonic() + _RUN_TIMEOUT
    run = instance.get_run_by_id(run_id)
    while run is None or not run.is_finished:
        if time.monotonic() > deadline:
            status = "not recorded" if run is None else run.status.value
            raise DemoRunError(
                f"run {run_id} of {job_name} did not finish within {_RUN_TIMEOUT:.0f} s "
                f"(status: {status})"
            )
        time.sleep(0.2)
        run = instance.get_run_by_id(run_id)
    if run.status != dg.DagsterRunStatus.SUCCESS:
        raise DemoRunError(
            f"run {run_id} of {job_name} ended {run.status.value}; its errors:\n"
            f"{_run_errors(instance, run_id) or '(none recorded)'}\n"
            "Its whole log is in the Dagster UI (bash scripts/ui.sh, then Runs)."
        )


def _wait_for_runs(
    instance: dg.DagsterInstance, tags: Mapping[str, str], count: int, job_name: str
) -> list[dg.DagsterRun]:
    """The ``count`` runs tagged ``tags``, once each has succeeded (`_wait_for_run`)."""
    deadline = time.monotonic() + _RUN_TIMEOUT
    while True:
        runs = list(instance.get_runs(dg.RunsFilter(tags=dict(tags))))
        if len(runs) >= count:
            break
        if time.monotonic() > deadline:
            raise DemoRunError(
                f"{len(runs)} of the {plural(count, 'run')} of {job_name} "
                f"{'was' if len(runs) == 1 else 'were'} recorded within "
                f"{_RUN_TIMEOUT:.0f} s"
            )
        time.sleep(0.2)
    for run in runs:
        _wait_for_run(instance, run.run_id, job_name)
    return runs


def _spike_checks(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[DayCheck]:
    """The failure-rate spike check's evaluation in each of ``runs``, oldest day first."""
    checks = []
    for run in runs:
        for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            event = record.dagster_event
            data = event.event_specific_data if event is not None else None
            if not isinstance(data, dg.AssetCheckEvaluation) or data.partition is None:
                continue
            if data.check_name != FAILURE_SPIKE_CHECK:
                continue
            metadata = {key: value.value for key, value in data.metadata.items()}
            flagged = str(metadata.get("flagged_segments", "none"))
            checks.append(
                DayCheck(
                    day=date.fromisoformat(data.partition),
                    passed=data.passed,
                    severity=None if data.passed else data.severity.value,
                    flagged=() if flagged == "none" else tuple(flagged.split(", ")),
                    reason=str(metadata.get("reason", data.description or "")),
                    run_id=run.run_id,
                )
            )
    return sorted(checks, key=lambda check: check.day)


def _resume_earlier_pause(warehouse: Warehouse, console: Console) -> None:
    """End the pause an earlier demo run's spike left (as a person would, with a reason), so
    that this run's campaign can text the operator; this run's checks trip it again."""
    breaker = CircuitBreaker(warehouse)
    if breaker.state().tripped:
        breaker.resume(by="smspresto demo", reason="a new demo run")
        console.print("Resumed the campaigns an earlier demo run's spike check paused")


def _drop_stale_simulator(config: SimulatorConfig, first: date, last: date) -> None:
    # The simulator seeds its history once, when its file is new. A file left by a demo run on
    # an earlier day lacks the latest days: start afresh (seeding is deterministic per day, so
    # the days both runs cover hold the same messages).
    if not config.db_path.exists():
        return
    with run_simulator(config) as sim:
        stale = sim.message_count(first, first) == 0 or sim.message_count(last, last) == 0
    if stale:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{config.db_path}{suffix}").unlink(missing_ok=True)


def _read_summary(
    warehouse: Warehouse, first: date, last: date
) -> tuple[int, dict[str, int], list[tuple[date, int, int, float | None]], dict[str, int]]:
    with warehouse.connect(read_only=True) as con:
        by_status = {
            str(status): int(count)
            for status, count in con.execute(
                load_sql("reports/select_messages_by_status.sql")
            ).fetchall()
        }
        daily = [
            (day, int(messages), int(failed), None if rate is None else float(rate))
            for day, messages, failed, rate in con.execute(
                load_sql("reports/select_daily_failure_rate.sql")
            ).fetchall()
            if first <= day <= last
        ]
        snapshot = con.execute(load_sql("reports/select_latest_account_snapshot.sql"))
        names = [column[0] for column in snapshot.description or ()]
        row = snapshot.fetchone() or ()
        counters = {name: int(value) for name, value in zip(names, row, strict=False)}
    return sum(messages for _, messages, _, _ in daily), by_status, daily, counters


def _operator_message(warehouse: Warehouse, day: date) -> OutboxRow | None:
    """The daily summary campaign's outbox row for ``day`` (its key is the day)."""
    rows = Outbox(warehouse).rows(OUTBOX_STATES, campaign=_SUMMARY_CAMPAIGN)
    return next((row for row in rows if row.dedup_key == day.isoformat()), None)


def _operator_alert(warehouse: Warehouse, since: datetime) -> OutboxRow | None:
    """The outbox row of the SMS the alerting sensor sent to `DEMO_ALERT_NUMBER` for the newest
    event it told (the ledger's) since ``since``."""
    told = [
        delivery
        for delivery in AlertLedger(warehouse).in_state(SmsChannel.name, "delivered")
        if delivery.created_at >= utc_naive(since)
    ]
    if not told:
        return None
    key = f"{told[-1].event_key}|{DEMO_ALERT_NUMBER}"
    rows = Outbox(warehouse).rows(OUTBOX_STATES, campaign=ALERTS_CAMPAIGN)
    return next((row for row in rows if row.dedup_key == key), None)


def _print_summary(console: Console, summary: DemoSummary, data_dir: Path) -> None:
    console.print(
        f"[bold]{summary.messages:,}[/] messages from {summary.first_day} to "
        f"{summary.last_day} in {data_dir / 'smspresto_warehouse.duckdb'}"
    )
    statuses = Table("status", "messages", title="Messages per status")
    for status, count in summary.by_status.items():
        statuses.add_row(status, f"{count:,}")
    console.print(statuses)
    counters = Table("counter", "value", title="Account counters (latest snapshot)")
    for name, value in summary.counters.items():
        counters.add_row(name, f"{value:,}")
    console.print(counters)
    daily = Table("day", "messages", "failed", "failure rate", title="Failure rate per day")
    for day, messages, failed, rate in summary.daily:
        shown = "-" if rate is None else f"{rate:.1%}"
        style = "bold red" if rate is not None and rate >= 0.2 else None
        daily.add_row(day.isoformat(), f"{messages:,}", f"{failed:,}", shown, style=style)
    console.print(daily)
    row = summary.operator_message
    if row is None:
        console.print(f"[bold red]The {_SUMMARY_CAMPAIGN} campaign recorded no message[/]")
    else:
        console.print(
            f"Campaign {_SUMMARY_CAMPAIGN}: the message to the operator "
            f"({mask_number(row.recipient)}) is [bold]{row.state}[/]"
            + (f" ({row.skip_reason})" if row.skip_reason else "")
            + f": {escape(row.message)}"
        )
    if summary.spike_day is not None:
        console.print(
            f"The simulator injected a failure spike: {DEMO_SPIKE_SEGMENT} fails about "
            f"{_SPIKE_RATE:.0%} of its messages on {summary.spike_day}."
        )
    if summary.checks:
        checks = Table(
            "day",
            "verdict",
            "flagged",
            "reason",
            title=f"Failure-rate spike check ({CHECKS_JOB}, one run per day)",
        )
        for check in summary.checks:
            verdict = "passed" if check.passed else f"failed: {check.severity}"
            style = {"ERROR": "bold red", "WARN": "yellow"}.get(check.severity or "")
            checks.add_row(
                check.day.isoformat(),
                verdict,
                ", ".join(check.flagged) or "-",
                escape(check.reason),
                style=style,
            )
        console.print(checks)
    if summary.breaker:
        console.print(f"Circuit breaker: {escape(summary.breaker)}")
    alert = summary.alert
    if alert is None:
        # An ERROR trips the breaker, which needs a person: the sensor should have told one.
        if any(check.severity == "ERROR" for check in summary.checks):
            console.print(f"[bold red]The sensor {_ALERTS_SENSOR} told the operator nothing[/]")
    else:
        console.print(
            f"Alert: the sensor {_ALERTS_SENSOR} texted the operator on call "
            f"({mask_number(alert.recipient)}), [bold]{alert.state}[/]: {escape(alert.message)}"
        )
    console.print("Open the same runs and data in the Dagster UI: [bold]bash scripts/ui.sh[/]")


def run_demo(
    *,
    data_dir: Path = Path("data"),
    days: int = 30,
    messages_per_day: int = 300,
    console: Console | None = None,
) -> DemoSummary:
    """Run the demo end to end and print its summary; returns the figures it printed.

    Args:
        data_dir: where the simulator's SQLite file, the DuckDB file, the Dagster instance
            (``dagster_home/``), ``demo.env`` and ``launch.log`` (the output of the
            ``dagster job launch`` commands) live.
        days: how many days, ending yesterday, the backfill covers.
        messages_per_day: the simulator's average daily volume (used when it is first seeded).
        console: where to print (standard output by default).

    Returns:
        The figures of the summary.

    Raises:
        DemoRunError: a launch or a run failed (with the error that says why), a run did not
            finish in time, or ``dagster_project`` is not importable (an installed wheel, not a
            checkout).

    Example:
        .. code-block:: python

            from smspresto_pipeline.demo import run_demo

            summary = run_demo()
            print(summary.by_status)
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if importlib.util.find_spec(_CODE_LOCATION) is None:
        # The wheel carries the library only; the code location lives in the repository.
        raise DemoRunError(
            f"the demo runs the repository's own code location `{_CODE_LOCATION}`, which the "
            "installed package does not carry: run `bash scripts/demo.sh` in a clone of the "
            "repository"
        )
    console = console or Console(highlight=False)
    data_dir = data_dir.resolve()
    dagster_home = data_dir / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(_DAGSTER_YAML, encoding="utf-8")

    started = datetime.now(UTC)
    last_day = started.astimezone(ZoneInfo(_TIMEZONE)).date() - timedelta(days=1)
    first_day = last_day - timedelta(days=days - 1)
    config = SimulatorConfig(
        db_path=data_dir / "simulator.sqlite3",
        history_start=first_day,
        history_end=last_day,
        messages_per_day=messages_per_day,
        timezone=_TIMEZONE,
        # No periodic account-wide spike days: the one spike is the one injected below.
        spike_period=0,
    )
    spiked = spike_day(last_day)
    if spiked >= first_day:
        # The factor that takes MTN to _SPIKE_RATE on that day, from the simulator's own model
        # of the day's rates.
        rates = day_rates(config.seed, spiked, config.failure_rate)
        carrier = DEMO_SPIKE_SEGMENT.split(":", 1)[1]
        factor = _SPIKE_RATE / (rates.level * rates.carriers[carrier])
        config = dataclasses.replace(config, spikes=(Spike(spiked, DEMO_SPIKE_SEGMENT, factor),))
    checked_days = [
        last_day - timedelta(days=back)
        for back in reversed(range(_CHECKED_DAYS))
        if last_day - timedelta(days=back) >= first_day
    ]
    settings = {
        "DAGSTER_HOME": str(dagster_home),
        "SMSPRESTO_API_KEY": config.api_key,
        "SMSPRESTO_API_PASS": config.api_pass,
        "SMSPRESTO_DUCKDB_PATH": str(data_dir / "smspresto_warehouse.duckdb"),
        # The demo's warehouse is its file, whatever URL the shell may have exported.
        "SMSPRESTO_WAREHOUSE_URL": "",
        # The UI opened on the demo must not call the simulator every hour by itself.
        "SMSPRESTO_SCHEDULES": "stopped",
        "SMSPRESTO_START_DATE": first_day.isoformat(),
        "SMSPRESTO_TIMEZONE": _TIMEZONE,
        "SMSPRESTO_OPERATOR_NUMBER": DEMO_OPERATOR_NUMBER,
        # Switches the alerting sensor on (defs/alerts): the demo ticks it once, and the UI's
        # daemon (scripts/ui.sh) every minute; each event is told once.
        "SMSPRESTO_ALERT_NUMBERS": DEMO_ALERT_NUMBER,
        # The demo's alerts go to the simulator only, whatever webhook the shell may export.
        "SMSPRESTO_ALERT_WEBHOOK_URL": "",
    }
    _write_env_file(data_dir / "demo.env", settings)
    _drop_stale_simulator(config, first_day, last_day)
    log = data_dir / "launch.log"
    log.write_text("", encoding="utf-8")
    warehouse = Warehouse(settings["SMSPRESTO_DUCKDB_PATH"])
    _resume_earlier_pause(warehouse, console)
    steps = [
        (
            f"Backfilling archive_messages {first_day}...{last_day} in one run",
            "archive_messages_ingest_job",
            {
                PARTITION_RANGE_START_TAG: first_day.isoformat(),
                PARTITION_RANGE_END_TAG: last_day.isoformat(),
            },
        ),
        ("Taking an account snapshot", "account_snapshot_job", {}),
        ("Building the analytics views", "analytics_views_job", {}),
        # Yesterday's figures to the operator: one message a day, whatever the demo runs.
        (
            f"Texting yesterday's summary to the operator (campaign {_SUMMARY_CAMPAIGN})",
            f"{_SUMMARY_CAMPAIGN}_send",
            {},
        ),
    ]
    run_ids: list[str] = []
    # Opened first, so that the instance's storage exists before the launched processes use it.
    with (
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        run_simulator(config) as sim,
    ):
        console.print(f"Simulator serving {sim.base_url} ({config.db_path})")
        env = {**os.environ, **settings, "SMSPRESTO_BASE_URL": sim.base_url}
        for title, job_name, tags in steps:
            with console.status(title + "..."):
                run_id = _launch_run(job_name=job_name, tags=tags, env=env, log=log)
                _wait_for_run(instance, run_id, job_name)
            console.print(f"{title}: done (run {run_id[:8]})")
            run_ids.append(run_id)
        title = (
            f"Checking archive_messages for {checked_days[0]}...{checked_days[-1]} "
            f"(one run of {CHECKS_JOB} per day)"
        )
        with console.status(title + "..."):
            tags = {_CHECKS_TAG: str(uuid.uuid4())}
            _launch_backfill(job_name=CHECKS_JOB, days=checked_days, tags=tags, env=env, log=log)
            check_runs = _wait_for_runs(instance, tags, len(checked_days), CHECKS_JOB)
            checks = _spike_checks(instance, check_runs)
        console.print(f"{title}: done")
        # The trip above needs a person: the alerting sensor tells the operator on call.
        title = f"Ticking the alerting sensor {_ALERTS_SENSOR}"
        with console.status(title + "..."):
            _tick_sensor(_ALERTS_SENSOR, env=env, log=log)
        console.print(f"{title}: done")
    messages, by_status, daily, counters = _read_summary(warehouse, first_day, last_day)
    summary = DemoSummary(
        first_day,
        last_day,
        messages,
        by_status,
        daily,
        counters,
        tuple(run_ids),
        _operator_message(warehouse, last_day),
        spiked if spiked >= first_day else None,
        tuple(checks),
        CircuitBreaker(warehouse).state().describe(DAGSTER_RESUME_HINT),
        _operator_alert(warehouse, started),
    )
    _print_summary(console, summary, data_dir)
    return summary
