"""What the guard's data costs when the CPU caches are cold.

In an application, the client's own work between two calls (HTTP, JSON, pydantic)
evicts the guard's code and data from the CPU caches, so each scan reads its pattern
databases from memory again: ``bench/phases.py`` shows the scanners costing several
times their tight-loop figure in place. This script separates that effect: each step is
timed warm (right after the same step on another text) and after the same step on
another text then a read of other memory of a given size (evicting up to that much of
the caches), on fresh copies of the workload texts, the default policy, Hyperscan
databases ready. The ratio column is cold / warm in the same run. The steps: the prompt_injection group's Hyperscan scan of the prompt
(one database, the largest), the whole prompt_injection scanner, and the guard's
``scan_input`` and ``scan_output``.

    .venv/bin/python bench/cold.py              # 200 rounds, 0.25-16 MB evicted
    .venv/bin/python bench/cold.py --quick      # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="smoke test: 5 rounds, two sizes")
    args = ap.parse_args()
    rounds = 5 if args.quick else args.rounds
    sizes_mb = (1.0, 16.0) if args.quick else (0.25, 1.0, 4.0, 16.0)

    from otel_llm_security.guard.engine import Guard
    from otel_llm_security.guard.normalize import scan_text
    from otel_llm_security.guard.scanners.prompt_injection import PromptInjectionScanner

    guard = Guard.from_policy(None)
    groups = {g.name: g for g in guard.prepare(timeout=600)}  # [] without Hyperscan
    group = groups.get("prompt_injection")
    injection = PromptInjectionScanner()
    prompt, answer = c.PROMPT, c.ANSWER

    steps: dict[str, Callable[[str], object]] = {}
    if group is not None and group.size_bytes:
        steps["prompt_injection database scan (Hyperscan)"] = lambda t: group.candidates(t.lower())
    steps["prompt_injection scanner"] = lambda t: injection.scan(scan_text(t))
    steps["guard: scan_input"] = guard.scan_input
    steps["guard: scan_output"] = lambda t: guard.scan_output(answer + t[-4:], prompt)
    for step in steps.values():  # every pattern the workload needs compiled, every database loaded
        step(prompt + " warm-up")

    other = bytearray(int(max(sizes_mb) * 1024 * 1024))
    view = memoryview(other)

    def evict(mb: float) -> None:
        sum(view[: int(mb * 1024 * 1024) : 64])  # one read per cache line

    warm: dict[str, list[float]] = {name: [] for name in steps}
    cold: dict[tuple[str, float], list[float]] = {(name, mb): [] for name in steps for mb in sizes_mb}
    clock = time.perf_counter_ns
    for r in range(rounds):
        for name, step in steps.items():
            for mb in sizes_mb:
                step(f"{prompt} {r} {mb} before")  # the step's data in the caches
                evict(mb)
                text = f"{prompt} {r} {mb}"
                t0 = clock()
                step(text)
                cold[(name, mb)].append((clock() - t0) / 1000)
                text = f"{prompt} {r} {mb} again"
                t0 = clock()
                step(text)
                warm[name].append((clock() - t0) / 1000)

    c.print_machine({"hyperscan": "on" if group is not None else "off (the pure-Python path)"})
    if group is not None:
        print(f"\nprompt_injection database: {group.size_bytes:,} bytes")
    print(f"\n### µs per step (median of {rounds} rounds), warm and after reading other memory of each size\n")
    headers = ["step", "warm", *[f"after {mb:g} MB" for mb in sizes_mb], f"ratio at {max(sizes_mb):g} MB"]
    rows = []
    for name in steps:
        w = statistics.median(warm[name])
        colds = [statistics.median(cold[(name, mb)]) for mb in sizes_mb]
        rows.append([name, c.fmt(w, 1), *[c.fmt(x, 1) for x in colds], f"x{colds[-1] / w:.2f}"])
    print(c.table(headers, rows))


if __name__ == "__main__":
    main()
