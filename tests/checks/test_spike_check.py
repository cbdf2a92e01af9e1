"""The spike check as a partitioned Dagster asset check, in real runs: the simulator's history
is backfilled into DuckDB by ``archive_messages``, then a day's partition is materialized with
its check, as the daily run does."""

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from smspresto_pipeline.checks.definitions import (
    FAILURE_SPIKE_CHECK,
    build_data_quality_checks,
    build_failure_spike_check,
)
from smspresto_pipeline.ingest.assets import build_archive_messages_asset
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import CircuitBreaker
from smspresto_pipeline.simulator import SimulatorConfig, Spike, run_simulator
from smspresto_pipeline.warehouse import Warehouse

START = date(2025, 1, 13)
END = date(2025, 2, 16)
CARRIER_SPIKE = date(2025, 2, 12)
CLEAN_DAY = date(2025, 2, 10)

ARCHIVE = build_archive_messages_asset(start_date=START.isoformat())
CHECK = build_failure_spike_check(asset=ARCHIVE, recent_days=10)
QUALITY = build_data_quality_checks(asset=ARCHIVE)


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Any]]:
    """A running simulator whose history (MTN failing six times as often on CARRIER_SPIKE) is
    in DuckDB, by one backfill run of ``archive_messages`` alone; its resources and instance."""
    directory = tmp_path_factory.mktemp("spike_check")
    config = SimulatorConfig(
        db_path=directory / "simulator.sqlite3",
        history_start=START,
        history_end=END,
        messages_per_day=500,
        spike_period=0,
        spikes=(Spike(CARRIER_SPIKE, "carrier:MTN", 6.0),),
    )
    with run_simulator(config) as sim, dg.DagsterInstance.ephemeral() as instance:
        resources = {
            "smspresto": SMSPrestoResource(
                api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
            ),
            "warehouse": WarehouseResource(path=str(Path(directory) / "warehouse.duckdb")),
        }
        result = dg.materialize(
            [ARCHIVE, CHECK],
            resources=resources,
            instance=instance,
            selection=dg.AssetSelection.assets(ARCHIVE).without_checks(),
            tags={
                "dagster/asset_partition_range_start": START.isoformat(),
                "dagster/asset_partition_range_end": END.isoformat(),
            },
        )
        assert result.success
        yield resources, instance


def check_day(backfilled: tuple[dict[str, Any], Any], day: date) -> dg.AssetCheckEvaluation:
    resources, instance = backfilled
    result = dg.materialize(
        [ARCHIVE, CHECK], resources=resources, instance=instance, partition_key=day.isoformat()
    )
    assert result.success  # the check is not blocking: a spike fails the check, not the run
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == FAILURE_SPIKE_CHECK
    assert evaluation.partition == day.isoformat()
    return evaluation


def test_the_check_passes_on_a_clean_day(backfilled: tuple[dict[str, Any], Any]) -> None:
    evaluation = check_day(backfilled, CLEAN_DAY)
    assert evaluation.passed
    metadata: dict[str, Any] = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["flagged_segments"] == "none"
    assert metadata["reason"].startswith("all failures at ")
    rate = metadata["failure_rate"]
    assert rate == pytest.approx(metadata["failed"] / metadata["final_messages"], abs=5e-5)
    interval = re.fullmatch(
        r"[\d.]+% \(([\d.]+)% to ([\d.]+)%\)", metadata["failure_rate_interval"]
    )
    assert interval is not None
    assert float(interval[1]) / 100 < rate < float(interval[2]) / 100
    assert 0 < metadata["p_value"] <= 1
    recent = metadata["recent_days"].records
    assert len(recent) == 10
    assert recent[-1].data["day"] == CLEAN_DAY.isoformat()
    last = recent[-1].data
    assert (last["messages"], last["failed"]) == (metadata["final_messages"], metadata["failed"])
    assert last["band_low"] < last["baseline"] < last["band_high"]
    assert {record.data["severity"] for record in recent} == {"pass"}


def test_the_check_fails_at_error_on_a_carrier_spike(
    backfilled: tuple[dict[str, Any], Any],
) -> None:
    evaluation = check_day(backfilled, CARRIER_SPIKE)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    metadata: dict[str, Any] = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["flagged_segments"] == "carrier:MTN"
    assert metadata["reason"].startswith("carrier:MTN failures jumped from ")
    assert evaluation.description == metadata["reason"]
    worst_rows = metadata["worst_segments"].splitlines()[2:]
    assert worst_rows[0].startswith("| carrier:MTN | ERROR | ")


