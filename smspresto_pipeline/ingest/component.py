"""The ingestion as a Dagster component: the same definitions as the factories, from YAML.

A ``defs.yaml`` declares it (``dg scaffold defs smspresto_pipeline.SMSPrestoIngestComponent
my_ingest`` writes one)::

    type: smspresto_pipeline.SMSPrestoIngestComponent
    attributes:
      start_date: "2024-01-01"
      duckdb_path: data/smspresto_warehouse.duckdb
      api_key_env: SMSPRESTO_API_KEY
      api_pass_env: SMSPRESTO_API_PASS

Secrets are named, never written: the attributes hold the names of the environment variables,
which the resources read through ``dg.EnvVar`` when a run starts (a ``ConfigurableResource``
given as a component field would not resolve ``{{ env.X }}``, dagster issue 33677).
"""

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from pydantic import ConfigDict, field_validator

from smspresto_pipeline.api.core import DEFAULT_BASE_URL
from smspresto_pipeline.ingest.definitions import build_ingest_defs
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

__all__ = ["SMSPrestoIngestComponent", "SMSPrestoIngestScaffolder"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEDULE_STATUSES = {
    "running": dg.DefaultScheduleStatus.RUNNING,
    "stopped": dg.DefaultScheduleStatus.STOPPED,
}

_SCAFFOLD = """\
type: {type_name}

attributes:
  # The first day of the history to ingest (YYYY-MM-DD): set it to your account's first day.
  start_date: "{start_date}"
  # The account's time zone (IANA name): partitions and schedules follow it.
  timezone: Africa/Abidjan
  # The DuckDB file, relative to the directory Dagster runs in.
  duckdb_path: data/smspresto_warehouse.duckdb
  # Days before yesterday that the daily ingest re-reads (statuses change after sending).
  lookback_days: 3
  # Hour of the daily ingest, in the account's time zone.
  ingest_hour: 6
  # Days one backfill run fetches at the same time.
  max_concurrent_days: 4
  # The schedules' state when first deployed: running or stopped.
  schedule_status: stopped
  # Names of the environment variables holding the secrets, read only when a run starts.
  api_key_env: SMSPRESTO_API_KEY
  api_pass_env: SMSPRESTO_API_PASS
  # The variable holding the API's base URL (e.g. a simulator's); the public API when unset.
  base_url_env: SMSPRESTO_BASE_URL
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
            _SCAFFOLD.format(type_name=request.type_name, start_date=_first_of_the_year()),
            encoding="utf-8",
        )


def _first_of_the_year() -> str:
    return date.today().replace(month=1, day=1).isoformat()


def _in_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dg.scaffold_with(SMSPrestoIngestScaffolder)
class SMSPrestoIngestComponent(dg.Component, dg.Resolvable, dg.Model):
    """SMS Presto message history into DuckDB: daily archive partitions, account snapshots,
    analytics views, and their schedules.

    Builds what :func:`~smspresto_pipeline.ingest.definitions.build_ingest_defs` builds:
    assets ``archive_messages``, ``account_snapshot``, ``analytics_views``; schedules
    ``archive_messages_daily_ingest`` and ``account_snapshot_hourly``; the job
    ``analytics_views_job``; resources ``smspresto`` and ``warehouse``.

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
    ] = "Africa/Abidjan"
    lookback_days: Annotated[
        int,
        dg.Resolver.default(
            description="Days before yesterday that the daily ingest re-reads, since delivery "
            "statuses change after sending (0 to 60)."
        ),
    ] = 3
    ingest_hour: Annotated[
        int,
        dg.Resolver.default(
            description="Hour of the daily ingest in the account's time zone (0 to 23)."
        ),
    ] = 6
    max_concurrent_days: Annotated[
        int,
        dg.Resolver.default(
            description="Days one backfill run fetches at the same time (1 to 32)."
        ),
    ] = 4
    duckdb_path: Annotated[
        str,
        dg.Resolver.default(
            description="The DuckDB file, relative to the directory Dagster runs in (created "
            "when missing)."
        ),
    ] = "data/smspresto_warehouse.duckdb"
    page_size: Annotated[
        int | None,
        dg.Resolver.default(
            description="Rows asked per list-archive request (1 to 10000); the resource's "
            "default (500) when unset."
        ),
    ] = None
    schedule_status: Annotated[
        Literal["running", "stopped"],
        dg.Resolver.default(
            description="The schedules' state when first deployed: 'running' or 'stopped'. The "
            "UI's toggle wins afterwards."
        ),
    ] = "stopped"
    api_key_env: Annotated[
        str,
        dg.Resolver.default(
            description="Name of the environment variable holding the API key; read when a run "
            "starts, never shown in the UI."
        ),
    ] = "SMSPRESTO_API_KEY"
    api_pass_env: Annotated[
        str,
        dg.Resolver.default(
            description="Name of the environment variable holding the account's password; read "
            "when a run starts, never shown in the UI."
        ),
    ] = "SMSPRESTO_API_PASS"  # noqa: S105 (the name of a variable, not a password)
    base_url_env: Annotated[
        str | None,
        dg.Resolver.default(
            description="Name of the environment variable holding the API's base URL (e.g. a "
            "simulator's), read when a run starts. When it is unset where the definitions "
            f"load, or this is null, the public API is used ({DEFAULT_BASE_URL})."
        ),
    ] = "SMSPRESTO_BASE_URL"

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
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone must be an IANA time zone name, got {value!r}") from None
        return value

    @field_validator("lookback_days")
    @classmethod
    def _check_lookback_days(cls, value: int) -> int:
        return _in_range("lookback_days", value, 0, 60)

    @field_validator("ingest_hour")
    @classmethod
    def _check_ingest_hour(cls, value: int) -> int:
        return _in_range("ingest_hour", value, 0, 23)

    @field_validator("max_concurrent_days")
    @classmethod
    def _check_max_concurrent_days(cls, value: int) -> int:
        return _in_range("max_concurrent_days", value, 1, 32)

    @field_validator("page_size")
    @classmethod
    def _check_page_size(cls, value: int | None) -> int | None:
        return None if value is None else _in_range("page_size", value, 1, 10_000)

    @field_validator("duckdb_path")
    @classmethod
    def _check_duckdb_path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("duckdb_path must name a file, got an empty string")
        if Path(value).is_dir():
            raise ValueError(f"duckdb_path must name a DuckDB file, got a directory: {value}")
        return value

    @field_validator("schedule_status", mode="before")
    @classmethod
    def _check_schedule_status(cls, value: object) -> object:
        text = str(value).strip().lower()
        if text not in _SCHEDULE_STATUSES:
            raise ValueError(f"schedule_status must be 'running' or 'stopped', got {value!r}")
        return text

    @field_validator("api_key_env", "api_pass_env", "base_url_env")
    @classmethod
    def _check_env_name(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                f"{info.field_name} must be the name of an environment variable (letters, "
                f"digits, _), not its value: got {len(value)} characters that are not a name"
            )
        return value

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The ingestion's definitions (see the class docstring)."""
        # Whether the URL comes from the environment is decided here, where the definitions
        # load; its value, like the secrets', is read by Dagster when a run starts.
        from_env = self.base_url_env is not None and bool(
            os.environ.get(self.base_url_env, "").strip()
        )
        base_url: str = dg.EnvVar(self.base_url_env) if from_env else DEFAULT_BASE_URL
        return build_ingest_defs(
            start_date=self.start_date,
            smspresto=SMSPrestoResource(
                api_key=dg.EnvVar(self.api_key_env),
                api_pass=dg.EnvVar(self.api_pass_env),
                base_url=base_url,
                timezone=self.timezone,
            ),
            warehouse=WarehouseResource(path=self.duckdb_path),
            timezone=self.timezone,
            lookback_days=self.lookback_days,
            ingest_hour=self.ingest_hour,
            max_concurrent_days=self.max_concurrent_days,
            page_size=self.page_size,
            schedule_status=_SCHEDULE_STATUSES[self.schedule_status],
        )
