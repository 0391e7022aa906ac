# ruff: noqa: RUF001  (look-alike and typographic characters are test data here)
"""invisible_text searched in the text's non-ASCII runs only, against the whole-text scan
it replaces (kept here as the reference), on the corpora and on adversarial texts:
invisibles at the very start and end, alone and inside runs, emoji sequences, tags,
bidi controls, look-alike letters beside ASCII ones and beside characters whose lower
case is ASCII (Kelvin sign, dotted capital I), capital sigma, lone surrogates, control
characters, the empty text, and 200 KB texts."""

from __future__ import annotations

import random
import re
import unicodedata

from tests.guard.test_literals import _corpus

from otel_llm_security.attributes import Threat
from otel_llm_security.guard.normalize import (
    BIDI_CONTROLS,
    CONTROL_RE,
    INVISIBLE_RE,
    TAG_RANGE,
    WORD_WITH_CONFUSABLE_RE,
    has_invisible,
    has_mixed_script_word,
    scan_text,
)
from otel_llm_security.guard.scanner import ScanText
from otel_llm_security.guard.scanners.base import noisy_or

_ZWJ, _VS15, _VS16 = "\u200d", "\ufe0e", "\ufe0f"
_LATIN_RE = re.compile("[a-zA-Z]")


def _is_emoji_context(ch: str) -> bool:
    return ch != "" and (ord(ch) >= 0x1F000 or unicodedata.category(ch) == "So" or 0x2190 <= ord(ch) <= 0x2BFF)


def _reference(raw: str) -> tuple[float, list[Threat], str, str | None, dict[str, int]]:
    """The scan before the run-by-run search (score, threats, reason, sanitized, details)."""
    control = control_hiding = escapes = 0
    for m in CONTROL_RE.finditer(raw):
        control += 1
        if raw[m.start() : m.start() + 2] == "\x1b[":
            escapes += 1
        elif 0 < m.start() < len(raw) - 1 and raw[m.start() - 1].isalnum() and raw[m.start() + 1].isalnum():
            control_hiding += 1
    control_hiding = control_hiding or int(control - escapes >= 3)
    if raw.isascii() and not control:
        return 0.0, [], "", None, {}
    tags = bidi = zero_width = selectors = in_word = 0
    for m in INVISIBLE_RE.finditer(raw) if has_invisible(raw) else ():
        run = m.group(0)
        before = raw[m.start() - 1] if m.start() > 0 else ""
        after = raw[m.end()] if m.end() < len(raw) else ""
        for ch in run:
            cp = ord(ch)
            if TAG_RANGE[0] <= cp <= TAG_RANGE[1]:
                tags += 1
            elif cp in BIDI_CONTROLS:
                bidi += 1
            elif 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
                selectors += 1
            else:
                zero_width += 1
        if run in (_ZWJ, _VS16, _VS15, _VS16 + _ZWJ) and _is_emoji_context(before):
            zero_width -= run.count(_ZWJ)
            selectors -= run.count(_VS16) + run.count(_VS15)
        elif before.isalnum() and after.isalnum():
            in_word += 1
    mixed_words = 0
    lowered = raw.lower()
    if not raw.isascii() and has_mixed_script_word(lowered):
        for m in WORD_WITH_CONFUSABLE_RE.finditer(lowered):
            if _LATIN_RE.search(m.group(0)):
                mixed_words += 1
    weights: list[float] = []
    reasons: list[str] = []
    if tags:
        weights.append(0.95)
        reasons.append(f"{tags} tag characters")
    if bidi:
        weights.append(0.8)
        reasons.append(f"{bidi} bidi controls")
    if selectors >= 2:
        weights.append(0.9 if selectors >= 8 else 0.6)
        reasons.append(f"{selectors} variation selectors")
    if zero_width > 0:
        weights.append(0.7 if (in_word or zero_width >= 3) else 0.3)
        reasons.append(f"{zero_width} zero-width characters")
    if mixed_words:
        weights.append(0.9 if mixed_words >= 2 else 0.7)
        reasons.append(f"{mixed_words} mixed-script words")
    if control:
        weights.append(0.7 if control_hiding else 0.3)
        reasons.append(f"{control} control characters")
    sanitized = CONTROL_RE.sub("", INVISIBLE_RE.sub("", raw)) if (tags or bidi or zero_width or selectors or control) else None
    details = {"tags": tags, "bidi": bidi, "zero_width": zero_width, "selectors": selectors, "mixed_words": mixed_words, "control": control}
    return noisy_or(weights), [Threat.INVISIBLE_TEXT] if weights else [], "; ".join(reasons), sanitized, details


