"""The fast reading of openai's ChatCompletion objects says exactly what the general
reading (g() per field, any shape) says."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from otel_llm_security.capture import extract
from otel_llm_security.testing import (
    ToolCall,
    Usage,
    chat_completion,
    content_filter_results,
    prompt_filter_results,
)


def general(obj: Any, monkeypatch: pytest.MonkeyPatch) -> extract.ResponseInfo:
    with monkeypatch.context() as m:
        m.setattr(extract, "_COMPLETION_TYPES", None)
        return extract.parse_chat_completion(obj)


def bodies() -> list[dict[str, Any]]:
    base = [
        chat_completion("A plain answer."),
        chat_completion("Two choices", choices=2),
        chat_completion(None, finish_reason="content_filter"),
        chat_completion("No usage", usage=None),
        chat_completion("", tool_calls=(ToolCall("lookup", '{"q": 1}'),)),
        chat_completion("Azure", prompt_filter=prompt_filter_results(filtered=["hate"]),
                        choice_filter=content_filter_results(detected=["jailbreak"])),
        chat_completion("Refused", refusal="I can't", finish_reason="length", usage=Usage(3, 0)),
    ]
    rng = random.Random(11)
    out = list(base)
    for b in base:
        for _ in range(20):
            body = copy.deepcopy(b)
            r = rng.random()
            if r < 0.15:
                body["obfuscation"] = "x"
            elif r < 0.3:
                body.pop("model", None)
            elif r < 0.45 and body["choices"]:
                body["choices"][0]["message"]["content"] = rng.choice([None, "", 7])
            elif r < 0.6 and body["choices"]:
                body["choices"][0]["finish_reason"] = rng.choice([None, 3, "stop"])
            elif r < 0.7:
                body["usage"] = {"input_tokens": 4, "output_tokens": 5}
            elif r < 0.8:
                body["choices"] = []
            elif r < 0.9 and body["choices"]:
                body["choices"][0]["content_filter_results"] = None
            else:
                body["id"] = None
            out.append(body)
    return out


@pytest.mark.parametrize("build", ["construct", "validate", "dict"])
def test_fast_reading_equals_general_reading(build: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_taken = 0
    for body in bodies():
        if build == "dict":
            obj: Any = body
        elif build == "construct":  # what the openai client builds
            obj = ChatCompletion.construct(**body)
        else:
            try:
                obj = ChatCompletion.model_validate(body)
            except Exception:
                continue
        fast_taken += extract._read_openai_completion(obj) is not None
        assert extract.parse_chat_completion(obj) == general(obj, monkeypatch), body
    if build != "dict":
        assert fast_taken > 30
