# ruff: noqa: RUF001, RUF002  (confusable letters are the subject of this module)
"""Normalise a text once per call so every scanner matches on the same folded form.

``normalize`` strips invisible and format characters, applies NFKC (full-width and
compatibility forms fold to ASCII, e.g. ``ｉｇｎｏｒｅ`` → ``ignore``), case-folds, and
folds Cyrillic/Greek look-alike letters inside words that mix them with Latin
letters (``іgnore`` with a Cyrillic ``і``). Pure-ASCII text, the common case, takes
a fast path that is a single ``str.lower``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from otel_llm_security.guard.scanner import ScanText

# Characters that render as nothing (or only steer rendering) and are used to hide or
# split words: zero-width, bidi controls, tags, variation selectors, fillers.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # arabic letter mark
    (0x115F, 0x1160),  # hangul fillers
    (0x17B4, 0x17B5),  # khmer inherent vowels
    (0x180B, 0x180F),  # mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space/non-joiner/joiner, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0x3164, 0x3164),  # hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space / BOM
    (0xFFA0, 0xFFA0),  # halfwidth hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE007F),  # tag characters (ASCII smuggling)
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])
TAG_RANGE = (0xE0000, 0xE007F)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    parts = []
    for lo, hi in ranges:
        parts.append(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "[" + "".join(parts) + "]"


INVISIBLE_CLASS = _char_class(INVISIBLE_RANGES)
INVISIBLE_RE = re.compile(INVISIBLE_CLASS + "+")


def _utf8_pattern(ranges: tuple[tuple[int, int], ...]) -> bytes:
    """A bytes pattern matching exactly the UTF-8 encodings of the characters in
    ``ranges``: per shared leading bytes, one class of last bytes."""
    groups: dict[bytes, list[int]] = {}
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            encoded = chr(cp).encode("utf-8")
            groups.setdefault(encoded[:-1], []).append(encoded[-1])
    parts = [re.escape(lead) + b"[" + b"".join(re.escape(bytes([b])) for b in sorted(set(last))) + b"]" for lead, last in groups.items()]
    return b"|".join(parts)


# The same characters found on the text's UTF-8 bytes: their leading bytes are rare in
# mostly-ASCII text, so ``re`` skips to them in C, where INVISIBLE_RE tests a character
# class at every character (3.4 ms on 200 KB of README prose, 0.4 ms this way).
# UTF-8 is self-synchronising: a match is always a whole character.
_INVISIBLE_UTF8_RE = re.compile(_utf8_pattern(INVISIBLE_RANGES))


def has_invisible(text: str) -> bool:
    """``INVISIBLE_RE.search(text) is not None``, faster on long non-ASCII text."""
    if text.isascii():
        return False
    return _INVISIBLE_UTF8_RE.search(text.encode("utf-8", "surrogatepass")) is not None


def _strip(text: str) -> str:
    """``INVISIBLE_RE.sub("", text)``, on the UTF-8 bytes (2.7 -> ~0.6 ms on 200 KB)."""
    if text.isascii():
        return text
    data = text.encode("utf-8", "surrogatepass")
    if _INVISIBLE_UTF8_RE.search(data) is None:
        return text
    return _INVISIBLE_UTF8_RE.sub(b"", data).decode("utf-8", "surrogatepass")


# Control characters that are not whitespace (C0 but tab, line feed, vertical tab, form
# feed, carriage return; DEL; C1). Normalisation keeps them (a rule's \W reads one between
# two words as the separator it may be meant as); the invisible_text scanner flags them and
# prompt_injection also reads the text with them removed ("ig\x00nore").
CONTROL_CHARS = "".join(chr(c) for c in (*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0xA0)))
CONTROL_RE = re.compile("[" + re.escape(CONTROL_CHARS) + "]")
_ASCII_CONTROL_BYTES = bytes(c for c in range(0x80) if chr(c) in CONTROL_CHARS)


def has_control(text: str) -> bool:
    """``CONTROL_RE.search(text) is not None``; ASCII text on its bytes (~1 µs on 1.5 KB
    against ~8 µs for the search)."""
    if text.isascii():
        data = text.encode("ascii")
        return len(data.translate(None, _ASCII_CONTROL_BYTES)) != len(data)
    return CONTROL_RE.search(text) is not None


def strip_control(text: str) -> str:
    """``text`` without its control characters (see :data:`CONTROL_CHARS`)."""
    return CONTROL_RE.sub("", text) if has_control(text) else text


# Combining marks (diacritics, strokes, enclosures), and the letters that carry one
# precomposed (Latin-1 Supplement to Latin Extended-B, Latin Extended Additional).
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_COMBINING_RE = re.compile(f"[{_COMBINING}]+")
_MARKED_RE = re.compile(f"[\u00c0-\u024f\u1e00-\u1eff{_COMBINING}]")


def strip_marks(text: str) -> str:
    """``text`` with the marks on its letters removed ("ïgnörë" -> "ignore", "Ign\u0336ore"
    -> "Ignore"): canonical decomposition, combining marks dropped, composition. Letters
    without a decomposition (ß, æ, ø, ł) stay."""
    if text.isascii() or _MARKED_RE.search(text) is None:
        return text
    return unicodedata.normalize("NFC", _COMBINING_RE.sub("", unicodedata.normalize("NFD", text)))


# Latin look-alikes among Cyrillic and Greek letters (lower case, after case-folding).
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "с": "c", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y",
    "х": "x", "ԁ": "d", "ԝ": "w", "ӏ": "l", "ɡ": "g", "ү": "y", "ո": "n", "ս": "u",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "σ": "o", "ς": "c",
}  # fmt: skip
_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)
_CONFUSABLE_CLASS = "[" + "".join(CONFUSABLES) + "]"
# Any look-alike letter at all (a plain character class: ``re`` scans for it in C).
CONFUSABLE_CHAR_RE = re.compile(_CONFUSABLE_CLASS)
# A look-alike letter next to a Latin one: a cheap test that a mixed word exists at all.
_MIXED_PAIR_RE = re.compile(f"[a-z]{_CONFUSABLE_CLASS}|{_CONFUSABLE_CLASS}[a-z]")
# A word containing a look-alike letter; the substitution folds it only if it also has a
# Latin letter.
WORD_WITH_CONFUSABLE_RE = re.compile(rf"\w*{_CONFUSABLE_CLASS}\w*")
_LATIN_RE = re.compile("[a-z]")

# Latin letters in forms NFKC leaves alone, which a model still reads as the letter:
# small capitals ("ɪɢɴᴏʀᴇ"), dotless i and j, negative circled and squared letters
# ("🅸🅶🅽🅾🆁🅴") and regional indicators. Folded in every text (unlike the look-alikes
# above, no language writes words with them).
LETTER_FORMS: dict[str, str] = {
    **dict(zip("ɢɪɴʀʏʙʜʟᴀᴄᴅᴇᴊᴋᴍᴏᴘᴛᴜᴠᴡᴢꜰꜱꞯ", "ginrybhlacdejkmoptuvwzfsq", strict=True)),
    "ı": "i", "ȷ": "j",
    **{chr(first + i): chr(ord("a") + i) for first in (0x1F150, 0x1F170, 0x1F1E6) for i in range(26)},
}  # fmt: skip
_LETTER_FORM_TABLE = str.maketrans(LETTER_FORMS)
_LETTER_FORM_RE = re.compile("[" + "".join(LETTER_FORMS) + "]")


def _fold_letter_forms(text: str) -> str:
    return text.translate(_LETTER_FORM_TABLE) if _LETTER_FORM_RE.search(text) is not None else text


def _fold_if_mixed(match: re.Match[str]) -> str:
    word = match.group(0)
    return word.translate(_CONFUSABLE_TABLE) if _LATIN_RE.search(word) else word


def strip_invisible(text: str) -> str:
    """Remove invisible and format characters (see :data:`INVISIBLE_RANGES`)."""
    return _strip(text)


def fold_mixed_script_words(text: str) -> str:
    """Fold look-alike Cyrillic/Greek letters to Latin, only in words mixing scripts.

    Words written entirely in Cyrillic or Greek are left alone, so the multilingual
    patterns still match real Russian or Greek text.
    """
    if text.isascii() or not has_mixed_script_word(text):
        return text
    return WORD_WITH_CONFUSABLE_RE.sub(_fold_if_mixed, text)


_PAIR_CHECK_LIMIT = 256  # look-alike letters checked one by one before the pair pattern runs


def has_mixed_script_word(text: str) -> bool:
    """True if some word mixes Latin letters with Cyrillic/Greek look-alikes (cheap):
    a look-alike letter next to a Latin one (what _MIXED_PAIR_RE finds). Look-alikes
    are rare in Latin text, so their neighbours are checked one by one (``re`` skips to
    each in C); the pair pattern, which tries every letter, runs only on text with many
    (Cyrillic or Greek prose)."""
    found = CONFUSABLE_CHAR_RE.search(text)
    if found is None:
        return False
    last = len(text) - 1
    for n, m in enumerate(CONFUSABLE_CHAR_RE.finditer(text, found.start())):
        if n == _PAIR_CHECK_LIMIT:
            return _MIXED_PAIR_RE.search(text, m.start() - 1 if m.start() else 0) is not None
        i = m.start()
        if (i > 0 and "a" <= text[i - 1] <= "z") or (i < last and "a" <= text[i + 1] <= "z"):
            return True
    return False


_NON_ASCII_RUN_RE = re.compile(r"[^\x00-\x7f]+")
_RUN_LIMIT_DIVISOR = 64  # more non-ASCII runs than len/64: NFKC of the whole text instead


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, for mostly-ASCII text only on its
    non-ASCII runs, each with the ASCII character before it.

    Exact: an ASCII character is a starter (combining class 0) that never composes with
    what precedes it (NFKC quick check Yes), so normalisation never reaches across the
    position before it; ASCII text between the runs is its own NFKC form. A run goes
    with the character before it, which its combining marks may compose with."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    limit = len(text) // _RUN_LIMIT_DIVISOR + 1
    runs = []
    for m in _NON_ASCII_RUN_RE.finditer(text):
        runs.append(m.span())
        if len(runs) > limit:
            return unicodedata.normalize("NFKC", text)
    pieces: list[str] = []
    last = 0
    for start, end in runs:
        begin = start - 1 if start > last else start
        pieces.append(text[last:begin])
        pieces.append(unicodedata.normalize("NFKC", text[begin:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


# Non-ASCII runs found on the UTF-8 bytes: every byte of a multi-byte character is
# 0x80 or above and every ASCII character one byte below, so the runs of high bytes are
# the runs of non-ASCII characters (lone surrogates too, with "surrogatepass"). Marked
# "N" on a copy, their ends are found by ``bytes.find`` (memchr) where _NON_ASCII_RUN_RE
# tests a character class at every character (~8 ns each: 1.6 ms on 200 KB).
_HIGH_BYTES = bytes(0x2E if b < 0x80 else 0x4E for b in range(256))
NON_ASCII_RUNS_KEY = "non_ascii_runs"


def non_ascii_runs(text: str, limit: int | None = None) -> list[tuple[int, int]] | None:
    """The spans of ``_NON_ASCII_RUN_RE.finditer(text)`` (maximal runs of non-ASCII
    characters); None when there are more than ``limit`` (default: one per 64
    characters, where working run by run stops paying)."""
    if limit is None:
        limit = len(text) // _RUN_LIMIT_DIVISOR + 1
    data = text.encode("utf-8", "surrogatepass")
    marks = data.translate(_HIGH_BYTES)
    find = marks.find
    size = len(marks)
    runs: list[tuple[int, int]] = []
    shift = 0  # bytes minus characters before the current run
    b0 = find(b"N")
    while b0 >= 0:
        if len(runs) == limit:
            return None
        b1 = find(b".", b0)
        if b1 < 0:
            b1 = size
        n = len(data[b0:b1].decode("utf-8", "surrogatepass"))
        start = b0 - shift
        runs.append((start, start + n))
        shift += b1 - b0 - n
        b0 = find(b"N", b1)
    return runs


def text_runs(text: ScanText) -> list[tuple[int, int]] | None:
    """:func:`non_ascii_runs` of ``text.raw``, kept in its cache (scan_text leaves them
    there: normalize, invisible_text and pii share them)."""
    cache = text.cache
    if NON_ASCII_RUNS_KEY in cache:
        return cache[NON_ASCII_RUNS_KEY]  # type: ignore[return-value]
    runs = [] if text.raw.isascii() else non_ascii_runs(text.raw)
    cache[NON_ASCII_RUNS_KEY] = runs
    return runs


CONTROL_CACHE_KEY = "has_control"


def text_has_control(text: ScanText) -> bool:
    """:func:`has_control` of ``text.raw`` (normalisation keeps control characters, so of
    ``text.normalized`` too), kept in its cache for the scanners that ask."""
    cache = text.cache
    found = cache.get(CONTROL_CACHE_KEY)
    if found is None:
        found = cache[CONTROL_CACHE_KEY] = has_control(text.raw)
    return found  # type: ignore[return-value]


_TOKEN_PUNCTUATION = "_-/+=.:@"  # with letters and digits, what keys, tokens, numbers and addresses are made of
_HIDDEN_CHARS = frozenset(chr(c) for lo, hi in INVISIBLE_RANGES for c in range(lo, hi + 1)) | frozenset(CONTROL_CHARS)


def _is_token_char(ch: str) -> bool:
    return ch.isalnum() or ch in _TOKEN_PUNCTUATION


def _hides_between_tokens(raw: str, matches: Iterable[re.Match[str]]) -> bool:
    """Some run of hidden characters around one of ``matches`` has a token character on
    both sides. A run is walked once, however many matches it holds (a text of 64 KB of
    control characters, each a match, walked its run for each: quadratic)."""
    covered = -1  # the end of the last run walked
    for m in matches:
        start, end = m.span()
        if start < covered:
            continue
        while start > 0 and raw[start - 1] in _HIDDEN_CHARS:
            start -= 1
        while end < len(raw) and raw[end] in _HIDDEN_CHARS:
            end += 1
        covered = end
        if start > 0 and end < len(raw) and _is_token_char(raw[start - 1]) and _is_token_char(raw[end]):
            return True
    return False


def text_hides_in_token(text: ScanText) -> bool:
    """Whether invisible or control characters sit inside a word or token of ``text.raw``
    ("AKIA\u200bIOSFODNN7EXAMPLE", "Ignore\u200ball"), where reading the text without
    them finds what they split; not those of emoji sequences, which sit beside emoji.
    Kept in the text's cache (secrets, pii and prompt_injection ask). The hidden
    characters are found first (invisibles in the non-ASCII runs only), then their
    neighbours looked at (a pattern for the shape, tried at every character, took 7 ms
    on 200 KB of README text)."""
    cache = text.cache
    found = cache.get("hides_in_token")
    if found is None:
        raw = text.raw
        found = False
        if has_invisible(raw):
            runs = text_runs(text)
            for lo, hi in [(0, len(raw))] if runs is None else runs:
                if _hides_between_tokens(raw, INVISIBLE_RE.finditer(raw, lo, hi)):
                    found = True
                    break
        if not found and text_has_control(text):
            found = _hides_between_tokens(raw, CONTROL_RE.finditer(raw))
        cache["hides_in_token"] = found
    return found  # type: ignore[return-value]


def _mixed_near(text: str, spans: list[tuple[int, int]]) -> bool:
    """``has_mixed_script_word(text)`` when every non-ASCII character of ``text`` is in
    ``spans`` (the look-alike letters are not ASCII): a look-alike letter there with an
    ASCII letter a-z beside it."""
    last = len(text) - 1
    for lo, hi in spans:
        for m in CONFUSABLE_CHAR_RE.finditer(text, lo, hi):
            i = m.start()
            if (i > 0 and "a" <= text[i - 1] <= "z") or (i < last and "a" <= text[i + 1] <= "z"):
                return True
    return False


def _normalize_runs(text: str, runs: list[tuple[int, int]]) -> str:
    """``normalize(text)`` for a non-ASCII text, run by run (``runs``: its non-ASCII
    runs). Invisibles are non-ASCII, so stripping them only touches the runs; NFKC
    then goes run by run as :func:`_nfkc` does (each with the ASCII character before
    it); ``str.casefold`` folds each character on its own (no context, unlike
    ``str.lower``), so it too goes piece by piece, and the ASCII between the runs is
    only lower-cased; the look-alike letters come from the runs only."""
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []  # where the runs' pieces are in the result
    size = 0
    last = 0
    for start, end in runs:
        run = text[start:end]
        if INVISIBLE_RE.search(run) is not None:
            run = INVISIBLE_RE.sub("", run)
        if not run:  # all invisible: the ASCII around it joins up
            head = text[last:start].lower()
            pieces.append(head)
            size += len(head)
            last = end
            continue
        # the ASCII since the last run kept, up to the character before this run
        begin = start - 1 if start > last else start
        head = text[last:begin].lower()
        folded = _fold_letter_forms(unicodedata.normalize("NFKC", text[begin:start] + run).casefold())
        pieces.append(head)
        pieces.append(folded)
        size += len(head)
        spans.append((size, size + len(folded)))
        size += len(folded)
        last = end
    pieces.append(text[last:].lower())
    result = "".join(pieces)
    if result.isascii() or not _mixed_near(result, spans):
        return result
    return WORD_WITH_CONFUSABLE_RE.sub(_fold_if_mixed, result)


def normalize(text: str) -> str:
    """Strip invisibles, NFKC, case-fold, fold letter forms (small capitals, ...) and
    mixed-script look-alikes. Linear in len(text)."""
    if text.isascii():
        return text.lower()
    return _normalize(text, non_ascii_runs(text))


def _normalize(text: str, runs: list[tuple[int, int]] | None) -> str:
    """:func:`normalize` of a non-ASCII text with non-ASCII runs ``runs`` (None: too many
    to go run by run)."""
    if runs is not None:
        return _normalize_runs(text, runs)
    folded = _fold_letter_forms(_nfkc(_strip(text)).casefold())
    return fold_mixed_script_words(folded)


def scan_text(text: str) -> ScanText:
    """The shared form scanners receive: raw text plus its normalised form."""
    if text.isascii():
        return _scan_text(text, text.lower(), {})
    runs = non_ascii_runs(text)
    return _scan_text(text, _normalize(text, runs), {NON_ASCII_RUNS_KEY: runs})


def _scan_text(raw: str, normalized: str, cache: dict[str, object]) -> ScanText:
    """``ScanText(raw, normalized, cache=cache)`` made through its instance dict (the
    frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``: ~2.5x
    the cost, paid for every text the guard scans)."""
    st = object.__new__(ScanText)
    state = st.__dict__
    state["raw"] = raw
    state["normalized"] = normalized
    state["original_length"] = None
    state["cache"] = cache
    return st
