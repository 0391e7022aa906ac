"""``otel-llm-security report``: a self-contained HTML report of the local store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an offline HTML report (alerts, blocks, threats, risky users, tokens) from the store",
        description=(
            "Reads the LLM calls in the local store, runs every detection rule over them locally, and writes "
            "one self-contained HTML file with charts (no network needed to view it)."
        ),
    )
    p.add_argument(
        "--store", type=Path, help="store file (default: $OTEL_LLM_SECURITY_STORE or the user data dir)"
    )
    p.add_argument(
        "-o", "--output", type=Path, default=Path("llm-security-report.html"), help="HTML file to write"
    )
    p.add_argument("--title", default="LLM security report")
    p.add_argument(
        "--no-rules", action="store_true", help="do not run the detection rules (no alerts section)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_llm_security.demo.alerts import run_all_rules, sorted_alerts
    from otel_llm_security.report.data import build_report
    from otel_llm_security.report.html import write_report
    from otel_llm_security.store.duckdb_store import DocumentStore, StoreError, default_store_path

    path = args.store or default_store_path()
    try:
        store = DocumentStore(path, read_only=True)
    except StoreError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    with store:
        runs = [] if args.no_rules else run_all_rules(store)
        data = build_report(store, sorted_alerts(runs), title=args.title)
    for r in runs:
        if r.error:
            print(f"report: rule could not run: {r.name}: {r.error}", file=sys.stderr)
    out = write_report(data, args.output)
    s = data.summary()
    print(f"report: {out} ({s['calls']} LLM calls, {s['blocked']} blocked, {s['alerts']} alerts)")
    return 0
