"""Arrow rows in PostgreSQL's binary COPY format: what the server reads back is what was sent."""

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from smspresto_pipeline.storage.postgres.arrow import copy_into_temp_table
from smspresto_pipeline.storage.postgres.binary import encodable, encode_rows

# Each type the encoder writes, and values at its edges (None: NULL).
EDGES: dict[str, tuple[pa.DataType, list[Any]]] = {
    "text": (pa.string(), ["", "a", 'quote " comma , newline \n tab \t', "reçu n° 7 ✓", None]),
    "big": (pa.int64(), [0, -1, 2**63 - 1, -(2**63), None]),
    "int": (pa.int32(), [0, -1, 2**31 - 1, -(2**31), None]),
    "small": (pa.int16(), [0, -1, 2**15 - 1, -(2**15), None]),
    "flag": (pa.bool_(), [True, False, None, True, False]),
    "day": (
        pa.date32(),
        [date(2000, 1, 1), date(1999, 12, 31), date(1, 1, 1), None, date(9999, 12, 31)],
    ),
    "at": (
        pa.timestamp("us"),
        [
            datetime(2000, 1, 1),
            datetime(1999, 12, 31, 23, 59, 59, 999999),
            datetime(1, 1, 1),
            None,
            datetime(9999, 12, 31, 23, 59, 59, 999999),
        ],
    ),
    "at_s": (pa.timestamp("s"), [datetime(2026, 3, 1, 10), None, datetime(1970, 1, 1), None, None]),
    "at_utc": (
        pa.timestamp("us", tz="UTC"),
        [datetime(2026, 3, 1, 10, tzinfo=UTC), None, datetime(1970, 1, 1, tzinfo=UTC), None, None],
    ),
}


def _random_values(kind: pa.DataType, count: int, rng: random.Random) -> list[Any]:
    def one() -> Any:
        if rng.random() < 0.2:
            return None
        if pa.types.is_string(kind):
            return "".join(rng.choice('ab,"\n\\é✓ ') for _ in range(rng.randrange(12)))
        if pa.types.is_boolean(kind):
            return rng.random() < 0.5
        if pa.types.is_integer(kind):
            bits = kind.bit_width - 1
            return rng.randrange(-(2**bits), 2**bits)
        if pa.types.is_date32(kind):
            return date(1, 1, 1) + timedelta(days=rng.randrange(3_652_058))
        moment = datetime(1, 1, 1) + timedelta(microseconds=rng.randrange(315_537_897_599_999_999))
        if kind.unit == "s":
            moment = moment.replace(microsecond=0)
        return moment.replace(tzinfo=UTC) if kind.tz else moment

    return [one() for _ in range(count)]


def _round_trip(con: psycopg.Connection, table: pa.Table) -> list[tuple[Any, ...]]:
    """``table``'s rows as the server holds them once copied, in order."""
    numbered = table.append_column("position", pa.array(range(table.num_rows), pa.int64()))
    copy_into_temp_table(con, "loaded", numbered)
    rows = con.execute("SELECT * FROM loaded ORDER BY position").fetchall()
    con.execute("DROP TABLE loaded")
    return [row[:-1] for row in rows]


def test_every_encodable_type_reads_back_as_sent_at_its_edges_and_at_random(
    postgres_url: str,
) -> None:
    edges = pa.table({name: pa.array(values, kind) for name, (kind, values) in EDGES.items()})
    rng = random.Random(7)
    drawn = pa.table(
        {
            name: pa.array(_random_values(kind, 3_000, rng), kind)
            for name, (kind, _) in EDGES.items()
        }
    )
    # Several chunks, and slices at offsets: the encoder reads each array's own window.
    chunked = pa.concat_tables([drawn.slice(0, 1_000), drawn.slice(1_000)]).slice(17, 2_500)
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("SET TIME ZONE 'UTC'")
        for table in (edges, drawn, chunked):
            assert _round_trip(con, table) == [tuple(row.values()) for row in table.to_pylist()]


def test_a_table_with_a_type_the_format_cannot_take_goes_as_csv(postgres_url: str) -> None:
    table = pa.table({"tags": pa.array([["a", "b"], None]), "n": pa.array([1.5, None])})
    assert not encodable(table.schema.field("tags").type)
    with pytest.raises(TypeError, match="tags"):
        encode_rows(table.to_batches()[0])
    with psycopg.connect(postgres_url, autocommit=True) as con:
        assert _round_trip(con, table) == [(["a", "b"], 1.5), (None, None)]


def test_an_empty_batch_is_no_rows() -> None:
    assert bytes(encode_rows(pa.record_batch({"n": pa.array([], pa.int64())}))) == b""
