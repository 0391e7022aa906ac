"""The warm-up scans started by instrument() (guard/warm_up.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from otel_llm_security.attributes import ENV_HYPERSCAN, ENV_WARM_UP
from otel_llm_security.guard import warm_up
from otel_llm_security.guard.engine import Guard
from otel_llm_security.guard.errors import PolicyError
from otel_llm_security.guard.scanner import ScanResult, ScanText

_FIRST_SCANS = textwrap.dedent(
    """
    import sys, time
    from otel_llm_security.guard import setup_time, warm_up
    from otel_llm_security.guard.engine import Guard
    g = Guard.from_policy(None)
    g.prepare()  # the Hyperscan databases, loaded from the cache: not what is measured here
    if sys.argv[1] == "warm":
        warm_up.start_in_background(g).join()
    t0 = time.perf_counter()
    g.scan_input(warm_up.BENIGN_PROMPT)
    g.scan_output(warm_up.BENIGN_ANSWER, warm_up.BENIGN_PROMPT)
    print(setup_time.spent_since(t0) > 0.0)
    """
)


def test_after_the_warm_up_the_app_thread_does_no_set_up(scan_path: str) -> None:
    """In a fresh process, the first scans of a benign prompt and answer do set-up work
    (tables built, patterns compiled) unless the warm-up ran first; then they do none."""
    env = {**os.environ, ENV_HYPERSCAN: "1" if scan_path == "hyperscan" else "0"}
    spent = {}
    for case in ("cold", "warm"):
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_SCANS, case], capture_output=True, text=True, timeout=300, check=True, env=env
        )
        spent[case] = out.stdout.split()
    assert spent == {"cold": ["True"], "warm": ["False"]}


def test_it_runs_every_inline_scanner_in_a_daemon_thread_and_skips_isolated_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = Guard.from_policy(None)
    seen: list[tuple[str, str]] = []
    threads: list[threading.Thread] = []
    for cs in (*guard.input_scanners, *guard.output_scanners):
        original = cs.scanner.scan

        def recording(text: ScanText, prompt: ScanText | None = None, *, _cs=cs, _original=original) -> ScanResult:
            seen.append((_cs.scanner.direction, _cs.name))
            threads.append(threading.current_thread())
            return _original(text, prompt)

        monkeypatch.setattr(cs.scanner, "scan", recording)
    monkeypatch.setattr(type(guard.input_scanners[0]), "isolated", property(lambda cs: cs.name == "pii"))
    thread = guard.start_warm_up()
    assert thread is not None and thread.daemon and thread.name == warm_up.THREAD_NAME
    thread.join(60)
    expected = {(cs.scanner.direction, cs.name) for cs in (*guard.input_scanners, *guard.output_scanners)}
    assert set(seen) == {e for e in expected if e[1] != "pii"}
    assert seen.count(("input", "prompt_injection")) == 1
    assert all(t is thread for t in threads)


class _Failing:
    name, direction, isolated = "broken", "input", False

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        raise RuntimeError("boom")


class _Configured:
    def __init__(self, scanner: object) -> None:
        self.scanner, self.name, self.isolated = scanner, "broken", False


class _GuardWith:
    def __init__(self, *scanners: object) -> None:
        self.input_scanners = tuple(_Configured(s) for s in scanners)
        self.output_scanners = ()


def test_a_scanner_that_fails_its_warm_up_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard.from_policy(None)
    broken = _GuardWith(_Failing(), guard.input_scanners[0].scanner)
    with caplog.at_level(logging.WARNING, logger="otel_llm_security.guard.warm_up"):
        warm_up.warm_up(broken)
    assert any("broken failed its warm-up scan: RuntimeError" in r.getMessage() for r in caplog.records)


def test_it_is_on_unless_the_variable_says_false() -> None:
    assert warm_up.enabled({}) and warm_up.enabled({ENV_WARM_UP: "1"})
    assert not warm_up.enabled({ENV_WARM_UP: "false"})


def test_a_scan_that_starts_while_the_warm_up_runs_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same set-up done twice at once under the GIL made such a first call slower
    than no warm-up at all."""
    guard = Guard.from_policy({"scanners": [{"type": "invisible_text"}]})
    done = threading.Event()

    def slow_warm_up(g: Guard) -> float:
        time.sleep(0.3)
        done.set()
        return 0.3

    monkeypatch.setattr(warm_up, "warm_up", slow_warm_up)
    thread = guard.start_warm_up()
    assert thread is not None and not done.is_set()
    guard.scan_input("the app's first call")
    assert done.is_set()
    thread.join()
    guard.scan_input("and its second")  # nothing left to wait for


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(PolicyError, match=ENV_WARM_UP):
        warm_up.enabled({ENV_WARM_UP: "sometimes"})


class _Slow:
    name, direction, isolated = "slow", "input", False

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        time.sleep(0.3)
        return ScanResult(scanner="slow", direction="input", score=0.0, passed=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_fork_waits_for_a_running_warm_up() -> None:
    """A pre-forking server: the child must not start with our thread holding a lock."""
    thread = warm_up.start_in_background(_GuardWith(_Slow()))
    assert thread is not None and thread.is_alive()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded, fork() may deadlock"
        pid = os.fork()
    if pid == 0:
        os._exit(0)
    alive_after_fork = thread.is_alive()
    os.waitpid(pid, 0)
    assert not alive_after_fork


def test_no_thread_to_start_is_a_warning_and_the_scans_go_on(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """At interpreter exit or out of threads, Thread.start raises: instrument() must not."""
    guard = Guard.from_policy({"scanners": [{"type": "invisible_text"}]})

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with caplog.at_level(logging.WARNING, logger="otel_llm_security.guard.warm_up"):
        assert guard.start_warm_up() is None
    assert any("no warm-up thread" in r.getMessage() for r in caplog.records)
    assert guard.scan_input("hello").results[0].error is None
