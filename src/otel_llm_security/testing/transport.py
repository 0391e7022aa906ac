"""An HTTP transport that replays OpenAI-format answers to the real ``openai`` client.

Usage::

    from otel_llm_security.testing import OpenAIReplay, Reply, chat_completion

    replay = OpenAIReplay()
    replay.enqueue(Reply.of(chat_completion("Hi there")))
    client = replay.client()                     # openai.OpenAI over the replay
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    replay.requests[-1].json                     # what the client sent

Answers come from, in order: the FIFO queue (:meth:`OpenAIReplay.enqueue`), a handler
function (``OpenAIReplay(handler=...)``, called with each :class:`RecordedRequest`), or
a default per endpoint: a chat completion (streamed when the request asks for a stream,
with usage when it asks ``stream_options.include_usage``), a Responses API object or
stream, or embeddings sized to the input. Every request is recorded.

openai 3.x sends through ``httpx2``, 1.x/2.x through ``httpx``; the transport is built
from whichever the installed client uses (:func:`http_module`).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from otel_llm_security.testing import responses as r

AZURE_ENDPOINT = "https://example-resource.openai.azure.com"
AZURE_API_VERSION = "2024-10-21"


def http_module() -> ModuleType:
    """The httpx-compatible module the installed ``openai`` client sends through."""
    try:
        from openai import _base_client

        mod = getattr(_base_client, "httpx2", None) or getattr(_base_client, "httpx", None)
        if mod is not None:
            return mod
    except ImportError:
        pass
    import httpx

    return httpx


@dataclass(frozen=True)
class RecordedRequest:
    """A request the client sent: method, URL path, headers and decoded JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any

    @property
    def wants_stream(self) -> bool:
        return isinstance(self.json, dict) and bool(self.json.get("stream"))

    @property
    def wants_usage(self) -> bool:
        opts = self.json.get("stream_options") if isinstance(self.json, dict) else None
        return isinstance(opts, dict) and bool(opts.get("include_usage"))


Handler = Callable[[RecordedRequest], r.Reply]


def default_reply(req: RecordedRequest) -> r.Reply:
    """The answer used when nothing is queued and no handler is set."""
    path = req.path.rstrip("/")
    if path.endswith("/chat/completions"):
        if req.wants_stream:
            usage = r.Usage(12, 9) if req.wants_usage else None
            return r.Reply.stream(r.chat_completion_chunks(usage=usage))
        return r.Reply.of(r.chat_completion())
    if path.endswith("/responses"):
        if req.wants_stream:
            return r.Reply.stream(r.response_stream_events(), responses_api=True)
        return r.Reply.of(r.response_object())
    if path.endswith("/embeddings"):
        inp = req.json.get("input") if isinstance(req.json, dict) else None
        count = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
        return r.Reply.of(r.embeddings_response(count))
    return r.Reply.error(404, r.error_body(f"Unknown path {path}", type="invalid_request_error", code="not_found"))


class OpenAIReplay:
    """Replays queued or computed OpenAI answers over an in-process transport."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        self._queue: deque[r.Reply] = deque()
        self._lock = threading.Lock()
        self._http = http_module()
        self.transport = self._http.MockTransport(self._handle)

    def enqueue(self, *replies: r.Reply) -> OpenAIReplay:
        """Answer the next requests with ``replies``, in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def clear(self) -> None:
        """Drop queued replies (e.g. after a call the guard blocked before sending)."""
        with self._lock:
            self._queue.clear()

    def _handle(self, request: Any) -> Any:
        raw = request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(request.method, request.url.path, dict(request.headers), body)
        with self._lock:
            self.requests.append(rec)
            reply = self._queue.popleft() if self._queue else None
        if reply is None:
            reply = self.handler(rec) if self.handler is not None else default_reply(rec)
        return self._http.Response(reply.status, headers=reply.header_items(), content=reply.body_bytes())

    # --- clients -------------------------------------------------------------

    def http_client(self) -> Any:
        return self._http.Client(transport=self.transport)

    def async_http_client(self) -> Any:
        return self._http.AsyncClient(transport=self.transport)

    def client(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client sending to this replay (no retries)."""
        import openai

        kwargs.setdefault("api_key", "sk-test")
        kwargs.setdefault("base_url", "https://api.openai.com/v1")
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(http_client=self.http_client(), **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        """An ``openai.AsyncOpenAI`` client sending to this replay (no retries)."""
        import openai

        kwargs.setdefault("api_key", "sk-test")
        kwargs.setdefault("base_url", "https://api.openai.com/v1")
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(http_client=self.async_http_client(), **kwargs)

    def azure_client(self, **kwargs: Any) -> Any:
        """An ``openai.AzureOpenAI`` client for :data:`AZURE_ENDPOINT` over this replay."""
        import openai

        kwargs.setdefault("api_key", "azure-test-key")
        kwargs.setdefault("azure_endpoint", AZURE_ENDPOINT)
        kwargs.setdefault("api_version", AZURE_API_VERSION)
        kwargs.setdefault("max_retries", 0)
        return openai.AzureOpenAI(http_client=self.http_client(), **kwargs)

    def async_azure_client(self, **kwargs: Any) -> Any:
        """An ``openai.AsyncAzureOpenAI`` client for :data:`AZURE_ENDPOINT` over this replay."""
        import openai

        kwargs.setdefault("api_key", "azure-test-key")
        kwargs.setdefault("azure_endpoint", AZURE_ENDPOINT)
        kwargs.setdefault("api_version", AZURE_API_VERSION)
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncAzureOpenAI(http_client=self.async_http_client(), **kwargs)
