#!/usr/bin/env bash
# The Dagster UI on the demo's data and runs: the simulator in the background, `dg dev` in the
# foreground (Ctrl-C stops both). `dagster dev -m dagster_project` serves the same UI, but
# Dagster 1.13 prints that `dg dev` supersedes it. Runs the demo first if it never ran.
#   SMSPRESTO_SIM_PORT   the simulator's port (default 8765)
#   DAGSTER_PORT         the UI's port (default 3000)
#   SMSPRESTO_SCHEDULES  `running` starts the schedules (data/demo.env stops them, so that the
#                        UI does not call the simulator every hour); the UI's toggle wins
#                        once used
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ ! -f data/demo.env ]; then
  .venv/bin/smspresto demo
fi
schedules="${SMSPRESTO_SCHEDULES:-}"
set -a
# shellcheck disable=SC1091
. data/demo.env
set +a
if [ -n "$schedules" ]; then export SMSPRESTO_SCHEDULES="$schedules"; fi

sim_port="${SMSPRESTO_SIM_PORT:-8765}"
.venv/bin/smspresto simulate --port "$sim_port" --db data/simulator.sqlite3 >data/simulator.log 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if grep -q "simulator on" data/simulator.log 2>/dev/null; then break; fi
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "The simulator did not start (port $sim_port busy? set SMSPRESTO_SIM_PORT):" >&2
    cat data/simulator.log >&2
    exit 1
  fi
  sleep 0.1
done
export SMSPRESTO_BASE_URL="http://127.0.0.1:${sim_port}/console/api/"
echo "Simulator on $SMSPRESTO_BASE_URL; Dagster UI on http://127.0.0.1:${DAGSTER_PORT:-3000}"
# dg runs the project's environment; activated, as a user's shell has it, dg does not warn that
# the active one differs.
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
.venv/bin/dg dev --host 127.0.0.1 --port "${DAGSTER_PORT:-3000}"
