"""``smspresto send``: one text to many numbers, opt-outs left out, after a confirmation."""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import Sequence
from typing import IO

import click
from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm
from rich.table import Table

from smspresto_pipeline.cli.common import (
    EXIT_API_ERROR,
    EXIT_BAD_INPUT,
    ChosenWarehouse,
    Connection,
    api_errors,
    connection_options,
    err_console,
    out_console,
    region_option,
    show_char,
    warehouse_errors,
    warehouse_options,
)
from smspresto_pipeline.sending import OptOuts
from smspresto_pipeline.sms import (
    describe_text,
    validate_send,
)
from smspresto_pipeline.wording import plural

#: How many recipients `send` lists before summarising the rest.
_SHOWN_RECIPIENTS = 20


def _decode_recipients(data: bytes) -> str:
    """A recipients file's text: UTF-8 with or without BOM, UTF-16 with BOM, else Latin-1.

    Spreadsheet exports come in all of these; Latin-1 reads any byte, so it goes last, and a
    file it would misread (NUL bytes: UTF-16 without a BOM) is refused with what to do.
    """
    text: str | None = None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        with contextlib.suppress(UnicodeDecodeError):
            text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if text is not None and "\x00" not in text:
        return text
    raise click.BadParameter(
        "cannot tell its encoding: save it as UTF-8 (or UTF-16 with a BOM, or Latin-1)",
        param_hint="'--recipients-file'",
    )


def _read_numbers(data: bytes) -> list[str]:
    """Numbers from a file: one per line, or separated by commas or semicolons; ``#`` comments."""
    numbers: list[str] = []
    for line in _decode_recipients(data).splitlines():
        content = line.split("#", 1)[0]
        numbers.extend(n.strip() for n in content.replace(";", ",").split(",") if n.strip())
    return numbers


@click.command()
@click.argument("sender")
@click.argument("message")
@click.argument("recipient", nargs=-1)
@click.option(
    "--recipients-file",
    type=click.File("rb"),
    help="More recipients: one number per line (or comma-separated); '-' reads stdin. UTF-8 "
    "(with or without BOM), UTF-16 with BOM, or Latin-1.",
)
@region_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Validate and count, send nothing.")
@warehouse_options
@connection_options
def send(
    connection: Connection,
    sender: str,
    message: str,
    recipient: tuple[str, ...],
    recipients_file: IO[bytes] | None,
    region: str,
    yes: bool,
    dry_run: bool,
    warehouse: ChosenWarehouse,
) -> None:
    """Send MESSAGE from SENDER to each RECIPIENT (one text, many numbers).

    Numbers are normalised to E.164 and de-duplicated; opted-out numbers (the opt-outs of the
    warehouse, --warehouse or --duckdb; a file that does not exist holds none) are left out, and
    if none remain nothing is sent (exit code 2). The command shows the cost in segments and
    asks before sending. Exit code 3 means the send may or may not have been accepted: check the
    archive before sending again.
    """
    numbers = list(recipient) + (_read_numbers(recipients_file.read()) if recipients_file else [])
    out = out_console()
    with api_errors(connection):
        sender, message, recipients = validate_send(sender, message, numbers, region)
    recipients = _drop_opted_out(out, recipients, warehouse)
    # Built before anything is shown: missing settings exit 2 up front (no request yet).
    client = None if dry_run else connection.client(region=region)
    info = describe_text(message)
    total = info.segments * len(recipients)
    out.print(_send_summary(sender, recipients, info.encoding, info.segments, total))
    if info.non_gsm_chars:
        chars = " ".join(show_char(ch) for ch in info.non_gsm_chars)
        out.print(f"UCS-2 because of: {chars}", markup=False)
    if client is None:
        out.print("Dry run: nothing sent.")
        return
    question = f"Send {len(recipients)} SMS ({plural(total, 'segment')})?"
    if not yes and not _confirm(out, question):
        out.print("Nothing sent.")
        client.close()
        raise click.exceptions.Exit(EXIT_API_ERROR)
    with api_errors(connection), client:
        result = client.send_sms(sender, recipients, message)
    out.print(
        f"[green]Sent.[/] {escape(result.api_message)} (message-count {result.message_count}, "
        f"{plural(result.batches, 'request')})"
    )


def _drop_opted_out(
    out: Console, recipients: tuple[str, ...], warehouse: ChosenWarehouse
) -> tuple[str, ...]:
    """``recipients`` less the opted-out numbers, saying how many were dropped; exit 2 when
    none remain."""
    store = warehouse.open()
    with warehouse_errors(warehouse):
        opted_out = OptOuts(store).opted_out(recipients)
    if not opted_out:
        return recipients
    kept = tuple(r for r in recipients if r not in opted_out)
    dropped = [r for r in recipients if r in opted_out]
    out.print(
        f"Dropped {plural(len(dropped), 'opted-out recipient')}: {', '.join(dropped)}",
        markup=False,
    )
    if not kept:
        err_console().print("Every recipient has opted out: nothing sent.")
        raise click.exceptions.Exit(EXIT_BAD_INPUT)
    return kept


def _send_summary(
    sender: str, recipients: Sequence[str], encoding: str, per_message: int, total: int
) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    shown = ", ".join(recipients[:_SHOWN_RECIPIENTS])
    if len(recipients) > _SHOWN_RECIPIENTS:
        shown += f" … and {len(recipients) - _SHOWN_RECIPIENTS} more"
    table.add_row("Sender", sender)
    table.add_row("Recipients", f"{len(recipients)}: {shown}")
    table.add_row("Encoding", encoding)
    table.add_row("Segments per message", str(per_message))
    table.add_row("Total cost", plural(total, "segment"))
    return table


def _confirm(console: Console, question: str) -> bool:
    try:
        return Confirm.ask(question, console=console, default=False)
    except EOFError:  # no answer on a closed stdin: do not send
        return False
