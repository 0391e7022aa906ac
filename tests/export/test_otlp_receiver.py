"""The local OTLP receiver and the in-process store exporter."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _collect import start_collect, stop_collect  # tests/export/_collect.py
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_llm_security import attributes as A
from otel_llm_security.export.otlp_receiver import OtlpReceiver
from otel_llm_security.export.store_exporter import StoreSpanExporter
from otel_llm_security.store.duckdb_store import DocumentStore

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"


@pytest.fixture
def store() -> Iterator[DocumentStore]:
    with DocumentStore() as s:
        yield s


@pytest.fixture
def receiver(store: DocumentStore) -> Iterator[OtlpReceiver]:
    with OtlpReceiver(store, port=0, max_body=1 << 20) as r:
        yield r


def provider_with(exporter) -> TracerProvider:  # type: ignore[no-untyped-def]
    provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def emit(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test")
    attrs = {
        A.GEN_AI_SYSTEM: "openai", A.LLM_SECURITY_BLOCKED: True, A.GEN_AI_USAGE_INPUT_TOKENS: 12,
        A.LLM_SECURITY_THREATS: ["prompt_injection", "secret"],
    }
    with tracer.start_as_current_span("handler", kind=SpanKind.SERVER), \
            tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attrs):
        pass


def llm_rows(store: DocumentStore) -> list[tuple]:
    return store.connection.execute(
        'SELECT "labels.llm_security_blocked", "numeric_labels.gen_ai_usage_input_tokens", "span.type", '
        '"service.name" FROM docs WHERE "processor.event" = \'span\''
    ).fetchall()


def json_body(trace_id: str = TRACE_HEX) -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
            "traceId": trace_id, "spanId": SPAN_HEX, "parentSpanId": PARENT_HEX, "name": "chat m", "kind": 3,
            "startTimeUnixNano": "1740823200000000000", "endTimeUnixNano": "1740823201000000000",
            "attributes": [
                {"key": "llm.security.blocked", "value": {"boolValue": True}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}},
            ],
            "links": [{"traceId": TRACE_HEX, "spanId": PARENT_HEX}],
            "unknownFutureField": 1,
        }]}],
    }]}


def status_message(resp: httpx.Response) -> str:
    if resp.headers["content-type"] == "application/json":
        return resp.json()["message"]
    st = status_pb2.Status()
    st.ParseFromString(resp.content)
    return st.message


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_otlp_http_exporter_lands_in_the_store(receiver: OtlpReceiver, store: DocumentStore,
                                                   compression: Compression) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.http_endpoint + "/v1/traces", compression=compression)
    emit(provider_with(exporter))
    # SimpleSpanProcessor exports synchronously: the ack came after the commit, so the rows are there.
    assert llm_rows(store) == [("true", 12.0, "genai", "chat-app")]
    assert store.count() == 2
    assert receiver.stats.spans == 2 and receiver.stats.rejected == 0


def test_otlp_json_with_hex_ids(receiver: OtlpReceiver, store: DocumentStore) -> None:
    resp = httpx.post(receiver.http_endpoint + "/v1/traces", json=json_body())
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    row = store.connection.execute(
        'SELECT "trace.id", "span.id", "parent.id", "labels.llm_security_blocked", '
        '"numeric_labels.gen_ai_usage_input_tokens", "span.links.span.id" FROM docs'
    ).fetchone()
    assert row == (TRACE_HEX, SPAN_HEX, PARENT_HEX, "true", 7.0, PARENT_HEX)


def test_gzip_json(receiver: OtlpReceiver, store: DocumentStore) -> None:
    resp = httpx.post(receiver.http_endpoint + "/v1/traces", content=gzip.compress(json.dumps(json_body()).encode()),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert resp.status_code == 200
    assert store.count() == 1


@pytest.mark.parametrize(
    ("content", "headers", "status", "reason"),
    [
        (b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 400, "not a protobuf"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"[]", {"Content-Type": "application/json"}, 400, "object with resourceSpans"),
        (json.dumps(json_body(trace_id="zz")).encode(), {"Content-Type": "application/json"}, 400, "traceId is not hex"),
        (json.dumps(json_body(trace_id="abcd")).encode(), {"Content-Type": "application/json"}, 400, "16 bytes"),
        (b"x", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"not gzip", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b"\0" * (2 << 20)), {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
         413, "exceeds"),
        (b"\0" * ((1 << 20) + 1), {"Content-Type": "application/x-protobuf"}, 413, "exceeds the limit"),
        (b"x", {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415, "Content-Encoding"),
    ],
)
def test_bad_requests_get_a_reason_and_store_nothing(receiver: OtlpReceiver, store: DocumentStore, content: bytes,
                                                     headers: dict, status: int, reason: str) -> None:
    resp = httpx.post(receiver.http_endpoint + "/v1/traces", content=content, headers=headers)
    assert resp.status_code == status
    assert reason in status_message(resp)
    assert store.count() == 0
    # the server survives and keeps serving
    assert httpx.post(receiver.http_endpoint + "/v1/traces", json=json_body()).status_code == 200


def test_other_signals_are_refused_with_a_reason(receiver: OtlpReceiver) -> None:
    resp = httpx.post(receiver.http_endpoint + "/v1/logs", content=b"", headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 404
    assert "traces only" in status_message(resp)


def test_chunked_body_is_refused(receiver: OtlpReceiver) -> None:
    def gen() -> Iterator[bytes]:
        yield b"abc"

    resp = httpx.post(receiver.http_endpoint + "/v1/traces", content=gen(), headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 411


def test_store_failure_is_retryable_503(receiver: OtlpReceiver, store: DocumentStore) -> None:
    store.close()  # every write now fails inside DuckDB
    resp = httpx.post(receiver.http_endpoint + "/v1/traces", content=ExportTraceServiceRequest().SerializeToString()
                      + _one_span_request(), headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"


def _one_span_request() -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    mem = InMemorySpanExporter()
    emit(provider_with(mem))
    return encode_spans(mem.get_finished_spans()).SerializeToString()


def test_grpc(store: DocumentStore) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    with OtlpReceiver(store, port=0, grpc_port=0) as r:
        assert r.grpc_port
        exporter = GrpcExporter(endpoint=f"127.0.0.1:{r.grpc_port}", insecure=True)
        emit(provider_with(exporter))
        exporter.shutdown()
    assert llm_rows(store) == [("true", 12.0, "genai", "chat-app")]


def test_store_span_exporter_in_process(store: DocumentStore) -> None:
    exporter = StoreSpanExporter(store)
    emit(provider_with(exporter))
    assert llm_rows(store) == [("true", 12.0, "genai", "chat-app")]
    exporter.shutdown()
    assert store.count() == 2  # a store passed in stays open


def test_store_span_exporter_writes_what_the_document_path_writes(store: DocumentStore) -> None:
    """The exporter takes the receiver's column path; it must store exactly the documents
    the nested mapper gives for the same spans (events, exceptions and multi-values too)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_llm_security.export.apm_mapper import map_readable_spans

    mem = InMemorySpanExporter()
    provider = provider_with(mem)
    emit(provider)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes={A.GEN_AI_SYSTEM: "openai"}) as sp:
        sp.add_event(A.EVENT_SECURITY_FINDING, {"llm.security.scanner": "pii", "llm.security.score": 0.9})
        sp.record_exception(ValueError("boom"))
    spans = mem.get_finished_spans()

    StoreSpanExporter(store).export(spans)
    with DocumentStore() as reference:
        reference.write(map_readable_spans(spans))
        expected = sorted(reference.documents(), key=repr)
    assert sorted(store.documents(), key=repr) == expected
    assert len(expected) == 5  # 3 spans, one finding event, one exception


