"""The bridge between Dagster configuration and the library.

`SMSPrestoResource` hands out SMS Presto clients; `WarehouseResource` hands out the `Warehouse`
(a DuckDB file, or a PostgreSQL database by URL). `ResourceAttributes` are the attributes by
which a component (the ingestion's, each campaign's) binds both from the environment.
"""

import functools
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import ConfigDict, Field, field_validator, model_validator

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT
from smspresto_pipeline.api.client import AsyncSMSPrestoClient, SMSPrestoClient
from smspresto_pipeline.api.core import DEFAULT_BASE_URL
from smspresto_pipeline.api.redaction import REDACTED, mask
from smspresto_pipeline.storage import WarehouseTarget, parse_target, redact_url
from smspresto_pipeline.storage.urls import Engine
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE
from smspresto_pipeline.warehouse import DEFAULT_STATUS_MAP, Warehouse

__all__ = ["DEFAULT_STATUS_MAP", "ResourceAttributes", "SMSPrestoResource", "WarehouseResource"]


class SMSPrestoResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The SMS Presto API: where it is, the account's credentials, and how to page and retry.

    Assets get a synchronous or asynchronous client from it (`get_client()`,
    `get_async_client()`). The key and password come from the environment (`dg.EnvVar`), so
    they are never shown in the Dagster UI, its logs or its event metadata.

    Example:

    ```python
    import dagster as dg
    from smspresto_pipeline import SMSPrestoResource

    smspresto = SMSPrestoResource(
        api_key=dg.EnvVar("SMSPRESTO_API_KEY"),
        api_pass=dg.EnvVar("SMSPRESTO_API_PASS"),
    )
    ```
    """

    base_url: str = Field(
        default="https://smspresto.com/console/api/",
        description="The API's base URL, ending in /console/api/.",
    )
    api_key: str = Field(description="The account's API key. Set it with dg.EnvVar.")
    api_pass: str = Field(
        description="The account's password. Set it with dg.EnvVar: it is never logged."
    )
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        description="The account's time zone: list-archive's dates are days of it. The "
        "archive's partitions must be days of the same zone (a run checks it).",
    )
    page_size: int = Field(
        default=500, ge=1, le=10_000, description="Rows asked per list-archive request."
    )
    status_map: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_STATUS_MAP),
        description="HIS_STATUT codes to status names; unmapped codes become 'unknown'.",
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds allowed per request.")
    max_retries: int = Field(
        default=4, ge=0, description="Retries of a read after a transient error (5xx, 429...)."
    )
    backoff_base: float = Field(
        default=0.5, ge=0, description="First retry delay in seconds; doubles each retry."
    )
    backoff_max: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait between two retries, in seconds; a Retry-After above it "
        "fails at once.",
    )
    batch_size: int = Field(
        default=500, ge=1, description="Recipients per sendsms request when sending in bulk."
    )
    default_region: str = Field(
        default="CI", description="Region (ISO 3166) used to read numbers without a + prefix."
    )
    method: Literal["POST", "GET"] = Field(
        default="POST",
        description="HTTP method. POST keeps the password out of URLs and proxy logs.",
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Inside a run the fields hold the resolved secrets: a repr (or str) in a log line or
        # an error must not show them. The key is masked as the clients mask it.
        for name, value in super().__repr_args__():
            if name == "api_pass" and isinstance(value, str):
                yield name, REDACTED
            elif name == "api_key" and isinstance(value, str):
                yield name, mask(value)
            else:
                yield name, value

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "api_pass": self.api_pass,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "batch_size": self.batch_size,
            "default_region": self.default_region,
            "method": self.method,
            "page_size": self.page_size,
            # Retries are logged through Dagster, so they show in the run's event log.
            "logger": dg.get_dagster_logger("smspresto_pipeline"),
        }

    def get_client(self) -> SMSPrestoClient:
        """A new synchronous client; use it as a context manager."""
        return SMSPrestoClient(**self._client_kwargs())

    def get_async_client(self) -> AsyncSMSPrestoClient:
        """A new asynchronous client; use it as an async context manager."""
        return AsyncSMSPrestoClient(**self._client_kwargs())


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the history lives (a DuckDB file, or a PostgreSQL database past one machine), and
    how long to wait for another process's lock.

    Give exactly one of `path` (a DuckDB file) or `url` (`postgresql://user:pass@host/db`, or
    `duckdb:///path/to/file.duckdb`). The URL holds a password: take it from the environment,
    `url=dg.EnvVar("SMSPRESTO_WAREHOUSE_URL")`, which Dagster reads when a run starts and shows
    only by its name. A URL written out in code or in run config is shown in the UI's resource
    and run config like any other config value; the library itself writes it only with the
    password as `***` (this resource's repr, its errors, logs and metadata). `memory_limit` and
    `threads` are DuckDB's.

    DuckDB lets one process at a time write to a file. Runs that write side by side wait for
    each other (exponential backoff with jitter, up to `lock_timeout` seconds); each write
    holds the lock for one short transaction. Building the resource never touches the
    warehouse.

    Example:

    ```python
    import dagster as dg
    from smspresto_pipeline.resources import WarehouseResource

    warehouse = WarehouseResource(path="data/smspresto_warehouse.duckdb")
    # or, past one machine:
    warehouse = WarehouseResource(url=dg.EnvVar("SMSPRESTO_WAREHOUSE_URL"))
    # in an asset:
    with warehouse.get_warehouse().connect(read_only=True) as con:
        con.execute("SELECT count(*) FROM smspresto.messages").fetchone()
    ```
    """

    # Its error must not echo the URL it was given (pydantic shows the input by default).
    model_config = ConfigDict(hide_input_in_errors=True)

    # Neither has a default that run config could fall back to: run config given for a
    # resource resets every field it leaves out to the field's default, and a default path
    # would send that run's writes to another file. With both unset it fails, naming both.
    path: str | None = Field(
        default=None,
        description="The DuckDB file (created with its directory when missing), e.g. "
        "data/smspresto_warehouse.duckdb. Give this or url, not both.",
    )
    url: str | None = Field(
        default=None,
        description="The warehouse's URL: postgresql://user:password@host:5432/dbname (or "
        "duckdb:///path/to/file.duckdb). Set it with dg.EnvVar: a URL written here is shown "
        "in the run config with its password. Give this or path, not both.",
    )
    lock_timeout: float = Field(
        default=300.0,
        ge=0,
        description="Seconds a run may spend, in all, waiting while another process holds "
        "the file's lock (each wait is reported in the run's log).",
    )
    lock_backoff: float = Field(
        default=0.05, gt=0, description="First wait after a lock conflict; doubles each retry."
    )
    lock_backoff_max: float = Field(
        default=2.0, gt=0, description="Longest single wait between two attempts at the lock."
    )
    spill_rows: int = Field(
        default=20_000,
        ge=0,
        description=(
            "Rows of one day held in memory while it is read; a larger day is staged in a "
            "Parquet file (in spool_dir) instead. Bounds the memory of an ingest."
        ),
    )
    spool_dir: str | None = Field(
        default=None,
        description="Directory where large days are staged before their commit (system temp "
        "if unset).",
    )
    memory_limit: str = Field(
        default="64MB",
        description="DuckDB's memory limit per connection (e.g. '64MB', '2GB'); larger sorts "
        "and aggregations spill to a directory next to the file (<path>.tmp). DuckDB only.",
    )
    threads: int = Field(
        default=1,
        ge=1,
        description="DuckDB's threads per connection. One suits ingestion (the API is the "
        "slow part); raise it for heavy analytics. DuckDB only.",
    )

    @model_validator(mode="after")
    def _check_target(self) -> "WarehouseResource":
        if (self.path is None) == (self.url is None):
            given = (
                "both"
                if self.path is not None
                else "neither (run config given for a resource replaces what the code gave it: "
                "repeat path or url there)"
            )
            # Dagster's own error for bad config (pydantic lets it through unwrapped): run
            # config that resets both fails the run as a missing required field would.
            raise dg.DagsterInvalidConfigError(  # type: ignore[no-untyped-call]
                "The warehouse resource's config is invalid: give exactly one of path (a DuckDB "
                f"file) or url (e.g. url=dg.EnvVar('SMSPRESTO_WAREHOUSE_URL')), got {given}.",
                [],
                None,
            )
        if self.path is not None and "://" in self.path:
            # A URL here would be taken for a file's name, and shown with its password.
            raise dg.DagsterInvalidConfigError(  # type: ignore[no-untyped-call]
                "The warehouse resource's path is a DuckDB file, got a URL "
                f"({redact_url(self.path)}): give it as url instead.",
                [],
                None,
            )
        # An EnvVar holds the variable's name until a run starts: its value is checked then.
        if self.url is not None and not isinstance(self.url, dg.EnvVar):
            parse_target(self.url)  # its errors show the URL redacted
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Inside a run `url` holds the value read from the environment, password included.
        for name, value in super().__repr_args__():
            if name == "url" and isinstance(value, str) and not isinstance(value, dg.EnvVar):
                yield name, redact_url(value)
            else:
                yield name, value

    @property
    def target(self) -> WarehouseTarget:
        """Where the warehouse is, as :class:`WarehouseTarget` (its ``str`` hides the password).

        Raises:
            ValueError: ``url`` is not a warehouse URL (the message shows it redacted).
        """
        if self.url is not None:
            return parse_target(self.url)
        assert self.path is not None  # one of the two: checked when the resource is built
        return parse_target(Path(self.path))

    def engine_at_load(self) -> Engine:
        """The engine as known where the definitions load (the assets' kinds say it).

        ``duckdb`` for a path; for a URL, its scheme. A URL given as ``dg.EnvVar`` is read from
        the environment here (its scheme only is kept); when the variable is unset where the
        definitions load (a load without secrets), ``postgres``: what a URL is for, since a
        DuckDB file is given as a path.
        """
        if self.url is None:
            return "duckdb"
        url: str | None = self.url
        if isinstance(url, dg.EnvVar):
            url = url.get_value()
        return parse_target(url).engine if url and url.strip() else "postgres"

    def get_warehouse(
        self,
        *,
        status_map: Mapping[str, str] | None = None,
        default_region: str = "CI",
        max_lock_timeout: float | None = None,
    ) -> Warehouse:
        """The warehouse, reading ``HIS_STATUT`` with ``status_map`` (the default one if None).

        Each call gets its own ``lock_timeout`` allowance (at most ``max_lock_timeout`` when
        given: a sensor's tick is short): an asset calls it once per run. Its waits for another
        process's lock are reported through Dagster's logger, so they show in the run's event
        log.
        """
        lock_timeout = self.lock_timeout
        if max_lock_timeout is not None:
            lock_timeout = min(lock_timeout, max_lock_timeout)
        return Warehouse(
            self.target,
            log=dg.get_dagster_logger("smspresto_pipeline"),
            lock_timeout=lock_timeout,
            lock_backoff=self.lock_backoff,
            lock_backoff_max=max(self.lock_backoff_max, self.lock_backoff),
            status_map=status_map,
            default_region=default_region,
            spill_rows=self.spill_rows,
            spool_dir=self.spool_dir,
            memory_limit=self.memory_limit,
            threads=self.threads,
        )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The attributes every component binding the resources must agree on.
