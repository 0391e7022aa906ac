"""The public test helpers: shapes the real SDK accepts strictly, stable output, replay behaviour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_llm_security import testing as t

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openai"

BUILDERS: dict[str, Any] = {
    "chat_completion.json": lambda: t.chat_completion(),
    "chat_completion_tool_calls.json": lambda: t.chat_completion(
        None, tool_calls=[t.ToolCall("get_weather", '{"city": "Paris"}', id="call_abc")]),
    "chat_completion_chunks_usage.json": lambda: t.chat_completion_chunks(usage=t.Usage(12, 9)),
    "chat_completion_chunks_no_usage.json": lambda: t.chat_completion_chunks(),
    "response_object.json": lambda: t.response_object(),
    "response_stream_events.json": lambda: t.response_stream_events(),
    "embeddings.json": lambda: t.embeddings_response(2),
    "error_429.json": lambda: t.error_body("Rate limit reached for requests", type="requests", code="rate_limit_exceeded"),
    "azure_content_filter_400.json": lambda: t.azure_content_filter_error(filtered=["jailbreak"]),
    "azure_filtered_completion.json": lambda: t.chat_completion(
        None, finish_reason="content_filter", prompt_filter=t.prompt_filter_results(),
        choice_filter=t.content_filter_results(filtered=["violence"])),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builders_are_stable(name: str) -> None:
    """Fixtures, rules and benchmarks depend on these exact bodies."""
    assert BUILDERS[name]() == json.loads((FIXTURES / name).read_text())


def test_every_fixture_has_a_builder() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(BUILDERS)


def strict(replay: t.OpenAIReplay) -> openai.OpenAI:
    return replay.client(_strict_response_validation=True)


def test_sdk_accepts_every_shape_strictly() -> None:
    replay = t.OpenAIReplay()
    client = strict(replay)
    msgs = [{"role": "user", "content": "hi"}]
    replay.enqueue(t.Reply.of(t.chat_completion(None, tool_calls=[t.ToolCall("f", "{}")])))
    assert client.chat.completions.create(model="m", messages=msgs).choices[0].message.tool_calls[0].function.name == "f"
    for usage in (t.Usage(1, 2), None):
        replay.enqueue(t.Reply.stream(t.chat_completion_chunks("abc", usage=usage)))
        chunks = list(client.chat.completions.create(model="m", messages=msgs, stream=True))
        assert (chunks[-1].usage is not None) is (usage is not None)
    replay.enqueue(t.Reply.of(t.response_object("out", tool_calls=[t.ToolCall("g", "{}")])))
    assert client.responses.create(model="m", input="x").output_text == "out"
    replay.enqueue(t.Reply.stream(t.response_stream_events("streamed"), responses_api=True))
    with client.responses.stream(model="m", input="x") as stream:
        assert stream.get_final_response().output_text == "streamed"
    replay.enqueue(t.Reply.of(t.embeddings_response(3, dimensions=4)))
    assert [len(d.embedding) for d in client.embeddings.create(model="e", input=["a", "b", "c"]).data] == [4, 4, 4]


def test_errors_map_to_the_sdk_exceptions() -> None:
    replay = t.OpenAIReplay()
    client = replay.client()
    replay.enqueue(t.Reply.error(429, t.error_body("slow down", type="requests", code="rate_limit_exceeded")),
                   t.Reply.error(400, t.azure_content_filter_error(filtered=["hate"])),
                   t.Reply.error(401, t.error_body("bad key", type="invalid_request_error", code="invalid_api_key")))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[])
    with pytest.raises(openai.BadRequestError) as info:
        replay.azure_client().chat.completions.create(model="m", messages=[])
    assert info.value.body["innererror"]["content_filter_result"]["hate"] == {"filtered": True, "severity": "high"}
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=[])


def test_replay_records_requests_and_defaults_follow_the_request() -> None:
    replay = t.OpenAIReplay()
    client = replay.client()
    chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}], stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 9
    req = replay.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.wants_stream and req.wants_usage
    assert req.json["messages"] == [{"role": "user", "content": "q"}]
    client.embeddings.create(model="e", input=["a", "b"])
    assert replay.requests[-1].path == "/v1/embeddings"
    replay.azure_client().chat.completions.create(model="dep", messages=[])
    assert replay.requests[-1].path == "/openai/deployments/dep/chat/completions"


def test_handler_and_clear() -> None:
    replay = t.OpenAIReplay(handler=lambda req: t.Reply.of(t.chat_completion(f"echo {req.json['model']}")))
    replay.enqueue(t.Reply.of(t.chat_completion("queued")))
    replay.clear()
    out = replay.client().chat.completions.create(model="mx", messages=[])
    assert out.choices[0].message.content == "echo mx"


async def test_async_clients() -> None:
    replay = t.OpenAIReplay()
    out = await replay.async_client().chat.completions.create(model="m", messages=[])
    assert out.choices[0].message.content
    out = await replay.async_azure_client().chat.completions.create(model="m", messages=[])
    assert out.choices[0].message.content


def test_http_module_is_what_openai_sends_through() -> None:
    from openai import _base_client

    assert t.http_module() is (getattr(_base_client, "httpx2", None) or _base_client.httpx)


def test_sse_framing() -> None:
    chat = t.sse_body([{"a": 1}])
    assert chat == b'data: {"a":1}\n\ndata: [DONE]\n\n'
    named = t.sse_body([{"type": "response.created"}], done=False, named=True)
    assert named == b'event: response.created\ndata: {"type":"response.created"}\n\n'
    assert t.split_text("abcdefg", 3) == ["abc", "def", "g"]
    assert t.split_text("", 3) == []


def test_instrumented_harness() -> None:
    from otel_llm_security.attributes import LLM_SECURITY_MODE, METRIC_REQUESTS
    from otel_llm_security.capture import patch

    with t.instrumented(service_name="fixture-app") as run:
        run.replay.enqueue(t.Reply.of(t.chat_completion("Hi")))
        run.client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
        with pytest.raises(RuntimeError), t.instrumented():
            pass
    assert patch.runtime is None
    [span] = run.spans()
    assert span.resource.attributes["service.name"] == "fixture-app"
    assert span.attributes[LLM_SECURITY_MODE] == "monitor"
    names = {m.name for rm in run.metrics().resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert METRIC_REQUESTS in names
