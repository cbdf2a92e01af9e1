"""An order-free digest of rows in Arrow batches: equal digests, equal multisets of rows (but
for a collision of 64-bit sums), whichever engine the rows came from and in whatever order.

Each row is written as one canonical text, a JSON list of its values each prefixed with its
kind (``i`` integers and decimals, as exact numbers without trailing zeros; ``f`` floats;
``b`` booleans; ``s`` strings; ``x`` bytes, in hex; ``d`` dates; ``t`` timestamps, ``z`` those
with a time zone: microseconds since the epoch, the instant for the latter), NULL as ``null``;
the texts' 64-bit hashes are summed modulo 2^64. So a value counts by its kind and value only:
an INTEGER and a BIGINT of one number encode alike (the engines' widths differ), ``1``,
``1.0`` and ``true`` do not, nor ``-1`` and ``-2`` (Python's ``hash`` takes them for each
other, and ``1`` for ``1.0`` and ``True``). The texts and their hashes are computed by an
in-memory DuckDB over each batch, column-wise: a batch is never turned into Python objects.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from smspresto_pipeline.storage.scratch import scratch_cursor

__all__ = ["RowDigest"]

_MASK = (1 << 64) - 1
#: The name a batch is read under by the digest's query.
_ROWS = "digested_rows"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _encoded(name: str, kind: pa.DataType) -> str:
    """The SQL expression of a column's values as canonical text, its kind first (NULL stays
    NULL: ``||`` propagates it)."""
    column = _quoted(name)
    if pa.types.is_null(kind):  # a column of NULLs only, its type unknown
        return "CAST(NULL AS VARCHAR)"
    if pa.types.is_integer(kind):
        return f"'i' || CAST({column} AS VARCHAR)"
    if pa.types.is_decimal(kind):
        text = f"CAST({column} AS VARCHAR)"
        if kind.scale > 0:  # 5.50 as 5.5, 5.00 as 5: the number, whatever its scale
            text = f"rtrim(rtrim({text}, '0'), '.')"
        return f"'i' || {text}"
    if pa.types.is_floating(kind):
        return f"'f' || CAST(CAST({column} AS DOUBLE) AS VARCHAR)"
    if pa.types.is_boolean(kind):
        return f"'b' || CAST({column} AS VARCHAR)"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return f"'s' || {column}"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return f"'x' || hex({column})"
    if pa.types.is_date(kind):
        return f"'d' || CAST(CAST({column} AS DATE) AS VARCHAR)"
    if pa.types.is_timestamp(kind):
        return f"'{'z' if kind.tz else 't'}' || CAST(epoch_us({column}) AS VARCHAR)"
    raise TypeError(f"the rows' column {name!r} is of type {kind}, which the digest cannot encode")


@dataclasses.dataclass
class RowDigest:
    """Rows counted and digested in any order, a batch at a time (:meth:`add`); two digests
    are equal when they saw the same multiset of rows."""

    rows: int = 0
    total: int = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Count and digest ``batch``'s rows (its columns in the order given)."""
        if not batch.num_rows:
            return
        values = ", ".join(_encoded(field.name, field.type) for field in batch.schema)
        query = f"SELECT sum(hash(to_json([{values}]))) FROM {_ROWS}"
        with scratch_cursor() as con:  # a connection of its own: any thread may add
            # Summed as HUGEINT, exactly, then taken modulo 2^64 here.
            result = con.from_arrow(batch).query(_ROWS, query)
            assert result is not None  # a SELECT's relation (None is a statement's without rows)
            ((total,),) = result.fetchall()
        self.rows += batch.num_rows
        self.total = (self.total + int(total)) & _MASK
