"""The wrappers around ``SyncAPIClient.post`` / ``AsyncAPIClient.post``.

Every resource method of the client (``chat.completions.create``, ``responses.create``,
``embeddings.create``, their ``with_raw_response`` / ``with_streaming_response`` forms,
``parse`` and ``stream`` helpers) ends in ``post(path, *, body=..., stream=...)``, inside
whatever span a peer instrumentation made current. Only the GenAI paths are handled;
everything else passes straight through.

The active :class:`~otel_llm_security.capture.call.Runtime` is a module global set by the
instrumentor. With none set (uninstrumented, or a resource bound to a wrapper that has
since been removed) the wrappers call through untouched.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value

from otel_llm_security.capture.call import Call, Runtime, start_call
from otel_llm_security.capture.errors import OpenAIRequestBlocked
from otel_llm_security.capture.extract import ENDPOINTS

logger = logging.getLogger("otel_llm_security")

runtime: Runtime | None = None


def _prepare(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    rt = runtime
    if rt is None or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return None
    path = args[0] if args else kwargs.get("path")
    ep = ENDPOINTS.get(path) if isinstance(path, str) else None
    if ep is None:
        return None
    # Raises OpenAIRequestBlocked when the guard blocks the prompt.
    return start_call(rt, instance, ep[0], ep[1], kwargs)


def sync_post(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    call = _prepare(instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    call.activate()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.deactivate()
        call.finish_error(exc)
        raise
    call.deactivate()
    return call.on_result(result)


async def async_post(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    call = _prepare(instance, args, kwargs)
    if call is None:
        return await wrapped(*args, **kwargs)
    call.activate()
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        call.deactivate()
        call.finish_error(exc)
        raise
    call.deactivate()
    return call.on_result(result)


__all__ = ["OpenAIRequestBlocked", "async_post", "runtime", "sync_post"]
