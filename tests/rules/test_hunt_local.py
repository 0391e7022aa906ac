"""`hunt --local`: a rule or a query on a store file, as a table or JSON."""

from __future__ import annotations

import json

from otel_llm_security.cli.main import main
from otel_llm_security.export.documents import ApmDocument
from otel_llm_security.rules.model import RULES_DIR
from otel_llm_security.store.duckdb_store import DocumentStore


def span(i: int, ts: str, user: str, threats: list[str] | None) -> ApmDocument:
    labels = {"gen_ai_operation_name": "chat", "enduser_pseudo_id": user}
    if threats:
        labels["llm_security_threats"] = threats
    return ApmDocument("traces-apm-default", f"s{i}", {"@timestamp": ts, "labels": labels,
                                                       "span": {"type": "genai", "id": f"{i:016x}"}})


def test_hunt_local_rule_and_query(tmp_path, capsys):
    path = tmp_path / "store.duckdb"
    with DocumentStore(path) as store:
        store.write([
            span(1, "2026-06-01T08:00:00Z", "u1", ["prompt_injection"]),
            span(2, "2026-06-01T11:00:00Z", "u1", ["jailbreak", "pii"]),
            span(3, "2026-06-01T11:30:00Z", "u2", ["jailbreak"]),
            span(4, "2026-05-30T11:30:00Z", "u2", ["jailbreak"]),  # outside the 24 h window
        ])
    args = ["hunt", "--local", "--store", str(path), "--rules-dir", str(RULES_DIR)]
    assert main([*args, "--rule", "llm_prompt_injection_repeated_by_user", "--now", "2026-06-01T12:00:00Z",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = [dict(zip([c["name"] for c in out["columns"]], v, strict=True)) for v in out["values"]]
    assert [(r["labels.enduser_pseudo_id"], r["Esql.attempt_count"]) for r in rows] == [("u1", 2)]

    assert main([*args, "FROM traces-apm* | STATS n = COUNT(*) BY labels.enduser_pseudo_id | SORT n DESC"]) == 0
    table = capsys.readouterr().out
    assert "labels.enduser_pseudo_id" in table and "2 row(s)" in table

    assert main([*args, "FROM traces-apm* | GROK labels.enduser_pseudo_id \"%{WORD:x}\""]) == 1
    assert "command [GROK] is not supported by the local engine" in capsys.readouterr().err
    assert main(["hunt", "--local", "--store", str(tmp_path / "missing.duckdb"), "FROM traces-apm*"]) == 1
    assert main([*args, "--rule", "no_such_rule"]) == 2
