"""The ingestion as a Dagster component: the same definitions as the factories, from YAML.

A ``defs.yaml`` declares it (``dg scaffold defs smspresto_pipeline.SMSPrestoIngestComponent
my_ingest`` writes one)::

    type: smspresto_pipeline.SMSPrestoIngestComponent
    attributes:
      start_date: "2024-01-01"
      duckdb_path: data/smspresto_warehouse.duckdb
      api_key_env: SMSPRESTO_API_KEY
      api_pass_env: SMSPRESTO_API_PASS

The warehouse is a DuckDB file (``duckdb_path``) or a PostgreSQL database whose URL an
environment variable holds (``warehouse_url_env: SMSPRESTO_WAREHOUSE_URL``, without
``duckdb_path``): named like the secrets, since the URL holds a password.

Secrets are named, never written: the attributes hold the names of the environment variables,
which the resources read through ``dg.EnvVar`` when a run starts (a ``ConfigurableResource``
given as a component field would not resolve ``{{ env.X }}``, dagster issue 33677).

Owners and tags of its assets, and a ``translation:`` block as dagster-sling's and dagster-dlt's
components have (a key prefix, another group, tags...; ``{{ props.name }}`` is the asset's own
name, ``{{ spec }}`` its spec), sit beside the other attributes::

      owners: [team:marketing]
      tags: {domain: messaging}
      translation:
        key_prefix: sms
        group_name: messaging

The failure-rate spike check's thresholds sit in a ``failure_spikes:`` block: a
:class:`~smspresto_pipeline.checks.SpikeConfig` (each field optional, with its default)::

      failure_spikes:
        baseline_days: 28
        min_rise: 0.03
        error_p: 0.0001
"""

import inspect
import json
import re
import textwrap
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT, account_of
from smspresto_pipeline.checks import SpikeConfig
from smspresto_pipeline.conventions import AssetAttributes
from smspresto_pipeline.ingest.definitions import build_ingest_defs
from smspresto_pipeline.ingest.intraday import check_intraday_minutes
from smspresto_pipeline.resources import ResourceAttributes
from smspresto_pipeline.timezones import check_timezone

__all__ = ["IngestAssetProps", "SMSPrestoIngestComponent", "SMSPrestoIngestScaffolder"]

_ScheduleStatus = Literal["running", "stopped"]

_SCHEDULE_STATUSES: dict[_ScheduleStatus, dg.DefaultScheduleStatus] = {
    "running": dg.DefaultScheduleStatus.RUNNING,
    "stopped": dg.DefaultScheduleStatus.STOPPED,
}

#: build_ingest_defs' parameters: each attribute's default is written there, once.
_FACTORY_PARAMETERS = inspect.signature(build_ingest_defs).parameters


def _default(name: str) -> Any:
    """The default of ``build_ingest_defs``' parameter ``name``: the attribute's too."""
    return _FACTORY_PARAMETERS[name].default


def _default_schedule_status() -> _ScheduleStatus:
    """The factory's default schedule status, by the name the YAML gives it."""
    default = _default("schedule_status")
    return next(name for name, status in _SCHEDULE_STATUSES.items() if status == default)


_SCAFFOLD = """\
type: {type_name}

attributes:
  # The first day of the history to ingest (YYYY-MM-DD): set it to your account's first day.
  start_date: "{start_date}"
  # The account's time zone (IANA name): partitions and schedules follow it.
  timezone: {timezone}
  # The warehouse: a DuckDB file, relative to the directory Dagster runs in...
  duckdb_path: {duckdb_path}
  # ...or, past one machine, a PostgreSQL database: the name of the environment variable holding
  # its URL (postgresql://user:password@host:5432/dbname), e.g. SMSPRESTO_WAREHOUSE_URL, with
  # duckdb_path removed. Read when a run starts: its password is never shown.
  warehouse_url_env: null
  # Days before yesterday that the daily ingest re-reads (statuses change after sending).
  lookback_days: {lookback_days}
  # Hour of the daily ingest, in the account's time zone.
  ingest_hour: {ingest_hour}
  # Days one backfill run fetches at the same time.
  max_concurrent_days: {max_concurrent_days}
  # The schedules' state when first deployed: running or stopped.
  schedule_status: {schedule_status}
  # Names of the environment variables holding the secrets, read only when a run starts.
  api_key_env: {api_key_env}
  api_pass_env: {api_pass_env}
  # The variable holding the API's base URL (e.g. a simulator's); the public API when unset.
  base_url_env: {base_url_env}
  # The failure-rate spike check on archive_messages (per day, per sender and carrier).
  failure_spikes:
{failure_spikes}
  # Only a spike on one of this many newest days stored pauses the campaigns.
  circuit_breaker_days: {circuit_breaker_days}
  # The account's name when one warehouse holds several (a lowercase identifier: brand_a); its
  # assets, schedules and checks then get their own keys. null: the one, default account.
  account: null
  # A Dagster concurrency pool for the assets that write the warehouse (smspresto_warehouse:
  # its limit, in dagster.yaml or the UI, is how many such steps run at once). null: no pool.
  pool: null
  # Owners (an email, or team:<name>) and tags of the three assets.
  owners: []
  tags: {{}}
  # Each asset's spec changed as dagster-sling's and dagster-dlt's components allow: key_prefix,
  # group_name, tags, owners... ({{{{ props.name }}}}: the asset's own name). null: as built.
  translation: null
  # Minutes between two reads of today (a divisor of the hour). null: only the nightly ingest.
  intraday_minutes: {intraday_minutes}
"""


