"""The campaign component: declared in a ``defs.yaml`` (with its query and template inline or in
files beside it), scaffolded by ``dg scaffold defs``, loaded in sandboxed defs folders, alone
(a whole project: the shared jobs and schedule, the resources) or beside other campaigns and the
ingestion; and the project's example campaigns, whose ``failed_reminder`` query runs against a
warehouse ingested from the simulator."""

import collections
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
import yaml
from campaign_fixtures import EXAMPLES, example_query
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, load_error
from dagster.components.testing import DefsFolderSandbox
from e2e_fixtures import load_project, project_env

from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.campaigns import Campaign, CampaignComponent
from smspresto_pipeline.campaigns.breaker_defs import PAUSE_JOB, RESUME_JOB
from smspresto_pipeline.campaigns.reconcile_defs import RECONCILE_AFTER_INTRADAY, RECONCILE_JOB_NAME
from smspresto_pipeline.campaigns.render import compile_template
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.ingest import SMSPrestoIngestComponent
from smspresto_pipeline.resources import ResourceAttributes, SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import CircuitBreaker, Outbox
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.sms import migrate_legacy_ci, normalize_number
from smspresto_pipeline.warehouse import Warehouse

TYPE = "smspresto_pipeline.CampaignComponent"
SQL = "select phone as recipient, id as dedup_key, first_name from main.customers"
TEMPLATE = "Bonjour {{ first_name }}, à demain !"


#: What every campaign of a project shares, given by its first campaign.
SHARED_JOBS = {RESUME_JOB, PAUSE_JOB, RECONCILE_JOB_NAME}
RECONCILE_SCHEDULE = f"{RECONCILE_JOB_NAME}_hourly"


def declare(
    sandbox: DefsFolderSandbox,
    attributes: dict[str, Any],
    files: dict[str, str] | None = None,
    *,
    folder: str = "campaign",
) -> Path:
    """A folder ``folder`` whose defs.yaml declares a campaign, with ``files`` beside it."""
    path = sandbox.scaffold_component(
        component_cls=CampaignComponent,
        defs_path=folder,
        defs_yaml_contents={
            "type": TYPE,
            "attributes": {"name": "welcome", "sender": "MaBoutique", **attributes},
        },
    )
    for name in ("query.sql", "message.j2"):  # the scaffolder's, unless a test gives its own
        (path / name).unlink(missing_ok=True)
    for name, text in (files or {}).items():
        (path / name).write_text(text, encoding="utf-8")
    return path


def declare_ingest(sandbox: DefsFolderSandbox, **attributes: Any) -> Path:
    """A folder ``ingest`` declaring the ingestion (its other attributes: the defaults)."""
    return sandbox.scaffold_component(
        component_cls=SMSPrestoIngestComponent,
        defs_path="ingest",
        defs_yaml_contents={
            "type": "smspresto_pipeline.SMSPrestoIngestComponent",
            "attributes": {"start_date": "2025-03-01", **attributes},
        },
    )


