#!/usr/bin/env bash
# The demo: the bundled simulator, the Dagster pipeline and a local DuckDB file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/smspresto demo "$@"
