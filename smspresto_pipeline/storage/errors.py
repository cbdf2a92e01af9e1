"""The errors of the storage port: what the layers above tell apart, whatever the engine.

An engine turns its own errors into these (its error stays the ``__cause__``), so that no layer
above ``storage/`` catches an engine's exception type.
"""

from __future__ import annotations

__all__ = [
    "ConstraintViolationError",
    "CopyVerificationError",
    "QueryRefusedError",
    "ReadOnlyQueryError",
    "StorageError",
    "WarehouseLockedError",
    "WarehouseNotEmptyError",
    "WarehouseOpenError",
    "WarehousePathError",
    "WarehouseSchemaError",
    "excerpt",
]


class StorageError(RuntimeError):
    """Raised when the engine could not run a statement; the message is the engine's."""


class ConstraintViolationError(StorageError):
    """Raised when a statement broke a key, a NOT NULL or a CHECK of the schema."""


class WarehouseLockedError(StorageError):
    """Raised when another process kept the warehouse locked for longer than allowed."""


class WarehouseOpenError(StorageError):
    """Raised when the engine cannot open the warehouse for any reason but another process's
    lock (a directory, a file that is not a database, a truncated or corrupt one): waiting
    would not help."""


class WarehouseSchemaError(StorageError):
    """Raised when a table made by an older DDL holds rows and differs in more than added
    columns, so it cannot be brought up to date here."""


class WarehouseNotEmptyError(StorageError):
    """Raised when a copy's target holds rows and was not to be replaced; ``rows`` says how
    many each of its tables holds (only those holding some)."""

    def __init__(self, message: str, rows: dict[str, int]) -> None:
        super().__init__(message)
        self.rows = rows


class CopyVerificationError(StorageError):
    """Raised when a copied table differs from its source (its row count or its keys), before
    the copy commits: the target is left as it was. ``table`` names it."""

    def __init__(self, message: str, table: str) -> None:
        super().__init__(message)
        self.table = table


class WarehousePathError(ValueError):
    """Raised when the warehouse's path can never be opened for writing."""


class ReadOnlyQueryError(ValueError):
    """Raised when the engine cannot parse or run a user's query; the message is the engine's."""


class QueryRefusedError(ReadOnlyQueryError):
    """Raised when a user's query is not one read statement, or reaches past the warehouse's
    tables (a file, a URL, another database, an extension)."""


_EXCERPT = 80


def excerpt(query: str) -> str:
    """A user's statement on one line, cut short, quoted: for a refusal's message."""
    text = " ".join(query.split()).rstrip(";")
    return repr(text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "...")
