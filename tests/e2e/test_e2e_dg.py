"""The project through ``dg``, as its users run it: the component is listed, the project's
definitions (the ingestion and two campaigns) check, a bad setting fails the check naming its
variable, and another project gets an ingestion and a campaign from ``dg scaffold defs``."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_fixtures import BIN, base_env
from test_e2e_quiet import warnings_in

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = "smspresto_pipeline.SMSPrestoIngestComponent"
CAMPAIGN = "smspresto_pipeline.CampaignComponent"
ALERTS = "smspresto_pipeline.AlertsComponent"


def dg(*args: str, cwd: Path, extra: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``dg`` in this venv (activated, as a user's shell has it); code, stdout, stderr."""
    env = base_env()
    env.update(
        VIRTUAL_ENV=str(BIN.parent), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra or {}
    )
    done = subprocess.run(
        [str(BIN / "dg"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    return done.returncode, done.stdout, done.stderr


def settings(tmp_path: Path) -> dict[str, str]:
    return {
        "SMSPRESTO_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "SMSPRESTO_START_DATE": "2025-03-01",
    }


@pytest.mark.slow
def test_dg_lists_the_component() -> None:
    code, out, err = dg("list", "components", "--json", cwd=ROOT)
    assert code == 0, err
    summaries = {item["key"]: item["summary"] for item in json.loads(out)["items"]}
    assert summaries[COMPONENT].startswith("SMS Presto message history into DuckDB")
    assert summaries[CAMPAIGN].startswith("An SMS campaign: a query's rows texted once each")
    assert summaries[ALERTS].startswith("The alerting sensor smspresto_alerts")


@pytest.mark.slow
def test_dg_checks_and_lists_the_projects_definitions(tmp_path: Path) -> None:
    code, out, err = dg("check", "defs", cwd=ROOT, extra=settings(tmp_path))
    assert code == 0, out + err
    assert "All definitions loaded successfully" in out + err
    assert warnings_in(out + err) == []

    code, out, err = dg("list", "defs", "--json", cwd=ROOT, extra=settings(tmp_path))
    assert code == 0, err
    listed: dict[str, list[dict[str, Any]]] = json.loads(out)
    assets = {asset["asset_key"]: asset for asset in listed["assets"]}
    assert set(assets) == {
        "archive_messages",
        "account_snapshot",
        "analytics_views",
        "archive_messages_today",
        "smspresto_circuit_breaker",
        "daily_summary",
        "failed_reminder",
    }
    assert (
        assets["smspresto_circuit_breaker"]["source"] == "dagster_project/defs/alerts/defs.yaml:8"
    )
    assert assets["archive_messages"]["source"] == "dagster_project/defs/ingest/defs.yaml:4"
    # Each campaign is an asset downstream of the tables its query reads.
    assert assets["daily_summary"]["dependency_keys"] == ["archive_messages"]
    assert sorted(assets["failed_reminder"]["dependency_keys"]) == [
        "archive_messages",
        "archive_messages_today",
    ]
    # Dagster's conventions: the kinds, the group, and the table each asset writes (dg lists
    # tags, not metadata: the tag smspresto/table beside dagster/table_name).
    for key, asset in assets.items():
        assert asset["kinds"] == ["duckdb", "smspresto"], key
        assert asset["group_name"] == "smspresto", key
    tables = {
        key: {tag["value"] for tag in asset.get("tags", []) if tag["key"] == "smspresto/table"}
        for key, asset in assets.items()
    }
    assert tables == {
        "archive_messages": {"smspresto.messages"},
        "archive_messages_today": {"smspresto.messages"},
        "account_snapshot": {"smspresto.account_snapshots"},
        "analytics_views": set(),
        "smspresto_circuit_breaker": {"smspresto.campaign_pauses"},
        "daily_summary": set(),
        "failed_reminder": set(),
    }
    # The archive's per-day checks, and the reconciliation of the counters on the snapshot.
    checks = {(c["asset_key"], c["name"]): c for c in listed["asset_checks"]}
    assert {name for asset, name in checks if asset == "account_snapshot"} == {"counters_reconcile"}
    assert (
        "archive_messages" in checks[("account_snapshot", "counters_reconcile")]["additional_deps"]
    )
    assert ("archive_messages", "history_id_unique") in checks
    assert {schedule["name"] for schedule in listed["schedules"]} == {
        "archive_messages_daily_ingest",
        "account_snapshot_hourly",
        "smspresto_reconcile_outbox_hourly",
        "archive_messages_freshness_hourly",
        "archive_messages_today_intraday",
    }
    # The example campaigns, one folder each: a sensor (stopped) and a send job; the ingestion's
    # sensor that launches the checks of each day ingested.
    campaigns = "dagster_project/defs/campaigns"
    assert {sensor["name"]: sensor["source"] for sensor in listed["sensors"]} == {
        "failed_reminder_sensor": f"{campaigns}/failed_reminder/defs.yaml:4",
        "daily_summary_sensor": f"{campaigns}/daily_summary/defs.yaml:5",
        "smspresto_archive_checks_sensor": "dagster_project/defs/ingest/defs.yaml:4",
        "smspresto_alerts": "dagster_project/defs/alerts/defs.yaml:8",
        # Reconciliation after each read of today: shared, with the campaigns' jobs.
        "smspresto_reconcile_outbox_after_intraday": f"{campaigns}/daily_summary/defs.yaml:5",
    }
    # The campaigns' shared jobs come from the first campaign in the folder's order.
    jobs = {job["name"]: job.get("source") for job in listed["jobs"]}
    for shared in ("smspresto_reconcile_outbox", "smspresto_resume_campaigns"):
        assert jobs[shared] == f"{campaigns}/daily_summary/defs.yaml:5"
    assert jobs["failed_reminder_send"] == f"{campaigns}/failed_reminder/defs.yaml:4"
    assert jobs["daily_summary_send"] == f"{campaigns}/daily_summary/defs.yaml:5"
    assert not (tmp_path / "warehouse.duckdb").exists(), "loading must not touch the warehouse"


@pytest.mark.slow
def test_dg_lists_the_kind_postgres_for_a_warehouse_url(tmp_path: Path) -> None:
    url = "postgresql://smspresto:s3cret@db.example:5432/sms"
    extra = {**settings(tmp_path), "SMSPRESTO_WAREHOUSE_URL": url}
    code, out, err = dg("list", "defs", "--json", cwd=ROOT, extra=extra)
    assert code == 0, err
    kinds = {asset["asset_key"]: asset["kinds"] for asset in json.loads(out)["assets"]}
    assert set(kinds) == {
        "archive_messages",
        "archive_messages_today",
        "account_snapshot",
        "analytics_views",
        "smspresto_circuit_breaker",
        "daily_summary",
        "failed_reminder",
    }
    assert all(found == ["postgres", "smspresto"] for found in kinds.values()), kinds
    assert "s3cret" not in out + err


@pytest.mark.slow
def test_dg_check_names_a_bad_operator_number(tmp_path: Path) -> None:
    """The daily summary's number is written into its query: only a number is accepted."""
    code, out, err = dg(
        "check",
        "defs",
        cwd=ROOT,
        extra={**settings(tmp_path), "SMSPRESTO_OPERATOR_NUMBER": "0'; DROP TABLE x; --"},
    )
    assert code != 0
    assert "SMSPRESTO_OPERATOR_NUMBER must be a phone number" in out + err


@pytest.mark.slow
def test_dg_check_names_a_bad_setting(tmp_path: Path) -> None:
    code, out, err = dg(
        "check",
        "defs",
        cwd=ROOT,
        extra={**settings(tmp_path), "SMSPRESTO_TIMEZONE": "Africa/Atlantis"},
    )
    assert code != 0
    assert "SMSPRESTO_TIMEZONE must be an IANA time zone name, got 'Africa/Atlantis'" in out + err


@pytest.mark.slow
@pytest.mark.parametrize("value", ["2026-13-45", "yesterday"])
def test_dg_check_says_first_what_is_wrong_with_the_start_date(tmp_path: Path, value: str) -> None:
    """The first component to read the settings is not to blame: the report opens with the
    variable, the value and the format, before any stack trace or component tree."""
    code, out, err = dg(
        "check", "defs", cwd=ROOT, extra={**settings(tmp_path), "SMSPRESTO_START_DATE": value}
    )
    assert code != 0
    lines = (out + err).splitlines()
    message = f"SMSPRESTO_START_DATE must be a date (YYYY-MM-DD), got {value!r}"
    opening = next(n for n, line in enumerate(lines) if "Validation failed" in line)
    assert any(message in line for line in lines[opening : opening + 3]), "\n".join(lines)
    assert "daily_summary" not in out + err
    assert "ComponentTreeException" not in out + err


def user_project(root: Path) -> tuple[Path, dict[str, str]]:
    """A user's own empty ``dg`` project in ``root``: its package, and the environment that
    finds it (the project is not installed: its package is on the path, as an editable install
    would put it)."""
    (root / "pyproject.toml").write_text(
        '[project]\nname = "clinic-sms"\nversion = "0.1.0"\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "clinic_sms"\n',
        encoding="utf-8",
    )
    package = root / "clinic_sms"
    (package / "defs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n"
        "@dg.definitions\ndef defs() -> dg.Definitions:\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    return package, {"PYTHONPATH": str(root)}


@pytest.mark.slow
def test_dg_scaffolds_the_ingestion_and_a_campaign_into_another_project(tmp_path: Path) -> None:
    """A user's own ``dg`` project, with this package installed, gets the ingestion and a
    campaign by name."""
    package, extra = user_project(tmp_path)

    code, out, err = dg("scaffold", "defs", COMPONENT, "sms_history", cwd=tmp_path, extra=extra)
    assert code == 0, out + err
    declared = (package / "defs" / "sms_history" / "defs.yaml").read_text()
    assert declared.startswith(f"type: {COMPONENT}\n")
    assert "api_pass_env: SMSPRESTO_API_PASS" in declared

    # A campaign beside it, from the scaffolder's three files (a dry run until edited).
    code, out, err = dg("scaffold", "defs", CAMPAIGN, "welcome", cwd=tmp_path, extra=extra)
    assert code == 0, out + err
    folder = package / "defs" / "welcome"
    assert sorted(path.name for path in folder.iterdir()) == [
        "defs.yaml",
        "message.j2",
        "query.sql",
    ]
    assert (folder / "defs.yaml").read_text().startswith("# A campaign")
    assert f"type: {CAMPAIGN}\n" in (folder / "defs.yaml").read_text()

    code, out, err = dg("list", "defs", "--json", cwd=tmp_path, extra=extra)
    assert code == 0, out + err
    listed = json.loads(out)
    assets = {asset["asset_key"] for asset in listed["assets"]}
    assert assets == {
        "archive_messages",
        "account_snapshot",
        "analytics_views",
        "archive_messages_today",
        "welcome",
    }
    # The scaffolded ingestion's checks sensor, the campaign's, and the reconciliation after
    # each read of today that the campaigns share.
    assert sorted(sensor["name"] for sensor in listed["sensors"]) == [
        "smspresto_archive_checks_sensor",
        "smspresto_reconcile_outbox_after_intraday",
        "welcome_sensor",
    ]
    assert "welcome_send" in {job["name"] for job in listed["jobs"]}


@pytest.mark.slow
def test_dg_checks_a_project_of_campaigns_alone(tmp_path: Path) -> None:
    """A user's project that declares two scaffolded campaigns and nothing else checks, with the
    jobs its campaigns' messages name, and the reconciliation."""
    _, extra = user_project(tmp_path)
    for name in ("welcome", "reminder"):
        code, out, err = dg("scaffold", "defs", CAMPAIGN, name, cwd=tmp_path, extra=extra)
        assert code == 0, out + err

    code, out, err = dg("check", "defs", cwd=tmp_path, extra=extra)
    assert code == 0, out + err
    assert "All definitions loaded successfully" in out + err
    code, out, err = dg("list", "defs", "--json", cwd=tmp_path, extra=extra)
    assert code == 0, out + err
    listed = json.loads(out)
    assert {job["name"] for job in listed["jobs"]} == {
        "welcome_send",
        "reminder_send",
        "smspresto_resume_campaigns",
        "smspresto_pause_campaigns",
        "smspresto_reconcile_outbox",
    }
    assert [schedule["name"] for schedule in listed["schedules"]] == [
        "smspresto_reconcile_outbox_hourly"
    ]
