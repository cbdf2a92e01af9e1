#!/usr/bin/env bash
# The whole test suite: lint, types, tests. Bootstraps .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# worksteal: a worker that runs out of tests takes pending ones from the other; the `slow`
# tests run first (tests/conftest.py orders them), so the run ends on short tests and no core
# sits idle while a long one finishes.
.venv/bin/pytest -n 2 --dist worksteal "$@"