class SMSPrestoIngestScaffolder(dg.Scaffolder[Any]):
    """Writes a ``defs.yaml`` declaring the ingestion with every attribute and its default."""

    def scaffold(self, request: dg.ScaffoldRequest[Any]) -> None:
        """Write ``defs.yaml`` into the new folder (other formats get Dagster's default)."""
        if request.scaffold_format != "yaml" or request.append:
            from dagster.components.component_scaffolding import scaffold_component

            scaffold_component(request, {"start_date": _first_of_the_year()})
            return
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text(
            _SCAFFOLD.format(
                type_name=request.type_name,
                start_date=_first_of_the_year(),
                failure_spikes=_spike_thresholds_yaml(),
                **_attribute_defaults_yaml(),
            ),
            encoding="utf-8",
        )


def _first_of_the_year() -> str:
    return date.today().replace(month=1, day=1).isoformat()


def _attribute_defaults_yaml() -> dict[str, str]:
    """Each attribute's default (a plain value: not start_date's, failure_spikes' block) as
    YAML, for the scaffold."""
    return {
        name: _yaml_scalar(field.default)
        for name, field in SMSPrestoIngestComponent.model_fields.items()
        if isinstance(field.default, str | int)
    }


# A word YAML reads as itself (a string), written without quotes as a person would write it.
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_/.+-]*")
# Words YAML 1.1 reads as booleans or null: quoted.
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _yaml_scalar(value: str | float) -> str:
    """``value`` as YAML: a plain word as it is (``Africa/Abidjan``), anything else as JSON,
    which YAML reads the same."""
    if isinstance(value, str) and _PLAIN_WORD.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


def _spike_thresholds_yaml() -> str:
    """The ``failure_spikes:`` block's lines: each threshold with its description and default."""
    lines = []
    for name, field in SpikeConfig.model_fields.items():
        lines += textwrap.wrap(
            str(field.description), 96, initial_indent="    # ", subsequent_indent="    # "
        )
        lines.append(f"    {name}: {_yaml_scalar(field.default)}")
    return "\n".join(lines)


def _spike_thresholds(context: dg.ResolutionContext, thresholds: BaseModel) -> dict[str, Any]:
    # Only the thresholds written in the YAML, still unchecked: the component's own validation
    # builds the SpikeConfig, so a bad one is reported as failure_spikes.<threshold>.
    return thresholds.model_dump(exclude_unset=True)


_THRESHOLDS: dict[str, Any] = {
    name: (field.annotation, Field(default=field.default, description=field.description))
    for name, field in SpikeConfig.model_fields.items()
}
#: What the ``failure_spikes:`` block is parsed into: SpikeConfig's fields (types, defaults,
#: descriptions) without its checks. Checked there, a bad threshold would be reported under
#: the union Dagster makes of each attribute's type and ``str`` (for ``{{ ... }}``), as
#: ``failure_spikes.SpikeConfig.<threshold>``.
_SpikeThresholds = create_model(
    "SpikeThresholds", __config__=ConfigDict(extra="forbid"), **_THRESHOLDS
)


