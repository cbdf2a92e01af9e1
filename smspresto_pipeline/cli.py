"""The ``smspresto`` command: run the simulator, read counters, send, export the archive,
keep the opt-out list, pause and resume the campaigns.

Exit codes (every subcommand)::

    0  done
    1  the API or the DuckDB file refused or failed (or the user declined the confirmation)
    2  bad input, caught before any request was made
    3  a send may or may not have been accepted: check the archive before sending again

Connection settings come from ``--base-url``/``--api-key``/``--api-pass`` or the environment
(``SMSPRESTO_BASE_URL``, ``SMSPRESTO_API_KEY``, ``SMSPRESTO_API_PASS``); the base URL defaults to
the public API's, so the key and the password are all an account needs. The password is never
printed: not in help (no default shown), not in errors (they go through a `Redactor`).

Opt-outs live in the warehouse's DuckDB file (``--duckdb``, or ``SMSPRESTO_DUCKDB_PATH``, or
``data/smspresto_warehouse.duckdb``): ``opt-out`` edits them and ``send`` leaves those numbers out.
The same file holds the campaigns' circuit breaker: ``campaigns status`` shows it (and each
campaign's activation and outbox rows by state), ``campaigns resume`` and ``campaigns pause``
are a person's hand on it. Those commands, ``opt-out list`` and ``opt-out remove`` exit 2 when
the file does not exist (and create none); ``send`` and ``opt-out add`` do not need it to.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

import click
import duckdb
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm
from rich.table import Table

from smspresto_pipeline.api.client import DEFAULT_BASE_URL, SMSPrestoClient
from smspresto_pipeline.api.models import ARCHIVE_FIELDS, ArchiveRecord
from smspresto_pipeline.api.redaction import Redactor
from smspresto_pipeline.errors import AmbiguousSendError, SMSPrestoError, SMSValidationError
from smspresto_pipeline.sending import (
    CampaignActivations,
    CampaignOverview,
    CircuitBreaker,
    OptOutChange,
    OptOuts,
    Trip,
)
from smspresto_pipeline.simulator import (
    FAULT_KINDS,
    Fault,
    RunningSimulator,
    SimulatorConfig,
    Spike,
    serve,
)
from smspresto_pipeline.sms import (
    describe_text,
    normalize_recipients,
    validate_message,
    validate_sender,
)
from smspresto_pipeline.warehouse import (
    Warehouse,
    WarehouseLockedError,
    WarehouseOpenError,
    WarehouseSchemaError,
)
from smspresto_pipeline.wording import plural

__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "EXIT_AMBIGUOUS",
    "EXIT_API_ERROR",
    "EXIT_BAD_INPUT",
    "cli",
    "main",
]

EXIT_API_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_AMBIGUOUS = 3

#: How many recipients `send` lists before summarising the rest.
_SHOWN_RECIPIENTS = 20

#: The warehouse's DuckDB file when neither --duckdb nor SMSPRESTO_DUCKDB_PATH says otherwise.
DEFAULT_DUCKDB_PATH = Path("data") / "smspresto_warehouse.duckdb"

F = TypeVar("F", bound=Callable[..., Any])

#: The simulator's own defaults, shown by `simulate --help`.
_SIM = SimulatorConfig()


def _out() -> Console:
    # Built per call: click's test runner swaps sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where and how to reach the API; the password stays out of the repr."""

    base_url: str
    api_key: str | None
    api_pass: str | None = dataclasses.field(repr=False)

    @property
    def redact(self) -> Redactor:
        """Scrubs the password from any text shown to the user."""
        return Redactor(self.api_pass or "")

    def client(self, *, region: str = "CI") -> SMSPrestoClient:
        """Build a client, or exit 2 naming the missing setting."""
        api_key, api_pass = self.api_key, self.api_pass
        if not (api_key and api_pass):
            missing = [
                f"{flag} (or {env})"
                for value, flag, env in (
                    (api_key, "--api-key", "SMSPRESTO_API_KEY"),
                    (api_pass, "--api-pass", "SMSPRESTO_API_PASS"),
                )
                if not value
            ]
            raise click.UsageError("missing connection settings: " + ", ".join(missing))
        return SMSPrestoClient(
            api_key=api_key,
            api_pass=api_pass,
            base_url=self.base_url,
            default_region=region,
        )


