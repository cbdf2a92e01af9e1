"""One tick of the alerting sensor in a process of its own, as the sensor daemon evaluates it:
the alerts' kill test starts it, kill -9 it at random moments, and starts it again to settle.

Usage: ``python tests/alert_worker.py SETTINGS.json`` with ``DAGSTER_HOME`` set. SETTINGS holds
the simulator's ``base_url``, ``api_key`` and ``api_pass``, the ``warehouse`` path, the
operator's ``numbers`` and the client's ``batch_size``. Prints the tick's skip reason.
"""

import json
import sys
from pathlib import Path

import dagster as dg
from campaign_fixtures import warehouse_resource

from smspresto_pipeline.alerts import build_alert_defs
from smspresto_pipeline.resources import SMSPrestoResource


def main(settings_file: str) -> int:
    settings = json.loads(Path(settings_file).read_text())
    resources = {
        "smspresto": SMSPrestoResource(
            api_key=settings["api_key"],
            api_pass=settings["api_pass"],
            base_url=settings["base_url"],
            batch_size=settings["batch_size"],
        ),
        "warehouse": warehouse_resource(settings["warehouse"]),
    }
    sensor = build_alert_defs(
        numbers=settings["numbers"], sender="OPS", max_per_hour=1_000
    ).resolve_sensor_def("smspresto_alerts")
    with dg.DagsterInstance.get() as instance:
        result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    if isinstance(result, dg.SensorResult):
        result = result.skip_reason
    print(result.skip_message if isinstance(result, dg.SkipReason) else result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
