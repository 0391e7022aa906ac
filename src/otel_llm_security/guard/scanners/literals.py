"""Whole words every match of a regular expression contains, derived from the pattern.

A cheap and provably safe prefilter for the rule sets: ``required_words(pattern)``
reads the pattern's parse tree (``re._parser``; ``sre_parse`` on 3.10, see _sre.py) and returns clauses, each a set of
words, such that a text the pattern matches anywhere contains, for every clause, at
least one of the clause's words as a *whole word* of :func:`word_set`. A text whose
word set misses a clause cannot match, so the pattern need not run on it.

Words here are maximal runs of ASCII letters and digits; every other character
(punctuation, whitespace, ``_``, control characters, anything non-ASCII) separates
them (:func:`word_set`). A literal run of the pattern is a whole word when the pattern
guarantees a non-alphanumeric character (or the text's edge) on both sides of it:
``\\W``, ``\\s``, a literal separator, ``\\b``, ``(?<!\\w)``, ``(?!\\w)``, ``^``,
``$``. Where the analysis is unsure (optional separators, ``\\w``, ``.``, character
classes that mix letters and separators, case-insensitive groups, back-references),
it gives nothing up rather than guess: the clauses only ever lose precision, never
safety. ``tests/guard/test_literals.py`` runs every rule with and without the prefilter
over the fixtures and corpora and over generated texts and checks the hits agree.

Checking a text costs one C-level pass to build its word set (shared by the rule
sets through ``ScanText.cache`` or the last-text memo) and one ``isdisjoint`` per
clause of the rules that get that far.
"""

from __future__ import annotations

import re
from typing import Any

from otel_llm_security.guard.scanners._sre import C
from otel_llm_security.guard.scanners._sre import parser as sre_parse

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_MAX_PREFIXES = 64  # alternatives of one run before it is given up
_MAX_CLAUSE = 96  # words in one clause before it is dropped (too weak to pay)

# Every byte that is not an ASCII letter or digit becomes a space (non-ASCII characters
# are encoded as "?" first, so they separate words too).
_SEPARATE = bytes(b if chr(b) in _ALNUM else 0x20 for b in range(256))


def word_set(text: str) -> frozenset[bytes]:
    """The whole words of ``text`` (maximal ASCII alphanumeric runs), as bytes."""
    return frozenset(text.encode("ascii", "replace").translate(_SEPARATE).split())


_last: tuple[str, frozenset[bytes]] | None = None


def word_set_memo(text: str) -> frozenset[bytes]:
    """:func:`word_set` remembering the last text (the rule sets of one scan share it).
    A plain tuple swap: concurrent scans at worst recompute."""
    global _last
    last = _last
    if last is not None and last[0] is text:
        return last[1]
    words = word_set(text)
    _last = (text, words)
    return words


# --- analysis --------------------------------------------------------------------------
# State between two items of a sequence:
#   run: None (not inside a word), BROKEN (inside a word of unknown content, or unsure
#        whether inside one), or a frozenset of the possible words so far;
#   left: the open run started right after a separator (or the text's start);
#   sep: (no open run) the previous character is certainly a separator or the start;
#   boundary: (no open run) a \b was just passed: if a letter or digit comes next,
#        the character before it is a separator.
BROKEN = "broken"
_UNKNOWN_STATE = (BROKEN, False, False, False)

_SEP, _ANY, _ALNUM_UNKNOWN = "sep", "any", "alnum?"


def _char_kind(op: Any, av: Any, ignorecase: bool) -> str | frozenset[str]:
    """What one character item can match: _SEP (only separators), a frozenset of
    alphanumerics (a few known ones), _ALNUM_UNKNOWN (only alphanumerics, unknown which)
    or _ANY."""
    if op is C.LITERAL:
        ch = chr(av)
        if ignorecase and (ch.isalpha() or not ch.isascii()):
            # case-insensitive: "k" also matches the Kelvin sign, "\u212a" also "k"
            return _ANY
        if ch not in _ALNUM:
            return _SEP
        return frozenset(ch)
    if op is C.NOT_LITERAL or op is C.ANY:
        return _ANY
    if op is C.CATEGORY:
        return _category_kind(av)
    if op is C.IN:
        if ignorecase:
            return _ANY
        chars: set[str] = set()
        seps = alnum_unknown = False
        for iop, iav in av:
            if iop is C.NEGATE:
                return _ANY
            if iop is C.LITERAL:
                ch = chr(iav)
                if ch in _ALNUM:
                    if ignorecase and ch.isalpha():
                        alnum_unknown = True
                    chars.add(ch)
                else:
                    seps = True
            elif iop is C.RANGE:
                lo, hi = iav
                inside = {chr(c) for c in range(lo, min(hi, 127) + 1) if chr(c) in _ALNUM}
                if inside:
                    chars |= inside
                    if ignorecase:
                        alnum_unknown = True
                if hi - lo + 1 > len(inside):
                    seps = True
            elif iop is C.CATEGORY:
                kind = _category_kind(iav)
                if kind is _SEP:
                    seps = True
                elif kind is _ALNUM_UNKNOWN:
                    alnum_unknown = True
                else:
                    return _ANY
            else:
                return _ANY
        if seps and (chars or alnum_unknown):
            return _ANY
        if seps:
            return _SEP
        if alnum_unknown or len(chars) > 4 or not chars:
            return _ALNUM_UNKNOWN
        return frozenset(chars)
    return _ANY


