"""The deployable code location: what it defines, how the environment configures it."""

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from e2e_fixtures import BIN, load_project, project_env, run

import dagster_project
from dagster_project.settings import Settings
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

SECRET = "s3cr3t-never-shown"


def resources(defs: dg.Definitions) -> Mapping[str, Any]:
    assert defs.resources is not None
    return defs.resources


def schedule(defs: dg.Definitions, name: str) -> dg.ScheduleDefinition:
    (found,) = [s for s in defs.schedules or [] if s.name == name]
    assert isinstance(found, dg.ScheduleDefinition)
    return found


def test_module_exports_loadable_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_project(monkeypatch, {})
    dg.Definitions.validate_loadable(defs)
    assert dagster_project.code_location() is not defs, "loaded anew each time, not on import"


def test_assets_schedules_and_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_project(monkeypatch, {})
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"archive_messages", "account_snapshot"} <= keys
    assert len(keys) > 2, "the analytics views are assets too"
    assert {s.name for s in repository.schedule_defs} == {
        "archive_messages_daily_ingest",
        "account_snapshot_hourly",
        "smspresto_reconcile_outbox_hourly",
        "archive_messages_freshness_hourly",
        "archive_messages_today_intraday",
    }
    assert {"smspresto", "warehouse"} <= set(repository.get_top_level_resources())
    archive = defs.resolve_assets_def("archive_messages")
    partitions = archive.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.start.date() == date(2025, 1, 1)
    assert partitions.timezone == "Africa/Abidjan"


def test_defaults_run_the_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_project(monkeypatch, {})
    ingest = schedule(defs, "archive_messages_daily_ingest")
    assert ingest.default_status == dg.DefaultScheduleStatus.RUNNING
    assert ingest.cron_schedule == "0 6 * * *"
    assert ingest.execution_timezone == "Africa/Abidjan"


def test_the_snapshot_job_reconciles_the_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """``counters_reconcile`` sits on ``account_snapshot`` and runs in the snapshot's job only:
    the ranged ingest job still runs no check, the per-day checks job the archive's alone."""
    defs = load_project(monkeypatch, {})
    graph = defs.resolve_asset_graph()
    on_snapshot = {
        k.name for k in graph.asset_check_keys if k.asset_key.path == ["account_snapshot"]
    }
    assert on_snapshot == {"counters_reconcile"}
    reconcile = graph.get_check_spec(
        dg.AssetCheckKey(dg.AssetKey("account_snapshot"), "counters_reconcile")
    )
    assert not reconcile.blocking
    assert {dep.asset_key for dep in reconcile.additional_deps} == {dg.AssetKey("archive_messages")}

    def check_names(job: str) -> set[str]:
        return {k.name for k in defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys}

    assert check_names("account_snapshot_job") == {"counters_reconcile"}
    assert check_names("archive_messages_ingest_job") == set()
    archive_checks = check_names("smspresto_archive_checks")
    assert "counters_reconcile" not in archive_checks
    assert "history_id_unique" in archive_checks


def test_campaigns_and_their_shared_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    repository = load_project(monkeypatch, {}).get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {
        "failed_reminder_send",
        "daily_summary_send",
        "smspresto_reconcile_outbox",
        "smspresto_pause_campaigns",
        "smspresto_resume_campaigns",
    } <= jobs
    sensors = {sensor.name: sensor for sensor in repository.sensor_defs}
    for name in ("failed_reminder_sensor", "daily_summary_sensor"):
        assert sensors[name].default_status == dg.DefaultSensorStatus.STOPPED
    reconcile = schedule(
        dg.Definitions(schedules=list(repository.schedule_defs)),
        "smspresto_reconcile_outbox_hourly",
    )
    assert reconcile.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_alerts_are_stopped_until_a_number_or_a_webhook_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def alerts(env: Mapping[str, str]) -> dg.SensorDefinition:
        return load_project(monkeypatch, env).resolve_sensor_def("smspresto_alerts")

    assert alerts({}).default_status == dg.DefaultSensorStatus.STOPPED
    numbers = alerts({"SMSPRESTO_ALERT_NUMBERS": "07 08 08 14 88, +2250700000001"})
    assert numbers.default_status == dg.DefaultSensorStatus.RUNNING
    # The operator's numbers are personal data: the UI shows them masked, as every number.
    assert "+225 07 ** ** ** 88, +225 07 ** ** ** 01" in (numbers.description or "")
    assert "+2250708081488" not in (numbers.description or "")
    hook = alerts({"SMSPRESTO_ALERT_WEBHOOK_URL": f"https://hooks.example/{SECRET}"})
    assert hook.default_status == dg.DefaultSensorStatus.RUNNING
    assert SECRET not in str(
        serialize_value(
            RepositorySnap.from_def(
                load_project(
                    monkeypatch, {"SMSPRESTO_ALERT_WEBHOOK_URL": SECRET}
                ).get_repository_def()
            )
        )
    )
    with pytest.raises(ValueError, match=r"SMSPRESTO_ALERT_NUMBERS must hold phone numbers.*'12'"):
        alerts({"SMSPRESTO_ALERT_NUMBERS": "12"})
    graph = load_project(monkeypatch, {}).resolve_asset_graph()
    assert dg.AssetCheckKey(dg.AssetKey("archive_messages"), "archive_messages_freshness") in (
        graph.asset_check_keys
    )


