#!/usr/bin/env bash
# Sets up the development environment: .venv on Python 3.12+ with the package
# (editable) and its dev, local-mode and ML extras. With --llm-guard, also
# .venv-llmguard, where llm-guard runs: llm-guard needs torch and Python < 3.13,
# and torch must be the CPU build (torch==2.13.0) installed before llm-guard, or pip
# pulls a multi-GB CUDA build. Idempotent: a second run only re-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
with_llm_guard=0
for arg in "$@"; do
  case "$arg" in
    --llm-guard) with_llm_guard=1 ;;
    *) echo "usage: scripts/setup.sh [--llm-guard]" >&2; exit 2 ;;
  esac
done
stamp() { sha256sum pyproject.toml | cut -c1-16; }

if [ ! -x .venv/bin/python ]; then
  py="$(scripts/find-python.sh 3.12)"
  echo "creating .venv with $py"
  "$py" -m venv .venv
fi
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$(stamp)" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,ml]'
  stamp > .venv/.setup-stamp
fi
# The deprecated contrib opentelemetry-instrumentation-openai-v2 needs an
# opentelemetry-util-genai with util.genai.instruments (<1.3), which its successor
# genai-openai excludes: keep one beside the venv for the coexistence test only.
if [ ! -d .venv/compat-openai-v2/opentelemetry ]; then
  .venv/bin/python -m pip install -q --no-deps --target .venv/compat-openai-v2 'opentelemetry-util-genai==1.1b0'
fi

# Headless Chromium renders the HTML report in its test (Debian's package; needs root).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the report's browser test will be skipped" >&2
fi

if [ "$with_llm_guard" = 1 ]; then
  if [ ! -x .venv-llmguard/bin/python ]; then
    py="$(scripts/find-python.sh 3.10 3.12)"
    echo "creating .venv-llmguard with $py"
    "$py" -m venv .venv-llmguard
  fi
  if [ "$(cat .venv-llmguard/.setup-stamp 2>/dev/null)" != "$(stamp)" ]; then
    .venv-llmguard/bin/python -m pip install -q --upgrade pip
    .venv-llmguard/bin/python -m pip install -q torch==2.13.0
    .venv-llmguard/bin/python -m pip install -q -e '.[llm-guard,openai,local,ml]' pytest pytest-asyncio
    stamp > .venv-llmguard/.setup-stamp
  fi
fi
