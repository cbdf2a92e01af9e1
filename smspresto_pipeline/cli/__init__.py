"""The ``smspresto`` command: run the simulator, read counters, send, export the archive,
keep the opt-out list, pause and resume the campaigns, copy the warehouse to another engine. A
module per command (group): ``segments``, ``counters``, ``send``, ``opt_out``, ``campaigns``,
``archive``, ``simulate``, ``demo``, ``warehouse``; what they share (consoles, options, errors
to exit codes) is in ``common``.

Exit codes (every subcommand)::

    0  done
    1  the API or the warehouse refused or failed (or the user declined the confirmation)
    2  bad input, caught before any request was made
    3  a send may or may not have been accepted: check the archive before sending again

Connection settings come from ``--base-url``/``--api-key``/``--api-pass`` or the environment
(``SMSPRESTO_BASE_URL``, ``SMSPRESTO_API_KEY``, ``SMSPRESTO_API_PASS``); the base URL defaults to
the public API's, so the key and the password are all an account needs. The password is never
printed: not in help (no default shown), not in errors (they go through a `Redactor`).

Opt-outs live in the warehouse: a PostgreSQL database (``--warehouse URL``, or
``SMSPRESTO_WAREHOUSE_URL``) or a DuckDB file (``--duckdb``, or ``SMSPRESTO_DUCKDB_PATH``, or
``data/smspresto_warehouse.duckdb``); one of the two options, an option beating a variable and
the URL's variable beating the file's, as in the code location. A URL's password is shown as
``***``. ``opt-out`` edits them and ``send`` leaves those numbers out. The same warehouse holds
the campaigns' circuit breaker: ``campaigns status`` shows it (and each campaign's activation
and outbox rows by state), ``campaigns resume`` and ``campaigns pause`` are a person's hand on
it. Those commands, ``opt-out list`` and ``opt-out remove`` exit 2 when the warehouse does not
exist (and create none); ``send`` and ``opt-out add`` do not need it to.
"""

import click

from smspresto_pipeline.cli.archive import archive
from smspresto_pipeline.cli.campaigns import campaigns
from smspresto_pipeline.cli.common import (
    DEFAULT_DUCKDB_PATH,
    EXIT_AMBIGUOUS,
    EXIT_API_ERROR,
    EXIT_BAD_INPUT,
)
from smspresto_pipeline.cli.counters import counters
from smspresto_pipeline.cli.demo import demo
from smspresto_pipeline.cli.opt_out import opt_out
from smspresto_pipeline.cli.segments import segments
from smspresto_pipeline.cli.send import send
from smspresto_pipeline.cli.simulate import simulate
from smspresto_pipeline.cli.warehouse import warehouse

__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "EXIT_AMBIGUOUS",
    "EXIT_API_ERROR",
    "EXIT_BAD_INPUT",
    "cli",
    "main",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """SMS Presto from the command line: simulator, counters, sends, archive export."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="smspresto")


for _command in (
    archive,
    campaigns,
    counters,
    demo,
    opt_out,
    segments,
    send,
    simulate,
    warehouse,
):
    cli.add_command(_command)
