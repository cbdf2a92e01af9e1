"""Reaching the server: the URL checked without connecting, connections opened, psycopg's
errors turned into the port's, with the URL's password in none of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import errors as pg_errors

from smspresto_pipeline.storage.errors import (
    ConstraintViolationError,
    StorageError,
    WarehouseLockedError,
    WarehouseOpenError,
    WarehousePathError,
)
from smspresto_pipeline.storage.urls import redact_url

__all__ = ["Secrets", "check_url", "connect", "engine_errors", "rollback"]

_REDACTED = "***"
#: A connection attempt gives up after this many seconds (libpq waits forever by default).
CONNECT_TIMEOUT = 10
_APPLICATION_NAME = "smspresto-pipeline"


class Secrets:
    """The password of a URL, in every form a message may quote it, and how to scrub it."""

    def __init__(self, url: str) -> None:
        found: set[str] = set()
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            if parts.password:
                found |= {parts.password, unquote(parts.password)}
            with contextlib.suppress(psycopg.Error):
                option = psycopg.conninfo.conninfo_to_dict(url).get("password")
                if option:
                    found.add(str(option))
        # The longest first, so that a password holding another is replaced whole.
        self._values = sorted((value for value in found if value), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every form of the password written ``***``."""
        for value in self._values:
            text = text.replace(value, _REDACTED)
        return text

    def held_by(self, text: str) -> bool:
        """Whether ``text`` quotes the password."""
        return any(value in text for value in self._values)


def check_url(url: str) -> None:
    """Refuse a URL libpq could never connect with (an unknown option, a malformed one),
    without connecting.

    Raises:
        WarehousePathError: naming the URL (its password redacted) and what is wrong.
    """
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        message = Secrets(url).scrub(str(exc))
        raise WarehousePathError(
            f"{redact_url(url)} is not a usable PostgreSQL URL: {message}"
        ) from None


def connect(url: str, secrets: Secrets, *, lock_timeout: float) -> psycopg.Connection:
    """A connection in autocommit mode (the session says BEGIN and COMMIT itself, as on
    DuckDB), waiting at most ``lock_timeout`` seconds for any lock a statement needs.

    Raises:
        WarehouseOpenError: the server cannot be reached or refuses us (naming the URL with its
            password redacted). psycopg's error stays the cause unless it quotes the password.
    """
    try:
        con = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=_APPLICATION_NAME,
        )
    except psycopg.Error as exc:
        _raise_scrubbed(
            WarehouseOpenError(
                f"PostgreSQL cannot open {redact_url(url)}: {secrets.scrub(str(exc)).strip()}"
            ),
            exc,
            secrets,
        )
    try:
        with engine_errors(secrets):
            # A lock held past the allowance fails the statement (55P03, a WarehouseLockedError)
            # rather than waiting for ever (0 would mean no limit: 1 ms is "do not wait").
            # The schema last on the search path: the views' SQL names the tables unqualified
            # (DuckDB resolves them in the view's schema), and nothing of the user's is shadowed.
            con.execute(
                "SELECT set_config('lock_timeout', %s, false), set_config('search_path',"
                " current_setting('search_path') || ', smspresto', false)",
                [str(max(1, round(lock_timeout * 1000)))],
            )
    except BaseException:
        con.close()
        raise
    return con


def _raise_scrubbed(error: StorageError, cause: psycopg.Error, secrets: Secrets) -> NoReturn:
    # A traceback prints the cause's message: drop the cause when it quotes the password.
    if secrets.held_by(str(cause)):
        raise error from None
    raise error from cause


@contextlib.contextmanager
def engine_errors(secrets: Secrets) -> Iterator[None]:
    """psycopg's errors as the port's (psycopg's stays the ``__cause__``)."""
    try:
        yield
    except pg_errors.IntegrityError as exc:
        _raise_scrubbed(ConstraintViolationError(secrets.scrub(str(exc))), exc, secrets)
    except pg_errors.LockNotAvailable as exc:
        _raise_scrubbed(
            WarehouseLockedError(
                f"another session held a lock too long: {secrets.scrub(str(exc))}"
            ),
            exc,
            secrets,
        )
    except psycopg.Error as exc:
        _raise_scrubbed(StorageError(secrets.scrub(str(exc))), exc, secrets)


def rollback(con: psycopg.Connection) -> None:
    """Roll back what is open on ``con``; never raises (the error that made the caller roll
    back is the one worth raising; a broken connection is closed next anyway)."""
    with contextlib.suppress(psycopg.Error):
        if con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            con.execute("ROLLBACK")
