"""Starting and stopping a ``collect`` subprocess in tests (with its thread stacks when it does not stop)."""

from __future__ import annotations

import signal
import subprocess

from otel_llm_security.testing.collect import start_collect


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


__all__ = ["start_collect", "stop_collect"]
