"""Several accounts in one warehouse, through Dagster: each account's definitions keyed apart
(the default account's exactly as before), and two accounts ingesting the same days at once,
in two processes, each keeping every row of its own and nothing of the other's lost."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START, MakeSimulator
from e2e_fixtures import api_rows

from smspresto_pipeline import SMSPrestoResource
from smspresto_pipeline.ingest import build_ingest_defs
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

FIRST, LAST = SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END


def defs_of(
    account: str | None, path: Path | WarehouseResource, sim: RunningSimulator | None = None
) -> dg.Definitions:
    return build_ingest_defs(
        start_date=FIRST.isoformat(),
        smspresto=SMSPrestoResource(
            api_key=sim.api_key if sim else "key",
            api_pass=sim.api_pass if sim else "pass",
            base_url=sim.base_url if sim else "http://127.0.0.1:1/",
        ),
        warehouse=path
        if isinstance(path, WarehouseResource)
        else WarehouseResource(path=str(path)),
        account=account,
    )


def names(defs: dg.Definitions) -> dict[str, list[str]]:
    repository = defs.get_repository_def()
    return {
        "assets": sorted(
            key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()
        ),
        "checks": sorted(key.to_user_string() for key in repository.asset_graph.asset_check_keys),
        "jobs": sorted(
            job.name for job in repository.get_all_jobs() if not job.name.startswith("__")
        ),
        "schedules": sorted(s.name for s in repository.schedule_defs),
        "sensors": sorted(s.name for s in repository.sensor_defs),
        "resources": sorted(repository.get_top_level_resources()),
    }


# What a project of one account had before accounts: its users' asset history hangs on them.
PLAIN = {
    "assets": ["account_snapshot", "analytics_views", "archive_messages", "archive_messages_today"],
    "checks": [
        "account_snapshot:counters_reconcile",
        "archive_messages:failure_rate_spike",
        "archive_messages:history_id_unique",
        "archive_messages:required_fields_present",
        "archive_messages:sent_not_before_created",
        "archive_messages:statuses_mapped",
        "archive_messages_today:archive_messages_today_failure_spike",
    ],
    "jobs": [
        "account_snapshot_job",
        "analytics_views_job",
        "archive_messages_ingest_job",
        "archive_messages_today_job",
        "smspresto_archive_checks",
    ],
    "schedules": [
        "account_snapshot_hourly",
        "archive_messages_daily_ingest",
        "archive_messages_today_intraday",
    ],
    "sensors": ["smspresto_archive_checks_sensor"],
    "resources": ["smspresto", "warehouse"],
}


@pytest.mark.parametrize("account", [None, "default"])
def test_the_default_account_keeps_every_key_and_name(tmp_path: Path, account: str | None) -> None:
    assert names(defs_of(account, tmp_path / "w.duckdb")) == PLAIN


def test_two_accounts_in_one_project_have_their_own_keys(tmp_path: Path) -> None:
    # One warehouse, one resource object: Dagster takes a key bound twice only to the same one.
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    defs = dg.Definitions.merge(defs_of(None, warehouse), defs_of("brand_b", warehouse))
    found = names(defs)
    prefixed = {
        "assets": [f"brand_b/{name}" for name in PLAIN["assets"]],
        "checks": [f"brand_b/{name}" for name in PLAIN["checks"]],
        "jobs": [f"brand_b__{name}" for name in PLAIN["jobs"]],
        "schedules": [f"brand_b__{name}" for name in PLAIN["schedules"]],
        "sensors": [f"brand_b__{name}" for name in PLAIN["sensors"]],
        "resources": ["brand_b__smspresto"],
    }
    assert found == {kind: sorted(PLAIN[kind] + prefixed[kind]) for kind in PLAIN}


def test_a_bad_account_name_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"account must be .* got 'Brand B'"):
        defs_of("Brand B", tmp_path / "w.duckdb")


# One account's backfill of every day, in a process of its own, as a run launcher starts it.
INGEST = """
import sys
import dagster as dg
from smspresto_pipeline import SMSPrestoResource
from smspresto_pipeline.ingest import build_ingest_defs
from smspresto_pipeline.resources import WarehouseResource

account, path, base_url, key, password, first, last = sys.argv[1:]
defs = build_ingest_defs(
    start_date=first,
    smspresto=SMSPrestoResource(api_key=key, api_pass=password, base_url=base_url, page_size=7),
    warehouse=WarehouseResource(path=path),
    account=account,
)
job = defs.resolve_job_def(f"{account}__archive_messages_ingest_job")
result = job.execute_in_process(
    instance=dg.DagsterInstance.ephemeral(),
    tags={
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    },
)
assert result.success
"""


@pytest.mark.slow
def test_two_accounts_ingesting_the_same_days_at_once_lose_nothing_of_each_other(
    tmp_path: Path, make_simulator: MakeSimulator
) -> None:
    path = tmp_path / "shared.duckdb"
    with make_simulator(seed=1) as brand_a, make_simulator(seed=2, messages_per_day=60) as brand_b:
        accounts = {"brand_a": brand_a, "brand_b": brand_b}
        processes = [
            subprocess.Popen(
                [
                    *(sys.executable, "-c", INGEST, account, str(path)),
                    *(sim.base_url, sim.api_key, sim.api_pass, FIRST.isoformat(), LAST.isoformat()),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for account, sim in accounts.items()
        ]
        outputs = [process.communicate(timeout=300)[0] for process in processes]
        assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
        expected = {account: api_rows(sim, FIRST, LAST) for account, sim in accounts.items()}
    with Warehouse(path).connect(read_only=True) as con:
        stored = {
            account: [
                (int(h), s, d)
                for h, s, d in con.execute(
                    "SELECT history_id, status_code, partition_date FROM smspresto.messages "
                    "WHERE account = ? ORDER BY history_id",
                    [account],
                ).fetchall()
            ]
            for account in accounts
        }
        raw = dict(
            con.execute("SELECT account, count(*) FROM smspresto.archive_raw GROUP BY 1").fetchall()
        )
    # The two histories share their ids (each account numbers its own from 1): per account.
    assert {h for h, _, _ in expected["brand_a"]} & {h for h, _, _ in expected["brand_b"]}
    assert stored == expected
    assert raw == {account: len(rows) for account, rows in expected.items()}
