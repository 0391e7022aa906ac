"""Secrets and credentials (input and output scanner, redacts).

Matches the raw text (token formats are case-sensitive): cloud keys (AWS, Google,
Azure storage), provider tokens with fixed prefixes (GitHub, GitLab, Slack, Stripe,
OpenAI, Anthropic, Hugging Face, npm, SendGrid), private key blocks, JWTs, bearer and
basic credentials, connection strings with an inline password, and ``password=...``
style assignments. Placeholders (``<password>``, ``${DB_PASS}``, ``changeme``,
``xxxx``, and our own ``[REDACTED:<type>]``, which a model may echo back) are not secrets. ``sanitized`` replaces each value with ``[REDACTED:<type>]``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from otel_llm_security.attributes import Threat
from otel_llm_security.guard.normalize import strip_control, strip_invisible, text_hides_in_token
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners import hyperscan_prefilter
from otel_llm_security.guard.scanners.base import (
    STEMS,
    BuiltinScanner,
    Words,
    noisy_or,
    stem_present,
    word_index,
)

S = Threat.SECRET

# (id, weight, pattern). The group named "v" (if present) is the part to redact.
PATTERNS: tuple[tuple[str, float, str], ...] = (
    ("private_key", 0.99, r"-----BEGIN[ A-Z]{0,20} PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]{0,8000}?-----END[ A-Z]{0,20} PRIVATE KEY(?: BLOCK)?-----)?"),
    ("aws_access_key", 0.95, r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|ROA|PKA)(?<![A-Za-z0-9].{4})[A-Z2-7]{16}\b"),
    ("aws_secret_key", 0.95, r"(?i:aws.{0,20}?(?:secret|private).{0,20}?)[\"']?\s*[:=]\s*[\"']?(?P<v>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"),
    ("github_token", 0.95, r"gh[pousr]_(?<![A-Za-z0-9].{4})[A-Za-z0-9]{36}\b|github_pat_(?<![A-Za-z0-9].{11})[A-Za-z0-9_]{60,}"),
    ("gitlab_token", 0.95, r"glpat-(?<![A-Za-z0-9].{6})[A-Za-z0-9_-]{20,}"),
    ("slack_token", 0.95, r"xox[abposre]-(?<![A-Za-z0-9].{5})[A-Za-z0-9-]{10,}"),
    ("slack_webhook", 0.9, r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    ("stripe_key", 0.95, r"[sr]k_live_(?<![A-Za-z0-9].{8})[A-Za-z0-9]{16,}"),
    ("stripe_test_key", 0.6, r"[sr]k_test_(?<![A-Za-z0-9].{8})[A-Za-z0-9]{16,}"),
    ("google_api_key", 0.9, r"AIza(?<![A-Za-z0-9].{4})[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    ("anthropic_key", 0.95, r"sk-ant-(?<![A-Za-z0-9].{7})[a-z]{3,6}\d{2}-[A-Za-z0-9_-]{40,}"),
    ("openai_key", 0.9, r"sk-(?<![A-Za-z0-9].{3})(?:(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{16,}|(?:proj-|svcacct-|admin-)[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{48}\b)"),
    ("huggingface_token", 0.9, r"hf_(?<![A-Za-z0-9].{3})[A-Za-z0-9]{34,}\b"),
    ("npm_token", 0.9, r"npm_(?<![A-Za-z0-9].{4})[A-Za-z0-9]{36}\b"),
    ("sendgrid_key", 0.95, r"SG\.(?<![A-Za-z0-9].{3})[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    ("azure_storage_key", 0.95, r"AccountKey=(?P<v>[A-Za-z0-9+/]{86}==)"),
    ("azure_sas_signature", 0.7, r"[?&]sig=(?P<v>[A-Za-z0-9%+/]{40,}={0,2})"),
    ("jwt", 0.85, r"eyJ(?<![A-Za-z0-9].{3})[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("bearer_token", 0.75, r"[Bb]earer(?<![A-Za-z0-9].{6})\s+(?P<v>[A-Za-z0-9._~+/-]{20,}=*)"),
    ("basic_auth", 0.8, r"(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:basic)\s+(?P<v>[A-Za-z0-9+/]{12,}={0,2})"),
    ("gcp_service_account", 0.9, r"\"private_key_id\"\s*:\s*\"(?P<v>[0-9a-f]{40})\""),
    ("connection_string", 0.9, r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|ftps?|sftp|smtps?|ldaps?)://[^\s:/@'\"]{1,64}:(?P<v>[^\s/@'\"]{1,128})@"),
    ("odbc_password", 0.8, r"(?i:\b(?:password|pwd))=(?P<v>[^;\s'\"]{4,});"),
    ("password_assignment", 0.7, r"(?i:(?<![a-z0-9])(?:password|passwd|passphrase|pwd|secret|secret_?key|api_?key|apikey|access_?token|auth_?token|client_?secret|private_?token)\b)[\"']?\s*(?::|=|:=|=>)\s*[\"']?(?P<v>[^\s\"',;}{)(\]\[<>]{8,128})"),
)

# Patterns start with their literal prefix (so ``re`` can skip to it); the word
# boundary before it is a look-behind placed after the prefix: (?<![A-Za-z0-9].{n}).
# Word stems (lower case; words split at punctuation and "_") one of which every match
# contains: a pattern runs only when one occurs (see scanners.base.word_index).
ANCHORS: dict[str, str] = {
    "private_key": "private",
    "aws_access_key": "akia asia abia acca agpa aida aipa anpa anva aroa apka",
    "aws_secret_key": "aws",
    "github_token": "ghp gho ghu ghs ghr github",
    "gitlab_token": "glpat",
    "slack_token": "xox",
    "slack_webhook": "hooks",
    "stripe_key": "sk rk",
    "stripe_test_key": "sk rk",
    "google_api_key": "aiza",
    "anthropic_key": "sk",
    "openai_key": "sk",
    "huggingface_token": "hf",
    "npm_token": "npm",
    "sendgrid_key": "sg",
    "azure_storage_key": "accountkey",
    "azure_sas_signature": "sig",
    "jwt": "eyj",
    "bearer_token": "bearer",
    "basic_auth": "authorization",
    "gcp_service_account": "private",
    "connection_string": "postgres mysql mariadb mongodb redis amqp mssql sqlserver ftp sftp smtp ldap",
    "odbc_password": "password pwd",
    "password_assignment": "password passwd passphrase pwd secret api apikey access auth client private",
}
_PLACEHOLDER_RE = re.compile(
    r"^(?:\$\{?|%|\{\{|<|\*+$|x{4,}|\.{3})|(?i:^(?:password|passw0rd|changeme|change_?me|secret|example|placeholder|\[?redacted|dummy|test|testing|your[_-]|my[_-]|none|null|undefined|todo|xxx|os\.|process\.env|env\.|getenv|settings\.|config\.|self\.|request\.))",
)
_WEIGHT = {pid: w for pid, w, _ in PATTERNS}
_SAMPLE_VALUE_RE = re.compile(r"(?i)1234|abcd|xxxx|example|sample|dummy|changeme|placeholder|secret|password|your")
_SINGLE = [(pid, re.compile(p), tuple(ANCHORS[pid].split())) for pid, _, p in PATTERNS]
_ANCHOR_SETS = [frozenset(anchors) for _, _, anchors in _SINGLE]
# Substrings every match contains, for patterns that start with a character set (re
# tries those at every s/r/b of the text): a text without the substring is skipped.
_REQUIRED = {"stripe_key": "k_live_", "stripe_test_key": "k_test_", "bearer_token": "earer"}
_ALL_ANCHORS = frozenset(a for _, _, anchors in _SINGLE for a in anchors)
STEMS.register(_ALL_ANCHORS)
_PREFILTER = hyperscan_prefilter.group("secrets")
_PREFILTER_FIRST = _PREFILTER.add([(p, 0) for _, _, p in PATTERNS])
_PREFILTER_LAST = _PREFILTER_FIRST + len(PATTERNS)  # other patterns may join the group


def _present_anchors(words: list[str]) -> frozenset[str]:
    """The anchors some word of the sorted index ``words`` starts with (one pass over
    the words shared with the rule sets' anchors, see scanners.base.StemIndex)."""
    return STEMS.present(words) & _ALL_ANCHORS


# Key-name patterns that start with a case-insensitive alternation (no literal prefix for
# ``re`` to skip to): matched only around the occurrences of their key words.
_WINDOWED = frozenset({"password_assignment", "odbc_password", "aws_secret_key", "basic_auth", "connection_string"})
_SPAN = 200


def _spans(lowered: str, stems: list[str]) -> list[tuple[int, int]]:
    points: list[int] = []
    for stem in stems:
        pos = lowered.find(stem)
        while pos >= 0:
            points.append(pos)
            pos = lowered.find(stem, pos + 1)
    spans: list[tuple[int, int]] = []
    for p in sorted(points):
        lo, hi = max(0, p - _SPAN), min(len(lowered), p + _SPAN)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def find_secrets(raw: str, words: Words | None = None) -> list[tuple[str, int, int]]:
    """(secret type, start, end of the value to redact) for each credential in ``raw``.

    ``words``: the word index of ``raw.lower()`` (or a function returning it); patterns
    whose anchors are absent are skipped. Where Hyperscan runs (scanners.hyperscan_prefilter),
    only the patterns it finds may match are looked at, and their anchors are looked up
    in ``raw.lower()`` itself (the same answer as the index's).
    """
    candidates = _PREFILTER.candidates(raw) if hyperscan_prefilter.ENABLED else None
    indices: Iterable[int]
    if candidates is not None:
        indices = sorted(c - _PREFILTER_FIRST for c in candidates if _PREFILTER_FIRST <= c < _PREFILTER_LAST)
        if not indices:
            return []  # the common case: no pattern can match (and no lower-cased copy needed)
    else:
        indices = range(len(_SINGLE))
    anchors_present: frozenset[str] = frozenset()
    lowered: str | None = None
    if candidates is None:
        if words is None:
            words = word_index(ScanText(raw=raw, normalized=raw.lower()))
        elif callable(words):
            words = words()
        anchors_present = _present_anchors(words)
    else:
        lowered = raw.lower()
    found: list[tuple[str, int, int]] = []
    taken = _Taken()
    for index in indices:
        (pid, regex, anchors), anchor_set = _SINGLE[index], _ANCHOR_SETS[index]
        if candidates is None:
            if anchor_set.isdisjoint(anchors_present):
                continue
            present = [a for a in anchors if a in anchors_present]
        else:
            assert lowered is not None
            present = [a for a in anchors if stem_present(lowered, a)]
            if not present:
                continue
        required = _REQUIRED.get(pid)
        if required is not None and required not in raw:
            continue
        spans: list[tuple[int, int]] = [(0, len(raw))]
        if pid in _WINDOWED:
            lowered = raw.lower() if lowered is None else lowered
            if len(lowered) == len(raw):
                spans = _spans(lowered, present)
        for m in (m for lo, hi in spans for m in regex.finditer(raw, lo, hi)):
            value_span = m.span("v") if "v" in regex.groupindex and m.group("v") is not None else m.span()
            if taken.overlaps(*value_span):
                continue  # already reported by an earlier, more specific pattern
            value = raw[value_span[0] : value_span[1]]
            if pid in ("password_assignment", "connection_string", "odbc_password", "bearer_token") and _PLACEHOLDER_RE.search(value):
                continue
            if pid == "password_assignment" and ((value.isalpha() and value.islower()) or _SAMPLE_VALUE_RE.search(value)):
                continue  # prose ("password = required") or a documentation sample ("1234abcd")
            found.append((pid, value_span[0], value_span[1]))
            taken.add(*value_span)
    return found


class _Taken:
    """The value spans already reported, none overlapping another: kept in order, so
    whether a new span overlaps one is a binary search, not a pass over all of them
    (a text of 1,400 keys took 150 ms in that pass at 32 KB, four times that at 64 KB)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._empty: list[int] = []  # zero-width spans, kept apart: they break the order of ends

    def overlaps(self, start: int, end: int) -> bool:
        """Some span (s, e) with s < end and start < e."""
        i = bisect.bisect_left(self._starts, end) - 1
        # disjoint non-empty spans in order of start are in order of end too: only the
        # last one starting before ``end`` can reach past ``start``
        if i >= 0 and self._ends[i] > start:
            return True
        return any(start < p < end for p in self._empty)

    def add(self, start: int, end: int) -> None:
        if start == end:
            self._empty.append(start)
            return
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


class SecretsScanner(BuiltinScanner):
    kind = "secrets"
    directions = ("input", "output")
    default_threshold = 0.5
    can_redact = True

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        raw = text.raw
        found = find_secrets(raw, lambda: word_index(text, lower_raw=True))
        hidden = False
        if text_hides_in_token(text):
            # "AKIA\u200bIOSFODNN7EXAMPLE": a model (and invisible_text's redaction, which
            # strips the zero-width space) puts the key back together. Read without them;
            # when that finds more, redact that text (the hidden characters dropped).
            visible = strip_control(strip_invisible(raw))
            found_visible = find_secrets(visible)
            if len(found_visible) > len(found):
                raw, found, hidden = visible, found_visible, True
        if not found:
            return self.result(0.0)
        kinds = sorted({k for k, _, _ in found})
        score = noisy_or(_WEIGHT[k] for k in kinds)
        parts: list[str] = []
        last = 0
        for kind, start, end in sorted(found, key=lambda f: f[1]):
            if start < last:
                continue
            parts.append(raw[last:start])
            parts.append(f"[REDACTED:{kind}]")
            last = end
        parts.append(raw[last:])
        return self.result(
            score,
            [Threat.SECRET],
            f"{len(found)} secrets: {', '.join(kinds)}" + (" (split by hidden characters)" if hidden else ""),
            sanitized="".join(parts),
            details={"count": len(found), "types": ",".join(kinds), **({"hidden_characters": True} if hidden else {})},
        )
