"""The account password (and the warehouse URL's) never reaches anything Dagster or DuckDB writes.

Real runs of the code location (its resources read the password through ``dg.EnvVar``) against
a simulator whose faults make the client retry and log, plus a run that fails authentication;
then every byte under ``DAGSTER_HOME`` (event log, run storage, captured compute logs), the
DuckDB file and every event's text are searched for the password, plain and URL-encoded.
"""

import socket
import urllib.parse
from pathlib import Path

import dagster as dg
import pytest
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, MakeSimulator
from e2e_fixtures import (
    finish,
    initialise_instance,
    load_project,
    materialize_command,
    project_env,
    start,
)

from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.simulator import Fault

PASSWORD = "Zq9+s3cret/PASS&7781"


def needles(secret: str) -> list[bytes]:
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return [form.encode() for form in forms]


def files_holding(root: Path, secret: str) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if any(needle in data for needle in needles(secret)):
                found.append(str(path.relative_to(root)))
    return found


@pytest.mark.slow
def test_password_is_in_no_event_log_table_or_file(
    make_simulator: MakeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_home = tmp_path / "home"
    duckdb_path = tmp_path / "warehouse.duckdb"
    faults = (
        Fault("server_error", count=1, actions=frozenset({"list-archive"})),
        Fault("rate_limit", count=1, actions=frozenset({"get-stock"}), retry_after=0.01),
        Fault("truncated_json", count=1, actions=frozenset({"get-contact-total"})),
    )
    with make_simulator(api_pass=PASSWORD, faults=faults) as sim:
        env = project_env(
            sim,
            duckdb_path=duckdb_path,
            dagster_home=dagster_home,
            start_date=SIMULATOR_HISTORY_START,
        )
        monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
        defs = load_project(monkeypatch, {**env, "SMSPRESTO_API_PASS": PASSWORD})
        range_tags = {
            PARTITION_RANGE_START_TAG: SIMULATOR_HISTORY_START.isoformat(),
            PARTITION_RANGE_END_TAG: SIMULATOR_HISTORY_END.isoformat(),
        }
        with dg.DagsterInstance.get() as instance:
            for job_name, tags in (
                ("archive_messages_ingest_job", range_tags),
                ("account_snapshot_job", {}),
                ("analytics_views_job", {}),
            ):
                result = defs.resolve_job_def(job_name).execute_in_process(
                    instance=instance, tags=tags
                )
                assert result.success, job_name
            # The faults fired: the runs above went through retries, which are logged.
            assert any(
                "retry" in (record.user_message or "")
                for run in instance.get_runs()
                for record in instance.all_logs(run.run_id)
            )

            # A wrong password fails the run; its error must not echo the password it sent.
            wrong = PASSWORD + "-wrong"
            monkeypatch.setenv("SMSPRESTO_API_PASS", wrong)
            failed = defs.resolve_job_def("account_snapshot_job").execute_in_process(
                instance=instance, raise_on_error=False
            )
            assert not failed.success
            failure_text = str(failed.get_step_failure_events()[0].event_specific_data)
            assert "AuthenticationError" in failure_text

            for run in instance.get_runs():
                for record in instance.all_logs(run.run_id):
                    text = str(record)
                    assert PASSWORD not in text
                    assert wrong not in text

    assert duckdb_path.exists()
    assert files_holding(dagster_home, PASSWORD) == []
    assert files_holding(dagster_home, PASSWORD + "-wrong") == []
    leaks = [name for name in files_holding(tmp_path, PASSWORD) if not name.startswith("simulator")]
    assert leaks == [], "only the simulator's own account file may hold the password"


@pytest.mark.slow
def test_warehouse_password_is_in_no_output_event_or_file(tmp_path: Path) -> None:
    """``dagster asset materialize -m dagster_project`` in a process of its own, with
    SMSPRESTO_WAREHOUSE_URL naming a database nothing answers for: the run fails naming the
    warehouse with its password as ***, and the password is in none of the command's output,
    nor anywhere under DAGSTER_HOME (event log, run storage, captured compute logs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://sms:{urllib.parse.quote(PASSWORD, safe='')}@127.0.0.1:{port}/warehouse"
    dagster_home = tmp_path / "home"
    env = project_env(
        None,
        duckdb_path=tmp_path / "warehouse.duckdb",
        dagster_home=dagster_home,
        start_date=SIMULATOR_HISTORY_START,
        extra={"SMSPRESTO_WAREHOUSE_URL": url},
    )
    initialise_instance(dagster_home)
    code, output = finish(
        start(materialize_command("--select", "analytics_views"), env, cwd=tmp_path), 180
    )
    assert code != 0, output
    assert f"postgresql://sms:***@127.0.0.1:{port}/warehouse" in output, output[-4000:]
    assert not any(needle.decode() in output for needle in needles(PASSWORD))
    assert files_holding(dagster_home, PASSWORD) == []
    assert not (tmp_path / "warehouse.duckdb").exists(), "the URL, not the file, was used"
