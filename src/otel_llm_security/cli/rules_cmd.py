"""``otel-llm-security rules``: lint, export and deploy the ES|QL detection rules."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def _default_paths(paths: list[str]) -> list[Path] | None:
    if paths:
        return [Path(p) for p in paths]
    return [Path("rules")] if Path("rules").is_dir() else None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "rules",
        help="lint, export and deploy the ES|QL detection rules",
        description="Detection rules (Elastic detection-rules TOML, ES|QL over traces-apm*).",
    )
    sub = p.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")

    lint = sub.add_parser("lint", help="validate rule files: schema, ES|QL grammar, fields, windows, local execution")
    lint.add_argument("paths", nargs="*", help="rule files or directories (default: ./rules)")
    lint.add_argument("--json", action="store_true", help="print the results as JSON")
    lint.set_defaults(func=run_lint)

    export = sub.add_parser("export", help="write the rules as Kibana import ndjson")
    export.add_argument("paths", nargs="*", help="rule files or directories (default: ./rules)")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.add_argument("--enabled", action="store_true", help="import the rules enabled (default: disabled)")
    export.set_defaults(func=run_export)

    deploy = sub.add_parser("deploy", help="import the rules into Kibana (POST /api/detection_engine/rules/_import)")
    deploy.add_argument("paths", nargs="*", help="rule files or directories (default: ./rules)")
    deploy.add_argument("--kibana-url", default=os.environ.get("KIBANA_URL"), help="Kibana base URL ($KIBANA_URL)")
    deploy.add_argument("--api-key", help="Kibana API key, base64 id:key (default: $KIBANA_API_KEY)")
    deploy.add_argument("--space", help="Kibana space id (default: the default space)")
    deploy.add_argument("--overwrite", action="store_true", help="replace rules that already exist")
    deploy.add_argument("--enabled", action="store_true", help="enable the rules (default: imported disabled)")
    deploy.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    deploy.add_argument("--json", action="store_true", help="print the report as JSON")
    deploy.set_defaults(func=run_deploy)

    mapping = sub.add_parser(
        "mapping",
        help="print the traces-apm@custom component template that maps the label fields the rules read",
    )
    mapping.add_argument("paths", nargs="*", help="rule files or directories (default: ./rules)")
    mapping.set_defaults(func=run_mapping)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_mapping(args: argparse.Namespace) -> int:
    from otel_llm_security.rules.mapping import COMPONENT_TEMPLATE, component_template
    from otel_llm_security.rules.model import RuleLoadError, load_rules

    try:
        rules = load_rules(_default_paths(args.paths))
    except RuleLoadError as exc:
        print(f"rules mapping: {exc}", file=sys.stderr)
        return 1
    print(f"# PUT _component_template/{COMPONENT_TEMPLATE}  (merge with any existing content first)", file=sys.stderr)
    print(json.dumps(component_template(rules), indent=2))
    return 0


def run_lint(args: argparse.Namespace) -> int:
    from otel_llm_security.rules.lint import lint_paths
    from otel_llm_security.rules.model import RuleLoadError

    try:
        results = lint_paths(_default_paths(args.paths))
    except RuleLoadError as exc:
        print(f"rules lint: {exc}", file=sys.stderr)
        return 1
    if not results:
        print("rules lint: no rule files found", file=sys.stderr)
        return 1
    bad = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps([{"path": str(r.path), "name": r.name, "errors": r.errors} for r in results], indent=2))
    else:
        for r in results:
            print(f"{'ok  ' if r.ok else 'FAIL'} {r.path.name}: {r.name}")
            for e in r.errors:
                print(f"       - {e}")
        print(f"rules lint: {len(results) - len(bad)} clean, {len(bad)} with errors")
    return 1 if bad else 0


def run_export(args: argparse.Namespace) -> int:
    from otel_llm_security.rules.kibana import export_ndjson
    from otel_llm_security.rules.model import RuleLoadError, load_rules

    try:
        rules = load_rules(_default_paths(args.paths))
    except RuleLoadError as exc:
        print(f"rules export: {exc}", file=sys.stderr)
        return 1
    text = export_ndjson(rules, enabled=args.enabled)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"rules export: {len(rules)} rules written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    import httpx

    from otel_llm_security.rules.kibana import DeployError, deploy
    from otel_llm_security.rules.model import RuleLoadError, load_rules

    if not args.kibana_url:
        print("rules deploy: give --kibana-url (or set KIBANA_URL)", file=sys.stderr)
        return 2
    api_key = args.api_key or os.environ.get("KIBANA_API_KEY")
    try:
        rules = load_rules(_default_paths(args.paths))
        report = deploy(
            rules, args.kibana_url, api_key=api_key, overwrite=args.overwrite, enabled=args.enabled,
            space=args.space, verify=not args.insecure,
        )
    except (RuleLoadError, DeployError) as exc:
        print(f"rules deploy: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"rules deploy: cannot reach Kibana at {args.kibana_url}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for name in report.created:
            print(f"created  {name}")
        for name in report.updated:
            print(f"updated  {name}")
        for name, msg in report.failed:
            print(f"FAILED   {name}: {msg}")
        print(f"rules deploy: {len(report.created)} created, {len(report.updated)} updated, {len(report.failed)} failed")
    return 0 if report.ok else 1
