"""An in-memory DuckDB of the process, for computing over Arrow batches whatever the
warehouse's engine (the copy's digests, the staged rows' typing)."""

from __future__ import annotations

import functools

import duckdb

__all__ = ["scratch_cursor"]


@functools.cache
def _instance() -> duckdb.DuckDBPyConnection:
    # One thread: a batch is small, and the engines copying or writing it need the cores.
    return duckdb.connect(":memory:", config={"threads": 1})


def scratch_cursor() -> duckdb.DuckDBPyConnection:
    """A connection of its own to the in-memory DuckDB (any thread may ask for one), to close
    after use (``with scratch_cursor() as con:``)."""
    return _instance().cursor()
