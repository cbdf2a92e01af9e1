"""Helpers of the end-to-end tests: the code location's environment, Dagster's commands, rows.

Imported by name (``pythonpath = ["tests"]``) by the tests of every folder.
"""

import contextlib
import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import dagster as dg
import pytest
from rich.console import Console

import dagster_project
from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.demo import DemoSummary, run_demo
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

T = TypeVar("T")

#: Where the venv's console scripts (dagster, dagster-webserver) live.
BIN = Path(sys.executable).parent
#: The checkout's root.
ROOT = Path(__file__).resolve().parents[1]
#: The pinned uv that scripts/bootstrap.sh installs (the test command runs it first).
UV = ROOT / ".cache" / "bootstrap" / "bin" / "uv"


@dataclasses.dataclass(frozen=True)
class DemoTwice:
    """Two demo runs into ``data_dir`` (`run_demo_twice`): the session fixture ``demo_twice``
    (tests/conftest.py).

    The first is ``run_demo`` in the process that ran both (tests/demo_twice.py), the second the
    ``smspresto demo`` command (what ``scripts/demo.sh`` runs).
    """

    data_dir: Path
    first: DemoSummary
    printed: str
    """What the first run printed."""
    environ_before: dict[str, str]
    environ_after: dict[str, str]
    """``os.environ`` before and after the first run."""
    rows_after_first: list[tuple[int, str | None, date]]
    rows_after_second: list[tuple[int, str | None, date]]
    """``warehouse_rows`` of the demo's days after each run."""
    second_printed: str
    """What the command printed."""
    second_run_ids: tuple[str, ...]
    """The command's runs, job by job in the order of ``first.run_ids``."""


def base_env() -> dict[str, str]:
    """This process's environment without any ``SMSPRESTO_*`` or ``DAGSTER_*`` variable."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SMSPRESTO_", "DAGSTER_"))
    }


def quiet_dagster_home(path: Path) -> Path:
    """``path`` made a Dagster instance's home whose telemetry is off; ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return path


