#!/usr/bin/env bash
# Prints the path of a Python interpreter whose version is at least $1 (default 3.12)
# and below $2 when given (exclusive, e.g. 3.13). Looks at $PYTHON, plain pythonX.Y
# and python3 on PATH, then pyenv's installed versions (a pyenv shim alone is not
# enough: it answers only for the selected version).
set -euo pipefail
min="${1:-3.12}"
max="${2:-}"
fits() {
  "$1" - "$min" "$max" <<'PY' >/dev/null 2>&1
import sys
lo = tuple(map(int, sys.argv[1].split(".")))
hi = tuple(map(int, sys.argv[2].split("."))) if sys.argv[2] else None
v = sys.version_info[:2]
sys.exit(0 if v >= lo and (hi is None or v < hi) else 1)
PY
}
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
for v in 3.12 3.13 3.11 3.10 3.14; do candidates+=("python$v"); done
candidates+=(python3)
if command -v pyenv >/dev/null 2>&1; then
  root="$(pyenv root)"
  for d in $(ls -1d "$root"/versions/3.* 2>/dev/null | sort -V); do
    for exe in "$d"/bin/python3.*[0-9]; do [ -x "$exe" ] && candidates+=("$exe"); done
  done
fi
for c in "${candidates[@]}"; do
  path="$(command -v "$c" 2>/dev/null || true)"
  [ -n "$path" ] || continue
  if fits "$path"; then
    "$path" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "no Python >= $min${max:+ and < $max} found; install one (e.g. 'pyenv install 3.12' or your distro's python3.12) or set PYTHON=/path/to/python" >&2
exit 1
