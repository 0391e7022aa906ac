# ruff: noqa: RUF001  (look-alike and typographic characters are test data here)
"""Cheap gates the scanners search before their patterns: on character classes of ASCII
text (one byte per character, so the same offsets) they must find exactly what the
original patterns find, on the corpora and on random texts over the relevant characters."""

from __future__ import annotations

import random

from tests.guard.test_literals import _corpus


def test_pii_digit_runs_on_character_classes_equal_the_unicode_pattern() -> None:
    from otel_llm_security.guard.scanners import pii

    rnd = random.Random(7)
    texts = [t for t in _corpus()[::5] if t.isascii()]
    texts += ["".join(rnd.choice("0123456789 ().+/-x\n") for _ in range(rnd.randint(0, 60))) for _ in range(3000)]
    for text in texts:
        expected = [(m.start(), m.end()) for m in pii._DIGITS_RE.finditer(text)]
        got = [(m.start(), m.end()) for m in pii._DIGITS_CLASS_RE.finditer(text.encode("ascii").translate(pii._CLASSES))]
        assert got == expected, text


def test_mixed_script_check_equals_the_pair_pattern() -> None:
    from otel_llm_security.guard import normalize as n

    rnd = random.Random(5)
    texts = [n.normalize(t) for t in _corpus()[::3]]
    alphabet = "abz АаоОрсεοα .1\n" + "".join(n.CONFUSABLES)
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30))) for _ in range(20000)]
    texts += ["а" * 300 + "b", "b" + "а" * 300, "а" * 255 + " b" + "аb", "р" * 257 + "z"]
    for text in texts:
        expected = bool(n.CONFUSABLE_CHAR_RE.search(text)) and bool(n._MIXED_PAIR_RE.search(text))
        assert n.has_mixed_script_word(text) == expected, text


def test_find_all_finds_every_occurrence() -> None:
    from otel_llm_security.guard.scanners.base import _find_all

    rnd = random.Random(3)
    for _ in range(3000):
        text = "".join(rnd.choice("ab ") for _ in range(rnd.randint(0, 80)))
        needle = "".join(rnd.choice("ab") for _ in range(rnd.randint(1, 3)))
        expected = [i for i in range(len(text)) if text.startswith(needle, i)]
        assert _find_all(text, needle, {}) == expected, (text, needle)


def test_word_index_is_the_unique_words() -> None:
    """The byte-level word index equals the definition: sorted unique words of the text
    with every ASCII character but letters and digits a separator (punctuation,
    whitespace, control characters) and every non-ASCII character replaced by "?" (a
    separator)."""
    from otel_llm_security.guard.scanner import ScanText
    from otel_llm_security.guard.scanners.base import word_index

    table = str.maketrans({chr(b): " " for b in range(128) if not chr(b).isalnum()})
    rnd = random.Random(9)
    texts = _corpus()[::7] + ["".join(rnd.choice("ab_ .\x00\x1c\x7f\x85é’\t1") for _ in range(rnd.randint(0, 30))) for _ in range(5000)]
    for text in texts:
        expected = sorted(set(text.encode("ascii", "replace").decode("ascii").translate(table).split()))
        words = word_index(ScanText(raw=text, normalized=text))
        assert sorted(words) == expected and len(set(words)) == len(words), text


def test_byte_level_leet_and_rot13_equal_the_str_versions() -> None:
    import codecs

    from otel_llm_security.guard.normalize import normalize
    from otel_llm_security.guard.scanners import prompt_injection as pi

    rnd = random.Random(4)
    texts = [normalize(t) for t in _corpus()[::9]]
    texts += ["".join(rnd.choice("aZ013457@$!|é’\ud800\U0001f600 ") for _ in range(rnd.randint(0, 30))) for _ in range(3000)]
    for text in texts:
        assert pi._unleet(text) == text.translate(pi._LEET_TABLE)
        assert pi._rot13(text) == codecs.encode(text, "rot13")


