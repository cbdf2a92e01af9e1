"""The data-quality checks on a real DuckDB file: a good day (the simulator's, read over HTTP
and written by the warehouse) passes every check; a crafted bad day fails each, with counts."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import CountingConnection, MakeSimulator

from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.checks.quality import (
    QUALITY_CHECKS,
    QualityResult,
    check_data_quality,
    run_quality_check,
)
from smspresto_pipeline.warehouse import Warehouse

GOOD = date(2025, 3, 6)
OTHER = date(2025, 3, 7)
EMPTY = date(2025, 3, 8)  # no row at all
BAD = date(2025, 3, 9)
# Codes 0-2 as by default; the simulator's rare 3 named too, so the good days are all mapped.
STATUS_MAP = {"0": "pending", "1": "delivered", "2": "failed", "3": "rejected"}


INSERT_RAW = """
INSERT INTO smspresto.archive_raw (
    IDHISTORIQUE, HIS_DESTINATAIRE, HIS_EXPEDITEUR, HIS_MESSAGE, HIS_STATUT, HIS_NOMBRESMS,
    HIS_DATEHEURECREA, HIS_DATEHEUREENVOI, partition_date, loaded_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())
"""


def record(history_id: str, **fields: str) -> dict[str, str]:
    row = {
        "IDHISTORIQUE": history_id,
        "HIS_DESTINATAIRE": "+2250701020304",
        "HIS_EXPEDITEUR": "ONIRIS",
        "HIS_MESSAGE": "Bonjour",
        "HIS_STATUT": "1",
        "HIS_NOMBRESMS": "1",
        "HIS_DATEHEURECREA": f"{BAD} 10:00:00",
        "HIS_DATEHEUREENVOI": f"{BAD} 10:00:02",
    }
    return row | fields


@pytest.fixture
def con(make_simulator: MakeSimulator, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Two of the simulator's days as the ingestion writes them, and a crafted bad day."""
    path = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(path, status_map=STATUS_MAP)
    with (
        make_simulator(messages_per_day=200) as sim,
        SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client,
    ):
        for day in (GOOD, OTHER):
            warehouse.write_partition(day, client.iter_archive_pages(day, day))
    with warehouse.connect(read_only=True) as reading:
        (taken,) = reading.execute(
            "SELECT min(history_id) FROM smspresto.messages WHERE partition_date = ?", [OTHER]
        ).fetchone() or (None,)
    bad_page = [
        record("900001"),
        record("900002"),
        record("900002"),  # repeated within the day
        record("not-a-number"),  # kept in archive_raw only
        record(str(taken)),  # this id is OTHER's too
        record("900003", HIS_DESTINATAIRE=""),
        record("900004", HIS_DATEHEURECREA="0000-00-00 00:00:00"),
        record("900005", HIS_DATEHEUREENVOI=f"{BAD - timedelta(days=1)} 23:59:00"),
        record("900006", HIS_STATUT="7"),
        record("900007", HIS_STATUT="7"),
        record("900008", HIS_STATUT=""),
    ]
    # The writer keeps history ids unique in messages (a day's repeats are dropped there, and
    # an id of another day fails the primary key), so the raw rows go in as SQL, the typed ones
    # (one of each id) through the writer.
    seen: set[str] = set()
    unique = []
    for row in bad_page:
        if row["IDHISTORIQUE"] not in seen and row["IDHISTORIQUE"] != str(taken):
            seen.add(row["IDHISTORIQUE"])
            unique.append(row)
    warehouse.write_partition(BAD, [unique])
    with warehouse.transaction() as writing:
        writing.execute("DELETE FROM smspresto.archive_raw WHERE partition_date = ?", [BAD])
        writing.executemany(INSERT_RAW, [[*row.values(), BAD] for row in bad_page])
    with warehouse.connect(read_only=True) as connection:
        yield connection


def by_name(results: list[QualityResult]) -> dict[str, QualityResult]:
    return {result.name: result for result in results}


def test_a_good_day_passes_every_check(con: duckdb.DuckDBPyConnection) -> None:
    results = check_data_quality(con, GOOD)
    assert [r.name for r in results] == list(QUALITY_CHECKS)
    for result in results:
        assert result.passed, result.description
        assert result.failing_rows == 0


def test_a_crafted_bad_day_fails_each_check_with_its_counts(
    con: duckdb.DuckDBPyConnection,
) -> None:
    results = by_name(check_data_quality(con, BAD))
    ids = results["history_id_unique"]
    assert not ids.passed
    assert dict(ids.counts) == {"missing": 1, "repeated": 1, "in_other_days": 1}
    assert ids.description == (
        "1 row without a numeric history id, 1 repeated within the day, 1 also in another day"
    )
    required = results["required_fields_present"]
    assert not required.passed
    assert dict(required.counts) == {"no_recipient": 1, "no_created_at": 1}
    statuses = results["statuses_mapped"]
    assert not statuses.passed
    assert dict(statuses.counts) == {"7": 2, "": 1}
    assert statuses.failing_rows == 3
    times = results["sent_not_before_created"]
    assert not times.passed
    assert times.failing_rows == 1


def test_one_query_per_check_judges_every_day_of_a_range(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The checks of a ranged run: each check reads GOOD...BAD in one query and judges each day
    on its own rows; OTHER shares one history id with BAD (each is "another day" of the
    other), the day without rows passes."""
    counting = CountingConnection(con)
    results = {name: run_quality_check(counting, name, GOOD, BAD) for name in QUALITY_CHECKS}
    assert counting.statements == len(QUALITY_CHECKS)
    for name, by_day in results.items():
        assert list(by_day) == [GOOD, OTHER, EMPTY, BAD]
        assert [(r.name, r.day) for r in by_day.values()] == [(name, day) for day in by_day]
    failing = {
        (name, day): dict(result.counts)
        for name, by_day in results.items()
        for day, result in by_day.items()
        if not result.passed
    }
    assert failing == {
        ("history_id_unique", OTHER): {"missing": 0, "repeated": 0, "in_other_days": 1},
        ("history_id_unique", BAD): {"missing": 1, "repeated": 1, "in_other_days": 1},
        ("required_fields_present", BAD): {"no_recipient": 1, "no_created_at": 1},
        ("statuses_mapped", BAD): {"7": 2, "": 1},
        ("sent_not_before_created", BAD): {"sent_before_created": 1},
    }
    assert results["statuses_mapped"][BAD].description == (
        "3 messages with a status code the status map does not name ('7': 2, '': 1)"
    )
    for by_day in results.values():
        assert by_day[EMPTY].failing_rows == 0
        assert by_day[GOOD].failing_rows == 0


def test_a_range_that_ends_before_it_starts_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="last must not be before first, got 2025-03-09 to "):
        run_quality_check(con, "statuses_mapped", BAD, GOOD)


def test_an_unknown_check_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="unknown quality check 'nope'"):
        run_quality_check(con, "nope", GOOD)
