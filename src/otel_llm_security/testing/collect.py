"""A ``collect`` subprocess on a free port, for tests and benchmarks of the local pipeline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

_LISTENING = re.compile(r"(http://127\.0\.0\.1:\d+)/v1/traces")


def start_collect(store: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``otel-llm-security collect --store STORE --port 0 ARGS``: the process (stdout and
    stderr piped, text) and its OTLP/HTTP base URL, read from the line it prints once it
    listens. Raises RuntimeError with collect's output when it does not start."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_llm_security.cli.main", "collect", "--store", str(store), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = _LISTENING.search(line)
    if not m:
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"collect did not start: {line}{err}")
    return proc, m.group(1)
