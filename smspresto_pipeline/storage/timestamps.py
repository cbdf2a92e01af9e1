"""Timestamps as the tables store them: naive, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_naive"]


def utc_naive(value: datetime | None = None) -> datetime:
    """``value`` (now when None) in UTC without its time zone; a naive value is taken as UTC."""
    if value is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
