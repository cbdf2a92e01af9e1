"""Helpers of the campaign tests: a valid campaign, with any field overridden; a warehouse (a
DuckDB file, or a PostgreSQL database's URL) whose ``main.customers`` table a campaign reads, and
what its runs leave (sends, outbox states, skip reasons, metadata); a harness that evaluates a
campaign's sensor and runs its job against the simulator; ambiguous outbox rows and the archive
rows that resolve them."""

import collections
import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import duckdb
import psycopg
import yaml

import dagster_project
from dagster_project.settings import Settings
from smspresto_pipeline.api.models import ArchiveRecord
from smspresto_pipeline.campaigns import Campaign, CampaignComponent, build_campaign_defs
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import OUTBOX_STATES, Outbox, OutboxMessage
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

#: The fields of a valid campaign; tests override what they are about.
CAMPAIGN_FIELDS: dict[str, Any] = {
    "name": "reminder",
    "sql": "select recipient, dedup_key, first_name, parcel from contacts",
    "template": "Bonjour {{ first_name }}, votre colis {{ parcel }} est arrivé.",
    "sender": "MaBoutique",
}


def warehouse_resource(target: str | Path, **fields: Any) -> WarehouseResource:
    """The warehouse resource of ``target``: a PostgreSQL URL as ``url``, a DuckDB file as
    ``path`` (the resource refuses a URL as a path)."""
    text = str(target)
    if "://" in text:
        return WarehouseResource(url=text, **fields)
    return WarehouseResource(path=text, **fields)


def make_campaign(**overrides: Any) -> Campaign:
    """A :class:`Campaign` of :data:`CAMPAIGN_FIELDS` with ``overrides``."""
    return Campaign(**{**CAMPAIGN_FIELDS, **overrides})


# --- the project's example campaigns ----------------------------------------------------------

#: The code location's campaigns, a folder each (defs.yaml, query.sql, message.j2).
EXAMPLES = Path(dagster_project.__file__).parent / "defs" / "campaigns"


def with_settings(text: str, **settings: str) -> str:
    """``text`` with its ``{{ settings.<name> }}`` written as the project renders them: the
    values of ``settings``, else the defaults of :class:`~dagster_project.settings.Settings`."""
    values = {name: str(value) for name, value in dataclasses.asdict(Settings()).items()}
    for name, value in {**values, **settings}.items():
        text = text.replace(f"{{{{ settings.{name} }}}}", value)
    assert "{{" not in text
    return text


def example_query(name: str, **settings: str) -> str:
    """The example campaign ``name``'s query, its template variables rendered as the project
    does."""
    return with_settings((EXAMPLES / name / "query.sql").read_text(encoding="utf-8"), **settings)


def example_campaign(name: str, **overrides: Any) -> Campaign:
    """The example campaign ``name`` as its ``defs.yaml`` declares it (settings rendered as
    :func:`with_settings` does), with ``overrides`` (``dry_run=True``, say)."""
    folder = EXAMPLES / name
    declared = yaml.safe_load(with_settings((folder / "defs.yaml").read_text(encoding="utf-8")))
    # The campaign's own attributes: the resources' are the project's to bind.
    attributes = {
        key: value
        for key, value in declared["attributes"].items()
        if key in Campaign.model_fields or key == "template_file"
    }
    campaign = CampaignComponent(**attributes, sql=example_query(name)).build_campaign(folder)
    return campaign.model_copy(update=overrides)


# --- a campaign over a customers table ------------------------------------------------------

CREATE_CUSTOMERS = (
    "CREATE TABLE main.customers(id VARCHAR, phone VARCHAR, first_name VARCHAR, parcel VARCHAR)"
)
CUSTOMERS_SQL = "select phone as recipient, id as dedup_key, first_name, parcel from main.customers"
CUSTOMERS_TEMPLATE = "Bonjour {{ first_name }}, votre colis {{ parcel }} est arrivé."


def customers_campaign(**overrides: Any) -> Campaign:
    """The ``reminder`` campaign reading ``main.customers``, with ``overrides``."""
    return make_campaign(**{"sql": CUSTOMERS_SQL, "template": CUSTOMERS_TEMPLATE, **overrides})


