"""The scanner contract: one scanner, one module, one ``scan`` method.

Input scanners see the prompt; output scanners see the output and the prompt that
produced it. Both receive the text already normalised once per call
(:class:`ScanText`), so no scanner re-does NFKC folding or invisible stripping.
Scanners are pure and thread-safe: no state changes in ``scan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from otel_llm_security.attributes import Action, Direction


@dataclass(frozen=True)
class ScanText:
    """A text as scanners receive it: the raw form and one shared normalised form.

    ``normalized`` is NFKC-folded, case-folded and stripped of invisible characters
    (see :func:`otel_llm_security.guard.normalize.normalize`). Scanners that look for
    obfuscation (invisible text, homoglyphs) read ``raw``; pattern scanners read
    ``normalized``.
    """

    raw: str
    normalized: str
    # Length of the text the call carried when ``raw`` is only a sample of it (texts over
    # the policy's max_scan_chars); None when ``raw`` is the whole text.
    original_length: int | None = None

    @property
    def length(self) -> int:
        """Characters in the whole text, sampled or not."""
        return len(self.raw) if self.original_length is None else self.original_length
    # Memo of pure functions of the text shared by scanners (e.g. its word index);
    # not part of equality. Filling it twice from two threads is harmless.
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ScanResult:
    """What one scanner says about one text."""

    scanner: str
    direction: Direction
    score: float  # 0..1, higher is riskier
    passed: bool  # score below the scanner's threshold
    threats: tuple[str, ...] = ()  # values of attributes.Threat
    sanitized: str | None = None  # redacted text, when the scanner can redact
    reason: str = ""  # short, human-readable, never raw matched text
    error: str | None = None  # exception class name or "timeout" when the scanner failed
    duration_ms: float = 0.0
    details: dict[str, str | float | int | bool] = field(default_factory=dict)
    action: Action | None = None  # set by the guard: what the policy did about this result


@runtime_checkable
class Scanner(Protocol):
    """A guardrail check. Implementations live one per module in ``guard/scanners``."""

    name: str  # [a-z0-9_]+, used in llm.security.<direction>.<name>.score
    direction: Direction
    threshold: float

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        """Score ``text`` (for output scanners ``prompt`` is the prompt that produced it)."""
        ...
