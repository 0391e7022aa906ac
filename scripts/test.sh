#!/usr/bin/env bash
# The test command: sets up (idempotent), lints, runs the main suite on Python 3.12+,
# the library's tests (capture, guard, record) on Python 3.10 and 3.13+ when installed, and
# the llm-guard suite in its own venv. Extra arguments go to the main pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --llm-guard --other-pythons

.venv/bin/ruff check src tests bench scripts
.venv/bin/python -m otel_llm_security.cli.main rules lint rules/

run_pytest() {
  # pytest exits 5 when it collected no test: for us that is a failure, never a pass.
  local rc=0
  "$@" || rc=$?
  if [ "$rc" = 5 ]; then echo "pytest collected no tests: failing" >&2; return 1; fi
  return "$rc"
}
run_pytest .venv/bin/python -m pytest -q -m "not llm_guard" "$@"
# The oldest supported Python and the newest found: the library itself (the CLI's local
# mode needs 3.12).
for venv in .venv-py310 .venv-py313; do
  if [ -x "$venv/bin/python" ]; then
    run_pytest "$venv/bin/python" -m pytest -q -m "not llm_guard" -p no:cacheprovider tests/guard tests/capture tests/record
  fi
done
# llm-guard lives on Python 3.11 (CPU torch); only tests/guard holds llm_guard tests, and
# other directories import the 3.12-only ES|QL parser at collection.
run_pytest .venv-llmguard/bin/python -m pytest -q -m llm_guard -p no:cacheprovider tests/guard
