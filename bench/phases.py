"""Where one instrumented call's time goes, step by step, inside the process.

A worker of ``bench/overhead.py``'s ``ours`` configuration (the real ``openai`` client
over the in-process replay, the default policy) makes sync calls while each step of
our hook is timed in place with ``perf_counter`` (wall time): the call's start, the
guard's two scans and each scanner in them, the record and its parts, and the SDK's span
calls. In place, every step costs more than in a tight loop (the client's own work
between our steps evicts our code and data from the CPU caches); this is the cost an
application pays. The timers add ~0.1-0.2 µs per step. Also printed: what the hook
adds to a call in the same process (runtime installed vs removed, CPU time).

    .venv/bin/python bench/phases.py              # 5 rounds x 400 calls
    .venv/bin/python bench/phases.py --quick      # smoke test
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

STEPS = (
    ("call start (Call.__init__)", "call.init"),
    ("  of which the SDK's start_span", "sdk.start_span"),
    ("guard: scan_input", "call.scan_input"),
    ("guard: scan_output", "call.scan_output"),
    ("record (Recorder.record)", "rec.record"),
    ("  summary", "rec.summarize"),
    ("  span attributes (ours)", "rec.attributes"),
    ("  the SDK's set_attributes", "sdk.set_attributes"),
    ("  metrics", "rec.metrics"),
    ("the SDK's span end", "sdk.end"),
    ("response reading (parse_response)", "extract.parse_response"),
)


def _timed(acc: collections.Counter[str], label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    clock = time.perf_counter_ns

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] += clock() - t0

    return wrapper


def install_timers(acc: collections.Counter[str]) -> list[str]:
    """Wraps the steps of our hook (and each scanner) with timers; returns the scanner labels."""
    import opentelemetry.sdk.trace as sdk_trace

    from otel_llm_security.capture import call as call_mod
    from otel_llm_security.capture import extract, patch
    from otel_llm_security.record import recorder as rec_mod

    rt = patch.runtime
    assert rt is not None, "the worker did not instrument the client"
    for owner, name, label in (
        (call_mod.Call, "__init__", "call.init"),
        (call_mod.Call, "scan_input", "call.scan_input"),
        (call_mod.Call, "_scan_output", "call.scan_output"),
        (rec_mod.Recorder, "record", "rec.record"),
        (rec_mod.Recorder, "attributes", "rec.attributes"),
        (rec_mod.Recorder, "_metrics", "rec.metrics"),
        (sdk_trace.Span, "set_attributes", "sdk.set_attributes"),
        (sdk_trace.Span, "end", "sdk.end"),
    ):
        setattr(owner, name, _timed(acc, label, getattr(owner, name)))
    rec_mod.summarize = _timed(acc, "rec.summarize", rec_mod.summarize)
    extract.parse_response = _timed(acc, "extract.parse_response", extract.parse_response)
    rt.tracer.start_span = _timed(acc, "sdk.start_span", rt.tracer.start_span)
    labels = []
    for cs in (*rt.guard.input_scanners, *rt.guard.output_scanners):
        label = f"{cs.scanner.direction}:{cs.name}"
        labels.append(label)
        # ConfiguredScanner is frozen; the engine calls the bound method it keeps
        object.__setattr__(cs, "_scan_fn", _timed(acc, label, cs._scan_fn))
    return labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=400, help="sync calls per round")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.calls = 2, 20
    c.print_machine()
    from overhead import Worker

    from otel_llm_security.capture import patch

    worker = Worker("ours")
    worker.run("sync", 50)  # warm-up: imports, caches, the pattern databases
    acc: collections.Counter[str] = collections.Counter()
    scanners = install_timers(acc)
    worker.run("sync", 20)
    per_round: dict[str, list[float]] = collections.defaultdict(list)
    added: list[float] = []
    runtime = patch.runtime
    cpu = time.process_time_ns
    for _ in range(args.rounds):
        acc.clear()
        t0 = cpu()
        worker.run_sync(args.calls)
        on = (cpu() - t0) / args.calls / 1000.0
        for label, total in acc.items():
            per_round[label].append(total / args.calls / 1000.0)
        patch.runtime = None
        t0 = cpu()
        worker.run_sync(args.calls)
        off = (cpu() - t0) / args.calls / 1000.0
        patch.runtime = runtime
        added.append(on - off)

    def median(label: str) -> str:
        values = per_round.get(label)
        return f"{statistics.median(values):.1f}" if values else "-"

    print(f"\n### One sync call of bench/overhead.py's workload, step by step: µs per call in place "
          f"(median of {args.rounds} rounds x {args.calls} calls)\n")
    print(f"Our hook adds {statistics.median(added):.0f} µs of CPU per call here (runtime on - off, same "
          "process; timers included).\n")
    print("| step | µs |")
    print("|---|---|")
    for title, label in STEPS:
        print(f"| {title} | {median(label)} |")
    print("\n| scanner (in place) | µs |")
    print("|---|---|")
    for label in scanners:
        print(f"| {label} | {median(label)} |")


if __name__ == "__main__":
    main()
