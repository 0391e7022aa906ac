"""What the HTML report shows, computed from the stored APM documents.

LLM calls are selected by attribute (they carry ``llm.security.mode``), never by
``processor.event``: a call without a parent span is a transaction document. Field
names come from the contract through the APM mapping, exactly as the rules read them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_fields import contract_field

if TYPE_CHECKING:
    from otel_llm_security.store.duckdb_store import DocumentStore


def _f(attribute: str) -> str:
    return contract_field(attribute).field


F_MODE = _f(A.LLM_SECURITY_MODE)
F_BLOCKED = _f(A.LLM_SECURITY_BLOCKED)
F_ACTION = _f(A.LLM_SECURITY_ACTION)
F_THREATS = _f(A.LLM_SECURITY_THREATS)
F_RISK = _f(A.LLM_SECURITY_RISK_SCORE)
F_USER = _f(A.ENDUSER_PSEUDO_ID)
F_MODEL = _f(A.GEN_AI_REQUEST_MODEL)
F_INPUT_TOKENS = _f(A.GEN_AI_USAGE_INPUT_TOKENS)
F_OUTPUT_TOKENS = _f(A.GEN_AI_USAGE_OUTPUT_TOKENS)
F_BLOCK_REASON = _f(A.LLM_SECURITY_BLOCK_REASON)


@dataclass(frozen=True)
class Call:
    """One LLM call as the report needs it."""

    timestamp: datetime
    blocked: bool
    action: str
    threats: tuple[str, ...]
    risk: float
    user: str
    model: str
    input_tokens: int
    output_tokens: int
    block_reason: str = ""
    trace_id: str = ""


@dataclass(frozen=True)
class AlertRow:
    """One alert as the report and the demo print it: a rule that fired for a user."""

    rule: str
    severity: str
    user: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    risk_score: int = 0


@dataclass
class ReportData:
    calls: list[Call]
    alerts: list[AlertRow] = field(default_factory=list)
    user_labels: dict[str, str] = field(default_factory=dict)  # pseudonymous id -> display name
    title: str = "LLM security report"
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def label(self, user: str) -> str:
        name = self.user_labels.get(user)
        short = user[:12] if user else "(unknown)"
        return f"{name} ({short})" if name else short

    # --- aggregates the charts draw -------------------------------------------------

    def timeline(self, max_buckets: int = 60) -> dict[str, Any]:
        """Blocked and allowed calls per time bucket; the bucket width adapts to the span."""
        if not self.calls:
            return {"bucket_seconds": 60, "buckets": []}
        start = min(c.timestamp for c in self.calls)
        end = max(c.timestamp for c in self.calls)
        width = _bucket_width((end - start).total_seconds(), max_buckets)
        origin = datetime.fromtimestamp((start.timestamp() // width) * width, tz=timezone.utc)
        n = int((end - origin).total_seconds() // width) + 1
        blocked = [0] * n
        allowed = [0] * n
        for c in self.calls:
            i = int((c.timestamp - origin).total_seconds() // width)
            (blocked if c.blocked else allowed)[i] += 1
        return {
            "bucket_seconds": width,
            "buckets": [
                {
                    "t": (origin + timedelta(seconds=i * width)).isoformat(),
                    "blocked": blocked[i],
                    "allowed": allowed[i],
                }
                for i in range(n)
            ],
        }

    def threats(self) -> list[dict[str, Any]]:
        counts = Counter(t for c in self.calls for t in c.threats)
        return [{"label": t, "value": n} for t, n in counts.most_common()]

    def top_users(self, limit: int = 10) -> list[dict[str, Any]]:
        by_user: dict[str, list[Call]] = defaultdict(list)
        for c in self.calls:
            if c.user:
                by_user[c.user].append(c)
        alerts = Counter(a.user for a in self.alerts)
        rows = [
            {
                "label": self.label(user),
                "value": round(max(c.risk for c in calls), 3),
                "calls": len(calls),
                "flagged": sum(1 for c in calls if c.threats),
                "blocked": sum(1 for c in calls if c.blocked),
                "alerts": alerts.get(user, 0),
            }
            for user, calls in by_user.items()
        ]
        rows.sort(key=lambda r: (-r["value"], -r["flagged"], r["label"]))
        return rows[:limit]

    def tokens_by_model(self) -> list[dict[str, Any]]:
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for c in self.calls:
            totals[c.model or "(unknown)"][0] += c.input_tokens
            totals[c.model or "(unknown)"][1] += c.output_tokens
        rows = [{"label": m, "input": i, "output": o} for m, (i, o) in totals.items()]
        rows.sort(key=lambda r: -(r["input"] + r["output"]))
        return rows

    def summary(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "blocked": sum(1 for c in self.calls if c.blocked),
            "flagged": sum(1 for c in self.calls if c.threats),
            "users": len({c.user for c in self.calls if c.user}),
            "alerts": len(self.alerts),
            "tokens": sum(c.input_tokens + c.output_tokens for c in self.calls),
        }

    def latest_blocked(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = sorted((c for c in self.calls if c.blocked), key=lambda c: c.timestamp, reverse=True)[:limit]
        return [
            {
                "time": c.timestamp.isoformat(timespec="seconds"),
                "user": self.label(c.user),
                "model": c.model,
                "reason": c.block_reason,
                "threats": ", ".join(c.threats),
                "trace": c.trace_id,
            }
            for c in rows
        ]

    def alert_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "rule": a.rule,
                "severity": a.severity,
                "user": self.label(a.user),
                "count": a.count,
                "first": a.first_seen.isoformat(timespec="seconds") if a.first_seen else "",
                "last": a.last_seen.isoformat(timespec="seconds") if a.last_seen else "",
            }
            for a in self.alerts
        ]

    def payload(self) -> dict[str, Any]:
        """Everything the page's script draws, as plain JSON."""
        return {
            "title": self.title,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "summary": self.summary(),
            "timeline": self.timeline(),
            "threats": self.threats(),
            "users": self.top_users(),
            "tokens": self.tokens_by_model(),
            "alerts": self.alert_rows(),
            "blocked": self.latest_blocked(),
        }


