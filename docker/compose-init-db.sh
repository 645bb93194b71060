#!/usr/bin/env bash
# First start of the compose PostgreSQL: the attribution database and its owner, beside Airflow's metadata database.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
  -v pw="$ATTRIBUTION_DB_PASSWORD" <<'SQL'
CREATE ROLE attribution LOGIN PASSWORD :'pw';
CREATE DATABASE attribution OWNER attribution;
SQL