def project_env(
    sim: RunningSimulator | None,
    *,
    duckdb_path: Path,
    dagster_home: Path,
    start_date: date,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment the ``dagster_project`` code location runs with in a test."""
    env = base_env()
    env.update(
        DAGSTER_HOME=str(quiet_dagster_home(dagster_home)),
        SMSPRESTO_DUCKDB_PATH=str(duckdb_path),
        SMSPRESTO_START_DATE=start_date.isoformat(),
        SMSPRESTO_TIMEZONE="Africa/Abidjan",
        SMSPRESTO_SCHEDULES="stopped",
    )
    if sim is not None:
        env.update(
            SMSPRESTO_BASE_URL=sim.base_url,
            SMSPRESTO_API_KEY=sim.api_key,
            SMSPRESTO_API_PASS=sim.api_pass,
        )
    env.update(extra or {})
    return env


def uv(*args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
    """Run the bootstrap's ``uv ARGS`` in ``cwd``; its output. Fails the test on a non-zero exit.

    ``env`` defaults to `base_env`; either way uv never downloads a Python (the machine's
    ``python3`` serves) and trusts the system's certificates, as scripts/bootstrap.sh has it.
    """
    assert UV.exists(), "run scripts/bootstrap.sh first"
    environ = dict(base_env() if env is None else env)
    # An activated venv of this checkout must not become the one uv installs into.
    environ.pop("VIRTUAL_ENV", None)
    environ.update(UV_PYTHON_DOWNLOADS="never", UV_SYSTEM_CERTS="1")
    done = subprocess.run(
        [str(UV), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(out_dir: Path) -> Path:
    """This checkout's wheel, built into ``out_dir``; its path."""
    uv("build", "--wheel", "--quiet", "--out-dir", str(out_dir), cwd=ROOT)
    (wheel,) = out_dir.glob("smspresto_pipeline-*.whl")
    return wheel


def load_project(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> dg.Definitions:
    """The code location's definitions, loaded with ``env`` as its only ``SMSPRESTO_*`` settings.

    The project reads its settings (and the resources their secrets, at run time) from the
    process environment, as a deployment does: ``env`` goes there for the rest of the test.
    """
    for name in os.environ:
        if name.startswith("SMSPRESTO_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return dagster_project.code_location()


def initialise_instance(dagster_home: Path) -> None:
    """Create the instance's storage (SQLite, or PostgreSQL as deploy/dagster.yaml has it) up
    front, as any deployment has it.

    Two processes creating it at the same moment race on its schema version (alembic).
    """
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.upgrade()


def materialize_command(*selection_and_partitions: str) -> list[str]:
    """``dagster asset materialize -m dagster_project`` with the given options."""
    return [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "dagster_project",
        *selection_and_partitions,
    ]


def start(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``command`` in its own process group (so the whole group can be killed)."""
    return subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
    """Wait for ``process`` (killing its group after ``timeout`` seconds); code and output."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        output, _ = process.communicate()
        raise AssertionError(f"{process.args!r} did not finish in {timeout} s:\n{output}") from None
    return process.returncode, output


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL ``process`` and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run(command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 180) -> str:
    """Run ``command`` to the end; its output. Fails the test on a non-zero exit."""
    code, output = finish(start(command, env, cwd), timeout)
    assert code == 0, f"{command!r} exited with {code}:\n{output[-6000:]}"
    return output


class RunningCommand:
    """A command started in its own process group, its output read line by line as it comes.

    A background thread drains the pipe (so a chatty command never blocks on a full pipe) and
    keeps the lines, so a test can wait for what the command *did* (a line of its event log,
    or any other condition) instead of sleeping and hoping. Leaving the ``with`` block kills
    the command's group if it still runs.

    Example:
        .. code-block:: python

            with RunningCommand(materialize_command(...), env, cwd=tmp_path) as run:
                run.wait_for(r"is locked by .+; waiting", timeout=180)
                ...
                code, output = run.finish(timeout=240)
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.process = start(command, env, cwd)
        self._lines: list[str] = []
        self._ended = False  # the pipe reached its end: the command and its children closed it
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="e2e-output", daemon=True)
        self._reader.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.kill()
            self.process.wait()
        self._reader.join(timeout=30)

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    @property
    def output(self) -> str:
        """Everything the command printed so far (stdout and stderr)."""
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait for a line of output matching the regular expression ``pattern``; its match.

        Fails the test, with the output so far, when the command's output ends first or when
        no line matched within ``timeout`` seconds.
        """
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._changed:
            while True:
                for line in self._lines[checked:]:
                    if match := compiled.search(line):
                        return match
                checked = len(self._lines)
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    why = "its output ended" if self._ended else f"{timeout:g} s passed"
                    raise AssertionError(
                        f"awaited a line matching {pattern!r} from {self.process.args!r}, but "
                        f"{why} without one; output so far:\n{''.join(self._lines)[-6000:]}"
                    )
                self._changed.wait(left)

    def wait_until(
        self, condition: Callable[[], T], what: str, timeout: float, interval: float = 0.1
    ) -> T:
        """Poll ``condition`` until it returns something true while the command runs; that.

        Fails the test, naming ``what`` was awaited and with the output so far, when the
        command ends first or after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            if value := condition():
                return value
            if self.process.poll() is not None:
                raise AssertionError(
                    f"awaited {what}, but {self.process.args!r} ended (code "
                    f"{self.process.returncode}) first; output:\n{self.output[-6000:]}"
                )
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"awaited {what} for {timeout:g} s in vain; output so far:\n"
                    f"{self.output[-6000:]}"
                )
            time.sleep(interval)

    def kill(self) -> None:
        """SIGKILL the command and everything it started."""
        kill_group(self.process)

    def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for the command (killing its group after ``timeout`` seconds); code and output.

        Fails the test, with the output, when it did not end in time.
        """
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
            self._reader.join(timeout=30)
            raise AssertionError(
                f"{self.process.args!r} did not finish in {timeout:g} s:\n{self.output[-6000:]}"
            ) from None
        # The pipe ends once the children that inherited it are gone too.
        self._reader.join(timeout=30)
        if self._reader.is_alive():
            self.kill()
            self._reader.join(timeout=30)
        return self.process.returncode, self.output


def warehouse_rows(path: Path, first: date, last: date) -> list[tuple[int, str | None, date]]:
    """``(history_id, status_code, partition_date)`` of every stored message of the days."""
    with Warehouse(path).connect(read_only=True) as con:
        rows = con.execute(
            "SELECT history_id, status_code, partition_date FROM smspresto.messages "
            "WHERE partition_date BETWEEN ? AND ? ORDER BY history_id",
            [first, last],
        ).fetchall()
    return [(int(h), s, d) for h, s, d in rows]


def api_rows(sim: RunningSimulator, first: date, last: date) -> list[tuple[int, str | None, date]]:
    """The same triples, as the simulator's API serves them now, day by day."""
    rows: list[tuple[int, str | None, date]] = []
    with SMSPrestoClient(api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url) as c:
        day = first
        while day <= last:
            rows.extend((r.history_id, r.status_code, day) for r in c.iter_archive(day, day))
            day = date.fromordinal(day.toordinal() + 1)
    return sorted(rows)


def run_demo_twice(data_dir: Path, days: int, messages_per_day: int) -> DemoTwice:
    """The demo run twice into ``data_dir`` (``days`` days, ``messages_per_day`` a day): first
    `run_demo` in this process, then the ``smspresto demo`` command."""
    before = dict(os.environ)
    out = io.StringIO()
    first = run_demo(
        data_dir=data_dir,
        days=days,
        messages_per_day=messages_per_day,
        console=Console(file=out, width=100),
    )
    after = dict(os.environ)
    duckdb_path = data_dir / "smspresto_warehouse.duckdb"
    rows_after_first = warehouse_rows(duckdb_path, first.first_day, first.last_day)
    command = [str(BIN / "smspresto"), "demo", "--data-dir", str(data_dir), f"--days={days}"]
    printed = run(
        [*command, f"--messages-per-day={messages_per_day}"],
        {**base_env(), "COLUMNS": "120"},
        cwd=data_dir.parent,
        timeout=240,
    )
    rows_after_second = warehouse_rows(duckdb_path, first.first_day, first.last_day)
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        jobs = {run.run_id: run.job_name for run in instance.get_runs()}
    second_run_ids = tuple(
        next(i for i, job in jobs.items() if job == jobs[ran] and i not in first.run_ids)
        for ran in first.run_ids
    )
    return DemoTwice(
        data_dir,
        first,
        out.getvalue(),
        before,
        after,
        rows_after_first,
        rows_after_second,
        printed,
        second_run_ids,
    )
