"""End to end through Dagster's command line: ``dagster asset materialize -m dagster_project``
in separate processes, against the simulator over HTTP, into a DuckDB file."""

import re
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, MakeSimulator
from e2e_fixtures import (
    api_rows,
    finish,
    initialise_instance,
    kill_group,
    materialize_command,
    project_env,
    run,
    start,
    warehouse_rows,
)

from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

FIRST, LAST = SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END
RANGE = f"{FIRST.isoformat()}...{LAST.isoformat()}"


def env_for(sim: RunningSimulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    return project_env(
        sim,
        duckdb_path=tmp_path / "smspresto_warehouse.duckdb",
        dagster_home=tmp_path / "dagster_home",
        start_date=FIRST,
        extra=extra,
    )


def archive_requests(sim: RunningSimulator) -> int:
    return sum(1 for record in sim.requests if record.action == "list-archive")


def test_materialize_partition_range_stores_exactly_the_api_rows(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    env = env_for(simulator, tmp_path)
    output = run(
        materialize_command("--select", "archive_messages", "--partition-range", RANGE),
        env,
        cwd=tmp_path,
    )
    assert "RUN_SUCCESS" in output
    stored = warehouse_rows(tmp_path / "smspresto_warehouse.duckdb", FIRST, LAST)
    assert stored == api_rows(simulator, FIRST, LAST)
    assert len(stored) == simulator.message_count(FIRST, LAST) > 0
    # One run for the whole range: the log names every day once, in a single run.
    assert output.count("RUN_START") == 1


@pytest.mark.slow
def test_run_killed_mid_day_then_rerun_leaves_no_duplicate_and_no_half_day(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    # Five-row pages answered slowly, one day at a time: a day takes a few seconds, so the
    # kill lands in the middle of a day, after at least one day was committed.
    with make_simulator(max_page_size=5) as sim:
        slow = Fault("slow", count=100_000, actions=frozenset({"list-archive"}), delay=0.25)
        sim.add_fault(slow)
        env = env_for(sim, tmp_path, SMSPRESTO_MAX_CONCURRENT_DAYS="1")
        process = start(
            materialize_command("--select", "archive_messages", "--partition-range", RANGE),
            env,
            cwd=tmp_path,
        )
        # The most requests a day takes: its rows in pages of five, then the empty page.
        days = [date.fromordinal(n) for n in range(FIRST.toordinal(), LAST.toordinal() + 1)]
        most_pages = max(sim.message_count(day, day) for day in days) // 5 + 2
        deadline = time.monotonic() + 120
        try:
            while archive_requests(sim) < most_pages + 2:
                assert process.poll() is None, finish(process, 5)[1]
                assert time.monotonic() < deadline, "the run never got past its first day"
                time.sleep(0.05)
        finally:
            kill_group(process)
        code, _ = finish(process, 30)
        assert code != 0

        duckdb_path = tmp_path / "smspresto_warehouse.duckdb"
        expected = api_rows(sim, FIRST, LAST)
        stored = warehouse_rows(duckdb_path, FIRST, LAST)
        stored_days = {day for _, _, day in stored}
        assert stored_days, "no day was committed before the kill"
        assert stored_days != set(days), "the kill came after the last day"
        # Every day present is whole: exactly the API's rows of that day.
        assert stored == [row for row in expected if row[2] in stored_days]

        sim.clear_faults()
        run(
            materialize_command("--select", "archive_messages", "--partition-range", RANGE),
            env,
            cwd=tmp_path,
        )
        stored = warehouse_rows(duckdb_path, FIRST, LAST)
        assert stored == expected
        assert len({history_id for history_id, _, _ in stored}) == len(stored)


@pytest.mark.slow
def test_two_partition_runs_side_by_side_both_succeed(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Two runs and a third process (a notebook, say) holding the file: the runs fetch their
    days, wait for the lock instead of failing, and write everything once it is released."""
    env = env_for(simulator, tmp_path)
    initialise_instance(tmp_path / "dagster_home")
    duckdb_path = tmp_path / "smspresto_warehouse.duckdb"
    Warehouse(duckdb_path).ensure_schema()
    middle = date(2025, 3, 8)
    holder = duckdb.connect(str(duckdb_path))
    try:
        runs = [
            start(
                materialize_command(
                    "--select", "archive_messages", "--partition-range", f"{FIRST}...{middle}"
                ),
                env,
                cwd=tmp_path,
            ),
            start(
                materialize_command(
                    "--select",
                    "archive_messages",
                    "--partition-range",
                    f"{date(2025, 3, 9)}...{LAST}",
                ),
                env,
                cwd=tmp_path,
            ),
        ]
        # Every day asked of the API (at least one page each): the runs are writing, or about to.
        deadline = time.monotonic() + 120
        days = (LAST - FIRST).days + 1
        while archive_requests(simulator) < days and time.monotonic() < deadline:
            assert all(run.poll() is None for run in runs), "a run ended while the file was held"
            time.sleep(0.1)
        time.sleep(1.0)
        assert all(run.poll() is None for run in runs), "the runs wait for the lock, not fail"
    finally:
        holder.close()
    results = [finish(process, 240) for process in runs]
    for code, output in results:
        assert code == 0, output[-6000:]
        # The wait is in the run's event log, naming the process that held the file.
        assert re.search(r"is locked by .+ \(PID \d+\); waiting", output), output[-6000:]
        assert "lock obtained after waiting" in output
    stored = warehouse_rows(duckdb_path, FIRST, LAST)
    assert stored == api_rows(simulator, FIRST, LAST)
