"""Dagster's conventions on every asset the project defines: kinds (``smspresto`` and the
warehouse's engine), the tables they write (``dagster/table_name``, ``dagster/column_schema``
with the columns' descriptions, the tag ``smspresto/table``), the project's group; the owners,
tags and ``translation:`` the components take from their ``defs.yaml``."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import SIMULATOR_HISTORY_START
from dagster.components.testing import DefsFolderSandbox
from e2e_fixtures import load_project

from smspresto_pipeline import AlertsComponent, SMSPrestoIngestComponent
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.storage.table_docs import TABLE_DOCS

DAY = SIMULATOR_HISTORY_START + timedelta(days=1)
#: The tables the code location's assets write.
TABLES = {
    "archive_messages": "messages",
    "archive_messages_today": "messages",
    "account_snapshot": "account_snapshots",
    "smspresto_circuit_breaker": "campaign_pauses",
}


def specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_every_asset_of_the_code_location_follows_the_conventions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = specs(load_project(monkeypatch, {}))
    # The campaigns' assets write no table of their own (their rows are the outbox's).
    assert set(found) == {*TABLES, "analytics_views", "daily_summary", "failed_reminder"}
    for key, spec in found.items():
        assert spec.kinds == {"smspresto", "duckdb"}, key
        assert spec.group_name == "smspresto", key
    for key, table in TABLES.items():
        metadata = found[key].metadata
        assert metadata["dagster/table_name"] == f"smspresto.{table}"
        assert found[key].tags["smspresto/table"] == f"smspresto.{table}"
        schema = metadata["dagster/column_schema"]
        assert isinstance(schema, dg.TableSchema)
        assert [(c.name, c.type, c.description) for c in schema.columns] == [
            (c.name, c.type, c.description) for c in TABLE_DOCS[table].columns
        ]


def test_a_postgresql_warehouse_gives_the_kind_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://smspresto:s3cret@db.example:5432/sms"
    found = specs(load_project(monkeypatch, {"SMSPRESTO_WAREHOUSE_URL": url}))
    for key, spec in found.items():
        assert spec.kinds == {"smspresto", "postgres"}, key
    assert "s3cret" not in repr([spec.metadata for spec in found.values()])


@pytest.mark.parametrize(
    ("value", "engine"),
    [
        (None, "postgres"),  # unset where the definitions load: what a URL's variable is for
        ("postgresql://u:p@host/db", "postgres"),
        ("duckdb:///tmp/w.duckdb", "duckdb"),
    ],
)
def test_the_engine_of_a_url_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None, engine: str
) -> None:
    if value is None:
        monkeypatch.delenv("WAREHOUSE_URL_UNDER_TEST", raising=False)
    else:
        monkeypatch.setenv("WAREHOUSE_URL_UNDER_TEST", value)
    resource = WarehouseResource(url=dg.EnvVar("WAREHOUSE_URL_UNDER_TEST"))
    assert resource.engine_at_load() == engine


def test_the_engine_of_a_path_or_a_written_url() -> None:
    assert WarehouseResource(path="w.duckdb").engine_at_load() == "duckdb"
    assert WarehouseResource(url="postgresql://u:p@host/db").engine_at_load() == "postgres"


def declare(sandbox: DefsFolderSandbox, folder: str, cls: type, attributes: dict[str, Any]) -> Path:
    return sandbox.scaffold_component(
        component_cls=cls,
        defs_path=folder,
        defs_yaml_contents={"type": f"smspresto_pipeline.{cls.__name__}", "attributes": attributes},
    )


def test_translation_owners_and_tags_of_the_ingestion(
    sandbox: DefsFolderSandbox,
    simulator: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys prefixed, another group and tags through ``translation:``, owners and tags of their
    own: the checks, jobs, schedules and the views' dependency follow the new keys, and the
    ingest job still ingests a day."""
    monkeypatch.setenv("SMSPRESTO_API_KEY", simulator.api_key)
    monkeypatch.setenv("SMSPRESTO_API_PASS", simulator.api_pass)
    monkeypatch.setenv("SMSPRESTO_BASE_URL", simulator.base_url)
    path = declare(
        sandbox,
        "ingest",
        SMSPrestoIngestComponent,
        {
            "start_date": SIMULATOR_HISTORY_START.isoformat(),
            "duckdb_path": str(tmp_path / "warehouse.duckdb"),
            "owners": ["team:messaging"],
            "tags": {"domain": "sms"},
            "translation": {
                "key_prefix": "sms",
                "group_name": "messaging",
                "tags": {"layer": "{{ 'raw' if props.name == 'archive_messages' else 'mart' }}"},
            },
        },
    )
    with (
        sandbox.load_component_and_build_defs(defs_path=path) as (_, defs),
        dg.instance_for_test() as instance,
    ):
        found = specs(defs)
        assert set(found) == {
            "sms/archive_messages",
            "sms/archive_messages_today",
            "sms/account_snapshot",
            "sms/analytics_views",
        }
        for key, spec in found.items():
            assert spec.group_name == "messaging", key
            assert spec.owners == ["team:messaging"], key
            assert spec.tags["domain"] == "sms", key
            assert spec.kinds == {"smspresto", "duckdb"}, key
        archive = found["sms/archive_messages"]
        assert archive.tags["layer"] == "raw"
        assert found["sms/account_snapshot"].tags["layer"] == "mart"
        assert archive.tags["smspresto/table"] == "smspresto.messages", "merged, not replaced"
        assert archive.metadata["dagster/table_name"] == "smspresto.messages"
        assert [dep.asset_key for dep in found["sms/analytics_views"].deps] == [archive.key]
        repository = defs.get_repository_def()
        check_keys = repository.asset_graph.asset_check_keys
        assert {check.asset_key for check in check_keys} == {
            archive.key,
            found["sms/account_snapshot"].key,
            found["sms/archive_messages_today"].key,
        }
        # The schedule's job is named after the key, as a named account's is.
        job = defs.resolve_job_def("sms__archive_messages_ingest_job")
        result = job.execute_in_process(instance=instance, partition_key=DAY.isoformat())
        assert result.success
        events = result.get_asset_materialization_events()
        assert [event.asset_key for event in events] == [archive.key]


def test_owners_and_tags_of_the_alerts(sandbox: DefsFolderSandbox) -> None:
    path = declare(
        sandbox,
        "alerts",
        AlertsComponent,
        {"owners": ["ops@example.com"], "tags": {"domain": "sms"}},
    )
    with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
        breaker = specs(defs)["smspresto_circuit_breaker"]
        assert breaker.owners == ["ops@example.com"]
        assert breaker.tags["domain"] == "sms"
        assert breaker.group_name == "smspresto"
        assert breaker.metadata["dagster/table_name"] == "smspresto.campaign_pauses"