@pytest.fixture
def account(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    """The simulator, in the variables the components read by default (as a deployment sets
    them for the real API)."""
    monkeypatch.setenv("SMSPRESTO_API_KEY", simulator.api_key)
    monkeypatch.setenv("SMSPRESTO_API_PASS", simulator.api_pass)
    monkeypatch.setenv("SMSPRESTO_BASE_URL", simulator.base_url)
    return simulator


def customers(tmp_path: Path, *rows: tuple[str, str, str]) -> Path:
    """A warehouse whose ``main.customers`` holds ``(id, phone, first_name)`` rows."""
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.ensure_schema()
    with warehouse.connect() as con:
        con.execute("CREATE TABLE main.customers(id VARCHAR, phone VARCHAR, first_name VARCHAR)")
        con.executemany("INSERT INTO main.customers VALUES (?, ?, ?)", [list(r) for r in rows])
    return warehouse.path


def test_attributes_mirror_the_campaign_fields() -> None:
    """Every Campaign field is an attribute of the same name and default (and description);
    the component adds the file variants of the query and the template, the attributes binding
    the resources (the ingest component's), the shared schedule's state, the send op's pool,
    the owners and tags of its assets, its asset's upstream (deps) and translation."""
    attributes = CampaignComponent.model_fields
    fields = Campaign.model_fields
    binding = set(ResourceAttributes.model_fields) - {"timezone"}
    assert binding == {
        "duckdb_path",
        "warehouse_url_env",
        "api_key_env",
        "api_pass_env",
        "base_url_env",
    }
    assert binding <= set(SMSPrestoIngestComponent.model_fields)
    assert set(attributes) - set(fields) == {
        "sql_file",
        "template_file",
        "reconcile_schedule_status",
        "pool",
        "owners",
        "tags",
        "deps",
        "translation",
        *binding,
    }
    assert set(fields) <= set(attributes)
    schema = CampaignComponent.model().model_json_schema()["properties"]
    for name, field in fields.items():
        if name in ("sql", "template"):  # required in Campaign; a file may give them here
            assert field.is_required()
            assert attributes[name].default is None
        else:
            assert attributes[name].is_required() == field.is_required(), name
            assert attributes[name].default == field.default, name
            assert attributes[name].annotation == field.annotation, name
        assert field.description, name
        assert schema[name]["description"].startswith(field.description), name
    assert schema["sql_file"]["description"]
    assert schema["template_file"]["description"]


def test_yaml_campaign_with_files_sends_through_its_job(
    sandbox: DefsFolderSandbox, account: RunningSimulator, tmp_path: Path
) -> None:
    simulator = account
    warehouse = customers(tmp_path, ("c1", "0708081401", "Awa"), ("c2", "0708081402", "Koffi"))
    path = declare(
        sandbox,
        {
            "duckdb_path": str(warehouse),
            "sql_file": "sql/select.sql",
            "template_file": "message.j2",
            "max_per_run": 10,
            # A first launch sends these rows instead of recording them as a baseline.
            "send_on_first_activation": True,
        },
        {"message.j2": TEMPLATE + "\n"},
    )
    (path / "sql").mkdir()
    (path / "sql" / "select.sql").write_text(SQL, encoding="utf-8")
    sent_before = len(simulator.sends)
    with (
        sandbox.load_component_and_build_defs(defs_path=path) as (component, defs),
        dg.instance_for_test() as instance,
    ):
        assert isinstance(component, CampaignComponent)
        assert component.sql_file == "sql/select.sql"
        assert component.max_per_run == 10
        assert {s.name for s in defs.resolve_all_job_defs()} >= {"welcome_send"}
        assert defs.resolve_sensor_def("welcome_sensor").name == "welcome_sensor"
        result = defs.resolve_job_def("welcome_send").execute_in_process(instance=instance)
        assert result.success
    sent = [pair for record in simulator.sends[sent_before:] for pair in record.messages]
    # The template file's last line break is not part of the message.
    assert sorted(sent) == [
        ("+2250708081401", "Bonjour Awa, à demain !"),
        ("+2250708081402", "Bonjour Koffi, à demain !"),
    ]
    rows = Outbox(Warehouse(warehouse)).rows("sent", campaign="welcome")
    assert {row.dedup_key for row in rows} == {"c1", "c2"}


def test_inline_template_is_kept_as_written(sandbox: DefsFolderSandbox) -> None:
    """Dagster renders ``{{ }}`` in YAML values; the template's must reach the campaign as
    written (the query's are rendered: here ``env``)."""
    template = "Bonjour {{ first_name or 'client' }} {# note #}, {% if x %}oui{% endif %}"
    path = declare(
        sandbox,
        {"sql": "select 1 as recipient, '{{ env.HOME }}' as dedup_key", "template": template},
    )
    with sandbox.load_component_and_build_defs(defs_path=path) as (component, _):
        assert isinstance(component, CampaignComponent)
        assert component.template == template
        campaign = component.build_campaign(path)
    assert campaign.template == template
    assert "{{" not in str(component.sql), "the query's template variables are rendered"


def test_the_folders_query_sql_and_message_j2_are_the_default(sandbox: DefsFolderSandbox) -> None:
    path = declare(sandbox, {}, {"query.sql": SQL, "message.j2": "{{ first_name }} !"})
    with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
        assert isinstance(component, CampaignComponent)
        assert (component.sql, component.sql_file) == (None, None)
        campaign = component.build_campaign(path)
        assert {job.name for job in defs.jobs or ()} == {"welcome_send", *SHARED_JOBS}
    assert (campaign.sql, campaign.template) == (SQL, "{{ first_name }} !")


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"sql": SQL, "sql_file": "query.sql"}, "give sql or sql_file, not both"),
        (
            {"template": TEMPLATE, "template_file": "message.j2"},
            "give template or template_file, not both",
        ),
        ({"sql_file": "nope.sql"}, "sql_file names 'nope.sql', which is not a file"),
        (
            {"sql": SQL, "template_file": "nope.j2"},
            "template_file names 'nope.j2', which is not a file",
        ),
        ({"sql": SQL}, "neither template nor template_file is given, and 'message.j2'"),
        ({"template": TEMPLATE}, "neither sql nor sql_file is given, and 'query.sql'"),
    ],
)
def test_query_and_template_come_from_one_place(
    sandbox: DefsFolderSandbox, attributes: dict[str, Any], expected: str
) -> None:
    files = {"query.sql": SQL, "message.j2": TEMPLATE}
    files = {name: text for name, text in files.items() if name in attributes.values()}
    path = declare(sandbox, attributes, files)
    assert expected in load_error(sandbox, path)


