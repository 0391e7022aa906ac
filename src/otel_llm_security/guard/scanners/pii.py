"""Personal data (input and output scanner, redacts).

E-mail addresses, phone numbers (international ``+CC`` form and North American
``(555) 123-4567`` form, 8-15 digits), payment card numbers (13-19 digits, known
issuer prefix, Luhn-valid), IBANs (country length + ISO 7064 mod-97 check), and national
ids with their check rules: US SSN (area/group/serial ranges), UK National Insurance
number (prefix rules), Spanish DNI/NIE (check letter), French NIR (key = 97 - n mod 97).
Digit strings that fail the check (order numbers, timestamps) are not PII.
``sanitized`` replaces each value with ``[REDACTED:<type>]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from otel_llm_security.attributes import Threat
from otel_llm_security.guard.normalize import strip_control, strip_invisible, text_hides_in_token, text_runs
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners import hyperscan_prefilter
from otel_llm_security.guard.scanners.base import BuiltinScanner, noisy_or

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    if not re.match(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|22)|35", digits):
        return False
    return luhn_valid(digits)


def iban_valid(value: str) -> bool:
    s = re.sub(r"\s", "", value).upper()
    if IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    rearranged = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in rearranged)
    return int(num) % 97 == 1


def _ssn(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _nino(value: str) -> bool:
    prefix = value[:2].upper()
    return prefix not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ") and prefix[1] != "O"


def _dni(value: str) -> bool:
    v = value.replace("-", "").upper()
    if v[0] in "XYZ":
        v = str("XYZ".index(v[0])) + v[1:]
    return DNI_LETTERS[int(v[:-1]) % 23] == v[-1]


def _nir(value: str) -> bool:
    v = re.sub(r"\s", "", value).upper()
    body, key = v[:13], int(v[13:])
    body = body.replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == key


_RESERVED_DOMAIN_RE = re.compile(r"@(?:[\w-]+\.)*(?:example\.(?:com|org|net)|example|test|invalid|localhost)$", re.IGNORECASE)


def _email(value: str) -> bool:
    """RFC 2606 reserved domains (example.com, .test, ...) are documentation, not people;
    ``git@host`` is the SSH user of git hosting (git@github.com:org/repo.git)."""
    return not _RESERVED_DOMAIN_RE.search(value) and not value.lower().startswith("git@")


def _phone(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 8 <= len(digits) <= 15 and len(set(digits)) > 2


# (type, weight, pattern, validator). Patterns run case-insensitively on the raw text.
PATTERNS: tuple[tuple[str, float, str, Callable[[str], bool] | None], ...] = (
    ("email", 0.7, r"(?<![\w.%+-])[a-z0-9][a-z0-9._%+-]{0,63}@(?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24}\b", _email),
    ("credit_card", 0.9, r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])", _card),
    ("iban", 0.9, r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?\b", iban_valid),
    ("us_ssn", 0.85, r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", _ssn),
    ("uk_nino", 0.8, r"\b[a-ceghj-pr-tw-z][a-ceghj-npr-tw-z] ?\d{2} ?\d{2} ?\d{2} ?[a-d]\b", _nino),
    ("es_dni", 0.8, r"\b(?:\d{8}|[xyz]\d{7})-?[a-z]\b", _dni),
    ("fr_nir", 0.85, r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[ab]) ?\d{3} ?\d{3} ?\d{2}\b", _nir),
    ("phone", 0.6, r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?![\w-])", _phone),
)
PII_RE = re.compile("|".join(f"(?P<p{i}>{p})" for i, (_, _, p, _) in enumerate(PATTERNS)), re.IGNORECASE)
_BY_GROUP = {f"p{i}": (kind, w, check) for i, (kind, w, _, check) in enumerate(PATTERNS)}
_SINGLE = [re.compile(p, re.IGNORECASE) for _, _, p, _ in PATTERNS]

# PII_RE behind a look-ahead every one of its matches passes, so the same matches:
# ``re`` tries all eight alternatives at every position of a window (~270 ns per
# character); the look-ahead fails at most positions for a fraction of that. Every
# alternative but the e-mail one has a digit among its first four characters (a card,
# SSN, DNI, NIR or phone number starts with one, or with "+" or "(" before it; an IBAN
# or NINO has two letters and at most a space before its digits); an e-mail address has
# its "@" within 65 characters, none of them a space. A window without an "@" cannot
# hold an address: the pattern there leaves the e-mail alternative out (the group names,
# so ``lastgroup``, stay those of PII_RE).
_NEAR_DIGIT = r"\D{0,3}\d"
PII_GATED_RE = re.compile(rf"(?={_NEAR_DIGIT}|[^\s@]{{1,64}}@)(?:{PII_RE.pattern})", re.IGNORECASE)
PII_NO_EMAIL_RE = re.compile(
    rf"(?={_NEAR_DIGIT})(?:" + "|".join(f"(?P<p{i}>{p})" for i, (_, _, p, _) in enumerate(PATTERNS) if i) + ")", re.IGNORECASE
)
assert PATTERNS[0][0] == "email"


# Every PII value has an "@" (e-mail) or at least six digits with short separators
# between them; only the neighbourhood of those is matched against PII_RE.
_DIGITS_RE = re.compile(r"\d(?:[ ().+/-]{0,3}\d){5,}")
_MARGIN = 80  # enough for the letters of an IBAN/NINO and the local part of an address
_MAX_WIDEN = 64


# The same search on ASCII text, on its characters' classes ("d" digit, "s" one of the
# separators above, "x" anything else; one byte per character, so the same offsets):
# ``re`` then skips to the next "d" instead of testing a Unicode category at every
# character (4-5x faster). ASCII only: ``\d`` also matches non-ASCII digits.
_CLASSES = bytes(0x64 if 0x30 <= b <= 0x39 else 0x73 if chr(b) in " ().+/-" else 0x78 for b in range(256))
_DIGITS_CLASS_RE = re.compile(rb"d(?:s{0,3}d){5,}")


_DIGIT_RE = re.compile(r"\d")
# _DIGITS_RE behind the secrets group's Hyperscan scan, which the secrets scanner makes
# of the same raw text (scanners.hyperscan_prefilter.Probe): most texts have no digit
# run to look at, and no class search is needed to find that out.
_DIGITS = hyperscan_prefilter.Probe("secrets", _DIGITS_RE)


def _candidate_spans(raw: str, runs: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """``runs``: the non-ASCII runs of ``raw`` (normalize.non_ascii_runs), when known."""
    points: list[tuple[int, int]]
    if not _DIGITS.possible(raw):
        points = []
    elif raw.isascii() or (runs is not None and not any(_DIGIT_RE.search(raw, lo, hi) for lo, hi in runs)):
        # No digit beyond ASCII: the classes of the ASCII bytes (a non-ASCII character
        # is "?", an "x") find what _DIGITS_RE finds.
        classes = raw.encode("ascii", "replace").translate(_CLASSES)
        points = [(m.start(), m.end()) for m in _DIGITS_CLASS_RE.finditer(classes)]
    else:
        points = [(m.start(), m.end()) for m in _DIGITS_RE.finditer(raw)]
    at = raw.find("@")
    while at >= 0:
        points.append((at, at + 1))
        at = raw.find("@", at + 1)
    spans: list[tuple[int, int]] = []
    for start, end in sorted(points):
        lo, hi = max(0, start - _MARGIN), min(len(raw), end + _MARGIN)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


# The widening of find_pii in C: the end of the last whitespace character before a
# point, and the end of the non-whitespace run after one (``\s`` is ``str.isspace``).
_UP_TO_LAST_SPACE_RE = re.compile(r"[\s\S]*\s")
_NON_SPACE_RE = re.compile(r"\S*")


def find_pii(raw: str, runs: list[tuple[int, int]] | None = None) -> list[tuple[str, float, int, int]]:
    """(type, weight, start, end) of each validated personal-data value in ``raw``
    (``runs``: its non-ASCII runs, when known)."""
    found: list[tuple[str, float, int, int]] = []
    last_end = 0
    for lo, hi in _candidate_spans(raw, runs):
        # A value cut by a window edge would be half-seen: widen to the enclosing words
        # (at most _MAX_WIDEN chars, so a text without spaces stays linear).
        stop = max(last_end, lo - _MAX_WIDEN)
        if lo > stop and not raw[lo - 1].isspace():
            space = _UP_TO_LAST_SPACE_RE.match(raw, stop, lo)
            lo = space.end() if space is not None else stop
        stop = min(len(raw), hi + _MAX_WIDEN)
        if hi < stop:
            hi = _NON_SPACE_RE.match(raw, hi, stop).end()  # type: ignore[union-attr]
        _find_in(raw, max(lo, last_end), hi, found)
        last_end = hi
    return found


# The alternatives of PII_RE in a Hyperscan database of their own (as supersets): a
# window where none can match is not searched by ``re`` (~200 ns a character). On the
# window's own characters, since every match ``re`` finds in [lo, hi) of the text is
# one in the window alone: the patterns look back only to rule a match out.
_WINDOW_PREFILTER = hyperscan_prefilter.group("pii")
_WINDOW_PREFILTER.add([(p, re.IGNORECASE) for _, _, p, _ in PATTERNS])


def _find_in(raw: str, lo: int, hi: int, found: list[tuple[str, float, int, int]]) -> None:
    if hyperscan_prefilter.ENABLED and _WINDOW_PREFILTER.candidates(raw[lo:hi]) == frozenset():
        return
    regex = PII_GATED_RE if raw.find("@", lo, hi) >= 0 else PII_NO_EMAIL_RE
    for m in regex.finditer(raw, lo, hi):
        group = m.lastgroup
        if group is None:
            continue
        kind, weight, check = _BY_GROUP[group]
        value = m.group(0)
        if check is None or check(value):
            found.append((kind, weight, m.start(), m.end()))
            continue
        # The first alternative matched but failed its check (a 15-digit NIR looks like a
        # card number): give the later alternatives their chance at this position.
        for j in range(int(group[1:]) + 1, len(PATTERNS)):
            alt = _SINGLE[j].match(raw, m.start(), hi)
            kind, weight, _, check = PATTERNS[j]
            if alt and (check is None or check(alt.group(0))):
                found.append((kind, weight, alt.start(), alt.end()))
                break


class PIIScanner(BuiltinScanner):
    """Options: ``types`` (subset of the types above to look for)."""

    kind = "pii"
    directions = ("input", "output")
    default_threshold = 0.5
    can_redact = True

    def __init__(self, *, name: str | None = None, direction: str = "input", threshold: float | None = None, types: list[str] | None = None) -> None:
        super().__init__(name=name, direction=direction, threshold=threshold)  # type: ignore[arg-type]
        known = [kind for kind, _, _, _ in PATTERNS]
        unknown = sorted(set(types or ()) - set(known))
        if unknown:
            raise ValueError(f"unknown PII types {unknown}; known: {known}")
        self.types = frozenset(types) if types else frozenset(known)

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        raw = text.raw
        found = [f for f in find_pii(raw, text_runs(text)) if f[0] in self.types]
        hidden = False
        if text_hides_in_token(text):
            # "4111\u200b1111\u200b1111\u200b1111" reads as a card number (as secrets does).
            visible = strip_control(strip_invisible(raw))
            found_visible = [f for f in find_pii(visible) if f[0] in self.types]
            if len(found_visible) > len(found):
                raw, found, hidden = visible, found_visible, True
        if not found:
            return self.result(0.0)
        sanitized = _redact(raw, found)
        # Matches do not overlap: a value that shared characters with an earlier one
        # ("4111111111111111 1a@b.co": the card takes the "1") shows only once that one
        # is redacted. Look again (rarely more than once).
        for _ in range(_MAX_RESCANS):
            more = [f for f in find_pii(sanitized) if f[0] in self.types]
            if not more:
                break
            found += more
            sanitized = _redact(sanitized, more)
        kinds = sorted({f[0] for f in found})
        weights = {f[0]: f[1] for f in found}
        return self.result(
            noisy_or(weights.values()),
            [Threat.PII],
            f"{len(found)} values: {', '.join(kinds)}" + (" (split by hidden characters)" if hidden else ""),
            sanitized=sanitized,
            details={"count": len(found), "types": ",".join(kinds), **({"hidden_characters": True} if hidden else {})},
        )


_MAX_RESCANS = 3


def _redact(raw: str, found: list[tuple[str, float, int, int]]) -> str:
    parts, last = [], 0
    for kind, _, start, end in found:
        parts.append(raw[last:start])
        parts.append(f"[REDACTED:{kind}]")
        last = end
    parts.append(raw[last:])
    return "".join(parts)
