"""A campaign is an asset: downstream of the tables its query reads, materialized by its send
job, each run's figures the numeric metadata of its materialization (read back from the
instance, as the UI plots them), and no materialization for a run refused before any request."""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from campaign_fixtures import Harness, add_customers, customers_campaign, failure_text
from conftest import MakeSimulator
from dagster.components.testing import DefsFolderSandbox
from e2e_fixtures import load_project

from smspresto_pipeline.campaigns import CampaignComponent, build_campaign_defs
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import Fault, RunningSimulator

REMINDER = dg.AssetKey("reminder")
#: A run's figures, each a number on its materialization.
FIGURES = (
    "rows_selected",
    "sent",
    "failed",
    "ambiguous",
    "held",
    "skipped",
    "segments_billed",
    "requests",
)


def figures(instance: dg.DagsterInstance, key: dg.AssetKey = REMINDER) -> dict[str, Any]:
    """The figures of ``key``'s latest materialization, each checked to be a number."""
    event = instance.get_latest_materialization_event(key)
    assert event is not None
    assert event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert all(isinstance(metadata[name], dg.IntMetadataValue) for name in FIGURES), metadata
    return {name: metadata[name].value for name in FIGURES}


def bound(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the resources bound (to nothing that runs)."""
    resources = {
        "smspresto": SMSPrestoResource(api_key="key", api_pass="pass"),
        "warehouse": WarehouseResource(path="warehouse.duckdb"),
    }
    return dg.Definitions.merge(defs, dg.Definitions(resources=resources))


def specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def upstream(spec: dg.AssetSpec) -> set[str]:
    return {dep.asset_key.to_user_string() for dep in spec.deps}


def test_a_send_run_records_its_figures_on_the_campaigns_materialization(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    harness = Harness(customers_campaign(send_on_first_activation=True), sim, path, instance)
    result = harness.run(harness.request())
    assert result.success
    assert figures(instance) == {
        "rows_selected": 2,
        "sent": 2,
        "failed": 0,
        "ambiguous": 0,
        "held": 0,
        "skipped": 0,
        "segments_billed": 2,
        "requests": 1,
    }
    event = instance.get_latest_materialization_event(REMINDER)
    assert event is not None
    assert event.run_id == result.run_id
    # The next run finds nothing new: its own materialization says so, one point more.
    assert harness.run().success
    assert figures(instance)["sent"] == 0
    records = instance.fetch_materializations(REMINDER, limit=10).records
    assert len(records) == 2


def test_a_send_that_stopped_records_what_left_and_fails(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    """The batch's answer lost: the run fails, and its materialization counts the batch
    ambiguous (it may have left)."""
    add_customers(path, 1, 2)
    drop = Fault("drop_after_send", count=1, actions=frozenset({"sendsms"}))
    with make_simulator(messages_per_day=0, faults=(drop,)) as sim:
        harness = Harness(customers_campaign(send_on_first_activation=True), sim, path, instance)
        result = harness.run(harness.request())
    assert "ambiguous" in failure_text(result)
    found = figures(instance)
    assert (found["ambiguous"], found["sent"], found["requests"]) == (2, 0, 1)


def test_a_run_refused_before_any_request_records_no_materialization(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    """A short stock: nothing left, the rows released; the figures are on the failure."""
    add_customers(path, 1, 2)
    with make_simulator(messages_per_day=0, initial_stock=1) as sim:
        harness = Harness(customers_campaign(send_on_first_activation=True), sim, path, instance)
        result = harness.run(harness.request())
    assert "stock is 1" in failure_text(result)
    assert instance.get_latest_materialization_event(REMINDER) is None


def test_the_campaign_is_downstream_of_the_tables_it_reads() -> None:
    campaign = customers_campaign()
    found = specs(bound(build_campaign_defs(campaign)))
    # (Dagster lists a dependency no definition materializes as an external asset of its own.)
    assert set(found) == {"reminder", "archive_messages"}
    assert upstream(found["reminder"]) == {"archive_messages"}  # the archive by default
    assert found["reminder"].group_name == "smspresto"
    assert found["reminder"].kinds == {"smspresto", "duckdb"}

    defs = bound(
        build_campaign_defs(
            campaign, deps=["brand_a/archive_messages", dg.AssetKey("customers")], engine="postgres"
        )
    )
    spec = specs(defs)["reminder"]
    assert upstream(spec) == {"brand_a/archive_messages", "customers"}
    assert spec.kinds == {"smspresto", "postgres"}
    # The send job is the asset job materializing it, under the name the sensor targets.
    job = defs.resolve_job_def("reminder_send")
    assert job.asset_layer.executable_asset_keys == {REMINDER}
    assert defs.resolve_sensor_def("reminder_sensor").job_name == "reminder_send"


def test_the_example_campaigns_are_downstream_of_the_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = specs(load_project(monkeypatch, {}))
    assert upstream(found["daily_summary"]) == {"archive_messages"}
    assert upstream(found["failed_reminder"]) == {"archive_messages", "archive_messages_today"}
    for key in ("daily_summary", "failed_reminder"):
        assert found[key].kinds == {"smspresto", "duckdb"}
        assert found[key].group_name == "smspresto"


def test_a_component_names_its_deps_and_translates_its_asset(
    sandbox: DefsFolderSandbox,
    sim: RunningSimulator,
    path: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``deps:`` as the user writes them, a translation's key prefix and group, owners: the
    send job materializes the asset under its new key."""
    monkeypatch.setenv("SMSPRESTO_API_KEY", sim.api_key)
    monkeypatch.setenv("SMSPRESTO_API_PASS", sim.api_pass)
    monkeypatch.setenv("SMSPRESTO_BASE_URL", sim.base_url)
    campaign = customers_campaign(send_on_first_activation=True)
    sandbox.scaffold_component(
        component_cls=CampaignComponent,
        defs_path="reminder",
        defs_yaml_contents={
            "type": "smspresto_pipeline.CampaignComponent",
            "attributes": {
                "name": campaign.name,
                "sender": campaign.sender,
                "sql": campaign.sql,
                "template": campaign.template,
                "send_on_first_activation": True,
                "duckdb_path": str(path),
                "deps": ["crm/customers", "archive_messages"],
                "owners": ["team:marketing"],
                "translation": {"key_prefix": "campaigns", "group_name": "{{ props.name }}"},
            },
        },
    )
    add_customers(path, 1)
    with sandbox.build_all_defs() as defs:
        spec = specs(defs)["campaigns/reminder"]
        assert upstream(spec) == {"crm/customers", "archive_messages"}
        assert (spec.group_name, spec.owners) == ("reminder", ["team:marketing"])
        result = defs.resolve_job_def("reminder_send").execute_in_process(instance=instance)
    assert result.success
    assert figures(instance, dg.AssetKey(["campaigns", "reminder"]))["sent"] == 1
