"""Copying a warehouse into another, on either engine (a DuckDB file, a PostgreSQL database):
every table of the schema, then the analytics views.

The tables are those the DDL creates (``storage/sql/ddl``: a table added there is copied too),
read from the source in one snapshot and loaded into the target in one transaction, through Arrow
record batches of ``batch_rows`` rows: neither side ever holds a table whole, whatever its size.
Before the target's transaction commits, each table is verified: its row count, and its keys (its
primary key's columns, or every column of a table without one) read back from the target against
those read from the source, as an order-free digest (``storage/digest.py``: the sum of a 64-bit
hash of each row's values, encoded alike whichever engine gave them), so that no ordering
(collations differ between engines) and no table held in memory is needed. Anything
that fails (a refused row, a verification) rolls the transaction back: the target is left as it
was. A target whose tables hold rows is refused unless ``replace``, which empties them in the same
transaction. The views are created on the target as the views asset creates them, not copied.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import pyarrow as pa

from smspresto_pipeline.storage.digest import RowDigest
from smspresto_pipeline.storage.errors import (
    CopyVerificationError,
    WarehouseNotEmptyError,
    WarehouseSchemaError,
)
from smspresto_pipeline.storage.port import Database, Session
from smspresto_pipeline.storage.queries import SCHEMA, group_files, schema_tables
from smspresto_pipeline.wording import plural

__all__ = ["DEFAULT_BATCH_ROWS", "CopiedTable", "CopyReport", "copy_warehouse"]

#: Rows per batch read and loaded: tens of MB of a table of messages, whatever its length.
DEFAULT_BATCH_ROWS = 50_000


@dataclasses.dataclass(frozen=True)
class CopiedTable:
    """A table copied and verified: its name, its rows, its key, the seconds it took."""

    name: str
    rows: int
    key: tuple[str, ...]
    seconds: float


@dataclasses.dataclass(frozen=True)
class CopyReport:
    """What a copy did: the tables (in the order copied), the rows the target's tables held
    before (emptied: only with ``replace``), the views created, the seconds it took in all."""

    tables: tuple[CopiedTable, ...]
    emptied: dict[str, int]
    views: tuple[str, ...]
    seconds: float

    @property
    def rows(self) -> int:
        """The rows copied, every table's."""
        return sum(table.rows for table in self.tables)


def copy_warehouse(
    source: Database,
    target: Database,
    *,
    replace: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_table: Callable[[CopiedTable], None] | None = None,
) -> CopyReport:
    """Copy every table of ``source`` into ``target`` (whose schema is created when missing),
    verify them, create the views; ``on_table`` hears of each table once it is verified.

    Raises:
        ValueError: ``batch_rows`` below 1.
        WarehouseNotEmptyError: the target's tables hold rows and not ``replace`` (nothing was
            written).
        WarehouseSchemaError: the source lacks a table, or a table's columns differ between the
            two (a warehouse of an older version: one write with this version upgrades it).
        CopyVerificationError: a table's count or keys differ after the load (rolled back).
        StorageError: the engines' errors (rolled back).
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    started = time.monotonic()
    tables = schema_tables()
    copied: list[CopiedTable] = []
    with source.snapshot() as reading:
        missing = sorted(set(tables) - reading.tables())
        if missing:
            raise WarehouseSchemaError(
                f"the source {source.name} lacks the tables {', '.join(missing)} of {SCHEMA}: "
                "it was made by an older version; write to it once with this one (e.g. "
                "materialize an asset), which brings it up to date, then copy it"
            )
        with target.transaction() as writing:
            held = {table: rows for table in tables if (rows := writing.count_rows(table))}
            if held and not replace:
                listed = ", ".join(
                    f"{table} ({plural(rows, 'row')})" for table, rows in held.items()
                )
                raise WarehouseNotEmptyError(
                    f"the target {target.name} is not empty: {listed}; nothing was copied", held
                )
            for table in held:
                writing.delete_all(table)
            for table in tables:
                done = _copy_table(reading, writing, table, batch_rows)
                copied.append(done)
                if on_table is not None:
                    on_table(done)
            # As the views asset creates them (Warehouse.create_views), in this transaction.
            for name in group_files("analytics"):
                writing.execute(name)
            views = tuple(writing.views())
    return CopyReport(tuple(copied), held, views, time.monotonic() - started)


def _columns(session: Session, table: str) -> list[str]:
    rows = session.fetch_all("dml/select_table_columns.sql", {"schema": SCHEMA, "table": table})
    return [str(name) for (name,) in rows]


def _copy_table(reading: Session, writing: Session, table: str, batch_rows: int) -> CopiedTable:
    """Load ``table``'s rows from ``reading`` into ``writing`` a batch at a time, then verify
    them there."""
    started = time.monotonic()
    source_columns = _columns(reading, table)
    # Names as each engine spells them: PostgreSQL folds the DDL's unquoted upper-case names.
    spelled = {name.lower(): name for name in _columns(writing, table)}
    if sorted(spelled) != sorted(name.lower() for name in source_columns):
        raise WarehouseSchemaError(
            f"{SCHEMA}.{table} has other columns in the source ({', '.join(source_columns)}) "
            f"than in the target ({', '.join(spelled.values())}): one of them was made by "
            "another version; write to it once with this one, which brings it up to date"
        )
    names = [spelled[name.lower()] for name in source_columns]
    key_rows = writing.fetch_all(
        "dml/select_table_primary_key.sql", {"schema": SCHEMA, "table": table}
    )
    key = [str(name) for (name,) in key_rows] or names
    read = RowDigest()
    for batch in reading.read_batches(table, source_columns, batch_rows):
        rows = pa.Table.from_batches([batch]).rename_columns(names)
        writing.append_arrow(table, rows)
        read.add(rows.select(key))
    _verify(reading, writing, table, key, read, batch_rows)
    return CopiedTable(table, read.rows, tuple(key), time.monotonic() - started)


def _verify(
    reading: Session,
    writing: Session,
    table: str,
    key: Sequence[str],
    read: RowDigest,
    batch_rows: int,
) -> None:
    """Raise :class:`CopyVerificationError` unless the target's ``table`` holds as many rows as
    the source's, with the keys read from it."""
    in_source, in_target = reading.count_rows(table), writing.count_rows(table)
    if not in_source == read.rows == in_target:
        raise CopyVerificationError(
            f"{SCHEMA}.{table}: the source holds {plural(in_source, 'row')}, "
            f"{plural(read.rows, 'row')} were read and loaded, and the target holds "
            f"{plural(in_target, 'row')}; nothing was copied",
            table,
        )
    loaded = RowDigest()
    for batch in writing.read_batches(table, key, batch_rows):
        loaded.add(batch)
    if loaded != read:
        raise CopyVerificationError(
            f"{SCHEMA}.{table}: the keys ({', '.join(key)}) of the rows in the target differ "
            "from those read from the source; nothing was copied",
            table,
        )
