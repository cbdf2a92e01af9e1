"""``smspresto segments``: how a text is billed."""

from __future__ import annotations

import dataclasses
import json
import sys

import click
from rich.table import Table

from smspresto_pipeline.cli.common import (
    out_console,
    show_char,
)
from smspresto_pipeline.sms import describe_text


@click.command()
@click.argument("message", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def segments(message: str | None, as_json: bool) -> None:
    """Show how MESSAGE (or standard input, less its final newline) is billed.

    Characters outside GSM 03.38 switch the whole text to UCS-2 (70 characters per SMS
    instead of 160); the output names them so they can be replaced.
    """
    if message is None and sys.stdin.isatty():
        raise click.UsageError("give MESSAGE, or pipe the text on standard input")
    if message is None or message == "-":
        # The newline that ends a file or an `echo` is not part of the message.
        text = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        text = message
    info = describe_text(text)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(info), ensure_ascii=False))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    unit = "septets" if info.encoding == "GSM-7" else "UTF-16 units"
    table.add_row("Encoding", info.encoding)
    table.add_row("Length", f"{info.length} {unit}")
    table.add_row("Segments", str(info.segments))
    table.add_row("Per segment", str(info.per_segment))
    table.add_row("Left in last segment", str(info.characters_left_in_last_segment))
    if info.non_gsm_chars:
        table.add_row("Forcing UCS-2", " ".join(show_char(ch) for ch in info.non_gsm_chars))
    out_console().print(table)
