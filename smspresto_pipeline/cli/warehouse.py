"""``smspresto warehouse``: the warehouse as a whole; ``copy`` moves it between engines."""

from __future__ import annotations

from urllib.parse import urlsplit

import click
from rich.markup import escape
from rich.table import Table

from smspresto_pipeline.api.redaction import Redactor
from smspresto_pipeline.cli.common import EXIT_API_ERROR, err_console, out_console
from smspresto_pipeline.storage import (
    STORAGE_ERRORS,
    CopyVerificationError,
    WarehouseNotEmptyError,
    WarehousePathError,
    WarehouseTarget,
    parse_target,
)
from smspresto_pipeline.storage.copy import (
    DEFAULT_BATCH_ROWS,
    CopiedTable,
    CopyReport,
    copy_warehouse,
)
from smspresto_pipeline.warehouse import Warehouse
from smspresto_pipeline.wording import plural


@click.group("warehouse")
def warehouse() -> None:
    """The warehouse as a whole: copy it between a DuckDB file and PostgreSQL."""


def _target(value: str, name: str) -> WarehouseTarget:
    """The warehouse ``value`` names, or exit 2 naming the argument (the URL redacted)."""
    try:
        return parse_target(value)
    except ValueError as error:  # its message shows the URL redacted
        raise click.BadParameter(str(error), param_hint=name) from None


def _same(a: WarehouseTarget, b: WarehouseTarget) -> bool:
    if a.path is not None and b.path is not None:
        return a.path.resolve() == b.path.resolve()
    return a.display == b.display


def _passwords(*targets: WarehouseTarget) -> Redactor:
    """Scrubs both URLs' passwords from a message (the engines scrub their own already; a
    message of one engine could still quote the other's URL)."""
    return Redactor(*(urlsplit(t.url).password or "" for t in targets if t.url is not None))


@warehouse.command("copy")
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET")
@click.option(
    "--replace",
    is_flag=True,
    help="Empty TARGET's tables first, in the same transaction as the copy. Without it, a "
    "TARGET whose tables hold rows is refused (exit 1) and left as it was.",
)
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_ROWS,
    show_default=True,
    help="Rows read and loaded at a time (memory grows with it, never with a table's size).",
)
def warehouse_copy(source: str, target: str, replace: bool, batch_rows: int) -> None:
    """Copy every table of the warehouse SOURCE into TARGET, verify them, create the views.

    SOURCE and TARGET are each a DuckDB file (a path, or duckdb:///path) or a PostgreSQL
    database (postgresql://user:password@host:5432/dbname); either way, and file to file or
    server to server. Write a URL as "$SMSPRESTO_WAREHOUSE_URL" (the shell's history keeps the
    variable's name, not the password) or leave its password to PGPASSWORD or ~/.pgpass; it is
    shown as *** in every message.

    Every table of the schema smspresto is copied (history, snapshots, outbox, opt-outs,
    activations, pauses, surges) in batches, in one transaction on TARGET, whose schema is
    created when missing; each table's row count and keys are checked against SOURCE before it
    commits, and a copy that fails leaves TARGET as it was. The analytics views are created on
    TARGET. Stop the campaigns' sensors and the schedules first (README: moving a warehouse).

    Exit codes: 0 copied and verified; 1 TARGET holds rows (without --replace), or the copy
    failed or differed (TARGET left as it was), or a warehouse could not be opened; 2 a bad
    argument: not a warehouse, SOURCE missing, SOURCE and TARGET the same.
    """
    source_at, target_at = _target(source, "SOURCE"), _target(target, "TARGET")
    if _same(source_at, target_at):
        raise click.BadParameter(
            f"SOURCE and TARGET are the same warehouse ({source_at})", param_hint="TARGET"
        )
    redact = _passwords(source_at, target_at)
    err = err_console()
    try:
        reading, writing = Warehouse(source_at), Warehouse(target_at)
        there = reading.database.exists()
        if there:
            writing.check()
    except WarehousePathError as error:
        raise click.BadParameter(redact(str(error)), param_hint="TARGET") from None
    except STORAGE_ERRORS as error:
        err.print(f"[red]Cannot open a warehouse:[/] {escape(redact(str(error)))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None
    if not there:
        raise click.BadParameter(
            f"no warehouse at {source_at}: nothing was read or written", param_hint="SOURCE"
        )
    out = out_console()
    out.print(f"Copying {source_at} into {target_at}", markup=False)

    def copied(table: CopiedTable) -> None:
        out.print(
            f"  {table.name}: {plural(table.rows, 'row')} copied and verified "
            f"({table.seconds:.1f} s)",
            markup=False,
        )

    try:
        report = copy_warehouse(
            reading.database,
            writing.database,
            replace=replace,
            batch_rows=batch_rows,
            on_table=copied,
        )
    except WarehouseNotEmptyError as error:
        err.print(f"[red]{escape(str(target_at))} is not empty:[/]", highlight=False)
        for table, rows in error.rows.items():
            err.print(f"  {table}: {plural(rows, 'row')}", markup=False)
        err.print(
            "Nothing was copied. --replace empties its tables first, in the same transaction."
        )
        raise click.exceptions.Exit(EXIT_API_ERROR) from None
    except CopyVerificationError as error:
        err.print(
            f"[red]The copy of {escape(error.table)} differs from the source:[/] "
            f"{escape(redact(str(error)))}\n{escape(str(target_at))} was left as it was."
        )
        raise click.exceptions.Exit(EXIT_API_ERROR) from None
    except STORAGE_ERRORS as error:
        err.print(
            f"[red]The copy failed:[/] {escape(redact(str(error)))}\n"
            f"{escape(str(target_at))} was left as it was."
        )
        raise click.exceptions.Exit(EXIT_API_ERROR) from None
    _print_report(report)


def _print_report(report: CopyReport) -> None:
    table = Table(title=f"Copied {plural(report.rows, 'row')} in {report.seconds:.1f} s")
    for column, justify in (("Table", "left"), ("Rows", "right"), ("Key verified", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for copied in report.tables:
        table.add_row(copied.name, f"{copied.rows:,}", ", ".join(copied.key))
    out = out_console()
    out.print(table)
    if report.emptied:
        emptied = ", ".join(f"{name} ({rows:,})" for name, rows in report.emptied.items())
        out.print(f"Emptied first (--replace): {emptied}", markup=False)
    out.print(f"Views created: {', '.join(report.views) or '-'}", markup=False)
