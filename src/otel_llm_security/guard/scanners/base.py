"""Shared plumbing for the built-in scanners: configuration and weighted pattern sets.

Speed: a scan must stay linear and cheap on large texts (a 200 KB prompt through the
whole default policy in a few tens of ms), and Python's ``re`` pays per position for a
big alternation. So every rule names *anchors*: word stems at least one of which
occurs in any text the rule can match. A scan first builds the text's word index once
(:func:`word_index`, shared by all scanners through ``ScanText.cache``), and runs only
the rules whose anchors occur, each as its own compiled pattern (whose literal or
character-set prefix ``re`` can skip to). Rules without anchors always run. Patterns
use only bounded repetition, so matching stays linear in the text length.

Where ``hyperscan`` is installed, a rule set first asks its Hyperscan database
(:mod:`scanners.hyperscan_prefilter`: every rule compiled as a superset pattern, one
scan per text shared by the rule sets of a scanner) which rules can match at all; only
those go through the anchor and whole-word tests above and run in ``re``, so most texts
need neither the word index nor any rule's regex. The rules that run, and so the hits,
are the same as without it (tests/guard/test_hyperscan.py).
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners import hyperscan_prefilter
from otel_llm_security.guard.scanners.literals import encode_clauses, required_words_cached
from otel_llm_security.guard.setup_time import compile_pattern, one_time

# A text's word index, or a function that builds it when asked (the Hyperscan path
# mostly does without it).
Words = list[str] | Callable[[], list[str]]


@dataclass(frozen=True)
class Rule:
    """One pattern: what it means (threat), how sure it is (weight 0..1), an id for reasons.

    ``anchors``: space-separated lower-case word stems (a text word must start with
    one; ``stem$`` means the whole word), or ``=literal`` substrings (for scripts without
    spaces); clauses separated by `` & `` must all be present. Empty: always run.
    """

    id: str
    threat: Threat
    weight: float
    pattern: str
    negatable: bool = False  # "do not reveal your prompt": a negation just before halves the weight
    anchors: str = ""
    # A pattern every match of ``pattern`` contains, in any string (so in a window too),
    # with no assertion after its last character: searched over the whole text first,
    # the rule is skipped when it finds nothing. For rules whose own pattern ``re``
    # cannot skip through (tests/guard/test_literals.py checks it on generated matches).
    gate: str = ""


@dataclass(frozen=True)
class Hit:
    rule: Rule
    start: int
    end: int


# Word characters are ASCII letters and digits; everything else separates words: "_"
# (db_password -> db, password), and control characters, which the rules' \W matches
# (a NUL between words must not hide "instructions" from the anchors).
_ASCII_SEPARATOR_CHARS = "".join(chr(b) for b in range(128) if not chr(b).isalnum())
_ASCII_SEPARATORS = str.maketrans(dict.fromkeys(_ASCII_SEPARATOR_CHARS, " "))
_ASCII_SEPARATOR_BYTES = bytes(0x20 if b < 128 and chr(b) in _ASCII_SEPARATOR_CHARS else b for b in range(256))


_ascii_memo: tuple[str, bytes] | None = None


def ascii_bytes(text: str) -> bytes:
    """``text.encode("ascii", "replace")``: one byte per character (every non-ASCII
    character, lone surrogates included, becomes "?"), so the offsets are the text's.
    Remembered for the last text: the word index and prompt_injection's byte-class
    searches of one scan ask for the same 200 KB encoding."""
    global _ascii_memo
    memo = _ascii_memo
    if memo is not None and memo[0] is text:
        return memo[1]
    data = text.encode("ascii", "replace")
    _ascii_memo = (text, data)
    return data


def word_index(text: ScanText, *, lower_raw: bool = False) -> list[str]:
    """Unique lower-case ASCII words of the normalised text (or of ``raw.lower()``), in
    no particular order (:func:`has_prefix` needs them sorted).

    Non-ASCII characters separate words here (they become "?"), so anchors are ASCII
    stems; rules for other scripts use ``=literal`` anchors. Em-dashes and typographic
    quotes therefore split words as punctuation does.
    """
    key = "words_raw" if lower_raw and not text.raw.isascii() else "words"
    cached = text.cache.get(key)
    if cached is None:
        source = text.raw.lower() if key == "words_raw" else text.normalized
        cached = _index(source)
        text.cache[key] = cached
    return cached  # type: ignore[return-value]


def _index(source: str) -> list[str]:
    """The word index of ``source`` (see :func:`word_index`); also leaves its whole
    words (:func:`whole_words`) in the memo, from the same split."""
    global _whole_words_memo
    data = ascii_bytes(source)  # non-ASCII characters become "?", a separator
    unique = frozenset(data.translate(_ASCII_SEPARATOR_BYTES).decode("ascii").split())
    words = list(unique)  # not sorted: StemIndex sorts when it bisects (large texts only)
    _whole_words_memo = (words, unique)
    return words


_whole_words_memo: tuple[list[str], frozenset[str]] | None = None


def whole_words(text: str, words: list[str]) -> frozenset[str]:
    """The whole words of ``text`` as :mod:`scanners.literals` defines them (maximal
    ASCII letter-and-digit runs): the words of its word index ``words``, as a set.
    Remembers the last index (the rule sets of one scan share it)."""
    global _whole_words_memo
    memo = _whole_words_memo
    if memo is not None and memo[0] is words:
        return memo[1]
    found = frozenset(words)
    _whole_words_memo = (words, found)
    return found


_contains_memo: tuple[str, dict[str, bool]] | None = None


def contains(text: str, literal: str) -> bool:
    """``literal in text``, remembered for the last text: the anchor checks and the
    windows of every rule set ask about the same literals of the same text, and on a
    200 KB text each answer is a pass over it."""
    global _contains_memo
    memo = _contains_memo
    if memo is None or memo[0] is not text:
        if len(text) < 4096:  # short: the search is cheaper than the memo
            return literal in text
        memo = _contains_memo = (text, {})
    found = memo[1].get(literal)
    if found is None:
        found = memo[1][literal] = literal in text
    return found


def has_prefix(words: list[str], stem: str) -> bool:
    """A word of ``words`` (sorted) starts with ``stem`` (equals it, for ``stem$``)."""
    if stem.endswith("$"):
        stem = stem[:-1]
        i = bisect.bisect_left(words, stem)
        return i < len(words) and words[i] == stem
    i = bisect.bisect_left(words, stem)
    return i < len(words) and words[i].startswith(stem)


# The characters word_index keeps inside words (a regex character-set body): ASCII
# letters and digits.
WORD_CHARS = r"A-Za-z0-9"
WORD_CHAR_SET = frozenset(chr(b) for b in range(128) if chr(b).isalnum())
_STEM_RES: dict[str, re.Pattern[str] | None] = {}


def stem_present(text: str, stem: str) -> bool:
    """A word of ``text``'s word index (:func:`word_index`, of the same text) starts with
    ``stem`` (is it, for ``stem$``), found without building the index: one search for
    the stem where no word character precedes it (and, for ``stem$``, none follows)."""
    regex = stem_regex(stem)
    return regex is not None and regex.search(text) is not None


def stem_regex(stem: str) -> re.Pattern[str] | None:
    """The pattern :func:`stem_present` searches; None when no word can start with ``stem``."""
    regex = _STEM_RES.get(stem, False)
    if regex is False:
        needle = stem[:-1] if stem.endswith("$") else stem
        if not needle or not set(needle) <= WORD_CHAR_SET:
            regex = None  # the index has no such word
        else:
            # the look-behind after the literal: re skips to the literal in C
            source = f"{re.escape(needle)}(?<![{WORD_CHARS}][\\s\\S]{{{len(needle)}}})"
            if stem.endswith("$"):
                source += f"(?![{WORD_CHARS}])"
            regex = compile_pattern(source)
        _STEM_RES[stem] = regex
    return regex  # type: ignore[return-value]


_WORD_MEMO_LIMIT = 20_000  # distinct words remembered (~1-2 MB at most)


class StemIndex:
    """The anchor stems of every rule set (and of the secrets scanner), found in one pass
    over a word index instead of one per rule set: a scan then costs one dict lookup per
    distinct word (the stems each word carries are memoised, bounded), and each rule set
    takes its own stems from the result with one set intersection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._prefix: frozenset[str] = frozenset()  # stems a word must start with
        self._exact: frozenset[str] = frozenset()  # "word$": the whole word
        self._lengths: tuple[int, ...] = ()
        self._all: tuple[str, ...] = ()
        self._memo: dict[str, tuple[str, ...]] = {}
        self._last: tuple[list[str], int, frozenset[str]] | None = None

    def register(self, stems: Iterable[str]) -> None:
        with self._lock:
            new = set(stems) - self._prefix - self._exact
            if not new:
                return
            self._prefix = self._prefix | {s for s in new if not s.endswith("$")}
            self._exact = self._exact | {s for s in new if s.endswith("$")}
            self._lengths = tuple(sorted({len(s) for s in self._prefix}))
            self._all = tuple(sorted(self._prefix | self._exact))
            self._memo = {}
            self._version += 1
            self._last = None

    def present(self, words: list[str]) -> frozenset[str]:
        """The registered stems that occur in a text with (sorted) word index ``words``:
        ``stem`` if a word starts with it, ``stem$`` if a word is it."""
        last = self._last
        version = self._version
        if last is not None and last[0] is words and last[1] == version:
            return last[2]
        prefix, exact, lengths, memo = self._prefix, self._exact, self._lengths, self._memo
        if len(words) <= 9 * len(self._all):
            present: set[str] = set()
            for w in words:
                found = memo.get(w)
                if found is None:
                    carried = [w + "$"] if w + "$" in exact else []
                    for n in lengths:
                        if n > len(w):
                            break
                        if w[:n] in prefix:
                            carried.append(w[:n])
                    found = tuple(carried)
                    if len(memo) < _WORD_MEMO_LIMIT:
                        memo[w] = found
                if found:
                    present.update(found)
            result = frozenset(present)
        else:  # past ~9 words per stem, one bisection per stem is cheaper
            ordered = sorted(words)
            result = frozenset(s for s in self._all if has_prefix(ordered, s))
        if version == self._version:
            self._last = (words, version, result)
        return result


