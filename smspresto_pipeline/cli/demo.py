"""``smspresto demo``: the whole pipeline against the bundled simulator."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from smspresto_pipeline.cli.common import EXIT_API_ERROR, err_console, out_console
from smspresto_pipeline.simulator import SimulatorConfig

#: The simulator's own defaults, shown by `demo --help`.
_SIM = SimulatorConfig()


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Where the simulator state, DuckDB file and Dagster instance live.",
)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option(
    "--messages-per-day",
    type=click.IntRange(min=0),
    default=_SIM.messages_per_day,
    show_default=True,
    help="Average seeded messages a day (when the simulator is first seeded).",
)
def demo(data_dir: Path, days: int, messages_per_day: int) -> None:
    """Run the whole pipeline against the bundled simulator and print what DuckDB holds.

    Starts the simulator, backfills DAYS days of history into DuckDB with Dagster, takes an
    account snapshot, builds the analytics views, then prints a summary. Safe to run again.
    """
    # Imported here: Dagster is slow to import and the other commands do not need it.
    from smspresto_pipeline.demo import DemoRunError, run_demo

    try:
        run_demo(
            data_dir=data_dir, days=days, messages_per_day=messages_per_day, console=out_console()
        )
    except DemoRunError as exc:
        err_console().print(f"[red]The demo stopped:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None
