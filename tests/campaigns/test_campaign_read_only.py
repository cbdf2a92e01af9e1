"""A campaign's query reads the warehouse's tables and nothing else, and a warehouse that cannot
be used is told apart from one that is locked: real sensor evaluations and real runs.

The simulator's record of sends is the witness that nothing was sent; the outbox, the files
around the warehouse and its ``main.customers`` table show that nothing else happened either.
"""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from campaign_fixtures import (
    CUSTOMERS_SQL,
    Harness,
    add_customers,
    customer_ids,
    customers_campaign,
    customers_file,
    failure_text,
    sent_texts,
    states,
    texts_of,
)
from conftest import LockHolder

from smspresto_pipeline.campaigns.definitions import CampaignQueryError
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import WarehouseOpenError, WarehousePathError

COLUMNS = "phone as recipient, id as dedup_key, first_name, parcel"


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        # The file exists and holds what the campaign needs: only the restriction keeps it out.
        (
            "select * from read_csv('{tmp}/customers.csv', all_varchar = true)",
            'Cannot access file "{tmp}/customers.csv"',
        ),
        (
            "select content as recipient, 'k' as dedup_key, 'a' as first_name, 'b' as parcel "
            "from read_text('/etc/hostname')",
            'Cannot access file "/etc/hostname"',
        ),
        (f"copy (select {COLUMNS} from main.customers) to '{{tmp}}/out.csv'", "of type COPY"),
        ("attach '{tmp}/other.duckdb' as other", "of type ATTACH"),
        (f"{CUSTOMERS_SQL}; delete from main.customers", "holds 2 statements"),
        ("install httpfs", "of type LOAD"),
        ("load httpfs", "of type LOAD"),
        ("set memory_limit = '10GB'", "of type SET"),
    ],
)
def test_a_query_reaching_past_the_warehouse_is_refused_and_sends_nothing(
    sim: RunningSimulator,
    path: Path,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    sql: str,
    refused: str,
) -> None:
    add_customers(path, 1, 2)
    (tmp_path / "customers.csv").write_text(
        "recipient,dedup_key,first_name,parcel\n0708081409,k9,Intrus,P9\n"
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    harness = Harness(
        customers_campaign(sql=sql.format(tmp=tmp_path), send_on_first_activation=True),
        sim,
        path,
        instance,
    )
    said = "campaign 'reminder': its query was refused, nothing was sent: "
    with pytest.raises(CampaignQueryError, match=said) as raised:
        harness.evaluate()
    assert refused.format(tmp=tmp_path) in str(raised.value)
    run = failure_text(harness.run())
    assert said in run
    assert refused.format(tmp=tmp_path) in run
    assert sim.sends == []
    assert states(path) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no file written, no database
    assert customer_ids(path) == ["c1", "c2"]


def test_a_query_reading_the_users_tables_and_the_schema_sends(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    """One SELECT over ``main.customers`` and ``smspresto.opt_outs``: sent as before."""
    add_customers(path, 1, 2)
    sql = (
        f"with stopped as (select recipient from smspresto.opt_outs) select {COLUMNS} "
        "from main.customers where phone not in (select recipient from stopped);"
    )
    harness = Harness(
        customers_campaign(sql=sql, send_on_first_activation=True), sim, path, instance
    )
    assert harness.run(harness.request()).success
    assert sorted(sent_texts(sim)) == texts_of(1, 2)


def _directory(path: Path) -> None:
    path.mkdir(parents=True)


def _not_duckdb(path: Path) -> None:
    path.parent.mkdir()
    path.write_text("id,phone\n1,0708081401\n")


def _under_a_file(path: Path) -> None:
    path.parent.write_text("")


def _truncated(path: Path) -> None:
    whole = customers_file(path.parent.parent / "whole.duckdb")
    path.parent.mkdir()
    path.write_bytes(whole.read_bytes()[:5000])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_directory, ["{path} is a directory, not a DuckDB file"]),
        (_not_duckdb, ["{path} exists and is not a DuckDB database"]),
        (_under_a_file, ["{path} cannot be created: {parent} is not a directory"]),
        (_truncated, ["DuckDB cannot open {path}", "IO Error: Could not read enough bytes"]),
    ],
)
def test_a_warehouse_that_cannot_be_opened_fails_the_tick_and_the_run_clearly(
    sim: RunningSimulator,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    make: Callable[[Path], object],
    reason: list[str],
) -> None:
    """Not a lock: no quiet skip, but a failed tick and a failed run that say what is wrong."""
    path = tmp_path / "data" / "warehouse.duckdb"
    make(path)
    said = [part.format(path=path, parent=path.parent) for part in reason]
    harness = Harness(customers_campaign(send_on_first_activation=True), sim, path, instance)
    with pytest.raises((WarehousePathError, WarehouseOpenError)) as raised:
        harness.evaluate()
    assert all(part in str(raised.value) for part in said), raised.value
    run = failure_text(harness.run())
    assert run.startswith("campaign 'reminder': the warehouse cannot be used: "), run
    assert all(part in run for part in said), run
    assert sim.sends == []


def test_a_locked_warehouse_skips_the_tick_and_fails_the_run_clearly(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    add_customers(path, 1)
    harness = Harness(
        customers_campaign(send_on_first_activation=True),
        sim,
        path,
        instance,
        warehouse={"lock_timeout": 0.2},
    )
    with LockHolder(path):
        skip = harness.skip()
        run = failure_text(harness.run())
    assert f"the warehouse {path} is locked or busy" in skip
    assert f"campaign 'reminder': the warehouse cannot be used: {path} stayed locked by" in run
    assert sim.sends == []
    assert states(path) == {}
