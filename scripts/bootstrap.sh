#!/usr/bin/env bash
# Creates .venv from the lock file, starting from nothing but python3 and pip.
# uv itself is installed, pinned, into a private virtualenv under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.8"
tools=".cache/bootstrap"
if [ ! -x "$tools/bin/uv" ] || ! "$tools/bin/uv" --version | grep -q "$UV_VERSION"; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never
# uv trusts only its bundled root certificates unless told otherwise; pip trusts the system's.
# Behind a TLS-inspecting proxy (its root added to the system store) pip works and uv would
# not: use the system's store, as pip does. (uv 0.13 names it UV_SYSTEM_CERTS; --native-tls
# is the older spelling.)
export UV_SYSTEM_CERTS=1
# Bytecode compiled once here: every Dagster process (runs, the webserver, the CLI) then starts
# without compiling dagster's sources again, even where PYTHONDONTWRITEBYTECODE is set.
"$tools/bin/uv" sync --frozen --quiet --python python3 --compile-bytecode
