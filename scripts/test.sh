#!/usr/bin/env bash
# Installs keras_transfer with its test extras into .venv (once) and runs the default (fast) test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m slow` for the slow suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e ".[test]"
export TF_CPP_MIN_LOG_LEVEL=2
set +e
# One test process per core (pytest-xdist), each test file kept in one process so its module
# fixtures are built once; TEST_PROCESSES=0 runs them in this process, as before.
.venv/bin/python -m pytest -n "${TEST_PROCESSES:-auto}" --dist loadfile "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
fi
exit "$rc"
