"""OpenAI / Azure OpenAI response bodies for the fake server.

Shapes follow the public API reference: ``chat.completion`` objects,
``chat.completion.chunk`` SSE events (the usage chunk has empty ``choices``), error
envelopes, and Azure's content-filter annotations (``prompt_filter_results``,
per-choice ``content_filter_results``, and the HTTP 400 ``content_filter`` refusal
whose ``innererror.code`` is ``ResponsibleAIPolicyViolation``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

AZURE_FILTER_CATEGORIES: tuple[str, ...] = ("hate", "self_harm", "sexual", "violence")
AZURE_DETECTION_CATEGORIES: tuple[str, ...] = ("jailbreak",)


def estimate_tokens(text: str) -> int:
    """Rough token count (about 4 characters per token), at least 1 for non-empty text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def error(
    message: str, type_: str | None, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def model_list(models: Sequence[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in models],
    }


def filter_results(filtered: Sequence[str] = ()) -> dict[str, Any]:
    """Azure content-filter results per category; the named categories are filtered."""
    results: dict[str, Any] = {
        c: {"filtered": c in filtered, "severity": "high" if c in filtered else "safe"}
        for c in AZURE_FILTER_CATEGORIES
    }
    for c in AZURE_DETECTION_CATEGORIES:
        results[c] = {"filtered": c in filtered, "detected": c in filtered}
    return results


def content_filter_refusal(categories: Sequence[str]) -> dict[str, Any]:
    """The HTTP 400 body Azure OpenAI returns when the prompt trips its content filter."""
    body = error(
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry.",
        None,
        code="content_filter",
        param="prompt",
    )
    body["error"]["status"] = 400
    body["error"]["innererror"] = {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": filter_results(categories),
    }
    return body


def chat_completion(
    completion_id: str,
    model: str,
    content: str,
    finish_reason: str,
    usage_: dict[str, Any],
    azure: bool = False,
    output_filter_categories: Sequence[str] = (),
) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": finish_reason,
    }
    body: dict[str, Any] = {
        "id": f"chatcmpl-{completion_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage_,
        "system_fingerprint": "fp_local_demo",
    }
    if azure:
        choice["content_filter_results"] = filter_results(output_filter_categories)
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": filter_results()}]
    else:
        body["service_tier"] = "default"
    return body


def chat_completion_chunks(
    completion_id: str,
    model: str,
    content: str,
    finish_reason: str,
    usage_: dict[str, Any] | None,
    azure: bool = False,
    output_filter_categories: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """The SSE events of a streamed chat completion (without the final ``[DONE]``)."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if azure and finish is not None:
            choice["content_filter_results"] = filter_results(output_filter_categories)
        body: dict[str, Any] = {
            "id": f"chatcmpl-{completion_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_local_demo",
            "choices": [choice],
        }
        if usage_ is not None:
            body["usage"] = None
        return body

    yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
    for piece in _pieces(content):
        yield chunk({"content": piece}, None)
    yield chunk({}, finish_reason)
    if usage_ is not None:
        yield {
            "id": f"chatcmpl-{completion_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_local_demo",
            "choices": [],
            "usage": usage_,
        }


def _pieces(text: str, size: int = 24) -> Iterator[str]:
    """Split ``text`` into stream deltas of about ``size`` characters, on word boundaries."""
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start + 1, end)
            if space > start:
                end = space
        yield text[start:end]
        start = end
