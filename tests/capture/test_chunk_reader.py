"""ChatChunkReader's fast path (openai's own chunk objects) says exactly what the
general reading of any chunk shape says, over many stream shapes, and tolerates the
odd ones (the stream reads each chunk as it passes, so it sees them all)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from otel_llm_security.capture import extract
from otel_llm_security.testing import (
    ToolCall,
    Usage,
    chat_completion_chunks,
    content_filter_results,
    prompt_filter_results,
)


def read(chunks: list[Any], fast: bool) -> extract.ResponseInfo:
    reader = extract.ChatChunkReader()
    if not fast:
        reader._chunk_t = None
    for ch in chunks:
        reader.add(ch)
    return reader.info()


def streams() -> list[list[dict[str, Any]]]:
    tc = (ToolCall("lookup", '{"q": "stock"}', "call_1"), ToolCall("send", '{"to": "x"}', "call_2"))
    out = [
        chat_completion_chunks("Hello there, general Kenobi.", pieces=7),
        chat_completion_chunks("With usage.", pieces=3, usage=Usage(11, 4)),
        chat_completion_chunks("", tool_calls=tc),
        chat_completion_chunks("Some text then tools", pieces=4, tool_calls=tc[:1]),
        chat_completion_chunks("Filtered", pieces=2, finish_reason="content_filter",
                               prompt_filter=prompt_filter_results(filtered=["hate"]),
                               choice_filter=content_filter_results(filtered=["violence"])),
        chat_completion_chunks("length cut", pieces=5, finish_reason="length"),
    ]
    rng = random.Random(7)
    mutated = []
    for events in out:
        for _ in range(25):
            ev = copy.deepcopy(events)
            for e in ev:
                r = rng.random()
                choices = e.get("choices") or []
                if r < 0.08 and choices:
                    choices[0]["index"] = rng.choice([1, True, None, "0"])
                elif r < 0.14:
                    e["obfuscation"] = "abc"  # an extra the fast path must not mind
                elif r < 0.18:
                    e.pop("model", None)
                elif r < 0.22 and choices:
                    choices.append({"index": 1, "delta": {"content": "second choice"}, "finish_reason": "stop"})
                elif r < 0.26 and choices:
                    choices[0]["delta"]["content"] = rng.choice([None, "", 5])
                elif r < 0.30 and choices:
                    choices[0]["content_filter_results"] = None
                elif r < 0.33:
                    e["prompt_filter_results"] = []
                elif r < 0.36 and choices:
                    choices[0]["delta"]["tool_calls"] = []
                elif r < 0.39:
                    e["id"] = None
            mutated.append(ev)
    return out + mutated


@pytest.mark.parametrize("build", ["construct", "validate", "dict"])
def test_fast_path_equals_general_reading(build: str) -> None:
    fast_taken = 0
    for events in streams():
        if build == "dict":
            chunks: list[Any] = events
        elif build == "construct":  # what the openai client builds
            chunks = [ChatCompletionChunk.construct(**e) for e in events]
        else:
            try:
                chunks = [ChatCompletionChunk.model_validate(e) for e in events]
            except Exception:
                continue
        assert read(chunks, fast=True) == read(chunks, fast=False), events
        assert read(chunks, fast=True) == extract.parse_chat_chunks(chunks)
        fast_taken += sum(1 for ch in chunks if type(ch) is ChatCompletionChunk)
    if build != "dict":
        assert fast_taken > 100


def test_known_stream_reads_as_expected() -> None:
    tc = (ToolCall("lookup", '{"q": 1}', "call_1"),)
    events = chat_completion_chunks("Hello world", pieces=3, tool_calls=tc, usage=Usage(5, 6))
    info = read([ChatCompletionChunk.construct(**e) for e in events], fast=True)
    assert info.output_text == 'Hello world\n{"q": 1}'
    assert info.finish_reasons == ["tool_calls"]
    assert (info.input_tokens, info.output_tokens) == (5, 6)
    assert info.provider is None


def test_odd_chunks_do_not_raise() -> None:
    reader = extract.ChatChunkReader()
    for odd in (None, 3, "text", [], {}, {"choices": "x"}, {"choices": [None, 3, {"delta": "x"}]}, object()):
        reader.add(odd)
    assert reader.info().output_text is None


def test_interleaved_choices_keep_their_own_text() -> None:
    # n=2 streams send one choice per chunk, alternating indexes: the fast path's
    # shortcut to the last choice's pieces must follow the index.
    events = []
    for i, (a_piece, b_piece) in enumerate(zip(["Hel", "lo ", "there"], ["Go", "od ", "bye"], strict=True)):
        for idx, piece in ((0, a_piece), (1, b_piece)):
            events.append({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                           "choices": [{"index": idx, "delta": {"content": piece},
                                        "finish_reason": "stop" if i == 2 else None}]})
    for build in ("construct", "dict"):
        chunks = [ChatCompletionChunk.construct(**e) for e in events] if build == "construct" else events
        fast, general = read(chunks, fast=True), read(chunks, fast=False)
        assert fast == general
        assert fast.output_text == "Hello there\nGood bye"
        assert fast.finish_reasons == ["stop", "stop"]


def test_chunk_missing_a_field_is_read_whole_by_the_general_path() -> None:
    # construct() leaves absent fields out: the fast path reads every field before it
    # updates anything, so a chunk it cannot read is read once, by the general path.
    events = chat_completion_chunks("Hello world", pieces=3)
    first = dict(events[0])
    first.pop("model")
    chunks = [ChatCompletionChunk.construct(**e) for e in [first, *events[1:]]]
    info = read(chunks, fast=True)
    assert info == read(chunks, fast=False)
    assert info.output_text == "Hello world"
    assert info.model == events[1]["model"]
