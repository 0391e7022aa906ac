"""What the demo prints: rich progress while traffic plays, then tables and one summary line."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from otel_llm_security.demo.alerts import RuleRun
    from otel_llm_security.demo.runner import DemoResult, TurnOutcome
    from otel_llm_security.demo.traffic import Scenario
    from otel_llm_security.report.data import AlertRow

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def user_label(pseudo: str, labels: dict[str, str]) -> str:
    name = labels.get(pseudo)
    return f"{name} ({pseudo[:8]})" if name else (pseudo[:16] or "(no user)")


def short_reason(reason: str) -> str:
    """The threat categories in a block reason: ``input scanner x (a, b; score 0.9)`` → ``a, b``."""
    groups = re.findall(r"\(([^)]*)\)", reason)
    if not groups:
        return reason
    found = [
        t.strip()
        for g in groups
        for t in re.split(r"[,;]", g)
        if t.strip() and not t.strip().startswith("score")
    ]
    return ", ".join(dict.fromkeys(found)) or reason


def console_for_output() -> Console:
    """A console for the demo: 120 columns when the output is not a terminal (CI logs, pipes)."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return Console(width=120)
    return Console()


def header(console: Console, api: str, otlp: str, store: Path, also_to: tuple[str, ...] = ()) -> None:
    console.print("[bold]otel-llm-security demo[/bold]: local mode, no OpenAI key, no Elastic stack")
    console.print(f"  fake OpenAI API  {api}")
    console.print(f"  OTLP endpoint    {otlp}/v1/traces  (collect → APM documents → {store})")
    for url in also_to:
        console.print(f"  also exporting   {url.rstrip('/')}/v1/traces")


@contextmanager
def traffic_progress(
    console: Console, items: list[Scenario], mode: str
) -> Iterator[Callable[[Scenario, TurnOutcome], None]]:
    with Progress(
        TextColumn("  {task.description:<44}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        console.print(f"[bold]Playing traffic[/bold] ({mode} mode)")
        tasks = {
            s.name: progress.add_task(f"{s.title} [dim]{s.user}[/dim]", total=s.requests, status="")
            for s in items
        }
        statuses: dict[str, Counter[str]] = defaultdict(Counter)

        def advance(scenario: Scenario, outcome: TurnOutcome) -> None:
            statuses[scenario.name][outcome.status] += 1
            text = " ".join(f"{k} {v}" for k, v in sorted(statuses[scenario.name].items()))
            progress.update(tasks[scenario.name], advance=1, status=text)

        yield advance
    if not console.is_terminal:
        total = sum(s.requests for s in items)
        console.print(f"  played {total} requests from {len(items)} scenarios ({mode} mode)")


def traffic_table(console: Console, store: Any, items: list[Scenario], labels: dict[str, str]) -> int:
    """Per scenario: calls stored and what the record says about them. Returns calls stored."""
    from otel_llm_security.report.data import calls_from_store

    calls = calls_from_store(store)
    by_user: dict[str, list[Any]] = defaultdict(list)
    for c in calls:
        by_user[labels.get(c.user, c.user)].append(c)
    table = Table(title="What the record says (local store)", title_justify="left")
    for col in ("Scenario", "User", "Calls", "Flagged", "Max risk", "Threats"):
        table.add_column(col, justify="right" if col in ("Calls", "Flagged", "Max risk") else "left")
    for s in items:
        mine = by_user.get(s.user, [])
        threats = Counter(t for c in mine for t in c.threats)
        table.add_row(
            escape(s.title),
            escape(s.user),
            str(len(mine)),
            str(sum(1 for c in mine if c.threats)),
            f"{max((c.risk for c in mine), default=0.0):.2f}",
            escape(", ".join(t for t, _ in threats.most_common()) or "-"),
        )
    console.print(table)
    return len(calls)


def _time(value: Any) -> str:
    return value.strftime("%H:%M:%S") if value is not None else "-"


def alerts_table(
    console: Console, runs: list[RuleRun], alerts: list[AlertRow], labels: dict[str, str]
) -> None:
    table = Table(title=f"Alerts: {len(runs)} rules run locally (ES|QL over the store)", title_justify="left")
    for col in ("Rule", "Severity", "User", "Count", "First seen", "Last seen"):
        table.add_column(col, justify="right" if col == "Count" else "left")
    for a in alerts:
        table.add_row(
            escape(a.rule),
            f"[{SEVERITY_STYLE.get(a.severity, '')}]{escape(a.severity)}[/]",
            escape(user_label(a.user, labels)),
            str(a.count),
            _time(a.first_seen),
            _time(a.last_seen),
        )
    if not alerts:
        table.add_row("(no alert)", "", "", "", "", "")
    console.print(table)
    if not runs:
        from otel_llm_security.rules.model import RULES_DIR

        console.print(
            f"[red]no detection rule found in {escape(str(RULES_DIR))}[/red]: the rules ship with the "
            "package (rules/ of the repository); reinstall otel-llm-security."
        )
    for run in runs:
        if run.error:
            console.print(f"[red]rule could not run:[/red] {escape(run.name)}: {escape(run.error)}")


def enforce_table(console: Console, items: list[Scenario], outcomes: list[TurnOutcome]) -> None:
    by_scenario: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, dict[str, None]] = defaultdict(dict)
    for o in outcomes:
        by_scenario[o.scenario][o.status] += 1
        if o.status in ("blocked", "refused") and o.reason:
            for threat in short_reason(o.reason).split(", "):
                reasons[o.scenario][threat] = None
    table = Table(title="Enforce mode: what was blocked", title_justify="left")
    for col in (
        "Scenario",
        "Calls",
        "Blocked by guard",
        "Refused by provider",
        "Redacted",
        "Answered",
        "Why",
    ):
        table.add_column(col, justify="left" if col in ("Scenario", "Why") else "right")
    for s in items:
        c = by_scenario[s.name]
        table.add_row(
            escape(s.title),
            str(sum(c.values())),
            f"[red]{c['blocked']}[/red]" if c["blocked"] else "0",
            str(c["refused"]),
            str(c["redacted"]),
            str(c["answered"]),
            escape(", ".join(reasons[s.name]) or "-"),
        )
    console.print(table)


def summary(console: Console, result: DemoResult) -> None:
    attacks = [s for s in result.scenarios if s.kind == "attack"]
    missing = result.attacks_without_alert
    false_alerts = result.ordinary_with_alert
    blocked = sum(1 for o in result.outcomes if o.mode == "enforce" and o.status == "blocked")
    parts = [
        f"{result.calls_stored} LLM calls recorded",
        f"{len(result.alerts)} alerts from {len(result.rule_runs)} rules",
        f"{len(attacks) - len(missing)}/{len(attacks)} attack scenarios alerted",
        f"{len(false_alerts)} ordinary users alerted",
    ]
    if any(o.mode == "enforce" for o in result.outcomes):
        parts.append(f"{blocked} calls blocked in enforce mode")
    if result.report_path:
        parts.append(f"report {result.report_path}")
    parts.append(f"{result.seconds:.1f}s")
    ok = not missing and not false_alerts
    mark = "[green]✔[/green]" if ok else "[yellow]![/yellow]"
    console.print(f"{mark} " + " · ".join(parts))
    if missing:
        console.print(f"[yellow]no alert for attack scenarios: {', '.join(missing)}[/yellow]")
    if false_alerts:
        console.print(f"[yellow]alerts for ordinary users: {', '.join(false_alerts)}[/yellow]")
