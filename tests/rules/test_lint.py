"""``rules lint``: every shipped rule is clean, and each check catches what it is for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otel_llm_security.cli.main import main
from otel_llm_security.rules.lint import lint_paths, lint_rule
from otel_llm_security.rules.model import RULES_DIR, load_rule, load_rules

BASE = RULES_DIR / "llm_prompt_injection_high_confidence.toml"
AGG = RULES_DIR / "llm_prompt_injection_repeated_by_user.toml"


def test_rules_directory_holds_the_rule_set():
    rules = load_rules()
    assert len(rules) >= 12
    owasp = {t for r in rules for t in r.tag_values("OWASP LLM")}
    assert {"LLM01", "LLM02", "LLM05", "LLM07", "LLM10"} <= owasp


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_rule_lints_clean(path):
    assert lint_rule(load_rule(path)) == []


def mutate(tmp_path: Path, source: Path, *subs: tuple[str, str]) -> Path:
    text = source.read_text()
    for old, new in subs:
        assert re.search(old, text, flags=re.M), old
        text = re.sub(old, new, text, count=1, flags=re.M)
    out = tmp_path / source.name
    out.write_text(text)
    return out


def errors_for(tmp_path: Path, source: Path, *subs: tuple[str, str]) -> str:
    return "\n".join(lint_rule(load_rule(mutate(tmp_path, source, *subs))))


@pytest.mark.parametrize(
    ("subs", "expected"),
    [
        ((("^risk_score = 73", "risk_score = 20"),), "does not fit severity high"),
        ((("^severity = \"high\"", 'severity = "urgent"'),), "severity must be one of"),
        ((("^rule_id = .*", 'rule_id = "not-a-uuid"'),), "rule_id must be a UUID"),
        ((("^creation_date = .*", 'creation_date = "2026-11-22"'),), "creation_date must be YYYY/MM/DD"),
        ((("^updated_date = .*", 'updated_date = "2020/01/01"'),), "updated_date is before creation_date"),
        ((("^false_positives = \\[", "false_positivez = ["),), "lacks false_positives"),
        ((('    "OWASP LLM: LLM01",\n', ""),), "needs OWASP tags"),
        ((('    "Domain: LLM",\n', ""),), 'lack "Domain: LLM"'),
        ((("^type = \"esql\"", 'type = "query"'),), "type and language must both be"),
        ((("^interval = \"5m\"", 'interval = "10m"'),), "shorter than interval"),
        ((("^from = \"now-6m\"", 'from = "now-2h"'),), "event rule (no STATS) must look back"),
        ((("## Triage and analysis", "## Notes"),), "Triage and analysis"),
        ((('id = "AML.T0054"', 'id = "AML.T0099"'),), "no matching 'Mitre Atlas' tag"),
    ],
)
def test_schema_checks(tmp_path, subs, expected):
    assert expected in errors_for(tmp_path, BASE, *subs)


@pytest.mark.parametrize(
    ("subs", "expected"),
    [
        # syntax, parsed by Elastic's grammar
        ((("\\| where labels.gen_ai_operation_name", "| wher labels.gen_ai_operation_name"),), "ES|QL 9.3.0 rejects it"),
        # a field our record never writes
        ((("labels.gen_ai_operation_name is not null", "labels.gen_ai_operation is not null"),),
         "not a field of our record's APM mapping"),
        # booleans are the strings "true"/"false" in labels
        ((("labels.gen_ai_operation_name is not null", "labels.llm_security_blocked == true"),),
         'compares a boolean; APM labels hold the strings "true"/"false"'),
        # multi-valued label read as a scalar
        ((('mv_contains\\(labels.llm_security_threats, "prompt_injection"\\)',
           'labels.llm_security_threats == "prompt_injection"'),), "multi-valued field [labels.llm_security_threats]"),
        # detection-rules shape: non-aggregate queries need the metadata fields
        ((("metadata _id, _version, _index", "metadata _id"),), "without metadata fields"),
        # outside the local engine's subset
        ((("\\| keep\n", '| grok service.name "%{WORD:Esql.svc}"\n| keep\n'),), "the local engine cannot run it"),
        # only the APM trace data streams
        ((("^from traces-apm\\* metadata", "from logs-* metadata"),), "must read FROM traces-apm"),
        # a time span longer than the rule looks back
        ((("is not null\n", "is not null and @timestamp > now() - 2 hours\n"),), "exceeds the rule's look-back"),
    ],
)
def test_query_checks(tmp_path, subs, expected):
    assert expected in errors_for(tmp_path, BASE, *subs)


def test_aggregate_rule_window_check(tmp_path):
    errs = errors_for(tmp_path, AGG, ("^from = \"now-24h\"", 'from = "now-30m"'))
    assert "shorter than interval" in errs


def test_duplicate_ids_and_names_are_reported(tmp_path):
    for name in ("a.toml", "b.toml"):
        (tmp_path / name).write_text(BASE.read_text())
    results = lint_paths([tmp_path])
    assert all(any("used by another rule" in e for e in r.errors) for r in results)


def test_cli_lint_exit_codes(tmp_path, capsys):
    assert main(["rules", "lint", str(RULES_DIR)]) == 0
    assert " clean, 0 with errors" in capsys.readouterr().out
    bad = mutate(tmp_path, BASE, ("^risk_score = 73", "risk_score = 5"))
    assert main(["rules", "lint", str(bad), "--json"]) == 1
    assert "does not fit severity" in capsys.readouterr().out
    broken = tmp_path / "broken.toml"
    broken.write_text("[rule\nname = 1")
    assert main(["rules", "lint", str(broken)]) == 1


def test_a_missing_rules_directory_is_an_error_not_zero_rules(tmp_path):
    from otel_llm_security.rules.model import RuleLoadError

    with pytest.raises(RuleLoadError, match="no rule file or directory"):
        load_rules([tmp_path / "nope"])
    assert main(["rules", "lint", str(tmp_path / "nope")]) == 1


def test_fields_of_the_wrong_type_are_reported_not_raised():
    from otel_llm_security.rules.model import Rule

    rule = load_rules()[0]
    metadata = {**rule.metadata, "maturity": ["production"], "integration": "apm"}
    body = {**rule.rule, "severity": ["high"], "tags": ["Domain: LLM", 3], "threat": [[]], "from": None,
            "risk_score": True}
    errors = lint_rule(Rule(rule.path, metadata, body))
    for expected in ("[metadata] maturity must be a string", "[metadata] integration must be a list of strings",
                     "[rule] severity must be a string", "[rule] tags must be a list of strings",
                     "[rule] threat must be a list of tables", "[rule] from must be a string",
                     "[rule] risk_score must be an integer"):
        assert any(e.startswith(expected) for e in errors), (expected, errors)


def test_a_query_the_esql_lexer_chokes_on_is_a_syntax_error():
    from otel_llm_security.rules.model import Rule

    rule = load_rules()[0]
    errors = lint_rule(Rule(rule.path, rule.metadata, {**rule.rule, "query": "~\u200b,Uh\"rx]T=CR#N,I'-Q"}))
    assert any("the ES|QL lexer cannot read this query" in e for e in errors), errors
