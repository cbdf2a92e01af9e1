"""Accounts: several SMS Presto accounts (an agency's clients, a group's brands) in one warehouse.

Every row of history, raw archive and snapshots says which account it belongs to (``account``);
a day is replaced per (account, day), and ``history_id`` is unique per account. A project of one
account names none: its rows are the ``default`` account's, and its Dagster definitions keep
their plain keys and names (``archive_messages``, ``smspresto``). A named account's definitions
are prefixed with its name (docs/architecture.md, section 2, says why a prefix and not a
partition dimension).

Example:
    >>> check_account("brand_a")
    'brand_a'
    >>> account_of(None)
    'default'
    >>> prefixed("archive_messages_ingest_job", "brand_a")
    'brand_a__archive_messages_ingest_job'
"""

import re

__all__ = ["DEFAULT_ACCOUNT", "account_of", "check_account", "is_default", "prefixed"]

#: The account of a project that names none, and of the rows of a warehouse made before accounts.
DEFAULT_ACCOUNT = "default"

# A name that is at once a valid asset key part, Python identifier part, resource key part and
# SQL string without quoting concerns, and short enough to read in the UI.
_ACCOUNT = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_account(value: object, field: str = "account") -> str:
    """``value`` when it is an account name: a lowercase letter, then up to 31 lowercase
    letters, digits or single underscores (``__`` separates an account from a name).

    Raises:
        ValueError: it is not; the message names ``field`` and the value.
    """
    if not isinstance(value, str) or not _ACCOUNT.fullmatch(value) or "__" in value:
        raise ValueError(
            f"{field} must be a short identifier (a lowercase letter, then up to 31 lowercase "
            f"letters, digits or single underscores), got {value!r}"
        )
    return value


def account_of(value: str | None) -> str:
    """The account a setting names: ``value`` checked, or the default account for None."""
    return DEFAULT_ACCOUNT if value is None else check_account(value)


def is_default(account: str | None) -> bool:
    """Whether ``account`` is the default account (whose definitions keep their plain names)."""
    return account_of(account) == DEFAULT_ACCOUNT


def prefixed(name: str, account: str | None) -> str:
    """A definition's name for ``account``: ``name`` for the default account, else
    ``<account>__<name>`` (the way Dagster writes a prefixed asset key as an identifier)."""
    return name if is_default(account) else f"{account_of(account)}__{name}"
