"""What the copy's tests share: rows for the tables ingestion leaves empty, every table of a
DuckDB file read from its catalog, the command itself, a URL with a password."""

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
from click.testing import CliRunner, Result

from smspresto_pipeline.cli import cli

PASSWORD = "s3cret-Pw"
T = datetime(2025, 3, 7, 9, 15, 42, 123456)  # microseconds: a timestamp must come back exact

# Rows for the tables that ingestion does not fill, with NULLs, empty strings and accents. The
# campaign names are the test's own (the demo's warehouse has its own campaign's rows).
FILL = [
    "INSERT INTO smspresto.opt_outs VALUES ('+2250707000001', NULL, 'cli', $t), "
    "('+2250707000002', 'STOP reçu', '', $t)",
    "INSERT INTO smspresto.campaign_activations VALUES ('copy_promo', $t, 3, 'sensor:promo')",
    "INSERT INTO smspresto.campaign_surges VALUES "
    "('copy_promo', 'run-1', $t, 120, 100, 'keep', 20)",
    "INSERT INTO smspresto.campaign_surges_held VALUES "
    "('copy_promo', $t, 120, 100, 'launch the job promo_send « ok »', NULL), "
    "('copy_promo', '2025-03-06 08:00:00', 90, 60, 'x', $t)",
    "INSERT INTO smspresto.campaign_pauses VALUES "
    "('check:spike', '2025-03-07', 'MTN fails', $t, $t, 'cli:ops', 'fixed'), "
    "('cli:ops', NULL, 'by hand', $t, NULL, NULL, NULL)",
    "INSERT INTO smspresto.alert_deliveries VALUES "
    "('sms', 'breaker-trip:check:spike', 'breaker-trip', 'Disjoncteur é', 'long', 'delivered',"
    " '+2250707000001: sent', $t, $t, $t), "
    "('webhook', 'run-failed:r1', 'run-failed', 'x', '', 'waiting', NULL, $t, NULL, NULL)",
    "INSERT INTO smspresto.intraday_reads VALUES "
    "('default', '2025-03-07', 1200, 1150, 'count', $t, 4, $t), "
    "('brand_b', '2025-03-07', 0, 0, 'unknown', $t, 1, $t)",
    "INSERT INTO smspresto.outbox VALUES "
    "('copy_promo', 'k1', '+2250707000003', 'SHOP', 'Bonjour é', 1, 'GSM-7', 'sent', NULL, 0,"
    " 'ok', 'run-1', $t, $t, $t, $t), "
    "('copy_promo', 'k2', '+2250707000004', 'SHOP', '', 1, 'GSM-7', 'skipped', 'opted_out',"
    " NULL, NULL, NULL, $t, $t, NULL, NULL), "
    "('copy_promo', 'k3', '+2250707000005', 'SHOP', 'x', 2, 'UCS-2', 'ambiguous', NULL, NULL,"
    " NULL, 'run-2', $t, $t, NULL, $t), "
    "('copy_promo', 'k4', '+2250707000006', 'SHOP', 'x', 1, 'GSM-7', 'held', NULL, NULL, NULL,"
    " 'run-2', $t, $t, NULL, NULL)",
]


def fill_tables(path: Path) -> None:
    """Add rows to every table that ingestion leaves empty (the schema exists)."""
    with duckdb.connect(str(path)) as con:
        for statement in FILL:
            con.execute(statement, {"t": T})


def tables(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table of the file's schema (from its catalog, not from the code under test): its
    columns and all its rows, sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'smspresto'"
            ).fetchall()
        ]
        found = {}
        for name in names:
            cursor = con.execute(f'SELECT * FROM smspresto."{name}"')  # a name of the catalog
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
            found[name] = (
                columns,
                sorted(rows, key=lambda row: [(v is None, str(v)) for v in row]),
            )
    return found


def copy(*args: str) -> Result:
    return CliRunner().invoke(cli, ["warehouse", "copy", *args], env={"COLUMNS": "200"})


def with_password(url: str) -> str:
    """``url`` with a password (the test server trusts its local connections: it is ignored)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{host}"))
