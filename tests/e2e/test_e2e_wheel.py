"""The installed wheel is a whole code location: built, installed with the locked dependencies
into a fresh venv, and run from another folder, it validates, lists its component, and
materializes a day from the simulator into DuckDB (the SQL, the defs folder and the ``dg``
settings all come from inside the wheel)."""

import json
import subprocess
from pathlib import Path

import pytest
from conftest import SIMULATOR_HISTORY_START
from e2e_fixtures import api_rows, project_env, run, warehouse_rows

from smspresto_pipeline.simulator import RunningSimulator

ROOT = Path(__file__).resolve().parents[2]
# Installed by scripts/bootstrap.sh, which the test command runs first.
UV = ROOT / ".cache" / "bootstrap" / "bin" / "uv"


def uv(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [str(UV), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the built wheel and the locked dependencies, nothing of this checkout."""
    assert UV.exists(), "run scripts/bootstrap.sh first"
    where = tmp_path_factory.mktemp("wheel")
    uv("build", "--wheel", "--quiet", "--out-dir", str(where / "dist"), cwd=ROOT)
    (wheel,) = (where / "dist").glob("smspresto_pipeline-*.whl")
    locked = where / "requirements.txt"
    uv(
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--output-file",
        str(locked),
        cwd=ROOT,
    )
    venv = where / "venv"
    uv("venv", "--quiet", "--python", "python3", str(venv), cwd=where)
    python = str(venv / "bin" / "python")
    # Compiled once here, as bootstrap.sh does: each Dagster process below would compile again.
    uv(
        "pip",
        "install",
        "--quiet",
        "--compile-bytecode",
        "--python",
        python,
        "-r",
        str(locked),
        cwd=where,
    )
    uv("pip", "install", "--quiet", "--python", python, "--no-deps", str(wheel), cwd=where)
    return venv / "bin"


@pytest.mark.slow
def test_installed_wheel_runs_the_code_location(
    installed: Path, simulator: RunningSimulator, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    duckdb_path = elsewhere / "warehouse.duckdb"
    env = project_env(
        simulator,
        duckdb_path=duckdb_path,
        dagster_home=tmp_path / "home",
        start_date=SIMULATOR_HISTORY_START,
    )
    # Nothing of this checkout may be found: not its folder, not its venv.
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{installed}:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = str(installed.parent)
    origin = run(
        [
            str(installed / "python"),
            "-c",
            "import dagster_project; print(dagster_project.__file__)",
        ],
        env,
        cwd=elsewhere,
    )
    assert origin.strip().startswith(str(installed.parent)), origin

    run(
        [str(installed / "dagster"), "definitions", "validate", "-m", "dagster_project"],
        env,
        cwd=elsewhere,
    )
    listed = subprocess.run(
        [str(installed / "dg"), "list", "components", "--json"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    keys = {item["key"] for item in json.loads(listed.stdout)["items"]}
    assert "smspresto_pipeline.SMSPrestoIngestComponent" in keys
    assert "smspresto_pipeline.CampaignComponent" in keys

    day = SIMULATOR_HISTORY_START
    run(
        [
            str(installed / "dagster"),
            "asset",
            "materialize",
            "-m",
            "dagster_project",
            "--select",
            "archive_messages",
            "--partition",
            day.isoformat(),
        ],
        env,
        cwd=elsewhere,
    )
    stored = warehouse_rows(duckdb_path, day, day)
    assert stored, "the day has messages"
    assert stored == api_rows(simulator, day, day)
