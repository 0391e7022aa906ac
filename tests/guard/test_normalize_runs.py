# ruff: noqa: RUF001  (look-alike and typographic characters are test data here)
"""normalize run by run (non-ASCII runs found on the UTF-8 bytes) against the whole-text
path it replaces (strip invisibles, NFKC, casefold, fold letter forms and mixed-script words), and the
runs against the pattern, on the corpora and on adversarial texts: invisibles alone
and inside runs, combining marks after ASCII letters, compatibility forms, look-alike
letters beside ASCII ones (also where stripping or NFKC puts them there), lone
surrogates, control characters, runs at the very start and end, the empty text, and
200 KB texts."""

from __future__ import annotations

import random

from tests.guard.test_literals import _corpus

ALPHABET = (
    "aBz09 .\n\t\x00\x1f\x7f'\"-"  # ASCII
    "é\u0301\u0308\u0327ﬁＡｉ①™ß\u0130\u03a3ΣσςΑ"  # composing marks, compatibility forms, case-folding specials
    "аеорсіεοα"  # look-alikes
    "ɪᴅꜱıȷ🅰🅐🇦ᶦ"  # letter forms (small capitals, dotless, negative squared and circled, regional, superscript)
    "\u200b\u200d\ufe0f\u202e\U000e0041\u00ad"  # invisibles
    "\ud800\udfff😀€中"  # surrogates, astral, other scripts
)


def _old_normalize(text: str) -> str:
    from otel_llm_security.guard import normalize as n

    if text.isascii():
        return text.lower()
    return n.fold_mixed_script_words(n._fold_letter_forms(n._nfkc(n._strip(text)).casefold()))


def _texts() -> list[str]:
    rnd = random.Random(3)
    texts = list(_corpus())
    texts += ["", "é", "\u200b", "a\u200b", "\u200ba", "a\u200bb", "e\u0301", "\u0301e", "ｉgnore", "pаypal", "a\u200bа", "Σ", "ΑΣ a"]
    texts += ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 40))) for _ in range(20000)]
    body = "".join(rnd.choice("abcdefghij klmno\n.,") for _ in range(200_000))
    spots = sorted(rnd.sample(range(len(body)), 300))
    pieces, last = [], 0
    for p in spots:
        pieces.append(body[last:p])
        pieces.append("".join(rnd.choice(ALPHABET[20:]) for _ in range(rnd.randint(1, 4))))
        last = p
    pieces.append(body[last:])
    texts += ["".join(pieces), "é" + body + "\u200b", "中" * 1000 + body, "".join(rnd.choice(ALPHABET) for _ in range(200_000))]
    return texts


def test_non_ascii_runs_equal_the_pattern() -> None:
    from otel_llm_security.guard import normalize as n

    for text in _texts():
        runs = n.non_ascii_runs(text, limit=len(text) + 1)
        assert runs == [m.span() for m in n._NON_ASCII_RUN_RE.finditer(text)], text[:200]
        limited = n.non_ascii_runs(text)
        assert limited is None or limited == runs
        if limited is None:
            assert len(runs) > len(text) // n._RUN_LIMIT_DIVISOR + 1


def test_normalize_by_runs_equals_the_whole_text_path() -> None:
    from otel_llm_security.guard import normalize as n

    for text in _texts():
        expected = _old_normalize(text)
        assert n.normalize(text) == expected, text[:200]
        if not text.isascii():
            runs = n.non_ascii_runs(text, limit=len(text) + 1)
            assert n._normalize_runs(text, runs) == expected, text[:200]  # type: ignore[arg-type]
        st = n.scan_text(text)
        assert st.normalized == expected
