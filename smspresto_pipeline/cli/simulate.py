"""``smspresto simulate``: a local SMS Presto simulator."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import click
from rich.markup import escape

from smspresto_pipeline.cli.common import (
    EXIT_API_ERROR,
    err_console,
    out_console,
)
from smspresto_pipeline.simulator import (
    FAULT_KINDS,
    Fault,
    RunningSimulator,
    SimulatorConfig,
    Spike,
    serve,
)

#: The simulator's own defaults, shown by `simulate --help`.
_SIM = SimulatorConfig()


def _parse_faults(
    ctx: click.Context, param: click.Parameter, specs: tuple[str, ...]
) -> tuple[Fault, ...]:
    faults = []
    for spec in specs:
        try:
            faults.append(Fault.parse(spec))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return tuple(faults)


def _parse_spikes(
    ctx: click.Context, param: click.Parameter, specs: tuple[str, ...]
) -> tuple[Spike, ...]:
    try:
        return tuple(Spike.parse(spec) for spec in specs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=_SIM.db_path,
    show_default=True,
    help="SQLite state; seeded when new, kept across runs.",
)
@click.option("--seed", type=int, default=_SIM.seed, show_default=True, help="History's seed.")
@click.option(
    "--days", type=click.IntRange(min=1), help="Days of seeded history, ending --history-end."
)
@click.option("--history-start", type=click.DateTime(["%Y-%m-%d"]), help="First seeded day.")
@click.option(
    "--history-end", type=click.DateTime(["%Y-%m-%d"]), help="Last seeded day [default: yesterday]."
)
@click.option(
    "--messages-per-day",
    type=click.IntRange(min=0),
    default=_SIM.messages_per_day,
    show_default=True,
    help="Average seeded messages a day.",
)
@click.option(
    "--recipient-pool",
    type=click.IntRange(min=0),
    default=_SIM.recipient_pool,
    show_default=True,
    help="Distinct numbers the seeded history draws from; 0: every message a new number "
    "(a marketing list).",
)
@click.option(
    "--paging",
    type=click.Choice(["limit", "range"]),
    default=_SIM.paging,
    show_default=True,
    help="What list-archive's from/to mean: offset+count or start/end indexes.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_parse_faults,
    metavar="KIND[:COUNT][:KEY=VALUE]",
    help=f"Inject a fault (repeatable). Kinds: {', '.join(FAULT_KINDS)}.",
)
@click.option(
    "--spike",
    "spikes",
    multiple=True,
    callback=_parse_spikes,
    metavar="DAY[THH:MM]:SEGMENT:FACTOR",
    help="Seed a failure spike (repeatable): the segment's failure rate times FACTOR on DAY "
    "(from THH:MM on, when given); SEGMENT is all, sender:<name> or carrier:<name> (e.g. "
    "2025-03-10:carrier:MTN:4, 2025-03-10T10:00:carrier:MTN:4).",
)
@click.option(
    "--spike-period",
    type=click.IntRange(min=0),
    default=_SIM.spike_period,
    show_default=True,
    help="One seeded day in this many is an account-wide spike (30-40 % failed); 0: none.",
)
@click.option(
    "--delivery-delay",
    type=click.FloatRange(min=0),
    default=_SIM.delivery_delay,
    show_default=True,
    help="Seconds a new send stays pending.",
)
@click.option("--api-key", default=_SIM.api_key, show_default=True, help="Key the server accepts.")
@click.option(
    "--api-pass",
    default=_SIM.api_pass,
    show_default=False,
    help=f"Password the server accepts [default: the demo password, {_SIM.api_pass}].",
)
def simulate(
    host: str,
    port: int,
    db_path: Path,
    seed: int,
    days: int | None,
    history_start: datetime | None,
    history_end: datetime | None,
    messages_per_day: int,
    recipient_pool: int,
    paging: Literal["limit", "range"],
    faults: tuple[Fault, ...],
    spikes: tuple[Spike, ...],
    spike_period: int,
    delivery_delay: float,
    api_key: str,
    api_pass: str,
) -> None:
    """Run a local SMS Presto simulator (a real HTTP server) until Ctrl-C."""
    if days is not None and history_start is not None:
        raise click.UsageError("give --days or --history-start, not both")
    today = datetime.now(ZoneInfo(_SIM.timezone)).date()  # the account's day, not ours
    end = history_end.date() if history_end else today - timedelta(days=1)
    start = history_start.date() if history_start else None
    if days is not None:
        start = end - timedelta(days=days - 1)
    try:
        config = SimulatorConfig(
            db_path=db_path,
            api_key=api_key,
            api_pass=api_pass,
            seed=seed,
            history_start=start,
            history_end=end if history_end or start else None,
            messages_per_day=messages_per_day,
            recipient_pool=recipient_pool,
            paging=paging,
            delivery_delay=delivery_delay,
            faults=faults,
            spikes=spikes,
            spike_period=spike_period,
            host=host,
            port=port,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    db_path.parent.mkdir(parents=True, exist_ok=True)
    out = out_console()

    def ready(sim: RunningSimulator) -> None:
        shown_pass = api_pass if api_pass == _SIM.api_pass else "<the password given to --api-pass>"
        out.print(f"SMS Presto simulator on {sim.base_url} (state: {db_path})", markup=False)
        out.print("Point the client at it:")
        out.print(f"  export SMSPRESTO_BASE_URL={sim.base_url}", markup=False)
        out.print(f"  export SMSPRESTO_API_KEY={api_key}", markup=False)
        out.print(f"  export SMSPRESTO_API_PASS={shown_pass}", markup=False)
        out.print("Press Ctrl-C to stop.")
        sys.stdout.flush()

    try:
        serve(config, on_ready=ready)
    except (ValueError, OSError, RuntimeError) as exc:
        err_console().print(f"[red]Cannot start the simulator:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None
