"""The ingest component: built from a ``defs.yaml`` in a sandboxed defs folder, it gives the
factories' definitions, ingests a day from the simulator over HTTP into a real DuckDB file, and
rejects a bad attribute with an error naming it."""

import inspect
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from conftest import SIMULATOR_HISTORY_START, load_error
from dagster.components.testing import DefsFolderSandbox
from e2e_fixtures import api_rows, warehouse_rows

import smspresto_pipeline
from smspresto_pipeline import SMSPrestoIngestComponent
from smspresto_pipeline.checks import SpikeConfig
from smspresto_pipeline.ingest.definitions import build_ingest_defs
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator

TYPE = "smspresto_pipeline.SMSPrestoIngestComponent"
DAY = date(2025, 3, 8)


def declare(sandbox: DefsFolderSandbox, attributes: dict[str, Any]) -> Path:
    """A folder ``ingest`` whose defs.yaml declares the component with ``attributes``."""
    return sandbox.scaffold_component(
        component_cls=SMSPrestoIngestComponent,
        defs_path="ingest",
        defs_yaml_contents={"type": TYPE, "attributes": attributes},
    )


def test_the_package_exports_the_component_lazily() -> None:
    from smspresto_pipeline.ingest import component

    assert smspresto_pipeline.SMSPrestoIngestComponent is component.SMSPrestoIngestComponent
    # dg's registry scan lists the package's names with dir() before it imports them.
    assert "SMSPrestoIngestComponent" in dir(smspresto_pipeline)
    assert "SMSPrestoResource" in dir(smspresto_pipeline)