@pytest.mark.parametrize(
    ("attributes", "files", "expected"),
    [
        (
            {"sql": SQL, "template_file": "message.j2"},
            {"message.j2": "Bonjour {{ first_name"},
            "template_file (",
        ),
        ({"sql_file": "query.sql", "template": TEMPLATE}, {"query.sql": "  \n"}, "sql_file ("),
        ({"sql": SQL, "template": TEMPLATE, "sender": "Ma Boutique Géante"}, {}, "sender"),
        ({"sql": SQL, "template": TEMPLATE, "max_per_run": 0}, {}, "max_per_run"),
        (
            {"sql": SQL, "template": TEMPLATE, "quiet_hours": {"start": 1320, "end": "08:00"}},
            {},
            "quiet_hours.start",
        ),
        ({"sql": SQL, "template": TEMPLATE, "frequency_cap": {"max_messages": 0}}, {}, "max"),
        ({"sql": SQL, "template": TEMPLATE, "no_such_attribute": 1}, {}, "no_such_attribute"),
    ],
)
def test_a_bad_value_names_its_attribute(
    sandbox: DefsFolderSandbox, attributes: dict[str, Any], files: dict[str, str], expected: str
) -> None:
    path = declare(sandbox, attributes, files)
    text = load_error(sandbox, path)
    assert expected in text, text
    if expected.endswith("_file ("):
        assert f"{expected}{path}" in text, "the file is named with its folder"