def _category_kind(cat: Any) -> str:
    if cat in (C.CATEGORY_NOT_WORD, C.CATEGORY_SPACE, C.CATEGORY_LINEBREAK):
        return _SEP
    if cat is C.CATEGORY_DIGIT:
        # \d matches Unicode digits too (non-ASCII: separators here)
        return _ANY
    return _ANY


def _is_word_category(p: Any) -> bool:
    """``p`` (a subpattern) is exactly ``\\w`` (or ``[\\w]``)."""
    items = list(p)
    if len(items) != 1:
        return False
    op, av = items[0]
    if op is C.IN and len(av) == 1:
        op, av = av[0]
    return op is C.CATEGORY and av is C.CATEGORY_WORD


class _Analysis:
    def __init__(self) -> None:
        self.gave_up = False

    def seq(self, items: Any, state: tuple, ignorecase: bool) -> tuple[tuple, list[frozenset[str]]]:
        clauses: list[frozenset[str]] = []
        items = list(items)
        i = 0
        while i < len(items):
            op, av = items[i]
            closer = items[i + 1] if i + 1 < len(items) else None
            if closer is not None and state[0] is not None and _is_optional_separator(op, av, ignorecase) and _is_closer(closer, ignorecase):
                # "instructions\s*:": with or without the spaces, the word ends there.
                self.close(state, clauses, bounded=True)
                consumes = _char_or_repeat_kind(closer, ignorecase) is _SEP
                state = (None, False, True, False) if consumes else (None, False, False, False)
                i += 2
                continue
            if closer is not None and _is_closer(closer, ignorecase) and op in (C.SUBPATTERN, C.BRANCH, C.MAX_REPEAT, C.MIN_REPEAT):
                # "(?:dan|dan\W+\d+)\b": the closer ends the words of each alternative,
                # so it is analysed inside each one (where they are still known).
                distributed = self.distribute(op, av, closer, state, ignorecase, clauses)
                if distributed is not None:
                    state = distributed
                    i += 2
                    continue
            state = self.item(op, av, state, ignorecase, clauses)
            i += 1
        return state, clauses

    def distribute(self, op: Any, av: Any, closer: Any, state: tuple, ignorecase: bool, clauses: list[frozenset[str]]) -> tuple | None:
        """``op`` followed by ``closer``, with the closer moved into each alternative;
        None when ``op`` has no alternatives to move it into."""
        if op is C.SUBPATTERN:
            _group, add_flags, _del_flags, p = av
            return self.sub([*p, closer], state, ignorecase or bool(add_flags & re.IGNORECASE), clauses)
        if op is C.BRANCH:
            return self.branch([([*alt, closer], False) for alt in av[1]], state, ignorecase, clauses)
        lo, hi, p = av
        if (lo, hi) == (0, 1):
            return self.branch([([closer], False), ([*p, closer], False)], state, ignorecase, clauses)
        return None

    def item(self, op: Any, av: Any, state: tuple, ignorecase: bool, clauses: list[frozenset[str]]) -> tuple:
        run, _left, sep, _boundary = state
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN, C.CATEGORY):
            return self.char(_char_kind(op, av, ignorecase), state, clauses)
        if op is C.AT:
            if av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_BEGINNING_LINE):
                return state if run is not None else (None, False, True, False)
            if av in (C.AT_END, C.AT_END_STRING, C.AT_END_LINE):
                return self.close(state, clauses, bounded=True)
            if av in (C.AT_BOUNDARY, C.AT_UNI_BOUNDARY):
                if run is not None:
                    # the run ends in a letter or digit (a \w): the next character is not one
                    return self.close(state, clauses, bounded=True)
                return (None, False, sep, True)
            return state  # \B and locale variants: no claim
        if op is C.ASSERT_NOT:
            direction, p = av
            if _is_word_category(p):
                if direction < 0 and run is None:
                    return (None, False, True, False)
                if direction > 0 and run is not None:
                    return self.close(state, clauses, bounded=True)
            return state
        if op is C.ASSERT:
            return state  # zero-width, consumes nothing
        if op is C.SUBPATTERN:
            _group, add_flags, _del_flags, p = av
            return self.sub(p, state, ignorecase or bool(add_flags & re.IGNORECASE), clauses)
        if op is C.ATOMIC_GROUP:
            return self.sub(av, state, ignorecase, clauses)
        if op is C.BRANCH:
            _, alternatives = av
            return self.branch([(alt, False) for alt in alternatives], state, ignorecase, clauses)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, p = av
            return self.repeat(lo, hi, p, state, ignorecase, clauses)
        # back-references, conditionals, anything else: unknown text of unknown length
        return _UNKNOWN_STATE

    def sub(self, p: Any, state: tuple, ignorecase: bool, clauses: list[frozenset[str]]) -> tuple:
        state, inner = self.seq(p, state, ignorecase)
        clauses.extend(inner)
        return state

    def char(self, kind: str | frozenset[str], state: tuple, clauses: list[frozenset[str]]) -> tuple:
        run, left, sep, boundary = state
        if kind is _SEP:
            state = self.close(state, clauses, bounded=True)
            return (None, False, True, False)
        if kind is _ANY:
            return _UNKNOWN_STATE
        if run is None:
            left = sep or boundary
            if kind is _ALNUM_UNKNOWN:
                return (BROKEN, left, False, False)
            return (frozenset(kind), left, False, False)
        if run is BROKEN or kind is _ALNUM_UNKNOWN:
            return (BROKEN, left, False, False)
        grown = frozenset(w + c for w in run for c in kind)
        if len(grown) > _MAX_PREFIXES:
            return (BROKEN, left, False, False)
        return (grown, left, False, False)

    def close(self, state: tuple, clauses: list[frozenset[str]], bounded: bool) -> tuple:
        """The open run ends here (the next character is a separator or the end)."""
        run, left, _sep, _boundary = state
        if run is None:
            return state
        if bounded and left and run is not BROKEN and len(run) <= _MAX_CLAUSE:
            clauses.append(run)
        return (None, False, True, False)

    def branch(
        self, alternatives: list[tuple[Any, bool]], state: tuple, ignorecase: bool, clauses: list[frozenset[str]]
    ) -> tuple:
        """Alternatives (each a subpattern, or None for the empty one): the exit states
        merged, and one clause per alternative OR-ed into one."""
        exits: list[tuple] = []
        picks: list[frozenset[str]] | None = []
        for alt, _ in alternatives:
            inner: list[frozenset[str]]
            if alt is None:
                exit_state, inner = state, []
            else:
                exit_state, inner = self.seq(alt, state, ignorecase)
            exits.append(exit_state)
            if picks is not None:
                if inner:
                    picks.append(_best(inner))
                else:
                    picks = None
        if picks:
            union = frozenset().union(*picks)
            if len(union) <= _MAX_CLAUSE:
                clauses.append(union)
        return _merge(exits)

    def repeat(self, lo: int, hi: int, p: Any, state: tuple, ignorecase: bool, clauses: list[frozenset[str]]) -> tuple:
        items = list(p)
        if lo == hi and lo <= 4:
            for _ in range(lo):
                state = self.sub(items, state, ignorecase, clauses)
            return state
        if len(items) == 1 and items[0][0] in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN, C.CATEGORY):
            kind = _char_kind(items[0][0], items[0][1], ignorecase)
            if kind is _SEP and lo >= 1:
                return self.char(_SEP, state, clauses)
        # Once (if required) then "zero or more times": the exit is the merge of the
        # state after each count, which is stable after two passes or given up.
        if lo >= 1:
            state = self.sub(items, state, ignorecase, clauses)
            lo = 1
        more = hi - lo if hi != C.MAXREPEAT else None  # further optional passes
        if more == 0:
            return state
        exits = [state]
        current = state
        passes = 3 if more is None else min(more, 3)
        for _ in range(passes):
            current, _inner = self.seq(items, current, ignorecase)
            if current in exits:
                break  # a cycle: further passes only revisit these states
            exits.append(current)
        else:
            if more is None or more > passes:
                return _UNKNOWN_STATE
        return _merge(exits)


