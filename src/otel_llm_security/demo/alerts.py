"""Run every detection rule over the local store and turn the result rows into alerts.

A rule's ES|QL result has its own columns. The shipped rules follow the
detection-rules conventions this module reads: the user is
``labels.enduser_pseudo_id`` (or the multi-valued ``Esql.user_values``), the count an
``Esql.*_count`` column, first and last seen ``Esql.timestamp_first`` /
``Esql.timestamp_last``. A rule without ``STATS`` returns one row per matching call;
those rows are grouped per user, as Kibana groups alerts by a suppression field.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from otel_llm_security.report.data import AlertRow, parse_timestamp

USER_FIELDS = ("labels.enduser_pseudo_id", "Esql.user_values", "Esql.enduser_pseudo_id_values")
FIRST_FIELDS = ("Esql.timestamp_first", "Esql.first_seen")
LAST_FIELDS = ("Esql.timestamp_last", "Esql.last_seen")


@dataclass(frozen=True)
class RuleRun:
    """One rule executed over the store: its alerts, or why it could not run."""

    name: str
    severity: str
    risk_score: int
    rows: int
    alerts: tuple[AlertRow, ...]
    error: str | None = None


def _first(row: dict[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    return None


def _count(row: dict[str, Any]) -> int | None:
    for name, value in row.items():
        if name.startswith("Esql.") and name.endswith("_count") and isinstance(value, (int, float)):
            return int(value)
    return None


def _users(value: Any) -> list[str]:
    if value is None:
        return [""]
    if isinstance(value, list):
        return [str(v) for v in value] or [""]
    return [str(value)]


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    return parse_timestamp(value)


def alerts_from_rows(
    name: str, severity: str, risk_score: int, rows: Iterable[dict[str, Any]]
) -> list[AlertRow]:
    """Alerts (one per rule and user) from the rows of one rule's result."""
    grouped: dict[str, list[tuple[int, dt.datetime | None, dt.datetime | None]]] = defaultdict(list)
    for row in rows:
        count = _count(row)
        first = _time(_first(row, FIRST_FIELDS) or row.get("@timestamp"))
        last = _time(_first(row, LAST_FIELDS) or row.get("@timestamp"))
        for user in _users(_first(row, USER_FIELDS)):
            grouped[user].append((count if count is not None else 1, first, last))
    alerts = []
    for user, items in grouped.items():
        firsts = [f for _, f, _ in items if f is not None]
        lasts = [t for _, _, t in items if t is not None]
        alerts.append(
            AlertRow(
                rule=name,
                severity=severity,
                user=user,
                count=sum(c for c, _, _ in items),
                first_seen=min(firsts) if firsts else None,
                last_seen=max(lasts) if lasts else None,
                risk_score=risk_score,
            )
        )
    return alerts


SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def run_all_rules(store: Any, now: dt.datetime | None = None) -> list[RuleRun]:
    """Execute every rule of ``rules/`` with the local ES|QL engine over ``store``.

    Each rule runs over its own look-back window (``from``) ending at ``now``, as one
    Kibana execution would. A rule the engine cannot run is reported, not skipped silently.
    """
    from otel_llm_security.rules.hunt import run_rule_local
    from otel_llm_security.rules.model import load_rules

    now = now or dt.datetime.now(dt.timezone.utc)
    runs = []
    for rule in load_rules():
        severity = str(rule.rule.get("severity", ""))
        risk = int(rule.rule.get("risk_score", 0))
        try:
            result = run_rule_local(rule, store, now)
        except Exception as exc:  # one broken rule must not hide the others' alerts
            runs.append(RuleRun(rule.name, severity, risk, 0, (), error=f"{type(exc).__name__}: {exc}"))
            continue
        rows = result.to_dicts()
        window = rule.time_range(now)
        alerts = [
            _with_window_times(store, a, window) for a in alerts_from_rows(rule.name, severity, risk, rows)
        ]
        runs.append(RuleRun(rule.name, severity, risk, len(rows), tuple(alerts)))
    return runs


def _with_window_times(store: Any, alert: AlertRow, window: tuple[dt.datetime, dt.datetime]) -> AlertRow:
    """First/last seen from the user's LLM calls in the rule's window, when the rule's result has none."""
    if alert.first_seen is not None or not alert.user:
        return alert
    from dataclasses import replace

    from otel_llm_security.report.data import F_MODE, F_USER

    fields = store.fields()
    if F_USER not in fields or F_MODE not in fields:
        return alert
    # The store keeps @timestamp as a naive UTC TIMESTAMP.
    lo, hi = (t.astimezone(dt.timezone.utc).replace(tzinfo=None) for t in window)
    row = store.connection.execute(
        f'SELECT min("@timestamp"), max("@timestamp") FROM docs WHERE "{F_USER}" = ? AND "{F_MODE}" IS NOT NULL '
        'AND "@timestamp" BETWEEN ? AND ?',
        [alert.user, lo, hi],
    ).fetchone()
    if not row or row[0] is None:
        return alert
    return replace(alert, first_seen=parse_timestamp(row[0]), last_seen=parse_timestamp(row[1]))


def sorted_alerts(runs: Iterable[RuleRun]) -> list[AlertRow]:
    alerts = [a for r in runs for a in r.alerts]
    alerts.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), -a.risk_score, a.rule, a.user))
    return alerts