def test_store_span_exporter_owns_a_store_opened_by_path(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    exporter = StoreSpanExporter(path)
    emit(provider_with(exporter))
    exporter.shutdown()
    with DocumentStore(path, read_only=True) as s:
        assert s.count() == 2


def test_store_span_exporter_reports_failure(store: DocumentStore) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    mem = InMemorySpanExporter()
    emit(provider_with(mem))
    exporter = StoreSpanExporter(store)
    store.close()
    assert exporter.export(mem.get_finished_spans()) is SpanExportResult.FAILURE


def test_collect_command_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "collect.duckdb"
    proc, endpoint = start_collect(path)
    try:
        exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
        emit(provider_with(exporter))
    finally:
        out, err = stop_collect(proc)
    assert proc.returncode == 0, err
    assert "2 spans, 2 documents stored" in out
    with DocumentStore(path, read_only=True) as s:
        assert llm_rows(s) == [("true", 12.0, "genai", "chat-app")]


def test_collect_reports_a_store_in_use(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from otel_llm_security.store.duckdb_store import DocumentStore as D; "
                               f"s = D({str(path)!r}); print('ready', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        out = subprocess.run([sys.executable, "-m", "otel_llm_security.cli.main", "collect", "--store", str(path),
                              "--port", "0"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert "in use by another process" in out.stderr
    finally:
        holder.communicate("\n", timeout=30)


def test_acknowledged_spans_survive_a_killed_collect(tmp_path: Path) -> None:
    """Ack only after commit: SIGKILL right after the last 200 loses nothing (DuckDB replays its WAL)."""
    path = tmp_path / "crash.duckdb"
    proc, endpoint = start_collect(path)
    try:
        body = _one_span_request()
        for _ in range(5):
            resp = httpx.post(endpoint + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
            assert resp.status_code == 200
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    with DocumentStore(path, read_only=True) as s:
        assert s.count() == 10


def test_worker_processes_map_and_the_ack_still_follows_the_commit(store: DocumentStore) -> None:
    with OtlpReceiver(store, port=0, workers=1) as r:
        exporter = OTLPSpanExporter(endpoint=r.http_endpoint + "/v1/traces")
        emit(provider_with(exporter))
        assert llm_rows(store) == [("true", 12.0, "genai", "chat-app")]
        resp = httpx.post(r.http_endpoint + "/v1/traces", content=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"})
        assert resp.status_code == 400 and "not a protobuf" in status_message(resp)
        resp = httpx.post(r.http_endpoint + "/v1/traces", json=json_body(trace_id="abcd"))
        assert resp.status_code == 400 and "16 bytes" in status_message(resp)
    assert r.stats.spans == 2 and r.stats.rejected == 2


def _post_pb(r: OtlpReceiver, body: bytes) -> httpx.Response:
    return httpx.post(r.http_endpoint + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"},
                      timeout=60)


def _span_request(**span_fields) -> ExportTraceServiceRequest:  # type: ignore[no-untyped-def]
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    base = {"trace_id": b"\x01" * 16, "span_id": b"\x02" * 8, "name": "s",
            "start_time_unix_nano": 1_740_000_000_000_000_000, "end_time_unix_nano": 1_740_000_000_100_000_000}
    ss.spans.append(Span(**{**base, **span_fields}))
    return req


def test_hostile_but_valid_spans_are_stored_safely(receiver: OtlpReceiver, store: DocumentStore) -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    many = [KeyValue(key=f"k{i}", value=AnyValue(int_value=i)) for i in range(300)]
    huge = [KeyValue(key="big", value=AnyValue(string_value="x" * 500_000))]
    backwards = {"end_time_unix_nano": 1}  # ends before it starts
    for fields in ({"attributes": many}, {"attributes": huge}, backwards):
        assert _post_pb(receiver, _span_request(**fields).SerializeToString()).status_code == 200
    assert store.count() == 3
    assert store.connection.execute('SELECT length("labels.big") FROM docs WHERE "labels.big" IS NOT NULL').fetchone() == (1024,)
    assert store.connection.execute('SELECT min("transaction.duration.us") FROM docs').fetchone() == (0,)
    assert len([f for f in store.fields() if f.startswith("numeric_labels.k")]) == 300


def test_a_mapping_explosion_is_refused_like_elasticsearch_does(receiver: OtlpReceiver, store: DocumentStore) -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    flood = [KeyValue(key=f"uuid.{i:08x}", value=AnyValue(string_value="v")) for i in range(1200)]
    resp = _post_pb(receiver, _span_request(attributes=flood).SerializeToString())
    assert resp.status_code == 400
    assert "Limit of total fields [1000] has been exceeded" in status_message(resp)
    assert store.count() == 0 and not any(f.startswith("labels.uuid") for f in store.fields())
    assert _post_pb(receiver, _span_request().SerializeToString()).status_code == 200


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, encoded by hand (to build what the library refuses to)."""
    from google.protobuf.internal.encoder import _VarintBytes

    return _VarintBytes(field << 3 | 2) + _VarintBytes(len(payload)) + payload


def test_deeply_nested_values_and_bad_utf8_are_rejected(receiver: OtlpReceiver, store: DocumentStore) -> None:
    value = _ld(1, b"leaf")  # AnyValue{string_value}
    for _ in range(300):  # AnyValue{kvlist_value: KeyValueList{values: [KeyValue{key: "n", value}]}}
        value = _ld(6, _ld(1, _ld(1, b"n") + _ld(2, value)))
    span = _span_request().resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    span += _ld(9, _ld(1, b"deep") + _ld(2, value))  # Span.attributes
    deep = _ld(1, _ld(2, _ld(2, span)))  # request.resource_spans.scope_spans.spans
    resp = _post_pb(receiver, deep)
    assert resp.status_code == 400 and "not a protobuf" in status_message(resp)
    good = _span_request(name="ok-name").SerializeToString()
    bad_utf8 = good.replace(b"ok-name", b"ok\xff\xfeme")
    resp = _post_pb(receiver, bad_utf8)
    assert resp.status_code == 400 and "not a protobuf" in status_message(resp)
    assert store.count() == 0
