"""A campaign's first activation: recorded in the warehouse with its baseline, even when empty.

Through real sensor evaluations (``build_sensor_context`` with a real instance) and real runs
of the send job against the simulator, whose record of accepted sends (``sim.sends``) is the
witness of what was sent. The campaign's clock is fixed: the activation time is known.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from campaign_fixtures import make_campaign
from click.testing import CliRunner

from smspresto_pipeline.campaigns import Campaign, build_campaign_defs
from smspresto_pipeline.cli import cli
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import (
    OUTBOX_STATES,
    Activation,
    CampaignActivations,
    Outbox,
    OutboxMessage,
    Warehouse,
)

SQL = "select phone as recipient, id as dedup_key, first_name, parcel from main.customers"
TEMPLATE = "Bonjour {{ first_name }}, votre colis {{ parcel }} est arrivé."
NOON = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)
ACTIVATED = "activated 2025-03-06 12:00:00 UTC by sensor:reminder_sensor"


def new_file(path: Path) -> Path:
    """A warehouse file with an empty ``main.customers`` table (the campaign's source)."""
    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    with warehouse.connect() as con:
        con.execute(
            "CREATE TABLE main.customers(id VARCHAR, phone VARCHAR, first_name VARCHAR, "
            "parcel VARCHAR)"
        )
    return path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return new_file(tmp_path / "warehouse.duckdb")


def add_customers(path: Path, *numbers: int) -> None:
    """Rows ``c<n>`` with the number 07 08 08 14 <n> and the parcel ``P<n>``.

    Written with plain DuckDB: a :class:`Warehouse` would create the missing tables of an
    older file, which one test keeps missing.
    """
    with duckdb.connect(str(path)) as con:
        for n in numbers:
            con.execute(
                "INSERT INTO main.customers VALUES (?, ?, ?, ?)",
                [f"c{n}", f"07080814{n:02d}", f"Client{n}", f"P{n}"],
            )


class Harness:
    """The campaign's sensor and job, bound to the simulator and the warehouse, at noon."""

    def __init__(self, sim: RunningSimulator, path: Path, instance: dg.DagsterInstance) -> None:
        self.campaign: Campaign = make_campaign(sql=SQL, template=TEMPLATE)
        self.instance = instance
        self.warehouse = WarehouseResource(path=str(path))
        resources = {
            "smspresto": SMSPrestoResource(
                api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
            ),
            "warehouse": self.warehouse,
        }
        self.defs = dg.Definitions.merge(
            build_campaign_defs(self.campaign, clock=lambda: NOON),
            dg.Definitions(resources=resources),
        )

    def evaluate(self) -> dg.RunRequest | dg.SkipReason:
        sensor = self.defs.resolve_sensor_def(self.campaign.sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance, resources={"warehouse": self.warehouse}
        )
        result = sensor(context)
        assert isinstance(result, (dg.RunRequest, dg.SkipReason))
        return result

    def skip(self) -> str:
        skip = self.evaluate()
        assert isinstance(skip, dg.SkipReason), skip
        return str(skip.skip_message)

    def request(self) -> dg.RunRequest:
        request = self.evaluate()
        assert isinstance(request, dg.RunRequest), request
        return request

    def run(self, request: dg.RunRequest | None = None) -> dict[str, Any]:
        """A run as the sensor requests it, or a manual launch; its output metadata."""
        job = self.defs.resolve_job_def(self.campaign.job_name)
        op = f"{self.campaign.name}_send_batch"
        config = request.run_config if request else {"ops": {op: {"config": {}}}}
        result = job.execute_in_process(run_config=config, instance=self.instance)
        [event] = [e for e in result.all_node_events if e.is_successful_output]
        return {k: v.value for k, v in event.step_output_data.metadata.items()}


def keys(request: dg.RunRequest) -> list[str]:
    [op] = request.run_config["ops"].values()
    return sorted(op["config"]["dedup_keys"])


def sent_texts(sim: RunningSimulator) -> list[str]:
    return sorted(text for record in sim.sends for _, text in record.messages)


def texts_of(*numbers: int) -> list[str]:
    return sorted(f"Bonjour Client{n}, votre colis P{n} est arrivé." for n in numbers)


def states(path: Path) -> dict[str, str]:
    rows = Outbox(Warehouse(path)).rows(OUTBOX_STATES, campaign="reminder")
    return {row.dedup_key: row.state for row in rows}


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
    assert reminder.run(request)["sent"] == 2
    assert sent_texts(sim) == texts_of(1, 2)
    # Once: evaluating again and a manual launch send nothing more.
    assert reminder.skip() == "nothing new to send"
    assert reminder.run()["sent"] == 0
    assert sent_texts(sim) == texts_of(1, 2)
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
    assert reminder.run()["sent"] == 0
    assert activation(path) == recorded  # recorded once, never again
    assert sim.sends == []


def test_a_lost_outbox_takes_a_baseline_again(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    reminder = Harness(sim, path, instance)
    assert "1 row recorded as baseline" in reminder.skip()
    add_customers(path, 2)
    reminder.run(reminder.request())
    assert sent_texts(sim) == texts_of(2)
    # The file is replaced (restored from an old copy, or lost): its outbox and activation
    # are gone, while the source table returns every row.
    path.unlink()
    new_file(path)
    add_customers(path, 1, 2, 3)
    assert "3 rows recorded as baseline" in reminder.skip()
    assert states(path) == {"c1": "baseline", "c2": "baseline", "c3": "baseline"}
    assert reminder.skip() == "nothing new to send"
    assert sent_texts(sim) == texts_of(2)  # c2 was not sent a second time, c1 and c3 never


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
    assert reminder.run(request)["sent"] == 1
    assert sent_texts(sim) == texts_of(2)
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
    metadata = reminder.run()
    assert (metadata["baseline"], metadata["sent"]) == (0, 0)
    assert metadata["activated_at"] == "2025-03-06T12:00:00 UTC"
    recorded = activation(path)
    assert recorded is not None
    assert recorded.baseline_rows == 0
    assert recorded.activated_by.startswith("job:reminder_send:")
    assert metadata["activated_by"] == recorded.activated_by
    add_customers(path, 1, 2)
    assert reminder.run()["sent"] == 2
    assert sent_texts(sim) == texts_of(1, 2)
    assert reminder.run()["sent"] == 0
    assert reminder.skip() == "nothing new to send"
    assert sent_texts(sim) == texts_of(1, 2)


def test_a_manual_first_launch_with_rows_records_them_and_sends_nothing(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    reminder = Harness(sim, path, instance)
    metadata = reminder.run()
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
    reminder.run(reminder.request())  # c2 sent
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
    with pytest.raises(duckdb.ConstraintException):
        activations.activate("reminder", [good, bad], by="test")
    # One transaction: neither the activation nor any baseline row was kept.
    assert activations.get("reminder") is None
    assert not activations.is_activated("reminder")
    assert states(warehouse.path) == {}
