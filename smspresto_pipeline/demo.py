"""The headless demo: the simulator, a month of history in DuckDB through Dagster, a summary.

`run_demo` starts the bundled simulator (its SQLite file under ``data/``), backfills the last
30 days of ``archive_messages`` in one run, takes an account snapshot, builds the analytics
views and prints what DuckDB now holds. Runs are recorded in a persistent Dagster instance
(``data/dagster_home``), and ``data/demo.env`` keeps the settings, so that ``scripts/ui.sh``
opens the Dagster UI on the same runs and data. Running it again gives the same tables: every
day is rewritten in one transaction, and only a new account snapshot row is added.
"""

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from rich.console import Console
from rich.table import Table

from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.simulator import SimulatorConfig, run_simulator
from smspresto_pipeline.warehouse import Warehouse, sql_dir

__all__ = ["DemoSummary", "run_demo"]

_TIMEZONE = "Africa/Abidjan"
_DAGSTER_YAML = "telemetry:\n  enabled: false\n"
# The runs' full logs go to the Dagster instance (the UI shows them); the terminal gets a summary.
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


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
        run_ids: the Dagster runs the demo launched (archive, snapshot, views).
    """

    first_day: date
    last_day: date
    messages: int
    by_status: dict[str, int]
    daily: list[tuple[date, int, int, float | None]]
    counters: dict[str, int]
    run_ids: tuple[str, ...]


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    # Dagster resolves dg.EnvVar from the process environment when a run starts.
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _write_env_file(path: Path, values: Mapping[str, str]) -> None:
    lines = [
        "# Written by `smspresto demo`: the settings scripts/ui.sh opens the Dagster UI with.",
        *(f"{name}={value}" for name, value in sorted(values.items())),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    reports = sql_dir() / "reports"
    with warehouse.connect(read_only=True) as con:
        by_status = {
            str(status): int(count)
            for status, count in con.execute(
                (reports / "select_messages_by_status.sql").read_text(encoding="utf-8")
            ).fetchall()
        }
        daily = [
            (day, int(messages), int(failed), None if rate is None else float(rate))
            for day, messages, failed, rate in con.execute(
                (reports / "select_daily_failure_rate.sql").read_text(encoding="utf-8")
            ).fetchall()
            if first <= day <= last
        ]
        snapshot = con.execute(
            (reports / "select_latest_account_snapshot.sql").read_text(encoding="utf-8")
        )
        names = [column[0] for column in snapshot.description or ()]
        row = snapshot.fetchone() or ()
        counters = {name: int(value) for name, value in zip(names, row, strict=False)}
    return sum(messages for _, messages, _, _ in daily), by_status, daily, counters


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
            (``dagster_home/``) and ``demo.env`` live.
        days: how many days, ending yesterday, the backfill covers.
        messages_per_day: the simulator's average daily volume (used when it is first seeded).
        console: where to print (standard output by default).

    Returns:
        The figures of the summary.

    Example:
        .. code-block:: python

            from smspresto_pipeline.demo import run_demo

            summary = run_demo()
            print(summary.by_status)
    """
    # Imported here: the deployable project imports this library, not the other way round.
    from dagster_project.definitions import defs as load_definitions

    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    console = console or Console(highlight=False)
    data_dir = data_dir.resolve()
    dagster_home = data_dir / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    dagster_yaml = dagster_home / "dagster.yaml"
    if not dagster_yaml.exists():
        dagster_yaml.write_text(_DAGSTER_YAML, encoding="utf-8")

    last_day = datetime.now(ZoneInfo(_TIMEZONE)).date() - timedelta(days=1)
    first_day = last_day - timedelta(days=days - 1)
    config = SimulatorConfig(
        db_path=data_dir / "simulator.sqlite3",
        history_start=first_day,
        history_end=last_day,
        messages_per_day=messages_per_day,
        timezone=_TIMEZONE,
    )
    settings = {
        "DAGSTER_HOME": str(dagster_home),
        "SMSPRESTO_API_KEY": config.api_key,
        "SMSPRESTO_API_PASS": config.api_pass,
        "SMSPRESTO_DUCKDB_PATH": str(data_dir / "smspresto_warehouse.duckdb"),
        "SMSPRESTO_START_DATE": first_day.isoformat(),
        "SMSPRESTO_TIMEZONE": _TIMEZONE,
    }
    _write_env_file(data_dir / "demo.env", settings)
    _drop_stale_simulator(config, first_day, last_day)
    with (
        run_simulator(config) as sim,
        _environment({**settings, "SMSPRESTO_BASE_URL": sim.base_url}),
    ):
        console.print(f"Simulator serving {sim.base_url} ({config.db_path})")
        defs = load_definitions()
        run_ids: list[str] = []
        with dg.DagsterInstance.get() as instance:
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
            ]
            for title, job_name, tags in steps:
                with console.status(title + "..."):
                    result = defs.resolve_job_def(job_name).execute_in_process(
                        run_config=_QUIET, instance=instance, tags=tags, raise_on_error=True
                    )
                console.print(f"{title}: done (run {result.run_id[:8]})")
                run_ids.append(result.run_id)
    messages, by_status, daily, counters = _read_summary(
        Warehouse(settings["SMSPRESTO_DUCKDB_PATH"]), first_day, last_day
    )
    summary = DemoSummary(first_day, last_day, messages, by_status, daily, counters, tuple(run_ids))
    _print_summary(console, summary, data_dir)
    return summary
