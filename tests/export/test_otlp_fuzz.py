"""Property-based: whatever OTLP a client sends, the receiver's pipeline answers cleanly.

Hypothesis draws export requests (any attribute keys and values, nested arrays and
maps, bytes, NaN, ids of any length, out-of-range enums, events, links, resources) and
raw bodies (garbage bytes, any JSON). ``prepare`` (parse, map, flatten: what both the
HTTP and gRPC front ends run) must return a batch or a client error, never raise; a
batch holds one document per span (nothing lost) and the store then takes it or refuses
it with a MappingError (HTTP 400), and, taken, holds exactly those documents. The
``ci`` profile (tests/conftest.py) derandomizes the draws.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status  # noqa: E402

from otel_llm_security import attributes as a  # noqa: E402
from otel_llm_security.export.otlp_receiver import JSON, PROTOBUF, prepare  # noqa: E402
from otel_llm_security.store.duckdb_store import DocumentStore, MappingError  # noqa: E402

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys our mapper and rules read, so draws reach their code paths, plus anything else.
KNOWN_KEYS = [
    "service.name",
    "deployment.environment",
    a.GEN_AI_OPERATION_NAME,
    a.GEN_AI_SYSTEM,
    a.GEN_AI_REQUEST_MODEL,
    a.LLM_SECURITY_ACTION,
    a.LLM_SECURITY_THREATS,
    a.LLM_SECURITY_RISK_SCORE,
    a.LLM_SECURITY_BLOCKED,
    a.LLM_SECURITY_INPUT_HASH,
    "http.response.status_code",
    "url.full",
    "error.type",
    "labels",
    "labels.x",
    "a.b.c",
    "",
    ".",
    "x" * 300,
]
KEY = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=20))
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALAR_VALUE = st.one_of(
    st.text(max_size=50).map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    INT64.map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: AnyValue(double_value=f)),
    st.binary(max_size=20).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),  # no value set
)
VALUE = st.recursive(
    SCALAR_VALUE,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.lists(st.tuples(KEY, inner), max_size=3).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs]))
        ),
    ),
    max_leaves=6,
)
ATTRIBUTES = st.lists(st.tuples(KEY, VALUE), max_size=8).map(lambda kvs: [KeyValue(key=k, value=v) for k, v in kvs])
TIME = st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.just(1_740_000_000_000_000_000))
ID16 = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
ID8 = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))


@st.composite
def spans(draw: Any) -> Span:
    span = Span(
        trace_id=draw(ID16),
        span_id=draw(ID8),
        parent_span_id=draw(st.one_of(st.just(b""), ID8)),
        name=draw(st.text(max_size=40)),
        kind=draw(st.integers(min_value=0, max_value=9)),
        start_time_unix_nano=draw(TIME),
        end_time_unix_nano=draw(TIME),
        attributes=draw(ATTRIBUTES),
        status=Status(code=draw(st.integers(min_value=0, max_value=4)), message=draw(st.text(max_size=20))),
        trace_state=draw(st.text(max_size=20)),
    )
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        event = span.events.add(name=draw(st.text(max_size=20)), time_unix_nano=draw(TIME))
        event.attributes.extend(draw(ATTRIBUTES))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        link = span.links.add(trace_id=draw(ID16), span_id=draw(ID8))
        link.attributes.extend(draw(ATTRIBUTES))
    return span


@st.composite
def requests(draw: Any) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(draw(ATTRIBUTES))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(st.text(max_size=20))
            ss.spans.extend(draw(st.lists(spans(), max_size=3)))
    return req


def _spans_in(req: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _check(result: tuple[Any, ...]) -> None:
    assert result[0] in ("ok", "error"), result
    if result[0] == "error":
        assert result[1] == HTTPStatus.BAD_REQUEST and result[2], result


@FUZZ
@given(req=requests())
def test_any_export_request_is_stored_whole_or_refused_with_a_reason(req: ExportTraceServiceRequest) -> None:
    body = req.SerializeToString()
    result = prepare(body, PROTOBUF, "default", keep_source=False)
    _check(result)
    if result[0] == "error":
        return
    _, span_count, batch = result
    assert span_count == _spans_in(req)
    # One trace document per span (nothing lost), plus an error or log document per
    # span event as APM Server makes them (an "exception" event with neither type nor
    # message makes none there either).
    assert sum(index.startswith("traces-apm") for index in batch.indexes) == span_count
    events = sum(len(span.events) for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans)
    assert span_count <= len(batch.ids) <= span_count + events
    with DocumentStore() as store:
        try:
            written = store.write_batch(batch)
        except MappingError:
            return  # a 400 naming the field, as Elasticsearch answers a mapping conflict
        assert written == len(batch.ids) == store.count()


@FUZZ
@given(req=requests())
def test_the_json_encoding_gets_the_same_answer_as_protobuf(req: ExportTraceServiceRequest) -> None:
    from google.protobuf import json_format

    obj = json_format.MessageToDict(req)
    for rs in obj.get("resourceSpans", []):  # OTLP/JSON: ids are hex, not base64
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        import base64

                        span[key] = base64.b64decode(span[key]).hex()
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = base64.b64decode(link[key]).hex()
    from_json = prepare(json.dumps(obj).encode(), JSON, "default", keep_source=False)
    from_pb = prepare(req.SerializeToString(), PROTOBUF, "default", keep_source=False)
    _check(from_json)
    assert from_json[0] == from_pb[0]
    if from_pb[0] == "ok":
        assert from_json[1] == from_pb[1]
        assert sorted(from_json[2].ids) == sorted(from_pb[2].ids)


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)),
    max_leaves=10,
)
OTLP_JSON_SHAPE = st.fixed_dictionaries(
    {"resourceSpans": st.one_of(JSON_VALUE, st.lists(st.fixed_dictionaries(
        {"scopeSpans": st.one_of(JSON_VALUE, st.lists(st.fixed_dictionaries(
            {"spans": st.one_of(JSON_VALUE, st.lists(st.dictionaries(
                st.sampled_from(["traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
                                 "endTimeUnixNano", "attributes", "events", "links", "status"]),
                JSON_VALUE, max_size=6), max_size=2))}), max_size=2))},
        optional={"resource": JSON_VALUE}), max_size=2))}
)


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), JSON_VALUE.map(lambda v: json.dumps(v).encode()),
                      OTLP_JSON_SHAPE.map(lambda v: json.dumps(v).encode())),
       content_type=st.sampled_from([PROTOBUF, JSON]))
def test_any_body_gets_a_batch_or_a_client_error(body: bytes, content_type: str) -> None:
    _check(prepare(body, content_type, "default", keep_source=False))


@FUZZ
@given(data=st.binary(max_size=3000), members=st.integers(min_value=1, max_value=3),
       encoding=st.sampled_from(["gzip", "x-gzip", "deflate", "GZIP ", "identity", "", "br", "gzip, deflate"]),
       max_size=st.integers(min_value=1, max_value=4000), garbage=st.binary(max_size=8))
def test_a_body_is_decoded_whole_within_its_bound_or_refused(data: bytes, members: int, encoding: str, max_size: int,
                                                             garbage: bytes) -> None:
    """Content-Encoding: every byte of every member comes back, never more than the
    bound (a decompression bomb is a 413), and what cannot be decoded is a client error."""
    import gzip
    import zlib

    from otel_llm_security.export.otlp_receiver import RequestError, decode_body

    enc = encoding.strip().lower()
    if enc in ("gzip", "x-gzip"):
        body = b"".join(gzip.compress(data) for _ in range(members))  # RFC 1952: members may be concatenated
        expected = data * members
    elif enc == "deflate":
        body, expected = zlib.compress(data), data
    else:
        body, expected = data, data
    body += garbage if enc not in ("", "identity") and garbage and members == 1 else b""
    try:
        out = decode_body(body, encoding, max_size)
    except RequestError as exc:
        assert exc.status in (400, 413, 415), exc
        assert exc.status != 413 or len(expected) > max_size
        return
    assert len(out) <= max_size or enc in ("", "identity")  # identity bodies are bounded by the reader
    assert out == expected