def _is_closer(item: Any, ignorecase: bool) -> bool:
    r"""An item after which no word goes on: \b, end, (?!\w), or a separator."""
    op, av = item
    if op is C.AT:
        return av in (C.AT_BOUNDARY, C.AT_UNI_BOUNDARY, C.AT_END, C.AT_END_STRING, C.AT_END_LINE)
    if op is C.ASSERT_NOT:
        return av[0] > 0 and _is_word_category(av[1])
    if op in (C.LITERAL, C.IN, C.CATEGORY):
        return _char_kind(op, av, ignorecase) is _SEP
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        lo, _hi, p = av
        inner = list(p)
        return lo >= 1 and len(inner) == 1 and inner[0][0] in (C.LITERAL, C.IN, C.CATEGORY) and _char_kind(inner[0][0], inner[0][1], ignorecase) is _SEP
    return False


def _char_or_repeat_kind(item: Any, ignorecase: bool) -> str | frozenset[str] | None:
    """_char_kind of a character item, or of a repeated one that consumes at least one."""
    op, av = item
    if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN, C.CATEGORY):
        return _char_kind(op, av, ignorecase)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        lo, _hi, p = av
        inner = list(p)
        if lo >= 1 and len(inner) == 1:
            return _char_or_repeat_kind(inner[0], ignorecase)
    return None


