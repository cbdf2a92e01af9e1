"""A campaign's first activation: recorded in the warehouse with its baseline, even when empty.

Through real sensor evaluations (``build_sensor_context`` with a real instance) and real runs
of the send job against the simulator, whose record of accepted sends (``sim.sends``) is the
witness of what was sent. The campaign's clock is fixed: the activation time is known.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from campaign_fixtures import Harness as CampaignHarness
from campaign_fixtures import (
    add_customers,
    customers_campaign,
    customers_file,
    keys,
    output_metadata,
    sent_texts,
    states,
    texts_of,
)
from click.testing import CliRunner

from smspresto_pipeline.cli import cli
from smspresto_pipeline.sending import Activation, CampaignActivations, Outbox, OutboxMessage
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.storage import ConstraintViolationError
from smspresto_pipeline.warehouse import Warehouse

NOON = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)
ACTIVATED = "activated 2025-03-06 12:00:00 UTC by sensor:reminder_sensor"


class Harness(CampaignHarness):
    """The ``reminder`` campaign's sensor and job, bound to the simulator and the file, at noon."""

    def __init__(self, sim: RunningSimulator, path: Path, instance: dg.DagsterInstance) -> None:
        super().__init__(customers_campaign(), sim, path, instance, clock=lambda: NOON)


def activation(path: Path) -> Activation | None:
    return CampaignActivations(Warehouse(path)).get("reminder")


def has_activations_table(path: Path) -> bool:
    with duckdb.connect(str(path), read_only=True) as con:
        [(count,)] = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'campaign_activations'"
        ).fetchall()
    return bool(count)


