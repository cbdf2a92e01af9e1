"""The circuit breaker's record in a real DuckDB file: trips, clears, a person's resume, the
history, idempotent writes, and files made before the table existed."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from smspresto_pipeline.sending import CircuitBreaker, Trip, record_check_outcome
from smspresto_pipeline.sending.breaker import RESUME_HINT
from smspresto_pipeline.warehouse import Warehouse, WarehouseSchemaError

CHECK = "archive_messages_failure_spike"
SOURCE = f"check:{CHECK}"
T0 = datetime(2025, 3, 7, 6, 0)
MTN = "carrier:MTN failures jumped from 3% to 21% on 2025-03-06"


def test_a_new_file_is_closed_and_reading_it_creates_nothing(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "none" / "warehouse.duckdb")
    breaker = CircuitBreaker(warehouse)
    state = breaker.state()
    assert (state.tripped, state.trips, state.generation, state.latest) == (False, (), 0, None)
    assert breaker.history() == []
    assert not warehouse.path.exists()
    assert "closed" in state.describe()


def test_a_trip_pauses_until_its_check_passes_again_for_that_partition(
    warehouse: Warehouse,
) -> None:
    breaker = CircuitBreaker(warehouse)
    trip = breaker.trip(MTN, source=SOURCE, partition="2025-03-06", now=T0)
    assert trip == Trip(SOURCE, "2025-03-06", MTN, T0)
    assert trip.active
    state = breaker.state()
    assert state.tripped
    assert state.latest == trip
    assert state.generation == 1
    text = state.describe()
    assert "since 2025-03-07 06:00 UTC: " + MTN in text
    assert f"({SOURCE}, partition 2025-03-06)" in text
    assert "until the check passes again for 2025-03-06 or a person resumes them" in text
    assert RESUME_HINT in text
    # Another partition passing, or another check, leaves the trip alone.
    assert breaker.clear(source=SOURCE, partition="2025-03-05") == []
    assert breaker.clear(source="check:other", partition="2025-03-06") == []
    assert breaker.state().tripped
    [ended] = breaker.clear(source=SOURCE, partition="2025-03-06", now=T0 + timedelta(hours=1))
    assert (ended.resumed_at, ended.resumed_by, ended.resume_reason) == (
        T0 + timedelta(hours=1),
        SOURCE,
        "the check passed again",
    )
    assert not ended.active
    assert not breaker.state().tripped
    assert breaker.history() == [ended]


def test_the_state_says_how_to_resume_in_the_words_its_caller_gives(warehouse: Warehouse) -> None:
    """The state names no Dagster job: a face offering other ways to resume passes its hint."""
    breaker = CircuitBreaker(warehouse)
    breaker.trip(MTN, source=SOURCE, partition="2025-03-06", now=T0)
    breaker.trip("by hand", source="cli:ama", now=T0 + timedelta(hours=1))
    state = breaker.state()
    assert state.describe("launch the resume job").endswith(
        "a person resumes them: launch the resume job"
    )
    assert "_campaigns" not in state.describe()  # no job name (smspresto_resume_campaigns)
    breaker.resume(by="kofi", reason="fixed", now=T0 + timedelta(hours=2))
    breaker.trip(MTN, source=SOURCE, partition="2025-03-07", now=T0 + timedelta(hours=3))
    assert (
        breaker.state()
        .describe("launch the resume job")
        .endswith("a person resumes them: launch the resume job")
    )


def test_re_tripping_the_same_partition_stacks_no_trip_and_takes_the_new_reason(
    warehouse: Warehouse,
) -> None:
    breaker = CircuitBreaker(warehouse)
    breaker.trip("21%", source=SOURCE, partition="2025-03-06", now=T0)
    again = breaker.trip("23%", source=SOURCE, partition="2025-03-06", now=T0 + timedelta(1))
    assert (again.reason, again.tripped_at) == ("23%", T0)  # the first time is kept
    assert [t.reason for t in breaker.history()] == ["23%"]
    assert breaker.state().generation == 1
    # A pause by hand (no partition) is one trip per source too.
    breaker.trip("by hand", source="cli:ama", now=T0)
    breaker.trip("by hand, again", source="cli:ama", now=T0)
    assert len(breaker.history()) == 2


def test_a_later_failure_trips_again_and_a_person_resumes_every_trip(
    warehouse: Warehouse,
) -> None:
    breaker = CircuitBreaker(warehouse)
    breaker.trip("day 6", source=SOURCE, partition="2025-03-06", now=T0)
    breaker.clear(source=SOURCE, partition="2025-03-06", now=T0 + timedelta(hours=1))
    # Same partition after it was cleared: a new trip, not the old one re-opened.
    breaker.trip("day 6 again", source=SOURCE, partition="2025-03-06", now=T0 + timedelta(hours=2))
    breaker.trip("day 7", source=SOURCE, partition="2025-03-07", now=T0 + timedelta(days=1))
    text = breaker.state().describe()
    assert text.startswith("campaigns are paused by the circuit breaker since 2025-03-08 06:00")
    assert "(and 1 more active trip)" in text
    assert "each trip ends" in text
    breaker.trip("stop everything", source="cli:ama", now=T0 + timedelta(days=1, hours=1))
    state = breaker.state()
    assert [t.reason for t in state.trips] == ["stop everything", "day 7", "day 6 again"]
    assert state.generation == 4
    # The newest is a person's pause: only a person ends it, whatever the checks say.
    assert state.describe() == (
        "campaigns are paused by ama (manual pause): stop everything, since 2025-03-08 07:00 "
        "UTC (and 2 more active trips); nothing is sent until a person resumes them: " + RESUME_HINT
    )

    at = T0 + timedelta(days=2)
    ended = breaker.resume(by="kofi", reason="MTN fixed its gateway", now=at)
    assert [t.reason for t in ended] == ["stop everything", "day 7", "day 6 again"]
    assert {(t.resumed_at, t.resumed_by, t.resume_reason) for t in ended} == {
        (at, "kofi", "MTN fixed its gateway")
    }
    assert not breaker.state().tripped
    assert breaker.resume(by="kofi", reason="again") == []  # nothing left to resume
    history = breaker.history()
    assert [t.reason for t in history] == ["stop everything", "day 7", "day 6 again", "day 6"]
    assert history[-1].resumed_by == SOURCE  # the first one ended by its check
    assert len(breaker.history(limit=2)) == 2
    # The check passing later for a resumed partition changes nothing.
    assert breaker.clear(source=SOURCE, partition="2025-03-07") == []


def test_a_resume_says_who_and_why(warehouse: Warehouse) -> None:
    breaker = CircuitBreaker(warehouse)
    with pytest.raises(ValueError, match="reason must not be blank"):
        breaker.resume(by="kofi", reason=" ")
    with pytest.raises(ValueError, match="by must not be blank"):
        breaker.resume(by="", reason="fixed")
    with pytest.raises(ValueError, match="reason must not be blank"):
        breaker.trip("", source="cli:kofi")


def test_record_check_outcome_trips_on_error_clears_on_pass_and_ignores_warn(
    warehouse: Warehouse,
) -> None:
    def outcome(partition: str, severity: str | None, reason: str = MTN) -> bool:
        return record_check_outcome(
            warehouse, check_name=CHECK, partition=partition, severity=severity, reason=reason
        ).tripped

    assert outcome("2025-03-05", None) is False  # a pass with nothing to clear
    assert outcome("2025-03-05", "WARN") is False  # a warning does not pause
    assert outcome("2025-03-06", "ERROR") is True
    assert outcome("2025-03-06", "ERROR") is True  # re-run: still one trip
    assert outcome("2025-03-06", "warn") is True  # a warning is not a pass: still paused
    assert outcome("2025-03-05", None) is True  # another day passing does not clear it
    assert len(CircuitBreaker(warehouse).history()) == 1
    [trip] = CircuitBreaker(warehouse).state().trips
    assert (trip.source, trip.partition_key, trip.reason) == (SOURCE, "2025-03-06", MTN)
    assert outcome("2025-03-06", None) is False
    with pytest.raises(ValueError, match="severity must be"):
        outcome("2025-03-06", "FATAL")


def test_times_are_stored_in_utc(warehouse: Warehouse) -> None:
    paris = datetime(2025, 3, 7, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    trip = CircuitBreaker(warehouse).trip("x", source="cli:ama", now=paris)
    assert trip.tripped_at == datetime(2025, 3, 7, 13, 0)


def _file_without_the_table(path: Path) -> None:
    """A warehouse file as the previous version made it: every table but campaign_pauses."""
    Warehouse(path).ensure_schema()
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE smspresto.campaign_pauses")


def test_an_older_file_reads_closed_read_only_and_gets_the_table_on_its_first_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.duckdb"
    _file_without_the_table(path)
    # A sensor reads read-only: it cannot create the table, and it must not fail.
    reader = CircuitBreaker(Warehouse(path))
    assert reader.state().tripped is False
    assert reader.history() == []
    # A check that passes has nothing to clear: it writes nothing either.
    state = record_check_outcome(
        Warehouse(path), check_name=CHECK, partition="2025-03-06", severity=None
    )
    assert not state.tripped
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'smspresto'"
        ).fetchall()
    assert ("campaign_pauses",) not in tables
    # The first writer brings the schema up to date.
    CircuitBreaker(Warehouse(path)).trip("x", source="cli:ama")
    assert CircuitBreaker(Warehouse(path)).state().tripped


def test_an_empty_table_of_another_shape_is_recreated_one_with_rows_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.duckdb"
    _file_without_the_table(path)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE smspresto.campaign_pauses (source VARCHAR, reason VARCHAR)")
    CircuitBreaker(Warehouse(path)).trip("x", source="cli:ama")  # recreated, then written
    assert len(CircuitBreaker(Warehouse(path)).history()) == 1

    other = tmp_path / "old-with-rows.duckdb"
    _file_without_the_table(other)
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE smspresto.campaign_pauses (source VARCHAR, reason VARCHAR)")
        con.execute("INSERT INTO smspresto.campaign_pauses VALUES ('cli', 'x')")
    with pytest.raises(WarehouseSchemaError, match=r"campaign_pauses .* holds 1 row,"):
        CircuitBreaker(Warehouse(other)).trip("x", source="cli:ama")


@pytest.mark.parametrize(
    ("source", "paused_by"),
    [
        ("cli:ama", "ama"),
        ("job:smspresto_pause_campaigns:kofi", "kofi"),
        ("job:smspresto_pause_campaigns:the UI", "the UI"),
        ("ops-runbook", "ops-runbook"),
        (SOURCE, None),
    ],
)
def test_who_paused_by_hand(source: str, paused_by: str | None) -> None:
    assert Trip(source, None, "x", T0).paused_by == paused_by
