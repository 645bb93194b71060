#!/usr/bin/env bash
# The Airflow UI path end to end, as a user takes it (issue 14): Airflow from the venv (scripts/airflow-ui.sh,
# i.e. make airflow-ui) with the local runner, a manual run of attribution_pipeline with start/end params
# through the REST API, wait for success, then compare channel_reporting with `make pipeline` on a copy of the
# same loaded database. Everything under a temp folder; Airflow listens on 127.0.0.1 only.
#   bash tests/airflow-e2e.sh          (needs dist/ built and the Airflow venv; takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
VENV="${AIRFLOW_VENV:-.venv/airflow}"
PORT="${AIRFLOW_E2E_PORT:-8791}"
START=2023-08-29
END=2023-09-07
work="$(mktemp -d /tmp/attr-airflow-e2e.XXXXXX)"
log() { printf '[airflow-e2e] %s\n' "$*" >&2; }
ui_pid=""
cleanup() {
  if [ -n "$ui_pid" ]; then kill "$ui_pid" 2>/dev/null || true; wait "$ui_pid" 2>/dev/null || true; fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

log "demo data into $work/airflow.db"
export ATTRIBUTION_CONFIG="$REPO/config/config.yaml"
DATABASE_URL="$work/airflow.db" node dist/tasks/setup-db/main.js >/dev/null
DATABASE_URL="$work/airflow.db" node dist/tasks/generate-data/main.js --out "$work/demo" --scale 1 --seed 42 \
  --start-date "$START" --end-date "$END" --load >/dev/null
cp "$work/airflow.db" "$work/make.db"

log "make pipeline on a copy"
# -o dist/.built: the checkout is already built (and node_modules may be shared); make must not rebuild it
DATABASE_URL="$work/make.db" OUTPUT_DIR="$work/out-make" make --no-print-directory -o dist/.built pipeline START_DATE="$START" END_DATE="$END" >/dev/null

log "airflow standalone on 127.0.0.1:$PORT (local runner)"
# no retries: a failing task shows at once instead of after the retry delay
AIRFLOW_HOME="$work/home" AIRFLOW_PORT="$PORT" AIRFLOW_VENV="$VENV" ATTRIBUTION_RUNNER=local ATTRIBUTION_RETRIES=0 \
  ATTRIBUTION_DATABASE_URL="$work/airflow.db" ATTRIBUTION_OUTPUT_DIR="$work/out-airflow" \
  bash scripts/airflow-ui.sh >"$work/airflow.log" 2>&1 &
ui_pid=$!

API="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do
  curl -fsS "$API/api/v2/monitor/health" >/dev/null 2>&1 && [ -s "$work/home/simple_auth_manager_passwords.json.generated" ] && break
  kill -0 "$ui_pid" 2>/dev/null || { tail -40 "$work/airflow.log" >&2; log "Airflow stopped"; exit 1; }
  sleep 1
done
password="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$work/home/simple_auth_manager_passwords.json.generated")"
token=""
for _ in $(seq 1 60); do  # the API server may answer health before its auth routes are ready
  token="$(curl -fsS -X POST "$API/auth/token" -H 'content-type: application/json' \
    -d "{\"username\": \"admin\", \"password\": \"$password\"}" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' 2>/dev/null || true)"
  [ -n "$token" ] && break
  sleep 2
done
[ -n "$token" ] || { log "no token from $API/auth/token"; exit 1; }
api() { curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' "$@"; }

log "waiting for the DAG processor to load attribution_pipeline"
for _ in $(seq 1 300); do
  api "$API/api/v2/dags/attribution_pipeline" >/dev/null 2>&1 && break
  sleep 1
done
errors="$(api "$API/api/v2/importErrors" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_entries"])')"
[ "$errors" = 0 ] || { api "$API/api/v2/importErrors" >&2; log "DAG import errors"; exit 1; }
api -X PATCH "$API/api/v2/dags/attribution_pipeline" -d '{"is_paused": false}' >/dev/null
run_id="$(api -X POST "$API/api/v2/dags/attribution_pipeline/dagRuns" \
  -d "{\"logical_date\": null, \"conf\": {\"start_date\": \"$START\", \"end_date\": \"$END\"}}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["dag_run_id"])')"
log "triggered $run_id"
state=""
for _ in $(seq 1 900); do
  state="$(api "$API/api/v2/dags/attribution_pipeline/dagRuns/$run_id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
  case "$state" in success | failed) break ;; esac
  sleep 2
done
api "$API/api/v2/dags/attribution_pipeline/dagRuns/$run_id/taskInstances" |
  python3 -c 'import json,sys; [print(" ", t["task_id"], t["state"], "try", t["try_number"]) for t in json.load(sys.stdin)["task_instances"]]' >&2
[ "$state" = success ] || { log "run ended $state"; tail -60 "$work/airflow.log" >&2; exit 1; }

dump() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print(*r, sep=",") for r in c.execute("SELECT channel_name, date, ROUND(cost, 6), ROUND(ihc, 9), ROUND(ihc_revenue, 6) FROM channel_reporting ORDER BY 1, 2")]' "$1"; }
dump "$work/airflow.db" >"$work/airflow.csv"
dump "$work/make.db" >"$work/make.csv"
rows="$(wc -l <"$work/make.csv")"
[ "$rows" -gt 10 ] || { log "make pipeline left only $rows channel_reporting rows"; exit 1; }
diff -u "$work/make.csv" "$work/airflow.csv" >&2 || { log "channel_reporting differs between the Airflow run and make pipeline"; exit 1; }
cmp -s "$work/out-make/${START}_${END}/channel_reporting.csv" "$work/out-airflow/${START}_${END}/channel_reporting.csv" ||
  { log "channel_reporting.csv differs"; exit 1; }
log "ok: the run triggered through the REST API gives the same channel_reporting as make pipeline ($rows rows)"
