"""``smspresto counters``: the ten account counters."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.table import Table

from smspresto_pipeline.cli.common import (
    Connection,
    api_errors,
    connection_options,
    out_console,
)

_COUNTER_LABELS: dict[str, str] = {
    "stock": "SMS in stock",
    "sent": "Sent",
    "success": "Delivered",
    "failed": "Failed",
    "contacts": "Contacts",
    "groups": "Groups",
    "orders": "Orders",
    "bills": "Bills",
    "scheduled": "Scheduled messages",
    "predefined": "Predefined messages",
}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@connection_options
def counters(connection: Connection, as_json: bool) -> None:
    """Show the ten account counters (stock, sent, delivered, failed, ...)."""
    with api_errors(connection), connection.client() as client:
        snapshot = client.get_counters()
    values = snapshot.as_dict()
    if as_json:
        click.echo(json.dumps({**values, "taken_at": snapshot.taken_at.isoformat()}))
        return
    out_console().print(_counters_table(values, snapshot.taken_at))


def _counters_table(values: dict[str, int], taken_at: datetime) -> Table:
    table = Table(title=f"Account counters at {taken_at:%Y-%m-%d %H:%M:%S %Z}".rstrip())
    table.add_column("Counter")
    table.add_column("Name", style="dim")
    table.add_column("Value", justify="right")
    for name, value in values.items():
        table.add_row(_COUNTER_LABELS.get(name, name), name, f"{value:,}")
    return table
