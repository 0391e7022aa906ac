"""Shared plumbing for the built-in scanners: configuration and weighted pattern sets.

A built-in scanner compiles its patterns once, at construction, into one combined
regular expression (one named group per rule), so a scan is a single pass over the
text. Every pattern is written without nested unbounded repetition, so matching stays
linear in the text length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.scanner import ScanResult


@dataclass(frozen=True)
class Rule:
    """One pattern: what it means (threat), how sure it is (weight 0..1), an id for reasons."""

    id: str
    threat: Threat
    weight: float
    pattern: str
    negatable: bool = False  # "do not reveal your prompt": a negation just before halves the weight


@dataclass(frozen=True)
class Hit:
    rule: Rule
    start: int
    end: int


class RuleSet:
    """Rules combined into one alternation; ``finditer`` reports which rule matched where."""

    def __init__(self, rules: Iterable[Rule], flags: int = 0, prefix: str = "") -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        if not self.rules:
            raise ValueError("a RuleSet needs at least one rule")
        self._by_group = {f"r{i}": rule for i, rule in enumerate(self.rules)}
        combined = "|".join(f"(?P<r{i}>{rule.pattern})" for i, rule in enumerate(self.rules))
        # ``prefix`` (e.g. a word-boundary test) is checked once per position, before any rule.
        self.regex = re.compile(f"{prefix}(?:{combined})", flags)

    def finditer(self, text: str) -> Iterator[Hit]:
        for m in self.regex.finditer(text):
            group = m.lastgroup
            if group is None:  # pragma: no cover - every alternative is a named group
                continue
            yield Hit(self._by_group[group], m.start(), m.end())


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
        score = min(max(float(score), 0.0), 1.0)
        passed = score < self.threshold
        return ScanResult(
            scanner=self.name,
            direction=self.direction,
            score=score,
            passed=passed,
            threats=tuple(sorted({Threat(t).value for t in threats})),
            sanitized=sanitized if not passed else None,
            reason=reason,
            details=details or {},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, direction={self.direction!r}, threshold={self.threshold})"
