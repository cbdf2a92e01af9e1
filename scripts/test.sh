#!/usr/bin/env bash
# The whole test suite: lint, types, tests. Bootstraps .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# worksteal: a worker that runs out of tests takes pending ones from the other, so one long
# end-to-end test started late does not leave a core idle at the end.
.venv/bin/pytest -n 2 --dist worksteal "$@"
