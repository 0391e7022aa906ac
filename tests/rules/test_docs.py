"""docs/rules.md lists every rule with the OWASP and ATLAS tags the rule file carries."""

from __future__ import annotations

from pathlib import Path

from otel_llm_security.rules.model import load_rules

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_rule_table_matches_the_rule_files():
    rows = {
        line.split("`")[1]: line
        for line in DOC.read_text().splitlines()
        if line.startswith("| ") and "(`llm_" in line
    }
    rules = load_rules()
    assert set(rows) == {r.path.stem for r in rules}
    for rule in rules:
        row = rows[rule.path.stem]
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert len(cells) == 5 and all(cells), row
        assert cells[0].startswith(rule.name)
        assert {c.strip() for c in cells[1].split(",")} == set(rule.tag_values("OWASP LLM"))
        assert {c.strip() for c in cells[2].split(",")} == {f"AML.{t}" for t in rule.tag_values("Mitre Atlas")}
