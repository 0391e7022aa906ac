"""µs per scan for each built-in scanner and for the whole default policy, by input size.

    .venv/bin/python bench/scanners.py            # full run (about a minute)
    .venv/bin/python bench/scanners.py --quick    # smoke run (figures meaningless)

Inputs of 200 B, 2 KB, 20 KB and 200 KB of benign text (support-ticket prose and a
model answer, repeated), so the growth with input size is visible: the cost must be
linear (x10 input, about x10 time, never more). Two flavours of text: ASCII only, and
the same text with typographic quotes and accented letters ("unicode"), which takes the
Unicode normalisation path (NFKC, case-fold, look-alike folding) instead of the ASCII
fast path. Per-scanner rows time ``scanner.scan`` on a text normalised beforehand (what
the guard does: normalise once, then every scanner); the ``normalize`` row is that
shared step; the ``policy`` rows are ``Guard.scan_input`` / ``Guard.scan_output`` with
the shipped default policy, everything included; the ``engine only`` row is
``Guard.scan_input`` with ten scanners that answer at once (the guard's own cost per
scan: normalising, timing, budgets, the verdict).

Then the same for llm-guard's scanners that run offline (through our adapter), in a
child process run by ``.venv-llmguard/bin/python`` (Python 3.11: the venv with torch
and llm-guard). Figures are medians over interleaved rounds; the machine is shared, so
read the ratios across sizes rather than single figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

SIZES = (200, 2_000, 20_000, 200_000)
SIZE_LABEL = {200: "200 B", 2_000: "2 KB", 20_000: "20 KB", 200_000: "200 KB"}
MAX_SECONDS_PER_SCAN = 3.0  # bigger sizes are skipped once a scanner takes this long

LLM_GUARD_SCANNERS: list[tuple[str, str, dict[str, Any]]] = [
    ("BanSubstrings", "input", {"substrings": ["ignore previous instructions", "jailbreak"], "match_type": "str"}),
    ("Regex", "input", {"patterns": [r"sk-[a-zA-Z0-9]{20,}"], "threat": "secret"}),
    ("Secrets", "input", {}),
    ("InvisibleText", "input", {}),
    ("TokenLimit", "input", {"limit": 1_000_000}),
    ("NoRefusalLight", "output", {}),
]


def _unicode(text: str) -> str:
    return text.replace("'", "\u2019").replace(" e", " \u00e9").replace('"', "\u201c")


def text_of(size: int, flavour: str) -> str:
    base = c.PROMPT + "\n" + c.ANSWER + "\n"
    if flavour == "unicode":
        base = _unicode(base)
    return (base * (size // len(base) + 1))[:size]


def time_one(fn: Callable[[], Any], budget_s: float) -> list[float]:
    """Run ``fn`` repeatedly for about ``budget_s`` (at least once); µs per run."""
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    while True:
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000.0)
        if time.perf_counter() >= deadline:
            return out


def measure(cases: list[tuple[str, Callable[[int], Callable[[], Any]]]], rounds: int, budget_s: float) -> dict[str, dict[int, float]]:
    """Median µs per (case, size); cases are interleaved round by round."""
    samples: dict[str, dict[int, list[float]]] = {name: {s: [] for s in SIZES} for name, _ in cases}
    too_slow: set[tuple[str, int]] = set()
    prepared = {(name, s): make(s) for name, make in cases for s in SIZES}
    for fn in prepared.values():  # warm-up (regex compile caches, first-call imports)
        fn() if fn is not None else None
        break
    for _ in range(rounds):
        for name, _make in cases:
            for i, s in enumerate(SIZES):
                if (name, s) in too_slow or (i and (name, SIZES[i - 1]) in too_slow):
                    too_slow.add((name, s))
                    continue
                vals = time_one(prepared[(name, s)], budget_s * (1 + i))
                samples[name][s].extend(vals)
                if min(vals) > MAX_SECONDS_PER_SCAN * 1e6:
                    too_slow.add((name, s))
    return {name: {s: (c.median(v) if v else float("nan")) for s, v in by.items()} for name, by in samples.items()}


def rows_of(results: dict[str, dict[int, float]]) -> list[list[str]]:
    rows = []
    for name, by in results.items():
        cells = [c.fmt(by[s], 1 if by[s] < 100 else 0) for s in SIZES]
        big, mid = by[200_000], by[20_000]
        growth = c.fmt(big / mid, 1) if mid and mid == mid and big == big else "n/a"
        per_kb = c.fmt(big / 200.0, 1) if big == big else "n/a"
        rows.append([name, *cells, per_kb, growth])
    return rows


HEADERS = ["scanner", *(SIZE_LABEL[s] for s in SIZES), "µs/KB @200 KB", "x for 20→200 KB"]


class _NoopScanner:
    """Answers at once: what is left is the guard's own per-scan cost."""

    def __init__(self, name: str) -> None:
        self.name, self.direction, self.threshold = name, "input", 0.5

    def scan(self, text: Any, prompt: Any = None) -> Any:
        from otel_llm_security.guard.scanner import ScanResult

        return ScanResult(scanner=self.name, direction="input", score=0.0, passed=True)


