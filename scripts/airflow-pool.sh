#!/usr/bin/env bash
# The one-writer pool the attribution DAGs use on SQLite (ATTRIBUTION_POOL, default attribution_sqlite): SQLite
# takes one writer, so the load and pipeline DAGs must never run two tasks at once. Creates the pool with one
# slot when it is missing, then checks it; --check only checks. Runs against the Airflow of the environment
# (AIRFLOW_HOME and its metadata database), e.g. `make airflow-pool` with the project's venv.
#   bash scripts/airflow-pool.sh [--check]
set -euo pipefail
POOL="${ATTRIBUTION_POOL:-attribution_sqlite}"
AIRFLOW="${AIRFLOW:-airflow}"

# the JSON line of `pools get` (Airflow may log other lines to stdout first); empty when the pool is missing
slots() {
  "$AIRFLOW" pools get "$POOL" --output json 2>/dev/null |
    python3 -c 'import json,sys; rows=[json.loads(l) for l in sys.stdin if l.startswith("[")]; print(rows[0][0]["slots"] if rows else "")'
}

current="$(slots || true)"
if [ -z "$current" ]; then
  if [ "${1:-}" = "--check" ]; then
    echo "airflow-pool: pool $POOL does not exist; the attribution tasks will not be scheduled on SQLite. Run: make airflow-pool" >&2
    exit 1
  fi
  "$AIRFLOW" pools set "$POOL" 1 "attribution on SQLite: one writer at a time (load and pipeline DAGs)" >/dev/null
  current="$(slots)"
fi
if [ "$current" != "1" ]; then
  echo "airflow-pool: pool $POOL has $current slots; SQLite takes one writer, so it must have 1 slot: airflow pools set $POOL 1 '...'" >&2
  exit 1
fi
echo "airflow-pool: pool $POOL has 1 slot (one writer on SQLite)"
