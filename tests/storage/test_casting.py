"""The API's strings typed while staging: what DuckDB's TRY_CAST reads, value for value."""

import random
from datetime import date

import duckdb
import pyarrow as pa

from smspresto_pipeline.storage.casting import TYPED_FROM, type_archive_fields
from smspresto_pipeline.storage.queries import DUCKDB, load_sql

# Canonical values, the API's "no value", and what a lenient reader would get wrong.
ODD = [
    "2026-03-01 10:00:04",
    "2026-02-30 10:00:00",  # no such day (Arrow's strptime reads March 2)
    "2026-01-01 10:00:60",  # no such second (Arrow reads 10:01)
    "2026-01-01 24:00:00",  # DuckDB reads the next day
    "2026-1-1 10:00:00",
    "2026-03-01T10:00:04",
    "2026-03-01 10:00:04.5",
    "2026-03-01",
    "0000-00-00 00:00:00",
    "0000-01-01 00:00:00",
    "0999-12-31 23:59:59",
    "10000-01-01 00:00:00",
    "  2026-03-01 10:00:04  ",
    "\t2026-03-01 10:00:04",
    "",
    " ",
    None,
    "12",
    "-0",
    "007",
    "+12",
    " 12 ",
    "\t12",
    "1_000",
    "0x10",
    "1e3",
    "12.0",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "999999999999999999",
    "-999999999",
    "abc",
    "١٢",  # Arabic-Indic digits
]


def _reference(fields: pa.Table) -> list[list[object]]:
    sql = load_sql("dml/select_typed_archive_fields.sql", DUCKDB)
    with duckdb.connect() as con:
        relation = con.from_arrow(fields).query("fields", sql)
        assert relation is not None
        table = relation.to_arrow_table()
    return [table.column(i).to_pylist() for i in range(table.num_columns)]


def _fields(rows: list[list[str | None]]) -> pa.Table:
    return pa.table(
        {name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(TYPED_FROM)}
    )


def test_each_odd_value_is_typed_as_try_cast_types_it_in_every_column() -> None:
    fields = _fields([[value] * len(TYPED_FROM) for value in ODD])
    typed = [column.to_pylist() for column in type_archive_fields(fields)]
    assert typed == _reference(fields)
    # The canonical readings, and the API's no-value, as the history has always had them.
    created_at = typed[2]
    assert str(created_at[0]) == "2026-03-01 10:00:04"
    assert [created_at[i] for i in (1, 2, 8)] == [None, None, None]
    assert created_at[9] is None  # year 0: none in PostgreSQL, none on either engine


def test_random_mixes_of_canonical_and_odd_values_match_try_cast() -> None:
    rng = random.Random(11)

    def value() -> str | None:
        pick = rng.random()
        if pick < 0.5:
            day = f"{rng.randrange(1, 10000):04d}-{rng.randrange(14):02d}-{rng.randrange(33):02d}"
            return f"{day} {rng.randrange(26):02d}:{rng.randrange(62):02d}:{rng.randrange(62):02d}"
        if pick < 0.8:
            return str(rng.randrange(-(10**19), 10**19) // 10 ** rng.randrange(19))
        return rng.choice(ODD)

    rows = [[value() for _ in TYPED_FROM] for _ in range(5_000)]
    fields = _fields(rows)
    typed = [column.to_pylist() for column in type_archive_fields(fields)]
    assert typed == _reference(fields)


def test_batches_of_canonical_values_alone_match_try_cast() -> None:
    """Read by Arrow's kernels alone (no odd value sends the batch to the reference): every
    day of the calendar's edges, leap days included, and integers of every width."""
    rng = random.Random(5)
    days = [f"{year:04d}-02-29" for year in (4, 1900, 2000, 2023, 2024, 9996)]
    days += [
        f"{rng.randrange(1, 10000):04d}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        for _ in range(2_000)
    ]
    days += ["0001-01-01", "9999-12-31"]
    valid = []
    for day in days:
        try:
            date.fromisoformat(day)
        except ValueError:
            continue
        valid.append(
            f"{day} {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        )
    numbers = [str(rng.randrange(-(10**9) + 1, 10**9)) for _ in valid]
    fields = _fields([[n, n, t, t, t] for n, t in zip(numbers, valid, strict=True)])
    typed = [column.to_pylist() for column in type_archive_fields(fields)]
    assert typed == _reference(fields)
    assert None not in typed[2]
