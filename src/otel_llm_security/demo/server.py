"""A local OpenAI-compatible HTTP server for the demo, the examples and their tests.

It speaks the wire format of the real API closely enough that the unmodified
``openai`` client (and so every instrumentation hooked into it) cannot tell the
difference: ``POST /v1/chat/completions`` with JSON or streamed SSE answers,
``GET /v1/models``, OpenAI-shaped 4xx errors, and the Azure OpenAI deployment paths
(``/openai/deployments/<name>/chat/completions``) with their content-filter
annotations and the HTTP 400 ``content_filter`` refusal.

What the "model" answers is decided by a :class:`Responder`: the demo scripts one
answer per prompt (:class:`ScriptedResponder`); anything not scripted gets a short
deterministic answer. Bound to 127.0.0.1 only; one thread per connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otel_llm_security.guard.tokens import estimate_tokens
from otel_llm_security.testing import responses as api

AZURE_PREFIX = "/openai/deployments/"


@dataclass(frozen=True)
class Reply:
    """What the fake model does with one request.

    ``refuse_categories`` set: the Azure-style HTTP 400 refusal of the prompt, with
    those content-filter categories marked filtered. ``finish_reason="content_filter"``
    models a completion the provider cut off (with ``output_filter_categories``).
    Token counts default to an estimate from the text (4 characters a token).
    """

    content: str = ""
    finish_reason: str = "stop"
    refuse_categories: tuple[str, ...] = ()
    output_filter_categories: tuple[str, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


Responder = Callable[[dict[str, Any]], Reply]


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last ``user`` message of a chat request (text parts joined)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(
                    part.get("text", "")
                    for part in content
                    if isinstance(part, dict) and part.get("type") == "text"
                )
    return ""


def default_answer(prompt: str) -> str:
    """A short answer that depends on the prompt only, so runs are reproducible."""
    topic = " ".join(prompt.split()[:8]).rstrip("?.!") or "your question"
    return f"Here is a short answer about {topic!s}: it depends on your context, and the documentation covers the details."


@dataclass
class ScriptedResponder:
    """Answers scripted per prompt text (last user message); a default answer otherwise."""

    replies: dict[str, Reply] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, prompt: str, reply: Reply) -> None:
        with self._lock:
            self.replies[prompt] = reply

    def __call__(self, body: dict[str, Any]) -> Reply:
        prompt = last_user_text(body)
        with self._lock:
            reply = self.replies.get(prompt)
        return reply if reply is not None else Reply(content=default_answer(prompt))


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo owns the terminal
        return

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/v1/models", "/models"):
            self._send_json(200, _model_list(self.server.models))
        elif path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, api.error_body(f"Unknown path {path}", code="unknown_url"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            # Read the body first whatever happens next: an unread body would be taken
            # for the next request on this keep-alive connection.
            raw = self._read_body()
            azure = path.startswith(AZURE_PREFIX)
            if azure:
                if not path.endswith("/chat/completions"):
                    raise _ApiError(404, api.error_body(f"Unknown path {path}", code="404"))
                deployment = path[len(AZURE_PREFIX) : -len("/chat/completions")]
                self._check_auth(azure=True)
            elif path in ("/v1/chat/completions", "/chat/completions"):
                deployment = None
                self._check_auth(azure=False)
            else:
                raise _ApiError(404, api.error_body(f"Unknown path {path}", code="unknown_url"))
            self._chat(self._parse_json(raw), deployment)
        except _ApiError as exc:
            self._send_json(exc.status, exc.body)

    # --- request handling -------------------------------------------------------

    def _check_auth(self, azure: bool) -> None:
        bearer = self.headers.get("Authorization", "")
        if (bearer.startswith("Bearer ") and len(bearer) > 7) or (azure and self.headers.get("api-key")):
            return
        raise _ApiError(
            401,
            api.error_body("You didn't provide an API key.", code="invalid_api_key"),
        )

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _parse_json(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise _ApiError(400, api.error_body(f"Invalid JSON body: {exc.msg}")) from exc
        if not isinstance(body, dict):
            raise _ApiError(400, api.error_body("The request body must be a JSON object."))
        return body

    def _chat(self, body: dict[str, Any], deployment: str | None) -> None:
        model = body.get("model") or deployment
        if not model:
            raise _ApiError(
                400,
                api.error_body("you must provide a model parameter", param="model"),
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ApiError(
                400,
                api.error_body("'messages' must be a non-empty array.", param="messages"),
            )
        reply = self.server.responder(body)
        self.server.record(body, deployment)
        azure = deployment is not None
        if reply.refuse_categories:
            raise _ApiError(400, api.azure_content_filter_error(filtered=reply.refuse_categories))
        prompt_text = "\n".join(_message_text(m) for m in messages)
        usage = api.Usage(
            reply.prompt_tokens if reply.prompt_tokens is not None else estimate_tokens(prompt_text),
            reply.completion_tokens
            if reply.completion_tokens is not None
            else estimate_tokens(reply.content),
        )
        annotations: dict[str, Any] = {}
        if azure:  # Azure annotates every accepted call with its filter results
            annotations = {
                "prompt_filter": api.prompt_filter_results(),
                "choice_filter": api.content_filter_results(reply.output_filter_categories),
            }
        common: dict[str, Any] = {
            "model": model,
            "finish_reason": reply.finish_reason,
            "id": f"chatcmpl-{self.server.next_id()}",
            "created": int(time.time()),
            **annotations,
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_sse(
                api.chat_completion_chunks(
                    reply.content,
                    pieces=max(1, -(-len(reply.content) // 16)),  # about 16 characters a delta
                    usage=usage if include_usage else None,
                    **common,
                )
            )
        else:
            self._send_json(200, api.chat_completion(reply.content, usage=usage, **common))

    # --- responses --------------------------------------------------------------

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{self.server.next_id()}")
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # One HTTP chunk per event, as the API flushes them.
        for chunk in chunks:
            self._write_chunk(api.sse_body([chunk], done=False))
        self._write_chunk(api.sse_body([], done=True))
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _model_list(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in models],
    }


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], responder: Responder, models: tuple[str, ...]) -> None:
        super().__init__(address, _Handler)
        self.responder = responder
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._counter = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        # Clients closing keep-alive connections are normal; anything else is a bug to show.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self._counter:012d}"

    def record(self, body: dict[str, Any], deployment: str | None) -> None:
        with self._lock:
            self.requests.append({"body": body, "deployment": deployment})


class FakeOpenAIServer:
    """Runs the fake API on ``127.0.0.1`` in a background thread.

    Use as a context manager; ``base_url`` is what ``openai.OpenAI(base_url=...)``
    takes and ``azure_endpoint`` what ``openai.AzureOpenAI(azure_endpoint=...)`` takes.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        port: int = 0,
        models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o"),
        host: str = "127.0.0.1",
    ) -> None:
        self.responder: Responder = responder or ScriptedResponder()
        self._server = _Server((host, port), self.responder, models)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def azure_endpoint(self) -> str:
        host = self._server.server_address[0]
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.azure_endpoint}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Request bodies received so far (a copy), with the Azure deployment if any."""
        with self._server._lock:
            return list(self._server.requests)

    def start(self) -> FakeOpenAIServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fake-openai", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m otel_llm_security.demo.server [--port N]``: serve until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description="OpenAI-compatible fake API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (0.0.0.0 only inside a container network)"
    )
    args = parser.parse_args(argv)
    # Scripted answers for the demo's traffic; any other prompt gets the short default answer.
    from otel_llm_security.demo.traffic import responder_for, scenarios

    server = FakeOpenAIServer(responder_for(scenarios()), port=args.port, host=args.host)
    print(f"fake OpenAI API on {server.base_url} (Azure endpoint {server.azure_endpoint})", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
