"""Builders of OpenAI-format HTTP bodies, exactly as the API sends them.

Every builder returns plain JSON-compatible data (``dict`` / ``list``) or, for streams,
the list of SSE events; :mod:`otel_llm_security.testing.transport` turns them into
HTTP responses. The shapes follow the public OpenAI API reference (Chat Completions,
Responses, Embeddings, error objects) and Azure OpenAI content filtering
(``prompt_filter_results``, per-choice ``content_filter_results`` and the HTTP 400
``content_filter`` refusal). Ids and timestamps are deterministic unless given, so
fixtures built from them are reproducible.

These helpers are public and stable: the demo's fake server, the rule fixtures and the
benchmarks use them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_llm_security.guard.tokens import estimate_tokens

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_CREATED = 1_732_000_000

# Azure OpenAI content filter categories and the two shapes of their results.
AZURE_SEVERITY_CATEGORIES: tuple[str, ...] = ("hate", "self_harm", "sexual", "violence")
AZURE_DETECTION_CATEGORIES: tuple[str, ...] = ("jailbreak", "indirect_attack", "profanity", "protected_material_text", "protected_material_code")


@dataclass(frozen=True)
class ToolCall:
    """One function tool call the model asks for (``arguments`` is a JSON string)."""

    name: str
    arguments: str = "{}"
    id: str = "call_0"


@dataclass(frozen=True)
class Usage:
    """Token usage as the API reports it."""

    prompt_tokens: int
    completion_tokens: int

    def chat(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": self.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    @property
    def input_tokens(self) -> int:
        return self.prompt_tokens


def usage_for(prompt: str, completion: str) -> Usage:
    """A plausible usage for a prompt/completion pair (offline estimate)."""
    return Usage(max(1, estimate_tokens(prompt)), estimate_tokens(completion))


# --- Azure content filter results ---


def content_filter_results(filtered: Iterable[str] = (), detected: Iterable[str] = ()) -> dict[str, Any]:
    """Azure per-prompt or per-choice filter results.

    ``filtered`` names categories that were filtered (severity categories get
    ``severity: "high"``, detection categories ``detected: true, filtered: true``);
    ``detected`` names detection categories that fired without filtering. All other
    standard categories are reported safe / not detected, as Azure does.
    """
    filtered, detected = set(filtered), set(detected)
    out: dict[str, Any] = {}
    for cat in AZURE_SEVERITY_CATEGORIES:
        out[cat] = {"filtered": cat in filtered, "severity": "high" if cat in filtered else "safe"}
    for cat in ("jailbreak", "profanity"):
        out[cat] = {"filtered": cat in filtered, "detected": cat in filtered or cat in detected}
    for cat in (filtered | detected) - set(out):
        out[cat] = {"filtered": cat in filtered, "detected": True}
    return out


def prompt_filter_results(filtered: Iterable[str] = (), detected: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Azure ``prompt_filter_results`` (one entry, prompt index 0)."""
    return [{"prompt_index": 0, "content_filter_results": content_filter_results(filtered, detected)}]


# --- Chat Completions ---


def _tool_calls_json(tool_calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
        for tc in tool_calls
    ]