def test_yaml_component_ingests_a_day_from_the_simulator(
    sandbox: DefsFolderSandbox,
    simulator: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Variables of the component's choosing: the YAML names them, Dagster reads them at run time.
    monkeypatch.setenv("MY_SMS_KEY", simulator.api_key)
    monkeypatch.setenv("MY_SMS_PASS", simulator.api_pass)
    monkeypatch.setenv("MY_SMS_URL", simulator.base_url)
    duckdb_path = tmp_path / "warehouse.duckdb"
    path = declare(
        sandbox,
        {
            "start_date": SIMULATOR_HISTORY_START.isoformat(),
            "duckdb_path": str(duckdb_path),
            "page_size": 7,
            "api_key_env": "MY_SMS_KEY",
            "api_pass_env": "MY_SMS_PASS",
            "base_url_env": "MY_SMS_URL",
        },
    )
    with (
        sandbox.load_component_and_build_defs(defs_path=path) as (component, defs),
        dg.instance_for_test() as instance,
    ):
        assert isinstance(component, SMSPrestoIngestComponent)
        job = defs.resolve_job_def("archive_messages_ingest_job")
        result = job.execute_in_process(instance=instance, partition_key=DAY.isoformat())
        assert result.success
    stored = warehouse_rows(duckdb_path, DAY, DAY)
    assert stored, "the day's messages landed in DuckDB"
    assert stored == api_rows(simulator, DAY, DAY)


def test_component_builds_what_the_factory_builds(
    sandbox: DefsFolderSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMSPRESTO_BASE_URL", raising=False)
    path = declare(
        sandbox,
        {
            "start_date": "2024-06-01",
            "timezone": "Africa/Lagos",
            "lookback_days": 5,
            "ingest_hour": 4,
            "max_concurrent_days": 2,
            "duckdb_path": "/tmp/elsewhere.duckdb",
            "schedule_status": "running",
        },
    )
    factory = build_ingest_defs(
        start_date="2024-06-01",
        smspresto=SMSPrestoResource(
            api_key=dg.EnvVar("SMSPRESTO_API_KEY"), api_pass=dg.EnvVar("SMSPRESTO_API_PASS")
        ),
        warehouse=WarehouseResource(path="/tmp/elsewhere.duckdb"),
        timezone="Africa/Lagos",
        lookback_days=5,
        ingest_hour=4,
        max_concurrent_days=2,
        schedule_status=dg.DefaultScheduleStatus.RUNNING,
    )
    with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
        built, expected = defs.get_repository_def(), factory.get_repository_def()
        assert set(built.asset_graph.get_all_asset_keys()) == {
            dg.AssetKey("archive_messages"),
            dg.AssetKey("account_snapshot"),
            dg.AssetKey("analytics_views"),
            dg.AssetKey("archive_messages_today"),
        }
        assert set(built.asset_graph.get_all_asset_keys()) == set(
            expected.asset_graph.get_all_asset_keys()
        )
        assert {job.name for job in built.get_all_jobs()} == {
            job.name for job in expected.get_all_jobs()
        }
        assert "analytics_views_job" in {job.name for job in built.get_all_jobs()}
        schedules = {s.name: s for s in built.schedule_defs}
        assert schedules.keys() == {s.name for s in expected.schedule_defs}
        ingest = schedules["archive_messages_daily_ingest"]
        assert ingest.cron_schedule == "0 4 * * *"
        assert ingest.execution_timezone == "Africa/Lagos"
        assert ingest.default_status == dg.DefaultScheduleStatus.RUNNING
        assert "5 days before it" in (ingest.description or "")
        partitions = defs.resolve_assets_def("archive_messages").partitions_def
        assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
        assert partitions.start.date() == date(2024, 6, 1)
        assert partitions.timezone == "Africa/Lagos"
        resources = defs.resources or {}
        warehouse = resources["warehouse"]
        assert isinstance(warehouse, WarehouseResource)
        assert warehouse.path == "/tmp/elsewhere.duckdb"
        smspresto = resources["smspresto"]
        assert isinstance(smspresto, SMSPrestoResource)
        assert smspresto.base_url == "https://smspresto.com/console/api/", "URL variable unset"


def test_secrets_stay_variable_names(
    sandbox: DefsFolderSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSPRESTO_BASE_URL", "http://127.0.0.1:1/console/api/")
    path = declare(sandbox, {"start_date": "2025-01-01"})
    with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
        assert isinstance(component, SMSPrestoIngestComponent)
        assert component.schedule_status == "stopped", "a library never starts on its own"
        resource = (defs.resources or {})["smspresto"]
        for field, variable in [
            ("api_key", "SMSPRESTO_API_KEY"),
            ("api_pass", "SMSPRESTO_API_PASS"),
            ("base_url", "SMSPRESTO_BASE_URL"),
        ]:
            value = getattr(resource, field)
            assert isinstance(value, dg.EnvVar), field
            assert value.env_var_name == variable


def test_scaffolded_yaml_declares_every_attribute_and_loads(sandbox: DefsFolderSandbox) -> None:
    path = sandbox.scaffold_component(component_cls=SMSPrestoIngestComponent, defs_path="ingest")
    declared = yaml.safe_load((path / "defs.yaml").read_text(encoding="utf-8"))
    # The name the user asked for (`dg scaffold defs smspresto_pipeline.SMSPrestoIngestComponent`
    # writes that one; the sandbox asks by the class's module).
    assert declared["type"].endswith(".SMSPrestoIngestComponent")
    optional = {"page_size"}
    assert set(declared["attributes"]) == set(SMSPrestoIngestComponent.model_fields) - optional
    with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
        assert isinstance(component, SMSPrestoIngestComponent)
        assert defs.resolve_assets_def("archive_messages") is not None


def test_every_attribute_has_a_description() -> None:
    schema = SMSPrestoIngestComponent.model().model_json_schema()
    assert schema["properties"].keys() == SMSPrestoIngestComponent.model_fields.keys()
    for name, field in schema["properties"].items():
        assert field.get("description"), name


def test_the_attributes_default_to_the_factorys() -> None:
    """Each attribute that build_ingest_defs also takes defaults to the factory's default, and
    the schema `dg` shows carries it."""
    factory = inspect.signature(build_ingest_defs).parameters
    schema = SMSPrestoIngestComponent.model().model_json_schema()["properties"]
    shared = factory.keys() & SMSPrestoIngestComponent.model_fields.keys() - {"start_date"}
    assert shared == {
        "timezone",
        "lookback_days",
        "ingest_hour",
        "max_concurrent_days",
        "page_size",
        "schedule_status",
        "circuit_breaker_days",
        "account",
        "pool",
        "intraday_minutes",
    }
    for name in shared:
        default = SMSPrestoIngestComponent.model_fields[name].default
        assert schema[name]["default"] == default, name
        if name == "schedule_status":
            default = dg.DefaultScheduleStatus(default.upper())
        assert default == factory[name].default, name


def test_the_scaffold_writes_each_attributes_default(sandbox: DefsFolderSandbox) -> None:
    path = sandbox.scaffold_component(component_cls=SMSPrestoIngestComponent, defs_path="ingest")
    declared = yaml.safe_load((path / "defs.yaml").read_text(encoding="utf-8"))["attributes"]
    for name in declared.keys() - {"start_date", "failure_spikes"}:
        assert declared[name] == SMSPrestoIngestComponent.model_fields[name].default, name


def test_the_thresholds_are_spike_configs_fields_each_described() -> None:
    """The ``failure_spikes:`` block is SpikeConfig: its fields, each shown with a description."""
    schema = SMSPrestoIngestComponent.model().model_json_schema()
    (reference,) = (
        option["$ref"]
        for option in schema["properties"]["failure_spikes"]["anyOf"]
        if "$ref" in option
    )
    thresholds = schema["$defs"][reference.rsplit("/", 1)[-1]]["properties"]
    assert thresholds.keys() == SpikeConfig.model_fields.keys()
    for name, field in thresholds.items():
        assert field["description"] == SpikeConfig.model_fields[name].description, name
        assert field["default"] == SpikeConfig.model_fields[name].default, name


def test_the_scaffold_lists_every_threshold_with_its_default(sandbox: DefsFolderSandbox) -> None:
    path = sandbox.scaffold_component(component_cls=SMSPrestoIngestComponent, defs_path="ingest")
    declared = yaml.safe_load((path / "defs.yaml").read_text(encoding="utf-8"))
    assert declared["attributes"]["failure_spikes"] == SpikeConfig().model_dump()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_date", "01/02/2025"),
        ("timezone", "Africa/Atlantis"),
        ("lookback_days", -1),
        ("lookback_days", "three"),
        ("ingest_hour", 25),
        ("max_concurrent_days", 0),
        ("circuit_breaker_days", 0),
        ("page_size", 0),
        ("schedule_status", "sometimes"),
        ("duckdb_path", " "),
        ("duckdb_path", "/tmp"),  # a directory
        ("api_pass_env", "hunter2 is the password"),
        ("no_such_attribute", 1),
    ],
)
def test_bad_value_names_the_field(sandbox: DefsFolderSandbox, field: str, value: object) -> None:
    attributes = {"start_date": "2025-01-01", field: value}
    path = declare(sandbox, attributes)
    text = load_error(sandbox, path)
    assert field in text, text
    assert "hunter2" not in text, "an error must not echo what may be a secret"


@pytest.mark.parametrize(
    ("spikes", "named"),
    [
        ({"baseline_days": 1}, "failure_spikes.baseline_days"),
        ({"min_baseline_days": 30}, "failure_spikes.min_baseline_days"),  # above baseline_days
        ({"min_messages": 0}, "failure_spikes.min_messages"),
        ({"min_rise": -0.01}, "failure_spikes.min_rise"),
        ({"min_ratio": 0.5}, "failure_spikes.min_ratio"),
        ({"error_p": 1.5}, "failure_spikes.error_p"),
        ({"warn_q": 0}, "failure_spikes.warn_q"),
        ({"dispersion_confidence": 1}, "failure_spikes.dispersion_confidence"),
        ({"min_messages": "many"}, "min_messages"),
        ({"no_such_threshold": 1}, "no_such_threshold"),
    ],
)
def test_a_bad_threshold_names_its_attribute(
    sandbox: DefsFolderSandbox, spikes: dict[str, object], named: str
) -> None:
    path = declare(sandbox, {"start_date": "2025-01-01", "failure_spikes": spikes})
    text = load_error(sandbox, path)
    assert named in text, text
    assert "failure_spikes" in text, text


def test_thresholds_default_to_the_spike_configs(sandbox: DefsFolderSandbox) -> None:
    path = declare(sandbox, {"start_date": "2025-01-01", "failure_spikes": {"baseline_days": 21}})
    with sandbox.load_component_and_build_defs(defs_path=path) as (component, _):
        assert isinstance(component, SMSPrestoIngestComponent)
        assert component.failure_spikes == SpikeConfig(baseline_days=21)


def test_the_warehouse_is_the_url_a_variable_names(
    sandbox: DefsFolderSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``warehouse_url_env`` puts the URL's variable, by name, where the DuckDB file was."""
    monkeypatch.setenv("MY_WAREHOUSE_URL", "postgresql://sms:hunter2@db.example:5432/sms")
    path = declare(sandbox, {"start_date": "2025-01-01", "warehouse_url_env": "MY_WAREHOUSE_URL"})
    with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
        assert isinstance(component, SMSPrestoIngestComponent)
        assert component.duckdb_path is None
        warehouse = (defs.resources or {})["warehouse"]
        assert isinstance(warehouse, WarehouseResource)
        assert warehouse.path is None
        assert isinstance(warehouse.url, dg.EnvVar)
        assert warehouse.url.env_var_name == "MY_WAREHOUSE_URL"


@pytest.mark.parametrize(
    ("warehouse", "said"),
    [
        ({"duckdb_path": "data/w.duckdb", "warehouse_url_env": "MY_WAREHOUSE_URL"}, "not both"),
        ({"duckdb_path": None}, "both are null"),
        ({"warehouse_url_env": "postgresql://sms:hunter2@db/sms"}, "not its value"),
    ],
)
def test_the_warehouse_is_one_file_or_one_url(
    sandbox: DefsFolderSandbox, warehouse: dict[str, Any], said: str
) -> None:
    path = declare(sandbox, {"start_date": "2025-01-01", **warehouse})
    text = load_error(sandbox, path)
    assert said in text, text
    assert "duckdb_path" in text or "warehouse_url_env" in text, text
    assert "hunter2" not in text, "an error must not echo what may be a secret"


def test_a_malformed_warehouse_url_fails_the_load_redacted(
    sandbox: DefsFolderSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_WAREHOUSE_URL", "postgresql://sms:hunter2@db.example:port/sms")
    path = declare(sandbox, {"start_date": "2025-01-01", "warehouse_url_env": "MY_WAREHOUSE_URL"})
    text = load_error(sandbox, path)
    assert "MY_WAREHOUSE_URL does not name a warehouse" in text, text
    assert "postgresql://sms:***@db.example:port/sms" in text, text
    assert "hunter2" not in text
