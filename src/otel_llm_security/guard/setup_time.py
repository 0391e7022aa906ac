"""One-time set-up work of the scanners, timed apart from their scanning.

A scanner's budget (the policy's ``budget_ms``) is for scanning a text. The first scans
in a process also do work that is never repeated: a rule's pattern compiles the first
time a text is a candidate for it, the rules' word clauses load, a Hyperscan database
loads from the disk cache. That is tens of ms on a fast host and a few hundred on a slow
one, and it would make an app's first calls overrun the default 50 ms: a timeout, which
under ``fail: closed`` blocks a harmless call. That work runs under :func:`one_time`, and
the engine takes what the scanning thread spent in it out of a scanner's time before it
compares that with the budget (the recorded duration still includes it).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

# (thread ident, perf_counter at the start, seconds): only the latest entries matter,
# those of the scan in progress, so old ones fall off. A first scan of a large text can
# compile ~300 rule patterns and ~700 stem patterns one by one: room for all of them.
_SPENT: deque[tuple[int, float, float]] = deque(maxlen=8192)
_local = threading.local()


@contextmanager
def one_time() -> Iterator[None]:
    """Marks a block as one-time set-up (nested blocks count once, in the outermost)."""
    if getattr(_local, "active", False):
        yield
        return
    _local.active = True
    started = time.perf_counter()
    try:
        yield
    finally:
        _local.active = False
        _SPENT.append((threading.get_ident(), started, time.perf_counter() - started))


def compile_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile`` for a pattern compiled on first use, timed as set-up."""
    with one_time():
        return re.compile(pattern, flags)


def built_once(build: Callable[[], T]) -> Callable[[], T]:
    """A table built on first use (not at import), once, as set-up; later calls return it."""

    @functools.cache
    @functools.wraps(build)
    def built() -> T:
        with one_time():
            return build()

    return built


def spent_since(started: float) -> float:
    """Seconds this thread spent in one-time set-up since ``started`` (a
    ``time.perf_counter()`` reading)."""
    me = threading.get_ident()
    return sum(seconds for ident, start, seconds in list(_SPENT) if ident == me and start >= started)
