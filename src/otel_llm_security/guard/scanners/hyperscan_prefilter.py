"""Hyperscan as the prefilter of the rule sets: one scan of a text says which rules can match.

Each rule's Python pattern is translated (:func:`translate`) into a Hyperscan pattern
over the text's UTF-8 bytes whose matches are a *superset* of the Python pattern's, in
the whole text and in any window ``finditer(text, lo, hi)`` of it: every zero-width
assertion is dropped (look-arounds, ``\\b``, ``\\B``, ``$``, ``\\Z``; a window's end is
seen as the text's end by them, so keeping them could miss a window's match; only
``^`` stays), back-references become a copy of their group, atomic groups and
possessive repeats plain ones, repeats bounded past 16 unbounded, and each character
set is written out byte by byte: its ASCII members exactly as Python's ``re`` decides
them (each tested), its non-ASCII part exactly where it is a short list of characters
(their UTF-8 bytes) and as "any non-ASCII character" (2-4 bytes of 0x80-0xff) where
Python's Unicode tables (``\\w``, ``\\s``, ``\\d``, case folding) decide. So Hyperscan's
own notion of ``\\w`` or of case folding never matters, and texts with lone surrogates
(encoded with ``surrogatepass``) are scanned like any other. The patterns are
compiled with ``HS_FLAG_PREFILTER`` (another superset where Hyperscan approximates) and
``HS_FLAG_SINGLEMATCH`` into one database per group (a scanner's rule sets and
probes), and a rule the scan does not report cannot match: it is skipped. Rules that
cannot be translated or compiled are always run.

A database is built on the first scan of its group: loaded from
``~/.cache/otel-llm-security/hyperscan`` (keyed by a hash of the patterns, the
translator, the Hyperscan and Python versions; ~1 ms), or else compiled in a
background thread (seconds for prompt_injection; Hyperscan releases the GIL) while the
scans take the pure-Python path, then written there. ``OTEL_LLM_SECURITY_HYPERSCAN=0``
turns Hyperscan off (the pure-Python prefilter of :mod:`scanners.base` runs instead: a
diagnostic, and the path of platforms without a ``hyperscan`` wheel). Scratch space is
per thread.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from otel_llm_security.attributes import ENV_CACHE_DIR, ENV_HYPERSCAN
from otel_llm_security.guard.scanners._sre import C
from otel_llm_security.guard.scanners._sre import compiler as sre_compile
from otel_llm_security.guard.scanners._sre import parser as sre_parse
from otel_llm_security.guard.setup_time import compile_pattern, one_time

# The wheel exists for x86_64 (Linux, macOS, Windows) and macOS arm64 only. Imported on
# the first scan (the import costs ~14 ms of start-up otherwise).
hyperscan: Any = None
ENV_SWITCH = ENV_HYPERSCAN
# Bump when translate() changes: the cached databases are keyed by it.
TRANSLATOR_VERSION = "1"


def installed() -> bool:
    return importlib.util.find_spec("hyperscan") is not None


def _switched_on() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


ENABLED = _switched_on() and installed()


def set_enabled(enabled: bool) -> bool:
    """Turn the Hyperscan prefilter on or off for this process (tests run both paths);
    returns the previous setting. On only where hyperscan is installed."""
    global ENABLED
    previous = ENABLED
    ENABLED = bool(enabled) and installed()
    return previous


def _import() -> Any:
    global hyperscan
    if hyperscan is None:
        import hyperscan as module

        hyperscan = module
    return hyperscan


class Untranslatable(ValueError):
    """The pattern uses a construct :func:`translate` does not handle: the rule always runs."""


_MAX_BOUND = 16
# Non-ASCII characters that Python's re.IGNORECASE matches with an ASCII letter
# (tests/guard/test_hyperscan.py checks the table against every code point).
_ASCII_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}
_ANY = None  # the non-ASCII part of a character set: any non-ASCII character
_NON_ASCII_CHAR = "[\\x80-\\xff]{2,4}"  # one non-ASCII character, in UTF-8 (or surrogatepass)
_MAX_LISTED = 16  # non-ASCII characters of a class written out one by one; more: any


def _byte(b: int) -> str:
    return chr(b) if b < 128 and chr(b).isalnum() else f"\\x{b:02x}"


def _byte_class(members: Iterable[int]) -> str:
    points = sorted(set(members))
    if len(points) == 1:
        return _byte(points[0])
    parts: list[str] = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        parts.append(_byte(points[i]) if i == j else f"{_byte(points[i])}-{_byte(points[j])}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def _utf8(ch: str) -> str:
    return "".join(_byte(b) for b in ch.encode("utf-8", "surrogatepass"))


_CHARSETS: dict[str, tuple[tuple[int, ...], tuple[str, ...] | None]] = {}
_CHARSETS_LOCK = threading.Lock()


def _charset(op: Any, av: Any, flags: int) -> tuple[tuple[int, ...], tuple[str, ...] | None]:
    """The characters one charset item of a parse tree matches: its ASCII members
    (each tested with ``re`` itself, so exactly as Python decides them) and its
    non-ASCII members, listed when they are a few plain characters, else ``_ANY``."""
    key = repr((op, av, flags))
    found = _CHARSETS.get(key)
    if found is not None:
        return found
    state = sre_parse.State()
    state.flags = flags
    regex = sre_compile.compile(sre_parse.SubPattern(state, [(op, av)]), 0)
    ascii_in = tuple(cp for cp in range(128) if regex.match(chr(cp)))
    ignorecase = bool(flags & re.IGNORECASE)
    non_ascii: tuple[str, ...] | None
    if op is C.LITERAL:
        if av >= 0x80:
            non_ascii = _ANY if ignorecase else (chr(av),)
        else:
            non_ascii = tuple(_ASCII_FOLDS.get(chr(av).lower(), "")) if ignorecase else ()
    elif op is C.IN:
        listed: list[str] = []
        non_ascii = ()
        for iop, iav in av:
            if iop is C.LITERAL:
                lo = hi = iav
            elif iop is C.RANGE:
                lo, hi = iav
            else:  # NEGATE, CATEGORY (\\w, \\s, \\d and their complements): Unicode tables
                non_ascii = _ANY
                break
            if hi >= 0x80:
                if ignorecase or hi - max(lo, 0x80) >= _MAX_LISTED:
                    non_ascii = _ANY
                    break
                listed.extend(chr(c) for c in range(max(lo, 0x80), hi + 1))
            if ignorecase:
                for letter, folds in _ASCII_FOLDS.items():
                    if lo <= ord(letter) <= hi or lo <= ord(letter.upper()) <= hi:
                        listed.extend(folds)
        if non_ascii is not _ANY:
            non_ascii = tuple(dict.fromkeys(listed))
    else:  # NOT_LITERAL, ANY
        non_ascii = _ANY
    found = (ascii_in, non_ascii)
    with _CHARSETS_LOCK:
        _CHARSETS[key] = found
    return found


_CHARSET_OPS = (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)


# A source flag (beside re's flags) for patterns only ever searched over a whole text
# (Probe): their look-aheads at one character are kept, as that character or the end.
WHOLE_TEXT = 1 << 30


class _Translator:
    def __init__(self, whole_text: bool = False) -> None:
        self.groups: dict[int, tuple[Any, int]] = {}
        self.depth = 0
        self.whole_text = whole_text

    def seq(self, items: Any, flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op is C.LITERAL and not flags & re.IGNORECASE:
            return _utf8(chr(av))
        if op in _CHARSET_OPS:
            return self.char(op, av, flags)
        if op is C.BRANCH:
            return "(?:" + "|".join(self.seq(alt, flags) for alt in av[1]) + ")"
        if op is C.SUBPATTERN:
            group, add_flags, del_flags, p = av
            inner = (flags | add_flags) & ~del_flags
            if group is not None:
                self.groups[group] = (p, inner)
            return "(?:" + self.seq(p, inner) + ")"
        if op is C.ATOMIC_GROUP:  # its matches are some of the plain group's
            return "(?:" + self.seq(av, flags) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, p = av
            unbounded = hi is C.MAXREPEAT or hi == C.MAXREPEAT
            if (
                len(p) == 1
                and p[0][0] in _CHARSET_OPS
                and not (p[0][0] is C.LITERAL and not flags & re.IGNORECASE and p[0][1] < 0x80)
            ):
                ascii_in, non_ascii = _charset(p[0][0], p[0][1], flags)
                if non_ascii is _ANY:
                    # n characters are n to 4n bytes, each of the ASCII set or >= 0x80
                    body = _byte_class([*ascii_in, *range(0x80, 0x100)])
                    return body + self.quantifier(lo, None if unbounded else 4 * hi)
            body = self.seq(p, flags)
            if not body:
                return ""
            return f"(?:{body})" + self.quantifier(lo, None if unbounded else hi)
        if op is C.AT:
            if av is C.AT_BEGINNING_STRING or (av is C.AT_BEGINNING and not flags & re.MULTILINE):
                return "^"  # the start of the string, in a window too (re's ^ ignores pos)
            return ""  # the others only narrow the matches (and see a window's end as the end)
        if op in (C.ASSERT, C.ASSERT_NOT):
            direction, p = av
            if self.whole_text and direction > 0 and len(p) == 1 and p[0][0] in _CHARSET_OPS:
                # the next character (consumed: only whether a match exists matters here)
                if op is C.ASSERT:
                    return self.char(p[0][0], p[0][1], flags)
                ascii_in, _ = _charset(p[0][0], p[0][1], flags)
                outside = [b for b in range(128) if b not in ascii_in]
                return "(?:" + (_byte_class(outside) + "|" if outside else "") + "[\\x80-\\xff]|$)"
            return ""
        if op is C.GROUPREF:
            if av not in self.groups or self.depth > 4:
                raise Untranslatable("back-reference")
            p, group_flags = self.groups[av]
            # the same text again (case-insensitively under IGNORECASE): a match of the group
            self.depth += 1
            try:
                return "(?:" + self.seq(p, group_flags | (flags & re.IGNORECASE)) + ")"
            finally:
                self.depth -= 1
        if op is C.GROUPREF_EXISTS:
            _group, yes, no = av
            return "(?:" + self.seq(yes, flags) + "|" + (self.seq(no, flags) if no else "") + ")"
        raise Untranslatable(str(op))

    @staticmethod
    def quantifier(lo: int, hi: int | None) -> str:
        # Long bounded repeats blow up Hyperscan's automata (seconds to compile):
        # past _MAX_BOUND they are written unbounded, a superset.
        if hi is None or hi > _MAX_BOUND:
            lo = min(lo, _MAX_BOUND)
            return "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
        return "?" if (lo, hi) == (0, 1) else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"

    def char(self, op: Any, av: Any, flags: int) -> str:
        ascii_in, non_ascii = _charset(op, av, flags)
        parts = [_byte_class(ascii_in)] if ascii_in else []
        if non_ascii is _ANY:
            parts.append(_NON_ASCII_CHAR)
        else:
            parts.extend(_utf8(ch) for ch in non_ascii)
        if not parts:
            raise Untranslatable("a character set that matches nothing")
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def translate(pattern: str, flags: int = 0) -> str:
    """A Hyperscan pattern over UTF-8 bytes (no Hyperscan flag but PREFILTER and
    SINGLEMATCH) that matches wherever ``re.compile(pattern, flags)`` matches, in the
    whole text or in any window of it (see the module docstring). Raises
    :class:`Untranslatable`."""
    whole_text = bool(flags & WHOLE_TEXT)
    parsed = sre_parse.parse(pattern, flags & ~WHOLE_TEXT)
    out = _Translator(whole_text).seq(parsed, parsed.state.flags)
    if not out:
        raise Untranslatable("matches the empty string")
    return out


CACHE_DIR_ENV = ENV_CACHE_DIR


def cache_dir() -> Path:
    """``$OTEL_LLM_SECURITY_CACHE_DIR/hyperscan``, else beside the project's other caches
    (bench/detection.py's embeddings). A container image can fill it at build time with
    ``otel-llm-security prepare`` so that no pod pays the compile."""
    root = os.environ.get(CACHE_DIR_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "otel-llm-security") / "hyperscan"


def _hs_flags(single_match: bool = True) -> int:
    return hyperscan.HS_FLAG_PREFILTER | (hyperscan.HS_FLAG_SINGLEMATCH if single_match else 0)


class PrefilterGroup:
    """The rules of one or more rule sets in one Hyperscan database (ids: their
    position in the order they were added); :meth:`candidates` scans a text once.

    The database is loaded from the disk cache on the first scan, or else compiled in
    a background thread (Hyperscan releases the GIL while it compiles) while the
    scans take the pure-Python path; :meth:`wait` blocks until it is ready."""

    def __init__(self, name: str, *, single_match: bool = True) -> None:
        self.name = name
        # False: every match end is reported (:meth:`ends`), for one rule's pattern
        self.single_match = single_match
        self._sources: list[tuple[str, int]] = []
        # Patterns made when the database is compiled, instead of the sources (which then
        # only name them, for the cache key): lists too long to build at import time.
        self.expand: Callable[[], Sequence[tuple[str, int]]] | None = None
        self._lock = threading.Lock()
        self._db: Any = None
        self._always: frozenset[int] = frozenset()
        self._started = False
        self._ready = threading.Event()  # the database is in place
        self._finished = threading.Event()  # ready, or failed (self.error)
        self._local = threading.local()
        self._base_scratch: Any = None
        self._last: tuple[str, frozenset[int]] | None = None
        self.build_ms = 0.0
        self.source = ""  # "cache" or "compiled", once ready
        self.error: BaseException | None = None

    def add(self, sources: Sequence[tuple[str, int]]) -> int:
        """Registers patterns (source, re flags); returns the id of the first."""
        with self._lock:
            if self._started:
                raise RuntimeError(f"prefilter group {self.name!r} is already built")
            first = len(self._sources)
            self._sources.extend(sources)
            return first

    def _cache_path(self) -> Path:
        key = hashlib.sha256(
            repr(
                (
                    TRANSLATOR_VERSION,
                    hyperscan.__version__,
                    _hs_flags(self.single_match),
                    sys.version_info[:2],  # re's parser and Unicode tables decide the translation
                    unicodedata.unidata_version,
                    self._sources,
                )
            ).encode()
        ).hexdigest()[:32]
        return cache_dir() / f"{self.name}-{key}.hsdb"

    def start(self, *, background: bool = True) -> None:
        """Loads the cached database, or compiles it (in a thread unless ``background``
        is False). Idempotent."""
        with self._lock:
            if self._started:
                return
            self._started = True
        with one_time():  # importing hyperscan and loading from the cache: once per process
            self._load_or_compile(background)

    def _load_or_compile(self, background: bool) -> None:
        t0 = time.perf_counter()
        try:
            _import()
            path = self._cache_path()
            loaded = _load(path)
        except Exception as exc:  # an unusable hyperscan: the Python path stays
            self.error = exc
            self._finished.set()
            return
        if loaded is not None:
            self._install(*loaded, t0, "cache")
            return
        if background:
            threading.Thread(
                target=self._compile, args=(path, t0), name=f"hyperscan-{self.name}", daemon=True
            ).start()
        else:
            self._compile(path, t0)

    def _compile(self, path: Path, t0: float) -> None:
        try:
            expressions: list[bytes] = []
            ids: list[int] = []
            always: set[int] = set()
            for i, (source, flags) in enumerate(self.expand() if self.expand is not None else self._sources):
                try:
                    expressions.append(translate(source, flags).encode("ascii"))
                    ids.append(i)
                except (Untranslatable, re.error, RecursionError):
                    always.add(i)
            db, failed = _compile(expressions, ids, _hs_flags(self.single_match))
            always |= failed
            _write(path, hyperscan.dumpb(db) if db is not None else None, always)
            self._install(db, frozenset(always), t0, "compiled")
        except Exception as exc:  # the Python path stays
            self.error = exc
            self._finished.set()

    def _install(self, db: Any, always: frozenset[int], t0: float, source: str) -> None:
        self._db = db
        self._always = always
        if db is not None:
            self._base_scratch = hyperscan.Scratch(db)
        self.build_ms = (time.perf_counter() - t0) * 1e3
        self.source = source
        self._ready.set()
        self._finished.set()

    @property
    def size_bytes(self) -> int:
        """The database's size (0 until it is ready, or when no pattern compiled)."""
        db = self._db
        return int(db.size()) if db is not None else 0

    def wait(self, timeout: float | None = None) -> bool:
        """Builds the database if not started, and waits for it; True when ready."""
        self.start()
        return self._finished.wait(timeout) and self._ready.is_set()

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            with self._lock:
                scratch = self._base_scratch.clone()
            self._local.scratch = scratch
        return scratch

    def ends(self, text: str) -> list[int] | None:
        """For a group compiled with ``single_match=False``: the character offsets in
        ``text`` (sorted) where a match of the (superset) pattern (of any) ends, so
        every match the Python pattern has in ``text`` or in any window of it ends at
        one of them. None when Hyperscan cannot say (off, not ready, the pattern not
        translated) or the pattern matches more than MAX_ENDS times."""
        if not ENABLED:
            return None
        if not self._ready.is_set():
            self.start()
            if not self._ready.is_set():
                return None
        db = self._db
        if db is None or self._always:
            return None
        data = _encode(text)
        found: list[int] = []
        try:
            db.scan(data, match_event_handler=_collect_end, context=found, scratch=self._scratch())
        except hyperscan.error:  # stopped by the handler (too many), or never expected
            return None
        if not found:
            return found
        if len(found) > MAX_ENDS:
            return None
        return char_offsets(text, data, sorted(set(found)))

    def candidates(self, text: str) -> frozenset[int] | None:
        """Ids of the patterns that may match ``text``; None when Hyperscan cannot say
        (turned off, or its database not ready yet)."""
        if not ENABLED:
            return None
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        if not self._ready.is_set():
            self.start()
            if not self._ready.is_set():
                return None
        db = self._db
        if db is None:
            found = self._always
        else:
            hits: list[int] = []
            try:
                db.scan(_encode(text), match_event_handler=_collect, context=hits, scratch=self._scratch())
            except hyperscan.error:  # never expected; the Python path answers instead
                return None
            found = self._always.union(hits) if hits else self._always
        self._last = (text, found)
        return found


def _collect(pattern_id: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    hits.append(pattern_id)


MAX_ENDS = 256  # match ends of one rule collected from a text; more: no answer


def _collect_end(pattern_id: int, start: int, end: int, flags: int, ends: list[int]) -> bool:
    ends.append(end)
    return len(ends) > MAX_ENDS  # True stops the scan


# A text's non-ASCII runs on its UTF-8 bytes (byte start, byte end, characters before
# the run), for turning match ends (byte offsets) into character offsets; for the last text.
_HIGH_BYTES = bytes(0x2E if b < 0x80 else 0x4E for b in range(256))
_runs_memo: tuple[str, list[tuple[int, int, int, int]]] | None = None


def _byte_runs(text: str, data: bytes) -> list[tuple[int, int, int, int]]:
    """The runs of non-ASCII bytes of ``data`` (``text`` encoded): (first byte, end
    byte, the character offset of the first, the characters in the run). Remembered
    for the last text."""
    global _runs_memo
    memo = _runs_memo
    if memo is not None and memo[0] is text:
        return memo[1]
    marks = data.translate(_HIGH_BYTES)
    find = marks.find
    runs: list[tuple[int, int, int, int]] = []
    shift = 0  # bytes minus characters before the run
    b0 = find(b"N")
    while b0 >= 0:
        b1 = find(b".", b0)
        if b1 < 0:
            b1 = len(marks)
        chars = len(data[b0:b1].decode("utf-8", "surrogatepass"))
        runs.append((b0, b1, b0 - shift, chars))
        shift += b1 - b0 - chars
        b0 = find(b"N", b1)
    _runs_memo = (text, runs)
    return runs


_LITERALS: dict[bytes, Any] = {}
_literal_local = threading.local()


def _collect_all_ends(pattern_id: int, start: int, end: int, flags: int, ends: list[int]) -> None:
    ends.append(end)


def literal_starts(text: str, needle: str) -> list[int] | None:
    """Every start of ``needle`` (ASCII) in ``text``, overlapping ones included, in order;
    None when Hyperscan is off. One database per needle (a literal compiles in ~0.05 ms,
    in memory), scanned in ~0.02 ms per 200 KB where ``str.find`` takes ~0.13 ms: the
    rule sets' windows need the occurrences of a dozen stems or more on a long text."""
    if not ENABLED or not needle.isascii():
        return None
    key = needle.encode("ascii")
    try:
        _import()
        db = _LITERALS.get(key)
        if db is None:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(expressions=[b"".join(b"\\x%02x" % b for b in key)], ids=[0], elements=1, flags=0)
            _LITERALS[key] = db
        scratches = getattr(_literal_local, "scratches", None)
        if scratches is None:
            scratches = _literal_local.scratches = {}
        scratch = scratches.get(key)
        if scratch is None:
            scratch = scratches[key] = hyperscan.Scratch(db)
        data = _encode(text)
        ends: list[int] = []
        db.scan(data, match_event_handler=_collect_all_ends, context=ends, scratch=scratch)
    except Exception:  # never expected; the Python search answers instead
        return None
    n = len(key)
    return char_offsets(text, data, [e - n for e in ends])


def char_offsets(text: str, data: bytes, offsets: list[int]) -> list[int]:
    """The character offsets in ``text`` of the byte offsets ``offsets`` (sorted) of its
    UTF-8 encoding ``data``; an offset inside a character counts as that character's start."""
    if len(data) == len(text):  # ASCII
        return offsets
    runs = _byte_runs(text, data)
    starts = [r[0] for r in runs]
    out: list[int] = []
    for b in offsets:
        k = bisect.bisect_right(starts, b) - 1
        if k < 0:
            out.append(b)
            continue
        b0, b1, c0, chars = runs[k]
        if b >= b1:  # after the run: its characters, then ASCII
            out.append(c0 + chars + (b - b1))
        else:  # inside it: the characters that start before b
            out.append(c0 + sum(1 for x in data[b0:b] if x < 0x80 or x >= 0xC0))
    return out


_encoded_memo: tuple[tuple[str, bytes], ...] = ()
_ENCODED_KEPT = 4
# Shorter texts are encoded again: cheaper than looking through and updating the memo.
_ENCODED_MEMO_MIN_CHARS = 4096
_encoded_last: tuple[str | None, bytes] = (None, b"")


def _encode(text: str) -> bytes:
    """``text`` as UTF-8, remembered for the last few long texts: the groups, the
    per-rule databases and the literal searches of a scan share it, and a scan goes back
    and forth between its text and the decoded views."""
    global _encoded_memo, _encoded_last
    if len(text) < _ENCODED_MEMO_MIN_CHARS:
        # one slot: prompt_injection's group and its scrambled-keys database scan the
        # same normalised text one after the other
        last = _encoded_last
        if last[0] is text:
            return last[1]
        data = text.encode("utf-8", "surrogatepass")
        _encoded_last = (text, data)
        return data
    memo = _encoded_memo
    for kept, data in memo:
        if kept is text:
            return data
    data = text.encode("utf-8", "surrogatepass")
    _encoded_memo = ((text, data), *memo[: _ENCODED_KEPT - 1])
    return data


def _compile(expressions: list[bytes], ids: list[int], flags: int) -> tuple[Any, set[int]]:
    """The database of the patterns Hyperscan compiles, and the ids of those it does not
    (found one by one when the whole set fails)."""
    failed: set[int] = set()
    if not expressions:
        return None, failed
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
        return db, failed
    except hyperscan.error:
        pass
    good_expr, good_ids = [], []
    for expr, i in zip(expressions, ids, strict=True):
        single = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            single.compile(expressions=[expr], ids=[i], elements=1, flags=flags)
        except hyperscan.error:
            failed.add(i)
            continue
        good_expr.append(expr)
        good_ids.append(i)
    if not good_expr:
        return None, failed
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=good_expr, ids=good_ids, elements=len(good_expr), flags=flags)
    return db, failed


def _load(path: Path) -> tuple[Any, frozenset[int]] | None:
    """The cached database and its always-run ids; None when absent or unusable."""
    try:
        data = path.read_bytes()
        always = frozenset(int(x) for x in path.with_suffix(".always").read_text().split())
        return hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK), always
    except (OSError, ValueError, hyperscan.error):
        return None


