"""A campaign's send run in a process of its own, as a run worker runs it: the kill tests
start it, kill -9 it at random moments, and start it again to settle.

Usage: ``python tests/send_worker.py SETTINGS.json`` with ``DAGSTER_HOME`` set (the instance
the runs are recorded in). SETTINGS holds the campaign's fields (``campaign``), the simulator's
``base_url``, ``api_key`` and ``api_pass``, the ``warehouse`` path, the client's
``batch_size`` and ``silent_after`` in seconds. Exits 0 when the run succeeded.
"""

import json
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
from campaign_fixtures import warehouse_resource

from smspresto_pipeline.campaigns import Campaign, build_campaign_defs
from smspresto_pipeline.resources import SMSPrestoResource


def main(settings_file: str) -> int:
    settings = json.loads(Path(settings_file).read_text())
    campaign = Campaign(**settings["campaign"])
    resources = {
        "smspresto": SMSPrestoResource(
            api_key=settings["api_key"],
            api_pass=settings["api_pass"],
            base_url=settings["base_url"],
            batch_size=settings["batch_size"],
        ),
        "warehouse": warehouse_resource(settings["warehouse"]),
    }
    defs = dg.Definitions.merge(
        build_campaign_defs(campaign, silent_after=timedelta(seconds=settings["silent_after"])),
        dg.Definitions(resources=resources),
    )
    job = defs.resolve_job_def(campaign.job_name)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
