"""``otel-llm-security hunt``: run a rule or an ad-hoc ES|QL query on Elasticsearch or the local store."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "hunt",
        help="run a detection rule or an ES|QL query on Elasticsearch or on the local store",
        description=(
            "Run ES|QL: a rule (by file, file stem, rule_id or name; its from/interval window applies) or a "
            "query given as text. On Elasticsearch (POST /_query) with --es-url, or locally on the store with --local."
        ),
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("query", nargs="?", help="an ES|QL query")
    what.add_argument("--rule", help="a rule: TOML path, file stem, rule_id or name")
    p.add_argument("--rules-dir", help="where to look the rule up (default: ./rules)")
    p.add_argument("--local", action="store_true", help="run on the local store instead of Elasticsearch")
    p.add_argument("--store", help="store file (default: $OTEL_LLM_SECURITY_STORE or the user data dir)")
    p.add_argument("--now", help="pin NOW() and the rule window to this ISO time (local only)")
    p.add_argument("--es-url", default=os.environ.get("ELASTICSEARCH_URL"), help="Elasticsearch URL ($ELASTICSEARCH_URL)")
    p.add_argument("--api-key", help="Elasticsearch API key (default: $ELASTICSEARCH_API_KEY)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--json", action="store_true", help="print {columns, values} as JSON")
    p.set_defaults(func=run)


def _print_table(result: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in result.columns:
        table.add_column(f"{col.name}\n[dim]{col.type}[/dim]", overflow="fold")
    for row in result.values:
        table.add_row(*("" if v is None else (", ".join(map(str, v)) if isinstance(v, list) else str(v)) for v in row))
    console = Console()
    console.print(table)
    console.print(f"{len(result.values)} row(s)")


def run(args: argparse.Namespace) -> int:
    import esql

    from otel_llm_security.rules.esql.engine import EsqlEngineError
    from otel_llm_security.rules.model import RuleLoadError, find_rule

    rule = None
    if args.rule:
        from pathlib import Path

        try:
            rule = find_rule(args.rule, [Path(args.rules_dir)] if args.rules_dir else
                             ([Path("rules")] if Path("rules").is_dir() else None))
        except KeyError as exc:
            print(f"hunt: {exc.args[0]}", file=sys.stderr)
            return 2
        except RuleLoadError as exc:
            print(f"hunt: {exc}", file=sys.stderr)
            return 1
    query = rule.query if rule else args.query
    now = None
    if args.now:
        try:
            now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        except ValueError:
            print(f"hunt: --now must be an ISO date-time, got {args.now!r}", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.timezone.utc)
    try:
        if args.local:
            result = _run_local(args, rule, query, now)
            if result is None:
                return 1
        else:
            if not args.es_url:
                print("hunt: give --es-url (or set ELASTICSEARCH_URL), or --local for the local store", file=sys.stderr)
                return 2
            from elasticsearch import ApiError, TransportError

            from otel_llm_security.rules.hunt import run_on_elasticsearch

            try:
                result = run_on_elasticsearch(
                    query, args.es_url, api_key=args.api_key or os.environ.get("ELASTICSEARCH_API_KEY"),
                    lookback=rule.lookback if rule else None, verify_certs=not args.insecure,
                )
            except ApiError as exc:
                print(f"hunt: Elasticsearch answered {exc.meta.status}: {exc.message} {exc.body}", file=sys.stderr)
                return 1
            except TransportError as exc:
                print(f"hunt: cannot reach Elasticsearch at {args.es_url}: {exc}", file=sys.stderr)
                return 1
    except (esql.EsqlError, EsqlEngineError) as exc:
        print(f"hunt: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        _print_table(result, rule.name if rule else "ES|QL")
    return 0


def _run_local(args: argparse.Namespace, rule: Any, query: str, now: dt.datetime | None) -> Any:
    from otel_llm_security.rules.hunt import run_query_local, run_rule_local
    from otel_llm_security.store.duckdb_store import DocumentStore, StoreError, default_store_path

    try:
        store = DocumentStore(args.store or default_store_path(), read_only=True)
    except StoreError as exc:
        print(f"hunt: {exc}", file=sys.stderr)
        return None
    try:
        return run_rule_local(rule, store, now) if rule else run_query_local(query, store, now)
    finally:
        store.close()
