#!/usr/bin/env bash
# Regenerates the README's screenshots of the Dagster UI, docs/images/*.png, from the demo's
# runs: dagster-webserver on the demo's instance, photographed by headless Chromium (installed
# from Debian's packages when missing). scripts/screenshots.py chooses the pages, waits until
# each has loaded, and exits 1 (images written all the same) if one looked unfinished or odd.
# About 30 s; plus ~10 s when the demo runs, and a minute or two the first time for Chromium.
#   bash scripts/screenshots.sh          the demo runs first only if it never ran (no data/demo.env)
#   bash scripts/screenshots.sh --demo   the demo runs again first (its dates move with today)
#   bash scripts/screenshots.sh --only failure-spike-check   only these images (names without .png)
#   CHROMIUM      the browser to drive (default: chromium)
#   DAGSTER_PORT  the webserver's port (default: a free one)
set -euo pipefail
cd "$(dirname "$0")/.."

run_demo=false
only=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --demo)
      run_demo=true
      shift
      ;;
    --only)
      shift
      while [ "$#" -gt 0 ] && [ "${1#--}" = "$1" ]; do
        only+=("$1")
        shift
      done
      ;;
    *)
      echo "usage: bash scripts/screenshots.sh [--demo] [--only NAME...]" >&2
      exit 2
      ;;
  esac
done
started=$SECONDS
bash scripts/bootstrap.sh

chromium="${CHROMIUM:-chromium}"
if [ -n "${CHROMIUM:-}" ] && ! command -v "$chromium" >/dev/null 2>&1; then
  echo "CHROMIUM=$chromium: no such program." >&2
  exit 1
fi
if ! command -v "$chromium" >/dev/null 2>&1; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
  echo "Installing Chromium from Debian's packages (apt-get install chromium)..."
  if ! command -v apt-get >/dev/null 2>&1 ||
    { [ "${#as_root[@]}" -gt 0 ] && ! command -v sudo >/dev/null 2>&1; } ||
    ! "${as_root[@]}" apt-get update -qq ||
    ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; then
    echo "Could not install Chromium with apt-get (not Debian, or not root and no sudo)." >&2
    echo "Install Chromium or Chrome yourself, then run again (CHROMIUM=/path/to/it if it is" >&2
    echo "not on PATH as 'chromium')." >&2
    exit 1
  fi
fi

if "$run_demo" || [ ! -f data/demo.env ]; then
  .venv/bin/smspresto demo
fi
set -a
# shellcheck disable=SC1091
. data/demo.env
set +a

# A free port, or DAGSTER_PORT if it is free (else another server could answer in our place).
if ! port="$(.venv/bin/python - "${DAGSTER_PORT:-0}" <<'EOF'
import socket
import sys

with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError as error:
        sys.exit(f"port {sys.argv[1]}: {error.strerror}: set DAGSTER_PORT to a free port")
    print(s.getsockname()[1])
EOF
)"; then
  exit 1
fi
base_url="http://127.0.0.1:${port}"
log=data/screenshots-webserver.log
# The UI only shows what the instance holds: the simulator is not needed.
.venv/bin/dagster-webserver -m dagster_project -h 127.0.0.1 -p "$port" >"$log" 2>&1 &
web_pid=$!
trap 'kill "$web_pid" 2>/dev/null || true; wait "$web_pid" 2>/dev/null || true' EXIT
up=false
for _ in $(seq 1 300); do
  if .venv/bin/python -c "import urllib.request as u; u.urlopen('$base_url/server_info', timeout=1)" \
    2>/dev/null; then
    up=true
    break
  fi
  if ! kill -0 "$web_pid" 2>/dev/null; then break; fi
  sleep 0.2
done
if ! "$up"; then
  echo "dagster-webserver did not answer on $base_url:" >&2
  cat "$log" >&2
  exit 1
fi

.venv/bin/python scripts/screenshots.py --chromium "$chromium" --base-url "$base_url" \
  --out docs/images ${only[@]+--only "${only[@]}"}
echo "Screenshots in docs/images/ ($((SECONDS - started)) s)."
