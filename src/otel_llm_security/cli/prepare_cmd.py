"""``otel-llm-security prepare``: build the scanners' caches ahead of the first call.

The pattern scanners' Hyperscan databases are compiled on the first scan of a new
machine (about 3 s of CPU, in a background thread, while scans take the slower
pure-Python path) and cached on disk. A container image or a deploy step runs this
command once, with the app's policy, so that no process pays for the compile.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="compile and cache the scanners' pattern databases (for container images and deploys)",
        description=(
            "Loads the guard policy (OTEL_LLM_SECURITY_POLICY and the per-scanner variables apply), then loads "
            "or compiles every Hyperscan pattern database its scanners use and writes them to the cache "
            "($OTEL_LLM_SECURITY_CACHE_DIR, default ~/.cache/otel-llm-security). Exit status 1 when the policy "
            "is invalid or a database could not be built."
        ),
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each database (default 300)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_llm_security.guard.engine import Guard
    from otel_llm_security.guard.errors import PolicyError
    from otel_llm_security.guard.scanners import hyperscan_prefilter as hs

    try:
        guard = Guard.from_environment()
    except PolicyError as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return 1
    print(f"policy: {len(guard.input_scanners)} input and {len(guard.output_scanners)} output scanners")
    if not hs.ENABLED:
        why = "switched off by " + hs.ENV_SWITCH if hs.installed() else "the hyperscan wheel is not installed here"
        print(f"hyperscan: not used ({why}); the scanners need nothing prepared")
        return 0
    failed = 0
    for group in guard.prepare(timeout=args.timeout):
        if group.error is not None or not group.source:
            failed += 1
            print(f"  {group.name}: FAILED ({group.error or 'timed out'})")
        else:
            print(f"  {group.name}: {group.source} in {group.build_ms:.0f} ms")
    print(f"cache: {hs.cache_dir()}")
    return 1 if failed else 0