def test_environment_configures_the_location(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_project(
        monkeypatch,
        {
            "SMSPRESTO_START_DATE": "2024-06-01",
            "SMSPRESTO_TIMEZONE": "Africa/Lagos",
            "SMSPRESTO_INGEST_HOUR": "4",
            "SMSPRESTO_SCHEDULES": "STOPPED",
            "SMSPRESTO_DUCKDB_PATH": "/tmp/elsewhere.duckdb",
        },
    )
    partitions = defs.resolve_assets_def("archive_messages").partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    assert partitions.start.date() == date(2024, 6, 1)
    assert partitions.timezone == "Africa/Lagos"
    ingest = schedule(defs, "archive_messages_daily_ingest")
    assert ingest.cron_schedule == "0 4 * * *"
    assert ingest.execution_timezone == "Africa/Lagos"
    assert ingest.default_status == dg.DefaultScheduleStatus.STOPPED
    reconcile = schedule(defs, "smspresto_reconcile_outbox_hourly")
    assert reconcile.default_status == dg.DefaultScheduleStatus.STOPPED
    assert reconcile.execution_timezone == "Africa/Lagos"
    snapshot = schedule(defs, "account_snapshot_hourly")
    assert snapshot.default_status == dg.DefaultScheduleStatus.STOPPED
    warehouse = resources(defs)["warehouse"]
    assert isinstance(warehouse, WarehouseResource)
    assert warehouse.path == "/tmp/elsewhere.duckdb"


def test_secrets_are_env_vars_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_project(
        monkeypatch,
        {
            "SMSPRESTO_API_PASS": SECRET,
            "SMSPRESTO_API_KEY": "key",
            "SMSPRESTO_BASE_URL": "http://127.0.0.1:1/console/api/",
        },
    )
    resource = resources(defs)["smspresto"]
    for field, variable in [
        ("api_key", "SMSPRESTO_API_KEY"),
        ("api_pass", "SMSPRESTO_API_PASS"),
        ("base_url", "SMSPRESTO_BASE_URL"),
    ]:
        value = getattr(resource, field)
        assert isinstance(value, dg.EnvVar), field
        assert value.env_var_name == variable


def test_the_warehouse_url_variable_wins_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SMSPRESTO_WAREHOUSE_URL set, every component's warehouse is that variable, named:
    its value (a password) is nowhere in what the UI is sent of the definitions."""
    url = f"postgresql://smspresto:{SECRET}@db.example:5432/sms"
    defs = load_project(
        monkeypatch,
        {"SMSPRESTO_WAREHOUSE_URL": url, "SMSPRESTO_DUCKDB_PATH": "/tmp/elsewhere.duckdb"},
    )
    warehouse = resources(defs)["warehouse"]
    assert isinstance(warehouse, WarehouseResource)
    assert warehouse.path is None
    assert isinstance(warehouse.url, dg.EnvVar)
    assert warehouse.url.env_var_name == "SMSPRESTO_WAREHOUSE_URL"
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "SMSPRESTO_WAREHOUSE_URL" in snapshot
    assert SECRET not in snapshot
    assert "/tmp/elsewhere.duckdb" not in snapshot, "the URL wins over the DuckDB file"


def test_without_a_warehouse_url_the_duckdb_file_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = resources(load_project(monkeypatch, {"SMSPRESTO_WAREHOUSE_URL": " "}))["warehouse"]
    assert isinstance(warehouse, WarehouseResource)
    assert (warehouse.path, warehouse.url) == ("data/smspresto_warehouse.duckdb", None)


def test_a_malformed_warehouse_url_fails_the_load_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(
        ValueError, match=r"^SMSPRESTO_WAREHOUSE_URL does not name a warehouse: "
    ) as e:
        load_project(monkeypatch, {"SMSPRESTO_WAREHOUSE_URL": f"postgresql://u:{SECRET}@db/"})
    assert "postgresql://u:***@db/" in str(e.value)
    assert SECRET not in str(e.value)


def test_base_url_defaults_to_the_real_api(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = resources(load_project(monkeypatch, {}))["smspresto"]
    assert isinstance(resource, SMSPrestoResource)
    assert resource.base_url == "https://smspresto.com/console/api/"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMSPRESTO_START_DATE", "01/02/2025"),
        ("SMSPRESTO_TIMEZONE", "Africa/Atlantis"),
        ("SMSPRESTO_LOOKBACK_DAYS", "three"),
        ("SMSPRESTO_INGEST_HOUR", "25"),
        ("SMSPRESTO_MAX_CONCURRENT_DAYS", "0"),
        ("SMSPRESTO_SCHEDULES", "sometimes"),
    ],
)
def test_bad_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_bad_setting_fails_the_load_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read before any component loads: no component takes the blame for a setting.
    with pytest.raises(
        ValueError, match=r"^SMSPRESTO_INGEST_HOUR must be between 0 and 23, got 25$"
    ):
        load_project(monkeypatch, {"SMSPRESTO_INGEST_HOUR": "25"})


def test_a_directory_is_no_duckdb_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SMSPRESTO_DUCKDB_PATH must name a DuckDB file"):
        Settings.from_env({"SMSPRESTO_DUCKDB_PATH": str(tmp_path)})


def test_blank_values_mean_defaults() -> None:
    assert Settings.from_env({"SMSPRESTO_START_DATE": " ", "SMSPRESTO_TIMEZONE": ""}) == Settings()


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """``dagster definitions validate -m dagster_project`` passes, with no secret set."""
    env = project_env(
        None,
        duckdb_path=tmp_path / "w.duckdb",
        dagster_home=tmp_path / "home",
        start_date=date(2025, 3, 6),
    )
    output = run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "dagster_project"],
        env,
        cwd=tmp_path,
    )
    assert "dagster_project" in output
    assert not (tmp_path / "w.duckdb").exists(), "loading must not touch the warehouse"
