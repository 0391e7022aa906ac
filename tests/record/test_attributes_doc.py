"""docs/attributes.md documents exactly the attribute contract of attributes.py."""

from __future__ import annotations

import re
from pathlib import Path

from otel_llm_security import attributes as a

DOC = Path(__file__).parents[2] / "docs" / "attributes.md"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| `"):
            rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def apm_field(spec: a.AttributeSpec) -> str:
    """The Elastic APM field per DESIGN.md (labels / numeric_labels, dots to underscores)."""
    if spec.name == a.GEN_AI_SYSTEM:
        return "`span.type: genai` + `span.subtype` (span); `labels.gen_ai_system` (transaction)"
    key = spec.name.replace(".", "_")
    if spec.name == a.SESSION_ID:
        return f"`labels.{key}` (span); `session.id` (transaction)"
    prefix = "numeric_labels" if spec.type in ("int", "double") else "labels"
    return f"`{prefix}.{key}`"


def test_span_table_matches_the_contract() -> None:
    rows = table_rows(section("Span attributes"))
    documented = {r[0].strip("`"): r for r in rows}
    assert len(documented) == len(rows), "an attribute is documented twice"
    assert set(documented) == {s.name for s in a.CONTRACT}
    for spec in a.CONTRACT:
        _, typ, meaning, field = documented[spec.name]
        assert typ == spec.type, spec.name
        assert meaning, spec.name
        assert field == apm_field(spec), spec.name


def test_signal_attributes_metrics_and_events_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in a.SIGNAL_ATTRIBUTES:
        assert f"| `{spec.name}` | {spec.type} |" in text, spec.name
    for metric in (a.METRIC_REQUESTS, a.METRIC_BLOCKS, a.METRIC_THREAT_DETECTIONS, a.METRIC_TOKEN_USAGE,
                   a.METRIC_SCAN_DURATION):
        assert f"| `{metric}` |" in text, metric
    events = {r[0].strip("`") for r in table_rows(section("Finding events"))}
    finding_attrs = {v for k, v in vars(a).items() if k.startswith("SECURITY_") and isinstance(v, str)}
    assert events == finding_attrs
    assert a.EVENT_SECURITY_FINDING in text
    assert a.LOG_EVENT_BLOCK in text and a.LOG_EVENT_GUARDRAIL in text


def test_threat_vocabulary_is_documented() -> None:
    rows = table_rows(section("Threat vocabulary (`llm.security.threats`)"))
    assert {r[0].strip("`") for r in rows} == {t.value for t in a.Threat}


def test_no_undocumented_backticked_llm_security_names() -> None:
    text = DOC.read_text(encoding="utf-8")
    known = ({s.name for s in a.CONTRACT} | {s.name for s in a.SIGNAL_ATTRIBUTES}
             | {a.METRIC_REQUESTS, a.METRIC_BLOCKS, a.METRIC_THREAT_DETECTIONS, a.METRIC_TOKEN_USAGE,
                a.METRIC_SCAN_DURATION, a.LOG_EVENT_BLOCK, a.LOG_EVENT_GUARDRAIL})
    for name in re.findall(r"`(llm\.security\.[a-z_.<>]+)`", text):
        assert name in known, name