def test_an_activation_with_an_empty_query_sends_the_rows_that_appear_later_once(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    reminder = Harness(sim, path, instance)
    skip = reminder.skip()
    assert skip.startswith(f"first activation of campaign 'reminder': {ACTIVATED}, 0 rows")
    assert activation(path) == Activation(
        "reminder", NOON.replace(tzinfo=None), 0, "sensor:reminder_sensor"
    )
    assert reminder.skip() == "nothing new to send"  # still nothing: activated, not "first"
    add_customers(path, 1, 2)
    request = reminder.request()
    assert keys(request) == ["c1", "c2"]
    assert output_metadata(reminder.run(request))["sent"] == 2
    assert sorted(sent_texts(sim)) == texts_of(1, 2)
    # Once: evaluating again and a manual launch send nothing more.
    assert reminder.skip() == "nothing new to send"
    assert output_metadata(reminder.run())["sent"] == 0
    assert sorted(sent_texts(sim)) == texts_of(1, 2)
    assert states(path) == {"c1": "sent", "c2": "sent"}


def test_an_activation_with_rows_records_them_as_baseline_and_sends_nothing(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2, 3)
    reminder = Harness(sim, path, instance)
    assert reminder.skip().startswith(
        f"first activation of campaign 'reminder': {ACTIVATED}, 3 rows recorded as baseline"
    )
    assert states(path) == {"c1": "baseline", "c2": "baseline", "c3": "baseline"}
    recorded = activation(path)
    assert recorded is not None
    assert recorded.baseline_rows == 3
    assert reminder.skip() == "nothing new to send"
    assert output_metadata(reminder.run())["sent"] == 0
    assert activation(path) == recorded  # recorded once, never again
    assert sim.sends == []


def test_a_lost_outbox_takes_a_baseline_again(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    reminder = Harness(sim, path, instance)
    assert "1 row recorded as baseline" in reminder.skip()
    add_customers(path, 2)
    output_metadata(reminder.run(reminder.request()))
    assert sorted(sent_texts(sim)) == texts_of(2)
    # The file is replaced (restored from an old copy, or lost): its outbox and activation
    # are gone, while the source table returns every row.
    path.unlink()
    customers_file(path)
    add_customers(path, 1, 2, 3)
    assert "3 rows recorded as baseline" in reminder.skip()
    assert states(path) == {"c1": "baseline", "c2": "baseline", "c3": "baseline"}
    assert reminder.skip() == "nothing new to send"
    assert sorted(sent_texts(sim)) == texts_of(2)  # c2 was not sent a second time, c1 and c3 never


def test_an_upgraded_file_with_outbox_rows_takes_no_new_baseline(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    sent = OutboxMessage("reminder", "c1", "+2250708081401", "MaBoutique", "Hi", 1, "GSM-7")
    outbox = Outbox(Warehouse(path))
    outbox.claim([sent])
    outbox.mark("reminder", ["c1"], "sent", api_status=0, api_message="ok")
    # A file from before the activations table: the campaign has outbox rows, no activation.
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE smspresto.campaign_activations")
    add_customers(path, 1, 2)
    reminder = Harness(sim, path, instance)
    request = reminder.request()  # the sensor reads the file as it is, without the table
    assert not has_activations_table(path)
    assert keys(request) == ["c2"]  # c2 is new, not a baseline; c1 was sent before
    assert output_metadata(reminder.run(request))["sent"] == 1
    assert sorted(sent_texts(sim)) == texts_of(2)
    assert states(path) == {"c1": "sent", "c2": "sent"}
    assert activation(path) is None  # the run's write created the table, empty


def test_an_older_file_without_the_table_or_outbox_rows_takes_a_baseline(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE smspresto.campaign_activations")
    add_customers(path, 1)
    reminder = Harness(sim, path, instance)
    assert "1 row recorded as baseline" in reminder.skip()
    assert states(path) == {"c1": "baseline"}
    assert sim.sends == []


def test_a_manual_first_launch_with_an_empty_query_then_rows(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    reminder = Harness(sim, path, instance)
    metadata = output_metadata(reminder.run())
    assert (metadata["baseline"], metadata["sent"]) == (0, 0)
    assert metadata["activated_at"] == "2025-03-06T12:00:00 UTC"
    recorded = activation(path)
    assert recorded is not None
    assert recorded.baseline_rows == 0
    assert recorded.activated_by.startswith("job:reminder_send:")
    assert metadata["activated_by"] == recorded.activated_by
    add_customers(path, 1, 2)
    assert output_metadata(reminder.run())["sent"] == 2
    assert sorted(sent_texts(sim)) == texts_of(1, 2)
    assert output_metadata(reminder.run())["sent"] == 0
    assert reminder.skip() == "nothing new to send"
    assert sorted(sent_texts(sim)) == texts_of(1, 2)


def test_a_manual_first_launch_with_rows_records_them_and_sends_nothing(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    reminder = Harness(sim, path, instance)
    metadata = output_metadata(reminder.run())
    assert (metadata["baseline"], metadata["sent"]) == (2, 0)
    assert states(path) == {"c1": "baseline", "c2": "baseline"}
    assert reminder.skip() == "nothing new to send"
    assert sim.sends == []


def test_activate_records_once_and_refuses_a_campaign_with_outbox_rows(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    activations = CampaignActivations(warehouse)
    other = OutboxMessage("other", "k", "+2250708081401", "Shop", "Hi", 1, "GSM-7")
    with pytest.raises(ValueError, match="other"):
        activations.activate("reminder", [other], by="test")
    assert not warehouse.path.exists() or activations.all() == []
    Outbox(warehouse).claim([other])
    # Activated by its outbox row (an older file): no activation row, no baseline.
    assert activations.is_activated("other")
    assert activations.activate("other", [], by="test") is None
    assert activations.all() == []


def test_campaigns_status_shows_each_campaigns_activation_and_outbox_rows(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    reminder = Harness(sim, path, instance)
    reminder.skip()  # activated: c1 baseline
    add_customers(path, 2)
    output_metadata(reminder.run(reminder.request()))  # c2 sent
    older = OutboxMessage("promo", "p1", "+2250708081401", "Shop", "Hi", 1, "GSM-7")
    Outbox(Warehouse(path)).claim([older], state="skipped", skip_reason="opted_out")

    def status(*args: str) -> str:
        env = {"SMSPRESTO_DUCKDB_PATH": str(path), "COLUMNS": "200"}
        result = CliRunner().invoke(cli, ["campaigns", "status", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    campaigns = json.loads(status("--json"))["campaigns"]
    assert campaigns == [
        {
            "campaign": "promo",
            "activated_at": None,
            "activated_by": None,
            "baseline_rows": None,
            "outbox": {"skipped": 1},
        },
        {
            "campaign": "reminder",
            "activated_at": "2025-03-06T12:00:00",
            "activated_by": "sensor:reminder_sensor",
            "baseline_rows": 1,
            "outbox": {"baseline": 1, "sent": 1},
        },
    ]
    text = status()
    assert "2025-03-06 12:00" in text
    assert "baseline 1, sent 1" in text
    assert "before activations were recorded" in text


def test_an_activation_whose_baseline_fails_records_nothing(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    activations = CampaignActivations(warehouse)
    good = OutboxMessage("reminder", "c1", "+2250708081401", "Shop", "Hi", 1, "GSM-7")
    # A row the outbox refuses (NOT NULL): a case a campaign's query cannot produce (prepare
    # validates rows), standing for any failure inside the transaction.
    bad = OutboxMessage("reminder", "c2", None, "Shop", "Hi", 1, "GSM-7")  # type: ignore[arg-type]
    with pytest.raises(ConstraintViolationError) as failed:
        activations.activate("reminder", [good, bad], by="test")
    assert isinstance(failed.value.__cause__, duckdb.ConstraintException), "DuckDB's, as the cause"
    # One transaction: neither the activation nor any baseline row was kept.
    assert activations.get("reminder") is None
    assert not activations.is_activated("reminder")
    assert states(warehouse.path) == {}
