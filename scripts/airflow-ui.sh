#!/usr/bin/env bash
# make airflow-ui: the Airflow 3 UI on this machine, from the project's venv, with this checkout's DAGs.
#
# Runs `airflow standalone` (scheduler, DAG processor, triggerer and API server/UI in one process group) with
# AIRFLOW_HOME=.airflow, the DAGs from dags/, and ATTRIBUTION_RUNNER=local by default, so that a run triggered
# from the UI runs `node dist/tasks/<step>/main.js` on this machine against DATABASE_URL (default
# data/attribution.db): no container engine needed. Set ATTRIBUTION_RUNNER=docker to run the images instead.
# Prints the UI address and the admin login once Airflow has generated it. Ctrl-C stops everything.
#   AIRFLOW_PORT=8080 bash scripts/airflow-ui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
VENV="${AIRFLOW_VENV:-.venv/airflow}"
[ -x "$VENV/bin/airflow" ] || { echo "airflow-ui: no Airflow in $VENV; run make airflow-venv" >&2; exit 1; }
VENV="$(cd "$VENV" && pwd)"
[ -f dist/tasks/setup-db/main.js ] || { echo "airflow-ui: dist/ is missing; run make setup" >&2; exit 1; }

export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__HOST="${AIRFLOW_HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
# task processes report to the API server's execution API: on this port, not the default 8080
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT/execution/"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW_ADMIN_USER:-admin}:admin"
export ATTRIBUTION_RUNNER="${ATTRIBUTION_RUNNER:-local}"
export ATTRIBUTION_LOCAL_DIR="${ATTRIBUTION_LOCAL_DIR:-$REPO}"
export PATH="$VENV/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"

airflow db migrate >/dev/null
case "${ATTRIBUTION_DATABASE_URL:-}" in
  postgres://* | postgresql://*) ;;
  *) bash scripts/airflow-pool.sh ;;  # SQLite: the one-writer pool the DAGs refuse to run without
esac

# its own process group: standalone's scheduler, API server and workers outlive a plain kill of standalone
setsid airflow standalone &
pid=$!
trap 'kill -- -"$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT INT TERM
passwords="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
for _ in $(seq 1 300); do
  [ -s "$passwords" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "airflow-ui: airflow standalone stopped" >&2; exit 1; }
  sleep 1
done
password="$(python3 -c 'import json,sys; print(next(iter(json.load(open(sys.argv[1])).values())))' "$passwords" 2>/dev/null || echo '?')"
cat <<MSG

  Airflow UI:  http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT
  login:       ${AIRFLOW_ADMIN_USER:-admin} / $password   (from $passwords)
  runner:      $ATTRIBUTION_RUNNER; DAGs from $AIRFLOW__CORE__DAGS_FOLDER
  Trigger attribution_pipeline with {"start_date": "2023-08-29", "end_date": "2023-09-07"} after make demo.

MSG
wait "$pid"
