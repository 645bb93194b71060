#!/usr/bin/env bash
# Run one pipeline step in its image, with the project's data folders mounted (make task-<step>-container).
#
#   bash scripts/run-container.sh build-journeys --start-date 2023-08-29 --end-date 2023-09-07
#
# Mounts ./data at /data (the database: /data/attribution.db) and ./output at /output (OUTPUT_DIR), so a
# container run reads and writes the same files as `make task-<step>`. Arguments go to the step's ENTRYPOINT.
# Env: IMAGE_PREFIX (attribution), IMAGE_TAG (latest), BUILDER (docker | buildah; default: docker when an
# engine answers), CONTAINER_DATABASE_URL (default /data/attribution.db; e.g. a postgres:// URL),
# IHC_API_KEY (passed through when set; never stored in the image), PORT (attribution-api, default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[container] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ $# -ge 1 ] || die "usage: $0 STEP [ARGS...]"
step="$1"; shift
case "$step" in
  setup-db|load|build-journeys|send-to-api|process-attribution|attribution-api) ;;
  *) die "unknown step '$step'" ;;
esac
image="${IMAGE_PREFIX:-attribution}-${step#attribution-}:${IMAGE_TAG:-latest}"  # the server: <prefix>-api

builder="${BUILDER:-}"
if [ -z "$builder" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker
  elif command -v buildah >/dev/null; then builder=buildah
  else die "neither a Docker engine nor buildah is available"
  fi
fi

mkdir -p data output
env_args=(DATABASE_URL="${CONTAINER_DATABASE_URL:-/data/attribution.db}" OUTPUT_DIR=/output)
[ -z "${IHC_API_KEY:-}" ] || env_args+=(IHC_API_KEY="$IHC_API_KEY")
[ -z "${LOG_FORMAT:-}" ] || env_args+=(LOG_FORMAT="$LOG_FORMAT")
[ "$step" != attribution-api ] || env_args+=(PORT="${PORT:-8080}")
# Files written into the bind-mounted folders belong to whoever runs this, not to the image's uid 1000.
user="$(id -u):$(id -g)"

case "$builder" in
  docker)
    flags=(--rm -i --user "$user" -v "$PWD/data:/data" -v "$PWD/output:/output")
    for e in "${env_args[@]}"; do flags+=(-e "${e%%=*}"); export "${e?}"; done  # values stay off the command line
    [ "$step" != attribution-api ] || flags+=(-p "${PORT:-8080}:${PORT:-8080}")
    exec docker run "${flags[@]}" "$image" "$@"
    ;;
  buildah)
    buildah inspect --type image "$image" >/dev/null 2>&1 || die "$image not built (make images)"
    mapfile -t entrypoint < <(buildah inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$image" | sed '/^$/d')
    [ ${#entrypoint[@]} -gt 0 ] || die "$image has no ENTRYPOINT"
    if [ $# -eq 0 ]; then  # like docker run: no arguments means the image's CMD
      mapfile -t cmd < <(buildah inspect --type image --format '{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' "$image" | sed '/^$/d')
      set -- "${cmd[@]}"
    fi
    flags=(--isolation chroot --user "$user" -v "$PWD/data:/data" -v "$PWD/output:/output")
    for e in "${env_args[@]}"; do flags+=(--env "$e"); done
    ctr="$(buildah from --pull=never "$image")"
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    # buildah run runs the command it is given, not the ENTRYPOINT: pass the entrypoint explicitly.
    buildah run "${flags[@]}" "$ctr" -- "${entrypoint[@]}" "$@"
    ;;
  *) die "BUILDER must be docker or buildah" ;;
esac
