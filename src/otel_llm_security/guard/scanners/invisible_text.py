# ruff: noqa: RUF002  (confusable letters are the subject of this module)
"""Invisible and obfuscating Unicode (input and output scanner).

Reads the raw text. Flags tag characters (ASCII smuggling: U+E0000-E007F spell hidden
ASCII), bidi overrides and isolates (Trojan Source), zero-width characters, control
characters other than whitespace (NUL, ESC, DEL, C1: "ig\x00nore" reads as "ignore" to a
model), runs of variation selectors (data smuggled behind one visible character), and
words that mix Latin letters with Cyrillic/Greek look-alikes (``pаypal`` with a Cyrillic
``а``). Legitimate uses are not counted: ZWJ inside emoji sequences and one variation
selector after an emoji or symbol. ``sanitized`` is the text with invisibles and control
characters removed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable

from otel_llm_security.attributes import Threat
from otel_llm_security.guard.normalize import (
    BIDI_CONTROLS,
    CONFUSABLE_CHAR_RE,
    CONTROL_RE,
    INVISIBLE_RE,
    TAG_RANGE,
    WORD_WITH_CONFUSABLE_RE,
    _mixed_near,
    has_invisible,
    has_mixed_script_word,
    strip_control,
    strip_invisible,
    text_has_control,
    text_runs,
)
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners.base import BuiltinScanner, noisy_or

_ZWJ, _VS15, _VS16 = "\u200d", "\ufe0e", "\ufe0f"
_LATIN_RE = re.compile("[a-zA-Z]")


def _mixed_in_lowered_runs(raw: str, runs: list[tuple[int, int]]) -> bool:
    """``has_mixed_script_word(raw.lower())`` for a text without a capital sigma (the
    only character ``str.lower`` maps by its context) and with non-ASCII runs ``runs``:
    lower-cased piece by piece, look-alike letters come only from the runs, and their
    neighbours are in the run's lower-cased piece or the ASCII character beside it."""
    size = len(raw)
    for lo, hi in runs:
        before = raw[lo - 1].lower() if lo > 0 else ""
        after = raw[hi].lower() if hi < size else ""
        piece = before + raw[lo:hi].lower() + after
        if CONFUSABLE_CHAR_RE.search(piece, len(before), len(piece) - len(after)) is None:
            continue
        if _mixed_near(piece, [(len(before), len(piece) - len(after))]):
            return True
    return False


def _is_emoji_context(ch: str) -> bool:
    return ch != "" and (ord(ch) >= 0x1F000 or unicodedata.category(ch) == "So" or 0x2190 <= ord(ch) <= 0x2BFF)


class InvisibleTextScanner(BuiltinScanner):
    kind = "invisible_text"
    directions = ("input", "output")
    default_threshold = 0.5
    can_redact = True

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        raw = text.raw
        controls = self._controls(raw) if text_has_control(text) else (0, 0)
        if raw.isascii():
            return self._verdict(raw, controls) if controls[0] else self.result(0.0)
        runs = text_runs(text)
        if runs is not None and "\u03a3" not in raw:
            # Every character looked at here is non-ASCII: searched in the text's
            # non-ASCII runs only (few in mostly-ASCII text), not at every character.
            matches: Iterable[re.Match[str]] = itertools.chain.from_iterable(INVISIBLE_RE.finditer(raw, lo, hi) for lo, hi in runs)
            mixed = _mixed_in_lowered_runs(raw, runs)
        else:
            matches = INVISIBLE_RE.finditer(raw) if has_invisible(raw) else ()
            mixed = None
        tags = bidi = zero_width = selectors = in_word = 0
        for m in matches:
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
                # emoji presentation / emoji ZWJ sequence
                zero_width -= run.count(_ZWJ)
                selectors -= run.count(_VS16) + run.count(_VS15)
            elif before.isalnum() and after.isalnum():
                in_word += 1
        mixed_words = 0
        lowered = raw.lower() if mixed is not False else ""
        if mixed or (mixed is None and has_mixed_script_word(lowered)):
            for m in WORD_WITH_CONFUSABLE_RE.finditer(lowered):
                if _LATIN_RE.search(m.group(0)):
                    mixed_words += 1
        return self._verdict(raw, controls, tags, bidi, selectors, zero_width, in_word, mixed_words)

    @staticmethod
    def _controls(raw: str) -> tuple[int, int]:
        """(control characters, how many of them count as hiding something: those between
        two letters or digits, and all of them from three on). ESC starting an ANSI
        colour or cursor sequence (``\x1b[``: pasted terminal output) counts only once."""
        count = inside = escapes = 0
        for m in CONTROL_RE.finditer(raw):
            count += 1
            at = m.start()
            if raw.startswith("\x1b[", at):
                escapes += 1
            elif 0 < at < len(raw) - 1 and raw[at - 1].isalnum() and raw[at + 1].isalnum():
                inside += 1
        return count, inside or int(count - escapes >= 3)

    def _verdict(
        self,
        raw: str,
        controls: tuple[int, int],
        tags: int = 0,
        bidi: int = 0,
        selectors: int = 0,
        zero_width: int = 0,
        in_word: int = 0,
        mixed_words: int = 0,
    ) -> ScanResult:
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
        control, control_hiding = controls
        if control:
            weights.append(0.7 if control_hiding else 0.3)
            reasons.append(f"{control} control characters")
        score = noisy_or(weights)
        # (only kept by result() when the scan fails: not worked out otherwise)
        hidden = tags or bidi or zero_width or selectors or control
        sanitized = strip_control(strip_invisible(raw)) if hidden and score >= self.threshold else None
        return self.result(
            score,
            [Threat.INVISIBLE_TEXT] if weights else [],
            "; ".join(reasons),
            sanitized=sanitized,
            details={"tags": tags, "bidi": bidi, "zero_width": zero_width, "selectors": selectors, "mixed_words": mixed_words, "control": control},
        )
