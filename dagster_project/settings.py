"""The code location's settings, read from environment variables when it loads.

``defs/ingest/defs.yaml`` takes them from the template variable :func:`settings`
(``template_vars_module: dagster_project.settings``); a bad value fails the load with an error
naming its variable.

Secrets are not here: the API key and password, and the warehouse's URL, reach the resources
as ``dg.EnvVar`` and are read by Dagster only when a run starts, so they never appear in the UI
or in run config.

=================================  ==========================================================
Variable                           Meaning (default)
=================================  ==========================================================
``SMSPRESTO_API_KEY``              The account's API key; read at run time (required to run).
``SMSPRESTO_API_PASS``             The account's password; read at run time (required to run).
``SMSPRESTO_BASE_URL``             The API's base URL; read at run time when set
                                   (``https://smspresto.com/console/api/``).
``SMSPRESTO_WAREHOUSE_URL``        The warehouse past one machine, a PostgreSQL database
                                   (``postgresql://user:password@host:5432/dbname``). When
                                   set, it is the warehouse and SMSPRESTO_DUCKDB_PATH is
                                   not read; the resource takes it by name (``dg.EnvVar``),
                                   so its password is never shown. Read at run time.
``SMSPRESTO_DUCKDB_PATH``          The DuckDB file (``data/smspresto_warehouse.duckdb``,
                                   relative to the directory Dagster runs in) when
                                   SMSPRESTO_WAREHOUSE_URL is unset. Not
                                   ``smspresto.duckdb``: that names the database like
                                   its schema and makes ``smspresto.x`` ambiguous.
``SMSPRESTO_START_DATE``           First day of ``archive_messages``, ``YYYY-MM-DD``
                                   (``2025-01-01``): set it to the start of your history.
``SMSPRESTO_TIMEZONE``             The account's time zone; partitions and schedules follow
                                   it (``Africa/Abidjan``).
``SMSPRESTO_LOOKBACK_DAYS``        Days before yesterday the daily ingest re-reads, since
                                   statuses change after sending (``3``).
``SMSPRESTO_INGEST_HOUR``          Hour of the daily ingest, in the account's time zone (``6``).
``SMSPRESTO_MAX_CONCURRENT_DAYS``  Days one backfill run fetches at the same time (``4``).
``SMSPRESTO_SCHEDULES``            ``running`` or ``stopped``: the schedules' state on first
                                   deployment (``running``). The UI's toggle wins afterwards.
``SMSPRESTO_OPERATOR_NUMBER``      The number the ``daily_summary`` campaign texts
                                   (``+2250700000000``, a placeholder the simulator accepts:
                                   set yours before switching the campaign on).
``SMSPRESTO_ALERT_NUMBERS``        The operator's numbers the alerts text, separated by
                                   commas (national forms read as Ivory Coast's). Set, it
                                   switches the sensor ``smspresto_alerts`` on at its first
                                   deployment (unset: stopped, no SMS alert).
``SMSPRESTO_ALERT_WEBHOOK_URL``    A webhook the alerts are posted to (Slack-compatible
                                   JSON); a credential: the alerts component names it, each
                                   tick reads it. Set, it switches the sensor on too.
=================================  ==========================================================

The schedules run by default here, while the library's factories default to ``STOPPED``:
deploying this code location with credentials is the opt-in, and a missed daily ingest is the
costlier failure (days older than the lookback are not re-read by later ticks). Set
``SMSPRESTO_SCHEDULES=stopped`` to review a deployment before it calls the API on its own.
"""

import dataclasses
import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

import dagster as dg

from smspresto_pipeline.sms import normalize_number
from smspresto_pipeline.storage import parse_target
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone

__all__ = ["Settings", "settings"]

