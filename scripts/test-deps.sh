#!/usr/bin/env bash
# Installs what the tests need beyond npm: Debian's chromium (browser test of the HTML report),
# postgresql (the scale-out target, started per test run by scripts/with-postgres.sh), sqlite3 (the CLI baseline of make bench), buildah/debootstrap/podman (container images without a Docker engine), and the Airflow 3 venv.
# Idempotent: each piece is installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need+=(postgresql)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v podman >/dev/null || need+=(podman)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${need[*]}; install them (as root: apt-get install ${need[*]}) and re-run" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
bash scripts/ci-airflow-venv.sh
echo "test-deps: ready"