ALPHABET = "aZ09 .\n\x00\x7f\x1b[\x85-é\u0130\u212aΣσ😀✔\u200b\u200d\ufe0f\ufe0e\u202e\u2066\U000e0041\U000e0100\u00adаеорсіεοαАР\ud800中"


def _texts() -> list[str]:
    rnd = random.Random(9)
    texts = list(_corpus())
    texts += ["", "\u200b", "a\u200b", "\u200ba", "a\u200bb", "😀\ufe0f", "✔\ufe0f\u200d", "pаypal", "\u212aа", "а\u0130", "Σа", "aΣа", "\U000e0041" * 3]
    texts += ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 30))) for _ in range(20000)]
    body = "".join(rnd.choice("abcdefghij klmno\n.,") for _ in range(200_000))
    for extra in ("\u200b", "а", "😀\ufe0f", "\u202e"):
        spots = sorted(rnd.sample(range(len(body)), 50))
        pieces, last = [], 0
        for p in spots:
            pieces += [body[last:p], extra]
            last = p
        pieces.append(body[last:])
        texts.append("".join(pieces))
    texts += ["\u200b" + body + "а", "".join(rnd.choice(ALPHABET) for _ in range(200_000))]
    return texts


def test_invisible_text_by_runs_equals_the_whole_text_scan() -> None:
    from otel_llm_security.guard.scanners.invisible_text import InvisibleTextScanner

    scanners = [InvisibleTextScanner(), InvisibleTextScanner(threshold=0.2), InvisibleTextScanner(threshold=1.0)]
    for raw in _texts():
        score, threats, reason, sanitized, details = _reference(raw)
        for st in (scan_text(raw), ScanText(raw=raw, normalized=raw)):  # runs from scan_text, or worked out
            for scanner in scanners:
                res = scanner.scan(st)
                expected = scanner.result(score, threats, reason, sanitized=sanitized, details=details or None)
                assert res == expected, raw[:200]


def test_hides_in_token_is_the_token_hidden_token_shape() -> None:
    """text_hides_in_token (hidden characters found first, then their neighbours) answers
    as the pattern that defines it: a token character, hidden characters, a token
    character."""
    from otel_llm_security.guard.normalize import CONTROL_RE, text_hides_in_token

    token = r"[\w\-/+=.:@]"
    shape = re.compile(f"{token}(?:{INVISIBLE_RE.pattern[:-1]}|{CONTROL_RE.pattern})+{token}")
    rnd = random.Random(11)
    alphabet = "aZ9_-/. ,\n\x00\x01\x1b[\x7f\x85é😀\u200b\u200d\ufe0f\u202e\U000e0041\u00ad中"
    texts = ["AKIA\u200bIOSF", "👨\u200d👩", "a \u200b b", "a\u200b\x00b", "\u200ba", "a\u200b", "x\x1b[31m"]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))) for _ in range(20000)]
    for raw in texts:
        assert text_hides_in_token(scan_text(raw)) == (shape.search(raw) is not None), repr(raw)


def test_hiding_in_a_token_is_decided_as_match_by_match() -> None:
    """text_hides_in_token walks each run of hidden characters once (it walked the run
    again for each control character in it: quadratic on 64 KB of them); the answer is
    the same as asking about every match."""
    from otel_llm_security.guard import normalize as n

    def reference(raw: str) -> bool:
        def hides(start: int, end: int) -> bool:
            while start > 0 and raw[start - 1] in n._HIDDEN_CHARS:
                start -= 1
            while end < len(raw) and raw[end] in n._HIDDEN_CHARS:
                end += 1
            return start > 0 and end < len(raw) and n._is_token_char(raw[start - 1]) and n._is_token_char(raw[end])

        return any(hides(*m.span()) for m in INVISIBLE_RE.finditer(raw)) or any(hides(*m.span()) for m in CONTROL_RE.finditer(raw))

    rnd = random.Random(11)
    alphabet = ["a", "K", "1", "_", "-", " ", "\n", "\x00", "\x01", "\x1f", "\u200b", "\u200d", "\u2060", "\ufe0f", "\U0001f600", "é"]
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30))) for _ in range(20_000)]
    hidden = 0
    for raw in texts:
        expected = reference(raw)
        assert n.text_hides_in_token(scan_text(raw)) == expected, repr(raw)
        hidden += expected
    assert 2_000 < hidden < 18_000
    for unit in ("\x1f", "\u200b\x01"):  # one run of 256 KB: walked once
        assert not n.text_hides_in_token(scan_text(unit * 131_072))
        assert n.text_hides_in_token(scan_text("a" + unit * 131_072 + "b"))
