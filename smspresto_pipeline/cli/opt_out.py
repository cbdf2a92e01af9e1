"""``smspresto opt-out``: numbers that must never be messaged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
from rich.table import Table

from smspresto_pipeline.cli.common import (
    ChosenWarehouse,
    api_errors,
    out_console,
    region_option,
    warehouse_errors,
    warehouse_options,
)
from smspresto_pipeline.sending import OptOutChange, OptOuts
from smspresto_pipeline.wording import plural


@click.group("opt-out")
def opt_out() -> None:
    """Numbers that must never be messaged: add, remove, list, import STOP replies.

    They are kept in the warehouse (table smspresto.opt_outs; --warehouse or --duckdb):
    `smspresto send` leaves them out, and campaigns read the same table.
    """


def _print_change(change: OptOutChange, done: str, unchanged: str) -> None:
    out = out_console()
    out.print(f"{done} ({len(change.changed)}): {', '.join(change.changed) or '-'}", markup=False)
    if change.unchanged:
        out.print(f"{unchanged} ({len(change.unchanged)}): {', '.join(change.unchanged)}")


@opt_out.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--reason", help="Why (kept with the number).")
@region_option
@warehouse_options
def opt_out_add(
    numbers: tuple[str, ...], reason: str | None, region: str, warehouse: ChosenWarehouse
) -> None:
    """Opt NUMBERS out: no send will reach them. Invalid numbers are all listed, none added."""
    store = warehouse.open()
    with api_errors(), warehouse_errors(warehouse):
        change = OptOuts(store, region=region).add(numbers, reason=reason, source="cli")
    _print_change(change, "Opted out", "Already opted out")


@opt_out.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@region_option
@warehouse_options
def opt_out_remove(numbers: tuple[str, ...], region: str, warehouse: ChosenWarehouse) -> None:
    """Opt NUMBERS back in."""
    store = warehouse.open(must_exist=True)
    with api_errors(), warehouse_errors(warehouse):
        change = OptOuts(store, region=region).remove(numbers)
    _print_change(change, "Removed", "Were not opted out")


@opt_out.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@warehouse_options
def opt_out_list(as_json: bool, warehouse: ChosenWarehouse) -> None:
    """List the opted-out numbers, oldest first (times in UTC)."""
    store = warehouse.open(must_exist=True)
    with warehouse_errors(warehouse):
        entries = OptOuts(store).entries()
    if as_json:
        rows = [{**dataclasses.asdict(e), "created_at": e.created_at.isoformat()} for e in entries]
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not entries:
        out_console().print(f"No opt-outs in {warehouse}.", markup=False)
        return
    table = Table(title=f"{plural(len(entries), 'opted-out number')}")
    for column in ("Number", "Reason", "Source", "Since (UTC)"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.recipient, e.reason or "", e.source or "", f"{e.created_at:%Y-%m-%d %H:%M}")
    out_console().print(table)


@opt_out.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--phone-column", help="The phone number's column (default: found by name).")
@click.option("--text-column", help="The reply text's column (default: found by name).")
@region_option
@warehouse_options
def opt_out_import(
    file: Path,
    phone_column: str | None,
    text_column: str | None,
    region: str,
    warehouse: ChosenWarehouse,
) -> None:
    """Opt out the senders of STOP replies in FILE, a CSV with a header row.

    A reply is a stop request when its whole text is STOP, ARRET, ARRÊT, STOP SMS,
    UNSUBSCRIBE, DESABONNER... in any case, with or without accents and punctuation. The
    columns are found by name (phone, numero, from... and message, text, texte...) unless given.
    """
    opt_outs = OptOuts(warehouse.open(), region=region)
    with warehouse_errors(warehouse):
        try:
            result = opt_outs.import_replies(
                file, phone_column=phone_column, text_column=text_column
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="FILE") from None
    out = out_console()
    out.print(
        f"Added {len(result.added)}, already opted out {len(result.already)}, "
        f"invalid {len(result.invalid)}, other replies {result.ignored}.",
        markup=False,
    )
    for problem in result.invalid:
        out.print(f"  - {problem}", markup=False)
