"""The DuckDB engine: the warehouse in one local file (the embedded default).

``database`` (:class:`DuckDBDatabase`, :class:`DuckDBSession`: the port over DuckDB),
``connection`` (attaching the file under a fixed catalog name, waiting out another process's
lock, telling a lock conflict from other errors), ``migrate`` (older tables brought up to the
DDL), ``read_only`` (a user's query kept to reading the attached file, with DuckDB's own
restrictions). Its SQL in DuckDB's dialect is under ``storage/sql/duckdb/``.
"""

import duckdb

from smspresto_pipeline.storage.duckdb.connection import check_path, is_lock_conflict
from smspresto_pipeline.storage.duckdb.database import DuckDBDatabase, DuckDBSession

__all__ = [
    "ENGINE_ERRORS",
    "DuckDBDatabase",
    "DuckDBSession",
    "check_path",
    "is_lock_conflict",
]

#: What DuckDB raises from its own connection (the one ``Session.raw`` holds).
ENGINE_ERRORS: tuple[type[Exception], ...] = (duckdb.Error,)