@pytest.mark.parametrize("day", [CLEAN_DAY, CARRIER_SPIKE])
def test_the_checks_numbers_read_as_people_write_them(
    backfilled: tuple[dict[str, Any], Any], day: date
) -> None:
    """Rates to 4 decimals, the p-value to 3 significant digits: numbers still (the UI plots
    them), never ``0.000007024566263688321``."""
    metadata = check_day(backfilled, day).metadata
    numbers = [metadata[name] for name in ("failure_rate", "baseline_rate", "p_value")]
    assert all(isinstance(value, dg.FloatMetadataValue) for value in numbers)
    values: dict[str, Any] = {name: value.value for name, value in metadata.items()}
    for name in ("failure_rate", "baseline_rate"):
        assert values[name] == round(values[name], 4)
    assert values["failure_rate"] == pytest.approx(
        values["failed"] / values["final_messages"], abs=5e-5
    )
    assert values["p_value"] == float(f"{values['p_value']:.3g}")
    floats = [v for v in values.values() if isinstance(v, float)]
    for record in values["recent_days"].records:
        floats += [v for v in record.data.values() if isinstance(v, float)]
    assert [v for v in floats if len(repr(v)) > 8] == []


def test_a_spike_in_history_fails_the_check_but_does_not_pause_campaigns(
    backfilled: tuple[dict[str, Any], Any],
) -> None:
    # CARRIER_SPIKE is four days before the newest day stored (END).
    resources, instance = backfilled
    breaker = CircuitBreaker(Warehouse(resources["warehouse"].path))
    breaker.resume(by="test", reason="start closed")
    recent_only = build_failure_spike_check(asset=ARCHIVE, breaker_days=4)
    result = dg.materialize(
        [ARCHIVE, recent_only],
        resources=resources,
        instance=instance,
        partition_key=CARRIER_SPIKE.isoformat(),
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert not evaluation.passed
    text = str(evaluation.metadata["circuit_breaker"].value)
    assert text.startswith(f"{CARRIER_SPIKE} is 4 days before the newest day stored ({END})")
    assert "does not pause campaigns (breaker_days 4)" in text
    assert not breaker.state().tripped
    # Within the default reach (seven days), the same spike pauses them.
    check_day(backfilled, CARRIER_SPIKE)
    assert breaker.state().tripped
    # The history of 2025 is stale today: the trip says so, and so does what shows it.
    latest = breaker.state().latest
    assert latest is not None
    assert f"on {CARRIER_SPIKE}, judged on a stale history: the newest day ingested is {END}" in (
        latest.reason
    )
    assert "judged on a stale history" in breaker.state().describe()


def test_the_check_needs_a_partitioned_asset() -> None:
    @dg.asset
    def unpartitioned() -> None:
        return None

    with pytest.raises(ValueError, match="not partitioned"):
        build_failure_spike_check(asset=unpartitioned)


def test_the_quality_checks_run_per_partition(backfilled: tuple[dict[str, Any], Any]) -> None:
    """The simulator's archive is clean but for its rare status ``3``, which the default status
    map does not name: that check warns with the count, the others pass."""
    resources, instance = backfilled
    result = dg.materialize(
        [ARCHIVE, *QUALITY], resources=resources, instance=instance, partition_key="2025-02-11"
    )
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "history_id_unique",
        "required_fields_present",
        "statuses_mapped",
        "sent_not_before_created",
    }
    assert {e.partition for e in evaluations.values()} == {"2025-02-11"}
    path = resources["warehouse"].path
    with duckdb.connect(path, read_only=True) as con:
        (unknown,) = con.execute(
            "SELECT count(*) FROM smspresto.messages "
            "WHERE partition_date = DATE '2025-02-11' AND status_code = '3'"
        ).fetchone() or (0,)
    assert unknown > 0  # 0.3 % of 500 a day: the seeded day holds a few
    statuses = evaluations.pop("statuses_mapped")
    assert not statuses.passed
    assert statuses.severity == dg.AssetCheckSeverity.WARN
    assert statuses.metadata["failing_rows"].value == unknown
    assert statuses.metadata["3"].value == unknown
    for name, evaluation in evaluations.items():
        assert evaluation.passed, (name, evaluation.description)
