#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (Debian's packages) and TEST_POSTGRES_URL pointing at it.
# The cluster lives in a temp folder, listens on 127.0.0.1 only, and is stopped and deleted on exit.
#   bash scripts/with-postgres.sh npx ava dist/tests/postgres.test.js
set -euo pipefail
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
[ -n "$PGBIN" ] || { echo "with-postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
PORT="${TEST_POSTGRES_PORT:-55439}"
dir="$(mktemp -d /tmp/attr-pg.XXXXXX)"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  # initdb refuses to run as root; the Debian package creates the postgres user
  chown postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
"${as_pg[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres attribution_test
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/attribution_test"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
"$@"
