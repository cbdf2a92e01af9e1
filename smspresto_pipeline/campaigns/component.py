"""A campaign as a Dagster component: a folder with a ``defs.yaml``, a query and a template.

``dg scaffold defs smspresto_pipeline.CampaignComponent my_campaign`` writes one::

    my_campaign/
      defs.yaml     type: smspresto_pipeline.CampaignComponent, and the campaign's attributes
      query.sql     the query selecting whom to text (sql_file)
      message.j2    the message's Jinja2 template (template_file)

The attributes mirror :class:`~smspresto_pipeline.campaigns.Campaign`'s fields one for one
(same names and types; the defaults and descriptions are read from ``Campaign``), except
that the query and the template may sit in files beside ``defs.yaml``: ``sql`` or
``sql_file``, ``template`` or ``template_file``, never both. With neither, the folder's
``query.sql`` / ``message.j2`` are read.

Templating: Dagster renders ``{{ ... }}`` in attribute values when it loads them (template
variables such as ``{{ env.X }}`` or a ``template_vars_module``'s). The query gets the same
treatment whether inline or in ``sql_file``, so a query may read a setting
(``'{{ settings.operator_number }}' as recipient``). The message template never does: inline or
in ``template_file`` it is taken as written, and its ``{{ column }}`` placeholders are filled
per row when the campaign sends.

A project of campaigns alone is whole. Its first campaign (in the defs folder's order) also
gives what every campaign shares
(:func:`~smspresto_pipeline.campaigns.shared_defs.build_shared_campaign_defs`): the circuit
breaker's jobs ``smspresto_resume_campaigns`` and ``smspresto_pause_campaigns``, which the
campaigns' messages name, and the job ``smspresto_reconcile_outbox`` with its schedule
``smspresto_reconcile_outbox_hourly`` (``reconcile_schedule_status``). Every campaign binds the
resources ``smspresto`` and ``warehouse`` from the environment as the ingest component does
(:class:`~smspresto_pipeline.resources.ResourceAttributes`: ``duckdb_path`` or
``warehouse_url_env``, ``api_key_env``, ``api_pass_env``, ``base_url_env``, and ``timezone``, the
account's), as the same objects when
they say the same (the defaults do), so several campaigns and the ingestion load side by side.
A project has one account, one warehouse and one reconciliation schedule: a component saying
otherwise than another fails the load, naming the attribute and both values.

The campaign is an asset (keyed by its name; its send job materializes it, each run's figures
its metadata): ``deps:`` names the tables its query reads, as asset keys (default: the archive,
``archive_messages``), so the asset graph draws them upstream of it. ``owners:``, ``tags:`` and
a ``translation:`` block as the ingest component has (``{{ props.name }}``: the campaign's
name) set its asset's attributes::

      deps: [archive_messages, archive_messages_today, crm/customers]
      owners: [team:marketing]
      translation:
        key_prefix: campaigns
"""

# No ``from __future__ import annotations``: Dagster reads the fields' annotations at runtime.

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from smspresto_pipeline.campaigns.definitions import DEFAULT_DEPS, build_campaign_defs
from smspresto_pipeline.campaigns.model import Campaign, FrequencyCap, QuietHours
from smspresto_pipeline.campaigns.shared_defs import build_shared_campaign_defs
from smspresto_pipeline.conventions import AssetAttributes
from smspresto_pipeline.resources import ResourceAttributes

__all__ = [
    "DEFAULT_SQL_FILE",
    "DEFAULT_TEMPLATE_FILE",
    "CampaignAssetProps",
    "CampaignComponent",
    "CampaignScaffolder",
]

#: The query file read when neither ``sql`` nor ``sql_file`` is given.
DEFAULT_SQL_FILE = "query.sql"
#: The template file read when neither ``template`` nor ``template_file`` is given.
DEFAULT_TEMPLATE_FILE = "message.j2"


def _described(field: str) -> dg.Resolver:
    """The default resolver, carrying the Campaign field's description to `dg` and the UI.

    (The schema Dagster derives drops a pydantic ``Field``'s description when the field has a
    default: the resolver's is the one shown.)
    """
    info = Campaign.model_fields[field]
    resolver: dg.Resolver = dg.Resolver.default(
        description=info.description, examples=info.examples
    )
    return resolver


