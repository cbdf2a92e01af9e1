"""A normal run of the code location prints no warning: Dagster's beta warnings about parameters
its own copies of our definitions pass (``smspresto_pipeline.conventions``) are filtered, and
nothing of ours triggers another. The commands are ``dg``'s, the ones Dagster 1.13 points to
(``dagster definitions validate`` and ``dagster asset materialize`` say they are superseded by
``dg check defs`` and ``dg launch``), each in a process of its own: ``dg launch`` here,
``dg check defs`` in ``test_e2e_dg``; the demo's ``dagster job launch`` runs are checked by
``test_e2e_demo``."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SIMULATOR_HISTORY_START
from e2e_fixtures import BIN, project_env, run

from smspresto_pipeline.simulator import RunningSimulator

#: A warning's class as Python prints it (BetaWarning, PreviewWarning, UserWarning...), not the
#: log level WARNING.
WARNING = re.compile(r"\b[A-Z][a-z]\w*Warning\b")
ROOT = Path(__file__).resolve().parents[2]


def warnings_in(output: str) -> list[str]:
    """The lines of ``output`` that print a warning."""
    return [line for line in output.splitlines() if WARNING.search(line)]


@pytest.mark.slow
def test_loading_and_a_run_print_no_warning(simulator: RunningSimulator, tmp_path: Path) -> None:
    env = project_env(
        simulator,
        duckdb_path=tmp_path / "warehouse.duckdb",
        dagster_home=tmp_path / "home",
        start_date=SIMULATOR_HISTORY_START,
    )
    # dg in this venv, activated as a user's shell has it.
    env.update(VIRTUAL_ENV=str(BIN.parent), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    day = (SIMULATOR_HISTORY_START + timedelta(days=1)).isoformat()
    ran = run(
        [str(BIN / "dg"), "launch", "--assets", "archive_messages", "--partition", day], env, ROOT
    )
    assert "RUN_SUCCESS" in ran
    assert warnings_in(ran) == []
