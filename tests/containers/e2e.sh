#!/usr/bin/env bash
# End to end: the Airflow DAGs' own rendered commands, run in the task images, on demo data, must give the
# same channel_reporting as the same pipeline run locally with node.
#
#   bash tests/containers/e2e.sh
#
# Steps (each idempotent; the work folder is recreated every run):
#   1. base image localhost/node-base:20 (debootstrap + this machine's node; scripts/ci-node-base.sh)
#   2. every task image, with buildah --isolation chroot (scripts/images.sh), tagged E2E_PREFIX-<step>:E2E_TAG
#   3. demo CSVs from generate-data, dropped into a folder standing in for the DAGs' named volume
#   4. Airflow renders attribution_load (dir=/data/incoming) and attribution_pipeline (start/end = demo window)
#      with the image Variables pointing at the images just built; tests/containers/run_plan.py runs each
#      rendered task in its image, in order, with the volume mounted at /data
#   5. the same steps with node on the host into another database; channel_reporting must be equal
#
# Needs: root, buildah, debootstrap, podman (import only), node 20, the compiled tasks (dist/), and the
# Airflow venv (scripts/ci-airflow-venv.sh). Env: AIRFLOW_VENV (.venv/airflow), E2E_WORK (a temp dir),
# E2E_STRICT=1 to fail (not skip) when a task does not exist yet, E2E_KEEP=1 to keep the work folder,
# SKIP_IMAGES=1 to reuse images already built.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"

START_DATE=2023-08-29
END_DATE=2023-09-07
PREFIX="${E2E_PREFIX:-localhost/attribution}"
TAG="${E2E_TAG:-e2e}"
VENV="${AIRFLOW_VENV:-.venv/airflow}"
VOLUME_NAME=attribution-data   # the DAGs' default named volume
STEPS=(setup-db load build-journeys send-to-api process-attribution attribution-api)

