"""Where a warehouse is: a DuckDB file or a PostgreSQL server, told by a path or a URL.

``parse_target`` reads what a user writes (``WarehouseResource(path=...)`` / ``url=...``,
``SMSPRESTO_WAREHOUSE_URL``, the CLI's ``--warehouse``):

- a path, or ``duckdb:///relative/file.duckdb`` / ``duckdb:////absolute/file.duckdb`` (three
  slashes then the path, as SQLAlchemy writes ``sqlite:///``): a DuckDB file;
- ``postgresql://user:password@host:5432/dbname?sslmode=require`` (or ``postgres://``): a
  PostgreSQL database, in libpq's URL form.

A :class:`WarehouseTarget` never shows its password: its ``str``/``repr`` and :func:`redact_url`
write ``***`` in its place (in the user part and in a ``password=`` option alike), so a target
may go into a log, an error, a Dagster event or metadata as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["Engine", "WarehouseTarget", "parse_target", "redact_url"]

Engine = Literal["duckdb", "postgres"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_REDACTED = "***"
#: libpq options that carry a secret (the password, or a file the user keeps it in is fine).
_SECRET_OPTIONS = frozenset({"password", "sslpassword"})


@dataclass(frozen=True)
class WarehouseTarget:
    """A warehouse's place: ``path`` for DuckDB, ``url`` (with its password) for PostgreSQL."""

    engine: Engine
    path: Path | None = None
    url: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """The target as a person may read it: the path, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        return redact_url(self.url or "")

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"WarehouseTarget(engine={self.engine!r}, {self.display!r})"


def parse_target(value: str | os.PathLike[str]) -> WarehouseTarget:
    """The warehouse ``value`` names: a path or ``duckdb:///`` URL, or a ``postgresql://`` URL.

    Raises:
        ValueError: an empty value, a URL of another scheme, a ``postgresql://`` URL without a
            database name or with a malformed port; the message shows the URL redacted.
    """
    if isinstance(value, os.PathLike):
        return WarehouseTarget("duckdb", path=Path(value))
    text = value.strip()
    if not text:
        raise ValueError("a warehouse must be a DuckDB file's path or a postgresql:// URL, got ''")
    scheme, sep, rest = text.partition("://")
    if not sep or os.sep in scheme or (os.altsep and os.altsep in scheme):
        return WarehouseTarget("duckdb", path=Path(text))
    scheme = scheme.lower()
    if scheme == "duckdb":
        if not rest.startswith("/") or rest == "/":
            raise ValueError(
                f"a duckdb URL is duckdb:/// then the file's path, got {text!r}"
                " (duckdb:///data/warehouse.duckdb, duckdb:////srv/warehouse.duckdb)"
            )
        return WarehouseTarget("duckdb", path=Path(rest[1:]))
    if scheme in _POSTGRES_SCHEMES:
        parts = urlsplit(text)
        try:
            parts.port  # noqa: B018  (raises on a malformed port)
        except ValueError:
            raise ValueError(f"the URL's port is not a number: {redact_url(text)}") from None
        if not parts.path.strip("/"):
            raise ValueError(
                f"a postgresql:// URL must name its database (…/dbname): {redact_url(text)}"
            )
        return WarehouseTarget("postgres", url=text)
    raise ValueError(
        f"a warehouse URL is duckdb:/// or postgresql://, got the scheme {scheme!r}"
        f" in {redact_url(text)}"
    )


def redact_url(url: str) -> str:
    """``url`` with ``***`` for its password (after ``user:``) and for ``password=`` options."""
    scheme, sep, _ = url.partition("://")
    try:
        parts = urlsplit(url)
    except ValueError:
        return _REDACTED
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{_REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_OPTIONS for key, _ in pairs):
            query = urlencode(
                [(k, _REDACTED if k.lower() in _SECRET_OPTIONS else v) for k, v in pairs],
                safe="/*",
            )
    if not sep:  # not a URL of ours: nothing to keep of it
        return _REDACTED
    # Written out rather than urlunsplit, which drops an empty host's "//" and lowers the scheme.
    return (
        f"{scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )
