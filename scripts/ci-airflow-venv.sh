#!/usr/bin/env bash
# Create (or refresh) the virtual environment with Airflow 3 and the docker provider used by the DAG tests
# and the container e2e. Idempotent: reinstalls only when requirements-airflow.txt or its constraints change.
#
#   bash scripts/ci-airflow-venv.sh          # -> .venv/airflow (git-ignored)
# Env: AIRFLOW_VENV (venv path), PYTHON (interpreter; default python3.11, else python3; 3.10-3.13).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${AIRFLOW_VENV:-.venv/airflow}"
log() { printf '[airflow-venv] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ -z "${PYTHON:-}" ]; then
  PYTHON="$(command -v python3.11 || command -v python3 || true)"
fi
[ -n "$PYTHON" ] || die "no python3 found (set PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); Airflow 3.3 needs Python 3.10-3.13"

stamp="$(cat requirements-airflow.txt constraints-airflow.txt | sha256sum | cut -c1-16)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements-stamp" 2>/dev/null)" = "$stamp" ]; then
  log "$VENV is up to date"
  exit 0
fi

log "creating $VENV with $("$PYTHON" -V 2>&1)"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet -r requirements-airflow.txt
"$VENV/bin/python" -c 'import airflow, airflow.providers.docker; print("airflow", airflow.__version__)' >&2
echo "$stamp" > "$VENV/.requirements-stamp"
log "done: $VENV"
