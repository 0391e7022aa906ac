"""Reusable test helpers: OpenAI-format answers and a transport that replays them.

``responses`` builds the JSON/SSE bodies (chat completions with tool calls, streams
with and without usage, the Responses API, embeddings, errors, Azure content-filter
refusals and filtered completions); ``transport`` serves them to the real ``openai``
client through an in-process HTTP transport; ``harness.instrumented()`` runs
instrumented calls into in-memory telemetry. Nothing here touches the network.
"""

from __future__ import annotations

from otel_llm_security.testing.harness import InstrumentedRun, instrumented
from otel_llm_security.testing.responses import (
    DEFAULT_MODEL,
    Reply,
    ToolCall,
    Usage,
    azure_content_filter_error,
    chat_completion,
    chat_completion_chunks,
    content_filter_results,
    embeddings_response,
    error_body,
    prompt_filter_results,
    response_object,
    response_stream_events,
    split_text,
    sse_body,
    usage_for,
)
from otel_llm_security.testing.transport import (
    AZURE_API_VERSION,
    AZURE_ENDPOINT,
    OpenAIReplay,
    RecordedRequest,
    default_reply,
    http_module,
)

__all__ = [
    "AZURE_API_VERSION",
    "AZURE_ENDPOINT",
    "DEFAULT_MODEL",
    "InstrumentedRun",
    "OpenAIReplay",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "Usage",
    "azure_content_filter_error",
    "chat_completion",
    "chat_completion_chunks",
    "content_filter_results",
    "default_reply",
    "embeddings_response",
    "error_body",
    "http_module",
    "instrumented",
    "prompt_filter_results",
    "response_object",
    "response_stream_events",
    "split_text",
    "sse_body",
    "usage_for",
]
