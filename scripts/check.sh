#!/usr/bin/env bash
# The checks that keep the code's shape (run by scripts/test.sh before the tests, and by pre-commit):
# ruff (rules in pyproject.toml), mypy --strict on sweep/, the import-linter contracts (the layers),
# and the size limits (modules <= 400 lines, functions <= 60). Uses the venv the README's commands make.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin
"$py/ruff" check sweep tests benchmarks scripts
"$py/mypy"
"$py/lint-imports" --no-cache
"$py/python" scripts/check_sizes.py
echo "checks: ruff, mypy --strict, import contracts and sizes all clean"
