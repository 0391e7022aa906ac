"""Starting and stopping a ``collect`` subprocess in tests (with its thread stacks when it does not stop)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path


def start_collect(store: Path) -> tuple[subprocess.Popen[str], str]:
    """``collect`` on a free port writing to ``store``: the process and its OTLP/HTTP base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_llm_security.cli.main", "collect", "--store", str(store), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)/v1/traces", line)
    if not m:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"collect did not start: {line} {err}")
    return proc, m.group(1)


def stop_collect(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """SIGINT, then wait; on a hang, ask for the stacks (collect registers SIGUSR1 with
    faulthandler), kill, and fail with them instead of a bare timeout."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        try:
            out, err = proc.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"collect did not stop {timeout:.0f} s after SIGINT\nstdout:\n{out}\nstderr:\n{err}") from None
