"""What every ``smspresto`` command shares: its consoles, the connection and ``--duckdb``
options, and the translation of errors into a message and the documented exit code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from smspresto_pipeline.api.client import DEFAULT_BASE_URL, SMSPrestoClient
from smspresto_pipeline.api.redaction import Redactor
from smspresto_pipeline.errors import AmbiguousSendError, SMSPrestoError, SMSValidationError
from smspresto_pipeline.storage import STORAGE_ERRORS

__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "EXIT_AMBIGUOUS",
    "EXIT_API_ERROR",
    "EXIT_BAD_INPUT",
    "Connection",
    "api_errors",
    "connection_options",
    "duckdb_option",
    "err_console",
    "out_console",
    "region_option",
    "require_file",
    "show_char",
    "warehouse_errors",
]

EXIT_API_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_AMBIGUOUS = 3

#: The warehouse's DuckDB file when neither --duckdb nor SMSPRESTO_DUCKDB_PATH says otherwise.
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
def warehouse_errors(path: Path) -> Iterator[None]:
    """Turn a locked, outdated or unreadable DuckDB file (or a statement it refused) into a
    message and exit code 1."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        err_console().print(f"[red]Cannot use {escape(str(path))}:[/] {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_API_ERROR) from None


def require_file(path: Path) -> None:
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


def show_char(ch: str) -> str:
    """A character as the output names it: ``'é' (U+00E9)``."""
    return f"{ch!r} (U+{ord(ch):04X})"


region_option = click.option(
    "--region", default="CI", show_default=True, help="Country of numbers in national form."
)