def connection_options(func: F) -> F:
    """Add ``--base-url``, ``--api-key``, ``--api-pass`` and pass them as ``connection``."""

    @click.option(
        "--base-url",
        envvar="SMSPRESTO_BASE_URL",
        show_envvar=True,
        default=DEFAULT_BASE_URL,
        show_default=True,
        help="API base URL (a simulator's: http://127.0.0.1:8000/console/api/).",
    )
    @click.option("--api-key", envvar="SMSPRESTO_API_KEY", show_envvar=True, help="API key.")
    @click.option(
        "--api-pass",
        envvar="SMSPRESTO_API_PASS",
        show_envvar=True,
        show_default=False,
        help="Account password (prefer the environment variable: it stays out of shell history).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any, base_url: str, api_key: str | None, api_pass: str | None, **kw: Any
    ) -> Any:
        return func(*args, connection=Connection(base_url, api_key, api_pass), **kw)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _api_errors(connection: Connection | None = None) -> Iterator[None]:
    """Turn library errors into a redacted message on stderr and the documented exit code."""
    redact = connection.redact if connection is not None else Redactor()
    err = _err()
    try:
        yield
    except SMSValidationError as exc:
        err.print(f"[red]Invalid input:[/] {escape(redact(str(exc)))}")
        for problem in exc.problems if len(exc.problems) > 1 else ():
            err.print(f"  - {redact(problem)}", markup=False)
        raise click.exceptions.Exit(EXIT_BAD_INPUT) from None
    except AmbiguousSendError as exc:
        err.print(
            "[bold yellow]The send may or may not have been accepted:[/] "
            + escape(redact(str(exc)))
        )
        if exc.recipients:
            err.print(f"Recipients of unknown fate: {', '.join(exc.recipients)}", markup=False)
        _print_batches(err, exc)
        err.print(
            "Check the archive (smspresto archive --from <today> --to <today>) "
            "before sending again, or they may receive it twice."
        )
        raise click.exceptions.Exit(EXIT_AMBIGUOUS) from None
    except SMSPrestoError as exc:
        err.print(f"[red]SMS Presto error:[/] {escape(redact(str(exc)))}")
        _print_batches(err, exc)
        raise click.exceptions.Exit(EXIT_API_ERROR) from None


def duckdb_option(func: F) -> F:
    """Add ``--duckdb``: the warehouse's DuckDB file, which holds the opt-outs."""
    return click.option(
        "--duckdb",
        "duckdb_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SMSPRESTO_DUCKDB_PATH",
        show_envvar=True,
        default=DEFAULT_DUCKDB_PATH,
        show_default=True,
        help="The warehouse's DuckDB file, holding the opt-outs.",
    )(func)