def test_mask_code_blanks_everything_but_newlines() -> None:
    import re

    from otel_llm_security.guard.scanners.insecure_output import mask_code

    def reference(text: str) -> str:  # the definition, with the original blanking
        from otel_llm_security.guard.scanners import insecure_output as io

        if "`" not in text and "~~~" not in text:
            return text

        def blank(m: re.Match[str]) -> str:
            return re.sub(r"[^\n]", " ", m.group(0))

        return io._INLINE_CODE_RE.sub(blank, io._FENCE_RE.sub(blank, text))

    rnd = random.Random(8)
    texts = _corpus()[::9] + ["".join(rnd.choice("`~a \n\r\t<é") for _ in range(rnd.randint(0, 40))) for _ in range(5000)]
    for text in texts:
        assert mask_code(text) == reference(text), text


def _markdown_like_texts(seed: int, count: int) -> list[str]:
    """Random texts of fence and backtick runs, indents, tabs and carriage returns."""
    rnd = random.Random(seed)
    lines = ["```", "````", "~~~", "~~~~", " ```py", "    ```", "\t~~~", "   ```", "code `x` y", "a ``b`` c `",
             "```x```", "", " \t``` ", "``` \t"]  # fmt: skip
    texts = []
    for _ in range(count):
        if rnd.random() < 0.5:
            alphabet = rnd.choice(["`~a \n\r\t<é", "``\n a", "`~\n ", "```\n~~~ x\t", "`a`", "`~\n \t"])
            texts.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, rnd.choice([20, 60, 200])))))
        else:
            chosen = [rnd.choice(lines) + rnd.choice(["", " ", "`", "\r", "\t", "~"]) for _ in range(rnd.randint(1, 10))]
            texts.append("\n".join(chosen) + rnd.choice(["", "\n"]))
    return texts


def test_code_spans_are_the_matches_of_the_fence_and_inline_code_patterns() -> None:
    """mask_code finds by lines and runs what its two patterns define (which are
    quadratic on a long run of backticks)."""
    from otel_llm_security.guard.scanners import insecure_output as io

    texts = _corpus()[::9] + _markdown_like_texts(9, 20_000)
    fenced = 0
    for text in texts:
        fences = [m.span() for m in io._FENCE_RE.finditer(text)]
        assert io._fence_spans(text) == fences, text
        blanked = io._blank(text, fences)
        inline = [m.span() for m in io._INLINE_CODE_RE.finditer(blanked)]
        assert io._inline_code_spans(text, fences) == inline, text
        assert io._inline_code_spans(blanked) == inline, blanked
        fenced += bool(fences)
    assert fenced > 2_000  # the generator does make fences


def test_a_long_run_of_backticks_is_masked_in_linear_time(scan_path: str) -> None:
    """The patterns themselves took 11 s on 20 KB of backticks (a scan of an answer that
    repeats one character); each of these 256 KB texts is one pass."""
    from otel_llm_security.guard.engine import Guard
    from otel_llm_security.guard.scanners.insecure_output import mask_code

    guard = Guard.from_policy(None)
    for text in ("`" * 262_144, "`x" * 131_072, "```\n" * 65_536, "a```" * 65_536, "```\n" + "x\n" * 131_071):
        masked = mask_code(text)
        assert len(masked) == len(text) and masked.count("\n") == text.count("\n")
        verdict = guard.scan_output(text, "hi")  # (a slow host may record a timeout: the budget is 50 ms)
        assert {r.scanner for r in verdict.results} == {cs.name for cs in guard.output_scanners}


