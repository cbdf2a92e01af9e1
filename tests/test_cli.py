"""The `smspresto` command, run with click's CliRunner against a real simulator over HTTP."""

import csv
import dataclasses
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from conftest import SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_START

from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.api.models import ARCHIVE_FIELDS
from smspresto_pipeline.cli import cli
from smspresto_pipeline.demo import DemoRunError
from smspresto_pipeline.sending import CircuitBreaker, Outbox, record_check_outcome
from smspresto_pipeline.simulator import Fault, RunningSimulator, SendRecord
from smspresto_pipeline.warehouse import Warehouse

SMSPRESTO = Path(sys.executable).parent / "smspresto"

Invoke = Callable[..., Result]


def _env(sim: RunningSimulator | None, **overrides: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "SMSPRESTO_BASE_URL": sim.base_url if sim else None,
        "SMSPRESTO_API_KEY": sim.api_key if sim else None,
        "SMSPRESTO_API_PASS": sim.api_pass if sim else None,
        "COLUMNS": "200",  # no folding of long lines in tables
        "SMSPRESTO_WAREHOUSE_URL": None,  # the tests name their warehouse
    }
    env.update(overrides)
    return env


def installed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``smspresto ARGS``, run to its end in a process of its own."""
    return subprocess.run(
        [str(SMSPRESTO), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    """The warehouse file the commands are pointed at (SMSPRESTO_DUCKDB_PATH); not created."""
    return tmp_path / "warehouse" / "smspresto_warehouse.duckdb"


@pytest.fixture
def invoke(simulator: RunningSimulator, duckdb_path: Path) -> Invoke:
    """Run ``smspresto ARGS`` in-process with the simulator's settings in the environment."""

    def run(*args: str, input: str | None = None, **env: str | None) -> Result:
        env.setdefault("SMSPRESTO_DUCKDB_PATH", str(duckdb_path))
        return CliRunner().invoke(cli, list(args), input=input, env=_env(simulator, **env))

    return run


def _archive_rows(sim: RunningSimulator, first: date, last: date) -> list[dict[str, str | None]]:
    with SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client:
        return [
            {f: None if r.raw.get(f) is None else str(r.raw[f]) for f in ARCHIVE_FIELDS}
            for r in client.iter_archive(first, last)
        ]


# --- counters ----------------------------------------------------------------------------


