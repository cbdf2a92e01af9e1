"""The README's Dagster examples stay true: the Python ones build loadable definitions, the
campaign YAML loads with the project's example files, and the ingest YAML shows the component's
attributes with their defaults, as ``dg scaffold defs`` does."""

import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

import dagster_project
from smspresto_pipeline.campaigns import CampaignComponent
from smspresto_pipeline.campaigns.breaker_defs import PAUSE_JOB, RESUME_JOB
from smspresto_pipeline.campaigns.reconcile_defs import (
    RECONCILE_AFTER_INTRADAY,
    RECONCILE_JOB_NAME,
)
from smspresto_pipeline.ingest import SMSPrestoIngestComponent

README = Path(__file__).resolve().parents[2] / "README.md"


def block_after(heading: str, language: str, *, after: str = "") -> str:
    """The first ``language`` code block after ``heading`` (itself after ``after``)."""
    text = README.read_text(encoding="utf-8")
    text = text[text.index(after) :]
    section = text[text.index(heading) :]
    found = re.search(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    assert found is not None, f"no {language} block after {heading!r}"
    return found.group(1)


def test_python_example_builds_loadable_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSPRESTO_API_KEY", raising=False)
    namespace: dict[str, Any] = {}
    exec(block_after("### In Python", "python"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("archive_messages_ingest_job") is not None


def test_yaml_example_lists_every_attribute_with_its_default() -> None:
    declared = yaml.safe_load(block_after("### In your own `dg` project", "yaml"))
    assert declared["type"] == "smspresto_pipeline.SMSPrestoIngestComponent"
    attributes = declared["attributes"]
    component = SMSPrestoIngestComponent.model_validate(attributes)
    fields = set(SMSPrestoIngestComponent.model_fields)
    # page_size is for tuning only; the README leaves it out, like the scaffolded file.
    assert set(attributes) == fields - {"page_size"}
    for name in fields - {"start_date", "page_size"}:
        assert getattr(component, name) == SMSPrestoIngestComponent.model_fields[name].default


def test_campaign_example_builds_its_sensor_and_job() -> None:
    namespace: dict[str, Any] = {}
    exec(block_after("### In Python", "python", after="## Campaigns"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("failed_reminder_send") is not None
    assert defs.resolve_sensor_def("failed_reminder_sensor").job_name == "failed_reminder_send"
    # The job the breaker's messages name, and the reconciliation.
    assert defs.resolve_job_def(RESUME_JOB) is not None
    assert defs.resolve_schedule_def(f"{RECONCILE_JOB_NAME}_hourly") is not None


def test_campaign_yaml_example_loads_with_the_projects_files() -> None:
    declared = yaml.safe_load(block_after("### As a component", "yaml", after="## Campaigns"))
    assert declared["type"] == "smspresto_pipeline.CampaignComponent"
    example = Path(dagster_project.__file__).parent / "defs" / "campaigns" / "failed_reminder"
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=CampaignComponent, defs_path="campaign", defs_yaml_contents=declared
        )
        for name in ("query.sql", "message.j2"):
            shutil.copy(example / name, path / name)
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, CampaignComponent)
            jobs = {job.name for job in defs.jobs or ()}
            assert jobs == {"failed_reminder_send", RESUME_JOB, PAUSE_JOB, RECONCILE_JOB_NAME}
            assert sorted(sensor.name for sensor in defs.sensors or ()) == [
                "failed_reminder_sensor",
                RECONCILE_AFTER_INTRADAY,
            ]


def test_campaign_binding_attributes_are_the_defaults() -> None:
    """The README's list of what a campaign binds the resources with: every such attribute,
    with the component's default, the ingest component's too."""
    listed = yaml.safe_load(textwrap.dedent(block_after("campaigns alone is whole", "yaml")))
    assert set(listed) == {
        "timezone",
        "duckdb_path",
        "warehouse_url_env",
        "api_key_env",
        "api_pass_env",
        "base_url_env",
        "reconcile_schedule_status",
    }
    for name, value in listed.items():
        assert CampaignComponent.model_fields[name].default == value, name
        if name in SMSPrestoIngestComponent.model_fields:
            assert SMSPrestoIngestComponent.model_fields[name].default == value, name
