"""The copy's digest of rows: equal for the same rows in any order and as either engine types
them, different for rows Python's ``hash`` would take for each other."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from smspresto_pipeline.storage.digest import RowDigest

T = datetime(2025, 3, 7, 9, 15, 42, 123456, tzinfo=UTC)


def digest(*batches: pa.Table) -> RowDigest:
    made = RowDigest()
    for batch in batches:
        made.add(batch)
    return made


def column(*values: object, kind: pa.DataType | None = None) -> pa.Table:
    return pa.table({"value": pa.array(values, type=kind)})


def test_the_same_rows_in_any_order_and_batches_digest_alike() -> None:
    rows = pa.table({"key": ["a", "b", None, "d"], "n": pa.array([1, 2, 3, None], pa.int64())})
    shuffled = rows.take([3, 1, 0, 2])
    assert digest(rows) == digest(shuffled.slice(0, 1), shuffled.slice(1))
    assert digest(rows).rows == 4
    assert digest(rows) != digest(rows.slice(1))
    assert digest(rows) != digest(rows, rows.slice(0, 1))  # a row twice counts twice


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (column(-1), column(-2)),  # hash(-1) == hash(-2)
        (column(0), column(2**61 - 1)),  # hash(0) == hash(2**61 - 1)
        (column(1), column(1.0)),  # hash(1) == hash(1.0) == hash(True)
        (column(1), column(True)),
        (column(""), column(None, kind=pa.string())),
        (column("1"), column(1)),
        (pa.table({"a": ["x,y"], "b": ["z"]}), pa.table({"a": ["x"], "b": ["y,z"]})),
        (column(T), column(T.replace(tzinfo=None))),  # an instant is no wall time
        (column(date(2025, 3, 7)), column("2025-03-07")),
        (column(Decimal("5.5")), column(Decimal("5.05"))),
    ],
    ids=[
        "-1/-2",
        "0/2**61-1",
        "int/float",
        "int/bool",
        "empty/null",
        "text/int",
        "columns' bounds",
        "instant/wall",
        "date/text",
        "decimals",
    ],
)
def test_rows_differing_digest_apart(one: pa.Table, other: pa.Table) -> None:
    assert digest(one) != digest(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (column(7, kind=pa.int32()), column(7, kind=pa.int64())),  # INTEGER, BIGINT
        (column(Decimal("5.00"), Decimal("100.50")), column(5, Decimal("100.5"))),
        (
            column(T, kind=pa.timestamp("us", tz="UTC")),
            column(T, kind=pa.timestamp("us", tz="Africa/Abidjan")),
        ),
        (
            column(T.replace(microsecond=123000), kind=pa.timestamp("ms")),
            column(T.replace(microsecond=123000), kind=pa.timestamp("us")),
        ),
        (column("x", kind=pa.string()), column("x", kind=pa.large_string())),
        (column(date(2025, 3, 7), kind=pa.date32()), column(date(2025, 3, 7), kind=pa.date64())),
        (column(None, None), column(None, None, kind=pa.string())),
    ],
    ids=["widths", "decimals' scale", "time zones", "units", "strings", "dates", "nulls"],
)
def test_the_same_values_typed_as_either_engine_may_digest_alike(
    one: pa.Table, other: pa.Table
) -> None:
    assert digest(one) == digest(other)


def test_a_type_it_cannot_encode_is_named() -> None:
    with pytest.raises(TypeError, match=r"'value' is of type list<item: int64>"):
        digest(column([1, 2]))
