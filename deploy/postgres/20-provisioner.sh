#!/bin/bash
# Runs once, when the data volume is new (docker-entrypoint-initdb.d), after 10-shop.sql made the shop and its
# roles: the one login Gatehouse holds. PostgreSQL 16+ needs ADMIN OPTION on the roles it grants (docs/credentials.md).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=password="$(cat /secrets/provisioner)" <<'SQL'
CREATE ROLE gatehouse_provisioner LOGIN CREATEROLE PASSWORD :'password';
GRANT app_read, app_write TO gatehouse_provisioner WITH ADMIN OPTION;
GRANT CONNECT ON DATABASE shop TO gatehouse_provisioner;
SQL