def _default(field: str) -> Any:
    """The Campaign field's default: the attribute's too, written once (in Campaign)."""
    return Campaign.model_fields[field].default


def _as_written(context: dg.ResolutionContext, value: str | None) -> str | None:
    return value


@dataclass(frozen=True, slots=True)
class CampaignAssetProps:
    """What a campaign's ``translation:`` reads of its asset as ``{{ props.<name> }}``."""

    #: The campaign's name (its asset's own key, before the translation).
    name: str


_SCAFFOLD_YAML = """\
# A campaign: the rows query.sql returns, each texted once with message.j2 filled in.
# Every attribute is documented in `dg utils inspect-component {type_name}`.
type: {type_name}

attributes:
  # Names the sensor ({name}_sensor), the send job ({name}_send) and the outbox rows.
  name: {name}
  description: An example campaign; describe what yours is for.
  # The sender shown on handsets: at most 11 letters and digits, or a phone number.
  sender: MaBoutique
  # The query and the template, beside this file.
  sql_file: query.sql
  template_file: message.j2
  # Render, count SMS parts and record what would be sent, and send nothing.
  # Set it to false once the dry runs' previews (in the send job's metadata) look right.
  dry_run: true
  # The first evaluation records the rows it finds as a baseline and sends them nothing.
  send_on_first_activation: false
  # Most messages per run and per day; seconds between two evaluations of the query.
  max_per_run: 100
  max_per_day: 500
  minimum_interval_seconds: 300
  # Nothing is sent in this window (times in quotes, in the time zone below); rows selected
  # then wait for its end, or expire after validity_seconds.
  quiet_hours:
    start: "21:00"
    end: "08:00"
  validity_seconds: 86400
  # At most one message a day to a number, counting every campaign.
  frequency_cap:
    max_messages: 1
    window_seconds: 86400
  # The account's time zone: quiet hours and the daily cap follow it.
  timezone: Africa/Abidjan
  default_region: CI
  # The warehouse and the account, named as the ingest component names them (every component
  # of a project names the same ones): the DuckDB file (or, in its place, warehouse_url_env:
  # the variable holding a PostgreSQL URL, e.g. SMSPRESTO_WAREHOUSE_URL), and the environment
  # variables holding the API key, the password and the API's URL (read when a run starts).
  duckdb_path: data/smspresto_warehouse.duckdb
  warehouse_url_env: null
  api_key_env: SMSPRESTO_API_KEY
  api_pass_env: SMSPRESTO_API_PASS
  base_url_env: SMSPRESTO_BASE_URL
  # The hourly reconciliation of lost answers, shared by every campaign: running or stopped.
  reconcile_schedule_status: stopped
  # The tables query.sql reads, as asset keys: the asset graph draws them upstream of the
  # campaign's asset (the archive by default).
  deps: [archive_messages]
"""

_SCAFFOLD_SQL = """\
-- Whom to text: one row per message. One SELECT, reading the warehouse's tables and nothing
-- else: no file, URL, ATTACH, extension or SET (load a file into a table first). It runs in
-- the warehouse's dialect (DuckDB's, or PostgreSQL's); this one runs alike on both.
-- Required columns: recipient (a phone number) and dedup_key (the same key is never sent
-- twice in this campaign); every other column is a variable of message.j2.
-- This example greets the numbers first seen yesterday, once each, in the order they came
-- (a run sends the first max_per_run rows: without ORDER BY, any of them).
SELECT recipient, 'welcome:' || recipient AS dedup_key, contact_name
FROM (
    SELECT
        recipient,
        contact_name,
        partition_date,
        created_at,
        history_id,
        row_number() OVER (PARTITION BY recipient ORDER BY created_at, history_id) AS nth
    FROM smspresto.messages
    WHERE recipient_valid
) AS numbered
WHERE nth = 1 AND partition_date = current_date - 1
ORDER BY created_at, history_id
"""

# One line: a line break in the file is a line break in the SMS (Jinja2 drops the last one).
_SCAFFOLD_TEMPLATE = (
    "Bonjour {{ contact_name or 'cher client' }}, bienvenue chez MaBoutique ! "
    "Répondez STOP pour ne plus recevoir nos SMS.\n"
)


