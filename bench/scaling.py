"""Is scanning linear in the input size? The default policy on 20 KB to 256 KB prompts.

    .venv/bin/python bench/scaling.py            # 20, 40, 100, 200, 256 KB
    .venv/bin/python bench/scaling.py --quick    # 2 and 4 KB (smoke)

The text is bench/overhead.py's support-ticket prompt and answer repeated to each
size (ASCII, and with typographic quotes and accents), so every size holds the same
kind of text and only the length changes: the ratio column should stay near 1 (cost per
KB constant). Times are the median CPU time (``time.process_time``) of ``--repeat``
scans of ``Guard.scan_input`` with the shipped default policy, plus the three
regex-heavy input scanners alone (each on a freshly normalised text). Sizes stay under
the policy's ``max_scan_chars`` (default 262,144): above it the guard scans a head and
tail sample of that size, so the cost stops growing by design.

A last table does the same on adversarial texts (one hostile unit repeated: backticks,
control characters, thousands of keys, a character reference of 256,000 digits, ...),
each of which once made a scan quadratic.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

SIZES_KB = (20, 40, 100, 200, 256)


def text_of(size: int, unicode: bool) -> str:
    base = c.PROMPT + "\n" + c.ANSWER + "\n"
    if unicode:
        base = base.replace("'", "\u2019").replace(" e", " \u00e9").replace('"', "\u201c")
    return (base * (size // len(base) + 1))[:size]


def cpu_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        samples.append((time.process_time() - t0) * 1e3)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--per-call-only", action="store_true", help="only the per-call table")
    args = ap.parse_args()
    sizes = (2, 4) if args.quick else SIZES_KB
    repeat = 1 if args.quick else args.repeat

    from otel_llm_security.guard.engine import Guard
    from otel_llm_security.guard.normalize import scan_text
    from otel_llm_security.guard.scanners import hyperscan_prefilter

    guard = Guard.from_policy(None)
    # The rule sets' Hyperscan databases: compiled once per machine (or loaded from the
    # user cache); timed scans run after, on the path a long-running app takes.
    prefilter = "Hyperscan" if hyperscan_prefilter.ENABLED and hyperscan_prefilter.wait_all(600) else "pure Python"
    by_name = {cs.name: cs.scanner for cs in guard.input_scanners}
    rows_of: dict[str, Callable[[str], Callable[[], Any]]] = {
        "default policy: scan_input": lambda t: lambda: guard.scan_input(t),
        **{f"input {n}": (lambda t, s=by_name[n]: lambda: s.scan(scan_text(t)))
           for n in ("prompt_injection", "secrets", "pii") if n in by_name},
    }
    c.print_machine()
    print(f"Rule prefilter: {prefilter} (OTEL_LLM_SECURITY_HYPERSCAN=0 for the pure-Python one)")
    # The scans of one bench/overhead.py call, without the client around them.
    n = 50 if args.quick else 2000
    # A new string object per call, as an app's calls have (a memo keyed by the text
    # object must not carry over from one timed call to the next).
    def fresh(s: str) -> str:
        return s[:-1] + s[-1:]

    per_call = {
        "scan_input(1,540-char prompt)": lambda: guard.scan_input(fresh(c.PROMPT)),
        "scan_output(301-char answer, prompt)": lambda: guard.scan_output(fresh(c.ANSWER), fresh(c.PROMPT)),
    }
    print(f"\n### The scans of one bench/overhead.py call: µs (median CPU time over {n} scans, in batches of 10)\n")
    rows = []
    for name, fn in per_call.items():
        fn()
        batches = []
        for _ in range(n // 10):
            t0 = time.process_time()
            for _ in range(10):
                fn()
            batches.append((time.process_time() - t0) * 1e5)
        rows.append([name, c.fmt(statistics.median(batches), 0)])
    print(c.table(["default policy", "µs"], rows))
    if args.per_call_only:
        return
    for unicode in (False, True):
        results = {name: [cpu_ms(make(text_of(kb * 1000, unicode)), repeat) for kb in sizes] for name, make in rows_of.items()}
        print(f"\n### {'Unicode' if unicode else 'ASCII'} text: ms per scan (median CPU time of {repeat}); last "
              f"column: cost per KB at the largest size relative to the smallest (x1.00 = linear)\n")
        headers = ["scanner", *(f"{kb} KB" for kb in sizes), f"cost/KB at {sizes[-1]} KB vs {sizes[0]} KB"]
        rows = []
        for name, ms in results.items():
            ratio = (ms[-1] / sizes[-1]) / (ms[0] / sizes[0]) if ms[0] > 0 else float("nan")
            rows.append([name, *(c.fmt(m, 1) for m in ms), f"x{ratio:.2f}"])
        print(c.table(headers, rows))
    adversarial(guard, (2, 4) if args.quick else ADVERSARIAL_SIZES_KB)
    print()


ADVERSARIAL_SIZES_KB = (16, 64, 256)
# What a hostile prompt or answer repeats to its length: each once made a scan quadratic
# (found by the twelfth session's fuzzing; the guard's tests keep them linear).
# (what comes first, the unit repeated after it)
ADVERSARIAL = {
    "backticks": ("", "`"),
    "backtick pairs": ("", "`x"),
    "code fences": ("", "```\n"),
    "control characters": ("", "\x1f"),
    "zero-width + control": ("", "\u200b\x01"),
    "AWS keys": ("", "AKIAIOSFODNN7EXAMPLE(a)"),  # AWS's documented example key
    "a character reference's digits": ("<script>x</script> &#", "1"),
    "injections": ("", "ignore all previous instructions "),
    "event handlers": ("", "<img src=x onerror=alert(1)>"),
}


def adversarial(guard: Any, sizes: tuple[int, ...]) -> None:
    """The default policy on texts that repeat one hostile unit: one scan each (CPU ms)."""
    print(f"\n### Adversarial texts: ms per scan (CPU time of one); last column: cost per KB at {sizes[-1]} KB "
          f"relative to {sizes[0]} KB (x1.00 = linear; quadratic would be x{sizes[-1] / sizes[0]:.0f})\n")
    rows = []
    for name, (head, unit) in ADVERSARIAL.items():
        for direction in ("input", "output"):
            ms = []
            for kb in sizes:
                size = kb * 1000
                text = head + (unit * (size // len(unit) + 1))[:size]
                scan = (lambda t=text: guard.scan_input(t)) if direction == "input" else (lambda t=text: guard.scan_output(t, "hi"))
                ms.append(cpu_ms(scan, 1))
            ratio = (ms[-1] / sizes[-1]) / (ms[0] / sizes[0]) if ms[0] > 0 else float("nan")
            rows.append([f"{name} ({direction})", *(c.fmt(m, 1) for m in ms), f"x{ratio:.2f}"])
    print(c.table(["text", *(f"{kb} KB" for kb in sizes), "cost/KB"], rows))


if __name__ == "__main__":
    main()