def test_a_campaign_alone_is_a_whole_project(sandbox: DefsFolderSandbox) -> None:
    """No ingest component, no Python: the campaign brings the breaker's jobs, the
    reconciliation job and its schedule, and binds the resources from the environment."""
    declare(sandbox, {"sql": SQL, "template": TEMPLATE, "duckdb_path": "data/shop.duckdb"})
    with sandbox.build_all_defs() as defs:
        dg.Definitions.validate_loadable(defs)
        repository = defs.get_repository_def()
        # (Dagster's own implicit __ASSET_JOB aside, there since the campaign is an asset.)
        jobs = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}
        assert jobs == {"welcome_send", *SHARED_JOBS}
        [schedule] = repository.schedule_defs
        assert (schedule.name, schedule.job_name) == (RECONCILE_SCHEDULE, RECONCILE_JOB_NAME)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        # The reconciliation after each read of today watches the ingestion's asset, wherever
        # it is defined (another code location's reads too).
        assert sorted(sensor.name for sensor in repository.sensor_defs) == [
            RECONCILE_AFTER_INTRADAY,
            "welcome_sensor",
        ]
        resources = dict(defs.resources or {})
    warehouse, smspresto = resources["warehouse"], resources["smspresto"]
    assert isinstance(warehouse, WarehouseResource)
    assert warehouse.path == "data/shop.duckdb"
    assert isinstance(smspresto, SMSPrestoResource)
    # Names of variables, read when a run starts: never a secret in the definitions.
    assert (smspresto.api_key, smspresto.api_pass) == (
        dg.EnvVar("SMSPRESTO_API_KEY"),
        dg.EnvVar("SMSPRESTO_API_PASS"),
    )


@pytest.mark.parametrize("pool", [None, "smspresto_warehouse"])
def test_the_steps_that_write_the_warehouse_take_the_pool_named(
    sandbox: DefsFolderSandbox, pool: str | None
) -> None:
    """The ingestion's three assets and a campaign's send op take the pool their components
    name (none when they name none, the factories' default)."""
    named = {} if pool is None else {"pool": pool}
    declare_ingest(sandbox, **named)
    declare(sandbox, {"sql": SQL, "template": TEMPLATE, **named})
    with sandbox.build_all_defs() as defs:
        repository = defs.get_repository_def()
        assets = {
            key.to_user_string(): assets_def.op.pool
            for assets_def in repository.assets_defs_by_key.values()
            for key in assets_def.keys
        }
        # The campaign's asset is its send op's.
        assert assets == dict.fromkeys(
            [
                "archive_messages",
                "account_snapshot",
                "analytics_views",
                "archive_messages_today",
                "welcome",
            ],
            pool,
        )
        [send] = repository.get_job("welcome_send").all_node_defs
        assert isinstance(send, dg.OpDefinition)
        assert send.pool == pool


def test_a_paused_campaign_names_a_job_its_project_has(
    sandbox: DefsFolderSandbox, account: RunningSimulator, tmp_path: Path
) -> None:
    """The breaker's message names the job that resumes the campaigns: a campaign-only project
    has it, and launching it resumes them."""
    warehouse = customers(tmp_path, ("c1", "0708081401", "Awa"))
    declare(
        sandbox,
        {
            "sql": SQL,
            "template": TEMPLATE,
            "duckdb_path": str(warehouse),
            "send_on_first_activation": True,
        },
    )
    CircuitBreaker(Warehouse(warehouse)).trip("MTN outage", source="cli:ama")
    with sandbox.build_all_defs() as defs, dg.instance_for_test() as instance:
        resources = dict(defs.resources or {})

        def evaluate() -> dg.RunRequest | dg.SkipReason:
            context = dg.build_sensor_context(
                instance=instance, resources={"warehouse": resources["warehouse"]}
            )
            result = defs.resolve_sensor_def("welcome_sensor")(context)
            assert isinstance(result, (dg.RunRequest, dg.SkipReason))
            return result

        paused = evaluate()
        assert isinstance(paused, dg.SkipReason)
        named = re.findall(r"the job (\w+)", str(paused.skip_message))
        assert named == [RESUME_JOB], paused.skip_message
        resume = defs.resolve_job_def(named[0])
        result = resume.execute_in_process(
            instance=instance,
            run_config={"ops": {"smspresto_resume": {"config": {"reason": "MTN is back"}}}},
        )
        assert result.success
        assert isinstance(evaluate(), dg.RunRequest), "resumed, the sensor requests a run"
    assert not CircuitBreaker(Warehouse(warehouse)).state().tripped


