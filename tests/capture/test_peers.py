"""Exactly one LLM span per call carries our record: alone and next to each peer.

Each set-up runs peer_app.py in its own process (peers patch the client globally) with
the real guard in enforce mode, and the test checks every scenario's spans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_llm_security import attributes as a

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
V2_COMPAT = ROOT / ".venv" / "compat-openai-v2"
LLM_MARKERS = (a.GEN_AI_OPERATION_NAME, a.GEN_AI_SYSTEM, "llm.request.type")
PEER_SPAN_NAMES = {
    "none": "chat gpt-4o-mini",
    "traceloop": "openai.chat",
    "genai": "chat gpt-4o-mini",
    "v2": "chat gpt-4o-mini",
}


def run_app(peer: str) -> dict[str, Any]:
    env = dict(os.environ, OTEL_LLM_SECURITY_MODE="enforce", OTEL_LLM_SECURITY_HASH_KEY="peer-test-key",
               OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental")
    env.pop("OTEL_LLM_SECURITY_POLICY", None)
    if peer == "v2":
        if not (V2_COMPAT / "opentelemetry").is_dir():
            pytest.skip(f"{V2_COMPAT} missing: run scripts/setup.sh (openai-v2 needs util-genai<1.3 beside the venv)")
        env["PYTHONPATH"] = os.pathsep.join([str(V2_COMPAT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, str(HERE / "peer_app.py"), peer], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["none", "traceloop", "genai", "v2"])
def peer_run(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, run_app(request.param)


def llm_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if any(m in s["attributes"] for m in LLM_MARKERS)]


def recorded(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if a.LLM_SECURITY_MODE in s["attributes"]]


SCENARIOS = ["chat", "blocked", "stream_exhausted", "stream_break", "stream_close", "stream_exit", "stream_blocked",
             "embeddings", "async_chat", "async_stream_exhausted", "async_stream_break", "async_stream_blocked"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_exactly_one_llm_span_carries_the_record(peer_run, scenario) -> None:
    peer, runs = peer_run
    spans = runs[scenario]
    llm = llm_spans(spans)
    assert len(llm) == 1, (peer, scenario, [s["name"] for s in spans])
    [span] = recorded(spans)
    assert span is llm[0]
    attrs = span["attributes"]
    assert attrs[a.LLM_SECURITY_MODE] == "enforce"
    assert len(attrs[a.LLM_SECURITY_INPUT_HASH]) == 64
    assert attrs[a.LLM_SECURITY_INPUT_LENGTH] > 0
    if scenario in ("chat", "async_chat", "stream_exhausted", "async_stream_exhausted"):
        assert span["name"] == PEER_SPAN_NAMES[peer]


def test_block_is_on_the_peer_span(peer_run) -> None:
    _, runs = peer_run
    assert runs["blocked_exception"][0]["name"] == "OpenAIRequestBlocked"
    [span] = recorded(runs["blocked"])
    attrs = span["attributes"]
    assert span["status"] == "ERROR"
    assert attrs[a.LLM_SECURITY_BLOCKED] is True
    assert attrs[a.LLM_SECURITY_ACTION] == "block"
    assert "prompt_injection" in attrs[a.LLM_SECURITY_THREATS]
    assert attrs["llm.security.input.prompt_injection.score"] > 0.5
    assert "OpenAIRequestBlocked" in str(attrs[a.ERROR_TYPE])


@pytest.mark.parametrize("scenario", ["stream_blocked", "async_stream_blocked"])
def test_stream_blocked_mid_way_is_recorded_on_the_llm_span(peer_run, scenario) -> None:
    # Enforce mode: an XSS payload after 3,000 characters of a 9 KB streamed answer stops
    # delivery within a window; the record is on the one LLM span, which has ended.
    peer, runs = peer_run
    [exc] = runs[f"{scenario}_exception"]
    assert exc["name"] == "OpenAIRequestBlocked", (peer, scenario)
    delivered = exc["attributes"]["delivered"]
    assert 3000 < delivered < 3000 + 42 + 2048 + 256 + 32 * 4, delivered
    [span] = recorded(runs[scenario])
    attrs = span["attributes"]
    assert attrs[a.LLM_SECURITY_BLOCKED] is True
    assert attrs[a.LLM_SECURITY_ACTION] == "block"
    assert list(attrs[a.LLM_SECURITY_THREATS]) == ["insecure_output"]
    assert attrs[a.LLM_SECURITY_BLOCK_REASON] == "output scanner insecure_output (insecure_output; score 0.90)"
    assert attrs[a.LLM_SECURITY_OUTPUT_LENGTH] == delivered + exc["attributes"]["piece"]  # and the withheld chunk
    assert "OpenAIRequestBlocked" in str(attrs[a.ERROR_TYPE])
    # Traceloop's stream wrapper ends its span with status OK after any error raised
    # while iterating (its cleanup overwrites the status), so only error.type says it.
    assert span["status"] == ("OK" if peer == "traceloop" else "ERROR"), (peer, scenario)


def test_stream_record_has_output_and_usage(peer_run) -> None:
    _, runs = peer_run
    for scenario in ("stream_exhausted", "async_stream_exhausted"):
        [span] = recorded(runs[scenario])
        attrs = span["attributes"]
        assert attrs[a.LLM_SECURITY_OUTPUT_LENGTH] == len("a streamed answer"), scenario
        assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
        assert attrs[a.LLM_SECURITY_TOKENS_ESTIMATED] is False
    for scenario in ("stream_break", "stream_close", "stream_exit", "async_stream_break"):
        [span] = recorded(runs[scenario])
        assert span["attributes"][a.LLM_SECURITY_TOKENS_ESTIMATED] is True, scenario


def test_responses_api_record(peer_run) -> None:
    peer, runs = peer_run
    spans = runs["responses"]
    [span] = recorded(spans)
    assert span["attributes"][a.LLM_SECURITY_OUTPUT_LENGTH] > 0
    # Traceloop opens its Responses span only after the call returned, so it cannot be
    # enriched: ours carries the record and Traceloop's stays beside it.
    assert len(llm_spans(spans)) == (2 if peer == "traceloop" else 1)