log() { printf '\n[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\n[e2e] FAILED: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)
timer() { log "$1 took $(( $(date +%s) - $2 ))s"; }

[ "$(id -u)" = 0 ] || die "run as root (buildah chroot isolation and debootstrap need it)"
for tool in buildah node; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[ -x "$VENV/bin/python" ] || die "no Airflow venv at $VENV (bash scripts/ci-airflow-venv.sh)"

# --- which tasks exist ---------------------------------------------------------------------------------
if [ ! -f dist/tasks/setup-db/main.js ] || [ -n "${E2E_REBUILD_TS:-}" ]; then
  log "compiling the tasks (tsc)"
  npx tsc -p . || log "tsc reported errors; continuing with whatever it emitted"
fi
missing=()
for step in "${STEPS[@]}" generate-data; do
  if [ ! -f "tasks/$step/main.ts" ] || [ ! -f "dist/tasks/$step/main.js" ]; then missing+=("$step"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  msg="tasks not written yet: ${missing[*]} (need tasks/<step>/main.ts and dist/tasks/<step>/main.js)"
  [ -n "${E2E_STRICT:-}" ] && die "$msg"
  printf '\n[e2e] SKIPPED: %s\n' "$msg" >&2
  exit 0
fi

WORK="${E2E_WORK:-$(mktemp -d /tmp/attribution-e2e.XXXXXX)}"
rm -rf "$WORK" && mkdir -p "$WORK"
api_pid= api_ctr=
cleanup() {
  if [ -n "$api_pid" ]; then  # the server container, if a failure left it running
    kill -TERM "$api_pid" 2>/dev/null && sleep 2
    kill -KILL "$api_pid" 2>/dev/null || true
  fi
  [ -z "$api_ctr" ] || buildah rm "$api_ctr" >/dev/null 2>&1 || true
  [ -n "${E2E_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
export AIRFLOW_HOME="$WORK/airflow-home" AIRFLOW__CORE__LOAD_EXAMPLES=False

# --- 1, 2: images ----------------------------------------------------------------------------------------
if [ -z "${SKIP_IMAGES:-}" ]; then
  s=$(date +%s); bash scripts/ci-node-base.sh; timer "base image" "$s"
  s=$(date +%s)
  BUILDER=buildah BASE_IMAGE=localhost/node-base:20 IMAGE_PREFIX="$PREFIX" IMAGE_TAG="$TAG" bash scripts/images.sh
  timer "task images" "$s"
fi

log "image checks: non-root, tini entrypoint, no secret in the config"
for step in "${STEPS[@]}"; do
  image="$PREFIX-${step#attribution-}:$TAG"   # the server: <prefix>-api
  buildah inspect --type image "$image" >"$WORK/inspect.json" || die "$image was not built"
  python3 - "$image" "$step" "$WORK/inspect.json" <<'PY' || die "image check failed for $image"
import json, sys
image, step = sys.argv[1], sys.argv[2]
cfg = json.load(open(sys.argv[3]))["OCIv1"]["config"]
ep = cfg.get("Entrypoint") or []
assert ep[:1] == ["/usr/bin/tini"], f"{image}: ENTRYPOINT {ep} must start with tini"
assert ep[-1] == f"/app/dist/tasks/{step}/main.js", f"{image}: ENTRYPOINT {ep} is not the {step} task"
cmd = cfg.get("Cmd") or []
assert cmd == (["--host", "0.0.0.0"] if step == "attribution-api" else []), f"{image}: CMD {cmd}"
assert cfg.get("User") not in (None, "", "root", "0", "0:0"), f"{image}: runs as root"
env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
for secret in ("IHC_API_KEY", "PGPASSWORD", "ATTRIBUTION_API_KEYS"):
    assert secret not in env, f"{image}: {secret} is set in the image"
assert env.get("DATABASE_URL") == "/data/attribution.db", env
PY
done

# --- 3: demo data ----------------------------------------------------------------------------------------
log "demo data (generate-data --scale 1 --seed 42)"
node dist/tasks/generate-data/main.js --out "$WORK/drop" --scale 1 --seed 42 >"$WORK/generate.log" 2>&1 \
  || { cat "$WORK/generate.log" >&2; die "generate-data failed"; }
for f in session_sources.csv conversions.csv session_costs.csv; do
  [ -s "$WORK/drop/$f" ] || die "generate-data wrote no $f"
done

# A fresh folder standing in for the named volume, with the drop in /data/incoming, owned like a fresh
# Docker volume over the image's /data (uid 1000).
new_volume() {
  mkdir -p "$1/incoming" && cp "$WORK"/drop/*.csv "$1/incoming/" && chown -R 1000:1000 "$1"
}

# --- 4: the DAGs' commands in the images -----------------------------------------------------------------
export AIRFLOW_VAR_ATTRIBUTION_IMAGE_PREFIX="$PREFIX" AIRFLOW_VAR_ATTRIBUTION_IMAGE_TAG="$TAG"
render() { "$VENV/bin/python" tests/dags/airflow_render.py "$@" >"$WORK/render.log" 2>&1 \
  || { cat "$WORK/render.log" >&2; die "rendering $* failed"; }; }
WINDOW_CONF="{\"start_date\": \"$START_DATE\", \"end_date\": \"$END_DATE\"}"

# Renders both DAGs as Airflow would (Variables from AIRFLOW_VAR_* in the environment), then runs every
# rendered task in its image, in order, on volume $1.
run_dags_in_containers() {
  local vol="$1" label="$2" s
  log "[$label] rendering attribution_load and attribution_pipeline with Airflow"
  render --dag attribution_load --conf '{"dir": "/data/incoming"}' --out "$WORK/$label-load-plan.json"
  render --dag attribution_pipeline --conf "$WINDOW_CONF" --out "$WORK/$label-pipeline-plan.json"
  s=$(date +%s)
  log "[$label] attribution_load in containers"
  python3 tests/containers/run_plan.py "$WORK/$label-load-plan.json" --volume "$VOLUME_NAME=$vol" \
    || die "[$label] attribution_load failed"
  log "[$label] attribution_pipeline in containers ($START_DATE .. $END_DATE)"
  python3 tests/containers/run_plan.py "$WORK/$label-pipeline-plan.json" --volume "$VOLUME_NAME=$vol" \
    || die "[$label] attribution_pipeline failed"
  timer "[$label] containers" "$s"
  [ -f "$vol/attribution.db" ] || die "[$label] no database in the volume after the pipeline"
  [ -n "$(find "$vol/output" -name '*.csv' -print -quit 2>/dev/null)" ] || die "[$label] no CSV under the volume's output/"
}

VOL_A="$WORK/volume-local-provider"
new_volume "$VOL_A"
run_dags_in_containers "$VOL_A" local-provider

# --- the attribution server image, as the pipeline's provider --------------------------------------------
# The same DAGs on a second volume, with send_to_api pointed (Variables) at the attribution-api image
# running in its own container, its key passed as the secret Variable. Then SIGTERM must stop the server.
API_PORT="${E2E_API_PORT:-18765}"
API_KEY="e2e-$RANDOM$RANDOM"
api_image="$PREFIX-api:$TAG"
api_ctr="$(buildah from --pull=never "$api_image")"
mapfile -t api_argv < <(buildah inspect --type image \
  --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' \
  "$api_image" | sed '/^$/d')
log "attribution-api: starting $api_image on port $API_PORT ($ ${api_argv[*]})"
buildah run --isolation chroot --user node --env PORT="$API_PORT" --env ATTRIBUTION_API_KEYS="$API_KEY" \
  "$api_ctr" -- "${api_argv[@]}" >"$WORK/api.log" 2>&1 &
api_pid=$!
healthy=
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$API_PORT/healthz" >"$WORK/healthz.json" 2>/dev/null; then healthy=1; break; fi
  kill -0 "$api_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$healthy" ] || { cat "$WORK/api.log" >&2; die "attribution-api did not answer /healthz"; }

VOL_B="$WORK/volume-api-provider"
new_volume "$VOL_B"
# the key as a deployment gives it: the ihc_api Connection (password), read when the task runs
AIRFLOW_VAR_ATTRIBUTION_PROVIDER="http://127.0.0.1:$API_PORT" \
  AIRFLOW_CONN_IHC_API="{\"conn_type\": \"http\", \"host\": \"http://127.0.0.1:$API_PORT\", \"password\": \"$API_KEY\"}" \
  run_dags_in_containers "$VOL_B" api-provider
grep -q "compute_ihc" "$WORK/api.log" || log "note: the server logged no compute_ihc request line"

# `docker stop` sends SIGTERM to the container's PID 1, tini; tini must hand it to node, which stops cleanly.
# (Signalling buildah itself would not do: it SIGKILLs its child.) Chroot isolation has no PID namespace,
# so the container's tini is found among the descendants of our own buildah process.
descendants() { local p; for p in $(ps -o pid= --ppid "$1"); do echo "$p"; descendants "$p"; done; }
tini_pid=
for p in $(descendants "$api_pid"); do
  if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = tini ]; then tini_pid="$p"; break; fi
done
[ -n "$tini_pid" ] || die "no tini process under the attribution-api container"
kill -TERM "$tini_pid"
stopped=
for _ in $(seq 1 40); do kill -0 "$api_pid" 2>/dev/null || { stopped=1; break; }; sleep 0.25; done
[ -n "$stopped" ] || { cat "$WORK/api.log" >&2; die "attribution-api did not stop within 10s of SIGTERM to tini"; }
wait "$api_pid" && api_rc=0 || api_rc=$?
api_pid=
buildah rm "$api_ctr" >/dev/null 2>&1 || true
api_ctr=
grep -q "stopped on SIGTERM" "$WORK/api.log" && [ "$api_rc" = 0 ] \
  || { tail -n 5 "$WORK/api.log" >&2; die "attribution-api did not stop gracefully on SIGTERM via tini (exit $api_rc)"; }
log "attribution-api served the pipeline and stopped gracefully on SIGTERM through tini"

# --- 5: the same pipeline with node on the host ----------------------------------------------------------
log "reference run with node on the host"
LOCAL_DB="$WORK/local/attribution.db"
mkdir -p "$WORK/local"
run_local() { DATABASE_URL="$LOCAL_DB" OUTPUT_DIR="$WORK/local/output" node "dist/tasks/$1/main.js" "${@:2}" \
  >>"$WORK/local.log" 2>&1 || { tail -n 40 "$WORK/local.log" >&2; die "local $1 failed"; }; }
run_local setup-db
run_local load --dir "$WORK/drop"
run_local build-journeys --start-date "$START_DATE" --end-date "$END_DATE"
run_local send-to-api --start-date "$START_DATE" --end-date "$END_DATE" --provider local
run_local process-attribution --start-date "$START_DATE" --end-date "$END_DATE"

# The same journeys through the attribution server on the host: the reference for the api-provider volume. The
# IHC contract carries no order time, so a server attributes with the converting session's time while the local
# provider uses the order's own time; each provider is compared with its own kind on the host.
LOCAL_API_DB="$WORK/local/attribution-api.db"
for ext in "" -wal -shm; do [ ! -f "$LOCAL_DB$ext" ] || cp "$LOCAL_DB$ext" "$LOCAL_API_DB$ext"; done
HOST_API_PORT="${E2E_HOST_API_PORT:-18766}"
PORT="$HOST_API_PORT" ATTRIBUTION_API_KEYS="$API_KEY" node dist/tasks/attribution-api/main.js >"$WORK/host-api.log" 2>&1 &
host_api_pid=$!
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$HOST_API_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
run_local_api() { DATABASE_URL="$LOCAL_API_DB" OUTPUT_DIR="$WORK/local/output-api" IHC_API_KEY="$API_KEY" node "dist/tasks/$1/main.js" "${@:2}" \
  >>"$WORK/local.log" 2>&1 || { tail -n 40 "$WORK/local.log" >&2; kill "$host_api_pid" 2>/dev/null; die "local $1 (attribution server) failed"; }; }
run_local_api send-to-api --start-date "$START_DATE" --end-date "$END_DATE" --provider "http://127.0.0.1:$HOST_API_PORT"
run_local_api process-attribution --start-date "$START_DATE" --end-date "$END_DATE"
kill -TERM "$host_api_pid" 2>/dev/null || true
wait "$host_api_pid" 2>/dev/null || true

compare_reporting() {
  log "comparing channel_reporting: $1 vs the same provider on the host"
  python3 - "$2" "${3:-$LOCAL_DB}" <<'PY' || die "channel_reporting of $1 differs from the run on the host"
import sqlite3, sys

def rows(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT channel_name, date, cost, ihc, ihc_revenue FROM channel_reporting ORDER BY channel_name, date"
        ).fetchall()
    finally:
        con.close()

def norm(r):
    return tuple(round(v, 9) if isinstance(v, float) else v for v in r)

containers, local = rows(sys.argv[1]), rows(sys.argv[2])
assert local, "the local run produced an empty channel_reporting"
dates = sorted({r[1] for r in local})
print(f"local: {len(local)} rows, {len({r[0] for r in local})} channels, dates {dates[0]} .. {dates[-1]}; "
      f"containers: {len(containers)} rows")
diff = sorted(set(map(norm, containers)) ^ set(map(norm, local)))
for r in diff[:20]:
    print("  differs:", r, file=sys.stderr)
sys.exit(1 if diff or len(containers) != len(local) else 0)
PY
}
compare_reporting "containers, local provider" "$VOL_A/attribution.db"
compare_reporting "containers, attribution-api image as provider" "$VOL_B/attribution.db" "$LOCAL_API_DB"

log "PASSED: the DAGs' commands in the task images reproduce the local channel_reporting ($(( $(date +%s) - t0 ))s in all)"
