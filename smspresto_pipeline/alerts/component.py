"""The alerts as a Dagster component: switch the alerting sensor and the freshness check on in
a ``defs.yaml``.

.. code-block:: yaml

    type: smspresto_pipeline.AlertsComponent
    attributes:
      numbers_env: SMSPRESTO_ALERT_NUMBERS        # "+2250700000000, 07 08 08 14 88"
      webhook_url_env: SMSPRESTO_ALERT_WEBHOOK_URL
      sender: OPS

It gives what :func:`~smspresto_pipeline.alerts.build_alert_defs` builds (the sensor
``smspresto_alerts``) and, unless ``freshness_check`` is false, what
:func:`~smspresto_pipeline.checks.freshness_defs.build_freshness_check_defs` builds for
``archive_messages`` (the ingest component's asset), with the resources ``smspresto`` and
``warehouse`` bound as the other components bind them. The operator's numbers and the webhook's
URL come from environment variables the attributes name (the URL is a credential, the numbers
are personal data: neither is written in YAML). The sensor runs from its first deployment when
a number or the webhook's URL is set where the definitions load, and is stopped otherwise
(``sensor_status`` forces either); the UI's toggle wins afterwards.
"""

# No ``from __future__ import annotations``: Dagster reads the fields' annotations at runtime.

import os
from typing import Annotated, Literal

import dagster as dg

from smspresto_pipeline.alerts.definitions import build_alert_defs
from smspresto_pipeline.alerts.model import (
    DEFAULT_MAX_PER_HOUR,
    DEFAULT_RUNWAY_DAYS,
    DEFAULT_WEBHOOK_URL_ENV,
)
from smspresto_pipeline.checks.freshness import DEFAULT_READY_HOUR
from smspresto_pipeline.checks.freshness_defs import build_freshness_check_defs
from smspresto_pipeline.conventions import AssetAttributes
from smspresto_pipeline.resources import ResourceAttributes

__all__ = ["DEFAULT_NUMBERS_ENV", "AlertsComponent"]

#: The environment variable holding the operator's numbers, unless the attributes name another.
DEFAULT_NUMBERS_ENV = "SMSPRESTO_ALERT_NUMBERS"


def _described(description: str) -> dg.Resolver:
    resolver: dg.Resolver = dg.Resolver.default(description=description)
    return resolver


class AlertsComponent(ResourceAttributes, AssetAttributes):
    """The alerting sensor smspresto_alerts and the freshness check of archive_messages.

    Example:
        .. code-block:: yaml

            type: smspresto_pipeline.AlertsComponent
            attributes:
              numbers_env: SMSPRESTO_ALERT_NUMBERS
              sender: OPS
    """

    numbers_env: Annotated[
        str | None,
        _described(
            "Name of the environment variable holding the operator's numbers, separated by "
            "commas (national forms read as region's), read where the definitions load. Unset "
            "or empty: no SMS alert."
        ),
    ] = DEFAULT_NUMBERS_ENV
    webhook_url_env: Annotated[
        str,
        _described(
            "Name of the environment variable holding the webhook's URL (Slack-compatible "
            "JSON), read at each tick; never shown in the UI. Unset: no webhook."
        ),
    ] = DEFAULT_WEBHOOK_URL_ENV
    sender: Annotated[str, _described("The sender name the SMS alerts come from.")] = "SMSPRESTO"
    region: Annotated[str, _described("The country national numbers are read in.")] = "CI"
    max_per_hour: Annotated[
        int, _described("Alerts a channel sends in any hour at most, a summary included.")
    ] = DEFAULT_MAX_PER_HOUR
    runway_days: Annotated[
        float,
        _described("The stock alert fires below this many days of stock at the recent pace."),
    ] = DEFAULT_RUNWAY_DAYS
    pace_days: Annotated[int, _described("Days of history the recent pace is measured over.")] = 7
    ready_hour: Annotated[
        int,
        _described(
            "The hour (account's time zone) by which yesterday is expected in the history: the "
            "freshness check and the stale-history alert."
        ),
    ] = DEFAULT_READY_HOUR
    minimum_interval_seconds: Annotated[
        int, _described("The least time between two ticks of the sensor.")
    ] = 60
    sensor_status: Annotated[
        Literal["running", "stopped"] | None,
        _described(
            "The sensor's state when first deployed; unset: running when a number or the "
            "webhook's URL is set where the definitions load, else stopped."
        ),
    ] = None
    freshness_check: Annotated[
        bool,
        _described(
            "Add the freshness check of archive_messages (the ingest component's asset), its "
            "job and its hourly schedule."
        ),
    ] = True
    freshness_schedule_status: Annotated[
        Literal["running", "stopped"],
        _described("The freshness check's hourly schedule's state when first deployed."),
    ] = "stopped"

    def describe_component(self) -> str:
        """How errors name this component."""
        return "the AlertsComponent"

    def numbers(self) -> list[str]:
        """The operator's numbers, from the variable ``numbers_env`` names (empty: none)."""
        raw = os.environ.get(self.numbers_env, "") if self.numbers_env else ""
        return [number.strip() for number in raw.split(",") if number.strip()]

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The sensor (and the freshness check) and the resources.

        Raises:
            ValueError: a number, the sender or a bound is bad (named, with its variable).
        """
        numbers = self.numbers()
        webhook = bool(os.environ.get(self.webhook_url_env, "").strip())
        status = self.sensor_status or ("running" if numbers or webhook else "stopped")
        smspresto, warehouse = self.bind_resources(context)
        try:
            alerts = build_alert_defs(
                numbers=numbers,
                sender=self.sender,
                region=self.region,
                webhook_url_env=self.webhook_url_env,
                max_per_hour=self.max_per_hour,
                runway_days=self.runway_days,
                pace_days=self.pace_days,
                ready_hour=self.ready_hour,
                minimum_interval_seconds=self.minimum_interval_seconds,
                default_status=dg.DefaultSensorStatus(status.upper()),
                engine=warehouse.engine_at_load(),
            )
        except ValueError as error:
            raise ValueError(f"{self.describe_component()} ({self.numbers_env}): {error}") from None
        defs = [alerts, dg.Definitions(resources={"smspresto": smspresto, "warehouse": warehouse})]
        if self.freshness_check:
            defs.append(
                build_freshness_check_defs(
                    timezone=self.timezone,
                    ready_hour=self.ready_hour,
                    default_status=dg.DefaultScheduleStatus(self.freshness_schedule_status.upper()),
                )
            )
        return self.with_asset_attributes(dg.Definitions.merge(*defs))
