"""The checks of one account read that account's rows only, on both engines: two accounts in
one warehouse, the same seeded history but for a carrier's failure spike on one day in one of
them (and what the simulator's random draws then give it: a status code the map lacks), each
ingested by its own ingest job; the checks job built for the clean account passes that day,
the spiking account's fails its spike check, and only the spiking account's check trips the
circuit breaker."""

from datetime import date, timedelta

import dagster as dg
from campaign_fixtures import warehouse_resource
from conftest import MakeSimulator, on_both_engines

from smspresto_pipeline.accounts import prefixed
from smspresto_pipeline.checks.definitions import CHECKS_JOB, FAILURE_SPIKE_CHECK
from smspresto_pipeline.ingest import build_ingest_defs
from smspresto_pipeline.ingest.schedules import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import CircuitBreaker
from smspresto_pipeline.simulator import RunningSimulator, Spike
from smspresto_pipeline.warehouse import Warehouse

SPIKE_DAY = date(2025, 2, 12)  # MTN fails eight times as often, in SPIKING's history only
# Two weeks before it: past the spike statistic's minimum baseline (seven days).
FIRST = SPIKE_DAY - timedelta(days=14)
CLEAN, SPIKING = "brand_a", "brand_b"


def account_defs(
    account: str, sim: RunningSimulator, warehouse: WarehouseResource
) -> dg.Definitions:
    return build_ingest_defs(
        start_date=FIRST.isoformat(),
        smspresto=SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
        ),
        warehouse=warehouse,
        account=account,
    )


@on_both_engines
def test_each_accounts_checks_judge_its_own_rows(
    make_simulator: MakeSimulator, warehouse_target: str, warehouse: Warehouse
) -> None:
    # One resource object for both accounts: Dagster accepts a key bound twice only to one.
    resource = warehouse_resource(warehouse_target, spool_dir=str(warehouse.spool_dir))
    history = {
        "history_start": FIRST,
        "history_end": SPIKE_DAY,
        "messages_per_day": 500,
        "spike_period": 0,
    }
    with (
        make_simulator(**history) as clean,
        make_simulator(**history, spikes=(Spike(SPIKE_DAY, "carrier:MTN", 8.0),)) as spiking,
    ):
        defs = dg.Definitions.merge(
            account_defs(CLEAN, clean, resource), account_defs(SPIKING, spiking, resource)
        )
        days = {
            PARTITION_RANGE_START_TAG: FIRST.isoformat(),
            PARTITION_RANGE_END_TAG: SPIKE_DAY.isoformat(),
        }
        evaluations: dict[str, dict[str, dg.AssetCheckEvaluation]] = {}
        with dg.DagsterInstance.ephemeral() as instance:
            for account in (CLEAN, SPIKING):
                ingest = defs.resolve_job_def(prefixed("archive_messages_ingest_job", account))
                assert ingest.execute_in_process(instance=instance, tags=days).success
            for account in (CLEAN, SPIKING):
                checks = defs.resolve_job_def(prefixed(CHECKS_JOB, account))
                result = checks.execute_in_process(
                    instance=instance, partition_key=SPIKE_DAY.isoformat()
                )
                assert result.success  # a failed check fails the check, not the run
                evaluations[account] = {
                    e.check_name: e for e in result.get_asset_check_evaluations()
                }

    # Both accounts hold the day, each its own history (the same but for the spike).
    rows = {
        account: warehouse.partition_stats(SPIKE_DAY, account=account).rows
        for account in (CLEAN, SPIKING)
    }
    assert min(rows.values()) > 0
    # The clean account's checks pass, although the other account's spike is in the same table.
    assert {name: e.passed for name, e in evaluations[CLEAN].items()} == dict.fromkeys(
        evaluations[CLEAN], True
    )
    assert FAILURE_SPIKE_CHECK in evaluations[CLEAN]
    # (Its history drew a status code the map does not name, as a real account's may: the
    # clean account's statuses_mapped passing shows that the quality checks read its rows only.)
    assert not evaluations[SPIKING]["statuses_mapped"].passed
    # The spiking account's spike check fails at ERROR.
    spike = evaluations[SPIKING][FAILURE_SPIKE_CHECK]
    assert (spike.passed, spike.severity) == (False, dg.AssetCheckSeverity.ERROR)
    # Only the spiking account's check tripped the breaker.
    state = CircuitBreaker(warehouse).state()
    assert [(t.source, t.partition_key) for t in state.trips] == [
        (f"check:{prefixed(FAILURE_SPIKE_CHECK, SPIKING)}", SPIKE_DAY.isoformat())
    ]