STEMS = StemIndex()


class RuleSet:
    """Rules that run as one alternation on short texts, or anchor-gated one by one."""

    def __init__(self, rules: Iterable[Rule], flags: int = 0, prefix: str = "", prefilter: str = "") -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        if not self.rules:
            raise ValueError("a RuleSet needs at least one rule")
        # ``prefilter``: the Hyperscan database this set's rules join (rule sets that scan
        # the same texts share one, so one scan of a text serves them all).
        self._by_group = {f"r{i}": rule for i, rule in enumerate(self.rules)}
        combined = "|".join(f"(?P<r{i}>{rule.pattern})" for i, rule in enumerate(self.rules))
        # ``prefix`` (e.g. a word-boundary test) is checked once per position, before any rule.
        # Compiled on first use (compiling every rule set's patterns was most of the
        # start-up time of ``instrument()``, and most rules' own patterns are never needed).
        self._combined_source = (f"{prefix}(?:{combined})", flags)
        self._combined: re.Pattern[str] | None = None
        self._single_sources = [(_single_source(prefix, rule.pattern), flags) for rule in self.rules]
        self._single: list[re.Pattern[str] | None] = [None] * len(self.rules)
        # Per rule, its clauses as (stems, literals); a clause holds if any stem is present.
        self._clauses: list[list[tuple[frozenset[str], tuple[str, ...]]]] = []
        for rule in self.rules:
            clauses = []
            for clause in rule.anchors.split("&"):
                if clause.strip():
                    words = clause.split()
                    clauses.append((frozenset(a for a in words if not a.startswith("=")), tuple(a[1:] for a in words if a.startswith("="))))
            self._clauses.append(clauses)
        self._all_stems = sorted({s for clauses in self._clauses for stems, _ in clauses for s in stems})
        # The same clauses numbered, for active(): which clauses each stem or literal
        # satisfies, and which clauses each rule needs (none: the rule always runs).
        self._stem_clauses: dict[str, list[int]] = {}
        self._ascii_literals: list[tuple[str, int]] = []
        self._other_literals: list[tuple[str, int]] = []
        self._rule_clause_ids: list[frozenset[int]] = []
        number = 0
        for clauses in self._clauses:
            ids = []
            for stems, literals in clauses:
                for stem in stems:
                    self._stem_clauses.setdefault(stem, []).append(number)
                for lit in literals:
                    (self._ascii_literals if lit.isascii() else self._other_literals).append((lit, number))
                ids.append(number)
                number += 1
            self._rule_clause_ids.append(frozenset(ids))
        self._all_stems_set = frozenset(self._all_stems)
        STEMS.register(self._all_stems)
        # Rules ending in "$" would match at a window's end: those always scan the whole text.
        self._windowable = ["$" not in rule.pattern and "\\Z" not in rule.pattern for rule in self.rules]
        # Whole words each rule's matches contain, derived from its pattern (see
        # scanners.literals): built on first use, as clause bits per word.
        self._gates = [re.compile(rule.gate, flags) if rule.gate else None for rule in self.rules]
        # For short texts: a pattern whose matches never depend on what follows them
        # (see _end_free), searched over the whole text before the rule's windows are
        # worked out; nothing found there means nothing in any window either.
        self._precheck_sources = [_precheck_source(prefix, rule.pattern, flags) for rule in self.rules]
        self._prechecks: list[re.Pattern[str] | None] = [None] * len(self.rules)
        self._required_sources = [(f"{prefix}(?:{rule.pattern})", flags) for rule in self.rules]
        # Without a name, a database of its own (a rule set made at run time joins no
        # database that may already be built).
        self._prefilter = hyperscan_prefilter.group(prefilter) if prefilter else hyperscan_prefilter.PrefilterGroup(f"rules-{self.rules[0].id}")
        self._prefilter_first = self._prefilter.add(self._required_sources)
        self._required: list[tuple[frozenset[bytes], ...]] | None = None
        self._word_bits: dict[str, int] = {}
        self._key_words: frozenset[str] = frozenset()
        self._rule_bits: list[int] = []
        # Per windowed rule of a named set, a database of its pattern alone that reports
        # where its (superset) matches end: on long texts, the windows without such an
        # end cannot hold a match and are skipped (hyperscan_prefilter.ends_group).
        self._ends = [
            hyperscan_prefilter.ends_group(f"ends.{prefilter}.{rule.id}", self._required_sources[i])
            if prefilter and self._windowable[i]
            else None
            for i, rule in enumerate(self.rules)
        ]

    @property
    def regex(self) -> re.Pattern[str]:
        """All rules as one alternation (compiled on first use)."""
        regex = self._combined
        if regex is None:
            regex = self._combined = compile_pattern(*self._combined_source)
        return regex

    def _pattern(self, i: int) -> re.Pattern[str]:
        regex = self._single[i]
        if regex is None:
            regex = self._single[i] = compile_pattern(*self._single_sources[i])
        return regex

    def present_stems(self, words: list[str]) -> frozenset[str]:
        """The anchor stems that occur in a text with word index ``words``."""
        return STEMS.present(words) & self._all_stems_set

    def _setup_required(self) -> None:
        with one_time():
            self._build_required()

    def _build_required(self) -> None:
        required = [required_words_cached(src, flags) for src, flags in self._required_sources]
        word_bits: dict[str, int] = {}
        rule_bits: list[int] = []
        number = 0
        for clauses in required:
            bits = 0
            for clause in clauses:
                for word in clause:
                    word_bits[word] = word_bits.get(word, 0) | (1 << number)
                bits |= 1 << number
                number += 1
            rule_bits.append(bits)
        self._word_bits = word_bits
        self._key_words = frozenset(word_bits)
        self._rule_bits = rule_bits
        self._required = [encode_clauses(c) for c in required]

    @property
    def stems(self) -> frozenset[str]:
        """The anchor stems of the rules (``stem$``: the whole word)."""
        return self._all_stems_set

    @property
    def key_words(self) -> frozenset[str]:
        """The whole words the rules' matches contain (see scanners.literals), of every rule."""
        if self._required is None:
            self._setup_required()
        return self._key_words

    def required(self, i: int) -> tuple[frozenset[bytes], ...]:
        """The whole-word clauses of rule ``i`` (see scanners.literals)."""
        if self._required is None:
            self._setup_required()
        assert self._required is not None
        return self._required[i]

    def active(self, text: str, words: list[str], among: Iterable[int] | None = None) -> list[int]:
        """Indices of the rules (of ``among``, in its order, if given) that can match
        ``text`` (``words``: its word index): each clause of the whole words derived from
        the rule's pattern has a word in the text (one set intersection), and each
        clause of its anchors holds."""
        if self._required is None:
            self._setup_required()
        word_bits = self._word_bits
        held = 0
        for word in self._key_words.intersection(whole_words(text, words)):
            held |= word_bits[word]
        out: list[int] = []
        present: frozenset[str] | None = None
        non_ascii: bool | None = None
        rule_bits = self._rule_bits
        for i in range(len(rule_bits)) if among is None else among:
            bits = rule_bits[i]
            if held & bits != bits:
                continue
            if present is None:
                # the anchor stems of the text: one pass over its words, shared by all
                # rule sets and scanners (StemIndex)
                present = STEMS.present(words)
            for stems, literals in self._clauses[i]:
                if not present.isdisjoint(stems):
                    continue
                found = False
                for lit in literals:
                    if lit.isascii():
                        found = contains(text, lit)
                    else:
                        if non_ascii is None:
                            non_ascii = not text.isascii()
                        found = non_ascii and contains(text, lit)
                    if found:
                        break
                if not found:
                    break
            else:
                out.append(i)
        return out

    def active_by_anchors(self, text: str, words: list[str]) -> list[int]:
        """Indices of the rules whose anchors occur in ``text`` (``words``: its word index)."""
        # A rule runs when each of its clauses holds: one of the clause's stems is
        # present, or one of its literals occurs (non-ASCII ones only in non-ASCII text).
        stem_clauses = self._stem_clauses
        held: set[int] = set()
        for stem in self.present_stems(words):
            held.update(stem_clauses[stem])
        for lit, number in self._ascii_literals:
            if number not in held and contains(text, lit):
                held.add(number)
        if not text.isascii():
            for lit, number in self._other_literals:
                if number not in held and contains(text, lit):
                    held.add(number)
        return [i for i, needed in enumerate(self._rule_clause_ids) if needed <= held]

    def candidates(self, text: str) -> list[int] | None:
        """Indices of the rules that Hyperscan finds may match ``text`` (in order); None
        when it cannot say (off, not installed, not compiled yet)."""
        found = self._prefilter.candidates(text)
        if found is None:
            return None
        if not found:  # most texts: no pattern of the group can match
            return []
        first = self._prefilter_first
        last = first + len(self.rules)
        return sorted(c - first for c in found if first <= c < last)

    def finditer(self, text: str, words: Words | None = None) -> Iterator[Hit]:
        """Matches of every rule. With ``words`` (the word index of ``text``, or a
        function returning it), only the rules that can match are run: those Hyperscan
        reports (see scanners.hyperscan_prefilter), else those whose anchors occur;
        without, the full alternation runs."""
        if words is None:
            for m in self.regex.finditer(text):
                group = m.lastgroup
                if group is not None:
                    yield Hit(self._by_group[group], m.start(), m.end())
            return
        # Hyperscan's candidates (usually none) then go through the same anchor and
        # whole-word tests as every rule does without it: the same rules run either way.
        indices = self.candidates(text) if hyperscan_prefilter.ENABLED else None
        if indices is not None and not indices:
            return
        # Same hits as the alternation: leftmost first, earlier rule first at one position,
        # and no hit starting inside the previous one.
        found: list[tuple[int, int, int]] = []
        occurrences: dict[str, list[int]] = {}
        if indices is None or indices:
            if callable(words):
                words = words()
            indices = self.active(text, words, indices)
        if indices:
            assert not callable(words)
            is_present = self.present_stems(words).__contains__
        for i in indices:
            gate = self._gates[i]
            if gate is not None and gate.search(text) is None:
                continue
            regex = self._pattern(i)
            spans = None
            if self._windowable[i]:
                if len(text) <= _PRECHECK_CHARS and self._precheck_sources[i] is not None:
                    precheck = self._prechecks[i]
                    if precheck is None:
                        precheck = self._prechecks[i] = compile_pattern(*self._precheck_sources[i])  # type: ignore[misc]
                    if precheck.search(text) is None:
                        continue
                spans = self._windows(i, text, is_present, occurrences)
                ends_db = self._ends[i]
                if spans and ends_db is not None and len(text) >= _ENDS_MIN_CHARS:
                    # A match in a window [lo, hi) ends in (lo, hi]: at one of the ends
                    # Hyperscan reports for the whole text (None: it cannot say).
                    ends = ends_db.ends(text)
                    if ends is not None:
                        spans = [(lo, hi) for lo, hi in spans if (k := bisect.bisect_right(ends, lo)) < len(ends) and ends[k] <= hi]
            if spans is None:
                found.extend((m.start(), i, m.end()) for m in regex.finditer(text))
                continue
            for lo, hi in spans:
                found.extend((m.start(), i, m.end()) for m in regex.finditer(text, lo, hi))
        found.sort()
        last_end = -1
        for start, i, end in found:
            if start >= last_end:
                last_end = end if end > start else start + 1
                yield Hit(self.rules[i], start, end)

    def _windows(
        self, i: int, text: str, is_present: Callable[[str], bool], occurrences: dict[str, list[int]]
    ) -> list[tuple[int, int]] | None:
        """Spans around the anchors of rule ``i`` present in ``text``; None: scan it all.

        The spans come from one clause: the one with the fewest of its stems present
        (each present stem costs a pass of ``str.find``). A clause whose ``=literal``
        occurs cannot be windowed by its stems.
        """
        if len(text) < 2 * WINDOW + 2:
            # Any span is at least min(len(text), WINDOW + 1) long: more than half of
            # so short a text, so the answer below is always "scan it all".
            return None
        best_stems: list[str] | None = None
        for stems, literals in self._clauses[i]:
            if any(contains(text, lit) for lit in literals):
                continue
            found = sorted(s for s in stems if is_present(s))
            if found and (best_stems is None or len(found) < len(best_stems)):
                best_stems = found
        if best_stems is None:
            return None
        points: list[int] = []
        for stem in best_stems:
            points.extend(_find_all(text, stem.rstrip("$"), occurrences))
        return _merge(points, max(len(s) for s in best_stems), len(text), len(text) // 2)


# Texts up to this long search a rule's precheck pattern over the whole text before
# working out its windows (a search is cheaper than the windows there).
_PRECHECK_CHARS = 16_384
# Texts from this long ask a windowed rule's own Hyperscan database where its matches
# can end, and skip the windows without such an end (~0.02-0.1 ms a rule on 200 KB).
_ENDS_MIN_CHARS = 16_384
_END_SENSITIVE = ("\\b", "\\B", "$", "\\Z", "(?=", "(?!")


def _end_free(pattern: str) -> bool:
    r"""No construct of ``pattern`` looks past the end of its match (``\b``, ``\B``,
    ``$``, ``\Z``, look-aheads; judged on the text, so an escaped ``\$`` also counts):
    then every match it has in a window (``finditer(text, lo, hi)``: look-behinds see
    before ``lo`` either way) is made of characters of ``text`` that match there too,
    so a text without a match has none in any window."""
    return not any(token in pattern for token in _END_SENSITIVE)


def _precheck_source(prefix: str, pattern: str, flags: int) -> tuple[str, int] | None:
    r"""The pattern to search before a rule's windows: the rule itself when it is
    end-free, or without its final ``\b`` when that makes it end-free (a weaker
    pattern: every match of the rule is one of it); None when neither is."""
    trailing = len(pattern) - 1 - len(pattern[:-1].rstrip("\\"))  # backslashes before the last char
    if pattern.endswith("b") and trailing % 2 == 1:  # a real \b ends the last alternative
        pattern = pattern[:-2]
    if not _end_free(pattern) or not _end_free(prefix):
        return None
    source = _single_source(prefix, pattern)
    # Only patterns that start with one literal word: ``re`` skips to it in C (~1 ns per
    # character); one that starts with an alternation or a group is tried at many
    # positions (up to ~20 ns per character), and its windows are cheaper.
    if not source[:2].isalnum():
        return None
    parts = _top_level_split(source)
    if parts is None or len(parts) != 1:
        return None
    return source, flags


WORD_START = r"(?<!\w)"
_QUANTIFIERS = "?*+{"
# Sinking pays when re can skip to few first letters; with many, each alternative's own
# look-behind costs more than the one it replaces (bench: up to 2x slower past ~8).
_SINK_MAX_FIRST_CHARS = 7


def _single_source(prefix: str, pattern: str) -> str:
    r"""One rule's pattern behind ``prefix``. For the word-start prefix, the look-behind is
    moved after the literal every alternative starts with when it can be
    (``(?<!\w)(?:ignore|forget)x`` -> ``(?:ignore(?<!\w[\s\S]{6})|forget(?<!\w[\s\S]{6}))x``):
    the same test on the same character (the one before the match), so the same matches,
    but the pattern now starts with literals, which re skips to in C instead of testing
    the look-behind at every position."""
    if prefix == WORD_START:
        sunk = _sink(pattern, _SINK_MAX_FIRST_CHARS)
        if sunk is not None:
            return sunk[0]
    return f"{prefix}(?:{pattern})"


def _sink(pattern: str, max_first_chars: int) -> tuple[str, set[str]] | None:
    r"""``(?<!\w)(?:pattern)`` with the look-behind after each alternative's leading
    literal, and the literals' first characters; None when an alternative (or a
    leading group's) does not start with a literal, a leading group is quantified, or
    the literals start with more than ``max_first_chars`` characters (given up as soon
    as they do: long multilingual alternations cost tens of ms of start-up otherwise)."""
    alternatives = _top_level_split(pattern)
    if alternatives is None:
        return None
    out: list[str] = []
    firsts: set[str] = set()
    for alt in alternatives:
        if alt.startswith("(?:"):
            close = _group_end(alt)
            if close is None or (alt[close + 1 : close + 2] and alt[close + 1] in _QUANTIFIERS):
                return None
            inner = _sink(alt[3:close], max_first_chars)
            if inner is None:
                return None
            out.append(f"(?:{inner[0]}){alt[close + 1 :]}")
            firsts |= inner[1]
            if len(firsts) > max_first_chars:
                return None
            continue
        if alt.startswith("\\b") and alt[2:3].isalnum():
            alt = alt[2:]  # after (?<!\w), \b before a letter always holds
        n = 0
        while n < len(alt) and alt[n].isalnum():
            n += 1
        if n < len(alt) and alt[n] in _QUANTIFIERS:
            n -= 1  # "instructions?": the last letter is optional
        if n <= 0:
            return None
        out.append(f"{alt[:n]}(?<!\\w[\\s\\S]{{{n}}}){alt[n:]}")
        firsts.add(alt[0])
        if len(firsts) > max_first_chars:
            return None
    return "|".join(out), firsts


# The characters _scan_groups acts on; the letters between them are skipped in C.
_GROUP_TOKEN_RE = re.compile(r"\\[\s\S]?|[\[\]()|]")


def _scan_groups(pattern: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, group depth after it) for the group and alternation characters
    ``( ) |`` of ``pattern`` outside escapes and character classes (a class that is never
    closed ends the scan with depth -1)."""
    depth, in_class, skip_to = 0, False, 0
    for m in _GROUP_TOKEN_RE.finditer(pattern):
        i = m.start()
        if i < skip_to:
            continue
        c = m.group()
        if c[0] == "\\":
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1  # a "]" first in the class is a member
            skip_to = j
        elif c == "(":
            depth += 1
            yield i, c, depth
        elif c == ")":
            depth -= 1
            yield i, c, depth
        elif c == "|":
            yield i, c, depth
    if in_class:
        yield len(pattern), "", -1


def _top_level_split(pattern: str) -> list[str] | None:
    """The top-level alternatives of ``pattern``; None if its groups do not balance."""
    parts, start, depth = [], 0, 0
    for i, c, depth in _scan_groups(pattern):
        if depth < 0:
            return None
        if c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    if depth:
        return None
    parts.append(pattern[start:])
    return parts


def _group_end(pattern: str) -> int | None:
    """Index of the ")" that closes the group opening at ``pattern[0]``."""
    for i, c, depth in _scan_groups(pattern):
        if depth < 0:
            return None
        if c == ")" and depth == 0:
            return i
    return None


WINDOW = 200  # chars around an anchor; rule matches are shorter (a few bounded filler words)


_occurrences_memo: tuple[str, dict[str, list[int]]] | None = None


def _find_all(text: str, needle: str, cache: dict[str, list[int]]) -> list[int]:
    """Every start of ``needle`` in ``text``, overlapping ones included. Remembered for
    the last text, so the rule sets (and the rules) of one scan share the searches."""
    global _occurrences_memo
    memo = _occurrences_memo
    if memo is None or memo[0] is not text:
        memo = _occurrences_memo = (text, cache)
    cache = memo[1]
    found = cache.get(needle)
    if found is None and len(text) >= _ENDS_MIN_CHARS:
        found = hyperscan_prefilter.literal_starts(text, needle)
        if found is not None:
            cache[needle] = found
    if found is None:
        if _self_overlaps(needle):
            found = []
            pos = text.find(needle)
            while pos >= 0:
                found.append(pos)
                pos = text.find(needle, pos + 1)
        else:
            # Occurrences of a needle that cannot overlap itself never overlap, so the
            # non-overlapping matches of ``re`` (found in C) are all of them.
            found = list(map(_START, _literal_re(needle).finditer(text)))
        cache[needle] = found
    return found


_LITERAL_RES: dict[str, re.Pattern[str]] = {}
_START = operator.methodcaller("start")


def _literal_re(needle: str) -> re.Pattern[str]:
    regex = _LITERAL_RES.get(needle)
    if regex is None:
        regex = _LITERAL_RES[needle] = compile_pattern(re.escape(needle))
    return regex


def _self_overlaps(needle: str) -> bool:
    """Some proper prefix of ``needle`` is also its suffix ("abab", "aa")."""
    return any(needle[:k] == needle[-k:] for k in range(1, len(needle)))


def _merge(points: list[int], length: int, size: int, limit: int | None = None) -> list[tuple[int, int]] | None:
    """The windows around ``points`` ([p - WINDOW, p + length + WINDOW], clipped),
    merged where they touch; None when they cover more than ``limit`` characters.

    Every window has the same width, so both ends grow with p: two neighbouring points
    are in one span unless they are more than 2 * WINDOW + length apart. The gaps
    and the breaks are found with map/compress (in C), not a Python loop per point."""
    if not points:
        return []
    ordered = sorted(points)
    apart = 2 * WINDOW + length
    breaks = list(itertools.compress(range(len(ordered) - 1), map(apart.__lt__, map(operator.sub, ordered[1:], ordered))))
    starts = [ordered[0], *(ordered[i + 1] for i in breaks)]
    ends = [*(ordered[i] for i in breaks), ordered[-1]]
    spans = [(max(0, a - WINDOW), min(size, b + length + WINDOW)) for a, b in zip(starts, ends, strict=True)]
    if limit is not None and sum(hi - lo for lo, hi in spans) > limit:
        return None
    return spans


def noisy_or(weights: Iterable[float]) -> float:
    """Combine independent evidence: 1 - prod(1 - w). Two 0.5 signals make 0.75."""
    miss = 1.0
    for w in weights:
        miss *= 1.0 - min(max(w, 0.0), 1.0)
    return round(1.0 - miss, 6)


def score_hits(hits: Iterable[Hit]) -> tuple[float, dict[Threat, float], list[str]]:
    """Score = noisy-OR over distinct rules; per threat, the same over that threat's rules."""
    seen: dict[str, Rule] = {}
    for hit in hits:
        seen.setdefault(hit.rule.id, hit.rule)
    per_threat: dict[Threat, list[float]] = {}
    for rule in seen.values():
        per_threat.setdefault(rule.threat, []).append(rule.weight)
    threat_scores = {t: noisy_or(ws) for t, ws in per_threat.items()}
    return noisy_or(r.weight for r in seen.values()), threat_scores, sorted(seen)


# A fresh result's instance dict before BuiltinScanner.result fills it in (field order).
_RESULT_DEFAULTS: dict[str, object] = {
    "scanner": "",
    "direction": "input",
    "score": 0.0,
    "passed": True,
    "threats": (),
    "sanitized": None,
    "reason": "",
    "error": None,
    "duration_ms": 0.0,
    "details": None,
    "action": None,
}


class BuiltinScanner:
    """Base of the built-in scanners: name, direction and threshold, plus result building.

    Subclasses set ``kind`` (the policy type name), ``directions`` (where they make
    sense) and ``default_threshold``, and implement ``scan``.
    """

    kind: ClassVar[str] = ""
    directions: ClassVar[tuple[Direction, ...]] = ("input", "output")
    default_threshold: ClassVar[float] = 0.5

    def __init__(self, *, name: str | None = None, direction: Direction = "input", threshold: float | None = None) -> None:
        if direction not in self.directions:
            raise ValueError(f"scanner {self.kind!r} does not scan {direction} (only {', '.join(self.directions)})")
        self.name = name or self.kind
        self.direction: Direction = direction
        self.threshold = self.default_threshold if threshold is None else float(threshold)

    def result(
        self,
        score: float,
        threats: Iterable[Threat] = (),
        reason: str = "",
        sanitized: str | None = None,
        details: dict[str, str | float | int | bool] | None = None,
    ) -> ScanResult:
        score = float(score)
        if score < 0.0:
            score = 0.0
        elif score > 1.0:
            score = 1.0
        passed = score < self.threshold
        # Built through the instance dict (the frozen dataclass's __init__ sets each field
        # with object.__setattr__), from a copy of the fields' defaults in field order:
        # a keyword dict per call cost twice as much, and this runs for every scanner.
        res = object.__new__(ScanResult)
        state = res.__dict__
        state.update(_RESULT_DEFAULTS)
        state["scanner"] = self.name
        state["direction"] = self.direction
        state["score"] = score
        state["passed"] = passed
        if threats:
            state["threats"] = tuple(sorted({Threat(t).value for t in threats}))
        if sanitized is not None and not passed:
            state["sanitized"] = sanitized
        state["reason"] = reason
        state["details"] = details or {}
        return res

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, direction={self.direction!r}, threshold={self.threshold})"