def test_windows_merge_with_early_exit_decides_as_the_full_sum() -> None:
    from otel_llm_security.guard.scanners.base import WINDOW, _merge

    def reference(points: list[int], length: int, size: int) -> list[tuple[int, int]]:  # the loop it replaces
        spans: list[tuple[int, int]] = []
        for p in sorted(points):
            lo, hi = max(0, p - WINDOW), min(size, p + length + WINDOW)
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
            else:
                spans.append((lo, hi))
        return spans

    rnd = random.Random(2)
    for _ in range(20000):
        size = rnd.randint(1, 3000)
        points = [rnd.randint(0, size - 1) for _ in range(rnd.randint(0, 12))]
        length = rnd.randint(1, 8)
        full = reference(points, length, size)
        assert _merge(points, length, size) == full
        expected = None if sum(hi - lo for lo, hi in full) > size // 2 else full
        assert _merge(points, length, size, size // 2) == expected


def test_engine_completes_fresh_results_in_place_and_copies_shared_ones() -> None:
    """Built-in results are completed in place (nothing else holds them); a result a
    scanner hands out twice is copied, so one verdict never changes another's."""
    from otel_llm_security.attributes import Action
    from otel_llm_security.guard.engine import ConfiguredScanner, Guard
    from otel_llm_security.guard.policy import default_policy
    from otel_llm_security.guard.scanner import ScanResult

    shared = ScanResult(scanner="shared", direction="input", score=0.0, passed=True)

    class Shared:
        name, direction, threshold = "shared", "input", 0.5

        def scan(self, text, prompt=None):  # type: ignore[no-untyped-def]
            return shared

    g = Guard(default_policy(), [ConfiguredScanner(Shared(), Action.WARN, "open", 250)])  # type: ignore[arg-type]
    first, second = g.scan_input("a"), g.scan_input("b")
    assert first.results[0] is not second.results[0]
    assert first.results[0].action is Action.ALLOW and second.results[0].action is Action.ALLOW
    assert second.results[0].duration_ms >= 0.0


def test_invisible_characters_found_on_utf8_bytes_are_exactly_the_invisible_class() -> None:
    from otel_llm_security.guard import normalize as n

    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        assert n.has_invisible("a" + ch + "b") == (n.INVISIBLE_RE.search(ch) is not None), hex(cp)
    for text in [*_corpus()[::5], "\ud800x\u200b", "\udfff", "é\U000e0041", "plain"]:
        assert n.has_invisible(text) == (n.INVISIBLE_RE.search(text) is not None)


def test_stripping_invisibles_on_utf8_bytes_equals_the_pattern() -> None:
    from otel_llm_security.guard import normalize as n

    rnd = random.Random(6)
    pool = "ab é\u200b\u200d\ufe0f\U000e0041\U000e0100\u00ad\u202e\ud800\U0001f600"
    texts = _corpus()[::5] + ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 20))) for _ in range(5000)]
    for text in texts:
        assert n.strip_invisible(text) == n.INVISIBLE_RE.sub("", text), text


def test_nfkc_by_runs_equals_nfkc_of_the_whole_text(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import unicodedata

    from otel_llm_security.guard import normalize as n

    rnd = random.Random(12)
    pool = [
        "a", "e", "i", "o", "n", "A", " ", "\n", "1", ".", "'",
        "\u0301", "\u0308", "\u0341", "\u0344", "\u0327", "\u0323", "\u031b", "\u0345",  # combining marks
        "ﬁ", "ｉ", "Ａ", "①", "\u00a0", "ß", "ſ", "K", "Å", "\u212b", "é", "ḍ", "ế",
        "\u1100", "\u1161", "\u11a8", "가", "\u0b47", "\u0b3e", "\u0ccc", "\u0cc6", "\u0cd5",
        "\u3099", "か", "\uff76", "\uff9e", "\u05b4", "\u0591", "ǆ", "㎒", "\U0001d400",
    ]  # fmt: skip
    texts = _corpus()[::5]
    texts += ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 25))) for _ in range(30000)]
    texts += ["".join(rnd.choice(pool[:11]) for _ in range(300)) + "e\u0301" + "x" * 300]  # few runs in long text
    monkeypatch.setattr(n, "_RUN_LIMIT_DIVISOR", 1)  # never fall back: the run path on every text
    for text in texts:
        assert n._nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)


def _scan_groups_by_character(pattern: str) -> list[tuple[int, str, int]]:
    """The reference: every character looked at in turn (what _scan_groups did before it
    skipped the letters in C), keeping the group and alternation characters."""
    out, depth, i, in_class = [], 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        else:
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            if c in "()|":
                out.append((i, c, depth))
        i += 1
    if in_class:
        out.append((len(pattern), "", -1))
    return out


def test_scan_groups_equals_the_character_by_character_scan() -> None:
    from otel_llm_security.guard.scanners.base import _scan_groups
    from otel_llm_security.guard.scanners.prompt_injection import WORD_SET

    rnd = random.Random(5)
    patterns = [rule.pattern for rule in WORD_SET.rules]
    patterns += ["".join(rnd.choice("ab\\[]^()|?") for _ in range(rnd.randint(0, 16))) for _ in range(20000)]
    for pattern in patterns:
        assert list(_scan_groups(pattern)) == _scan_groups_by_character(pattern), pattern
