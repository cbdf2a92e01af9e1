"""Helpers of the campaign tests: a valid campaign, with any field overridden, and a harness that
evaluates a campaign's sensor and runs its job against the simulator."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from smspresto_pipeline.campaigns import Campaign, build_campaign_defs
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator

#: The fields of a valid campaign; tests override what they are about.
CAMPAIGN_FIELDS: dict[str, Any] = {
    "name": "reminder",
    "sql": "select recipient, dedup_key, first_name, parcel from contacts",
    "template": "Bonjour {{ first_name }}, votre colis {{ parcel }} est arrivé.",
    "sender": "MaBoutique",
}


def make_campaign(**overrides: Any) -> Campaign:
    """A :class:`Campaign` of :data:`CAMPAIGN_FIELDS` with ``overrides``."""
    return Campaign(**{**CAMPAIGN_FIELDS, **overrides})


class Harness:
    """One campaign's sensor and job (and any ``extra`` definitions), bound to the simulator and
    the warehouse file, on the campaign clock ``clock`` when given."""

    def __init__(
        self,
        campaign: Campaign,
        sim: RunningSimulator,
        path: Path,
        instance: dg.DagsterInstance,
        clock: Callable[[], datetime] | None = None,
        extra: dg.Definitions | None = None,
    ) -> None:
        self.campaign, self.instance, self.path = campaign, instance, path
        self.warehouse = WarehouseResource(path=str(path))
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
