#!/usr/bin/env bash
# Install everything the test suite needs (Chromium for the report test, a venv with sweep[test]),
# run the code checks (scripts/check.sh: ruff, mypy --strict, import contracts, sizes), then the
# tests. Extra arguments go to pytest (run as given, in one process). Used by .ci/run and the README.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the HTML report test needs Debian's chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
# PostgreSQL for tests/test_workers.py (several workers on one study): installed and started as root,
# idempotent; a server named by SWEEP_TEST_PG_URL is used as it is. A server this script started is
# stopped when it ends (however it ends); one that was already running is left running.
if [ -z "${SWEEP_TEST_PG_URL:-}" ]; then
  PG_STARTED="$(mktemp)"
  trap 'bash scripts/postgres.sh --stop "$PG_STARTED"; rm -f "$PG_STARTED"' EXIT
  SWEEP_TEST_PG_URL="$(bash scripts/postgres.sh --started-file "$PG_STARTED")"
  case "$SWEEP_TEST_PG_URL" in
    postgresql*://*) ;;
    *) echo "scripts/postgres.sh printed no PostgreSQL URL (got: ${SWEEP_TEST_PG_URL})" >&2; exit 1 ;;
  esac
  export SWEEP_TEST_PG_URL
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip uninstall -q -y sweep >/dev/null 2>&1 || true  # a venv from before the rename to ei-sweep
.venv/bin/python -m pip install -q -e '.[test]'
bash scripts/check.sh
set +e
# pytest's exit code 5 (no tests collected) fails on purpose: a suite that ran nothing did not pass.
run_pytest() {
  .venv/bin/python -m pytest "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests ($*): failing on purpose" >&2
    return 1
  fi
  return "$rc"
}
if [ "$#" -gt 0 ]; then  # the tests asked for, as pytest takes them
  run_pytest "$@"
  exit $?
fi
# The whole suite: two files at a time on the 2 cores, then the files that bound wall-clock times alone
# (the `serial` mark, tests/conftest.py), so no other test's training skews their clocks.
run_pytest -n 2 --dist loadfile -m "not serial"
parallel_rc=$?
run_pytest -m serial
serial_rc=$?
[ "$parallel_rc" -eq 0 ] && [ "$serial_rc" -eq 0 ]