_BINDING = (
    # The URL's variable first: where one component names it and another a file, the variable
    # says which warehouse is meant.
    "warehouse_url_env",
    "duckdb_path",
    "api_key_env",
    "api_pass_env",
    "base_url_env",
    "timezone",
)
#: What components of different accounts must agree on: the one warehouse.
_WAREHOUSE = ("warehouse_url_env", "duckdb_path")
#: The DuckDB file of a component that names no warehouse.
_DEFAULT_DUCKDB_PATH = "data/smspresto_warehouse.duckdb"


class ResourceAttributes(dg.Component, dg.Resolvable, dg.Model):
    """A component that binds the resources ``smspresto`` and ``warehouse``: the ingestion's,
    each campaign's.

    Secrets are named, never written: the attributes hold the names of the environment
    variables, which the resources read through ``dg.EnvVar`` when a run starts (a
    ``ConfigurableResource`` given as a component field would not resolve ``{{ env.X }}``,
    dagster issue 33677).

    Every such component of a project binds the same two keys, and Dagster accepts a key bound
    twice only to the very same object: :meth:`bind_resources` gives one object per
    configuration for the whole process, so components naming the same file, variables and
    time zone (the defaults do) share them. A project has one warehouse and one account: a
    component naming others than its neighbours fails the load, naming the attribute.

    The warehouse is a DuckDB file (``duckdb_path``, the default) or, past one machine, the
    PostgreSQL database whose URL an environment variable holds (``warehouse_url_env``): one of
    the two. The URL holds a password, so it is named like the secrets, never written.
    """

    duckdb_path: Annotated[
        str | None,
        dg.Resolver.default(
            description="The DuckDB file (the warehouse), relative to the directory Dagster "
            "runs in (created when missing); leave it out (or null) when warehouse_url_env is "
            "given. Every component of a project names the same one."
        ),
    ] = _DEFAULT_DUCKDB_PATH
    warehouse_url_env: Annotated[
        str | None,
        dg.Resolver.default(
            description="Name of the environment variable holding the warehouse's URL "
            "(postgresql://user:password@host:5432/dbname), instead of duckdb_path; read when a "
            "run starts, never shown in the UI. Every component of a project names the same one."
        ),
    ] = None
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
    # Each component describes (and checks) its own: the account's time zone.
    timezone: str = DEFAULT_TIMEZONE

    @field_validator("duckdb_path")
    @classmethod
    def _check_duckdb_path(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("duckdb_path must name a file, got an empty string")
        if Path(value).is_dir():
            raise ValueError(f"duckdb_path must name a DuckDB file, got a directory: {value}")
        return value

    @field_validator("api_key_env", "api_pass_env", "base_url_env", "warehouse_url_env")
    @classmethod
    def _check_env_name(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                f"{info.field_name} must be the name of an environment variable (letters, "
                f"digits, _), not its value: got {len(value)} characters that are not a name"
            )
        return value

    @model_validator(mode="after")
    def _check_one_warehouse(self) -> "ResourceAttributes":
        # A duckdb_path left at its default gives way to warehouse_url_env; one written out
        # beside it is a contradiction (which warehouse did the user mean?).
        given = self.duckdb_path is not None and "duckdb_path" in self.model_fields_set
        if self.warehouse_url_env is not None and given:
            raise ValueError(
                "give the warehouse as duckdb_path or warehouse_url_env, not both: got "
                f"duckdb_path {self.duckdb_path!r} and warehouse_url_env "
                f"{self.warehouse_url_env!r}"
            )
        if self.warehouse_url_env is None and self.duckdb_path is None:
            raise ValueError(
                "give the warehouse as duckdb_path (a DuckDB file) or warehouse_url_env (the "
                "name of the variable holding its URL): both are null"
            )
        if self.warehouse_url_env is not None:
            # No file: components agree whether they left the default out or wrote null.
            self.duckdb_path = None
        return self

    def describe_component(self) -> str:
        """How errors name this component."""
        return f"the {type(self).__name__}"

    def account_name(self) -> str:
        """The account whose API this component binds (a campaign's: the default account)."""
        return DEFAULT_ACCOUNT

    def bind_resources(
        self, context: dg.ComponentLoadContext
    ) -> tuple[SMSPrestoResource, WarehouseResource]:
        """``smspresto`` and ``warehouse`` from these attributes: the same two objects for the
        same configuration, however many components ask.

        Raises:
            ValueError: another component of the project binding them names another file,
                variable or time zone (the message names the attribute and both values); the
                variable ``warehouse_url_env`` names holds no warehouse URL (shown redacted).
        """
        # The tree finds the concrete subclasses (the ingestion, the campaigns) by this base.
        neighbours = context.component_tree.get_all_components(
            of_type=ResourceAttributes  # type: ignore[type-abstract]
        )
        for other in neighbours:
            # Another account's API is its own; the warehouse is every account's.
            shared = _BINDING if other.account_name() == self.account_name() else _WAREHOUSE
            for name in shared:
                mine, theirs = getattr(self, name), getattr(other, name)
                if mine != theirs:
                    here, there = self.describe_component(), other.describe_component()
                    raise ValueError(
                        f"{here} and {there} bind the resources smspresto and warehouse "
                        f"differently: {name} is {mine!r} in {here} and {theirs!r} in {there}. A "
                        "project has one warehouse, and one account's components bind its API "
                        f"alike: give them the same {name}."
                    )
        # Whether the URL comes from the environment is decided here, where the definitions
        # load; its value, like the secrets', is read by Dagster when a run starts.
        from_env = self.base_url_env is not None and bool(
            os.environ.get(self.base_url_env, "").strip()
        )
        if self.warehouse_url_env is not None:
            _check_warehouse_url(self.warehouse_url_env)
        return _bound_resources(
            self.duckdb_path,
            self.warehouse_url_env,
            self.api_key_env,
            self.api_pass_env,
            self.base_url_env if from_env else None,
            self.timezone,
        )


def _check_warehouse_url(name: str) -> None:
    """A malformed URL in ``name`` fails the load, redacted, rather than every run; an unset
    one fails the runs (Dagster reads it when a run starts) but not a load without secrets."""
    value = os.environ.get(name, "").strip()
    if not value:
        return
    try:
        parse_target(value)
    except ValueError as error:
        raise ValueError(f"{name} does not name a warehouse: {error}") from None


@functools.cache
def _bound_resources(
    duckdb_path: str | None,
    warehouse_url_env: str | None,
    api_key_env: str,
    api_pass_env: str,
    base_url_env: str | None,
    timezone: str,
) -> tuple[SMSPrestoResource, WarehouseResource]:
    base_url: str = DEFAULT_BASE_URL if base_url_env is None else dg.EnvVar(base_url_env)
    smspresto = SMSPrestoResource(
        api_key=dg.EnvVar(api_key_env),
        api_pass=dg.EnvVar(api_pass_env),
        base_url=base_url,
        timezone=timezone,
    )
    return smspresto, _bound_warehouse(duckdb_path, warehouse_url_env)


@functools.cache
def _bound_warehouse(duckdb_path: str | None, warehouse_url_env: str | None) -> WarehouseResource:
    # One object per warehouse, whatever the accounts' APIs: every account binds the same key.
    if warehouse_url_env is not None:
        return WarehouseResource(url=dg.EnvVar(warehouse_url_env))
    return WarehouseResource(path=duckdb_path)
