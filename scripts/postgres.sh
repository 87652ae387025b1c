#!/usr/bin/env bash
# Make a local PostgreSQL ready for the multi-worker tests (tests/test_workers.py) and print its URL.
# Idempotent: installs Debian's `postgresql` if missing, starts its cluster (pg_ctlcluster, no systemd
# needed), and creates a throwaway test role/database. Installing and starting need root; a server
# that already answers with the test role is used as it is. The password is a fixed test-only value
# for a server listening on 127.0.0.1 only: nothing secret is created or exported.
#
#   bash scripts/postgres.sh [--started-file FILE]   the URL; FILE gets "VERSION CLUSTER" if this run started it
#   bash scripts/postgres.sh --stop FILE             stop the cluster FILE names (nothing when FILE is empty)
#
# scripts/test.sh uses both, so it stops the server only when it was the one that started it.
set -euo pipefail
STARTED_FILE=""
case "${1:-}" in
  --started-file) STARTED_FILE="$2" ;;
  --stop)
    if [ -s "$2" ]; then
      read -r VERSION CLUSTER < "$2"
      pg_ctlcluster "$VERSION" "$CLUSTER" stop >&2
      echo "stopped PostgreSQL $VERSION/$CLUSTER, which scripts/postgres.sh had started" >&2
    fi
    exit 0 ;;
  "") ;;
  *) echo "usage: bash $0 [--started-file FILE | --stop FILE]" >&2; exit 2 ;;
esac
PG_LIB="${SWEEP_TEST_PG_LIB:-/usr/lib/postgresql}"  # where Debian installs PostgreSQL's versions
ROLE=sweep_test
PASSWORD=sweep_test
DB=sweep_test
PORT="${SWEEP_TEST_PG_PORT:-5432}"
URL="postgresql+psycopg://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DB}"

reachable() {
  command -v psql >/dev/null 2>&1 &&
    PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" -Atqc 'select 1' \
      >/dev/null 2>&1
}

# Everything but the URL goes to stderr: callers capture stdout, so nothing else may reach it (and
# no started daemon may hold it open).
start_server() {
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL for the tests is not reachable at 127.0.0.1:${PORT} as ${ROLE}; run this script as root" \
         "(it installs Debian's postgresql, starts it and creates the test role), e.g. sudo bash $0" >&2
    exit 1
  fi

  if ! ls "$PG_LIB"/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  VERSION="$(ls "$PG_LIB" | sort -V | tail -n 1)"
  # Debian's package creates the `main` cluster (it cannot start it without an init system); make one
  # if a minimal image skipped that.
  if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {found = 1} END {exit !found}'; then
    pg_createcluster --port "$PORT" "$VERSION" main >/dev/null
  fi
  if ! pg_ctlcluster "$VERSION" main status >/dev/null 2>&1; then
    pg_ctlcluster "$VERSION" main start
    if [ -n "$STARTED_FILE" ]; then echo "$VERSION main" > "$STARTED_FILE"; fi
  fi
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
  done
  pg_isready -h 127.0.0.1 -p "$PORT" >/dev/null || {
    echo "PostgreSQL $VERSION did not come up on 127.0.0.1:${PORT}; see /var/log/postgresql/" >&2
    exit 1
  }

  as_postgres() { runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -Atq "$@"; }
  as_postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}') THEN
      CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}';
    ELSE
      ALTER ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}';
    END IF;
  END \$\$;"
  if [ -z "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '${DB}'")" ]; then
    as_postgres -c "CREATE DATABASE ${DB} OWNER ${ROLE}"
  fi
  reachable || {
    echo "PostgreSQL is up but ${ROLE} cannot log in over 127.0.0.1:${PORT} (check pg_hba.conf)" >&2
    exit 1
  }
}

if ! reachable; then
  start_server >&2
fi
echo "$URL"