_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def _bucket_width(span_seconds: float, max_buckets: int) -> int:
    for width in _BUCKETS:
        if span_seconds / width < max_buckets:
            return width
    return _BUCKETS[-1]


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def parse_timestamp(value: Any) -> datetime:
    """``@timestamp`` as the store returns it: ISO text, epoch milliseconds, or a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def call_from_flat(doc: Mapping[str, Any]) -> Call:
    """A :class:`Call` from one flattened APM document (dotted keys)."""
    return Call(
        timestamp=parse_timestamp(doc["@timestamp"]),
        blocked=str(_one(doc.get(F_BLOCKED))).lower() == "true",
        action=str(_one(doc.get(F_ACTION)) or ""),
        threats=_strings(doc.get(F_THREATS)),
        risk=float(_one(doc.get(F_RISK)) or 0.0),
        user=str(_one(doc.get(F_USER)) or ""),
        model=str(_one(doc.get(F_MODEL)) or ""),
        input_tokens=int(_one(doc.get(F_INPUT_TOKENS)) or 0),
        output_tokens=int(_one(doc.get(F_OUTPUT_TOKENS)) or 0),
        block_reason=str(_one(doc.get(F_BLOCK_REASON)) or ""),
        trace_id=str(doc.get("trace.id") or ""),
    )


def calls_from_documents(sources: Iterable[Mapping[str, Any]]) -> list[Call]:
    """LLM calls among APM ``_source`` documents (nested), in time order."""
    from otel_llm_security.store.duckdb_store import flatten

    calls = []
    for source in sources:
        flat = flatten(dict(source))
        if flat.get(F_MODE) is not None and "@timestamp" in flat:
            calls.append(call_from_flat(flat))
    calls.sort(key=lambda c: c.timestamp)
    return calls


def calls_from_store(store: DocumentStore) -> list[Call]:
    if F_MODE not in store.fields():
        return []
    return calls_from_documents(store.documents(f'"{F_MODE}" IS NOT NULL'))


def build_report(
    store: DocumentStore,
    alerts: Sequence[AlertRow] = (),
    user_labels: Mapping[str, str] | None = None,
    title: str = "LLM security report",
) -> ReportData:
    return ReportData(calls_from_store(store), list(alerts), dict(user_labels or {}), title)