def _is_optional_separator(op: Any, av: Any, ignorecase: bool) -> bool:
    r"""``\s*``, ``\W?``...: separators only, possibly none."""
    if op not in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        return False
    lo, _hi, p = av
    inner = list(p)
    return lo == 0 and len(inner) == 1 and inner[0][0] in (C.LITERAL, C.IN, C.CATEGORY) and _char_kind(inner[0][0], inner[0][1], ignorecase) is _SEP


def _merge(exits: list[tuple]) -> tuple:
    first = exits[0]
    if all(e == first for e in exits):
        return first
    runs = [e[0] for e in exits]
    if all(r is None for r in runs):
        return (None, False, all(e[2] for e in exits), all(e[3] for e in exits))
    if all(isinstance(r, frozenset) for r in runs) and len({e[1] for e in exits}) == 1:
        union = frozenset().union(*runs)
        if len(union) <= _MAX_PREFIXES:
            return (union, first[1], False, False)
    return _UNKNOWN_STATE


def _best(clauses: list[frozenset[str]]) -> frozenset[str]:
    """The most selective-looking clause: the fewest words, then the longest shortest word."""
    return min(clauses, key=lambda c: (len(c), -min(len(w) for w in c)))


def required_words(pattern: str, flags: int = 0) -> list[frozenset[str]]:
    """Clauses of whole words (see the module docstring): every text ``pattern``
    matches somewhere contains a word of each clause. Empty: no claim."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error:
        return []
    analysis = _Analysis()
    ignorecase = bool(flags & re.IGNORECASE)
    # Nothing is known about the character before the match.
    _state, clauses = analysis.seq(parsed, (None, False, False, False), ignorecase)
    # Nor after it: a run still open at the end gives no word.
    unique: list[frozenset[str]] = []
    for clause in clauses:
        if clause and clause not in unique:
            unique.append(clause)
    return unique


def encode_clauses(clauses: list[frozenset[str]]) -> tuple[frozenset[bytes], ...]:
    return tuple(frozenset(w.encode("ascii") for w in c) for c in clauses)


def holds(clauses: tuple[frozenset[bytes], ...], words: frozenset[bytes]) -> bool:
    """Every clause has a word in ``words``."""
    return all(not words.isdisjoint(clause) for clause in clauses)


# --- precomputed clauses ------------------------------------------------------------------
# Parsing and analysing the ~110 rule patterns takes ~75 ms, too much for the first
# scan after start-up: _required_cache.py holds the clauses, keyed by the exact pattern
# source and flags, so a changed pattern is never served stale clauses (it is analysed
# on first use instead). tests/guard/test_literals.py checks the file is current;
# regenerate it with: python -m otel_llm_security.guard.scanners.literals
def required_words_cached(pattern: str, flags: int = 0) -> list[frozenset[str]]:
    from otel_llm_security.guard.scanners._required_cache import CLAUSES

    cached = CLAUSES.get((pattern, flags))
    if cached is not None:
        return [frozenset(c) for c in cached]
    return required_words(pattern, flags)


def cache_source(sources: list[tuple[str, int]]) -> str:
    lines = [
        '"""Generated by ``python -m otel_llm_security.guard.scanners.literals``: the whole-word',
        "clauses of every rule pattern (see scanners.literals). Do not edit.\"\"\"",
        "",
        "# ruff: noqa: RUF001",
        "# fmt: off",
        "CLAUSES: dict[tuple[str, int], tuple[tuple[str, ...], ...]] = {",
    ]
    for pattern, flags in sources:
        clauses = tuple(tuple(sorted(c)) for c in required_words(pattern, flags))
        lines.append(f"    ({pattern!r}, {flags}): {clauses!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def all_rule_sources() -> list[tuple[str, int]]:
    from otel_llm_security.guard.scanners import insecure_output, prompt_injection, refusal

    sources: list[tuple[str, int]] = []
    for rs in (prompt_injection.WORD_SET, prompt_injection.OTHER_SET, insecure_output.HTML_RULES, insecure_output.CODE_RULES, refusal.RULES):
        sources += rs._required_sources
    return sources


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).with_name("_required_cache.py")
    target.write_text(cache_source(all_rule_sources()), encoding="utf-8")
    print(f"wrote {target}")