def test_counters_json_are_the_simulators(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("counters", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown.pop("taken_at")
    assert shown == simulator.counters()


def test_counters_table(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("counters")
    assert result.exit_code == 0, result.output
    counters = simulator.counters()
    assert "SMS in stock" in result.stdout
    assert f"{counters['stock']:,}" in result.stdout
    assert f"{counters['failed']:,}" in result.stdout
    assert "predefined" in result.stdout


# --- send --------------------------------------------------------------------------------


def test_send_with_yes_reaches_the_simulator(simulator: RunningSimulator, invoke: Invoke) -> None:
    stock = simulator.counters()["stock"]
    text = "Bonjour à tous, votre colis est arrivé."
    result = invoke("send", "ONIRIS", text, "07 08 08 14 88", "+2250505050505", "0708081488", "-y")
    assert result.exit_code == 0, result.output
    assert simulator.sends == [
        SendRecord("ONIRIS", [("+2250708081488", text), ("+2250505050505", text)])
    ]
    assert simulator.counters()["stock"] == stock - 2
    assert "+2250708081488, +2250505050505" in result.stdout
    assert "GSM-7" in result.stdout
    assert "2 segments" in result.stdout
    assert "Sent." in result.stdout


def test_send_reads_a_recipients_file(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("# clients\n07 08 08 14 88\n0505050505, 0101020304\n\n", encoding="utf-8")
    result = invoke("send", "Shop", "Promo", "--recipients-file", str(numbers), "--yes")
    assert result.exit_code == 0, result.output
    [send] = simulator.sends
    assert [number for number, _ in send.messages] == [
        "+2250708081488",
        "+2250505050505",
        "+2250101020304",
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1"])
def test_recipients_file_in_the_encodings_spreadsheets_export(
    invoke: Invoke, tmp_path: Path, encoding: str
) -> None:
    numbers = tmp_path / "numbers.txt"
    numbers.write_bytes("07 08 08 14 88 # Aïcha\r\n0505050505; 0101020304\r\n".encode(encoding))
    result = invoke("send", "Shop", "Promo", "--recipients-file", str(numbers), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Recipients            3: +2250708081488, +2250505050505, +2250101020304" in (
        result.stdout
    )


def test_recipients_file_of_unknown_encoding_exits_2(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.txt"
    numbers.write_bytes("0708081488\n".encode("utf-16-le"))  # no BOM
    result = invoke("send", "Shop", "Promo", "--recipients-file", str(numbers), "--yes")
    assert result.exit_code == 2, result.output
    assert "save it as UTF-8" in result.output
    assert simulator.requests == []


def test_send_shows_the_cost_of_a_ucs2_text(simulator: RunningSimulator, invoke: Invoke) -> None:
    text = "Votre reçu est prêt. " * 4  # 84 UTF-16 units: two parts of 67
    result = invoke("send", "Shop", text, "0708081488", "0505050505", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "UCS-2" in result.stdout
    assert "4 segments" in result.stdout
    assert "U+00E7" in result.stdout


def test_dry_run_sends_nothing(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing sent." in result.stdout
    assert simulator.requests == []


def test_dry_run_needs_no_connection_settings() -> None:
    result = CliRunner().invoke(
        cli, ["send", "ONIRIS", "Bonjour", "0708081488", "--dry-run"], env=_env(None)
    )
    assert result.exit_code == 0, result.output


def test_bad_input_exits_2_before_any_request(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("send", "Société Générale", "Bonjour", "0708081488", "abc", "+22508081488")
    assert result.exit_code == 2
    assert "'abc' is not a phone number" in result.stderr
    assert "today it is +2250708081488" in result.stderr
    assert "ASCII letters" in result.stderr
    assert simulator.requests == []


def test_input_is_shown_verbatim_not_as_markup(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("send", "ONIRIS", "Bonjour", "[bold]0708[/bold]", "[red]x")
    assert result.exit_code == 2
    assert "'[bold]0708[/bold]' is not a phone number" in result.stderr
    assert "'[red]x' is not a phone number" in result.stderr


def test_missing_settings_exit_2_before_any_request(simulator: RunningSimulator) -> None:
    result = CliRunner().invoke(
        cli,
        ["send", "ONIRIS", "Bonjour", "0708081488", "--yes"],
        env=_env(simulator, SMSPRESTO_API_PASS=None),
    )
    assert result.exit_code == 2
    assert "SMSPRESTO_API_PASS" in result.output
    assert simulator.requests == []


@dataclasses.dataclass(frozen=True)
class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that records each request's first line and refuses it."""

    url: str
    lines: list[str]


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    """A `RecordingProxy`: what a ``CONNECT`` names is where a client meant to go, and nothing
    leaves this machine."""
    lines: list[str] = []

    class Refuse(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            lines.append(self.rfile.readline().decode("latin-1").strip())
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuse) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield RecordingProxy(f"http://127.0.0.1:{server.server_address[1]}", lines)
        finally:
            server.shutdown()
            thread.join(timeout=10)


def test_counters_with_only_the_key_and_password_call_the_public_api(
    proxy: RecordingProxy,
) -> None:
    """The README's two variables are enough: the base URL defaults to the public API's."""
    no_proxy_settings = {
        name: None
        for name in os.environ
        if name.lower() in {"all_proxy", "http_proxy", "https_proxy", "no_proxy"}
    }
    env = {
        **no_proxy_settings,
        **_env(None, SMSPRESTO_API_KEY="key-1", SMSPRESTO_API_PASS="s3cret-pass"),
        "HTTPS_PROXY": proxy.url,
    }
    result = CliRunner().invoke(cli, ["counters"], env=env)
    # Refused by the proxy (an API error, 1), not a usage error (2) asking for --base-url.
    assert result.exit_code == 1, result.output
    assert "--base-url" not in result.output
    assert proxy.lines[0] == "CONNECT smspresto.com:443 HTTP/1.1"
    assert "s3cret-pass" not in result.output


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_declined_confirmation_sends_nothing(
    simulator: RunningSimulator, invoke: Invoke, answer: str
) -> None:
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", input=answer)
    assert result.exit_code == 1
    assert "Nothing sent." in result.stdout
    assert simulator.requests == []


def test_accepted_confirmation_sends(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", input="y\n")
    assert result.exit_code == 0, result.output
    assert "Send 1 SMS (1 segment)?" in result.stdout
    assert len(simulator.sends) == 1


def test_ambiguous_send_exits_3_and_says_to_check_the_archive(
    simulator: RunningSimulator, invoke: Invoke
) -> None:
    simulator.add_fault(Fault("drop_after_send", actions=frozenset({"sendsms"})))
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", "--yes")
    assert result.exit_code == 3, result.output
    assert "may or may not have been accepted" in result.stderr
    assert "smspresto archive" in result.stderr
    assert "+2250708081488" in result.stderr
    assert len(simulator.sends) == 1  # it did land: resending blindly would double it
    assert [r.action for r in simulator.requests].count("sendsms") == 1


def test_api_refusal_exits_1(simulator: RunningSimulator, invoke: Invoke) -> None:
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", "--yes", SMSPRESTO_API_KEY="nope")
    assert result.exit_code == 1
    assert "SMS Presto error" in result.stderr
    assert simulator.sends == []


# --- opt-outs ----------------------------------------------------------------------------

AMA, KONE, YAO = "+2250708081488", "+2250505050505", "+2250101020304"


def _opt_outs(invoke: Invoke, *more: str) -> list[dict[str, str | None]]:
    result = invoke("opt-out", "list", "--json", *more)
    assert result.exit_code == 0, result.output
    listed: list[dict[str, str | None]] = json.loads(result.stdout)
    return listed


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["remove", "0708081488"]])
def test_opt_out_reading_a_missing_file_says_so_and_creates_nothing(
    invoke: Invoke, duckdb_path: Path, args: list[str]
) -> None:
    result = invoke("opt-out", *args)
    assert result.exit_code == 2, result.output
    assert f"no DuckDB file at {duckdb_path}" in " ".join(result.stderr.split())
    assert result.stdout == ""
    assert not duckdb_path.parent.exists()


def test_opt_out_add_list_remove(invoke: Invoke, duckdb_path: Path) -> None:
    added = invoke("opt-out", "add", "07 08 08 14 88", "0505050505", "--reason", "appel client")
    assert added.exit_code == 0, added.output
    assert f"Opted out (2): {AMA}, {KONE}" in added.stdout
    again = invoke("opt-out", "add", "+2250708081488")
    assert "Already opted out (1): +2250708081488" in again.stdout
    listed = _opt_outs(invoke)
    assert [(o["recipient"], o["reason"], o["source"]) for o in listed] == [
        (KONE, "appel client", "cli"),  # added together: by number
        (AMA, "appel client", "cli"),
    ]
    table = invoke("opt-out", "list")
    assert "2 opted-out numbers" in table.stdout
    assert "appel client" in table.stdout
    removed = invoke("opt-out", "remove", "0708081488", "0101020304")
    assert removed.exit_code == 0, removed.output
    assert f"Removed (1): {AMA}" in removed.stdout
    assert f"Were not opted out (1): {YAO}" in removed.stdout
    assert [o["recipient"] for o in _opt_outs(invoke)] == [KONE]


def test_opt_out_add_refuses_invalid_numbers(invoke: Invoke, duckdb_path: Path) -> None:
    result = invoke("opt-out", "add", "0708081488", "abc", "12")
    assert result.exit_code == 2
    assert "'abc' is not a phone number" in result.stderr
    assert "'12' is not a valid number for CI" in result.stderr
    assert not duckdb_path.exists()  # nothing added, not even the valid number


def test_opt_out_duckdb_option_beats_the_environment(
    invoke: Invoke, tmp_path: Path, duckdb_path: Path
) -> None:
    other = tmp_path / "other.duckdb"
    assert invoke("opt-out", "add", "0708081488", "--duckdb", str(other)).exit_code == 0
    assert other.exists()
    assert not duckdb_path.exists()
    assert [o["recipient"] for o in _opt_outs(invoke, "--duckdb", str(other))] == [AMA]


DB_PASSWORD = "pg+S3cret/word&42"


def refused_warehouse_url() -> str:
    """A PostgreSQL URL with a password, on a local port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://sms:{quote(DB_PASSWORD, safe='')}@127.0.0.1:{port}/warehouse"


def test_the_warehouse_option_takes_a_url_or_a_path(
    invoke: Invoke, tmp_path: Path, duckdb_path: Path
) -> None:
    other = tmp_path / "other.duckdb"
    assert (
        invoke("opt-out", "add", "0708081488", "--warehouse", f"duckdb:///{other}").exit_code == 0
    )
    assert not duckdb_path.exists()
    assert [o["recipient"] for o in _opt_outs(invoke, "--warehouse", str(other))] == [AMA]
    assert [o["recipient"] for o in _opt_outs(invoke, "--duckdb", str(other))] == [AMA]


def test_the_warehouse_is_one_option_not_both(invoke: Invoke, duckdb_path: Path) -> None:
    result = invoke("opt-out", "list", "--warehouse", str(duckdb_path), "--duckdb", "x.duckdb")
    assert result.exit_code == 2, result.output
    assert "give the warehouse as --warehouse or --duckdb, not both" in result.stderr
    assert not duckdb_path.parent.exists()


def test_a_blank_warehouse_option_is_refused(invoke: Invoke, duckdb_path: Path) -> None:
    result = invoke("opt-out", "add", "0708081488", "--warehouse", " ")
    assert result.exit_code == 2, result.output
    assert "a warehouse must be a DuckDB file's path or a postgresql:// URL" in result.stderr
    assert not duckdb_path.parent.exists()


def test_the_warehouse_url_variable_beats_the_file_and_an_option_beats_both(
    invoke: Invoke, tmp_path: Path, duckdb_path: Path
) -> None:
    by_url, by_option = tmp_path / "by-url.duckdb", tmp_path / "by-option.duckdb"
    url = f"duckdb:///{by_url}"
    assert invoke("opt-out", "add", "0708081488", SMSPRESTO_WAREHOUSE_URL=url).exit_code == 0
    assert by_url.exists()
    assert not duckdb_path.exists(), "SMSPRESTO_WAREHOUSE_URL wins over SMSPRESTO_DUCKDB_PATH"
    added = invoke(
        "opt-out", "add", "0505050505", "--duckdb", str(by_option), SMSPRESTO_WAREHOUSE_URL=url
    )
    assert added.exit_code == 0, added.output
    assert [o["recipient"] for o in _opt_outs(invoke, "--duckdb", str(by_option))] == [
        "+2250505050505"
    ]
    assert [o["recipient"] for o in _opt_outs(invoke, "--duckdb", str(by_url))] == [AMA]


@pytest.mark.parametrize(
    "args",
    [
        ["opt-out", "list"],
        ["opt-out", "add", "0708081488"],
        ["campaigns", "status"],
        ["campaigns", "pause", "--reason", "x"],
        ["send", "ONIRIS", "Bonjour", "0708081488", "-y"],
    ],
)
@pytest.mark.parametrize("given", ["option", "variable"])
def test_a_refused_warehouse_url_is_shown_without_its_password(
    invoke: Invoke, simulator: RunningSimulator, args: list[str], given: str
) -> None:
    url = refused_warehouse_url()
    if given == "option":
        result = invoke(*args, "--warehouse", url)
    else:
        result = invoke(*args, SMSPRESTO_WAREHOUSE_URL=url)
    assert result.exit_code == 1, result.output
    assert f"Cannot use {url.split(':', 2)[0]}://sms:***@127.0.0.1:" in " ".join(
        result.stderr.split()
    )
    for secret in (DB_PASSWORD, quote(DB_PASSWORD, safe="")):
        assert secret not in result.output
    assert simulator.sends == [], "nothing is sent while the opt-outs cannot be read"


@pytest.mark.parametrize("given", ["option", "variable"])
def test_a_malformed_warehouse_url_names_its_source_redacted(invoke: Invoke, given: str) -> None:
    url = f"postgresql://sms:{quote(DB_PASSWORD, safe='')}@db.example:port/warehouse"
    if given == "option":
        result = invoke("opt-out", "list", "--warehouse", url)
    else:
        result = invoke("opt-out", "list", SMSPRESTO_WAREHOUSE_URL=url)
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert ("'--warehouse'" if given == "option" else "SMSPRESTO_WAREHOUSE_URL") in said
    assert "the URL's port is not a number: postgresql://sms:***@db.example:port/warehouse" in said
    for secret in (DB_PASSWORD, quote(DB_PASSWORD, safe="")):
        assert secret not in result.output


@pytest.mark.parametrize(
    "command", [["opt-out", "list"], ["send"], ["campaigns", "status"], ["campaigns", "resume"]]
)
def test_help_offers_the_warehouse_option_without_the_variables_value(
    invoke: Invoke, command: list[str]
) -> None:
    url = refused_warehouse_url()
    result = invoke(*command, "--help", SMSPRESTO_WAREHOUSE_URL=url)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "--warehouse TARGET" in text
    assert "env var: SMSPRESTO_WAREHOUSE_URL" in text
    assert "postgresql://user:password@host:5432/dbname" in text
    assert "--duckdb" in text
    for secret in (DB_PASSWORD, quote(DB_PASSWORD, safe=""), url):
        assert secret not in text


def test_opt_out_import_of_stop_replies(invoke: Invoke, tmp_path: Path) -> None:
    replies = tmp_path / "replies.csv"
    replies.write_text(
        "\ufeffNuméro;Message;Reçu\n"
        "07 08 08 14 88;Arrêt;2025-03-05 10:00\n"
        "\n"
        "0505050505;stop sms;2025-03-05 10:01\n"
        "0101020304;Merci beaucoup;2025-03-05 10:02\n"
        "12345;STOP;2025-03-05 10:03\n",
        encoding="utf-8",
    )
    result = invoke("opt-out", "import", str(replies))
    assert result.exit_code == 0, result.output
    assert "Added 2, already opted out 0, invalid 1, other replies 1." in result.stdout
    assert "line 6: '12345'" in result.stdout
    listed = _opt_outs(invoke)
    assert [(o["recipient"], o["source"]) for o in listed] == [
        (KONE, "reply-import"),
        (AMA, "reply-import"),
    ]
    again = invoke("opt-out", "import", str(replies))
    assert "Added 0, already opted out 2" in again.stdout


def test_opt_out_import_without_a_phone_column_exits_2(invoke: Invoke, tmp_path: Path) -> None:
    replies = tmp_path / "replies.csv"
    replies.write_text("who,message\n0708081488,STOP\n", encoding="utf-8")
    result = invoke("opt-out", "import", str(replies))
    assert result.exit_code == 2
    assert "no phone number column" in result.output
    fixed = invoke("opt-out", "import", str(replies), "--phone-column", "who")
    assert "Added 1" in fixed.stdout


def test_send_leaves_opted_out_numbers_out(simulator: RunningSimulator, invoke: Invoke) -> None:
    invoke("opt-out", "add", "0708081488")
    result = invoke("send", "ONIRIS", "Bonjour", "07 08 08 14 88", "0505050505", "-y")
    assert result.exit_code == 0, result.output
    assert "Dropped 1 opted-out recipient: +2250708081488" in result.stdout
    assert "Recipients            1: +2250505050505" in result.stdout
    assert simulator.sends == [SendRecord("ONIRIS", [(KONE, "Bonjour")])]


def test_send_to_opted_out_numbers_only_sends_nothing(
    simulator: RunningSimulator, invoke: Invoke
) -> None:
    invoke("opt-out", "add", "0708081488", "0505050505")
    for extra in ("-y", "--dry-run"):
        result = invoke("send", "ONIRIS", "Bonjour", "0708081488", "+2250505050505", extra)
        assert result.exit_code == 2, result.output
        assert "Dropped 2 opted-out recipients" in result.stdout
        assert "Every recipient has opted out: nothing sent." in result.stderr
    assert simulator.requests == []


def test_send_without_a_warehouse_file_drops_nothing_and_creates_nothing(
    simulator: RunningSimulator, invoke: Invoke, duckdb_path: Path
) -> None:
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", "-y")
    assert result.exit_code == 0, result.output
    assert "Dropped" not in result.stdout
    assert len(simulator.sends) == 1
    assert not duckdb_path.exists()
    helped = invoke("send", "--help")
    assert "SMSPRESTO_DUCKDB_PATH" in helped.stdout
    assert "does not exist holds none" in " ".join(helped.stdout.split())


def test_send_with_an_unreadable_warehouse_file_sends_nothing(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.duckdb"
    broken.write_text("not a database", encoding="utf-8")
    result = invoke("send", "ONIRIS", "Bonjour", "0708081488", "-y", "--duckdb", str(broken))
    assert result.exit_code == 1
    assert "Cannot use" in result.stderr
    assert simulator.requests == []


def test_installed_command_honours_opt_outs(simulator: RunningSimulator, tmp_path: Path) -> None:
    env = {**os.environ, "SMSPRESTO_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "COLUMNS": "200"}
    env.update({k: v for k, v in _env(simulator).items() if v is not None})
    for args in (
        ["opt-out", "add", "0708081488"],
        ["send", "ONIRIS", "Bonjour", "0708081488", "0505050505", "--yes"],
    ):
        sent = installed(*args, env=env)
        assert sent.returncode == 0, sent.stderr
    assert "Dropped 1 opted-out recipient" in sent.stdout
    assert simulator.sends == [SendRecord("ONIRIS", [(KONE, "Bonjour")])]


# --- the password ------------------------------------------------------------------------


def test_the_password_never_shows(simulator: RunningSimulator, invoke: Invoke) -> None:
    secret = "Tr3s-S3cret-pass"
    outputs = [
        invoke("counters", SMSPRESTO_API_PASS=secret),
        invoke("counters", "--api-pass", secret),
        invoke("send", "ONIRIS", "Bonjour", "0708081488", "-y", SMSPRESTO_API_PASS=secret),
        invoke("counters", "--help", SMSPRESTO_API_PASS=secret),
        invoke("send", "--help", SMSPRESTO_API_PASS=secret),
        invoke("archive", "--help", SMSPRESTO_API_PASS=secret),
    ]
    assert [r.exit_code for r in outputs] == [1, 1, 1, 0, 0, 0]
    assert "Invalid password" in outputs[0].stderr
    for result in outputs:
        assert secret not in result.output
    assert simulator.api_pass not in invoke("counters", "--help").output


# --- archive -----------------------------------------------------------------------------


def _archive_args(output: Path, *more: str) -> list[str]:
    return [
        "archive",
        "--from",
        SIMULATOR_HISTORY_START.isoformat(),
        "--to",
        SIMULATOR_HISTORY_END.isoformat(),
        "--output",
        str(output),
        "--page-size",
        "7",
        *more,
    ]


def test_archive_to_csv_round_trips_the_rows(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path
) -> None:
    output = tmp_path / "history.csv"
    result = invoke(*_archive_args(output))
    assert result.exit_code == 0, result.output
    with output.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == ARCHIVE_FIELDS
        rows = list(reader)
    expected = _archive_rows(simulator, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)
    assert len(rows) == simulator.message_count(SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)
    assert rows == [{k: v or "" for k, v in row.items()} for row in expected]
    assert any("é" in row["HIS_MESSAGE"] or "à" in row["HIS_MESSAGE"] for row in rows)
    assert f"Wrote {len(rows):,} rows of 5 days" in result.stdout


@pytest.mark.parametrize("name", ["history.parquet", "history.data"])
def test_archive_to_parquet_round_trips_the_rows(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path, name: str
) -> None:
    output = tmp_path / name
    result = invoke(*_archive_args(output, "--format", "parquet"))
    assert result.exit_code == 0, result.output
    table = pq.read_table(output)
    assert tuple(table.column_names) == ARCHIVE_FIELDS
    assert table.to_pylist() == _archive_rows(
        simulator, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END
    )
    assert table.num_rows == simulator.message_count(SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)


def test_archive_of_an_empty_range_writes_an_empty_file(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path
) -> None:
    output = tmp_path / "empty.parquet"
    result = invoke("archive", "--from", "2020-01-01", "--to", "2020-01-02", "-o", str(output))
    assert result.exit_code == 0, result.output
    table = pq.read_table(output)
    assert table.num_rows == 0
    assert tuple(table.column_names) == ARCHIVE_FIELDS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-03-10", "--to", "2025-03-06", "-o", "x.csv"], "is after"),
        (["--from", "2025-03-06", "--to", "2025-03-06", "-o", "x.txt"], "cannot tell the format"),
        (["--from", "06/03/2025", "--to", "2025-03-06", "-o", "x.csv"], "06/03/2025"),
    ],
)
def test_archive_bad_arguments_exit_2(
    simulator: RunningSimulator, invoke: Invoke, args: list[str], message: str
) -> None:
    result = invoke("archive", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert simulator.requests == []


def test_archive_failure_leaves_no_file(
    simulator: RunningSimulator, invoke: Invoke, tmp_path: Path
) -> None:
    output = tmp_path / "history.csv"
    result = invoke(*_archive_args(output), SMSPRESTO_API_KEY="wrong-key")
    assert result.exit_code == 1
    assert not output.exists()
    assert list(tmp_path.glob("history.csv*")) == []


# --- segments ----------------------------------------------------------------------------


def test_segments_names_the_characters_forcing_ucs2() -> None:
    result = CliRunner().invoke(cli, ["segments", "Votre reçu 😀"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "UCS-2" in result.stdout
    assert "'ç' (U+00E7)" in result.stdout
    assert "U+1F600" in result.stdout
    assert "13 UTF-16 units" in result.stdout


def test_segments_reads_stdin_and_prints_json() -> None:
    result = CliRunner().invoke(cli, ["segments", "--json"], input="a" * 161 + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "encoding": "GSM-7",
        "length": 161,
        "segments": 2,
        "per_segment": 153,
        "characters_left_in_last_segment": 145,
        "non_gsm_chars": [],
    }


# --- the installed command ---------------------------------------------------------------


def test_console_script_runs() -> None:
    done = installed("segments", "--json", "Prix: 5€")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["length"] == 9
    helped = installed("--help")
    assert helped.returncode == 0
    for command in ("simulate", "counters", "send", "archive", "segments", "demo"):
        assert command in helped.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``smspresto simulate`` in a subprocess on a free port; yields it and its base URL."""
    process = subprocess.Popen(
        [
            str(SMSPRESTO),
            "simulate",
            "--port",
            "0",
            "--db",
            str(tmp_path / "sim" / "state.sqlite3"),
            "--days",
            "2",
            "--messages-per-day",
            "5",
            "--fault",
            "slow:1:delay=0",
            "--spike",
            "2025-03-10:carrier:MTN:4",
            "--spike-period",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        base_url = ""
        for line in process.stdout:
            if "export SMSPRESTO_BASE_URL=" in line:
                base_url = line.split("=", 1)[1].strip()
                break
        assert base_url, process.stderr.read() if process.stderr else ""
        yield process, base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_simulate_serves_until_terminated(
    served: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    process, base_url = served
    result = CliRunner().invoke(
        cli,
        ["counters", "--json"],
        env={
            "SMSPRESTO_BASE_URL": base_url,
            "SMSPRESTO_API_KEY": "demo-key",
            "SMSPRESTO_API_PASS": "demo-pass",
        },
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stock"] > 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert (tmp_path / "sim" / "state.sqlite3").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "explode"], "unknown fault kind"),
        (["--days", "3", "--history-start", "2025-01-01"], "not both"),
        (["--paging", "pages"], "pages"),
        (["--spike", "2025-03-10:country:CI:2"], "spike segment must be"),
        (["--spike", "2025-03-10"], "DAY:SEGMENT:FACTOR"),
    ],
)
def test_simulate_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "never.sqlite3"
    result = CliRunner().invoke(cli, ["simulate", "--db", str(db), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not db.exists()


# The demo itself runs end to end in tests/e2e (the `demo_twice` fixture); here, the command.
def test_demo_runs_the_demo_with_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr("smspresto_pipeline.demo.run_demo", lambda **kw: calls.append(kw))
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(
        cli, ["demo", "--data-dir", str(data_dir), "--days=2", "--messages-per-day=10"]
    )
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert (call["data_dir"], call["days"], call["messages_per_day"]) == (data_dir, 2, 10)


def test_demo_whose_run_failed_exits_1_with_the_runs_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(**_: object) -> None:
        raise DemoRunError("run 1234 of account_snapshot_job ended FAILURE; its errors: [boom]")

    monkeypatch.setattr("smspresto_pipeline.demo.run_demo", fail)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1
    assert "The demo stopped: run 1234 of account_snapshot_job ended FAILURE" in result.output
    assert "[boom]" in result.output
    assert "Traceback" not in result.output


# --- campaigns: the circuit breaker ------------------------------------------------------


@pytest.fixture
def campaigns_cli(duckdb_path: Path) -> Invoke:
    """Run ``smspresto campaigns ARGS`` in-process against ``duckdb_path`` (no API needed)."""

    def run(*args: str, **env: str | None) -> Result:
        env.setdefault("SMSPRESTO_DUCKDB_PATH", str(duckdb_path))
        return CliRunner().invoke(cli, ["campaigns", *args], env=_env(None, **env))

    return run


def _breaker_json(campaigns_cli: Invoke) -> dict[str, Any]:
    result = campaigns_cli("status", "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["resume", "--reason", "x"],
        ["pause", "--reason", "x"],
    ],
)
def test_campaigns_on_a_missing_file_say_so_and_create_nothing(
    campaigns_cli: Invoke, duckdb_path: Path, args: list[str]
) -> None:
    """A mistyped path is not a warehouse whose campaigns run: said, exit 2, nothing made."""
    result = campaigns_cli(*args)
    assert result.exit_code == 2, result.output
    assert f"no DuckDB file at {duckdb_path}" in " ".join(result.stderr.split())
    assert "running" not in result.output
    assert "paused" not in result.stdout
    assert not duckdb_path.parent.exists()


def test_campaigns_pause_status_resume(campaigns_cli: Invoke, duckdb_path: Path) -> None:
    record_check_outcome(
        Warehouse(duckdb_path),
        check_name="archive_messages_failure_spike",
        partition="2025-03-06",
        severity="ERROR",
        reason="carrier:MTN failures jumped from 3% to 21% on 2025-03-06",
    )
    paused = campaigns_cli("pause", "--reason", "panne MTN annoncée", "--by", "ama")
    assert paused.exit_code == 0, paused.output
    assert "Campaigns paused: " in paused.stdout
    assert "panne MTN annoncée (cli:ama)" in paused.stdout

    status = campaigns_cli("status")
    assert status.exit_code == 0, status.output
    assert "Campaigns are paused by ama (manual pause): panne MTN annoncée, since " in status.stdout
    assert "(and 1 more active trip)" in status.stdout
    assert "circuit breaker" not in status.stdout.splitlines()[0]
    assert "smspresto campaigns resume" in status.stdout
    assert "carrier:MTN failures jumped from 3% to 21% on 2025-03-06" in status.stdout
    assert "check:archive_messages_failure_spike" in status.stdout
    document = _breaker_json(campaigns_cli)
    assert document["paused"] is True
    assert [(t["source"], t["partition_key"]) for t in document["active"]] == [
        ("cli:ama", None),
        ("check:archive_messages_failure_spike", "2025-03-06"),
    ]

    resumed = campaigns_cli("resume", "--reason", "MTN a rétabli le service", "--by", "kofi")
    assert resumed.exit_code == 0, resumed.output
    assert "Resumed the campaigns (2 trips ended):" in resumed.stdout
    document = _breaker_json(campaigns_cli)
    assert document["paused"] is False
    assert document["active"] == []
    assert {(t["resumed_by"], t["resume_reason"]) for t in document["history"]} == {
        ("cli:kofi", "MTN a rétabli le service")
    }
    assert "MTN a rétabli le service" in campaigns_cli("status").stdout
    again = campaigns_cli("resume", "--reason", "encore")
    assert again.exit_code == 0
    assert "Campaigns were not paused: nothing to resume." in again.stdout


def test_campaigns_status_of_a_spike_names_the_circuit_breaker(
    campaigns_cli: Invoke, duckdb_path: Path
) -> None:
    record_check_outcome(
        Warehouse(duckdb_path),
        check_name="failure_rate_spike",
        partition="2025-03-06",
        severity="ERROR",
        reason="carrier:MTN failures jumped from 3% to 21% on 2025-03-06",
    )
    status = campaigns_cli("status")
    assert status.exit_code == 0, status.output
    headline = status.stdout.splitlines()[0]
    assert headline.startswith("Campaigns are paused by the circuit breaker since ")
    assert "manual pause" not in headline
    assert "until the check passes again for 2025-03-06 or a person resumes them" in headline


def test_campaigns_status_names_a_surge_held_for_confirmation(
    campaigns_cli: Invoke, duckdb_path: Path
) -> None:
    warehouse = Warehouse(duckdb_path)
    warehouse.ensure_schema()
    Outbox(warehouse).hold_surge(
        "promo",
        found_rows=480,
        threshold=60,
        resolve="launch the job promo_send with the run config '...'",
        now=datetime(2025, 3, 6, 9, 30),
    )
    status = campaigns_cli("status")
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert lines[0].startswith("Campaigns are running")
    assert " ".join(lines[1:3]).startswith(
        "Campaign 'promo' holds a surge of 480 new rows (threshold 60) for confirmation since "
        "2025-03-06 09:30: launch the job promo_send"
    )
    [surge] = _breaker_json(campaigns_cli)["held_surges"]
    assert (surge["campaign"], surge["held_at"]) == ("promo", "2025-03-06T09:30:00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resume"], "Missing option '--reason'"),
        (["resume", "--reason", " "], "--reason: must not be blank"),
        (["pause", "--reason", "x", "--by", ""], "--by: must not be blank"),
    ],
)
def test_campaigns_resume_and_pause_want_who_and_why(
    campaigns_cli: Invoke, duckdb_path: Path, args: list[str], message: str
) -> None:
    result = campaigns_cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not duckdb_path.exists()


def test_campaigns_with_an_unreadable_warehouse_file_exit_1(
    campaigns_cli: Invoke, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.duckdb"
    broken.write_text("not a database", encoding="utf-8")
    for args in (["status"], ["resume", "--reason", "x"]):
        result = campaigns_cli(*args, "--duckdb", str(broken))
        assert result.exit_code == 1, result.output
        assert "Cannot use" in result.stderr


@pytest.mark.parametrize(
    "args", [["campaigns", "status"], ["opt-out", "list"]], ids=lambda a: " ".join(a)
)
def test_a_warehouse_file_whose_statements_fail_exits_1(tmp_path: Path, args: list[str]) -> None:
    """A DuckDB file without the schema opens, and a reading command creates nothing in it: the
    statement fails, and that is said like a file that cannot be opened."""
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    result = CliRunner().invoke(cli, [*args, "--duckdb", str(empty)], env=_env(None))
    assert result.exit_code == 1, result.output
    assert f"Cannot use {empty}:" in " ".join(result.stderr.split())
    assert "smspresto" in result.stderr, "the engine's message says what is missing"


def test_installed_command_resumes_what_a_check_tripped(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    record_check_outcome(
        Warehouse(path), check_name="spike", partition="2025-03-06", severity="ERROR", reason="x"
    )
    env = {**os.environ, "SMSPRESTO_DUCKDB_PATH": str(path), "COLUMNS": "200"}
    resumed = installed("campaigns", "resume", "--reason", "false alarm", "--by", "kofi", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed the campaigns (1 trip ended):" in resumed.stdout
    [trip] = CircuitBreaker(Warehouse(path)).history()
    assert (trip.resumed_by, trip.resume_reason) == ("cli:kofi", "false alarm")
