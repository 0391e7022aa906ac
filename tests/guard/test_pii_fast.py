# ruff: noqa: RUF001  (look-alike and typographic characters are test data here)
"""find_pii with its faster searches (digit runs on byte classes for non-ASCII text
without non-ASCII digits, PII_RE behind a look-ahead, the widening in C) against the
code it replaces (kept here as the reference), on the corpora and on adversarial texts:
non-ASCII digits and spaces, case-folding specials, addresses and numbers at the very
start and end, values cut by separators, lone surrogates, control characters, the empty
text, and 200 KB texts."""

from __future__ import annotations

import random

from tests.guard.test_literals import _corpus

from otel_llm_security.guard.normalize import non_ascii_runs, scan_text
from otel_llm_security.guard.scanners import pii


def _reference_spans(raw: str) -> list[tuple[int, int]]:
    if raw.isascii():
        points = [(m.start(), m.end()) for m in pii._DIGITS_CLASS_RE.finditer(raw.encode("ascii").translate(pii._CLASSES))]
    else:
        points = [(m.start(), m.end()) for m in pii._DIGITS_RE.finditer(raw)]
    at = raw.find("@")
    while at >= 0:
        points.append((at, at + 1))
        at = raw.find("@", at + 1)
    spans: list[tuple[int, int]] = []
    for start, end in sorted(points):
        lo, hi = max(0, start - pii._MARGIN), min(len(raw), end + pii._MARGIN)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def _reference(raw: str) -> list[tuple[str, float, int, int]]:
    found: list[tuple[str, float, int, int]] = []
    last_end = 0
    for lo, hi in _reference_spans(raw):
        stop = max(last_end, lo - pii._MAX_WIDEN)
        while lo > stop and not raw[lo - 1].isspace():
            lo -= 1
        stop = min(len(raw), hi + pii._MAX_WIDEN)
        while hi < stop and not raw[hi].isspace():
            hi += 1
        for m in pii.PII_RE.finditer(raw, max(lo, last_end), hi):
            group = m.lastgroup
            assert group is not None
            kind, weight, check = pii._BY_GROUP[group]
            if check is None or check(m.group(0)):
                found.append((kind, weight, m.start(), m.end()))
                continue
            for j in range(int(group[1:]) + 1, len(pii.PATTERNS)):
                alt = pii._SINGLE[j].match(raw, m.start(), hi)
                kind, weight, _, check = pii.PATTERNS[j]
                if alt and (check is None or check(alt.group(0))):
                    found.append((kind, weight, alt.start(), alt.end()))
                    break
        last_end = hi
    return found


VALUES = [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
    "078-05-1120", "AB 12 34 56 C", "12345678Z", "X1234567L", "1 84 12 76 451 089 46", "+44 20 7946 0958", "(555) 123-4567",
    "555.123.4567", "jane.doe+tag@mail.co.uk", "a@b.io", "git@github.com", "x@example.com", "ſ@K.de", "İ1@x.org",
]  # fmt: skip
ALPHABET = "0123456789 ()+./-@_aZxyzKs\n\t\u2003\x1c\x85é٣３\u0130\u212a\u017f\ud800中"


def _texts() -> list[str]:
    rnd = random.Random(13)
    texts = list(_corpus())
    texts += ["", "@", "1" * 6, "١٢٣٤٥٦٧٨٩٠١٢٣", "３４５６７８９０１２３４５", *VALUES, *(v + "é" for v in VALUES), *("é" + v for v in VALUES)]
    texts += ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 60))) for _ in range(15000)]
    for _ in range(3000):
        parts = [rnd.choice(VALUES) if rnd.random() < 0.4 else "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 12))) for _ in range(rnd.randint(1, 6))]
        texts.append(rnd.choice(["", " ", "é", "x"]).join(parts))
    body = "".join(rnd.choice("abcdefghij klmno\n.,") for _ in range(200_000))
    pieces, last = [], 0
    for p in sorted(rnd.sample(range(len(body)), 400)):
        pieces += [body[last:p], rnd.choice([*VALUES, "v1.2.3", "2024-01-15 12:30:00", "é", "@"])]
        last = p
    pieces.append(body[last:])
    texts += ["".join(pieces), "".join(pieces) + "٣", "".join(rnd.choice(ALPHABET) for _ in range(200_000))]
    return texts


def test_find_pii_equals_the_reference(scan_path: str) -> None:
    if scan_path == "hyperscan":  # the windows where no PII pattern can match are skipped
        assert pii._WINDOW_PREFILTER.candidates("release 3.5.2 (2026-11-23)") == frozenset()
    for raw in _texts():
        expected = _reference(raw)
        assert pii.find_pii(raw) == expected, raw[:200]
        runs = None if raw.isascii() else non_ascii_runs(raw, limit=len(raw) + 1)
        assert pii.find_pii(raw, runs) == expected, raw[:200]
        assert pii._candidate_spans(raw, runs) == _reference_spans(raw)


def _reference_with_rescans(raw: str) -> list[tuple[str, float, int, int]]:
    """The scanner looks again at its redacted text for values an overlapping match hid."""
    found = more = _reference(raw)
    text = raw
    for _ in range(pii._MAX_RESCANS):
        if not more:
            break
        text = pii._redact(text, more)
        more = _reference(text)
        found = found + more
    return found


def test_pii_scanner_results_are_unchanged() -> None:
    scanner = pii.PIIScanner()
    rescanned = 0
    for raw in _texts()[::7]:
        st = scan_text(raw)
        found = _reference_with_rescans(raw)
        rescanned += len(found) != len(_reference(raw))
        res = scanner.scan(st)
        assert res.score == (pii.noisy_or({f[0]: f[1] for f in found}.values()) if found else 0.0)
        assert res.details.get("count", 0) == len(found)
    assert rescanned  # the generated texts put values side by side


def test_gated_patterns_match_where_pii_re_does() -> None:
    rnd = random.Random(17)
    for _ in range(20000):
        text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 40)))
        for pos in range(len(text)):
            m = pii.PII_RE.match(text, pos)
            g = pii.PII_GATED_RE.match(text, pos)
            assert (m and (m.span(), m.lastgroup)) == (g and (g.span(), g.lastgroup)), (text, pos)
            if "@" not in text:
                n = pii.PII_NO_EMAIL_RE.match(text, pos)
                assert (m and (m.span(), m.lastgroup)) == (n and (n.span(), n.lastgroup)), (text, pos)
