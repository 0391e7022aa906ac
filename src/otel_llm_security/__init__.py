"""otel-llm-security: security observability for LLM calls, on OpenTelemetry and Elastic.

Public API (importing this package stays light: nothing below loads ``openai`` until used):

* :func:`user_context` - attribute the LLM calls in a block to an end user / session.
* :class:`OpenAISecurityInstrumentor` - ``instrument()`` / ``uninstrument()`` the OpenAI
  client (``opentelemetry-instrument`` loads it by itself).
* :class:`OpenAIRequestBlocked` - raised by a call the guard blocks in ``enforce`` mode;
  an ``openai.OpenAIError`` and an :class:`LLMSecurityBlockedError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_llm_security.guard.errors import LLMSecurityBlockedError, LLMSecurityError
from otel_llm_security.record.context import current_user_context, user_context

if TYPE_CHECKING:
    from otel_llm_security.capture.errors import OpenAIRequestBlocked
    from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor

__version__ = "0.1.0"

__all__ = [
    "LLMSecurityBlockedError",
    "LLMSecurityError",
    "OpenAIRequestBlocked",
    "OpenAISecurityInstrumentor",
    "__version__",
    "current_user_context",
    "user_context",
]

_LAZY = {
    "OpenAISecurityInstrumentor": "otel_llm_security.capture.instrumentor",
    "OpenAIRequestBlocked": "otel_llm_security.capture.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_llm_security' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
