"""A code location whose ``archive_messages`` takes the pool ``smspresto_warehouse``, as
docs/deployment.md has a project declare it; ``tests/e2e/test_e2e_deploy.py`` launches its runs
through the daemon of an instance configured by ``deploy/dagster.yaml``.

Everything comes from the environment: ``SMSPRESTO_START_DATE``, the simulator's
``SMSPRESTO_BASE_URL``, ``SMSPRESTO_API_KEY``, ``SMSPRESTO_API_PASS`` and the warehouse file
``SMSPRESTO_DUCKDB_PATH``.
"""

import os

import dagster as dg

from smspresto_pipeline import SMSPrestoResource
from smspresto_pipeline.ingest.assets import build_archive_messages_asset
from smspresto_pipeline.resources import WarehouseResource

POOL = "smspresto_warehouse"
JOB = "pooled_ingest"

archive = build_archive_messages_asset(start_date=os.environ["SMSPRESTO_START_DATE"], pool=POOL)

defs = dg.Definitions(
    assets=[archive],
    # One step: run it in the run's own process (no step process to start), where the pool is
    # claimed as in a step process.
    jobs=[dg.define_asset_job(JOB, selection=[archive], executor_def=dg.in_process_executor)],
    resources={
        "smspresto": SMSPrestoResource(
            base_url=dg.EnvVar("SMSPRESTO_BASE_URL"),
            api_key=dg.EnvVar("SMSPRESTO_API_KEY"),
            api_pass=dg.EnvVar("SMSPRESTO_API_PASS"),
        ),
        "warehouse": WarehouseResource(path=dg.EnvVar("SMSPRESTO_DUCKDB_PATH")),
    },
)