def test_two_campaigns_and_the_ingestion_load_side_by_side(sandbox: DefsFolderSandbox) -> None:
    """Each campaign binds the resources the ingestion binds, as the same objects; the shared
    jobs and schedule come once, from the first campaign declared."""
    declare_ingest(sandbox)
    for folder in ("reminder", "summary"):
        declare(sandbox, {"name": folder, "sql": SQL, "template": TEMPLATE}, folder=folder)
    with sandbox.build_all_defs() as defs:
        dg.Definitions.validate_loadable(defs)
        repository = defs.get_repository_def()
        jobs = {job.name for job in repository.get_all_jobs()}
        schedules = {schedule.name for schedule in repository.schedule_defs}
        sensors = {sensor.name for sensor in repository.sensor_defs}
        resources = dict(defs.resources or {})
        shared = defs.resolve_job_def(RESUME_JOB)
    assert {"reminder_send", "summary_send", "archive_messages_ingest_job", *SHARED_JOBS} <= jobs
    assert RECONCILE_SCHEDULE in schedules
    assert {"reminder_sensor", "summary_sensor", "smspresto_archive_checks_sensor"} <= sensors
    assert isinstance(resources["warehouse"], WarehouseResource)
    assert resources["warehouse"].path == "data/smspresto_warehouse.duckdb"
    # The UI shows where the shared jobs come from: the first campaign's defs.yaml.
    references = shared.metadata["dagster/code_references"]
    assert isinstance(references, dg.CodeReferencesMetadataValue)
    [reference] = references.code_references
    assert isinstance(reference, dg.LocalFileCodeReference)
    assert reference.file_path.endswith("reminder/defs.yaml")


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # Whichever of the two components is built first says it.
        ({"duckdb_path": "data/other.duckdb"}, "'data/other.duckdb' in campaign 'summary'"),
        ({"warehouse_url_env": "SHOP_WAREHOUSE_URL"}, "'SHOP_WAREHOUSE_URL' in campaign 'summary'"),
        ({"api_key_env": "SHOP_API_KEY"}, "'SHOP_API_KEY' in campaign 'summary'"),
        ({"timezone": "Africa/Lagos"}, "'Africa/Lagos' in campaign 'summary'"),
        (
            {"reconcile_schedule_status": "running"},
            "campaign 'summary' says reconcile_schedule_status 'running' and campaign "
            "'reminder' says 'stopped'",
        ),
    ],
)
def test_a_component_naming_another_account_fails_the_load(
    sandbox: DefsFolderSandbox, attributes: dict[str, Any], expected: str
) -> None:
    """One project, one warehouse, one account, one reconciliation schedule: the load fails
    naming the attribute and both values, whichever component disagrees."""
    declare_ingest(sandbox)
    declare(sandbox, {"name": "reminder", "sql": SQL, "template": TEMPLATE}, folder="reminder")
    declare(
        sandbox,
        {"name": "summary", "sql": SQL, "template": TEMPLATE, **attributes},
        folder="summary",
    )
    text = load_error(sandbox)
    assert expected in text, text
    if "reconcile" not in expected:
        assert "bind the resources smspresto and warehouse differently" in text
        assert "give them the same" in text