#: A warehouse in the campaign tests: a DuckDB file's path, or a PostgreSQL database's URL.
Target = Path | str
T = TypeVar("T", bound=Path | str)


def on_server(target: Target) -> bool:
    """Whether ``target`` is a PostgreSQL database (a URL) rather than a DuckDB file."""
    return str(target).startswith(("postgresql://", "postgres://"))


@contextlib.contextmanager
def plain_connection(target: Target, *, read_only: bool = False) -> Iterator[Any]:
    """The engine's own connection to ``target`` (DuckDB's, or psycopg's in autocommit mode),
    for the tests' own tables: a :class:`Warehouse` would create the missing tables of an older
    file, which a test keeps missing."""
    if on_server(target):
        with psycopg.connect(str(target), autocommit=True) as server:
            yield server
    else:
        with duckdb.connect(str(target), read_only=read_only) as con:
            yield con


def insert_rows(target: Target, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``statement``, whose parameters are written ``?``, once per row of ``rows``."""
    if on_server(target):
        statement = statement.replace("?", "%s")
    with plain_connection(target) as con:
        cursor = con.cursor()
        cursor.executemany(statement, rows)


def customers_file(target: T) -> T:
    """The warehouse ``target`` with an empty ``main.customers`` table (the campaign's source);
    the ``path`` fixture of ``conftest``. On PostgreSQL the table is in a schema ``main`` of
    its own, so that the campaigns' query (``CUSTOMERS_SQL``) is the same on both engines."""
    Warehouse(target).ensure_schema()
    with plain_connection(target) as con:
        if on_server(target):
            con.execute("CREATE SCHEMA main")
        con.execute(CREATE_CUSTOMERS)
    return target


def add_customers(target: Target, *numbers: int, phone: int | None = None) -> None:
    """Rows ``c<n>`` with the number 07 08 08 14 <n> (or <phone>) and the parcel ``P<n>``."""
    insert_rows(
        target,
        "INSERT INTO main.customers VALUES (?, ?, ?, ?)",
        [(f"c{n}", f"07080814{phone or n:02d}", f"Client{n}", f"P{n}") for n in numbers],
    )


def customer_ids(target: Target) -> list[str]:
    """The ids in ``main.customers`` of the warehouse ``target``, sorted."""
    with plain_connection(target, read_only=True) as con:
        rows = con.execute("SELECT id FROM main.customers ORDER BY id").fetchall()
    return [row[0] for row in rows]


def texts_of(*numbers: int) -> list[str]:
    """The texts :data:`CUSTOMERS_TEMPLATE` renders for the customers ``numbers``, sorted."""
    return sorted(f"Bonjour Client{n}, votre colis P{n} est arrivé." for n in numbers)


def keys(request: dg.RunRequest) -> list[str]:
    """The dedup keys a sensor's run request asks to send, sorted."""
    [op] = request.run_config["ops"].values()
    return sorted(op["config"]["dedup_keys"])


def sent_texts(sim: RunningSimulator) -> list[str]:
    """The texts the simulator accepted, in the order it accepted them."""
    return [text for record in sim.sends for _, text in record.messages]


def states(path: Target, campaign: str = "reminder") -> dict[str, str]:
    """The outbox state of each of ``campaign``'s dedup keys in the warehouse ``path``."""
    rows = Outbox(Warehouse(path)).rows(OUTBOX_STATES, campaign=campaign)
    return {row.dedup_key: row.state for row in rows}


def skip_reasons(path: Target, campaign: str = "reminder") -> dict[str, str | None]:
    """The skip reason of each of ``campaign``'s ``skipped`` rows in the warehouse ``path``."""
    rows = Outbox(Warehouse(path)).rows("skipped", campaign=campaign)
    return {row.dedup_key: row.skip_reason for row in rows}


def output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """The metadata of the successful run's one output."""
    assert result.success
    [event] = [e for e in result.all_node_events if e.is_successful_output]
    return {k: v.value for k, v in event.step_output_data.metadata.items()}


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """What the failed run's failing step said."""
    assert not result.success
    [event] = [e for e in result.all_node_events if e.is_step_failure]
    data = event.step_failure_data
    return str(data.user_failure_data.description if data.user_failure_data else data.error)


class Harness:
    """One campaign's sensor and job (and any ``extra`` definitions), bound to the simulator and
    the warehouse file (``warehouse``: more fields of its resource), on the campaign clock
    ``clock`` when given."""

    def __init__(
        self,
        campaign: Campaign,
        sim: RunningSimulator,
        path: Target,
        instance: dg.DagsterInstance,
        clock: Callable[[], datetime] | None = None,
        extra: dg.Definitions | None = None,
        warehouse: Mapping[str, Any] | None = None,
    ) -> None:
        self.campaign, self.instance, self.path = campaign, instance, path
        self.warehouse = warehouse_resource(path, **(warehouse or {}))
        resources = {
            "smspresto": SMSPrestoResource(
                api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
            ),
            "warehouse": self.warehouse,
        }
        built = (
            build_campaign_defs(campaign, clock=clock) if clock else build_campaign_defs(campaign)
        )
        self.defs = dg.Definitions.merge(
            built, extra or dg.Definitions(), dg.Definitions(resources=resources)
        )

    def evaluate(self) -> dg.RunRequest | dg.SkipReason:
        sensor = self.defs.resolve_sensor_def(self.campaign.sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance, resources={"warehouse": self.warehouse}
        )
        result = sensor(context)
        assert isinstance(result, (dg.RunRequest, dg.SkipReason))
        return result

    def request(self) -> dg.RunRequest:
        request = self.evaluate()
        assert isinstance(request, dg.RunRequest), request
        return request

    def skip(self) -> str:
        skip = self.evaluate()
        assert isinstance(skip, dg.SkipReason), skip
        return str(skip.skip_message)

    def run(self, request: dg.RunRequest | None = None, **config: Any) -> dg.ExecuteInProcessResult:
        """A run as the sensor requests it, or a manual launch (with ``config``)."""
        job = self.defs.resolve_job_def(self.campaign.job_name)
        op = f"{self.campaign.name}_send_batch"
        run_config = request.run_config if request else {"ops": {op: {"config": config}}}
        return job.execute_in_process(
            run_config=run_config, instance=self.instance, raise_on_error=False
        )


# --- ambiguous rows and the archive ---------------------------------------------------------

#: The text of the archive rows :func:`archived` writes.
ARCHIVED_TEXT = "Votre colis est arrivé."


def ambiguous(outbox: Outbox, *messages: OutboxMessage, at: datetime) -> None:
    """Claim ``messages`` and mark them ambiguous at ``at``, as a lost answer would."""
    outbox.claim(messages, run_id="run-1", now=at)
    keys_by_campaign: dict[str, list[str]] = collections.defaultdict(list)
    for m in messages:
        keys_by_campaign[m.campaign].append(m.dedup_key)
    for campaign, campaign_keys in keys_by_campaign.items():
        outbox.mark(campaign, campaign_keys, "ambiguous", api_message="answer lost", now=at)


def archived(history_id: int, recipient: str, created: str, **fields: Any) -> ArchiveRecord:
    """A list-archive row of :data:`ARCHIVED_TEXT`, with ``fields`` overridden: ``created`` is
    the account's local time, as the API gives it."""
    raw = {
        "IDHISTORIQUE": str(history_id),
        "HIS_DESTINATAIRE": recipient,
        "HIS_MESSAGE": ARCHIVED_TEXT,
        "HIS_STATUT": "1",
        "HIS_NOMBRESMS": "1",
        "HIS_DATEHEURECREA": created,
        "HIS_DATEHEUREENVOI": created,
        "IDDATEHEURE": created,
        "CPT_REF": "SP22558371758",
        "IDSMSFILATTENTE": str(history_id),
        "HIS_EXPEDITEUR": "MaBoutique",
        "NOMCONTACT": "",
        **fields,
    }
    return ArchiveRecord(raw)
