"""A campaign's sensor and send job, through real sensor evaluations and real runs.

The warehouse is a real DuckDB file holding a ``main.customers`` table the campaign reads; the
API is the simulator, whose record of accepted sends (``sim.sends``) is the witness of what
was sent.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from campaign_fixtures import (
    CREATE_CUSTOMERS,
    CUSTOMERS_SQL,
    add_customers,
    customers_campaign,
    failure_text,
    keys,
    output_metadata,
    sent_texts,
    skip_reasons,
    states,
    texts_of,
    warehouse_resource,
)
from conftest import MakeSimulator
from dagster._core.test_utils import create_run_for_test

from smspresto_pipeline.campaigns import Campaign, build_campaign_defs
from smspresto_pipeline.campaigns.definitions import CampaignQueryError
from smspresto_pipeline.campaigns.prepare import PreparedMessage, prepare_batch
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.sending import OptOuts, Outbox
from smspresto_pipeline.simulator import Fault, RunningSimulator
from smspresto_pipeline.warehouse import Warehouse


def resources(sim: RunningSimulator, path: Path, **warehouse: Any) -> dict[str, Any]:
    return {
        "smspresto": SMSPrestoResource(
            api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url
        ),
        "warehouse": warehouse_resource(path, **warehouse),
    }


def defs_of(campaign: Campaign, sim: RunningSimulator, path: Path) -> dg.Definitions:
    return dg.Definitions.merge(
        build_campaign_defs(campaign), dg.Definitions(resources=resources(sim, path))
    )


def evaluate(
    campaign: Campaign,
    sim: RunningSimulator,
    path: Path,
    instance: dg.DagsterInstance,
    **warehouse: Any,
) -> Any:
    sensor = defs_of(campaign, sim, path).resolve_sensor_def(campaign.sensor_name)
    context = dg.build_sensor_context(
        instance=instance, resources={"warehouse": resources(sim, path, **warehouse)["warehouse"]}
    )
    return sensor(context)


def run(
    campaign: Campaign,
    sim: RunningSimulator,
    path: Path,
    instance: dg.DagsterInstance,
    request: dg.RunRequest | None = None,
) -> dg.ExecuteInProcessResult:
    job = defs_of(campaign, sim, path).resolve_job_def(campaign.job_name)
    return job.execute_in_process(
        run_config=request.run_config if request else {},
        instance=instance,
        tags=request.tags if request else None,
        raise_on_error=False,
    )


def prepared_customers(path: Path) -> tuple[PreparedMessage, ...]:
    """The messages the customers campaign renders for the rows of ``main.customers``."""
    with Warehouse(path).connect(read_only=True) as con:
        table = con.sql(CUSTOMERS_SQL).to_arrow_table()
    return prepare_batch(customers_campaign(), table).messages


def test_names_and_default_status() -> None:
    campaign = customers_campaign(minimum_interval_seconds=120)
    bound = dg.Definitions(
        resources={
            "smspresto": SMSPrestoResource(api_key="key", api_pass="pass"),
            "warehouse": WarehouseResource(path="warehouse.duckdb"),
        }
    )
    defs = dg.Definitions.merge(build_campaign_defs(campaign), bound)
    sensor = defs.resolve_sensor_def("reminder_sensor")
    assert sensor.minimum_interval_seconds == 120
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "reminder_send"
    assert defs.resolve_job_def("reminder_send").name == "reminder_send"
    # What stops it and how to resume, readable in the UI's list of sensors.
    description = sensor.description or ""
    assert description.startswith("Requests a run of reminder_send for the new rows")
    assert "smspresto campaigns resume" in description
    assert "smspresto_resume_campaigns" in description
    assert "confirm_volume: true" in description


def test_first_activation_records_a_baseline_and_sends_nothing(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2, 3)
    campaign = customers_campaign()
    skip = evaluate(campaign, sim, path, instance)
    assert isinstance(skip, dg.SkipReason)
    assert "3 rows" in str(skip.skip_message)
    assert "baseline" in str(skip.skip_message)
    assert states(path) == {"c1": "baseline", "c2": "baseline", "c3": "baseline"}
    again = evaluate(campaign, sim, path, instance)
    assert isinstance(again, dg.SkipReason)
    assert again.skip_message == "nothing new to send"
    # A manual launch does not send baseline rows either.
    assert run(campaign, sim, path, instance).success
    assert sim.sends == []


def test_new_rows_are_sent_once(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    campaign = customers_campaign()
    assert isinstance(evaluate(campaign, sim, path, instance), dg.SkipReason)  # baseline
    add_customers(path, 2, 3)
    request = evaluate(campaign, sim, path, instance)
    assert isinstance(request, dg.RunRequest)
    assert sorted(request.run_config["ops"]["reminder_send_batch"]["config"]["dedup_keys"]) == [
        "c2",
        "c3",
    ]
    # The same batch found again gets the same run_key: Dagster requests no second run.
    again = evaluate(campaign, sim, path, instance)
    assert isinstance(again, dg.RunRequest)
    assert again.run_key == request.run_key

    result = run(campaign, sim, path, instance, request)
    assert result.success
    assert sorted(sent_texts(sim)) == [
        "Bonjour Client2, votre colis P2 est arrivé.",
        "Bonjour Client3, votre colis P3 est arrivé.",
    ]
    metadata = output_metadata(result)
    assert metadata["sent"] == 2
    assert metadata["requests"] == 1
    assert metadata["segments_billed"] == 2
    assert metadata["rows_selected"] == 2
    assert "**" in metadata["preview"][0]["recipient"]
    assert states(path) == {"c1": "baseline", "c2": "sent", "c3": "sent"}

    skip = evaluate(campaign, sim, path, instance)
    assert isinstance(skip, dg.SkipReason)
    assert skip.skip_message == "nothing new to send"
    rerun = run(campaign, sim, path, instance, request)
    assert rerun.success
    assert output_metadata(rerun)["sent"] == 0
    assert run(campaign, sim, path, instance).success  # a manual launch
    assert len(sent_texts(sim)) == 2


def users_own_file(tmp_path: Path) -> Path:
    """A DuckDB file made by its user: main.customers with one row, no smspresto schema."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "own.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CREATE_CUSTOMERS)
        con.execute("INSERT INTO main.customers VALUES ('c1', '0708081401', 'Awa', 'P1')")
    return path


