"""The demo's data seen through the Dagster UI's server: the demo runs headless, then
``dagster-webserver -m dagster_project`` on the same instance answers GraphQL with every asset,
asset check, schedule and sensor, and with the demo's runs."""

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from e2e_fixtures import BIN, base_env, finish, kill_group, run, start

from smspresto_pipeline.simulator import free_port

DEMO = (
    "from pathlib import Path\n"
    "from smspresto_pipeline.demo import run_demo\n"
    "run_demo(data_dir=Path('data'), days=3, messages_per_day=30)\n"
)

QUERY = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        schedules { name scheduleState { status } }
        sensors { name }
      }
    }
  }
  runsOrError { ... on Runs { results { runId status } } }
}
"""


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


@pytest.mark.slow
def test_webserver_shows_the_demo(tmp_path: Path) -> None:
    env = base_env()
    output = run([str(BIN / "python"), "-c", DEMO], env, cwd=tmp_path, timeout=240)
    assert "Failure rate per day" in output

    demo_env = read_env_file(tmp_path / "data" / "demo.env")
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
        {**env, **demo_env},
        cwd=tmp_path,
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
    assert {"archive_messages", "account_snapshot"} <= assets
    assert len(assets) > 2
    checks = [
        check["name"]
        for node in data["assetNodes"]
        for check in node["assetChecksOrError"].get("checks", [])
    ]
    assert isinstance(checks, list)

    (repository,) = data["repositoriesOrError"]["nodes"]
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    assert schedules == {
        "archive_messages_daily_ingest": "RUNNING",
        "account_snapshot_hourly": "RUNNING",
    }
    assert isinstance(repository["sensors"], list)

    runs = data["runsOrError"]["results"]
    assert len(runs) == 3
    assert {r["status"] for r in runs} == {"SUCCESS"}
