"""Warm-up: a few scans of fixed texts, so that the app's first call does not pay the
scanners' one-time set-up.

The first scans in a process load the Hyperscan databases from the disk cache, compile
the patterns of the rules a text is a candidate for, and build the rules' word tables
(:mod:`~otel_llm_security.guard.setup_time`): with the default policy, a fresh process's
first ``scan_input`` took 18-22 ms on a benign prompt and 35-41 ms on an injection on
this project's 2-core test host, against 0.2-0.6 ms for the next.

* :func:`start_in_background` (through ``Guard.start_warm_up``, which ``instrument()``
  calls): one daemon thread runs every scanner of the guard that scans inline (the
  built-ins; scanners are pure) on a benign prompt and a benign answer, the set-up every
  call needs (an injection's rules compile when one first comes: that set-up doubled the
  warm-up and made a call at once after ``instrument()`` slower, and budgets do not
  count it). Nothing is recorded; the verdicts are dropped. A scan of the guard that starts
  meanwhile waits for it rather than doing the same work at the same time.
  ``OTEL_LLM_SECURITY_WARM_UP=false`` turns it off.
* :func:`warm_up_scanner`: one scan of a scanner that runs isolated (the ML scanner,
  llm-guard's), on the engine's pool, submitted when it is built.

A process that forks (a pre-forking server that loads the app first) waits, before the
fork, for a warm-up still running (at most :data:`FORK_WAIT_S`). The child then has no
thread of ours holding a lock it may need, and it inherits what the warm-up built.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from otel_llm_security.attributes import ENV_WARM_UP
from otel_llm_security.guard.normalize import scan_text
from otel_llm_security.guard.policy import parse_bool
from otel_llm_security.guard.scanner import Scanner, ScanText

log = logging.getLogger(__name__)

BENIGN_PROMPT = "Hello, please summarise this support ticket about a login error."
BENIGN_ANSWER = "Sure: the <b>login</b> fails because the `session` cookie expired; see [the docs](https://example.com/help)."
THREAD_NAME = "otel-llm-security-warm-up"
FORK_WAIT_S = 5.0
# A scan that starts while the warm-up runs waits for it this long at most: the same work,
# done twice at once under the GIL, made such a first call slower than no warm-up.
SCAN_WAIT_S = 2.0

_running: set[threading.Thread] = set()
_running_lock = threading.Lock()


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """``OTEL_LLM_SECURITY_WARM_UP`` (default true). A value that is not a boolean is a
    :class:`~otel_llm_security.guard.errors.PolicyError` naming the variable."""
    value = (os.environ if env is None else env).get(ENV_WARM_UP, "")
    return parse_bool(ENV_WARM_UP, value) if value.strip() else True


def warm_up_scanner(scanner: Scanner) -> None:
    """One scan of a short benign text, for a scanner that runs isolated: its set-up
    (llm-guard's Secrets: 160 ms for its first scan, 7 ms after; the ML scanner: 46 ms,
    then 20) cannot be taken out of its budget (the caller waits on another thread), so
    it would turn a tight budget into a timeout. A failure is logged, never raised: the
    scanner's real scans record their own."""
    text = scan_text(BENIGN_PROMPT)
    _scan_quietly(scanner, text, text if scanner.direction == "output" else None)


def warm_up(guard: Any) -> float:
    """Runs each inline (not isolated) scanner of ``guard`` on the fixed texts, in this
    thread; returns the seconds it took. Never raises."""
    started = time.perf_counter()
    prompt = scan_text(BENIGN_PROMPT)
    answer = scan_text(BENIGN_ANSWER)
    for cs in (*guard.input_scanners, *guard.output_scanners):
        if cs.isolated:  # warmed on the pool when built
            continue
        text, context = (answer, prompt) if cs.scanner.direction == "output" else (prompt, None)
        _scan_quietly(cs.scanner, text, context)
    return time.perf_counter() - started


def _scan_quietly(scanner: Scanner, text: ScanText, context: ScanText | None) -> None:
    """One warm-up scan; a failure is logged, never raised."""
    try:
        scanner.scan(text, context)
    except Exception as exc:
        log.warning("scanner %s failed its warm-up scan: %s", scanner.name, type(exc).__name__)


def start_in_background(guard: Any) -> threading.Thread | None:
    """Starts :func:`warm_up` of ``guard`` (its ``input_scanners`` and
    ``output_scanners``) in a daemon thread (see ``Guard.start_warm_up``); None, with a
    warning, when no thread can be started: the first call then does the set-up."""
    thread = threading.Thread(target=_run, args=(guard,), name=THREAD_NAME, daemon=True)
    with _running_lock:
        _running.add(thread)
    try:
        thread.start()
    except RuntimeError as exc:  # "can't start new thread": out of threads, or at interpreter exit
        with _running_lock:
            _running.discard(thread)
        log.warning("no warm-up thread: %s", exc)
        return None
    return thread


def _run(guard: Any) -> None:
    try:
        log.debug("warm-up done in %.1f ms", warm_up(guard) * 1000)
    finally:
        with _running_lock:
            _running.discard(threading.current_thread())


def _wait_before_fork() -> None:
    with _running_lock:
        threads = list(_running)
    deadline = time.monotonic() + FORK_WAIT_S
    for thread in threads:
        if thread is threading.current_thread():
            continue
        thread.join(max(0.0, deadline - time.monotonic()))


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(before=_wait_before_fork)
