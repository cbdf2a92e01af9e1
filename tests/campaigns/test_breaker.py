"""The circuit breaker through Dagster: a campaign's sensor skips while it is tripped and asks
again once the check passes or a person resumes; the send job refuses before claiming, unless
overridden; the resume and pause jobs for the UI.

Real sensor evaluations (``build_sensor_context`` with a real instance) and real runs of the
jobs against the simulator, whose record of accepted sends (``sim.sends``) is the witness.
"""

import logging
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from campaign_fixtures import Harness as CampaignHarness
from campaign_fixtures import (
    add_customers,
    customers_campaign,
    failure_text,
    output_metadata,
    states,
)

from smspresto_pipeline.campaigns import Campaign
from smspresto_pipeline.campaigns.breaker_defs import PAUSE_JOB, RESUME_JOB, build_breaker_defs
from smspresto_pipeline.campaigns.definitions import CampaignQueryError
from smspresto_pipeline.sending import CircuitBreaker, record_check_outcome
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

CHECK = "archive_messages_failure_spike"
MTN = "carrier:MTN failures jumped from 3% to 21% on 2025-03-06"


@pytest.fixture
def path(path: Path) -> Path:
    """The campaign tests' file, with the customers c1 and c2."""
    add_customers(path, 1, 2)
    return path


class Harness(CampaignHarness):
    """A campaign's sensor and job and the breaker's jobs, bound to the simulator and file."""

    def __init__(
        self, campaign: Campaign, sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
    ) -> None:
        super().__init__(campaign, sim, path, instance, extra=build_breaker_defs())

    def breaker_job(self, name: str, **config: str) -> dg.ExecuteInProcessResult:
        op = {RESUME_JOB: "smspresto_resume", PAUSE_JOB: "smspresto_pause"}[name]
        return self.defs.resolve_job_def(name).execute_in_process(
            run_config={"ops": {op: {"config": config}}},
            instance=self.instance,
            raise_on_error=False,
        )

    def outbox(self) -> dict[str, str]:
        return states(self.path, self.campaign.name)


def campaign_of(**overrides: Any) -> Campaign:
    return customers_campaign(**{"send_on_first_activation": True, **overrides})


def spike(path: Path, severity: str | None, partition: str = "2025-03-06") -> bool:
    """The spike check's outcome for ``partition``, as the asset check records it."""
    return record_check_outcome(
        Warehouse(path), check_name=CHECK, partition=partition, severity=severity, reason=MTN
    ).tripped


def test_a_spike_pauses_the_sensor_with_the_reason_until_the_check_passes_again(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    reminder = Harness(campaign_of(), sim, path, instance)
    assert spike(path, "ERROR")
    skip = reminder.skip()
    assert skip.startswith("campaigns are paused by the circuit breaker since ")
    assert f"{MTN} (check:{CHECK}, partition 2025-03-06)" in skip
    assert "until the check passes again for 2025-03-06 or a person resumes them" in skip
    assert 'smspresto campaigns resume --reason "..."' in skip
    assert RESUME_JOB in skip
    assert reminder.outbox() == {}  # nothing recorded, not even a baseline
    assert spike(path, "WARN", partition="2025-03-07")  # another day, a warning: still paused
    assert "paused" in reminder.skip()

    assert not spike(path, None)  # the check passes again on a re-run of that day
    request = reminder.request()
    assert output_metadata(reminder.run(request))["sent"] == 2
    assert len(sim.sends) == 1
    assert reminder.outbox() == {"c1": "sent", "c2": "sent"}


def test_a_paused_sensor_does_not_run_the_query(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    broken = Harness(campaign_of(sql="select * from main.no_such_table"), sim, path, instance)
    spike(path, "ERROR")
    assert "paused" in broken.skip()  # a query that fails would fail the tick
    spike(path, None)
    with pytest.raises(CampaignQueryError, match="no_such_table"):
        broken.evaluate()


def test_a_run_requested_before_the_trip_is_refused_and_requested_again_after_the_resume(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    reminder = Harness(campaign_of(), sim, path, instance)
    before = reminder.request()
    paused = reminder.breaker_job(PAUSE_JOB, reason="MTN outage announced", by="ama")
    assert paused.success
    [trip] = CircuitBreaker(Warehouse(path)).state().trips
    assert (trip.source, trip.reason) == (f"job:{PAUSE_JOB}:ama", "MTN outage announced")

    refused = reminder.run(before)
    text = failure_text(refused)
    assert "nothing was claimed or sent" in text
    assert "MTN outage announced" in text
    assert "ignore_circuit_breaker: true" in text
    assert reminder.outbox() == {}
    assert sim.sends == []
    assert "campaigns are paused by ama (manual pause): MTN outage announced, since " in text
    skip = reminder.skip()
    assert skip.startswith("campaigns are paused by ama (manual pause): MTN outage announced, ")
    assert "circuit breaker" not in skip  # a person paused them, not a check
    assert "until a person resumes them" in skip  # a pause by hand does not end by itself

    resumed = reminder.breaker_job(RESUME_JOB, reason="MTN is back", by="kofi")
    assert output_metadata(resumed)["resumed_trips"] == 1
    [ended] = CircuitBreaker(Warehouse(path)).history()
    assert ended.resume_reason == "MTN is back"
    assert ended.resumed_by == f"kofi (run {resumed.run_id})"
    after = reminder.request()
    # The same batch under a new run key: Dagster would not launch the refused key again.
    assert after.run_config == before.run_config
    assert after.run_key != before.run_key
    assert output_metadata(reminder.run(after))["sent"] == 2
    assert reminder.outbox() == {"c1": "sent", "c2": "sent"}


def test_the_override_sends_and_a_dry_run_reports_the_breaker(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    spike(path, "ERROR")
    dry = Harness(campaign_of(name="preview", dry_run=True), sim, path, instance)
    metadata = output_metadata(dry.run())
    assert MTN in metadata["circuit_breaker"]
    assert (metadata["would_send"], metadata["sent"]) == (2, 0)

    reminder = Harness(campaign_of(), sim, path, instance)
    assert "nothing was claimed or sent" in failure_text(reminder.run())
    result = reminder.run(ignore_circuit_breaker=True)
    assert output_metadata(result)["sent"] == 2
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "ignore_circuit_breaker" in e.message
    ]
    assert len(warnings) == 1
    assert MTN in warnings[0]
    assert sim.sends  # sent...
    assert CircuitBreaker(Warehouse(path)).state().tripped  # ...and the breaker stays tripped


def test_the_breaker_jobs_want_a_reason_and_resume_even_when_nothing_is_paused(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    jobs = Harness(campaign_of(), sim, path, instance)
    with pytest.raises(dg.DagsterInvalidConfigError, match="reason"):
        jobs.breaker_job(RESUME_JOB)
    assert "give a reason" in failure_text(jobs.breaker_job(PAUSE_JOB, reason="  "))
    assert not CircuitBreaker(Warehouse(path)).state().tripped
    assert (
        output_metadata(jobs.breaker_job(RESUME_JOB, reason="just in case"))["resumed_trips"] == 0
    )
    # Without a name, the history says it came from the UI.
    jobs.breaker_job(PAUSE_JOB, reason="maintenance")
    jobs.breaker_job(PAUSE_JOB, reason="maintenance, longer")  # the same pause, new reason
    [trip] = CircuitBreaker(Warehouse(path)).state().trips
    assert (trip.source, trip.reason) == (f"job:{PAUSE_JOB}:the UI", "maintenance, longer")