def test_the_job_creates_the_schema_in_a_file_that_has_none(
    sim: RunningSimulator, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = users_own_file(tmp_path)
    result = run(customers_campaign(send_on_first_activation=True), sim, path, instance)
    assert result.success, failure_text(result)
    assert sent_texts(sim) == ["Bonjour Awa, votre colis P1 est arrivé."]
    assert states(path) == {"c1": "sent"}


def test_the_sensor_handles_a_file_without_the_schema(
    sim: RunningSimulator, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = users_own_file(tmp_path)
    skip = evaluate(customers_campaign(), sim, path, instance)
    assert isinstance(skip, dg.SkipReason)
    assert "1 row recorded" in str(skip.skip_message)
    assert states(path) == {"c1": "baseline"}
    # Told to send on its first activation, it asks for a run of the row.
    other = users_own_file(tmp_path / "other")
    request = evaluate(customers_campaign(send_on_first_activation=True), sim, other, instance)
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["reminder_send_batch"]["config"]["dedup_keys"] == ["c1"]


def test_opted_out_numbers_are_never_sent(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2, 3)
    OptOuts(Warehouse(path)).add(["0708081402"])
    campaign = customers_campaign(send_on_first_activation=True)
    request = evaluate(campaign, sim, path, instance)
    assert isinstance(request, dg.RunRequest)
    keys = request.run_config["ops"]["reminder_send_batch"]["config"]["dedup_keys"]
    assert sorted(keys) == ["c1", "c3"]
    # A manual launch takes every row, and records the opted-out one as skipped.
    result = run(campaign, sim, path, instance)
    assert result.success
    assert output_metadata(result)["skipped_by_reason"] == {"opted_out": 1}
    assert states(path) == {"c1": "sent", "c2": "skipped", "c3": "sent"}
    assert not any("Client2" in text for text in sent_texts(sim))
    assert len(sent_texts(sim)) == 2


def test_an_opt_out_between_the_tick_and_the_run_is_honoured(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    campaign = customers_campaign(send_on_first_activation=True)
    request = evaluate(campaign, sim, path, instance)
    assert isinstance(request, dg.RunRequest)
    OptOuts(Warehouse(path)).add(["+2250708081402"])
    result = run(campaign, sim, path, instance, request)
    assert result.success
    assert output_metadata(result)["skipped_by_reason"] == {"opted_out": 1}
    assert sent_texts(sim) == ["Bonjour Client1, votre colis P1 est arrivé."]
    assert states(path) == {"c1": "sent", "c2": "skipped"}


def test_max_per_run_caps_the_batch(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2, 3)
    campaign = customers_campaign(send_on_first_activation=True, max_per_run=2)
    request = evaluate(campaign, sim, path, instance)
    assert isinstance(request, dg.RunRequest)
    assert len(request.run_config["ops"]["reminder_send_batch"]["config"]["dedup_keys"]) == 2
    assert run(campaign, sim, path, instance, request).success
    assert len(sent_texts(sim)) == 2
    rest = evaluate(campaign, sim, path, instance)
    assert isinstance(rest, dg.RunRequest)
    assert run(campaign, sim, path, instance, rest).success
    assert len(sent_texts(sim)) == 3


def test_a_locked_file_skips_the_tick(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print(1, flush=True); "
            "time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "1"
        skip = evaluate(customers_campaign(), sim, path, instance, lock_timeout=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(skip, dg.SkipReason)
    assert "locked or busy" in str(skip.skip_message)
    assert states(path) == {}  # no baseline recorded
    assert isinstance(evaluate(customers_campaign(), sim, path, instance), dg.SkipReason)
    assert states(path) == {"c1": "baseline"}


def test_a_sql_error_fails_the_tick_and_the_run_clearly(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    campaign = customers_campaign(sql=CUSTOMERS_SQL.replace("customers", "no_such_table"))
    with pytest.raises(Exception, match="query failed") as raised:
        evaluate(campaign, sim, path, instance)
    assert isinstance(raised.value, CampaignQueryError) or "CampaignQueryError" in repr(
        raised.value
    )
    result = run(campaign, sim, path, instance)
    text = failure_text(result)
    assert "'reminder': its query failed" in text
    assert "no_such_table" in text
    assert sim.sends == []


def test_a_missing_template_column_fails_clearly(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    campaign = customers_campaign(
        sql=CUSTOMERS_SQL.replace(", parcel", ""), send_on_first_activation=True
    )
    result = run(campaign, sim, path, instance)
    assert "'parcel'" in failure_text(result)
    assert sim.sends == []
    assert states(path) == {}


def test_a_dry_run_sends_and_claims_nothing(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    campaign = customers_campaign(send_on_first_activation=True, dry_run=True)
    request = evaluate(campaign, sim, path, instance)
    assert isinstance(request, dg.RunRequest)
    result = run(campaign, sim, path, instance, request)
    assert result.success
    metadata = output_metadata(result)
    assert metadata["would_send"] == 2
    assert metadata["sent"] == 0
    assert metadata["would_bill_segments"] == 2
    assert sim.sends == []
    assert states(path) == {}


def test_short_stock_sends_nothing_and_releases_the_rows(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    campaign = customers_campaign(send_on_first_activation=True)
    with make_simulator(messages_per_day=0, initial_stock=1) as sim:
        request = evaluate(campaign, sim, path, instance)
        assert isinstance(request, dg.RunRequest)
        result = run(campaign, sim, path, instance, request)
        assert "stock is 1" in failure_text(result)
        assert sim.sends == []
    rows = Outbox(Warehouse(path)).rows("pending", campaign="reminder")
    assert sorted(r.dedup_key for r in rows) == ["c1", "c2"]
    assert all(r.run_id is None for r in rows)  # released: the next run adopts them
    with make_simulator(messages_per_day=0) as rich:
        assert run(campaign, rich, path, instance).success
        assert len(sent_texts(rich)) == 2
    assert states(path) == {"c1": "sent", "c2": "sent"}


@pytest.mark.parametrize(
    "by_sensor", [False, True], ids=["launched by hand", "the sensor's run for a new row"]
)
def test_a_number_opted_out_while_its_row_was_released_is_not_texted(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance, by_sensor: bool
) -> None:
    add_customers(path, 1, 2, 3)
    campaign = customers_campaign(send_on_first_activation=True)
    with make_simulator(messages_per_day=0, initial_stock=1) as poor:
        request = evaluate(campaign, poor, path, instance)
        assert isinstance(request, dg.RunRequest)
        assert "Released (pending, no run)" in failure_text(
            run(campaign, poor, path, instance, request)
        )
        assert poor.sends == []
    OptOuts(Warehouse(path)).add(["07 08 08 14 02"], reason="replied STOP")
    with make_simulator(messages_per_day=0) as sim:
        # The next run adopts the released rows: one launched by hand, or the one the sensor
        # requests for a new row.
        adopting = None
        if by_sensor:
            add_customers(path, 4)
            adopting = evaluate(campaign, sim, path, instance)
            assert isinstance(adopting, dg.RunRequest)
            assert keys(adopting) == ["c1", "c2", "c3", "c4"]  # the new row and the released
        result = run(campaign, sim, path, instance, adopting)
        expected = texts_of(1, 3, 4) if by_sensor else texts_of(1, 3)
        assert sorted(sent_texts(sim)) == expected
        assert output_metadata(result)["skipped_by_reason"] == {"opted_out": 1}
        assert skip_reasons(path) == {"c2": "opted_out"}
        assert isinstance(evaluate(campaign, sim, path, instance), dg.SkipReason)
        assert output_metadata(run(campaign, sim, path, instance))["sent"] == 0
        assert sorted(sent_texts(sim)) == expected


def test_an_ambiguous_batch_fails_the_run_and_is_never_resent(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    campaign = customers_campaign(send_on_first_activation=True)
    drop = Fault("drop_after_send", count=1, actions=frozenset({"sendsms"}))
    with make_simulator(messages_per_day=0, faults=(drop,)) as sim:
        request = evaluate(campaign, sim, path, instance)
        assert isinstance(request, dg.RunRequest)
        result = run(campaign, sim, path, instance, request)
        assert "ambiguous" in failure_text(result)
        assert states(path) == {"c1": "ambiguous", "c2": "ambiguous"}
        assert run(campaign, sim, path, instance, request).success
        assert isinstance(evaluate(campaign, sim, path, instance), dg.SkipReason)
        assert len(sent_texts(sim)) == 2  # the one accepted batch, never a second


def test_the_password_is_in_no_event(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    campaign = customers_campaign(send_on_first_activation=True)
    with make_simulator(messages_per_day=0, initial_stock=0) as poor:
        failed = run(campaign, poor, path, instance)
        assert not failed.success
    with make_simulator(messages_per_day=0) as sim:
        ok = run(campaign, sim, path, instance)  # adopts the released row
        assert ok.success
        assert output_metadata(ok)["sent"] == 1
        assert len(sent_texts(sim)) == 1
        password = sim.api_pass
    assert len(password) >= 6
    records = [str(record) for r in (failed, ok) for record in instance.all_logs(r.run_id)]
    assert records
    assert not any(password in record for record in records)
    rows = Outbox(Warehouse(path)).rows(("sent", "pending"), campaign="reminder")
    assert rows
    assert not any(password in str(row) for row in rows)


def test_a_dead_runs_requested_rows_are_quarantined_its_others_sent(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2)
    campaign = customers_campaign(send_on_first_activation=True)
    dead = run(
        customers_campaign(
            sql="select 1 as recipient, 'x' as dedup_key, 'a' as first_name, "
            "'b' as parcel where false"
        ),
        sim,
        path,
        instance,
    )
    assert dead.success  # a finished run of the job, as the instance knows it
    prepared = customers_campaign()
    [first, second] = prepared_customers(path)
    # As if that run had claimed c1 and c2, recorded c1's batch as requested, and died.
    outbox = Outbox(Warehouse(path))
    assert outbox.claim([first, second], run_id=dead.run_id)
    with outbox.transaction() as session:
        assert session.take(prepared.name, ["c1"], run_id=dead.run_id).requested == ("c1",)
    result = run(campaign, sim, path, instance)
    assert result.success
    metadata = output_metadata(result)
    assert (metadata["dead_runs"], metadata["quarantined"]) == (1, 1)
    assert (metadata["released_from_dead_runs"], metadata["sent"]) == (1, 1)
    # c1 may have left: never resent; c2 provably did not: sent by this run.
    assert states(path) == {"c1": "ambiguous", "c2": "sent"}
    assert sent_texts(sim) == ["Bonjour Client2, votre colis P2 est arrivé."]


def test_the_sensor_requests_a_run_for_rows_released_by_a_run_that_stopped(
    make_simulator: MakeSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    """Nothing new in the query, but rows a short stock released: the sensor asks for the run
    that sends them (without it they would wait for the next new row)."""
    add_customers(path, 1, 2)
    campaign = customers_campaign(send_on_first_activation=True)
    with make_simulator(messages_per_day=0, initial_stock=1) as poor:
        assert not run(
            campaign, poor, path, instance, evaluate(campaign, poor, path, instance)
        ).success
    with make_simulator(messages_per_day=0) as sim:
        request = evaluate(campaign, sim, path, instance)
        assert isinstance(request, dg.RunRequest)
        assert keys(request) == ["c1", "c2"]
        assert output_metadata(run(campaign, sim, path, instance, request))["sent"] == 2
        assert sorted(sent_texts(sim)) == texts_of(1, 2)
        skip = evaluate(campaign, sim, path, instance)
        assert isinstance(skip, dg.SkipReason)
    assert states(path) == {"c1": "sent", "c2": "sent"}


def test_the_sensor_settles_a_dead_run_and_names_one_it_waits_on(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1, 2, 3)
    campaign = customers_campaign(send_on_first_activation=True)
    messages = {m.dedup_key: m for m in prepared_customers(path)}
    outbox = Outbox(Warehouse(path))
    # c1: claimed by a run the instance says is still going, which wrote a moment ago.
    live = create_run_for_test(
        instance, job_name=campaign.job_name, status=dg.DagsterRunStatus.STARTED
    )
    outbox.claim([messages["c1"]], run_id=live.run_id)
    # c2 and c3: a run killed after recording c2's batch as requested (its instance was lost).
    outbox.claim([messages["c2"], messages["c3"]], run_id="killed-run")
    with outbox.transaction() as session:
        session.take(campaign.name, ["c2"], run_id="killed-run")

    request = evaluate(campaign, sim, path, instance)

    assert isinstance(request, dg.RunRequest)
    assert keys(request) == ["c3"]  # released: the requested run adopts it
    assert states(path) == {"c1": "pending", "c2": "ambiguous", "c3": "pending"}
    assert run(campaign, sim, path, instance, request).success
    assert sent_texts(sim) == texts_of(3)
    skip = evaluate(campaign, sim, path, instance)
    assert isinstance(skip, dg.SkipReason)
    assert f"1 row pending under send run {live.run_id}" in str(skip.skip_message)
    assert "settled as a dead run if it writes nothing more by" in str(skip.skip_message)
