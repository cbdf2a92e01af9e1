"""The campaign component: declared in a ``defs.yaml`` (with its query and template inline or in
files beside it), scaffolded by ``dg scaffold defs``, loaded in sandboxed defs folders; and the
project's example campaigns, whose ``failed_reminder`` query runs against a warehouse ingested
from the simulator."""

import collections
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
import yaml
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, load_error
from dagster.components.testing import DefsFolderSandbox
from e2e_fixtures import load_project, project_env

import dagster_project
from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.campaigns import Campaign, CampaignComponent
from smspresto_pipeline.campaigns.render import compile_template
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.sms import migrate_legacy_ci, normalize_number
from smspresto_pipeline.warehouse import Outbox, Warehouse

TYPE = "smspresto_pipeline.CampaignComponent"
CAMPAIGNS = Path(dagster_project.__file__).parent / "defs" / "campaigns"
SQL = "select phone as recipient, id as dedup_key, first_name from main.customers"
TEMPLATE = "Bonjour {{ first_name }}, à demain !"


def declare(
    sandbox: DefsFolderSandbox, attributes: dict[str, Any], files: dict[str, str] | None = None
) -> Path:
    """A folder ``campaign`` whose defs.yaml declares a campaign, with ``files`` beside it."""
    path = sandbox.scaffold_component(
        component_cls=CampaignComponent,
        defs_path="campaign",
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


def with_resources(defs: dg.Definitions, sim: RunningSimulator, path: Path) -> dg.Definitions:
    """The component's definitions with the resources a project binds."""
    return dg.Definitions.merge(
        defs,
        dg.Definitions(
            resources={
                "smspresto": SMSPrestoResource(
                    api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
                ),
                "warehouse": WarehouseResource(path=str(path)),
            }
        ),
    )


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
    the component adds only the file variants of the query and the template."""
    attributes = CampaignComponent.model_fields
    fields = Campaign.model_fields
    assert set(attributes) - set(fields) == {"sql_file", "template_file"}
    assert set(fields) <= set(attributes)
    schema = CampaignComponent.model().model_json_schema()["properties"]
    for name, field in fields.items():
        if name in ("sql", "template"):  # required in Campaign; a file may give them here
            assert field.is_required()
            assert attributes[name].default is None
        else:
            assert attributes[name].is_required() == field.is_required(), name
            assert attributes[name].default == field.default, name
        assert field.description, name
        assert schema[name]["description"].startswith(field.description), name
    assert schema["sql_file"]["description"]
    assert schema["template_file"]["description"]


def test_yaml_campaign_with_files_sends_through_its_job(
    sandbox: DefsFolderSandbox, simulator: RunningSimulator, tmp_path: Path
) -> None:
    warehouse = customers(tmp_path, ("c1", "0708081401", "Awa"), ("c2", "0708081402", "Koffi"))
    path = declare(
        sandbox,
        {
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
        project = with_resources(defs, simulator, warehouse)
        assert {s.name for s in project.resolve_all_job_defs()} >= {"welcome_send"}
        assert project.resolve_sensor_def("welcome_sensor").name == "welcome_sensor"
        result = project.resolve_job_def("welcome_send").execute_in_process(instance=instance)
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
        assert [job.name for job in defs.jobs or ()] == ["welcome_send"]
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


def test_without_the_projects_resources_the_load_fails_naming_them(
    sandbox: DefsFolderSandbox,
) -> None:
    """The component binds no resource: a project without the ingest component (or its own
    binding) gets Dagster's error naming the missing resource."""
    path = declare(sandbox, {"sql": SQL, "template": TEMPLATE})
    with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
        assert not defs.resources
        with pytest.raises(
            dg.DagsterInvalidDefinitionError,
            match=r"resource with key '(smspresto|warehouse)' required by op 'welcome_send_batch' "
            "was not provided",
        ):
            defs.get_repository_def()


def test_scaffolded_campaign_loads_as_a_dry_run(
    sandbox: DefsFolderSandbox, simulator: RunningSimulator, tmp_path: Path
) -> None:
    path = sandbox.scaffold_component(component_cls=CampaignComponent, defs_path="my_campaign")
    assert sorted(p.name for p in path.iterdir()) == ["defs.yaml", "message.j2", "query.sql"]
    declared = yaml.safe_load((path / "defs.yaml").read_text(encoding="utf-8"))
    assert declared["type"].endswith(".CampaignComponent")
    assert declared["attributes"]["dry_run"] is True
    assert declared["attributes"]["name"] == "my_campaign"
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.ensure_schema()
    sent_before = len(simulator.sends)
    with (
        sandbox.load_component_and_build_defs(defs_path=path) as (component, defs),
        dg.instance_for_test() as instance,
    ):
        assert isinstance(component, CampaignComponent)
        assert component.dry_run
        project = with_resources(defs, simulator, warehouse.path)
        result = project.resolve_job_def("my_campaign_send").execute_in_process(instance=instance)
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


def project_query(name: str, **settings: str) -> str:
    """A project campaign's query, its template variables rendered as the project does."""
    text = (CAMPAIGNS / name / "query.sql").read_text(encoding="utf-8")
    for variable, value in settings.items():
        text = text.replace(f"{{{{ settings.{variable} }}}}", value)
    assert "{{" not in text
    return text


@pytest.mark.parametrize(
    ("messages", "failed", "rate", "expected"),
    [
        (1, 0, "0,0", "1 message, 0 en échec (0,0 %)"),
        (2, 1, "50,0", "2 messages, 1 en échec (50,0 %)"),
        (0, 0, None, "0 message, aucun envoi"),
    ],
)
def test_the_daily_summary_counts_in_french(
    messages: int, failed: int, rate: str | None, expected: str
) -> None:
    """French puts 0 and 1 in the singular: never "1 messages"."""
    template = compile_template(
        (CAMPAIGNS / "daily_summary" / "message.j2").read_text(encoding="utf-8")
    )
    row = {"day": "06/12/2026", "messages": messages, "failed": failed, "failure_rate": rate}
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
                # DESIGN §3: an eight-digit Ivorian number of before 2021 counts as today's.
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
        selected = con.execute(project_query("failed_reminder")).fetchall()
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
        selected = con.execute(project_query("failed_reminder")).fetchall()
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
