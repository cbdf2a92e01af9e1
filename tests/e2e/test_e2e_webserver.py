"""The demo's data seen through the Dagster UI's server: after the demo (run twice, headless),
``dagster-webserver -m dagster_project`` on the same instance answers GraphQL with exactly the
code location's assets, asset checks, schedules (stopped) and sensors, lists each of the
demo's runs under its job, as the UI's job pages show them, and shows the failure-rate spike
check's evaluations per day: failed at ERROR on the injected spike's day."""

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_fixtures import BIN, DemoTwice, base_env, finish, kill_group, start

from smspresto_pipeline.checks.definitions import CHECKS_JOB, CHECKS_SENSOR, FAILURE_SPIKE_CHECK
from smspresto_pipeline.simulator import free_port

JOBS = (
    "archive_messages_ingest_job",
    "account_snapshot_job",
    "analytics_views_job",
    "daily_summary_send",
)
# The label Dagster stamps on a run launched from a code location; the UI's job pages filter
# on it (with the job's name), and a run made with execute_in_process has none.
REPOSITORY_LABEL = "__repository__@dagster_project"
RUN_FIELDS = """
  runId jobName status tags { key value }
  repositoryOrigin { repositoryLocationName repositoryName }
"""

QUERY = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name runs { RUN_FIELDS } }
        schedules { name scheduleState { status } }
        sensors { name }
      }
    }
  }
  ingestJobPage: runsOrError(
    filter: {
      pipelineName: "archive_messages_ingest_job"
      tags: [{ key: ".dagster/repository", value: "REPOSITORY_LABEL" }]
    }
  ) { ... on Runs { results { RUN_FIELDS } } }
  allRuns: runsOrError { ... on Runs { results { RUN_FIELDS } } }
  spikeChecks: assetCheckExecutions(
    assetKey: { path: ["archive_messages"] }, checkName: "CHECK_NAME", limit: 100
  ) {
    runId partition status
    evaluation { severity success description partition }
  }
}
""".replace("RUN_FIELDS", RUN_FIELDS).replace("REPOSITORY_LABEL", REPOSITORY_LABEL)
QUERY = QUERY.replace("CHECK_NAME", FAILURE_SPIKE_CHECK)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def wait_for_server(url: str, server: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, finish(server, 5)[1][-4000:]
        try:
            if httpx.get(url + "/server_info", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the webserver did not answer within {timeout} s")


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


@pytest.mark.slow
@pytest.mark.timeout(600)  # it may be the test that runs the demo twice (`demo_twice`)
def test_webserver_shows_the_demo(demo_twice: DemoTwice) -> None:
    data_dir, first, second_run_ids = (
        demo_twice.data_dir,
        demo_twice.first,
        demo_twice.second_run_ids,
    )
    demo_env = read_env_file(data_dir / "demo.env")
    assert demo_env["SMSPRESTO_SCHEDULES"] == "stopped"
    port = free_port()
    server = start(
        [
            str(BIN / "dagster-webserver"),
            "-m",
            "dagster_project",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        {**base_env(), **demo_env},
        cwd=data_dir.parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, timeout=120)
        response = httpx.post(url + "/graphql", json={"query": QUERY}, timeout=60)
        response.raise_for_status()
        body = response.json()
    finally:
        kill_group(server)
        finish(server, 30)
    assert "errors" not in body, json.dumps(body)[:4000]
    data = body["data"]

    assets = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    assert assets == {
        "archive_messages",
        "account_snapshot",
        "analytics_views",
        "archive_messages_today",
        "smspresto_circuit_breaker",
        "daily_summary",
        "failed_reminder",
    }
    # The asset graph: each campaign downstream of the tables its query reads.
    upstream = {
        "/".join(node["assetKey"]["path"]): {
            "/".join(key["path"]) for key in node["dependencyKeys"]
        }
        for node in data["assetNodes"]
    }
    assert upstream["daily_summary"] == {"archive_messages"}
    assert upstream["failed_reminder"] == {"archive_messages", "archive_messages_today"}
    checks = [
        check["name"]
        for node in data["assetNodes"]
        for check in node["assetChecksOrError"]["checks"]
    ]
    assert sorted(checks) == [
        "archive_messages_freshness",
        "archive_messages_today_failure_spike",
        "counters_reconcile",
        FAILURE_SPIKE_CHECK,
        "history_id_unique",
        "required_fields_present",
        "sent_not_before_created",
        "statuses_mapped",
    ]

    (repository,) = data["repositoriesOrError"]["nodes"]
    assert repository["location"]["name"] == "dagster_project"
    assert {sensor["name"] for sensor in repository["sensors"]} == {
        "failed_reminder_sensor",
        "daily_summary_sensor",
        CHECKS_SENSOR,
        "smspresto_alerts",
        "smspresto_reconcile_outbox_after_intraday",
    }
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    # demo.env stops them: the UI opened on the demo does not call the simulator by itself.
    assert schedules == {
        "archive_messages_daily_ingest": "STOPPED",
        "account_snapshot_hourly": "STOPPED",
        "smspresto_reconcile_outbox_hourly": "STOPPED",
        "archive_messages_freshness_hourly": "STOPPED",
        "archive_messages_today_intraday": "STOPPED",
    }

    # Each job lists exactly its runs of the two demo runs, as its page in the UI does.
    jobs = {job["name"]: job["runs"] for job in repository["jobs"]}
    # The demo does not launch the failed_reminder campaign nor the campaigns' shared jobs;
    # the checks job's runs (one per day) are looked at below.
    unlaunched = {
        "failed_reminder_send",
        "smspresto_reconcile_outbox",
        "smspresto_pause_campaigns",
        "smspresto_resume_campaigns",
        "archive_messages_freshness_job",
        "archive_messages_today_job",
    }
    assert {name for name in jobs if not name.startswith("__")} == {*JOBS, *unlaunched, CHECKS_JOB}
    for index, name in enumerate(JOBS):
        runs = jobs[name]
        assert {r["runId"] for r in runs} == {first.run_ids[index], second_run_ids[index]}, name
        assert {(r["jobName"], r["status"]) for r in runs} == {(name, "SUCCESS")}
    # The ingest job's "Runs" page (its name and the repository label, the UI's filter).
    ingest = data["ingestJobPage"]["results"]
    assert {r["runId"] for r in ingest} == {first.run_ids[0], second_run_ids[0]}
    for run in ingest:
        assert run["status"] == "SUCCESS"
        tags = tags_of(run)
        assert tags["dagster/asset_partition_range_start"] == first.first_day.isoformat()
        assert tags["dagster/asset_partition_range_end"] == first.last_day.isoformat()

    # The checks runs, one a day checked, are listed under their job.
    checks_runs = {r["runId"] for r in jobs[CHECKS_JOB]}
    assert {check.run_id for check in first.checks} < checks_runs
    assert len(checks_runs) == 2 * len(first.checks)

    # The spike check's evaluations, as the asset's checks tab shows them: one per run and day,
    # failed at ERROR on the injected spike's day, newest first.
    executions = data["spikeChecks"]
    assert {e["runId"] for e in executions} == checks_runs
    by_day: dict[str, list[dict[str, Any]]] = {}
    for execution in executions:
        assert execution["partition"] == execution["evaluation"]["partition"]
        by_day.setdefault(execution["partition"], []).append(execution)
    assert sorted(by_day) == [check.day.isoformat() for check in first.checks]
    assert first.spike_day is not None
    for execution in by_day[first.spike_day.isoformat()]:
        assert execution["status"] == "FAILED"
        evaluation = execution["evaluation"]
        assert (evaluation["success"], evaluation["severity"]) == (False, "ERROR")
        assert evaluation["description"] == next(
            c.reason for c in first.checks if c.day == first.spike_day
        )

    # No other run: nothing the demo made is left outside its job.
    all_runs = data["allRuns"]["results"]
    assert {r["runId"] for r in all_runs} == set(first.run_ids + second_run_ids) | checks_runs
    origins = {tuple(r["repositoryOrigin"].values()) for r in all_runs}
    assert origins == {("dagster_project", "__repository__")}
