"""The daily ingest's lookback: a status changed after the day was loaded is picked up by the
run the schedule requests the next day, and days outside its window are left alone."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START
from e2e_fixtures import load_project, project_env, warehouse_rows

from smspresto_pipeline.simulator import RunningSimulator

ABIDJAN = ZoneInfo("Africa/Abidjan")


def run_tick(defs: dg.Definitions, when: datetime, instance: dg.DagsterInstance) -> tuple[str, str]:
    """Evaluate the ingest schedule at ``when`` and execute the run it requests; its range."""
    (schedule,) = [s for s in defs.schedules or [] if s.name == "archive_messages_daily_ingest"]
    assert isinstance(schedule, dg.ScheduleDefinition)
    data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))
    (request,) = data.run_requests or []
    key_range = request.partition_key_range
    assert key_range is not None
    job = defs.resolve_job_def(schedule.job_name)
    result = job.execute_in_process(instance=instance, tags=request.tags)
    assert result.success
    return key_range.start, key_range.end


def delivered_on(rows: list[tuple[int, str | None, date]], day: date) -> int:
    return next(h for h, status, d in rows if d == day and status == "1")


@pytest.mark.slow
def test_late_status_change_is_picked_up_by_the_next_days_run(
    simulator: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = project_env(
        simulator,
        duckdb_path=tmp_path / "smspresto_warehouse.duckdb",
        dagster_home=tmp_path / "home",
        start_date=SIMULATOR_HISTORY_START,
    )
    defs = load_project(monkeypatch, env)
    duckdb_path = tmp_path / "smspresto_warehouse.duckdb"
    day_after_history = date.fromordinal(SIMULATOR_HISTORY_END.toordinal() + 1)
    with dg.instance_for_test() as instance:
        # 06:00 the day after the history ends: yesterday (the last day) and 3 days before.
        first_tick = datetime.combine(day_after_history, datetime.min.time(), ABIDJAN).replace(
            hour=6
        )
        assert run_tick(defs, first_tick, instance) == ("2025-03-07", "2025-03-10")
        loaded = warehouse_rows(duckdb_path, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)
        loaded_days = sorted({day for _, _, day in loaded})
        assert loaded_days == [
            date(2025, 3, 7),
            date(2025, 3, 8),
            date(2025, 3, 9),
            SIMULATOR_HISTORY_END,
        ]

        # Late delivery reports: one for a day the next tick re-reads (8 March), one for a
        # day that has left its window (7 March).
        inside = delivered_on(loaded, date(2025, 3, 8))
        outside = delivered_on(loaded, date(2025, 3, 7))
        simulator.set_status(inside, "2")
        simulator.set_status(outside, "2")

        second_tick = first_tick.replace(day=first_tick.day + 1)
        assert run_tick(defs, second_tick, instance) == ("2025-03-08", "2025-03-11")
        after = {
            h: status
            for h, status, _ in warehouse_rows(duckdb_path, date(2025, 3, 7), date(2025, 3, 11))
        }
        assert after[inside] == "2"
        assert after[outside] == "1"
        assert len(after) == len(loaded)
