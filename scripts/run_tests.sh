#!/usr/bin/env bash
# Runs the test suite. pytest's exit code 5 (no tests collected) is a failure, said so.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pytest -q "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "run_tests: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $rc
