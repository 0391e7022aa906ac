"""The exception an OpenAI call raises when the guard blocks it (``enforce`` mode).

:class:`OpenAIRequestBlocked` is both an
:class:`~otel_llm_security.guard.errors.LLMSecurityBlockedError` and an
``openai.OpenAIError``, so an app's existing ``except openai.OpenAIError`` handler
catches it. It is raised from inside the client's ``post()``:

* for a blocked prompt, before any HTTP request is sent (so no retry, no token cost);
* for a blocked (non-streamed) output, after the response arrived, instead of
  returning it.

It is not an ``openai.APIError`` (there was no API response to describe), so handlers
for ``APIStatusError`` / ``BadRequestError`` do not see it. ``str(exc)`` is
``"LLM call blocked by otel-llm-security: <reason>"`` where the reason names scanners
and threat categories, never the prompt text; ``exc.verdict``, ``exc.reason`` and
``exc.threats`` give the details. ``exc.code`` is ``"llm_security_blocked"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai

from otel_llm_security.guard.errors import LLMSecurityBlockedError

if TYPE_CHECKING:
    from otel_llm_security.guard.verdict import Verdict


class OpenAIRequestBlocked(LLMSecurityBlockedError, openai.OpenAIError):
    """An OpenAI call blocked by the guard in ``enforce`` mode."""

    code = "llm_security_blocked"

    def __init__(self, verdict: Verdict, *, direction: str = "input") -> None:
        super().__init__(verdict)
        self.direction = direction