def _write(path: Path, data: bytes | None, always: set[int]) -> None:
    """Best effort: the cache is an optimisation (a read-only home only costs the compile)."""
    if data is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, payload in (
            (path.with_suffix(".always"), " ".join(map(str, sorted(always))).encode()),
            (path, data),
        ):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(payload)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        _prune(path)
    except OSError:
        pass


_KEEP_PER_GROUP = 4


def _prune(path: Path) -> None:
    """Keeps the newest few databases of a group (each pattern change writes a new one)."""
    name = path.name.rsplit("-", 1)[0]
    old = sorted(path.parent.glob(f"{name}-*.hsdb"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[_KEEP_PER_GROUP:]:
        for target in (stale, stale.with_suffix(".always")):
            try:
                target.unlink()
            except OSError:
                pass


_GROUPS: dict[str, PrefilterGroup] = {}
_GROUPS_LOCK = threading.Lock()


def group(name: str) -> PrefilterGroup:
    """The shared group ``name`` (rule sets and probes made at import time join it). Once
    it is built, a rule set made later (a module reloaded) gets a new group of that name."""
    with _GROUPS_LOCK:
        found = _GROUPS.get(name)
        if found is None or found._started:
            found = _GROUPS[name] = PrefilterGroup(name)
        return found


_ENDS: dict[str, PrefilterGroup] = {}


def ends_group(
    name: str, *sources: tuple[str, int], expand: Callable[[], Sequence[tuple[str, int]]] | None = None
) -> PrefilterGroup:
    """A database of one rule's pattern (or of several patterns: the ends of any)
    reporting every match end (``PrefilterGroup.ends``): the rule sets drop the windows of
    a rule where it cannot match. Built with the groups (wait_all, build_all: ``prepare``
    caches them too), or on first use. With ``expand``, the patterns are what it returns
    when the database is compiled, and ``sources`` only name them (the cache key)."""
    with _GROUPS_LOCK:
        found = PrefilterGroup(name, single_match=False)
        found.add(sources)
        found.expand = expand
        _ENDS[name] = found
        return found


def build_all(timeout: float | None = None) -> list[PrefilterGroup]:
    """Loads or compiles every group's database now, in the calling thread's time
    (``otel-llm-security prepare``); returns the groups, each with ``source``,
    ``build_ms`` and ``error`` set. Groups exist once the scanner modules are imported."""
    with _GROUPS_LOCK:
        groups = list(_GROUPS.values())
        ends = list(_ENDS.values())
    for g in groups + ends:
        g.start(background=False)
        g.wait(timeout)
    return groups


PROBES: list[Probe] = []


class Probe:
    """A Python regex behind a group's Hyperscan scan: :meth:`search` runs it only on
    texts where the (superset) scan found it may match; the same answer as
    ``regex.search`` always. Made at import time (before the group is built)."""

    def __init__(self, group_name: str, regex: re.Pattern[str] | str) -> None:
        # A pattern given as a string is compiled on its first Python search: ``re``
        # takes milliseconds for a long alternation, a cost import time should not pay
        # for a probe that is mostly asked :meth:`possible`.
        self._regex = regex if isinstance(regex, re.Pattern) else None
        self._source = regex.pattern if isinstance(regex, re.Pattern) else regex
        flags = regex.flags if isinstance(regex, re.Pattern) else re.UNICODE
        self._group = group(group_name)
        self._id = self._group.add([(self._source, flags | WHOLE_TEXT)])
        PROBES.append(self)

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            self._regex = compile_pattern(self._source)
        return self._regex

    def possible(self, text: str) -> bool:
        """False when the group's scan says the regex cannot match ``text`` (True when it
        cannot say): for callers that then search in a faster way of their own."""
        if ENABLED:
            found = self._group.candidates(text)
            return found is None or self._id in found
        return True

    def search(self, text: str) -> re.Match[str] | None:
        if ENABLED:
            found = self._group.candidates(text)
            if found is not None and self._id not in found:
                return None
        return self.regex.search(text)


class ProbeSet:
    """Probes of one group asked together: :meth:`possible` is ``any(p.possible(text)
    for p in probes)`` from one look at the group's scan."""

    def __init__(self, probes: Sequence[Probe]) -> None:
        groups = {id(p._group) for p in probes}
        if len(groups) != 1:
            raise ValueError("a ProbeSet's probes must belong to one group")
        self._group = probes[0]._group
        self._ids = frozenset(p._id for p in probes)

    def possible(self, text: str) -> bool:
        if ENABLED:
            found = self._group.candidates(text)
            return found is None or not self._ids.isdisjoint(found)
        return True


def _after_fork_in_child() -> None:
    """A fork while a database compiles leaves the child without the compiling thread:
    such groups start over there (on their next scan)."""
    for g in [*_GROUPS.values(), *_ENDS.values()]:
        if not g._finished.is_set():
            g._lock = threading.Lock()
            g._started = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def wait_all(timeout: float | None = None) -> bool:
    """Builds every group's database and waits for all (tests, benchmarks); False when
    hyperscan is not installed or a database could not be built."""
    if not installed():
        return False
    with _GROUPS_LOCK:
        groups = list(_GROUPS.values())
        ends = list(_ENDS.values())
    ready = all(g.wait(timeout) for g in groups)
    for g in ends:  # an ends database that fails only costs its filtering
        g.wait(timeout)
    return ready


def forget() -> None:
    """Drops the scan results remembered for the last text (benchmarks that scan one
    text object again and again)."""
    global _encoded_memo, _encoded_last
    _encoded_memo = ()
    _encoded_last = (None, b"")
    with _GROUPS_LOCK:
        for g in _GROUPS.values():
            g._last = None
