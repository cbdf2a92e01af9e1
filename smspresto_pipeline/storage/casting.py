"""The API's strings typed as the history stores them, once, while staging, for either engine.

``list-archive`` sends every field as a string, and the odd ones ("", ``0000-00-00 00:00:00``)
must become NULL rather than fail a day. DuckDB's ``TRY_CAST`` is the reference reading
(``sql/duckdb/dml/select_typed_archive_fields.sql``); typing here, before either engine stores
the rows, makes a PostgreSQL warehouse hold the very values a DuckDB one does, and spares its
server typing them again row by row (measured with ``benchmarks/postgres_write.py``: about a
third of the server's CPU per message).

Most values are in one canonical form (``2026-03-01 10:00:04``, ``1234``): Arrow's kernels read
those (its cast of a time is as strict as ``TRY_CAST``: no ``2026-02-30``, no ``10:00:60``; a
batch holding such a value is read by the reference). Every other non-empty value, and only
those, goes to ``TRY_CAST`` in an in-memory DuckDB: a query costs milliseconds, a day has
thousands of rows, and a day's odd values are few.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from smspresto_pipeline.storage.queries import DUCKDB, load_sql
from smspresto_pipeline.storage.scratch import scratch_cursor

__all__ = ["TYPED_ARCHIVE_FIELDS", "TYPED_FROM", "type_archive_fields"]

#: The API's fields that the history types, in the order :func:`type_archive_fields` takes them.
TYPED_FROM = (
    "IDHISTORIQUE",
    "HIS_NOMBRESMS",
    "HIS_DATEHEURECREA",
    "HIS_DATEHEUREENVOI",
    "IDDATEHEURE",
)

#: The typed columns, by the name the staged rows give them, and their types.
TYPED_ARCHIVE_FIELDS = pa.schema(
    [
        pa.field("typed_history_id", pa.int64()),
        pa.field("typed_segments", pa.int32()),
        pa.field("typed_created_at", pa.timestamp("us")),
        pa.field("typed_sent_at", pa.timestamp("us")),
        pa.field("typed_queued_at", pa.timestamp("us")),
    ]
)

# Canonical integers: digits few enough for the type (TRY_CAST reads more: '1e3', '0x10').
_DIGITS = {pa.int64(): r"^-?[0-9]{1,18}$", pa.int32(): r"^-?[0-9]{1,9}$"}
# Canonical times: the API's own form, to the second.
_TIME_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
# Known to be NULL for TRY_CAST (and the API's "no value"): no need to ask DuckDB.
_NO_VALUE = pa.array(["", "0000-00-00 00:00:00"])


def _spaces_trimmed(values: pa.Array) -> pa.Array:
    """As DuckDB's ``trim``: spaces only."""
    return pc.utf8_trim(values, characters=" ")


def _fast(text: pa.Array, kind: pa.DataType) -> pa.Array:
    """The values of ``text`` (trimmed) that Arrow reads for certain, NULL elsewhere."""
    if pa.types.is_integer(kind):
        canonical = pc.match_substring_regex(text, _DIGITS[kind])
        return pc.if_else(canonical, text, pa.scalar(None, pa.string())).cast(kind)
    # Year 0 is left to the reference: PostgreSQL has none, and its SQL makes it NULL.
    canonical = pc.and_(
        pc.match_substring_regex(text, _TIME_SHAPE), pc.invert(pc.starts_with(text, "0000"))
    )
    try:
        # Arrow's cast reads ISO 8601 strictly (no 2026-02-30, no 10:00:60), as TRY_CAST does.
        return pc.if_else(canonical, text, pa.scalar(None, pa.string())).cast(kind)
    except pa.ArrowInvalid:
        # A value of that shape that is no time: the reference reads the batch's values.
        return pa.nulls(len(text), kind)


def type_archive_fields(fields: pa.Table) -> list[pa.Array]:
    """The columns of :data:`TYPED_ARCHIVE_FIELDS` for ``fields`` (the API's fields
    :data:`TYPED_FROM`, as strings, in that order), row for row: what DuckDB's ``TRY_CAST``
    gives for each value."""
    texts = [_spaces_trimmed(fields.column(i).combine_chunks()) for i in range(len(TYPED_FROM))]
    kinds = [field.type for field in TYPED_ARCHIVE_FIELDS]
    typed = [_fast(text, kind) for text, kind in zip(texts, kinds, strict=True)]
    odd = None
    for text, value in zip(texts, typed, strict=True):
        unread = pc.and_(pc.is_null(value), pc.invert(pc.is_in(text, _NO_VALUE)))
        unread = pc.fill_null(unread, False)  # a NULL text is NULL
        odd = unread if odd is None else pc.or_(odd, unread)
    if odd is None or not pc.any(odd).as_py():
        return typed
    with scratch_cursor() as con:
        result = con.from_arrow(fields.filter(odd)).query(
            "fields", load_sql("dml/select_typed_archive_fields.sql", DUCKDB)
        )
        assert result is not None  # a SELECT's relation
        reference = result.to_arrow_table()
    return [
        pc.replace_with_mask(value, odd, reference.column(i).combine_chunks().cast(kind))
        for i, (value, kind) in enumerate(zip(typed, kinds, strict=True))
    ]
