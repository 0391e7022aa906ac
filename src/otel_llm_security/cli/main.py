"""``otel-llm-security``: the command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; the module adds its parser and sets ``func`` on it. Command
modules import their heavy dependencies (duckdb, rich, the ES|QL parser) inside the
command, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from otel_llm_security import __version__

# Order is the order in --help.
COMMAND_MODULES: tuple[str, ...] = ("demo_cmd", "report_cmd", "collect_cmd", "rules_cmd", "hunt_cmd", "prepare_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-llm-security",
        description="Security observability for LLM calls: local store, detection rules, demo and report.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"otel_llm_security.cli.{module_name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
