"""End to end through Dagster's command line: ``dagster asset materialize -m dagster_project``
in separate processes, against the simulator over HTTP, into a DuckDB file."""

import json
import os
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, MakeSimulator
from e2e_fixtures import (
    RunningCommand,
    api_rows,
    initialise_instance,
    materialize_command,
    project_env,
    run,
    warehouse_rows,
)

from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

FIRST, LAST = SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END
RANGE = f"{FIRST.isoformat()}...{LAST.isoformat()}"
#: What a run logs when another process holds the warehouse's file: it waits for it.
LOCK_WAIT = r"is locked by .+ \(PID (?P<pid>\d+)\); waiting"
#: The run's steps in the run's own process: the kill and the lock tests look at what the
#: run writes, and spare two step processes a run (the asset's, its checks'). The first test
#: runs the README's command as it is, steps in processes of their own.
IN_PROCESS = ["--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})]


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


def stored_days(path: Path) -> set[date]:
    """The days the warehouse holds now (a run writing it is waited for, as by any reader)."""
    return {day for _, _, day in warehouse_rows(path, FIRST, LAST)}


@pytest.mark.slow
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
    # Five-row pages answered slowly, one day at a time: a day takes about six seconds, so once
    # a day is committed the kill lands while the next one is being read (at 40 messages a day
    # the run read its last day before a loaded machine's test saw the first one committed).
    with make_simulator(max_page_size=5, messages_per_day=120) as sim:
        slow = Fault("slow", count=100_000, actions=frozenset({"list-archive"}), delay=0.25)
        sim.add_fault(slow)
        env = env_for(sim, tmp_path, SMSPRESTO_MAX_CONCURRENT_DAYS="1")
        duckdb_path = tmp_path / "smspresto_warehouse.duckdb"
        # Made up front, so that the test can look into the file while the run writes it.
        Warehouse(duckdb_path).ensure_schema()
        days = [date.fromordinal(n) for n in range(FIRST.toordinal(), LAST.toordinal() + 1)]
        with RunningCommand(
            materialize_command(
                "--select", "archive_messages", "--partition-range", RANGE, *IN_PROCESS
            ),
            env,
            cwd=tmp_path,
        ) as materialize:
            materialize.wait_until(
                lambda: stored_days(duckdb_path),
                "a day committed to the warehouse",
                timeout=180,
                interval=0.25,
            )
            # And a page asked for since: the run is reading the next day.
            seen = archive_requests(sim)
            materialize.wait_until(
                lambda: archive_requests(sim) > seen, "the next day's reading", timeout=60
            )
            materialize.kill()
            code, _ = materialize.finish(30)
        assert code != 0
        # The run is dead: the server answers at once again (reading the API's rows through the
        # slow pages took ten seconds), for the test's reads and the rerun.
        sim.clear_faults()

        expected = api_rows(sim, FIRST, LAST)
        stored = warehouse_rows(duckdb_path, FIRST, LAST)
        stored_now = {day for _, _, day in stored}
        assert stored_now, "no day was committed before the kill"
        assert stored_now != set(days), "the kill came after the last day"
        # Every day present is whole: exactly the API's rows of that day.
        assert stored == [row for row in expected if row[2] in stored_now]

        run(
            materialize_command(
                "--select", "archive_messages", "--partition-range", RANGE, *IN_PROCESS
            ),
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
    ranges = (f"{FIRST}...{middle}", f"{date(2025, 3, 9)}...{LAST}")
    holder = duckdb.connect(str(duckdb_path))
    try:
        with (
            RunningCommand(
                materialize_command(
                    "--select", "archive_messages", "--partition-range", ranges[0], *IN_PROCESS
                ),
                env,
                cwd=tmp_path,
            ) as first_half,
            RunningCommand(
                materialize_command(
                    "--select", "archive_messages", "--partition-range", ranges[1], *IN_PROCESS
                ),
                env,
                cwd=tmp_path,
            ) as second_half,
        ):
            # The file is released only once both runs said they wait for it (a day fetched,
            # its write held back), naming the process that holds it: this one.
            deadline = time.monotonic() + 180
            for materialize in (first_half, second_half):
                wait = materialize.wait_for(
                    LOCK_WAIT, timeout=max(0.0, deadline - time.monotonic())
                )
                assert int(wait["pid"]) == os.getpid(), wait.string
                assert materialize.process.poll() is None, "the runs wait for the lock, not fail"
            holder.close()
            results = [materialize.finish(240) for materialize in (first_half, second_half)]
    finally:
        holder.close()
    for code, output in results:
        assert code == 0, output[-6000:]
        assert "lock obtained after waiting" in output, output[-6000:]
    stored = warehouse_rows(duckdb_path, FIRST, LAST)
    assert stored == api_rows(simulator, FIRST, LAST)
