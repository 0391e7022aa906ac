"""Payloads in encodings a model decodes on sight, read back for prompt_injection.

prompt_injection decodes base64, hex, announced rot13 and reversed text, leetspeak and
spaced letters itself. These are the other encodings of the usual red-team probes: web
and programming escapes (percent-encoding, HTML entities, ``\\u``/``\\x`` escapes),
quoted-printable escapes, 8-bit binary, base32, uuencoded lines, ascii85/base85 that a
word announces, Braille letters, upside-down and parenthesized letters, the NATO
spelling alphabet, and letter shifts (rot13 and every other Caesar shift) or reversed
text with no word announcing them.

Each reading has a gate: a probe of the prompt_injection group's Hyperscan scan (a text
that cannot have the encoding costs nothing more), then the gate's own regex. The
shift and reversal gates are key words of the attacks as they look encoded ("vtaber" is
"ignore" in rot13, "snoitcurtsni" is "instructions" reversed): decoding every text 25
ways would cost 25 scans.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import urllib.parse
from collections.abc import Callable

from otel_llm_security.guard.normalize import normalize
from otel_llm_security.guard.scanner import ScanText
from otel_llm_security.guard.scanners import hyperscan_prefilter
from otel_llm_security.guard.scanners.base import whole_words

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
# Upside-down text ("ǝɹouƃᴉ llɐ" is "all ignore" turned over): letters turned (and the
# symmetric ones kept: "u" is a turned "n", "p" a "d", "b" a "q"), the line written
# backwards. Four or more turned letters close together; read back by turning every
# letter over (the raw text: ones NFKC folds stay turned), reversed and, for turned
# letters written in reading order ("ᴉƃuoɹǝ"), as they stand.
_TURNED_LETTERS = "ɐɔǝɟƃɥᴉɾʞɯɹʇʌʍʎ"
_UPSIDE_DOWN_SOURCE = f"[{_TURNED_LETTERS}](?:[^{_TURNED_LETTERS}\\n]{{0,6}}[{_TURNED_LETTERS}]){{3,}}"
_UPSIDE_DOWN_TABLE = str.maketrans(
    {**dict(zip(_TURNED_LETTERS, "acefghijkmrtvwy", strict=True)), "ı": "i", "ן": "l", "˙": ".", "¿": "?", "¡": "!",  # noqa: RUF001
     "u": "n", "n": "u", "p": "d", "d": "p", "b": "q", "q": "b"}
)  # fmt: skip
# Parenthesized letters ("⒤⒢⒩⒪⒭⒠", which NFKC writes "(i)(g)(n)(o)(r)(e)"), four or
# more in a row.
_PARENTHESIZED_SOURCE = r"(?:\([a-z]\)){4,}"
_PARENTHESIZED_LETTER_RE = re.compile(r"\(([a-z])\)")

# Quoted-printable: four or more "=XX" escapes, as percent-encoding above.
_QP_SOURCE = r"=[0-9a-f]{2}(?:[^=\s]{0,12}=[0-9a-f]{2}){3,}"
# uuencoded lines (binascii.b2a_uu: a length character, then four characters per three
# bytes, all in " " to "`"): in the normalised text a line of 61 characters of that
# range (lower-cased) that starts with "m", the length of a full 45-byte line, or a
# "begin 644 name" header; read on the raw text, line by line.
_UU_SOURCE = r"(?:\n|^)m[ -@\[-`a-z]{60}(?:\n|$)|begin [0-7]{3,4} \S"
# (the same in Python as three patterns, each led by a literal that ``re`` skips to in C)
_UU_LINE_SOURCE = r"m[ -@\[-`a-z]{60}(?:\n|$)"
_UU_LINE_RE = re.compile(rf"\n{_UU_LINE_SOURCE}")
_UU_FIRST_LINE_RE = re.compile(_UU_LINE_SOURCE)
_UU_HEADER_RE = re.compile(r"begin [0-7]{3,4} \S")
_UU_RAW_LINE_RE = re.compile(r"^[!-M][ -`]{4,60}$")
MAX_UU_LINES = 256
# ascii85 / base85 (base64.a85encode, b85encode), announced by its name or written
# between Adobe's "<~" and "~>": their alphabets hold most punctuation, so a token alone
# says nothing; each token of 10 or more characters is tried.
_A85_NAMES = ("ascii85", "base85", "<~")
_A85_SOURCE = "|".join(map(re.escape, _A85_NAMES))
_A85_TOKEN_RE = re.compile(r"<~[!-u\s]{10,}?~>|[!-~]{10,}")
MAX_A85_TOKENS = 16  # decoded
MAX_A85_TRIES = 256  # tokens tried (a hostile text has tens of thousands)
# The NATO spelling alphabet: six or more of its words in a row, one letter each.
_NATO_WORDS = {
    "alfa": "a", "alpha": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e", "foxtrot": "f",
    "golf": "g", "hotel": "h", "india": "i", "juliett": "j", "juliet": "j", "kilo": "k", "lima": "l",
    "mike": "m", "november": "n", "oscar": "o", "papa": "p", "quebec": "q", "romeo": "r", "sierra": "s",
    "tango": "t", "uniform": "u", "victor": "v", "whiskey": "w", "whisky": "w", "x-ray": "x", "xray": "x",
    "yankee": "y", "zulu": "z",
}  # fmt: skip
_NATO_WORD = "(?:" + "|".join(sorted(map(re.escape, _NATO_WORDS), key=lambda w: (-len(w), w))) + ")"
_NATO_SOURCE = rf"{_NATO_WORD}(?:[ \t,./|-]{{1,3}}{_NATO_WORD}){{5,}}"
# (its probe in the group's scan: two of the words in a row, a superset a fraction of
# the size in the database)
_NATO_PROBE_SOURCE = rf"{_NATO_WORD}[ \t,./|-]{{1,3}}{_NATO_WORD}"
# The pure-Python path reads texts up to NATO_PYTHON_MAX_CHARS only, and asks the word
# index first (the pattern is a long alternation of ordinary words, ~0.1 ms per KB):
# two of the words at least ("x-ray" is "x" and "ray").
_NATO_INDEX_WORDS = frozenset(w for word in _NATO_WORDS for w in word.split("-"))
NATO_PYTHON_MAX_CHARS = 20_000
_NATO_WORD_RE = re.compile(rf"{_NATO_WORD}|[^ \t]+| {{2,}}|\t")

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
_QP = _probe(_QP_SOURCE)
_BINARY = _probe(_BINARY_SOURCE)
_UU = _probe(_UU_SOURCE)
_A85 = _probe(_A85_SOURCE)
_BRAILLE = _probe(_BRAILLE_SOURCE)
_UPSIDE_DOWN = _probe(_UPSIDE_DOWN_SOURCE)
_PARENTHESIZED = _probe(_PARENTHESIZED_SOURCE)
_NATO = _probe(_NATO_PROBE_SOURCE)
_NATO_RE = re.compile(_NATO_SOURCE)
# a superset of "one of _ENCODED_KEYS is a word of the text"
_KEYS = hyperscan_prefilter.Probe(GROUP, "|".join(sorted(_ENCODED_KEYS)))
ANY = hyperscan_prefilter.ProbeSet(
    [_PERCENT, _ENTITY, _ESCAPE, _QP, _BINARY, _UU, _A85, _BRAILLE, _UPSIDE_DOWN, _PARENTHESIZED, _NATO, _KEYS]
)


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return good / len(text)


def readable(text: str) -> str | None:
    """A decoded payload worth reading: printable text with a letter in it."""
    return text if _printable_ratio(text) > 0.95 and any(c.isalpha() for c in text) else None


# A decimal character reference with a long digit run: html.unescape converts the digits
# with int(), which refuses more than 4,300 of them (ValueError), so "&#" and 5,000
# digits appended to an attack made the scanners that decode entities fail.
_LONG_DECIMAL_REF_RE = re.compile(r"&#([0-9]{8,})")
_PAST_UNICODE = "99999999"  # any value past U+10FFFF: html.unescape gives U+FFFD for it


def _shorter_reference(m: re.Match[str]) -> str:
    digits = m.group(1).lstrip("0") or "0"
    return "&#" + (digits if len(digits) <= len(_PAST_UNICODE) else _PAST_UNICODE)


def unescape_html(text: str) -> str:
    """``html.unescape(text)``, also on decimal references of any length (each is first
    written with the same value in at most eight digits)."""
    import html  # (its entity tables: on first use, not at import)

    if "&#" in text:
        text = _LONG_DECIMAL_REF_RE.sub(_shorter_reference, text)
    return html.unescape(text)


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


def _unqp(raw: str) -> str:
    return binascii.a2b_qp(raw.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")


def _ununcode(raw: str) -> str | None:
    """The bytes of ``raw``'s uuencoded lines (at most MAX_UU_LINES), as text; None when
    no line decodes."""
    pieces: list[str] = []
    for line in raw.splitlines():
        line = line.rstrip("\r")
        if not _UU_RAW_LINE_RE.match(line):
            continue
        try:
            pieces.append(binascii.a2b_uu(line).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            continue
        if len(pieces) == MAX_UU_LINES:
            break
    return "".join(pieces) or None


def _un85(raw: str) -> str | None:
    """The tokens of ``raw`` that decode as ascii85 or base85 to printable text, one per
    line; None when none does."""
    out: list[str] = []
    for m in itertools.islice(_A85_TOKEN_RE.finditer(raw), MAX_A85_TRIES):
        token = m.group(0)
        for decode in (
            lambda t: base64.a85decode(t, adobe=t.startswith("<~")),
            base64.b85decode,
        ):
            try:
                data = decode(token)
            except (ValueError, binascii.Error):
                continue
            decoded = readable(data.decode("utf-8", "replace"))
            if decoded is not None:
                out.append(decoded)
                break
        if len(out) == MAX_A85_TOKENS:
            break
    return "\n".join(out) or None


def _unnato(norm: str) -> str:
    """Each run of NATO words read as letters: words of one run written with single spaces
    between them spell one word; punctuation, two spaces or a tab end it."""

    def one(m: re.Match[str]) -> str:
        letters: list[str] = []
        for piece in _NATO_WORD_RE.findall(m.group(0)):  # (single spaces are not pieces)
            letter = _NATO_WORDS.get(piece)
            if letter is not None:
                letters.append(letter)
            elif piece != "-":
                letters.append(" ")
        return " " + "".join(letters) + " "

    return _NATO_RE.sub(one, norm)


def encoded_views(text: ScanText, words: Callable[[], list[str]]) -> list[tuple[str, str]]:
    """(encoding, normalised decoded text) for each of these encodings ``text`` may hide
    a payload in; [] for most texts (one look at the group's scan). ``words``: the
    text's word index (made only when a shifted or reversed key word may be there, or,
    on the pure-Python path, NATO words)."""
    norm = text.normalized
    if not ANY.possible(norm):
        return []
    views: list[tuple[str, str]] = []
    decoded: list[tuple[str, str]] = []
    # each gate: a substring test in C first (the Python path asks every text)
    if "%" in norm and _PERCENT.search(norm):
        decoded.append(("percent", urllib.parse.unquote(text.raw, errors="replace")))
    if "&" in norm and _ENTITY.search(norm):
        decoded.append(("entities", unescape_html(text.raw)))
    if "\\" in norm and _ESCAPE.search(norm):
        decoded.append(("escapes", _unescape(text.raw)))
    if "=" in norm and _QP.search(norm):
        decoded.append(("quoted-printable", _unqp(text.raw)))
    if "01" in norm and _BINARY.search(norm):
        decoded.append(("binary", _unbinary(norm)))
    if (
        _UU.possible(norm)
        and (
            _UU_LINE_RE.search(norm)
            or _UU_FIRST_LINE_RE.match(norm)
            or ("begin " in norm and _UU_HEADER_RE.search(norm))
        )
        and (uu := _ununcode(text.raw)) is not None
    ):
        decoded.append(("uuencode", uu))
    if (
        _A85.possible(norm)
        and ("85" in norm or "<~" in norm)
        and any(name in norm for name in _A85_NAMES)
        and (b85 := _un85(text.raw)) is not None
    ):
        decoded.append(("base85", b85))
    if not norm.isascii() and _BRAILLE.search(norm):
        decoded.append(("braille", norm.translate(_BRAILLE_TABLE)))
    if not norm.isascii() and _UPSIDE_DOWN.search(norm):
        turned_back = text.raw.casefold().translate(_UPSIDE_DOWN_TABLE)
        decoded.append(("upside-down", turned_back[::-1]))
        decoded.append(("turned", turned_back))  # turned letters in reading order
    if ")(" in norm and _PARENTHESIZED.search(norm):
        decoded.append(("parenthesized", _PARENTHESIZED_LETTER_RE.sub(r"\1", norm)))
    if (
        _NATO.possible(norm)
        and (
            hyperscan_prefilter.ENABLED
            or (len(norm) <= NATO_PYTHON_MAX_CHARS and len(_NATO_INDEX_WORDS & whole_words(norm, words())) >= 2)
        )
        and _NATO_RE.search(norm)
    ):
        decoded.append(("nato", _unnato(norm)))
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
