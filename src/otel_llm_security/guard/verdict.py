"""The guard's answer for one text, and for a whole call (input + output)."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    @property
    def threats(self) -> tuple[str, ...]:
        """Threats of failed scanners, plus ``scanner_error`` when any scanner errored."""
        found = {t for r in self.results if not r.passed for t in r.threats}
        if any(r.error for r in self.results):
            found.add(Threat.SCANNER_ERROR.value)
        return tuple(sorted(found))

    @property
    def risk_score(self) -> float:
        return max((r.score for r in self.results), default=0.0)

    @property
    def scanner_errors(self) -> tuple[str, ...]:
        return tuple(sorted({r.scanner for r in self.results if r.error}))

    @property
    def triggered(self) -> tuple[ScanResult, ...]:
        return tuple(r for r in self.results if not r.passed)

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
