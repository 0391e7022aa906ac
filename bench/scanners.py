#!/usr/bin/env python3
"""Scanner latency: microseconds per scan for every scanner and the default policy.

Texts of 200 B, 2 KB, 20 KB and 200 KB are cut from the long descriptions (READMEs) of
the installed Python distributions, sorted by name: real prose with code and HTML,
not a repeated sentence. Each cell is the median of several timed scans (CPU time of
this process, so other load on a shared machine skews it less). llm-guard adapters
are timed when ``llm_guard`` is importable (run this script with the llm-guard venv's
python for those rows); the ML scanner with ``--ml``.

Target: the default policy scans a 200 KB prompt in < 20 ms.

Usage: .venv/bin/python bench/scanners.py [--ml] [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from otel_llm_security.guard.engine import Guard  # noqa: E402
from otel_llm_security.guard.normalize import scan_text  # noqa: E402
from otel_llm_security.guard.registry import create_scanner  # noqa: E402

SIZES = [("200 B", 200), ("2 KB", 2_000), ("20 KB", 20_000), ("200 KB", 200_000)]
TARGET_MS_200KB = 20.0


def corpus(size: int) -> str:
    parts: list[str] = []
    total = 0
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: (d.metadata.get("Name") or "").lower()):
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""  # type: ignore[attr-defined]
        if len(body) > 500:
            parts.append(body)
            total += len(body)
        if total >= size:
            break
    text = "\n\n".join(parts)
    while len(text) < size:  # a venv with few packages: repeat what there is
        text += "\n\n" + text
    return text[:size]


def _scan_with_fresh_cache(scanner: object, st: object, probe: object) -> Callable[[], object]:
    from otel_llm_security.guard.scanners import hyperscan_prefilter

    def run() -> object:
        st.cache.clear()  # type: ignore[attr-defined]
        hyperscan_prefilter.forget()  # its scan results, remembered for the last text
        return scanner.scan(st, probe)  # type: ignore[attr-defined]

    return run


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU microseconds of ``fn`` over ``repeat`` runs (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        samples.append((time.process_time() - t0) * 1e6)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ml", action="store_true", help="also time the ML scanner (MiniLM in numpy)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    texts = {label: corpus(n) for label, n in SIZES}
    rows: list[tuple[str, Callable[[str], Callable[[], object]]]] = []
    probe = scan_text("What is the capital of France?")
    for kind, direction in [
        ("prompt_injection", "input"), ("denial_of_service", "input"), ("invisible_text", "input"), ("secrets", "input"),
        ("pii", "input"), ("insecure_output", "output"), ("refusal", "output"),
    ]:  # fmt: skip
        scanner = create_scanner(kind, name=kind, direction=direction, threshold=None, options={})  # type: ignore[arg-type]
        # Normalisation is timed on its own row; the scanner's share of the word index
        # (cleared before every run) is timed with it.
        rows.append((f"{direction} {kind}", lambda t, s=scanner: _scan_with_fresh_cache(s, scan_text(t), probe)))
    rows.append(("normalize (once per text)", lambda t: (lambda: scan_text(t))))
    guard = Guard.from_policy(None)
    from otel_llm_security.guard.scanners import hyperscan_prefilter

    # compiled once per machine (or loaded from the user cache) before anything is timed
    prefilter = "Hyperscan" if hyperscan_prefilter.ENABLED and hyperscan_prefilter.wait_all(600) else "pure Python"
    # a new string object per call, as an app's calls have (no memo of the last text carries over)
    rows.append(("default policy: scan_input", lambda t: (lambda: guard.scan_input(t[:-1] + t[-1:]))))
    rows.append(("default policy: scan_output", lambda t: (lambda: guard.scan_output(t[:-1] + t[-1:], "What is the capital of France?"))))
    if args.ml:
        ml = create_scanner("ml_prompt_injection", name="ml_prompt_injection", direction="input", threshold=None, options={})
        rows.append(("input ml_prompt_injection", lambda t: (lambda: ml.scan(scan_text(t), None))))
    if importlib.util.find_spec("llm_guard") is not None:
        import logging

        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        lg_specs = [
            ("BanSubstrings", "input", {"substrings": ["ignore previous instructions", "system prompt"], "case_sensitive": False}),
            ("Regex", "input", {"patterns": [r"sk-[A-Za-z0-9]{20,}"], "threat": "secret"}),
            ("Secrets", "input", {}),
            ("InvisibleText", "input", {}),
            ("TokenLimit", "input", {"limit": 4096}),
            ("NoRefusalLight", "output", {}),
        ]
        for cls, direction, options in lg_specs:
            scanner = create_scanner(f"llm_guard:{cls}", name="lg", direction=direction, threshold=None, options=options)  # type: ignore[arg-type]
            rows.append((f"{direction} llm-guard {cls}", lambda t, s=scanner: (lambda: s.scan(scan_text(t), probe))))
    else:
        print("(llm_guard not importable here: run with .venv-llmguard/bin/python for its rows)")

    sys.path.insert(0, str(ROOT / "bench"))
    import _common

    _common.print_machine()
    print(f"Rule prefilter: {prefilter} (OTEL_LLM_SECURITY_HYPERSCAN=0 for the pure-Python one)")
    print(f"\nµs per scan (median CPU time of {args.repeat} runs; text: installed packages' READMEs)")
    print(f"Target: default policy scan_input on 200 KB < {TARGET_MS_200KB:.0f} ms\n")
    header = f"{'scanner':36s}" + "".join(f"{label:>14s}" for label, _ in SIZES)
    print(header)
    print("-" * len(header))
    for name, make in rows:
        cells = []
        for label, n in SIZES:
            rep = args.repeat if n <= 20_000 else max(3, args.repeat // 2)
            if "ml_prompt" in name or "llm-guard" in name:
                rep = 3
            cells.append(f"{timed(make(texts[label]), rep):14.0f}")
        print(f"{name:36s}" + "".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