def test_scaffolded_campaign_loads_as_a_dry_run(
    sandbox: DefsFolderSandbox,
    account: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator = account
    path = sandbox.scaffold_component(component_cls=CampaignComponent, defs_path="my_campaign")
    assert sorted(p.name for p in path.iterdir()) == ["defs.yaml", "message.j2", "query.sql"]
    declared = yaml.safe_load((path / "defs.yaml").read_text(encoding="utf-8"))
    assert declared["type"].endswith(".CampaignComponent")
    assert declared["attributes"]["dry_run"] is True
    assert declared["attributes"]["name"] == "my_campaign"
    # The scaffolded file names the default warehouse, relative to where Dagster runs.
    assert declared["attributes"]["duckdb_path"] == "data/smspresto_warehouse.duckdb"
    monkeypatch.chdir(tmp_path)
    warehouse = Warehouse(tmp_path / "data" / "smspresto_warehouse.duckdb")
    warehouse.ensure_schema()
    sent_before = len(simulator.sends)
    with (
        sandbox.load_component_and_build_defs(defs_path=path) as (component, defs),
        dg.instance_for_test() as instance,
    ):
        assert isinstance(component, CampaignComponent)
        assert component.dry_run
        result = defs.resolve_job_def("my_campaign_send").execute_in_process(instance=instance)
        assert result.success, "the example's query and template run"
    assert len(simulator.sends) == sent_before


def test_the_scaffolders_name_is_a_valid_campaign_name(sandbox: DefsFolderSandbox) -> None:
    path = sandbox.scaffold_component(component_cls=CampaignComponent, defs_path="2-Rappels J+1")
    declared = yaml.safe_load((path / "defs.yaml").read_text(encoding="utf-8"))
    assert declared["attributes"]["name"] == "campaign_2_rappels_j_1"


# The project's examples.


@pytest.fixture
def ingested(
    simulator: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dg.Definitions, Path]:
    """The project's definitions, and its warehouse holding the simulator's whole history,
    ingested by the project's own job."""
    duckdb_path = tmp_path / "project.duckdb"
    env = project_env(
        simulator,
        duckdb_path=duckdb_path,
        dagster_home=tmp_path / "dagster_home",
        start_date=SIMULATOR_HISTORY_START,
        extra={"SMSPRESTO_OPERATOR_NUMBER": "+2250700000001"},
    )
    # The numbers texted more than once: alternately their first message failed and their
    # last was delivered, and the reverse (the seeded statuses rarely give both).
    repeated = [records for records in archive_by_number(simulator).values() if len(records) > 1]
    assert len(repeated) >= 2
    for index, records in enumerate(repeated):
        simulator.set_status(records[0].history_id, "2" if index % 2 == 0 else "1")
        simulator.set_status(records[-1].history_id, "1" if index % 2 == 0 else "2")
    defs = load_project(monkeypatch, env)
    job = defs.resolve_job_def("archive_messages_ingest_job")
    with dg.instance_for_test() as instance:
        day = SIMULATOR_HISTORY_START
        while day <= SIMULATOR_HISTORY_END:
            assert job.execute_in_process(instance=instance, partition_key=day.isoformat()).success
            day += timedelta(days=1)
    return defs, duckdb_path


@pytest.mark.parametrize(
    ("messages", "failed", "expected"),
    [
        (1, 0, "1 message, 0 en échec (0,0 %)"),
        (2, 1, "2 messages, 1 en échec (50,0 %)"),
        (3, 1, "3 messages, 1 en échec (33,3 %)"),
        (0, 0, "0 message, aucun envoi"),
    ],
)
def test_the_daily_summary_counts_in_french(messages: int, failed: int, expected: str) -> None:
    """French puts 0 and 1 in the singular: never "1 messages"; the template formats the day
    and the rate (the query returns them as they are, alike on both engines)."""
    template = compile_template(
        (EXAMPLES / "daily_summary" / "message.j2").read_text(encoding="utf-8")
    )
    row = {"day": date(2026, 12, 6), "messages": messages, "failed": failed}
    assert template.render(row) == f"SMS Presto, bilan du 06/12/2026 : {expected}."


def archive_by_number(sim: RunningSimulator) -> dict[str, list[Any]]:
    """The simulator's records per valid number (E.164), oldest first (creation time, id)."""
    by_number: dict[str, list[Any]] = collections.defaultdict(list)
    with SMSPrestoClient(
        api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
    ) as client:
        for record in client.iter_archive(SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END):
            try:
                number = normalize_number(record.recipient)
            except SMSValidationError:
                # docs/architecture.md §3: an eight-digit Ivorian number of before 2021 counts
                # as today's.
                migrated = migrate_legacy_ci(record.recipient)
                if migrated is None:
                    continue
                number = migrated
            by_number[number].append(record)
    for records in by_number.values():
        records.sort(key=lambda r: (r.created_at, r.history_id))
    return by_number


def test_failed_reminder_selects_the_numbers_whose_last_message_failed(
    simulator: RunningSimulator, ingested: tuple[dg.Definitions, Path]
) -> None:
    _, duckdb_path = ingested
    # Expected, from the API's own records: per valid number, its latest message, kept when
    # its status is 2 (failed).
    by_number = archive_by_number(simulator)
    expected = {
        (number, f"failed:{records[-1].history_id}")
        for number, records in by_number.items()
        if records[-1].status_code == "2"
    }
    failed_before_not_last = {
        number
        for number, records in by_number.items()
        if records[-1].status_code != "2" and any(r.status_code == "2" for r in records)
    }
    assert expected, "the history has numbers whose last message failed"
    assert failed_before_not_last, "and numbers whose earlier message failed (see `ingested`)"
    assert any(len(by_number[number]) > 1 for number, _ in expected)

    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        selected = con.execute(example_query("failed_reminder")).fetchall()
    assert {(recipient, key) for recipient, key, _, _ in selected} == expected
    assert len(selected) == len(expected), "one row per number"

    # A number this campaign texted in the last 7 days is left alone (its reminder may be
    # the failure); a baseline row (never sent), or another campaign's message, does not count.
    (reminded, _), (baselined, _), (elsewhere, _) = sorted(expected)[:3]
    with duckdb.connect(str(duckdb_path)) as con:
        con.executemany(
            "INSERT INTO smspresto.outbox (campaign, dedup_key, recipient, sender, message, "
            "segments, encoding, state, created_at, updated_at) VALUES (?, ?, ?, 'MaBoutique', "
            "'x', 1, 'GSM-7', ?, now() AT TIME ZONE 'UTC' - INTERVAL 6 DAY, "
            "now() AT TIME ZONE 'UTC')",
            [
                ["failed_reminder", "earlier", reminded, "sent"],
                ["failed_reminder", "first", baselined, "baseline"],
                ["welcome", "hello", elsewhere, "sent"],
            ],
        )
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        selected = con.execute(example_query("failed_reminder")).fetchall()
    assert {recipient for recipient, *_ in selected} == {n for n, _ in expected} - {reminded}


def test_the_projects_daily_summary_texts_the_operator_once_a_day(
    ingested: tuple[dg.Definitions, Path], simulator: RunningSimulator
) -> None:
    defs, duckdb_path = ingested
    repository = defs.get_repository_def()
    sensors = {s.name: s for s in repository.sensor_defs}
    assert {"failed_reminder_sensor", "daily_summary_sensor"} <= set(sensors)
    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    sent_before = len(simulator.sends)
    job = defs.resolve_job_def("daily_summary_send")
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance).success
        assert job.execute_in_process(instance=instance).success, "a second run sends nothing"
    sent = [pair for record in simulator.sends[sent_before:] for pair in record.messages]
    # The history ends in 2025: yesterday had no message. The number is the setting's, which
    # the query file reads as {{ settings.operator_number }}.
    day = datetime.now(ZoneInfo("Africa/Abidjan")).date() - timedelta(days=1)
    assert sent == [
        ("+2250700000001", f"SMS Presto, bilan du {day:%d/%m/%Y} : 0 message, aucun envoi.")
    ]
    (row,) = Outbox(Warehouse(duckdb_path)).rows("sent", campaign="daily_summary")
    assert row.dedup_key == day.isoformat()
