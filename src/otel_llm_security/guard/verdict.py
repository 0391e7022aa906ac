"""The guard's answer for one text, and for a whole call (input + output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from otel_llm_security.attributes import ACTION_SEVERITY, Action, Direction, Mode, Threat
from otel_llm_security.guard.scanner import ScanResult


@dataclass(frozen=True)
class Verdict:
    """Per-scanner results plus the action taken and why.

    ``action`` is the strongest action any failed scanner's policy asked for, after
    the mode is applied: in ``monitor`` mode ``block`` and ``redact`` are recorded as
    the intended action but ``blocked`` stays False and no text is changed.
    ``block_reason`` is set whenever ``action`` is ``block`` (in monitor mode it says
    why the call would have been blocked); it names scanners, threats and scores, never
    the text. Each result's ``action`` is what the policy did about that scanner.
    """

    mode: Mode
    action: Action
    blocked: bool
    block_reason: str
    results: tuple[ScanResult, ...] = ()
    sanitized_text: str | None = None  # set when action is redact and mode is enforce
    duration_ms: float = 0.0
    direction: Direction | None = None

    # Derived once per verdict (the recorder reads each of them for the span, the
    # metrics and the log record): one pass over the results, cached in the instance
    # dict, which cached_property writes directly (the dataclass is frozen, not slotted).
    @cached_property
    def _derived(self) -> tuple[tuple[str, ...], float, tuple[str, ...], tuple[ScanResult, ...]]:
        found: set[str] = set()
        errors: set[str] = set()
        triggered: list[ScanResult] = []
        risk = 0.0
        for r in self.results:
            if r.score > risk:
                risk = r.score
            if not r.passed:
                triggered.append(r)
                found.update(r.threats)
            if r.error:
                errors.add(r.scanner)
        if errors:
            found.add(Threat.SCANNER_ERROR.value)
        return tuple(sorted(found)), risk, tuple(sorted(errors)), tuple(triggered)

    @property
    def threats(self) -> tuple[str, ...]:
        """Threats of failed scanners, plus ``scanner_error`` when any scanner errored."""
        return self._derived[0]

    @property
    def risk_score(self) -> float:
        return self._derived[1]

    @property
    def scanner_errors(self) -> tuple[str, ...]:
        return self._derived[2]

    @property
    def triggered(self) -> tuple[ScanResult, ...]:
        return self._derived[3]

    @classmethod
    def empty(cls, mode: Mode) -> Verdict:
        return cls(mode=mode, action=Action.ALLOW, blocked=False, block_reason="")

    def merge(self, other: Verdict) -> Verdict:
        """Combine the input and output verdicts of one call."""
        stronger = self if ACTION_SEVERITY[self.action] >= ACTION_SEVERITY[other.action] else other
        reasons = [v.block_reason for v in (self, other) if v.block_reason]
        return Verdict(
            mode=self.mode,
            action=stronger.action,
            blocked=self.blocked or other.blocked,
            block_reason="; ".join(reasons),
            results=self.results + other.results,
            sanitized_text=other.sanitized_text or self.sanitized_text,
            duration_ms=self.duration_ms + other.duration_ms,
            direction=None,
        )


@dataclass
class ProviderVerdict:
    """What the provider's own content filter said (Azure OpenAI content filtering)."""

    filter_code: str  # e.g. "content_filter" or "ResponsibleAIPolicyViolation"
    categories: list[str] = field(default_factory=list)  # categories that were filtered/detected
    refused: bool = False  # True for the HTTP 400 refusal of the prompt