def noop_guard() -> Any:
    from otel_llm_security.attributes import Action
    from otel_llm_security.guard.engine import ConfiguredScanner, Guard
    from otel_llm_security.guard.policy import default_policy

    return Guard(default_policy(), [ConfiguredScanner(_NoopScanner(f"noop_{i}"), Action.WARN, "open", 50.0)  # type: ignore[arg-type]
                                    for i in range(10)])


def builtin_cases(flavour: str) -> list[tuple[str, Callable[[int], Callable[[], Any]]]]:
    from otel_llm_security.guard.engine import Guard
    from otel_llm_security.guard.normalize import scan_text

    guard = Guard.from_policy(None)
    prompt_st = scan_text(c.PROMPT)
    cases: list[tuple[str, Callable[[int], Callable[[], Any]]]] = []

    def bind(fn: Callable[[str], Any]) -> Callable[[int], Callable[[], Any]]:
        def make(s: int) -> Callable[[], Any]:
            text = text_of(s, flavour)
            return lambda: fn(text)

        return make

    cases.append(("normalize (shared, once per text)", bind(scan_text)))
    for cs in (*guard.input_scanners, *guard.output_scanners):
        sc = cs.scanner
        prompt = prompt_st if sc.direction == "output" else None

        def make(s: int, sc: Any = sc, prompt: Any = prompt) -> Callable[[], Any]:
            st = scan_text(text_of(s, flavour))
            return lambda: sc.scan(st, prompt)

        cases.append((f"{sc.direction}: {sc.name}", make))
    cases.append(("policy: default, input", bind(guard.scan_input)))
    cases.append(("engine only: 10 no-op scanners", bind(noop_guard().scan_input)))
    cases.append(("policy: default, output", bind(lambda t: guard.scan_output(t, c.PROMPT))))
    return cases


def llm_guard_cases() -> list[tuple[str, Callable[[int], Callable[[], Any]]]]:
    from llm_guard.util import configure_logger

    from otel_llm_security.guard.llm_guard_adapter import LLMGuardScanner
    from otel_llm_security.guard.normalize import scan_text

    configure_logger("WARNING", stream=sys.stderr)
    prompt_st = scan_text(c.PROMPT)
    cases = []
    for cls, direction, options in LLM_GUARD_SCANNERS:
        sc = LLMGuardScanner(cls, name=cls.lower(), direction=direction, options=dict(options))  # type: ignore[arg-type]
        prompt = prompt_st if direction == "output" else None

        def make(s: int, sc: Any = sc, prompt: Any = prompt) -> Callable[[], Any]:
            st = scan_text(text_of(s, "ascii"))
            return lambda: sc.scan(st, prompt)

        cases.append((f"{direction}: llm_guard {cls}", make))
    return cases


def run_llm_guard(args: argparse.Namespace) -> None:
    if not c.LLMGUARD_PYTHON.exists():
        print(f"llm-guard: {c.LLMGUARD_PYTHON} missing (scripts/setup.sh --llm-guard): not measured\n")
        return
    cmd = [str(c.LLMGUARD_PYTHON), __file__, "--llm-guard-worker", "--rounds", str(args.rounds), "--budget", str(args.budget)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=c.ROOT, timeout=1800,
                          env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_SECURITY_")})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"llm-guard: the worker failed: {proc.stderr.strip()[-500:]}\n")
        return
    data = json.loads(lines[-1])
    results = {k: {int(s): v for s, v in by.items()} for k, by in data["results"].items()}
    print(f"### llm-guard scanners through the adapter, ASCII text, µs per scan (Python {data['python']}, .venv-llmguard)\n")
    print(c.table(HEADERS, rows_of(results)))
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0.04, help="seconds per measurement batch at 200 B")
    ap.add_argument("--no-llm-guard", action="store_true")
    ap.add_argument("--only", default="", help="only the rows whose name contains this")
    ap.add_argument("--llm-guard-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.budget = 1, 0.0
    if args.llm_guard_worker:
        res = measure(llm_guard_cases(), args.rounds, args.budget)
        print(json.dumps({"python": sys.version.split()[0], "results": res}))
        return
    c.print_machine()
    print()
    for flavour in ("ascii", "unicode"):
        res = measure([cs for cs in builtin_cases(flavour) if args.only in cs[0]], args.rounds, args.budget)
        print(f"### Built-in scanners, {flavour} text, µs per scan (median of {args.rounds} interleaved rounds)\n")
        print(c.table(HEADERS, rows_of(res)))
        print()
        if flavour == "ascii" and "policy: default, input" in res:
            big = res["policy: default, input"][200_000]
            print(f"Target: default policy on a 200 KB prompt < 20 ms: {big / 1000:.1f} ms ({'met' if big < 20_000 else 'NOT met'})\n")
    if not args.no_llm_guard:
        run_llm_guard(args)


if __name__ == "__main__":
    main()