def chat_completion(
    content: str | None = "Hello! How can I help you today?",
    *,
    model: str = DEFAULT_MODEL,
    finish_reason: str | None = None,
    tool_calls: Sequence[ToolCall] = (),
    usage: Usage | None = Usage(12, 9),
    id: str = "chatcmpl-test0001",
    created: int = DEFAULT_CREATED,
    choices: int = 1,
    refusal: str | None = None,
    prompt_filter: list[dict[str, Any]] | None = None,
    choice_filter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` object.

    ``finish_reason`` defaults to ``tool_calls`` when tool calls are given, else
    ``stop``. ``finish_reason="content_filter"`` with ``content=None`` is how Azure
    reports a filtered completion; pass ``prompt_filter`` (see
    :func:`prompt_filter_results`) and ``choice_filter`` (see
    :func:`content_filter_results`) for the Azure annotations. ``usage=None`` omits it.
    """
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = _tool_calls_json(tool_calls)
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [],
        "system_fingerprint": "fp_test",
    }
    for i in range(choices):
        choice: dict[str, Any] = {"index": i, "message": dict(message), "logprobs": None, "finish_reason": finish_reason}
        if choice_filter is not None:
            choice["content_filter_results"] = choice_filter
        body["choices"].append(choice)
    if usage is not None:
        body["usage"] = usage.chat()
    if prompt_filter is not None:
        body["prompt_filter_results"] = prompt_filter
    return body


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` consecutive parts (fewer for short texts)."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    step = -(-len(text) // pieces)
    return [text[i : i + step] for i in range(0, len(text), step)]


def chat_completion_chunks(
    content: str = "Hello! How can I help you today?",
    *,
    model: str = DEFAULT_MODEL,
    pieces: int = 4,
    finish_reason: str | None = None,
    tool_calls: Sequence[ToolCall] = (),
    usage: Usage | None = None,
    id: str = "chatcmpl-test0002",
    created: int = DEFAULT_CREATED,
    prompt_filter: list[dict[str, Any]] | None = None,
    choice_filter: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of a streamed completion.

    The content arrives in ``pieces`` deltas, tool calls in one delta each (name, then
    arguments), then a chunk with the finish reason. With ``usage`` (what the API sends
    for ``stream_options={"include_usage": true}``) a last chunk with empty ``choices``
    carries it, and every earlier chunk has ``usage: null``.
    """
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    include_usage = usage is not None

    def chunk(delta: dict[str, Any] | None, fr: str | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_test",
            "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": fr}],
        }
        if delta is not None and choice_filter is not None and fr is not None:
            c["choices"][0]["content_filter_results"] = choice_filter
        if include_usage:
            c["usage"] = None
        return c

    events: list[dict[str, Any]] = []
    if prompt_filter is not None:
        events.append({"id": "", "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": prompt_filter})
    events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    for part in split_text(content, pieces):
        events.append(chunk({"content": part}))
    for i, tc in enumerate(tool_calls):
        events.append(chunk({"tool_calls": [{"index": i, "id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": ""}}]}))
        events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": tc.arguments}}]}))
    events.append(chunk({}, finish_reason))
    if usage is not None:
        last = chunk(None)
        last["usage"] = usage.chat()
        events.append(last)
    return events


# --- Responses API ---


def response_object(
    output_text: str = "Hello! How can I help you today?",
    *,
    model: str = DEFAULT_MODEL,
    tool_calls: Sequence[ToolCall] = (),
    usage: Usage | None = Usage(12, 9),
    id: str = "resp_test0001",
    created: int = DEFAULT_CREATED,
    status: str = "completed",
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """A Responses API ``response`` object with one output message (and function calls)."""
    output: list[dict[str, Any]] = []
    if output_text:
        output.append({
            "id": "msg_test0001",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": output_text, "annotations": [], "logprobs": []}],
        })
    for tc in tool_calls:
        output.append({
            "id": f"fc_{tc.id}",
            "type": "function_call",
            "status": "completed",
            "call_id": tc.id,
            "name": tc.name,
            "arguments": tc.arguments,
        })
    body: dict[str, Any] = {
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage.responses() if usage is not None else None,
        "metadata": {},
    }
    if conversation_id is not None:
        body["conversation"] = {"id": conversation_id}
    return body


def response_stream_events(
    output_text: str = "Hello! How can I help you today?",
    *,
    model: str = DEFAULT_MODEL,
    pieces: int = 4,
    usage: Usage | None = Usage(12, 9),
    id: str = "resp_test0002",
) -> list[dict[str, Any]]:
    """The SSE events of a streamed Responses API call (``stream=True``), in API order.

    ``response.created``, ``response.in_progress``, ``response.output_item.added``,
    ``response.content_part.added``, one ``response.output_text.delta`` per piece,
    ``response.output_text.done``, ``response.content_part.done``,
    ``response.output_item.done`` and ``response.completed`` carrying the final response
    (with usage, which the Responses API always reports).
    """
    final = response_object(output_text, model=model, usage=usage, id=id)
    in_progress = dict(final, status="in_progress", output=[], usage=None)
    item_id = "msg_test0001"
    done_item = final["output"][0] if final["output"] else None
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}},
        {"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0,
         "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}},
    ]
    for part in split_text(output_text, pieces):
        events.append({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0,
                       "content_index": 0, "delta": part, "logprobs": []})
    events.append({"type": "response.output_text.done", "item_id": item_id, "output_index": 0,
                   "content_index": 0, "text": output_text, "logprobs": []})
    events.append({"type": "response.content_part.done", "item_id": item_id, "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": output_text, "annotations": [], "logprobs": []}})
    if done_item is not None:
        events.append({"type": "response.output_item.done", "output_index": 0, "item": done_item})
    events.append({"type": "response.completed", "response": final})
    for seq, ev in enumerate(events):
        ev["sequence_number"] = seq
    return events


# --- Embeddings ---


def embeddings_response(
    count: int = 1,
    *,
    dimensions: int = 8,
    model: str = "text-embedding-3-small",
    prompt_tokens: int = 5,
) -> dict[str, Any]:
    """A ``list`` of ``count`` embedding objects with deterministic vectors."""
    data = [
        {"object": "embedding", "index": i, "embedding": [round(((i + 1) * (j + 1) % 17) / 17 - 0.5, 6) for j in range(dimensions)]}
        for i in range(count)
    ]
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


# --- Errors ---


def error_body(
    message: str = "Invalid request.",
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An OpenAI error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def azure_content_filter_error(filtered: Iterable[str] = ("jailbreak",), detected: Iterable[str] = ()) -> dict[str, Any]:
    """The body of Azure OpenAI's HTTP 400 refusal of a prompt by its content filter.

    ``error.code = "content_filter"``, ``error.innererror.code =
    "ResponsibleAIPolicyViolation"`` and ``content_filter_result`` per category.
    """
    return {
        "error": {
            "message": (
                "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                "policy. Please modify your prompt and retry. To learn more about our content filtering "
                "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
            ),
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": content_filter_results(filtered, detected),
            },
        }
    }


# --- SSE encoding ---


def sse_body(events: Iterable[Mapping[str, Any]], *, done: bool = True, named: bool = False) -> bytes:
    """Encode events as a ``text/event-stream`` body.

    Chat Completions streams send bare ``data:`` lines and end with ``data: [DONE]``;
    Responses streams name each event (``named=True`` adds ``event: <type>``) and send
    no ``[DONE]``.
    """
    out: list[str] = []
    for ev in events:
        if named:
            out.append(f"event: {ev['type']}\n")
        out.append(f"data: {json.dumps(ev, separators=(',', ':'))}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode("utf-8")


@dataclass
class Reply:
    """One HTTP answer: status, JSON body or raw bytes, headers."""

    status: int = 200
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        if self.content is not None:
            return self.content
        return json.dumps(self.json).encode("utf-8")

    def header_items(self) -> dict[str, str]:
        h = {"x-request-id": "req_test", **self.headers}
        if self.content is None:
            h.setdefault("content-type", "application/json")
        return h

    # Convenience constructors -------------------------------------------------

    @classmethod
    def of(cls, body: Any, status: int = 200) -> Reply:
        return cls(status=status, json=body)

    @classmethod
    def stream(cls, events: Iterable[Mapping[str, Any]], *, responses_api: bool = False) -> Reply:
        """A streamed answer; ``responses_api=True`` uses the Responses framing."""
        return cls(
            content=sse_body(events, done=not responses_api, named=responses_api),
            headers={"content-type": "text/event-stream"},
        )

    @classmethod
    def error(cls, status: int = 400, body: Any | None = None) -> Reply:
        return cls(status=status, json=body if body is not None else error_body())
