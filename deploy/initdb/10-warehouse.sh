#!/bin/sh
# Run once by the postgres image, on its first start (an empty volume): the warehouse gets a
# role and a database of its own, apart from Dagster's (the database POSTGRES_DB names).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$SMSPRESTO_WAREHOUSE_PASSWORD" <<'SQL'
CREATE ROLE smspresto LOGIN PASSWORD :'password';
CREATE DATABASE smspresto OWNER smspresto;
SQL
