"""Exceptions an application can catch when the guard blocks a call."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_llm_security.guard.verdict import Verdict


class LLMSecurityError(Exception):
    """Base class of this package's errors that reach the application."""


class LLMSecurityBlockedError(LLMSecurityError):
    """The guard blocked an LLM call in ``enforce`` mode.

    When the ``openai`` package is installed, the exception raised from an OpenAI
    call is :class:`otel_llm_security.capture.errors.OpenAIRequestBlocked`, which is
    both this class and an ``openai.OpenAIError``, so ``except openai.OpenAIError``
    handlers in existing apps keep working. ``str(exc)`` names the scanners and
    threats, never the prompt text.
    """

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(f"LLM call blocked by otel-llm-security: {verdict.block_reason}")

    @property
    def reason(self) -> str:
        return self.verdict.block_reason

    @property
    def threats(self) -> tuple[str, ...]:
        return self.verdict.threats


class PolicyError(LLMSecurityError, ValueError):
    """The security policy (file or environment) is invalid. Raised at start-up."""
