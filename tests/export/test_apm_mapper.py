"""The APM document mapper, one test per translation rule of elastic/apm-data.

References are to elastic/apm-data: ``input/otlp/traces.go`` (convertSpan,
TranslateTransaction, TranslateSpan, convertSpanEvent), ``input/otlp/metadata.go``
(translateResourceMetadata, setLabel, cleanServiceName), ``input/otlp/exceptions.go``,
``model/modelprocessor/datastream.go`` and ``model/modeljson``.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_mapper import (
    ApmDocument,
    InvalidSpanError,
    apm_fields,
    clean_service_name,
    contract_field,
    contract_fields,
    map_readable_spans,
    map_request,
    pattern_regex,
)
from otel_llm_security.store.duckdb_store import flatten
from otel_llm_security.testing.otlp import any_value, key_values

TRACE = bytes(range(1, 17))
SPAN = bytes(range(1, 9))
PARENT = bytes(range(9, 17))
T0 = 1_740_823_200_123_456_789  # 2025-03-01T10:00:00.123456789Z


av = any_value
kvs = key_values


def request(
    attrs: dict[str, Any] | None = None,
    *,
    parent: bytes = PARENT,
    kind: int = Span.SPAN_KIND_CLIENT,
    status: int = Status.STATUS_CODE_UNSET,
    resource: dict[str, Any] | None = None,
    events: list[Span.Event] | None = None,
    name: str = "chat gpt-4o",
    start: int = T0,
    end: int = T0 + 1_500_000,
    scope: str = "otel_llm_security",
    trace_state: str = "",
) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs(resource if resource is not None else {"service.name": "chat-app"}))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.scope.version = "1.0"
    ss.spans.append(Span(
        trace_id=TRACE, span_id=SPAN, parent_span_id=parent, name=name, kind=kind,
        start_time_unix_nano=start, end_time_unix_nano=end, attributes=kvs(attrs or {}),
        status=Status(code=status), events=events or [], trace_state=trace_state,
    ))
    return req


def one(req: ExportTraceServiceRequest) -> dict[str, Any]:
    docs = map_request(req)
    assert docs[0].index == "traces-apm-default"
    return docs[0].source


# --- convertSpan: transaction or span -------------------------------------------------


def test_span_with_parent_and_kind_client_is_a_span_document() -> None:
    src = one(request())
    assert src["processor"]["event"] == "span"
    assert src["span"]["id"] == SPAN.hex() and src["span"]["name"] == "chat gpt-4o"
    assert src["parent"]["id"] == PARENT.hex()
    assert "transaction" not in src


@pytest.mark.parametrize("kind", [Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER])
def test_server_and_consumer_spans_are_transactions_even_with_a_parent(kind: int) -> None:
    src = one(request(kind=kind))
    assert src["processor"]["event"] == "transaction"
    assert src["transaction"]["id"] == SPAN.hex() == src["span"]["id"]
    assert src["parent"]["id"] == PARENT.hex()


def test_root_llm_call_is_a_transaction_named_after_the_span() -> None:
    # A batch job's LLM call with no parent: rules must select by attributes, not processor.event.
    src = one(request({A.GEN_AI_OPERATION_NAME: "chat"}, parent=b""))
    assert src["processor"]["event"] == "transaction"
    assert src["transaction"]["name"] == "chat gpt-4o"
    assert src["transaction"]["type"] == "unknown"
    assert src["transaction"]["sampled"] is True
    assert "parent" not in src
    assert src["labels"]["gen_ai_operation_name"] == "chat"


def test_timestamp_is_span_start_in_milliseconds_and_timestamp_us_keeps_microseconds() -> None:
    src = one(request())
    assert src["@timestamp"] == "2025-03-01T10:00:00.123Z"  # modeljson timestampFormat
    assert src["timestamp"]["us"] == T0 // 1000


@pytest.mark.parametrize(("parent", "field"), [(PARENT, "span"), (b"", "transaction")])
def test_duration_us_from_start_and_end(parent: bytes, field: str) -> None:
    src = one(request(parent=parent, end=T0 + 2_345_678))
    assert src[field]["duration"]["us"] == 2345


def test_trace_id_is_lowercase_hex() -> None:
    assert one(request())["trace"]["id"] == TRACE.hex()


@pytest.mark.parametrize(
    ("status", "outcome", "success_count"),
    [(Status.STATUS_CODE_OK, "success", 1), (Status.STATUS_CODE_ERROR, "failure", 0), (Status.STATUS_CODE_UNSET, "unknown", None)],
)
def test_event_outcome_from_span_status(status: int, outcome: str, success_count: int | None) -> None:
    src = one(request(status=status))
    assert src["event"]["outcome"] == outcome
    assert src["event"].get("success_count") == success_count


def test_transaction_result_from_status() -> None:
    assert one(request(parent=b"", status=Status.STATUS_CODE_ERROR))["transaction"]["result"] == "Error"
    assert one(request(parent=b"", status=Status.STATUS_CODE_OK))["transaction"]["result"] == "Success"
    assert "result" not in one(request(parent=b""))["transaction"]


def test_representative_count_from_tracestate_p_value() -> None:
    assert one(request())["span"]["representative_count"] == 1.0
    assert one(request(trace_state="ot=p:3"))["span"]["representative_count"] == 8.0


def test_malformed_ids_are_rejected() -> None:
    req = request()
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01\x02"
    with pytest.raises(InvalidSpanError, match="trace_id must be 16 bytes"):
        map_request(req)


# --- setLabel: unknown attributes -----------------------------------------------------


def test_string_attribute_becomes_label_with_dots_replaced() -> None:
    src = one(request({A.LLM_SECURITY_ACTION: "block"}))
    assert src["labels"]["llm_security_action"] == "block"


def test_booleans_become_the_strings_true_and_false() -> None:
    src = one(request({A.LLM_SECURITY_BLOCKED: True, A.LLM_SECURITY_REDACTED: False}))
    assert src["labels"]["llm_security_blocked"] == "true"
    assert src["labels"]["llm_security_redacted"] == "false"


def test_booleans_on_transactions_are_strings_too() -> None:
    assert one(request({A.LLM_SECURITY_BLOCKED: True}, parent=b""))["labels"]["llm_security_blocked"] == "true"


def test_strings_are_cut_at_1024_characters() -> None:
    src = one(request({A.LLM_SECURITY_BLOCK_REASON: "é" * 2000}))
    assert src["labels"]["llm_security_block_reason"] == "é" * 1024


def test_ints_and_doubles_become_numeric_labels() -> None:
    src = one(request({A.GEN_AI_USAGE_INPUT_TOKENS: 12, A.LLM_SECURITY_RISK_SCORE: 0.93}))
    assert src["numeric_labels"]["gen_ai_usage_input_tokens"] == 12.0
    assert src["numeric_labels"]["llm_security_risk_score"] == 0.93
    assert "labels" not in src


def test_arrays_take_the_type_of_their_first_element() -> None:
    src = one(request({
        A.LLM_SECURITY_THREATS: ["pii", "secret"],
        "custom.nums": [1, 2],
        "custom.mixed": ["a", 1, "b"],  # elements of another type are skipped
        "custom.flags": [True, False],
    }))
    assert src["labels"]["llm_security_threats"] == ["pii", "secret"]
    assert src["numeric_labels"]["custom_nums"] == [1.0, 2.0]
    assert src["labels"]["custom_mixed"] == ["a", "b"]
    assert src["labels"]["custom_flags"] == ["true", "false"]


def test_maps_bytes_and_empty_arrays_are_dropped() -> None:
    src = one(request({"custom.map": {"a": "b"}, "custom.bytes": b"\x00\x01", "custom.empty": []}))
    assert "labels" not in src and "numeric_labels" not in src


def test_no_attribute_maps_to_user_id() -> None:
    src = one(request({"enduser.id": "alice", A.ENDUSER_PSEUDO_ID: "f" * 64}))
    assert src["labels"]["enduser_id"] == "alice"
    assert src["labels"]["enduser_pseudo_id"] == "f" * 64
    assert "user" not in src


@pytest.mark.parametrize("parent", [PARENT, b""])
def test_session_id_maps_to_session_id(parent: bytes) -> None:
    src = one(request({A.SESSION_ID: "s-1", A.GEN_AI_CONVERSATION_ID: "s-1"}, parent=parent))
    assert src["session"]["id"] == "s-1"
    assert src["labels"]["gen_ai_conversation_id"] == "s-1"
    assert "session_id" not in src.get("labels", {})


# --- gen_ai.system --------------------------------------------------------------------


def test_gen_ai_system_on_a_span_sets_span_type_genai_and_subtype() -> None:
    src = one(request({A.GEN_AI_SYSTEM: "openai", A.GEN_AI_PROVIDER_NAME: "openai"}))
    assert src["span"]["type"] == "genai"
    assert src["span"]["subtype"] == "openai"
    assert "gen_ai_system" not in src["labels"]
    assert src["labels"]["gen_ai_provider_name"] == "openai"  # an ordinary label


def test_gen_ai_system_on_a_transaction_stays_a_label() -> None:
    src = one(request({A.GEN_AI_SYSTEM: "openai"}, parent=b""))
    assert src["labels"]["gen_ai_system"] == "openai"
    assert "type" not in src["span"]


def test_span_type_without_known_attributes() -> None:
    assert one(request(kind=Span.SPAN_KIND_INTERNAL))["span"]["type"] == "app"
    assert one(request(kind=Span.SPAN_KIND_INTERNAL))["span"]["subtype"] == "internal"
    assert one(request(kind=Span.SPAN_KIND_CLIENT))["span"]["type"] == "unknown"


def test_server_address_and_port_become_destination_on_spans_and_labels_on_transactions() -> None:
    attrs = {A.SERVER_ADDRESS: "api.openai.com", A.SERVER_PORT: 443}
    src = one(request(attrs))
    assert src["destination"] == {"address": "api.openai.com", "port": 443}
    tx = one(request(attrs, parent=b""))
    assert tx["labels"]["server_address"] == "api.openai.com"
    assert tx["numeric_labels"]["server_port"] == 443.0


def test_http_client_span_is_external_http_with_outcome_from_status() -> None:
    src = one(request({"http.request.method": "POST", "url.full": "https://api.openai.com/v1/chat/completions",
                       "http.response.status_code": 429}))
    assert src["span"]["type"] == "external" and src["span"]["subtype"] == "http"
    assert src["event"]["outcome"] == "failure"  # clientHTTPStatusCodeOutcome: >= 400
    assert src["http"]["response"]["status_code"] == 429
    assert src["url"]["original"] == "https://api.openai.com/v1/chat/completions"
    assert src["destination"] == {"address": "api.openai.com", "port": 443}
    assert src["span"]["destination"]["service"]["resource"] == "api.openai.com:443"


def test_http_server_transaction_is_a_request_with_result() -> None:
    src = one(request({"http.request.method": "POST", "http.response.status_code": 503, "url.full": "http://svc/chat"},
                      parent=b"", kind=Span.SPAN_KIND_SERVER))
    assert src["transaction"]["type"] == "request"
    assert src["transaction"]["result"] == "HTTP 5xx"
    assert src["event"]["outcome"] == "failure"  # serverHTTPStatusCodeOutcome: >= 500


# --- translateResourceMetadata ---------------------------------------------------------


def test_service_name_is_cleaned() -> None:
    assert clean_service_name("chat.app/v2") == "chat_app_v2"
    src = one(request(resource={"service.name": "chat.app/v2", "service.version": "1.2"}))
    assert src["service"]["name"] == "chat_app_v2"
    assert src["service"]["version"] == "1.2"


def test_missing_service_name_is_unknown() -> None:
    assert one(request(resource={}))["service"]["name"] == "unknown"


@pytest.mark.parametrize("key", ["deployment.environment", "deployment.environment.name"])
def test_service_environment_from_deployment_environment(key: str) -> None:
    assert one(request(resource={"service.name": "x", key: "prod"}))["service"]["environment"] == "prod"


def test_agent_from_telemetry_sdk() -> None:
    src = one(request(resource={"service.name": "x", "telemetry.sdk.name": "opentelemetry",
                                "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.45.2"}))
    assert src["agent"] == {"name": "opentelemetry/python", "version": "1.45.2"}
    assert src["service"]["language"]["name"] == "python"
    assert one(request(resource={}))["agent"] == {"name": "otlp", "version": "unknown"}


def test_other_resource_attributes_become_global_labels_on_every_document() -> None:
    ev = Span.Event(time_unix_nano=T0 + 10, name="gen_ai.security.finding", attributes=kvs({"x": "y"}))
    docs = map_request(request(resource={"service.name": "x", "team.name": "search", "replica": 3}, events=[ev]))
    for d in docs:
        assert d.source["labels"]["team_name"] == "search"
        assert d.source["numeric_labels"]["replica"] == 3.0


def test_scope_becomes_service_framework() -> None:
    assert one(request())["service"]["framework"] == {"name": "otel_llm_security", "version": "1.0"}


# --- convertSpanEvent -------------------------------------------------------------------


def finding_event() -> Span.Event:
    return Span.Event(time_unix_nano=T0 + 1000, name=A.EVENT_SECURITY_FINDING, attributes=kvs({
        A.SECURITY_GUARDRAIL_NAME: "secrets", A.SECURITY_RISK_SCORE: 0.9, A.SECURITY_ACTION_TYPE: "block",
    }))


def test_span_event_becomes_a_log_document_with_its_own_labels_only() -> None:
    docs = map_request(request({A.LLM_SECURITY_BLOCKED: True}, events=[finding_event()],
                               resource={"service.name": "Chat App"}))
    assert len(docs) == 2
    log = docs[1]
    assert log.index == "logs-apm.app.chat_app-default"  # datastream.go normalizeServiceName
    src = log.source
    assert src["processor"]["event"] == "log"
    assert src["message"] == A.EVENT_SECURITY_FINDING
    assert src["event"] == {"kind": "event"}
    assert src["labels"] == {"gen_ai_security_guardrail_name": "secrets", "gen_ai_security_action_type": "block"}
    assert src["numeric_labels"] == {"gen_ai_security_risk_score": 0.9}
    assert src["span"] == {"id": SPAN.hex()}  # the parent's span.id
    assert src["trace"]["id"] == TRACE.hex()
    assert "llm_security_blocked" not in src["labels"]  # without the parent's attributes
    assert src["@timestamp"] == "2025-03-01T10:00:00.123Z"


def test_event_of_a_transaction_carries_transaction_id() -> None:
    docs = map_request(request(parent=b"", events=[finding_event()]))
    assert docs[1].source["transaction"] == {"id": SPAN.hex()}
    assert docs[1].source["span"] == {"id": SPAN.hex()}


def test_exception_event_becomes_an_error_document() -> None:
    ev = Span.Event(time_unix_nano=T0 + 5, name="exception", attributes=kvs({
        "exception.type": "otel_llm_security.BlockedError", "exception.message": "blocked: secret",
        "exception.stacktrace": "Traceback ...", "exception.escaped": True, "extra.key": "v",
    }))
    docs = map_request(request(events=[ev]))
    err = docs[1]
    assert err.index == "logs-apm.error-default"
    src = err.source
    assert src["processor"]["event"] == "error"
    assert src["error"]["exception"] == [{"type": "otel_llm_security.BlockedError", "message": "blocked: secret",
                                          "handled": False}]
    assert src["error"]["stack_trace"] == "Traceback ..."  # only Java stack traces are parsed into frames
    assert len(src["error"]["grouping_key"]) == 32
    assert src["parent"]["id"] == SPAN.hex()  # setErrorContext: the span is the error's parent
    assert src["labels"] == {"extra_key": "v"}
    assert src["timestamp"]["us"] == (T0 + 5) // 1000


def test_exception_event_of_a_transaction_gets_transaction_context() -> None:
    ev = Span.Event(time_unix_nano=T0, name="exception", attributes=kvs({"exception.message": "x"}))
    src = map_request(request(parent=b"", events=[ev]))[1].source
    assert src["transaction"] == {"id": SPAN.hex(), "sampled": True, "type": "unknown"}
    assert src["error"]["exception"][0] == {"message": "x", "handled": True}


def test_exception_event_without_type_or_message_is_a_log() -> None:
    ev = Span.Event(time_unix_nano=T0, name="exception", attributes=kvs({"exception.escaped": False}))
    doc = map_request(request(events=[ev]))[1]
    assert doc.index.startswith("logs-apm.app.")
    assert doc.source["message"] == "exception"


def test_document_ids_are_deterministic_and_unique_per_document() -> None:
    a = map_request(request(events=[finding_event(), finding_event()]))
    b = map_request(request(events=[finding_event(), finding_event()]))
    assert [d.id for d in a] == [d.id for d in b]
    assert len({d.id for d in a}) == 3


# --- SDK spans and the field catalog ----------------------------------------------------


def test_map_readable_spans_goes_through_the_otlp_encoding() -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("chat m", attributes={A.LLM_SECURITY_BLOCKED: True}):
        pass
    docs = map_readable_spans(exporter.get_finished_spans())
    assert len(docs) == 1 and isinstance(docs[0], ApmDocument)
    assert docs[0].source["labels"]["llm_security_blocked"] == "true"
    assert docs[0].source["agent"]["name"] == "opentelemetry/python"


def test_every_contract_attribute_has_an_apm_field() -> None:
    fields = {cf.attribute for cf in contract_fields()}
    assert fields == {spec.name for spec in A.CONTRACT}
    assert contract_field(A.LLM_SECURITY_BLOCKED).field == "labels.llm_security_blocked"
    assert contract_field(A.LLM_SECURITY_BLOCKED).es_type == "keyword"
    assert contract_field(A.GEN_AI_USAGE_INPUT_TOKENS).field == "numeric_labels.gen_ai_usage_input_tokens"
    assert contract_field(A.GEN_AI_USAGE_INPUT_TOKENS).es_type == "double"
    assert contract_field(A.LLM_SECURITY_THREATS).field == "labels.llm_security_threats"
    assert contract_field(A.SESSION_ID).field == "session.id"
    score = contract_field("llm.security.input.<scanner>.score")
    assert score.field == "numeric_labels.llm_security_input_<scanner>_score" and score.pattern
    assert pattern_regex(score.field).match("numeric_labels.llm_security_input_prompt_injection_score")


def test_catalog_types_agree_with_what_the_mapper_writes() -> None:
    """Every field of a fully populated record is in apm_fields() with a type its value fits."""
    attrs: dict[str, Any] = {}
    for spec in A.CONTRACT:
        name = spec.name.replace("<scanner>", "secrets")
        attrs[name] = {"string": "x", "boolean": True, "int": 3, "double": 0.5, "string[]": ["a", "b"]}[spec.type]
    catalog = apm_fields()
    regexes = [pattern_regex(f) for f in catalog if "<" in f]
    for parent in (PARENT, b""):
        for field, value in flatten(one(request(attrs, parent=parent, status=Status.STATUS_CODE_OK))).items():
            es_type = catalog.get(field) or next(
                (catalog[f] for f, r in zip([f for f in catalog if "<" in f], regexes, strict=True) if r.match(field)),
                None,
            )
            assert es_type is not None, f"{field} missing from apm_fields()"
            sample = value[0] if isinstance(value, list) else value
            ok = {"keyword": str, "text": str, "date": str, "long": int, "double": float, "boolean": bool}[es_type]
            assert isinstance(sample, ok) and not (es_type == "long" and isinstance(sample, bool)), (field, value)


def test_documents_carry_their_data_stream_fields() -> None:
    ev_log = Span.Event(time_unix_nano=T0, name="gen_ai.security.finding")
    ev_err = Span.Event(time_unix_nano=T0, name="exception", attributes=kvs({"exception.type": "E"}))
    docs = map_request(request(events=[ev_log, ev_err], resource={"service.name": "Chat App"}))
    assert [(d.index, d.source["data_stream"]) for d in docs] == [
        ("traces-apm-default", {"type": "traces", "dataset": "apm", "namespace": "default"}),
        ("logs-apm.app.chat_app-default", {"type": "logs", "dataset": "apm.app.chat_app", "namespace": "default"}),
        ("logs-apm.error-default", {"type": "logs", "dataset": "apm.error", "namespace": "default"}),
    ]


@pytest.mark.parametrize("namespace", ["", "Prod", "a-b", "x y", "a/b"])
def test_invalid_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        map_request(request(), namespace=namespace)


def test_namespace_names_every_data_stream() -> None:
    ev = Span.Event(time_unix_nano=T0, name="x")
    assert [d.index for d in map_request(request(events=[ev]), namespace="staging")] == [
        "traces-apm-staging", "logs-apm.app.chat_app-staging"]
