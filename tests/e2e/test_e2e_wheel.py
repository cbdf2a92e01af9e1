"""The wheel carries the library and nothing else, and declares ranges, not pins: installed
into a fresh venv that already holds a dagster newer than uv.lock's, it leaves that dagster as
it is and every requirement met; used from another folder, it holds no ``dagster_project`` (a
user's project may have a package of that name), finds its SQL inside the package, and
registers its components through the entry point that ``dg`` reads. That it runs in a user's
project is test_e2e_own_project.py's proof."""

import json
import zipfile
from pathlib import Path

import pytest
from e2e_fixtures import ROOT, base_env, build_wheel, finish, run, start, uv

# Run by the installed interpreter: what the installed package finds, as JSON.
_INSPECT = """
import importlib.util, json, sys
from importlib.metadata import entry_points

from smspresto_pipeline.storage.queries import SQL_ROOT
from smspresto_pipeline.warehouse import Warehouse

(registry,) = entry_points(group="dagster_dg_cli.registry_modules", name="smspresto_pipeline")
module = registry.load()
warehouse = Warehouse(sys.argv[1])
warehouse.ensure_schema()
print(json.dumps({
    "dagster_project": importlib.util.find_spec("dagster_project") is not None,
    "sql_root": str(SQL_ROOT),
    "components": sorted(
        name for name in ("SMSPrestoIngestComponent", "CampaignComponent") if hasattr(module, name)
    ),
    "views": sorted(warehouse.create_views()),
}))
"""


# A user's dagster, newer than uv.lock's: the wheel's ranges take it as it is.
USERS_DAGSTER = "1.13.29"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding a user's dagster, then the wheel, nothing of this checkout; its
    ``bin``."""
    where = tmp_path_factory.mktemp("wheel")
    venv = where / "venv"
    uv("venv", "--quiet", "--python", "python3", str(venv), cwd=where)
    python = str(venv / "bin" / "python")
    uv("pip", "install", "--quiet", "--python", python, f"dagster=={USERS_DAGSTER}", cwd=where)
    uv("pip", "install", "--quiet", "--python", python, str(wheel), cwd=where)
    return venv / "bin"


def test_the_wheel_holds_the_library_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"smspresto_pipeline", "smspresto_pipeline-0.1.0.dist-info"}
    # Every SQL file of the package (storage's and the simulator's), as in the checkout.
    shipped = {name for name in names if name.endswith(".sql")}
    assert shipped == {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "smspresto_pipeline").rglob("*.sql")
    }
    assert "smspresto_pipeline/storage/sql/ddl/create_messages_table.sql" in shipped


@pytest.mark.slow
def test_the_installed_library_finds_its_sql_and_registers_its_components(
    installed: Path, tmp_path: Path
) -> None:
    env = base_env()
    # Nothing of this checkout may be found: not its folder, not its venv.
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{installed}:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = str(installed.parent)
    python = str(installed / "python")
    # Installing the wheel moved no dagster and broke no requirement.
    versions = {
        item["name"]: item["version"]
        for item in json.loads(
            uv("pip", "list", "--python", python, "--format", "json", cwd=tmp_path)
        )
    }
    assert versions["dagster"] == USERS_DAGSTER
    uv("pip", "check", "--python", python, cwd=tmp_path)

    site_packages = next(installed.parent.glob("lib/python3*/site-packages"))
    assert not (site_packages / "dagster_project").exists()

    found = json.loads(
        run(
            [python, "-c", _INSPECT, str(tmp_path / "warehouse.duckdb")],
            env,
            cwd=tmp_path,
        )
    )
    assert found["dagster_project"] is False
    assert found["sql_root"] == str(site_packages / "smspresto_pipeline" / "storage" / "sql")
    assert found["components"] == ["CampaignComponent", "SMSPrestoIngestComponent"]
    assert found["views"] == sorted(
        path.stem.removeprefix("create_").removesuffix("_view")
        for path in (ROOT / "smspresto_pipeline" / "storage" / "sql" / "analytics").glob("*.sql")
    )

    # The demo runs the repository's code location: from the wheel it says where that is.
    data = tmp_path / "data"
    code, output = finish(
        start([str(installed / "smspresto"), "demo", "--data-dir", str(data)], env, tmp_path),
        timeout=120,
    )
    assert code == 1, output
    assert "run `bash scripts/demo.sh` in a clone of the repository" in " ".join(output.split())
    assert not data.exists()