_PHONE = re.compile(r"\+?[0-9]{6,15}")
_WAREHOUSE_URL = "SMSPRESTO_WAREHOUSE_URL"
_ALERT_NUMBERS = "SMSPRESTO_ALERT_NUMBERS"


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _check_alert_numbers(raw: str) -> None:
    """Each of the operator's numbers must receive SMS (the alerts component reads them again
    by the variable's name; checked here, a bad one fails the load with its own message)."""
    for number in (part.strip() for part in raw.split(",")):
        if not number:
            continue
        try:
            normalize_number(number, "CI")
        except ValueError as error:
            raise ValueError(
                f"{_ALERT_NUMBERS} must hold phone numbers separated by commas: {error}"
            ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The non-secret configuration of the code location.

    Attributes:
        duckdb_path: the DuckDB file; None when the warehouse is a URL.
        warehouse_url_env: the variable holding the warehouse's URL, when it is set; else None.
        start_date: first day of the archive's partitions.
        timezone: the account's time zone.
        lookback_days: days before yesterday that the daily ingest re-reads.
        ingest_hour: hour of the daily ingest.
        max_concurrent_days: days fetched at the same time in one run.
        schedule_status: the schedules' state when first deployed.
        operator_number: the number the daily summary campaign texts.
    """

    duckdb_path: str | None = "data/smspresto_warehouse.duckdb"
    warehouse_url_env: str | None = None
    start_date: date = date(2025, 1, 1)
    timezone: str = DEFAULT_TIMEZONE
    lookback_days: int = 3
    ingest_hour: int = 6
    max_concurrent_days: int = 4
    schedule_status: Literal["running", "stopped"] = "running"
    operator_number: str = "+2250700000000"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Read the settings from ``env``; a bad value raises ``ValueError`` naming the variable."""
        defaults = cls()
        raw_start = env.get("SMSPRESTO_START_DATE", "").strip()
        try:
            start_date = date.fromisoformat(raw_start) if raw_start else defaults.start_date
        except ValueError:
            raise ValueError(
                f"SMSPRESTO_START_DATE must be a date (YYYY-MM-DD), got {raw_start!r}"
            ) from None
        timezone = env.get("SMSPRESTO_TIMEZONE", "").strip() or defaults.timezone
        check_timezone(timezone, "SMSPRESTO_TIMEZONE")
        raw_status = env.get("SMSPRESTO_SCHEDULES", "").strip().lower()
        status: Literal["running", "stopped"]
        if raw_status in ("", "running"):
            status = "running"
        elif raw_status == "stopped":
            status = "stopped"
        else:
            raise ValueError(
                f"SMSPRESTO_SCHEDULES must be 'running' or 'stopped', got {raw_status!r}"
            )
        warehouse_url = env.get(_WAREHOUSE_URL, "").strip()
        duckdb_path = env.get("SMSPRESTO_DUCKDB_PATH", "").strip() or defaults.duckdb_path
        if warehouse_url:
            try:
                parse_target(warehouse_url)
            except ValueError as error:  # its message shows the URL redacted
                raise ValueError(f"{_WAREHOUSE_URL} does not name a warehouse: {error}") from None
            duckdb_path = None
        elif duckdb_path and Path(duckdb_path).is_dir():
            raise ValueError(
                f"SMSPRESTO_DUCKDB_PATH must name a DuckDB file, got a directory: {duckdb_path}"
            )
        operator_number = env.get("SMSPRESTO_OPERATOR_NUMBER", "").strip()
        # Digits only: the number is written into the daily summary's query.
        if operator_number and not _PHONE.fullmatch(operator_number):
            raise ValueError(
                "SMSPRESTO_OPERATOR_NUMBER must be a phone number (digits, optionally after +), "
                f"got {operator_number!r}"
            )
        _check_alert_numbers(env.get(_ALERT_NUMBERS, ""))
        return cls(
            duckdb_path=duckdb_path,
            # The variable's name: its value (a password) stays out of the definitions.
            warehouse_url_env=_WAREHOUSE_URL if warehouse_url else None,
            start_date=start_date,
            timezone=timezone,
            lookback_days=_integer(env, "SMSPRESTO_LOOKBACK_DAYS", defaults.lookback_days, 0, 60),
            ingest_hour=_integer(env, "SMSPRESTO_INGEST_HOUR", defaults.ingest_hour, 0, 23),
            max_concurrent_days=_integer(
                env, "SMSPRESTO_MAX_CONCURRENT_DAYS", defaults.max_concurrent_days, 1, 32
            ),
            schedule_status=status,
            operator_number=operator_number or defaults.operator_number,
        )


@dg.template_var
def settings() -> Settings:
    """The settings under the process environment, for ``{{ settings.<name> }}`` in YAML."""
    return Settings.from_env(os.environ)
