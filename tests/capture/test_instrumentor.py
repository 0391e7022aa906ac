from __future__ import annotations

from importlib.metadata import entry_points

import openai._base_client as base
import pytest
from wrapt import FunctionWrapper

from otel_llm_security import OpenAISecurityInstrumentor as Exported
from otel_llm_security.attributes import LLM_SECURITY_MODE
from otel_llm_security.capture import patch
from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor
from otel_llm_security.guard import warm_up
from otel_llm_security.guard.engine import Guard
from otel_llm_security.guard.errors import PolicyError


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


def test_instrument_warms_the_guard_up_in_a_daemon_thread(instrument, telemetry, replay, monkeypatch) -> None:
    started = []
    original = Guard.start_warm_up

    def recording(guard):
        started.append((guard, original(guard)))
        return started[-1][1]

    monkeypatch.setattr(Guard, "start_warm_up", recording)
    monkeypatch.delenv("OTEL_LLM_SECURITY_POLICY", raising=False)
    instrument()
    [(guard, thread)] = started
    assert guard is patch.runtime.guard and thread is not None and thread.name == warm_up.THREAD_NAME
    ask(replay.client())  # a call made meanwhile waits for it, then is recorded as ever
    assert not thread.is_alive()
    assert "llm.security.input.prompt_injection.score" in telemetry.spans()[0].attributes


def test_no_warm_up_when_switched_off(instrument, monkeypatch) -> None:
    started = []
    monkeypatch.setattr(Guard, "start_warm_up", lambda guard: started.append(guard))
    monkeypatch.setenv("OTEL_LLM_SECURITY_WARM_UP", "false")
    instrument()
    assert started == []


def test_a_bad_warm_up_value_fails_instrument_before_anything_is_hooked(instrument, monkeypatch) -> None:
    original = vars(base.SyncAPIClient)["post"]
    monkeypatch.setenv("OTEL_LLM_SECURITY_WARM_UP", "maybe")
    with pytest.raises(PolicyError, match="OTEL_LLM_SECURITY_WARM_UP"):
        instrument()
    assert vars(base.SyncAPIClient)["post"] is original and patch.runtime is None