class CampaignScaffolder(dg.Scaffolder[Any]):
    """Writes ``defs.yaml``, ``query.sql`` and ``message.j2``: a dry-run example that loads."""

    def scaffold(self, request: dg.ScaffoldRequest[Any]) -> None:
        """Write the three files into the new folder (other formats get Dagster's default)."""
        name = _campaign_name(request.target_path.name)
        if request.scaffold_format != "yaml" or request.append:
            from dagster.components.component_scaffolding import scaffold_component

            scaffold_component(
                request,
                {"name": name, "sender": "MaBoutique", "dry_run": True},
            )
        else:
            request.target_path.mkdir(parents=True, exist_ok=True)
            (request.target_path / "defs.yaml").write_text(
                _SCAFFOLD_YAML.format(type_name=request.type_name, name=name), encoding="utf-8"
            )
        for file, text in (
            (DEFAULT_SQL_FILE, _SCAFFOLD_SQL),
            (DEFAULT_TEMPLATE_FILE, _SCAFFOLD_TEMPLATE),
        ):
            path = request.target_path / file
            if not path.exists():
                path.write_text(text, encoding="utf-8")


def _campaign_name(folder: str) -> str:
    """A valid campaign name from the folder's: lowercase, ``_`` for other characters."""
    name = re.sub(r"[^a-z0-9_]+", "_", folder.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"campaign_{name}".rstrip("_")
    return name[:48]


@dg.scaffold_with(CampaignScaffolder)
class CampaignComponent(ResourceAttributes, AssetAttributes):
    """An SMS campaign: a query's rows texted once each with a template, by a sensor and a job.

    Gives the asset ``<name>`` (downstream of ``deps:``), the sensor ``<name>_sensor`` and the
    send job ``<name>_send`` that materializes the asset: what
    :func:`~smspresto_pipeline.campaigns.build_campaign_defs` builds for the
    :class:`~smspresto_pipeline.campaigns.Campaign` of these attributes (same names, defaults
    and meaning); the query and the template may come from files beside ``defs.yaml``. With
    them, what every campaign shares (the breaker's pause and resume jobs, the reconciliation
    job and its schedule) and the resources ``smspresto`` and ``warehouse``, bound from the
    environment as the ingest component binds them: a project of campaigns alone loads whole.

    Example:
        .. code-block:: yaml

            type: smspresto_pipeline.CampaignComponent
            attributes:
              name: failed_reminder
              sender: MaBoutique
              sql_file: query.sql
              template_file: message.j2
              quiet_hours: {start: "21:00", end: "08:00"}
    """

    # A query or template echoed whole would bury the reason; the errors quote what matters.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: Annotated[str, _described("name")]
    sql: Annotated[
        str | None,
        dg.Resolver.default(
            description=f"{Campaign.model_fields['sql'].description} Inline; or give sql_file "
            f"(with neither, the folder's {DEFAULT_SQL_FILE} is read).",
        ),
    ] = None
    sql_file: Annotated[
        str | None,
        dg.Resolver.default(
            description="A file holding the query, relative to the folder of this defs.yaml "
            f"(not with sql). Its {{{{ ... }}}} are rendered like sql's. Default: "
            f"{DEFAULT_SQL_FILE} when sql is not given.",
            examples=[DEFAULT_SQL_FILE],
        ),
    ] = None
    template: Annotated[
        str | None,
        dg.Resolver(
            _as_written,
            model_field_type=str | None,
            # Dagster would otherwise render the message's {{ column }} placeholders itself.
            inject_before_resolve=False,
            description=f"{Campaign.model_fields['template'].description} Taken as written. "
            f"Inline; or give template_file (with neither, the folder's "
            f"{DEFAULT_TEMPLATE_FILE} is read).",
            examples=Campaign.model_fields["template"].examples,
        ),
    ] = None
    template_file: Annotated[
        str | None,
        dg.Resolver.default(
            description="A file holding the template, relative to the folder of this defs.yaml "
            f"(not with template), taken as written. Default: {DEFAULT_TEMPLATE_FILE} when "
            "template is not given.",
            examples=[DEFAULT_TEMPLATE_FILE],
        ),
    ] = None
    sender: Annotated[str, _described("sender")]
    description: Annotated[str | None, _described("description")] = _default("description")
    minimum_interval_seconds: Annotated[int, _described("minimum_interval_seconds")] = _default(
        "minimum_interval_seconds"
    )
    max_per_run: Annotated[int, _described("max_per_run")] = _default("max_per_run")
    max_per_day: Annotated[int, _described("max_per_day")] = _default("max_per_day")
    max_segments: Annotated[int, _described("max_segments")] = _default("max_segments")
    quiet_hours: Annotated[QuietHours | None, _described("quiet_hours")] = _default("quiet_hours")
    validity_seconds: Annotated[int, _described("validity_seconds")] = _default("validity_seconds")
    frequency_cap: Annotated[FrequencyCap | None, _described("frequency_cap")] = _default(
        "frequency_cap"
    )
    dry_run: Annotated[bool, _described("dry_run")] = _default("dry_run")
    send_on_first_activation: Annotated[bool, _described("send_on_first_activation")] = _default(
        "send_on_first_activation"
    )
    volume_breaker_factor: Annotated[float | None, _described("volume_breaker_factor")] = _default(
        "volume_breaker_factor"
    )
    volume_breaker_min_rows: Annotated[int, _described("volume_breaker_min_rows")] = _default(
        "volume_breaker_min_rows"
    )
    default_region: Annotated[str, _described("default_region")] = _default("default_region")
    timezone: Annotated[str, _described("timezone")] = _default("timezone")
    smart_encoding: Annotated[bool, _described("smart_encoding")] = _default("smart_encoding")
    pool: Annotated[
        str | None,
        dg.Resolver.default(
            description="A Dagster concurrency pool for the send job's op, which writes the "
            "warehouse (the outbox). The step holds its slot for the whole run, API calls "
            "included: in the ingestion's pool at one slot, a long send delays the ingest. "
            "Unset: no pool (one send run per campaign is the run queue's tag limit).",
            examples=["smspresto_warehouse"],
        ),
    ] = inspect.signature(build_campaign_defs).parameters["pool"].default
    reconcile_schedule_status: Annotated[
        Literal["running", "stopped"],
        dg.Resolver.default(
            description="The state of the schedule smspresto_reconcile_outbox_hourly, which every "
            "campaign of a project shares, when first deployed: 'running' or 'stopped' (every "
            "campaign of the project must say the same). The UI's toggle wins afterwards."
        ),
    ] = "stopped"
    deps: Annotated[
        Sequence[dg.ResolvedAssetKey],
        dg.Resolver.default(
            description="The asset keys of the tables the query reads (a/b for a prefixed "
            "key): the campaign's asset is drawn downstream of them. Default: the archive, "
            "archive_messages.",
            examples=[["archive_messages", "archive_messages_today", "crm/customers"]],
        ),
    ] = DEFAULT_DEPS
    translation: Annotated[
        Annotated[
            TranslationFn[CampaignAssetProps],
            TranslationFnResolver[CampaignAssetProps](lambda props: {"props": props}),
        ]
        | None,
        # Outside the union: the one a nested resolver takes its description from.
        dg.Resolver.default(
            description="Changes the campaign's asset's spec as dagster-sling's and "
            "dagster-dlt's components do: key, key_prefix, group_name, tags, owners, kinds, "
            "description, metadata... ({{ props.name }}: the campaign's name; {{ spec }}). The "
            "send job materializes the asset under its new key."
        ),
    ] = None

    # The template scope the attributes were rendered with (template_vars_module's names
    # included), kept to render the query file the same way: build_defs' context lacks it.
    _resolution: dg.ResolutionContext | None = PrivateAttr(default=None)

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Self:
        """Resolve the attributes, keeping the scope they were rendered with for the query."""
        component = super().load(attributes, context)
        component._resolution = context.resolution_context
        return component

    @model_validator(mode="after")
    def _check_one_source(self) -> "CampaignComponent":
        for inline, file in (("sql", "sql_file"), ("template", "template_file")):
            if getattr(self, inline) is not None and getattr(self, file) is not None:
                raise ValueError(
                    f"give {inline} or {file}, not both (campaign {self.name!r}): {inline} "
                    f"holds the text itself, {file} names a file beside defs.yaml"
                )
        return self

    def describe_component(self) -> str:
        """How errors name this component: ``campaign '<name>'``."""
        return f"campaign {self.name!r}"

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The campaign's asset, sensor and send job, and the resources; and, from the
        project's first campaign, what every campaign shares.

        Raises:
            ValueError: the campaign is invalid, or it disagrees with the project's first
                campaign on ``reconcile_schedule_status``, or with another component on the
                resources (see :class:`~smspresto_pipeline.resources.ResourceAttributes`).
        """
        campaign = self.build_campaign(context.path, self._resolution)
        smspresto, warehouse = self.bind_resources(context)
        translation = self.translation
        defs = [
            build_campaign_defs(
                campaign,
                pool=self.pool,
                deps=self.deps,
                engine=warehouse.engine_at_load(),
                translate=None
                if translation is None
                else lambda spec: translation(spec, CampaignAssetProps(campaign.name)),
            ),
            dg.Definitions(resources={"smspresto": smspresto, "warehouse": warehouse}),
        ]
        # Dagster copies each definition a component returns (to record its defs.yaml), so two
        # components returning the same job give two jobs of one name, which it refuses: the
        # first campaign declared (in the defs folder's order) gives the shared ones.
        campaigns = context.component_tree.get_all_components(of_type=CampaignComponent)
        first = next(iter(campaigns), self)
        if first is self:
            status = dg.DefaultScheduleStatus(self.reconcile_schedule_status.upper())
            defs.append(
                build_shared_campaign_defs(timezone=campaign.timezone, schedule_status=status)
            )
        elif first.reconcile_schedule_status != self.reconcile_schedule_status:
            raise ValueError(
                f"campaign {self.name!r} says reconcile_schedule_status "
                f"{self.reconcile_schedule_status!r} and campaign {first.name!r} says "
                f"{first.reconcile_schedule_status!r}: the campaigns of a project share one "
                "reconciliation schedule; give them the same state."
            )
        # owners: and tags: go on the campaign's assets.
        return self.with_asset_attributes(dg.Definitions.merge(*defs))

    def build_campaign(
        self, folder: Path, resolution: dg.ResolutionContext | None = None
    ) -> Campaign:
        """The :class:`Campaign` of these attributes, reading the files relative to ``folder``.

        ``resolution`` renders the query file's ``{{ ... }}`` (as Dagster renders inline
        attributes); without it the file is taken as written.

        Raises:
            ValueError: a file is missing, or a value is invalid; the message names the
                attribute (and the file it came from).
        """
        sql, sql_origin = self._text(folder, "sql", self.sql, self.sql_file, DEFAULT_SQL_FILE)
        if sql_origin != "sql" and resolution is not None:
            sql = resolution.resolve_value(sql, as_type=str)
        template, template_origin = self._text(
            folder, "template", self.template, self.template_file, DEFAULT_TEMPLATE_FILE
        )
        # The attributes mirror Campaign's fields (tests/campaigns/test_campaign_component.py
        # keeps them in step): each one is passed on under its own name.
        fields: dict[str, Any] = {name: getattr(self, name) for name in Campaign.model_fields}
        fields.update(sql=sql, template=template)
        origins = {"sql": sql_origin, "template": template_origin}
        try:
            return Campaign(**fields)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "attributes"
                field = str(error["loc"][0]) if error["loc"] else ""
                problems.append(f"  {origins.get(field, where)}: {error['msg']}")
            raise ValueError(
                f"campaign {self.name!r} ({folder / 'defs.yaml'}) is invalid:\n"
                + "\n".join(problems)
            ) from None

    def _text(
        self, folder: Path, attribute: str, inline: str | None, file: str | None, default: str
    ) -> tuple[str, str]:
        """The text of the query or template, and the attribute it came from, for errors."""
        if inline is not None:
            return inline, attribute
        name = file if file is not None else default
        path = folder / name
        origin = f"{attribute}_file ({path})"
        if not path.is_file():
            given = (
                f"{attribute}_file names {name!r}"
                if file is not None
                else f"neither {attribute} nor {attribute}_file is given, and {default!r}"
            )
            raise ValueError(
                f"campaign {self.name!r}: {given}, which is not a file beside defs.yaml ({path})"
            )
        try:
            return path.read_text(encoding="utf-8"), origin
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"campaign {self.name!r}: {origin} cannot be read: {exc}") from None
