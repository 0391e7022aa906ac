"""A real collector hop: SDK → rotel (a Rust OTLP collector: OTLP in, batching, OTLP/HTTP gzip out)
→ our receiver → store. Checks that what a collector re-encodes and re-batches still maps
to the same documents."""

from __future__ import annotations

import os
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from otel_llm_security import attributes as A
from otel_llm_security.export.otlp_receiver import OtlpReceiver
from otel_llm_security.store.duckdb_store import DocumentStore

rotel = pytest.importorskip("rotel", reason="rotel (dev extra) ships the collector binary")


def rotel_binary() -> tuple[Path, dict[str, str]]:
    binary = Path(rotel.__file__).parent / "rotel-agent"
    # the agent links libpython (for its Python processors)
    env = {**os.environ, "LD_LIBRARY_PATH": str(sysconfig.get_config_var("LIBDIR") or "")}
    probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=env, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"rotel-agent does not run here: {probe.stderr.strip()[:200]}")
    return binary, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hop(tmp_path: Path) -> Iterator[tuple[str, DocumentStore]]:
    binary, env = rotel_binary()
    store = DocumentStore()
    receiver = OtlpReceiver(store, port=0).start()
    http_port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(binary), "start", "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
         "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}", "--exporter", "otlp",
         "--otlp-exporter-endpoint", receiver.http_endpoint, "--otlp-exporter-protocol", "http",
         "--otlp-exporter-compression", "gzip", "--batch-timeout", "200ms",
         "--otlp-receiver-metrics-disabled", "--otlp-receiver-logs-disabled"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"rotel exited: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{http_port}", store
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        receiver.stop()
        store.close()


def test_spans_through_a_real_collector_map_to_the_same_documents(hop: tuple[str, DocumentStore]) -> None:
    endpoint, store = hop
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    tracer = provider.get_tracer("otel_llm_security", "0.1.0")
    attrs = {A.GEN_AI_SYSTEM: "openai", A.LLM_SECURITY_BLOCKED: True, A.GEN_AI_USAGE_INPUT_TOKENS: 12,
             A.LLM_SECURITY_THREATS: ["prompt_injection", "secret"], A.LLM_SECURITY_RISK_SCORE: 0.93}
    for _ in range(3):
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER), \
                tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attrs) as span:
            span.add_event(A.EVENT_SECURITY_FINDING, {A.SECURITY_GUARDRAIL_NAME: "prompt_injection"})
    provider.shutdown()

    deadline = time.monotonic() + 30  # rotel batches for up to 200 ms, then exports
    while time.monotonic() < deadline and store.count() < 9:
        time.sleep(0.1)
    assert store.count() == 9  # 3 transactions, 3 spans, 3 finding logs
    rows = store.connection.execute(
        'SELECT "span.type", "span.subtype", "labels.llm_security_blocked", "numeric_labels.gen_ai_usage_input_tokens", '
        '"labels.llm_security_threats", "numeric_labels.llm_security_risk_score", "service.name", '
        '"service.framework.name" FROM docs WHERE "processor.event" = \'span\''
    ).fetchall()
    assert rows == [("genai", "openai", "true", 12.0, ["prompt_injection", "secret"], 0.93, "support-bot",
                     "otel_llm_security")] * 3
    assert store.connection.execute(
        "SELECT count(*) FROM docs WHERE _index = 'logs-apm.app.support_bot-default'").fetchone() == (3,)