@contextlib.contextmanager
def _warehouse_errors(path: Path) -> Iterator[None]:
    """Turn a locked, outdated or unreadable DuckDB file into a message and exit code 1."""
    try:
        yield
    except (WarehouseLockedError, WarehouseOpenError, WarehouseSchemaError, duckdb.Error) as exc:
        _err().print(f"[red]Cannot use {escape(str(path))}:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None


def _require_file(path: Path) -> None:
    """Exit 2 unless the warehouse file exists: a command that reads or changes what it holds
    would otherwise report an empty warehouse (or create one) for a mistyped path."""
    if not path.exists():
        raise click.BadParameter(
            f"no DuckDB file at {path} (from --duckdb, SMSPRESTO_DUCKDB_PATH or the default): "
            "nothing was read or written; give the warehouse's file",
            param_hint="'--duckdb'",
        )


def _print_batches(err: Console, exc: SMSPrestoError) -> None:
    """When a send failed part-way, say which recipients did get it and which were not tried."""
    for attribute, label in (("sent", "Already sent to"), ("not_attempted", "Not attempted")):
        numbers: tuple[str, ...] = getattr(exc, attribute, ())
        if numbers:
            err.print(f"{label} ({len(numbers)}): {', '.join(numbers)}", markup=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """SMS Presto from the command line: simulator, counters, sends, archive export."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="smspresto")


# --- segments --------------------------------------------------------------------------


@cli.command()
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
        table.add_row("Forcing UCS-2", " ".join(_show_char(ch) for ch in info.non_gsm_chars))
    _out().print(table)


def _show_char(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"


# --- counters --------------------------------------------------------------------------

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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@connection_options
def counters(connection: Connection, as_json: bool) -> None:
    """Show the ten account counters (stock, sent, delivered, failed, ...)."""
    with _api_errors(connection), connection.client() as client:
        snapshot = client.get_counters()
    values = snapshot.as_dict()
    if as_json:
        click.echo(json.dumps({**values, "taken_at": snapshot.taken_at.isoformat()}))
        return
    _out().print(_counters_table(values, snapshot.taken_at))


def _counters_table(values: dict[str, int], taken_at: datetime) -> Table:
    table = Table(title=f"Account counters at {taken_at:%Y-%m-%d %H:%M:%S %Z}".rstrip())
    table.add_column("Counter")
    table.add_column("Name", style="dim")
    table.add_column("Value", justify="right")
    for name, value in values.items():
        table.add_row(_COUNTER_LABELS.get(name, name), name, f"{value:,}")
    return table


# --- send ------------------------------------------------------------------------------


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


def _check_send(
    sender: str, message: str, numbers: Sequence[str], region: str
) -> tuple[str, str, tuple[str, ...]]:
    """Validate everything at once, so one run reports every problem."""
    problems: list[str] = []
    clean_sender, clean_message = sender, message
    recipients: tuple[str, ...] = ()
    try:
        clean_sender = validate_sender(sender)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
    try:
        clean_message = validate_message(message)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
    try:
        recipients = normalize_recipients(numbers, region=region)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SMSValidationError(
            f"{plural(len(problems), 'problem')}, nothing sent: {problems[0]}",
            problems=tuple(problems),
        )
    return clean_sender, clean_message, recipients


@cli.command()
@click.argument("sender")
@click.argument("message")
@click.argument("recipient", nargs=-1)
@click.option(
    "--recipients-file",
    type=click.File("rb"),
    help="More recipients: one number per line (or comma-separated); '-' reads stdin. UTF-8 "
    "(with or without BOM), UTF-16 with BOM, or Latin-1.",
)
@click.option(
    "--region", default="CI", show_default=True, help="Country of numbers in national form."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Validate and count, send nothing.")
@duckdb_option
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
    duckdb_path: Path,
) -> None:
    """Send MESSAGE from SENDER to each RECIPIENT (one text, many numbers).

    Numbers are normalised to E.164 and de-duplicated; opted-out numbers (the opt-outs of
    the --duckdb file; a file that does not exist holds none) are left out, and if none remain
    nothing is sent (exit code 2). The command shows the cost in segments and asks before
    sending. Exit code 3 means the send may or may not have been accepted: check the archive
    before sending again.
    """
    numbers = list(recipient) + (_read_numbers(recipients_file.read()) if recipients_file else [])
    out = _out()
    with _api_errors(connection):
        sender, message, recipients = _check_send(sender, message, numbers, region)
    recipients = _drop_opted_out(out, recipients, duckdb_path)
    # Built before anything is shown: missing settings exit 2 up front (no request yet).
    client = None if dry_run else connection.client(region=region)
    info = describe_text(message)
    total = info.segments * len(recipients)
    out.print(_send_summary(sender, recipients, info.encoding, info.segments, total))
    if info.non_gsm_chars:
        chars = " ".join(_show_char(ch) for ch in info.non_gsm_chars)
        out.print(f"UCS-2 because of: {chars}", markup=False)
    if client is None:
        out.print("Dry run: nothing sent.")
        return
    question = f"Send {len(recipients)} SMS ({plural(total, 'segment')})?"
    if not yes and not _confirm(out, question):
        out.print("Nothing sent.")
        client.close()
        raise click.exceptions.Exit(EXIT_API_ERROR)
    with _api_errors(connection), client:
        result = client.send_sms(sender, recipients, message)
    out.print(
        f"[green]Sent.[/] {escape(result.api_message)} (message-count {result.message_count}, "
        f"{plural(result.batches, 'request')})"
    )


def _drop_opted_out(out: Console, recipients: tuple[str, ...], path: Path) -> tuple[str, ...]:
    """``recipients`` less the opted-out numbers, saying how many were dropped; exit 2 when
    none remain."""
    with _warehouse_errors(path):
        opted_out = OptOuts(Warehouse(path)).opted_out(recipients)
    if not opted_out:
        return recipients
    kept = tuple(r for r in recipients if r not in opted_out)
    dropped = [r for r in recipients if r in opted_out]
    out.print(
        f"Dropped {plural(len(dropped), 'opted-out recipient')}: {', '.join(dropped)}",
        markup=False,
    )
    if not kept:
        _err().print("Every recipient has opted out: nothing sent.")
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


# --- opt-out ---------------------------------------------------------------------------


@cli.group("opt-out")
def opt_out() -> None:
    """Numbers that must never be messaged: add, remove, list, import STOP replies.

    They are kept in the warehouse's DuckDB file (table smspresto.opt_outs): `smspresto send`
    leaves them out, and campaigns read the same table.
    """


_REGION_OPTION = click.option(
    "--region", default="CI", show_default=True, help="Country of numbers in national form."
)


def _print_change(change: OptOutChange, done: str, unchanged: str) -> None:
    out = _out()
    out.print(f"{done} ({len(change.changed)}): {', '.join(change.changed) or '-'}", markup=False)
    if change.unchanged:
        out.print(f"{unchanged} ({len(change.unchanged)}): {', '.join(change.unchanged)}")


@opt_out.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--reason", help="Why (kept with the number).")
@_REGION_OPTION
@duckdb_option
def opt_out_add(
    numbers: tuple[str, ...], reason: str | None, region: str, duckdb_path: Path
) -> None:
    """Opt NUMBERS out: no send will reach them. Invalid numbers are all listed, none added."""
    with _api_errors(), _warehouse_errors(duckdb_path):
        change = OptOuts(Warehouse(duckdb_path), region=region).add(
            numbers, reason=reason, source="cli"
        )
    _print_change(change, "Opted out", "Already opted out")


@opt_out.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@_REGION_OPTION
@duckdb_option
def opt_out_remove(numbers: tuple[str, ...], region: str, duckdb_path: Path) -> None:
    """Opt NUMBERS back in."""
    _require_file(duckdb_path)
    with _api_errors(), _warehouse_errors(duckdb_path):
        change = OptOuts(Warehouse(duckdb_path), region=region).remove(numbers)
    _print_change(change, "Removed", "Were not opted out")


@opt_out.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@duckdb_option
def opt_out_list(as_json: bool, duckdb_path: Path) -> None:
    """List the opted-out numbers, oldest first (times in UTC)."""
    _require_file(duckdb_path)
    with _warehouse_errors(duckdb_path):
        entries = OptOuts(Warehouse(duckdb_path)).entries()
    if as_json:
        rows = [{**dataclasses.asdict(e), "created_at": e.created_at.isoformat()} for e in entries]
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not entries:
        _out().print(f"No opt-outs in {duckdb_path}.", markup=False)
        return
    table = Table(title=f"{plural(len(entries), 'opted-out number')}")
    for column in ("Number", "Reason", "Source", "Since (UTC)"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.recipient, e.reason or "", e.source or "", f"{e.created_at:%Y-%m-%d %H:%M}")
    _out().print(table)


@opt_out.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--phone-column", help="The phone number's column (default: found by name).")
@click.option("--text-column", help="The reply text's column (default: found by name).")
@_REGION_OPTION
@duckdb_option
def opt_out_import(
    file: Path,
    phone_column: str | None,
    text_column: str | None,
    region: str,
    duckdb_path: Path,
) -> None:
    """Opt out the senders of STOP replies in FILE, a CSV with a header row.

    A reply is a stop request when its whole text is STOP, ARRET, ARRÊT, STOP SMS,
    UNSUBSCRIBE, DESABONNER... in any case, with or without accents and punctuation. The
    columns are found by name (phone, numero, from... and message, text, texte...) unless given.
    """
    opt_outs = OptOuts(Warehouse(duckdb_path), region=region)
    with _warehouse_errors(duckdb_path):
        try:
            result = opt_outs.import_replies(
                file, phone_column=phone_column, text_column=text_column
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="FILE") from None
    out = _out()
    out.print(
        f"Added {len(result.added)}, already opted out {len(result.already)}, "
        f"invalid {len(result.invalid)}, other replies {result.ignored}.",
        markup=False,
    )
    for problem in result.invalid:
        out.print(f"  - {problem}", markup=False)


# --- campaigns: the circuit breaker -----------------------------------------------------


@cli.group("campaigns")
def campaigns() -> None:
    """The campaigns' circuit breaker: status, resume, pause.

    Every campaign pauses while the breaker is tripped: when the failure-rate spike check fails
    at ERROR (it ends by itself when the check passes again for that day), or when a person
    pauses them. Kept in the warehouse's DuckDB file (table smspresto.campaign_pauses).
    """


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown user"


_REASON_OPTION = click.option(
    "--reason", required=True, help="Why (kept in the breaker's history, shown by the sensors)."
)
_BY_OPTION = click.option(
    "--by",
    default=_default_user,
    show_default="your login name",
    help="Who (kept in the breaker's history).",
)


def _require_text(value: str, name: str) -> None:
    if not value.strip():
        raise click.BadParameter("must not be blank", param_hint=name)


def _trip_json(trip: Trip) -> dict[str, Any]:
    row = dataclasses.asdict(trip)
    for field in ("tripped_at", "resumed_at"):
        row[field] = row[field] and row[field].isoformat()
    return {**row, "active": trip.active}


def _at(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _campaign_json(overview: CampaignOverview) -> dict[str, Any]:
    activation = overview.activation
    return {
        "campaign": overview.campaign,
        "activated_at": activation and activation.activated_at.isoformat(),
        "activated_by": activation and activation.activated_by,
        "baseline_rows": activation and activation.baseline_rows,
        "outbox": dict(overview.outbox),
    }


def _campaigns_table(overviews: Sequence[CampaignOverview]) -> Table:
    table = Table(title="Campaigns (activation, outbox rows by state)")
    for column in ("Campaign", "Activated", "By", "Baseline", "Outbox"):
        table.add_column(column)
    for o in overviews:
        a = o.activation
        outbox = ", ".join(f"{state} {rows:,}" for state, rows in o.outbox.items())
        table.add_row(
            *map(
                escape,
                (
                    o.campaign,
                    _at(a.activated_at) if a else "before activations were recorded",
                    a.activated_by if a else "",
                    str(a.baseline_rows) if a else "",
                    outbox,
                ),
            )
        )
    return table


@campaigns.command("status")
@click.option("--history", "limit", default=20, show_default=True, help="Trips to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@duckdb_option
def campaigns_status(limit: int, as_json: bool, duckdb_path: Path) -> None:
    """Say whether campaigns are paused, why, and list the latest trips; each campaign's
    activation and outbox rows by state (times in UTC)."""
    _require_file(duckdb_path)
    warehouse = Warehouse(duckdb_path)
    breaker = CircuitBreaker(warehouse)
    with _warehouse_errors(duckdb_path):
        state = breaker.state()
        history = breaker.history(limit=limit)
        overviews = CampaignActivations(warehouse).overview()
    if as_json:
        document = {
            "paused": state.tripped,
            "description": state.describe(),
            "active": [_trip_json(t) for t in state.trips],
            "history": [_trip_json(t) for t in history],
            "campaigns": [_campaign_json(o) for o in overviews],
        }
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    out = _out()
    text = state.describe()
    colour = "red" if state.tripped else "green"
    out.print(f"[{colour}]{escape(text[:1].upper() + text[1:])}.[/]")
    if overviews:
        out.print(_campaigns_table(overviews))
    if not history:
        out.print(f"No trip recorded in {duckdb_path}.", markup=False)
        return
    table = Table(title=f"Latest {plural(len(history), 'trip')}")
    for column in ("Tripped", "Reason", "Source", "Partition", "Resumed", "By", "Why"):
        table.add_column(column)
    for t in history:
        table.add_row(
            *map(
                escape,
                (
                    _at(t.tripped_at),
                    t.reason,
                    t.source,
                    t.partition_key or "",
                    _at(t.resumed_at) if t.resumed_at else "active",
                    t.resumed_by or "",
                    t.resume_reason or "",
                ),
            )
        )
    out.print(table)


@campaigns.command("resume")
@_REASON_OPTION
@_BY_OPTION
@duckdb_option
def campaigns_resume(reason: str, by: str, duckdb_path: Path) -> None:
    """Resume every campaign: end every active trip, whatever tripped it."""
    _require_text(reason, "--reason")
    _require_text(by, "--by")
    _require_file(duckdb_path)
    with _warehouse_errors(duckdb_path):
        ended = CircuitBreaker(Warehouse(duckdb_path)).resume(by=f"cli:{by}", reason=reason)
    out = _out()
    if not ended:
        out.print("Campaigns were not paused: nothing to resume.", markup=False)
        return
    out.print(f"Resumed the campaigns ({plural(len(ended), 'trip')} ended):", markup=False)
    for trip in ended:
        out.print(f"  - {trip.describe()}", markup=False)


@campaigns.command("pause")
@_REASON_OPTION
@_BY_OPTION
@duckdb_option
def campaigns_pause(reason: str, by: str, duckdb_path: Path) -> None:
    """Pause every campaign until a person resumes them (sensors skip, send jobs refuse)."""
    _require_text(reason, "--reason")
    _require_text(by, "--by")
    # A pause written to a new file would pause nothing: the campaigns read their own.
    _require_file(duckdb_path)
    with _warehouse_errors(duckdb_path):
        trip = CircuitBreaker(Warehouse(duckdb_path)).trip(reason, source=f"cli:{by}")
    _out().print(f"Campaigns paused: {trip.describe()}", markup=False)


# --- archive ---------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, records: Sequence[ArchiveRecord]) -> None: ...

    def close(self) -> None: ...


def _cell(value: object) -> str | None:
    return None if value is None else str(value)


class _CsvSink:
    """Archive rows as CSV: the API's field names as header, values verbatim."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(ARCHIVE_FIELDS)

    def write(self, records: Sequence[ArchiveRecord]) -> None:
        self._writer.writerows(
            [_cell(r.raw.get(field)) or "" for field in ARCHIVE_FIELDS] for r in records
        )

    def close(self) -> None:
        self._file.close()


class _ParquetSink:
    """Archive rows as Parquet: one string column per API field, one row group per page."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = pa.schema([pa.field(field, pa.string()) for field in ARCHIVE_FIELDS])
        self._writer = pq.ParquetWriter(str(path), self._schema)

    def write(self, records: Sequence[ArchiveRecord]) -> None:
        if not records:
            return
        columns = {f: [_cell(r.raw.get(f)) for r in records] for f in ARCHIVE_FIELDS}
        self._writer.write_table(self._pa.Table.from_pydict(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


_SINKS: dict[str, Callable[[Path], _Sink]] = {"csv": _CsvSink, "parquet": _ParquetSink}
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@cli.command()
@click.option(
    "--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day."
)
@click.option(
    "--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day (kept)."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write: .csv or .parquet.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(_SINKS)),
    help="Output format (default: from the file extension).",
)
@click.option(
    "--page-size", type=click.IntRange(min=1), default=500, show_default=True, help="Rows/request."
)
@connection_options
def archive(
    connection: Connection,
    date_from: datetime,
    date_to: datetime,
    output: Path,
    fmt: Literal["csv", "parquet"] | None,
    page_size: int,
) -> None:
    """Export the message history of days --from to --to (inclusive) to a CSV or Parquet file.

    Days are read one at a time, page by page, and written as they come: memory stays
    bounded whatever the volume. The file appears only once complete.
    """
    first, last = date_from.date(), date_to.date()
    if first > last:
        raise click.BadParameter(f"--from {first} is after --to {last}", param_hint="--from")
    fmt = fmt or _EXTENSIONS.get(output.suffix.lower())  # type: ignore[assignment]
    if fmt is None:
        raise click.BadParameter(
            f"cannot tell the format of {output.name!r}: use .csv or .parquet, or --format",
            param_hint="--output",
        )
    days = _days(first, last)
    client = connection.client()
    partial = output.with_name(output.name + ".part")
    sink = _SINKS[fmt](partial)
    rows = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days, {task.fields[rows]}"),
        TimeElapsedColumn(),
        console=_err(),
    )
    try:
        with _api_errors(connection), client, progress:
            task = progress.add_task("Archive", total=len(days), rows=plural(0, "row"))
            for day in days:
                progress.update(task, description=f"Archive {day}")
                for page in client.iter_archive_pages(day, day, page_size=page_size):
                    sink.write(page)
                    rows += len(page)
                    progress.update(task, rows=plural(rows, "row"))
                progress.advance(task)
        sink.close()
        os.replace(partial, output)
    finally:
        if partial.exists():
            sink.close()
            partial.unlink()
    _out().print(
        f"Wrote {plural(rows, 'row')} of {plural(len(days), 'day')} to {output} ({fmt}).",
        markup=False,
    )


# --- simulate --------------------------------------------------------------------------


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


@cli.command()
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
    metavar="DAY:SEGMENT:FACTOR",
    help="Seed a failure spike (repeatable): the segment's failure rate times FACTOR on DAY; "
    "SEGMENT is all, sender:<name> or carrier:<name> (e.g. 2025-03-10:carrier:MTN:4).",
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
    out = _out()

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
        _err().print(f"[red]Cannot start the simulator:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None


# --- demo ------------------------------------------------------------------------------


@cli.command()
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
        run_demo(data_dir=data_dir, days=days, messages_per_day=messages_per_day, console=_out())
    except DemoRunError as exc:
        _err().print(f"[red]The demo stopped:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None


if __name__ == "__main__":
    main()
