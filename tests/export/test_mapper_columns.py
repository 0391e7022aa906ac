"""The column mapper (what ``collect`` writes to the store) gives exactly the columns that
flattening the nested documents of ``map_request`` gives: same fields, same values, same
order of first appearance (which is the order new store columns are created in)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_mapper import InvalidSpanError, map_request, map_request_columns
from otel_llm_security.export.otlp_receiver import request_batch
from otel_llm_security.store.duckdb_store import (
    ColumnBatch,
    DocumentStore,
    MappingError,
    arrow_batch,
    column_batch,
)
from otel_llm_security.testing.otlp import any_value, key_values

BENCH = Path(__file__).resolve().parents[2] / "bench" / "store.py"
T0 = 1_740_823_200_123_456_789


av = any_value
kvs = key_values


def span(i: int, attrs: dict[str, Any], *, parent: bool = True, kind: int = Span.SPAN_KIND_CLIENT,
         status: int = Status.STATUS_CODE_UNSET, events: list[Span.Event] | None = None,
         links: list[Span.Link] | None = None, trace_state: str = "") -> Span:
    return Span(
        trace_id=bytes([i % 255 + 1]) * 16, span_id=bytes([i % 255 + 1]) * 8,
        parent_span_id=bytes([(i + 7) % 255 + 1]) * 8 if parent else b"", name=f"op {i}", kind=kind,
        start_time_unix_nano=T0 + i * 1_234_567_891, end_time_unix_nano=T0 + i * 1_234_567_891 + 5_000_000,
        attributes=kvs(attrs), status=Status(code=status), events=events or [], links=links or [],
        trace_state=trace_state,
    )


def varied_request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs({
        "service.name": "chat app/1", "service.version": "2.1", "service.instance.id": "pod-1",
        "deployment.environment.name": "prod", "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.45", "telemetry.distro.name": "elastic",
        "host.name": "h1", "host.arch": "amd64", "os.type": "linux", "os.description": "Debian",
        "process.pid": 42, "process.runtime.name": "cpython", "cloud.provider": "aws", "cloud.account.id": "1",
        "container.id": "c1", "k8s.pod.name": "p", "k8s.node.name": "n", "team": "search", "replicas": 3,
        "zones": ["a", "b"], "weights": [0.5, 1.5], "blob": b"\x00", "nested": {"a": 1},
    }))
    ss = rs.scope_spans.add()
    ss.scope.name = "otel_llm_security"
    ss.scope.version = "0.1"
    ss.spans.extend([
        span(1, {A.GEN_AI_SYSTEM: "openai", A.GEN_AI_OPERATION_NAME: "chat", A.LLM_SECURITY_BLOCKED: True,
                 A.LLM_SECURITY_THREATS: ["prompt_injection", "jailbreak"], A.LLM_SECURITY_RISK_SCORE: 0.97,
                 A.SERVER_ADDRESS: "api.openai.com", A.SERVER_PORT: 443, A.SESSION_ID: "s1",
                 "long": "x" * 1500, "nan": float("nan"), "inf": float("-inf"), "flags": [True, False],
                 "ints": [1, 2, "three"], "mixed": [1.5, float("nan"), 2.5], "empty": [], "map": {"k": "v"},
                 "bytes": b"\x01"},
             status=Status.STATUS_CODE_ERROR,
             events=[
                 Span.Event(time_unix_nano=T0 + 1, name=A.EVENT_SECURITY_FINDING,
                            attributes=kvs({A.SECURITY_GUARDRAIL_NAME: "prompt_injection", A.SECURITY_RISK_SCORE: 0.9})),
                 Span.Event(time_unix_nano=T0 + 2, name="exception",
                            attributes=kvs({"exception.type": "ValueError", "exception.message": "bad",
                                            "exception.stacktrace": "tb", "exception.escaped": True, "extra": 1})),
                 Span.Event(time_unix_nano=T0 + 3, name="exception", attributes=kvs({"note": "no type"})),
             ],
             links=[Span.Link(trace_id=b"\x05" * 16, span_id=b"\x06" * 8),
                    Span.Link(trace_id=b"\x07" * 16, span_id=b"\x08" * 8)],
             trace_state="ot=p:3;r:10"),
        span(2, {"http.request.method": "POST", "http.response.status_code": 503, "url.full": "https://x.test:8443/a?b",
                 "user_agent.original": "curl", "net.host.port": 8080, A.SESSION_ID: "s2", A.GEN_AI_SYSTEM: "openai",
                 "type": "job", "rpc.system": "grpc", "score": 1},
             parent=False, kind=Span.SPAN_KIND_SERVER, status=Status.STATUS_CODE_OK,
             events=[Span.Event(time_unix_nano=T0 + 4, name="exception",
                                attributes=kvs({"exception.message": "boom"})),
                     Span.Event(time_unix_nano=T0 + 5, name="log line", attributes=kvs({"k": "v"}))]),
        span(3, {"db.system": "postgresql", "db.statement": "SELECT 1", "db.name": "app", "db.user": "u",
                 "net.peer.name": "db", "net.peer.port": 5432, "peer.service": "pg"}),
        span(4, {"messaging.system": "kafka", "messaging.destination": "q", "http.url": "http://h/x"},
             kind=Span.SPAN_KIND_PRODUCER),
        span(5, {"http.method": "GET", "http.target": "/p", "http.host": "h:81", "http.status_code": "200"},
             kind=Span.SPAN_KIND_INTERNAL),
        span(6, {}, kind=Span.SPAN_KIND_CONSUMER, parent=True),
    ])
    rs2 = req.resource_spans.add()
    rs2.resource.attributes.extend(kvs({"service.name": "other", "deployment.environment": "dev", "team": 7}))
    ss2 = rs2.scope_spans.add()
    ss2.spans.extend([span(7, {"team": "x", A.LLM_SECURITY_BLOCKED: False},
                           events=[Span.Event(time_unix_nano=T0 + 6, name="e")])])
    ss3 = rs2.scope_spans.add()
    ss3.scope.name = "second-scope"
    ss3.spans.extend([span(8, {"rpc.system": "grpc", "rpc.service": "S", "rpc.grpc.status_code": 2})])
    return req


def bench_request() -> ExportTraceServiceRequest:
    spec = importlib.util.spec_from_file_location("bench_store", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    req = ExportTraceServiceRequest()
    req.ParseFromString(mod.make_batch(random.Random(3), 300, T0))
    return req


def same(a: Any, b: Any) -> bool:
    """Equal values of the same Python type (1 and 1.0 differ: they take different column types)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("make", [varied_request, bench_request])
