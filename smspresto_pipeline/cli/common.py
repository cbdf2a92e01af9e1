"""What every ``smspresto`` command shares: its consoles, the connection and warehouse
(``--warehouse`` / ``--duckdb``) options, and the translation of errors into a message and the
documented exit code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape

from smspresto_pipeline.api.client import DEFAULT_BASE_URL, SMSPrestoClient
from smspresto_pipeline.api.redaction import Redactor
from smspresto_pipeline.errors import AmbiguousSendError, SMSPrestoError, SMSValidationError
from smspresto_pipeline.storage import STORAGE_ERRORS, WarehouseTarget, parse_target
from smspresto_pipeline.warehouse import Warehouse

__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "EXIT_AMBIGUOUS",
    "EXIT_API_ERROR",
    "EXIT_BAD_INPUT",
    "ChosenWarehouse",
    "Connection",
    "api_errors",
    "connection_options",
    "err_console",
    "out_console",
    "region_option",
    "show_char",
    "warehouse_errors",
    "warehouse_options",
]

EXIT_API_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_AMBIGUOUS = 3

#: The warehouse's DuckDB file when no option or variable names another warehouse.
DEFAULT_DUCKDB_PATH = Path("data") / "smspresto_warehouse.duckdb"

F = TypeVar("F", bound=Callable[..., Any])


def out_console() -> Console:
    """A console on standard output."""
    # Built per call: click's test runner swaps sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    """A console on standard error."""
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
def api_errors(connection: Connection | None = None) -> Iterator[None]:
    """Turn library errors into a redacted message on stderr and the documented exit code."""
    redact = connection.redact if connection is not None else Redactor()
    err = err_console()
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


@dataclasses.dataclass(frozen=True)
class ChosenWarehouse:
    """The warehouse a command was pointed at, and the options that can name it (for messages).

    Its ``str`` is the target's: a URL's password shows as ``***``.
    """

    target: WarehouseTarget
    #: How the options say it: ``"--warehouse"`` (a URL) or ``"--duckdb"`` (a file).
    option: str

    def __str__(self) -> str:
        return str(self.target)

    def open(self, *, must_exist: bool = False) -> Warehouse:
        """The warehouse; exit 1 when it cannot be opened and, with ``must_exist``, exit 2
        when it is not there: a command that reads or changes what it holds would otherwise
        report an empty warehouse (or create one) for a mistyped path or URL."""
        with warehouse_errors(self):
            warehouse = Warehouse(self.target)
            there = not must_exist or warehouse.database.exists()
        if not there:
            what, named_by, noun = _NAMED_BY[self.option]
            raise click.BadParameter(
                f"no {what} at {self} (from {named_by}): nothing was read or written; give the "
                f"warehouse's {noun}",
                param_hint=f"'{self.option}'",
            )
        return warehouse


#: What each option names, where else it comes from, and what a user gives it.
_NAMED_BY = {
    "--warehouse": ("warehouse", "--warehouse or SMSPRESTO_WAREHOUSE_URL", "URL"),
    "--duckdb": ("DuckDB file", "--duckdb, SMSPRESTO_DUCKDB_PATH or the default", "file"),
}


def warehouse_options(func: F) -> F:
    """Add ``--warehouse`` and ``--duckdb`` and pass the warehouse they name as ``warehouse``
    (a :class:`ChosenWarehouse`).

    One of the two: both on the command line is an error (exit 2). An option given wins over the
    environment; otherwise ``SMSPRESTO_WAREHOUSE_URL`` wins over ``SMSPRESTO_DUCKDB_PATH``, as
    in the code location, and the default file comes last.
    """

    @click.option(
        "--warehouse",
        "warehouse_url",
        metavar="TARGET",
        envvar="SMSPRESTO_WAREHOUSE_URL",
        show_envvar=True,
        help="The warehouse: postgresql://user:password@host:5432/dbname (or a DuckDB file, as a "
        "path or duckdb:///path). Prefer the environment variable: it stays out of shell "
        "history. Shown with its password as ***. Not with --duckdb.",
    )
    @click.option(
        "--duckdb",
        "duckdb_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SMSPRESTO_DUCKDB_PATH",
        show_envvar=True,
        default=DEFAULT_DUCKDB_PATH,
        show_default=True,
        help="The warehouse's DuckDB file, when no --warehouse (or SMSPRESTO_WAREHOUSE_URL) is "
        "given. Not with --warehouse.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, warehouse_url: str | None, duckdb_path: Path, **kw: Any) -> Any:
        return func(*args, warehouse=_chosen_warehouse(warehouse_url, duckdb_path), **kw)

    return wrapper  # type: ignore[return-value]


def _chosen_warehouse(url: str | None, duckdb_path: Path) -> ChosenWarehouse:
    """The warehouse ``--warehouse`` / ``--duckdb`` (or their variables) name; exit 2 when
    both options are given, or the URL is not a warehouse's (shown redacted)."""
    context = click.get_current_context()
    typed = ParameterSource.COMMANDLINE
    url_typed = context.get_parameter_source("warehouse_url") == typed
    file_typed = context.get_parameter_source("duckdb_path") == typed
    if url_typed and file_typed:
        raise click.UsageError("give the warehouse as --warehouse or --duckdb, not both")
    url = (url or "").strip()
    if not url_typed and (file_typed or not url):
        return ChosenWarehouse(parse_target(duckdb_path), "--duckdb")
    try:
        target = parse_target(url)
    except ValueError as error:  # its message shows the URL redacted
        hint = "'--warehouse'" if url_typed else "SMSPRESTO_WAREHOUSE_URL"
        raise click.BadParameter(str(error), param_hint=hint) from None
    return ChosenWarehouse(target, "--warehouse")


@contextlib.contextmanager
def warehouse_errors(warehouse: ChosenWarehouse) -> Iterator[None]:
    """Turn a locked, outdated or unreadable warehouse (or a statement it refused) into a
    message and exit code 1."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        err_console().print(f"[red]Cannot use {escape(str(warehouse))}:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None


def _print_batches(err: Console, exc: SMSPrestoError) -> None:
    """When a send failed part-way, say which recipients did get it and which were not tried."""
    for attribute, label in (("sent", "Already sent to"), ("not_attempted", "Not attempted")):
        numbers: tuple[str, ...] = getattr(exc, attribute, ())
        if numbers:
            err.print(f"{label} ({len(numbers)}): {', '.join(numbers)}", markup=False)


def show_char(ch: str) -> str:
    """A character as the output names it: ``'é' (U+00E9)``."""
    return f"{ch!r} (U+{ord(ch):04X})"


region_option = click.option(
    "--region", default="CI", show_default=True, help="Country of numbers in national form."
)
