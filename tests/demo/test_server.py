"""The fake API answers the real ``openai`` client the way the real API does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest

from otel_llm_security.demo.server import FakeOpenAIServer, Reply, ScriptedResponder


@pytest.fixture()
def server():
    responder = ScriptedResponder()
    responder.add("hello", Reply(content="Hi there, how can I help you today?"))
    responder.add("bad", Reply(refuse_categories=("jailbreak", "violence")))
    responder.add(
        "cut", Reply(content="Partial", finish_reason="content_filter", output_filter_categories=("hate",))
    )
    with FakeOpenAIServer(responder) as srv:
        yield srv


def _client(server: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def test_chat_completion_is_parsed_by_the_real_client(server):
    response = _client(server).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], user="alice"
    )
    assert response.choices[0].message.content == "Hi there, how can I help you today?"
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "gpt-4o-mini"
    assert response.usage.prompt_tokens == 2 and response.usage.completion_tokens == 9
    assert response.usage.total_tokens == 11
    assert server.requests[-1]["body"]["user"] == "alice"


def test_unscripted_prompt_gets_a_deterministic_answer(server):
    client = _client(server)
    a = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "What is OTLP?"}]
    )
    b = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "What is OTLP?"}]
    )
    assert a.choices[0].message.content == b.choices[0].message.content
    assert "What is OTLP" in a.choices[0].message.content


def test_stream_reassembles_and_reports_usage_only_when_asked(server):
    client = _client(server)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hi there, how can I help you today?"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

    plain = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    assert all(c.usage is None for c in plain)


def test_azure_content_filter_refusal_is_a_bad_request_with_inner_error(server):
    client = openai.AzureOpenAI(
        azure_endpoint=server.azure_endpoint, api_key="k", api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="prod-gpt4o", messages=[{"role": "user", "content": "bad"}])
    err = info.value
    assert err.status_code == 400 and err.code == "content_filter"
    inner = err.body["innererror"]
    assert inner["code"] == "ResponsibleAIPolicyViolation"
    assert inner["content_filter_result"]["jailbreak"] == {"filtered": True, "detected": True}
    assert inner["content_filter_result"]["violence"]["filtered"] is True
    assert inner["content_filter_result"]["hate"]["filtered"] is False
    assert server.requests[-1]["deployment"] == "prod-gpt4o"


def test_azure_accepted_call_carries_filter_annotations(server):
    client = openai.AzureOpenAI(
        azure_endpoint=server.azure_endpoint, api_key="k", api_version="2024-10-21", max_retries=0
    )
    response = client.chat.completions.create(model="prod", messages=[{"role": "user", "content": "cut"}])
    raw = response.model_dump()
    assert raw["choices"][0]["finish_reason"] == "content_filter"
    assert raw["choices"][0]["content_filter_results"]["hate"]["filtered"] is True
    assert raw["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"] is False


def test_errors_look_like_the_api(server):
    client = _client(server)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert info.value.body["param"] == "messages"

    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(request, timeout=5)
    assert http.value.code == 401
    assert json.loads(http.value.read())["error"]["code"] == "invalid_api_key"

    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=b"{not json", headers={"Authorization": "Bearer x"}
    )
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(request, timeout=5)
    assert http.value.code == 400


def test_models_endpoint(server):
    assert [m.id for m in _client(server).models.list()] == ["gpt-4o-mini", "gpt-4o"]


def test_module_entry_point_serves_the_demo_script(tmp_path):
    """`python -m otel_llm_security.demo.server` (what the compose stack runs) answers the scripted prompts."""
    import socket
    import subprocess
    import sys
    import time

    from otel_llm_security.demo.traffic import scenarios

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_llm_security.demo.server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.1)
        turn = next(s for s in scenarios() if s.name == "xss-bait").turns[0]
        answer = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": turn.prompt}]
        )
        assert answer.choices[0].message.content == turn.reply.content
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_azure_stream_starts_with_prompt_filter_results(server):
    client = openai.AzureOpenAI(
        azure_endpoint=server.azure_endpoint, api_key="k", api_version="2024-10-21", max_retries=0
    )
    chunks = list(
        client.chat.completions.create(
            model="prod", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    first = chunks[0].model_dump()
    assert first["choices"] == [] and first["prompt_filter_results"][0]["prompt_index"] == 0
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Hi there, how can I help you today?"
    )
    last_choice = [c for c in chunks if c.choices][-1].model_dump()["choices"][0]
    assert last_choice["finish_reason"] == "stop" and "content_filter_results" in last_choice