#: The component's integer attributes and their bounds (both included).
_INT_RANGES = {
    "lookback_days": (0, 60),
    "ingest_hour": (0, 23),
    "circuit_breaker_days": (1, 366),
    "max_concurrent_days": (1, 32),
}


def _in_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


_TRANSLATION = (
    "Changes each asset's spec as dagster-sling's and dagster-dlt's components do: key, "
    "key_prefix, group_name, tags, owners, kinds, description, metadata... ({{ props.name }}: the "
    "asset's own name; {{ props.account }}; {{ spec }}). A key changed here is changed in its "
    "checks, jobs, schedules and dependents too."
)


@dataclass(frozen=True, slots=True)
class IngestAssetProps:
    """What a ``translation:`` reads of an asset as ``{{ props.<name> }}``."""

    #: The asset's own name: archive_messages, account_snapshot or analytics_views.
    name: str
    #: The account the ingestion reads (``default`` when it names none).
    account: str


@dg.scaffold_with(SMSPrestoIngestScaffolder)
class SMSPrestoIngestComponent(ResourceAttributes, AssetAttributes):
    """SMS Presto message history into DuckDB or PostgreSQL: daily archive partitions, account
    snapshots, analytics views, and their schedules.

    Builds what :func:`~smspresto_pipeline.ingest.definitions.build_ingest_defs` builds:
    assets ``archive_messages``, ``account_snapshot``, ``analytics_views``; the checks on
    ``archive_messages`` (thresholds of the spike check in ``failure_spikes:``); schedules
    ``archive_messages_daily_ingest`` and ``account_snapshot_hourly``; today's reading
    ``archive_messages_today`` and its schedule ``archive_messages_today_intraday`` (every
    ``intraday_minutes``); the jobs
    ``analytics_views_job`` and ``smspresto_archive_checks`` and the sensor
    ``smspresto_archive_checks_sensor``; resources ``smspresto`` and ``warehouse``.

    Example:
        .. code-block:: yaml

            type: smspresto_pipeline.SMSPrestoIngestComponent
            attributes:
              start_date: "2024-01-01"
              schedule_status: running
    """

    # An error must not echo its input: a secret pasted where its variable's name belongs
    # would end up in logs. The messages below quote the values that are safe to quote.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    # Each description sits in the field's Resolver: that is what `dg` and the UI show (the
    # schema Dagster derives from this class drops a pydantic Field's description when the
    # field has a default).
    start_date: Annotated[
        str,
        dg.Resolver.default(
            description="The first day of the history (YYYY-MM-DD): archive_messages' first "
            "partition.",
            examples=["2024-01-01"],
        ),
    ]
    timezone: Annotated[
        str,
        dg.Resolver.default(
            description="The account's time zone (IANA name): a partition is one of its days, "
            "and the schedules follow it."
        ),
    ] = _default("timezone")
    lookback_days: Annotated[
        int,
        dg.Resolver.default(
            description="Days before yesterday that the daily ingest re-reads, since delivery "
            "statuses change after sending (0 to 60)."
        ),
    ] = _default("lookback_days")
    ingest_hour: Annotated[
        int,
        dg.Resolver.default(
            description="Hour of the daily ingest in the account's time zone (0 to 23)."
        ),
    ] = _default("ingest_hour")
    max_concurrent_days: Annotated[
        int,
        dg.Resolver.default(
            description="Days one backfill run fetches at the same time (1 to 32)."
        ),
    ] = _default("max_concurrent_days")
    page_size: Annotated[
        int | None,
        dg.Resolver.default(
            description="Rows asked per list-archive request (1 to 10000); the resource's "
            "default (500) when unset."
        ),
    ] = _default("page_size")
    schedule_status: Annotated[
        _ScheduleStatus,
        dg.Resolver.default(
            description="The schedules' state when first deployed: 'running' or 'stopped'. The "
            "UI's toggle wins afterwards."
        ),
    ] = _default_schedule_status()
    failure_spikes: Annotated[
        SpikeConfig,
        dg.Resolver(
            _spike_thresholds,
            model_field_type=_SpikeThresholds,
            description="Thresholds of the failure-rate spike check on archive_messages "
            "(baseline_days, min_rise, min_ratio, min_messages, min_failures, error_p, warn_q, "
            "...; each optional, defaults as documented in SpikeConfig). An ERROR pauses the "
            "campaigns.",
        ),
    ] = SpikeConfig()
    account: Annotated[
        str | None,
        dg.Resolver.default(
            description="The account's name, when one warehouse holds several accounts (a "
            "lowercase identifier: brand_a). Its assets are keyed <account>/archive_messages..., "
            "its schedules, jobs, sensor and API resource named <account>__..., and its rows "
            "carry it. Unset: the default account, with the plain keys and names.",
            examples=["brand_a"],
        ),
    ] = _default("account")
    pool: Annotated[
        str | None,
        dg.Resolver.default(
            description="A Dagster concurrency pool for the three assets, which write the "
            "warehouse (e.g. smspresto_warehouse: with its limit at 1, runs side by side write "
            "a DuckDB file in turn instead of waiting for its lock; on PostgreSQL a wider limit "
            "bounds the load). Unset: no pool.",
            examples=["smspresto_warehouse"],
        ),
    ] = _default("pool")
    circuit_breaker_days: Annotated[
        int,
        dg.Resolver.default(
            description="Only a failure-rate spike (ERROR) on one of this many newest days "
            "stored pauses the campaigns; an older one (history backfilled and checked) fails "
            "its check and pauses nothing (1 to 366)."
        ),
    ] = _default("circuit_breaker_days")
    intraday_minutes: Annotated[
        int | None,
        dg.Resolver.default(
            description="Minutes between two reads of today (archive_messages_today: new "
            "messages and the statuses of those still pending), in the account's time zone; a "
            "divisor of the hour. null: today is read only by the nightly ingest.",
            examples=[15],
        ),
    ] = _default("intraday_minutes")

    @field_validator("intraday_minutes")
    @classmethod
    def _check_intraday_minutes(cls, value: int | None) -> int | None:
        return None if value is None else check_intraday_minutes(value)

    translation: Annotated[
        Annotated[
            TranslationFn[IngestAssetProps],
            TranslationFnResolver[IngestAssetProps](lambda props: {"props": props}),
        ]
        | None,
        # Outside the union: the one a nested resolver takes its description from.
        dg.Resolver.default(description=_TRANSLATION),
    ] = None

    @field_validator("start_date", mode="before")
    @classmethod
    def _check_start_date(cls, value: object) -> str:
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError(f"start_date must be a date as YYYY-MM-DD, got {value!r}") from None

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("account")
    @classmethod
    def _check_account(cls, value: str | None) -> str | None:
        return None if value is None else account_of(value)

    def account_name(self) -> str:
        """The account this ingestion reads (the default account when none is named)."""
        return self.account or DEFAULT_ACCOUNT

    def describe_component(self) -> str:
        """How errors name this component (with its account, when it names one)."""
        named = "" if self.account is None else f" of account {self.account!r}"
        return f"the {type(self).__name__}{named}"

    @field_validator(*_INT_RANGES)
    @classmethod
    def _check_int_range(cls, value: int, info: Any) -> int:
        return _in_range(info.field_name, value, *_INT_RANGES[info.field_name])

    @field_validator("page_size")
    @classmethod
    def _check_page_size(cls, value: int | None) -> int | None:
        return None if value is None else _in_range("page_size", value, 1, 10_000)

    @field_validator("schedule_status", mode="before")
    @classmethod
    def _check_schedule_status(cls, value: object) -> object:
        text = str(value).strip().lower()
        if text not in _SCHEDULE_STATUSES:
            raise ValueError(f"schedule_status must be 'running' or 'stopped', got {value!r}")
        return text

    def _translate(self, spec: dg.AssetSpec) -> dg.AssetSpec:
        assert self.translation is not None
        return self.translation(spec, IngestAssetProps(spec.key.path[-1], self.account_name()))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The ingestion's definitions (see the class docstring)."""
        smspresto, warehouse = self.bind_resources(context)
        defs = build_ingest_defs(
            start_date=self.start_date,
            smspresto=smspresto,
            warehouse=warehouse,
            timezone=self.timezone,
            lookback_days=self.lookback_days,
            ingest_hour=self.ingest_hour,
            max_concurrent_days=self.max_concurrent_days,
            page_size=self.page_size,
            schedule_status=_SCHEDULE_STATUSES[self.schedule_status],
            spike_config=self.failure_spikes,
            circuit_breaker_days=self.circuit_breaker_days,
            account=self.account,
            pool=self.pool,
            translate=self._translate if self.translation is not None else None,
            intraday_minutes=self.intraday_minutes,
        )
        return self.with_asset_attributes(defs)
