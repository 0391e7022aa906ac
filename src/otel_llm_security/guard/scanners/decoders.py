"""Payloads in encodings a model decodes on sight, read back for prompt_injection.

prompt_injection decodes base64, hex, announced rot13 and reversed text, leetspeak and
spaced letters itself. These are the other encodings of the usual red-team probes: web
and programming escapes (percent-encoding, HTML entities, ``\\u``/``\\x`` escapes),
8-bit binary, base32, Braille letters, and letter shifts (rot13 and every other Caesar
shift) or reversed text with no word announcing them.

Each reading has a gate: a probe of the prompt_injection group's Hyperscan scan (a text
that cannot have the encoding costs nothing more), then the gate's own regex. The
shift and reversal gates are key words of the attacks as they look encoded ("vtaber" is
"ignore" in rot13, "snoitcurtsni" is "instructions" reversed): decoding every text 25
ways would cost 25 scans.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from otel_llm_security.guard.normalize import normalize
from otel_llm_security.guard.scanner import ScanText
from otel_llm_security.guard.scanners import hyperscan_prefilter

GROUP = "prompt_injection"
MAX_SHIFT_VIEWS = 2  # shifted or reversed readings per text

# Four or more escapes, each followed by at most 12 other characters (a word between two
# escaped spaces: "Ignore%20all%20previous"). Each pattern starts with its literal, which
# ``re`` skips to in C.
_PERCENT_SOURCE = r"%[0-9a-f]{2}(?:[^%\s]{0,12}%[0-9a-f]{2}){3,}"
_ENTITY_SOURCE = r"&(?:#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z][a-z0-9]{1,9});(?:[^&\s]{0,12}&(?:#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z][a-z0-9]{1,9});){3,}"
_ESCAPE_SOURCE = r"\\(?:u[0-9a-f]{4}|x[0-9a-f]{2})(?:[^\\\s]{0,12}\\(?:u[0-9a-f]{4}|x[0-9a-f]{2})){3,}"
_ESCAPE_SUB_RE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")
# Six or more bytes written as 8-bit groups.
_BINARY_SOURCE = r"[01]{8}(?:[ ,]?[01]{8}){5,}"
_BYTE_RE = re.compile(r"[01]{8}")
# Braille letters (grade 1), six or more in a row with spaces.
_BRAILLE_LETTERS = "⠁⠃⠉⠙⠑⠋⠛⠓⠊⠚⠅⠇⠍⠝⠕⠏⠟⠗⠎⠞⠥⠧⠺⠭⠽⠵"
_BRAILLE_TABLE = str.maketrans(_BRAILLE_LETTERS, "abcdefghijklmnopqrstuvwxyz")
_BRAILLE_SOURCE = f"[{_BRAILLE_LETTERS}][{_BRAILLE_LETTERS} ]{{5,}}"

# Key words of the attacks, shifted or reversed: a text with one of them as a word
# (scanners.base.word_index) is read back.
SHIFT_KEY_WORDS = (
    "ignore", "disregard", "instructions", "previous", "prompt", "system", "jailbreak", "reveal", "bypass",
    "override", "restrictions", "guidelines", "unrestricted", "pretend",
)  # fmt: skip


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_SHIFT_TABLES = [
    str.maketrans(_LOWER + _UPPER, _LOWER[k:] + _LOWER[:k] + _UPPER[k:] + _UPPER[:k]) for k in range(26)
]


def shift_letters(text: str, k: int) -> str:
    """ASCII letters moved ``k`` places along the alphabet (rot13 is ``k`` = 13)."""
    return text.translate(_SHIFT_TABLES[k % 26])


# Each key word as it looks encoded -> the shift that encoded it (0: reversed).
_ENCODED_KEYS: dict[str, int] = {w[::-1]: 0 for w in SHIFT_KEY_WORDS}
_ENCODED_KEYS.update({shift_letters(w, k): k for k in range(1, 26) for w in SHIFT_KEY_WORDS})


def _probe(source: str) -> hyperscan_prefilter.Probe:
    return hyperscan_prefilter.Probe(GROUP, source)  # compiled by ``re`` on first use


_PERCENT = _probe(_PERCENT_SOURCE)
_ENTITY = _probe(_ENTITY_SOURCE)
_ESCAPE = _probe(_ESCAPE_SOURCE)
_BINARY = _probe(_BINARY_SOURCE)
_BRAILLE = _probe(_BRAILLE_SOURCE)
# a superset of "one of _ENCODED_KEYS is a word of the text"
_KEYS = hyperscan_prefilter.Probe(GROUP, "|".join(sorted(_ENCODED_KEYS)))
ANY = hyperscan_prefilter.ProbeSet([_PERCENT, _ENTITY, _ESCAPE, _BINARY, _BRAILLE, _KEYS])


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2), 16)
        return chr(code) if not 0xD800 <= code <= 0xDFFF else "\ufffd"

    return _ESCAPE_SUB_RE.sub(one, text)


def _unbinary(norm: str) -> str:
    def one(m: re.Match[str]) -> str:
        data = bytes(int(b, 2) for b in _BYTE_RE.findall(m.group(0)))
        return " " + data.decode("utf-8", "replace") + " "

    return _BINARY.regex.sub(one, norm)


def encoded_views(text: ScanText, words: Callable[[], list[str]]) -> list[tuple[str, str]]:
    """(encoding, normalised decoded text) for each of these encodings ``text`` may hide
    a payload in; [] for most texts (one look at the group's scan). ``words``: the
    text's word index (made only when a shifted or reversed key word may be there)."""
    norm = text.normalized
    if not ANY.possible(norm):
        return []
    views: list[tuple[str, str]] = []
    decoded: list[tuple[str, str]] = []
    # each gate: a substring test in C first (the Python path asks every text)
    if "%" in norm and _PERCENT.search(norm):
        decoded.append(("percent", urllib.parse.unquote(text.raw, errors="replace")))
    if "&" in norm and _ENTITY.search(norm):
        import html  # (its entity tables: on first use, not at import)

        decoded.append(("entities", html.unescape(text.raw)))
    if "\\" in norm and _ESCAPE.search(norm):
        decoded.append(("escapes", _unescape(text.raw)))
    if "01" in norm and _BINARY.search(norm):
        decoded.append(("binary", _unbinary(norm)))
    if not norm.isascii() and _BRAILLE.search(norm):
        decoded.append(("braille", norm.translate(_BRAILLE_TABLE)))
    for encoding, raw in decoded:
        view = normalize(raw)
        if view != norm:
            views.append((encoding, view))
    if _KEYS.possible(norm):
        shifts = sorted({k for w in words() if (k := _ENCODED_KEYS.get(w)) is not None})
        # each is one more scan of the whole text: a text with key words in every
        # shift would cost 26 (a hostile 200 KB one: ~0.7 s)
        for k in shifts[:MAX_SHIFT_VIEWS]:
            if k == 0:
                views.append(("reversed", norm[::-1]))
            else:
                views.append(("rot13" if k == 13 else f"caesar{k}", shift_letters(norm, 26 - k)))
    return views
