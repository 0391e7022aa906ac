"""``OpenAISecurityInstrumentor``: the entry point ``opentelemetry-instrument`` loads.

Registered under the ``opentelemetry_instrumentor`` entry point group as
``llm_security_openai``, so ``opentelemetry-instrument python app.py`` instruments
every OpenAI client of the app with no code change. Programmatic use::

    from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor

    OpenAISecurityInstrumentor().instrument()      # idempotent
    OpenAISecurityInstrumentor().uninstrument()    # removes the hooks

``instrument()`` accepts ``tracer_provider``, ``meter_provider``, ``logger_provider``
(defaults: the global ones), ``guard`` (an object with ``mode``, ``scan_input(text)``
and ``scan_output(text, prompt)``; default ``Guard.from_environment()``) and
``settings`` (:class:`~otel_llm_security.record.settings.RecordSettings`; default read
from the environment) and ``stream_window`` (characters per incremental output scan of
a stream in enforce mode, 0 for none; default ``OTEL_LLM_SECURITY_STREAM_WINDOW`` or
2048, see :mod:`otel_llm_security.capture.windows`). It then starts the guard's warm-up
scans in a daemon thread (:mod:`otel_llm_security.guard.warm_up`;
``OTEL_LLM_SECURITY_WARM_UP=false`` turns them off).

The hook is ``SyncAPIClient.post`` / ``AsyncAPIClient.post``. The client binds
``post`` into a resource (``client.chat``, ``client.responses``, ...) when that resource
is first used, so a resource first used *before* ``instrument()`` keeps the unhooked
``post``: instrument before the first call (``opentelemetry-instrument`` does). After
``uninstrument()`` resources bound meanwhile pass straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from otel_llm_security.capture import patch
from otel_llm_security.capture.call import Runtime
from otel_llm_security.record.recorder import Recorder
from otel_llm_security.record.settings import RecordSettings

logger = logging.getLogger("otel_llm_security")

_INSTRUMENTS = ("openai >= 1.40",)
_MODULE = "openai._base_client"


def default_guard() -> Any:
    """``Guard.from_environment()``: the policy and mode the operator configured."""
    from otel_llm_security.guard.engine import Guard

    return Guard.from_environment()


class OpenAISecurityInstrumentor(BaseInstrumentor):
    """Hooks ``openai``'s ``post()`` to put the security record on every LLM call."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        from otel_llm_security.guard import warm_up

        settings = kwargs.get("settings") or RecordSettings.from_environment()
        guard = kwargs.get("guard")
        if guard is None:
            guard = default_guard()
        warm = warm_up.enabled()  # a bad value is an error before anything is hooked
        recorder = Recorder(
            settings,
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            logger_provider=kwargs.get("logger_provider"),
        )
        patch.runtime = Runtime(recorder, guard, stream_window=kwargs.get("stream_window"))
        wrap_function_wrapper(_MODULE, "SyncAPIClient.post", patch.sync_post)
        wrap_function_wrapper(_MODULE, "AsyncAPIClient.post", patch.async_post)
        start_warm_up = getattr(guard, "start_warm_up", None)  # an app's own guard may have none
        if warm and start_warm_up is not None:  # the scanners' set-up, before the app's first call
            start_warm_up()

    def _uninstrument(self, **kwargs: Any) -> None:
        import openai._base_client as base

        unwrap(base.SyncAPIClient, "post")
        unwrap(base.AsyncAPIClient, "post")
        patch.runtime = None
