"""Arrow in and out of PostgreSQL: tables bulk-loaded as temporary tables of the session, and
results typed as Arrow columns.

A load is a ``COPY ... FROM STDIN (FORMAT CSV)`` of what ``pyarrow.csv`` writes (Arrow's C
writer), on the session's own connection, so the temporary table is in its transaction. Measured
on a 200,000-row day of messages (``benchmarks/postgres_load.py``): 0.95 s, against 0.83 s for
ADBC's ``adbc_ingest`` (whose temporary table lives on ADBC's own connection, out of the
session's reach) and 3.0 s for psycopg's binary COPY written row by row from Python.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from smspresto_pipeline.sms.arrow import POOL
from smspresto_pipeline.storage.postgres.binary import (
    BINARY_HEADER,
    BINARY_TRAILER,
    encodable,
    encode_rows,
)

__all__ = [
    "NumericLoader",
    "copy_into_table",
    "copy_into_temp_table",
    "to_arrow",
    "to_record_batch",
]

# The rows written per COPY chunk: a spilled Parquet file is read, and an Arrow table written, a
# slice at a time. Measured on a day of 220,000 messages staged in a Parquet file: the write's
# peak was 333 MB at 65,536 rows a slice (its Arrow batch and CSV text) and 250 MB at 8,192,
# for the same server CPU.
_BATCH_ROWS = 8_192
_CSV = pa_csv.WriteOptions(include_header=False, batch_size=_BATCH_ROWS)


def _pg_type(arrow: pa.DataType) -> str:
    """The PostgreSQL column type holding ``arrow``'s values."""
    if pa.types.is_dictionary(arrow):
        return _pg_type(arrow.value_type)
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return _pg_type(arrow.value_type) + "[]"
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_int8(arrow) or pa.types.is_int16(arrow) or pa.types.is_uint8(arrow):
        return "smallint"
    if pa.types.is_int32(arrow) or pa.types.is_uint16(arrow):
        return "integer"
    if pa.types.is_integer(arrow):
        return "bigint"
    if pa.types.is_floating(arrow):
        return "double precision"
    if pa.types.is_decimal(arrow):
        return "numeric"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_timestamp(arrow):
        return "timestamptz" if arrow.tz else "timestamp"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or pa.types.is_null(arrow):
        return "varchar"
    raise TypeError(f"no PostgreSQL column type for Arrow's {arrow}")


def _array_literal(values: list[Any] | None) -> str | None:
    """A list as PostgreSQL's array text (each element quoted), for a CSV field."""
    if values is None:
        return None
    quoted = (
        "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}"


def _csv_ready(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    """``batch`` with the columns the CSV writer cannot write turned into text it can: lists as
    array literals, dictionaries decoded."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_dictionary(field.type):
            column = pc.cast(column, field.type.value_type)
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            column = pa.chunked_array(
                [pa.array([_array_literal(v) for v in column.to_pylist()], pa.string())]
            )
        else:
            continue
        table = table.set_column(index, field.name, column)
    return table


def _batches(table: pa.Table, parquet: Sequence[Path]) -> Iterable[pa.Table | pa.RecordBatch]:
    yield table
    for path in parquet:
        yield from pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS)


def copy_into_temp_table(
    con: psycopg.Connection, relation: str, table: pa.Table, parquet: Sequence[Path] = ()
) -> None:
    """Create the temporary table ``relation`` with ``table``'s columns and copy into it
    ``table``'s rows, then those of the Parquet files ``parquet`` (the same columns)."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(field.name.lower()), sql.SQL(_pg_type(field.type)))
        for field in table.schema
    )
    name = sql.Identifier(relation)
    con.execute(sql.SQL("CREATE TEMP TABLE {} ({})").format(name, columns))
    # Its columns have the types of table's own: the binary format fits them exactly.
    binary = all(encodable(field.type) for field in table.schema)
    (_copy_binary if binary else _copy)(con, name, _batches(table, parquet))


def copy_into_table(con: psycopg.Connection, schema: str, relation: str, table: pa.Table) -> None:
    """Copy ``table``'s rows into the table ``relation`` of ``schema``, its columns by name (as
    the catalog spells them)."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in table.column_names)
    target = sql.SQL("{}.{} ({})").format(sql.Identifier(schema), sql.Identifier(relation), columns)
    _copy(con, target, [table])


def _copy(
    con: psycopg.Connection, target: sql.Composable, batches: Iterable[pa.Table | pa.RecordBatch]
) -> None:
    """``COPY`` the rows of ``batches`` into ``target`` (a table, with its columns or not)."""
    with con.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT CSV)").format(target)) as copy:
        for batch in batches:
            # A slice at a time (no copy): the CSV text of a slice is all that is held.
            for start in range(0, batch.num_rows, _BATCH_ROWS):
                buffer = io.BytesIO()
                pa_csv.write_csv(_csv_ready(batch.slice(start, _BATCH_ROWS)), buffer, _CSV)
                copy.write(buffer.getbuffer())


def _copy_binary(
    con: psycopg.Connection, target: sql.Composable, batches: Iterable[pa.Table | pa.RecordBatch]
) -> None:
    """``COPY`` the rows of ``batches`` into ``target`` in the binary format: each column must
    be :func:`encodable`, and of the column type :func:`_pg_type` gives it."""
    statement = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(target)
    with con.cursor().copy(statement) as copy:
        copy.write(BINARY_HEADER)
        for batch in batches:
            for start in range(0, batch.num_rows, _BATCH_ROWS):
                piece = batch.slice(start, _BATCH_ROWS)
                if isinstance(piece, pa.Table):
                    piece = piece.combine_chunks(memory_pool=POOL).to_batches()[0]
                copy.write(encode_rows(piece))
        copy.write(BINARY_TRAILER)


class NumericLoader(Loader):
    """``numeric`` values as Python numbers: an ``int`` when integral (PostgreSQL sums and
    counts of integers in ``numeric``, where DuckDB gives integers), else a ``float``."""

    def load(self, data: Buffer) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


# PostgreSQL's type OIDs (pg_type.oid) and the Arrow types their values go in.
_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    1042: pa.string(),
    19: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1009: pa.list_(pa.string()),
    1015: pa.list_(pa.string()),
    1016: pa.list_(pa.int64()),
    1007: pa.list_(pa.int32()),
}


def to_arrow(cursor: psycopg.Cursor[Any]) -> pa.Table:
    """The rows of ``cursor``'s result as an Arrow table, typed from the columns' types (so an
    empty result has its columns too); a type without a match (``numeric``: integers or not,
    see :class:`NumericLoader`) is left to Arrow to infer."""
    return pa.Table.from_batches([to_record_batch(cursor.description or [], cursor.fetchall())])


def to_record_batch(
    description: Sequence[psycopg.Column], rows: Sequence[Sequence[Any]]
) -> pa.RecordBatch:
    """``rows`` of a result described by ``description`` as an Arrow record batch, typed as
    :func:`to_arrow` types them."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(description)
    arrays = [
        pa.array(values, type=_ARROW_TYPES.get(column.type_code))
        for column, values in zip(description, columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=[column.name for column in description])
