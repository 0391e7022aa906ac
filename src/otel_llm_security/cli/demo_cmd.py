"""``otel-llm-security demo``: fake OpenAI API, instrumented chat app, attacks, rules, alerts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="play scripted attacks through an instrumented app locally and show the alerts",
        description=(
            "Starts an OpenAI-compatible fake API and the local OTLP endpoint on 127.0.0.1, plays ordinary "
            "and attack traffic through a chat app using the real openai client under otel-llm-security's "
            "instrumentation, stores the spans as Elastic APM documents, runs every detection rule locally "
            "and prints the alerts. No OpenAI key, no Elastic stack, no network."
        ),
    )
    p.add_argument(
        "--enforce",
        action="store_true",
        help="then replay the traffic in enforce mode and show what was blocked",
    )
    p.add_argument(
        "--store", type=Path, help="store file to (re)create (default: demo.duckdb in the user data dir)"
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the HTML report here (default: demo-report.html next to the store; 'none' to skip)",
    )
    p.add_argument(
        "--otlp-endpoint",
        action="append",
        default=[],
        metavar="URL",
        help="also send the spans to this OTLP/HTTP endpoint, e.g. the collector of examples/elastic-stack "
        "(http://127.0.0.1:4318); repeatable",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_llm_security.demo.runner import default_demo_store, run_demo
    from otel_llm_security.guard.errors import PolicyError
    from otel_llm_security.store.duckdb_store import StoreError

    store = args.store or default_demo_store()
    if args.report is None:
        report: Path | None = store.with_name("demo-report.html")
    elif str(args.report).lower() == "none":
        report = None
    else:
        report = args.report
    try:
        run_demo(store, enforce=args.enforce, report_path=report, otlp_endpoints=tuple(args.otlp_endpoint))
    except (PolicyError, StoreError) as exc:
        # A bad OTEL_LLM_SECURITY_* setting or a store held by another process: say which.
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    return 0
