#!/usr/bin/env bash
# Build the task images from docker/Dockerfile: one image per step, <prefix>-<step>:<tag> (the server
# attribution-api: <prefix>-api:<tag>).
#
#   bash scripts/images.sh                      # all steps
#   bash scripts/images.sh setup-db load        # some steps
#
# Env:
#   IMAGE_PREFIX  image name prefix (default attribution; e.g. registry.example.com/team/attribution)
#   IMAGE_TAG     tag (default latest)
#   BASE_IMAGE    base image (default: the Dockerfile's node:20-bookworm-slim; with buildah and no such image
#                 locally, localhost/node-base:20 from scripts/ci-node-base.sh when it exists)
#   BUILDER       docker | buildah (default: docker when a Docker engine answers, else buildah)
#   NPM_CAFILE    CA bundle npm must trust inside the build (default: $NODE_EXTRA_CA_CERTS when set; buildah only)
#
# With buildah the build uses --isolation chroot and --layers, so the builder stage (npm ci, native modules,
# tsc) runs once and every later image reuses its cached layers.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_STEPS=(setup-db load build-journeys send-to-api process-attribution attribution-api)
PREFIX="${IMAGE_PREFIX:-attribution}"
TAG="${IMAGE_TAG:-latest}"
DOCKERFILE=docker/Dockerfile

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=("${ALL_STEPS[@]}")
for step in "${steps[@]}"; do
  [[ " ${ALL_STEPS[*]} " == *" $step "* ]] || die "unknown step '$step' (steps: ${ALL_STEPS[*]})"
  [ -f "tasks/$step/main.ts" ] || die "tasks/$step/main.ts does not exist yet"
done

builder="${BUILDER:-}"
if [ -z "$builder" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker
  elif command -v buildah >/dev/null; then builder=buildah
  else die "neither a Docker engine nor buildah is available (apt-get install -y buildah)"
  fi
fi

build_args=()
base="${BASE_IMAGE:-}"
if [ -z "$base" ] && [ "$builder" = buildah ] \
   && ! buildah inspect --type image docker.io/library/node:20-bookworm-slim >/dev/null 2>&1 \
   && buildah inspect --type image localhost/node-base:20 >/dev/null 2>&1; then
  base=localhost/node-base:20
  log "no node:20-bookworm-slim here; using the local base $base"
fi
[ -z "$base" ] || build_args+=(--build-arg "BASE_IMAGE=$base")

cafile="${NPM_CAFILE:-${NODE_EXTRA_CA_CERTS:-}}"
if [ -n "$cafile" ] && [ "$builder" = buildah ]; then
  [ -f "$cafile" ] || die "NPM_CAFILE=$cafile does not exist"
  # Mounted for the RUN steps only; neither the file nor its path reaches the runtime stages.
  build_args+=(-v "$(readlink -f "$cafile"):/run/build-ca.crt:ro" --build-arg NPM_CAFILE=/run/build-ca.crt)
fi

for step in "${steps[@]}"; do
  image="$PREFIX-${step#attribution-}:$TAG"   # the server: <prefix>-api
  start=$(date +%s)
  log "building $image with $builder"
  case "$builder" in
    docker)
      DOCKER_BUILDKIT=1 docker build -f "$DOCKERFILE" --target "$step" -t "$image" "${build_args[@]}" .
      ;;
    buildah)
      buildah bud --isolation chroot --layers --format docker -f "$DOCKERFILE" --target "$step" \
        -t "$image" "${build_args[@]}" .
      ;;
    *) die "BUILDER must be docker or buildah, not '$builder'" ;;
  esac
  log "built $image in $(( $(date +%s) - start ))s"
done
