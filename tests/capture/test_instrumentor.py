from __future__ import annotations

from importlib.metadata import entry_points

import openai._base_client as base
from wrapt import FunctionWrapper

from otel_llm_security import OpenAISecurityInstrumentor as Exported
from otel_llm_security.attributes import LLM_SECURITY_MODE
from otel_llm_security.capture import patch
from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor


def ask(client) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_registered_under_the_opentelemetry_instrumentor_entry_point() -> None:
    eps = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "llm_security_openai"]
    assert len(eps) == 1
    assert eps[0].load() is OpenAISecurityInstrumentor
    assert Exported is OpenAISecurityInstrumentor


def test_instrument_is_idempotent(instrument, telemetry, replay, guard_factory) -> None:
    inst = instrument(guard=guard_factory())
    inst.instrument(guard=guard_factory())  # second call: no second wrapper
    post = vars(base.SyncAPIClient)["post"]
    assert isinstance(post, FunctionWrapper)
    assert not isinstance(post.__wrapped__, FunctionWrapper)
    ask(replay.client())
    assert len(telemetry.spans()) == 1


def test_uninstrument_restores_and_disarms(instrument, telemetry, replay, guard_factory) -> None:
    original_sync, original_async = vars(base.SyncAPIClient)["post"], vars(base.AsyncAPIClient)["post"]
    inst = instrument(guard=guard_factory())
    client = replay.client()
    ask(client)  # binds client.chat to the wrapped post
    inst.uninstrument()
    assert patch.runtime is None
    assert vars(base.SyncAPIClient)["post"] is original_sync
    assert vars(base.AsyncAPIClient)["post"] is original_async
    ask(client)  # a resource bound while instrumented passes straight through now
    ask(replay.client())
    assert len(telemetry.spans()) == 1
    inst.uninstrument()  # idempotent
    inst.instrument(tracer_provider=telemetry.tracer_provider, guard=guard_factory())
    ask(replay.client())
    assert len(telemetry.spans()) == 2
    assert LLM_SECURITY_MODE in telemetry.spans()[-1].attributes


def test_default_guard_comes_from_the_environment(instrument, telemetry, replay, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_LLM_SECURITY_MODE", "enforce")
    monkeypatch.delenv("OTEL_LLM_SECURITY_POLICY", raising=False)
    instrument()
    assert patch.runtime is not None
    assert patch.runtime.mode.value == "enforce"
    assert patch.runtime.policy_id == "default"
    ask(replay.client())
    [span] = telemetry.spans()
    assert span.attributes[LLM_SECURITY_MODE] == "enforce"
    assert "llm.security.input.prompt_injection.score" in span.attributes