@pytest.mark.parametrize("namespace", ["default", "staging"])
def test_columns_equal_the_flattened_documents(make: Any, namespace: str) -> None:
    req = make()
    expected = column_batch(map_request(req, namespace=namespace))
    ids, indexes, columns = map_request_columns(req, namespace=namespace)
    assert ids == expected.ids
    assert indexes == expected.indexes
    assert list(columns) == list(expected.columns)  # order of first appearance: the store's column order
    for name, values in expected.columns.items():
        got = columns[name]
        assert len(got) == len(values) == len(ids), name
        bad = [(i, x, y) for i, (x, y) in enumerate(zip(got, values, strict=True)) if not same(x, y)]
        assert not bad, (name, bad[:3])


def test_varied_request_covers_every_document_kind() -> None:
    _, indexes, columns = map_request_columns(varied_request())
    assert {"traces-apm-default", "logs-apm.error-default", "logs-apm.app.chat_app_1-default",
            "logs-apm.app.other-default"} <= set(indexes)
    assert {"span.links.trace.id", "transaction.result", "span.db.statement", "error.exception.type"} <= set(columns)


def test_stores_written_both_ways_hold_the_same_rows() -> None:
    req = varied_request()
    with DocumentStore() as a, DocumentStore() as b:
        a.write(map_request(req))
        b.write_batch(request_batch(req, "default", keep_source=False))
        assert a.fields() == b.fields()
        cols = ", ".join(f'"{n}"' for n in a.fields())
        q = f"SELECT _id, _index, {cols} FROM docs ORDER BY _id"
        assert a.connection.execute(q).fetchall() == b.connection.execute(q).fetchall()


def test_invalid_ids_are_refused_by_the_column_mapper_too() -> None:
    req = varied_request()
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01" * 3
    with pytest.raises(InvalidSpanError):
        map_request_columns(req)


def _rows(store: DocumentStore) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{n}"' for n in sorted(store.fields()))
    return store.connection.execute(f"SELECT _id, _index, {cols} FROM docs ORDER BY _id, _index").fetchall()


def test_arrow_batches_from_workers_write_the_same_rows() -> None:
    """collect --workers ships Arrow arrays; the store must write what it writes for lists,
    including coercions (bool into keyword, str into long), widening and new multi fields."""
    first = ColumnBatch(["1", "2"], ["i", "i"], {
        "@timestamp": ["2025-03-01T10:00:00.123Z", "2025-03-01T10:00:01.000Z"],
        "labels.a": ["x", None], "n": [1, 2], "f": [0.5, None], "b": [True, False], "k": ["p", "q"],
    })
    second = ColumnBatch(["3", "4", "5"], ["i", "j", "j"], {
        "@timestamp": ["2025-03-01T10:00:02.5Z", None, "2025-03-02T00:00:00.000Z"],
        "labels.a": [True, False, None],  # bools into a keyword field: "true"/"false"
        "n": [3.5, None, 4.0],  # fractions into a dynamic long field: widened to double
        "f": [1, 2, None],  # ints into a double field
        "b": [None, True, None],
        "k": [["r", "s"], "t", None],  # becomes multi-valued
        "new_s": ["u", "v", "w"], "new_i": [7, None, 9], "nulls": [None, None, None],
        "numeric_labels.big": [2**70, None, None],  # does not fit int64: stays a list
    })
    with DocumentStore() as plain, DocumentStore() as arrow:
        for batch in (first, second):
            plain.write_batch(batch)
            converted = arrow_batch(batch)
            arrow.write_batch(converted)
        assert any(type(v) is not list for v in converted.columns.values())
        assert plain.fields() == arrow.fields()
        assert _rows(plain) == _rows(arrow)


def test_arrow_batch_of_mapped_requests_writes_the_same_rows() -> None:
    with DocumentStore() as plain, DocumentStore() as arrow:
        for make in (varied_request, bench_request, varied_request):
            batch = request_batch(make(), "default", keep_source=False)
            plain.write_batch(batch)
            arrow.write_batch(arrow_batch(batch))
        assert plain.fields() == arrow.fields()
        assert _rows(plain) == _rows(arrow)


def test_a_value_that_fits_no_field_is_refused_from_an_arrow_batch_too() -> None:
    with DocumentStore() as store:
        store.write_batch(arrow_batch(ColumnBatch(["1"], ["i"], {"n": [1]})))
        with pytest.raises(MappingError):
            store.write_batch(arrow_batch(ColumnBatch(["2"], ["i"], {"n": ["abc"]})))
        assert store.count() == 1
