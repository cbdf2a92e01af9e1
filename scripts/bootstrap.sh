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
"$tools/bin/uv" sync --frozen --quiet --python python3
