"""OTLP spans → the documents Elastic APM Server indexes for them.

This reproduces the translation of elastic/apm-data (``input/otlp/traces.go``,
``input/otlp/metadata.go``, ``input/otlp/exceptions.go``,
``model/modelprocessor/datastream.go``, ``model/modeljson``) plus what the APM
ingest pipelines add (``processor.event``, ``<event>.duration.us``,
``event.success_count``), so that the local store holds the same fields, under the
same names and types, as ``traces-apm-*`` / ``logs-apm.*`` in Elasticsearch. The
rules (DESIGN.md, section Elastic):

* A span without a parent, or of kind SERVER or CONSUMER, is a ``transaction``;
  any other span is a ``span``. Both go to ``traces-apm-<namespace>``.
* Attributes without a native field become labels under their key with every
  ``.`` replaced by ``_``: strings (cut at 1024 characters) and booleans (as
  ``"true"``/``"false"``) under ``labels``; ints and doubles under
  ``numeric_labels``; arrays take the type of their first element (elements of
  another type are skipped, empty arrays dropped); maps and bytes are dropped.
* ``gen_ai.system`` on a span document sets ``span.type: genai`` and
  ``span.subtype``; on a transaction it stays ``labels.gen_ai_system``.
* Resource attributes fill ``service.*``, ``agent.*``, ``host.*``, ... and the rest
  become labels on every document of the resource, span events included.
* Span events are separate documents: ``exception`` events are errors in
  ``logs-apm.error-<namespace>``; other events are logs in
  ``logs-apm.app.<service>-<namespace>`` with ``message`` = the event name, their own
  attributes as labels and the parent's ids, without the parent's attributes.

Deviations, all deliberate: document ids are deterministic (Elasticsearch makes
random ones; here re-mapping a span gives the same ``_id``), ``error.id`` likewise;
a negative span duration is clamped to 0; ``observer.*`` and ``event.received`` (set
by the server at ingest time) are omitted. Documents of one request may share
sub-objects (``agent``, ``host``, ...): treat a ``source`` as read-only.

Two outputs from one translation: :func:`map_request` gives :class:`ApmDocument` objects
with a nested ``source``; :func:`map_request_columns` (what ``collect`` writes to the
store) gives the same documents as per-field columns, without building nested objects
that would only be flattened again.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_fields import (
    ContractField,
    apm_fields,
    contract_field,
    contract_fields,
    field_es_type,
    label_key,
    pattern_regex,
)
from otel_llm_security.export.documents import ApmDocument, flatten_into, flatten_into_columns, put_row

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "KEYWORD_LENGTH",
    "ApmDocument",
    "ContractField",
    "InvalidSpanError",
    "apm_fields",
    "clean_service_name",
    "contract_field",
    "contract_fields",
    "field_es_type",
    "label_key",
    "map_readable_spans",
    "map_request",
    "map_request_columns",
    "map_resource_spans",
    "pattern_regex",
    "traces_index",
]

KEYWORD_LENGTH = 1024  # apm-data keywordLength: strings are cut at 1024 characters

# OTLP span kinds (opentelemetry.proto.trace.v1.Span.SpanKind)
_KIND_INTERNAL, _KIND_SERVER, _KIND_CLIENT, _KIND_PRODUCER, _KIND_CONSUMER = 1, 2, 3, 4, 5
# OTLP status codes
_STATUS_OK, _STATUS_ERROR = 1, 2

_SERVICE_NAME_INVALID = re.compile(r"[^a-zA-Z0-9 _-]")
_DATA_STREAM_RESERVED = re.compile(r'[\\/*?"<>| ,#:\-]')


class InvalidSpanError(ValueError):
    """A span that no OTLP receiver accepts (e.g. a trace id that is not 16 bytes)."""


def clean_service_name(name: str) -> str:
    """apm-data ``cleanServiceName``: truncate, then characters outside ``[a-zA-Z0-9 _-]`` become ``_``."""
    return _SERVICE_NAME_INVALID.sub("_", _truncate(name))


def traces_index(namespace: str = "default") -> str:
    """``traces-apm-<namespace>``; ValueError for a namespace Elasticsearch would refuse."""
    _check_namespace(namespace)
    return f"traces-apm-{namespace}"


def _check_namespace(namespace: str) -> None:
    if not namespace or len(namespace) > 100 or namespace != namespace.lower() or _DATA_STREAM_RESERVED.search(namespace):
        raise ValueError(f"invalid data stream namespace {namespace!r}: lowercase, no '-' or \\/*?\"<>| ,#:")


def _truncate(s: str) -> str:
    return s if len(s) <= KEYWORD_LENGTH else s[:KEYWORD_LENGTH]


def _normalize_for_data_stream(service_name: str) -> str:
    """datastream.go ``normalizeServiceName``: lowercase; reserved characters and ``-`` become ``_``."""
    return _DATA_STREAM_RESERVED.sub("_", service_name.lower())


_SECONDS: dict[int, str] = {}


def _format_timestamp(ns: int) -> str:
    """modeljson ``timestampFormat`` ``2006-01-02T15:04:05.000Z07:00``: millisecond precision, UTC."""
    seconds, rem = divmod(ns, 1_000_000_000)
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        prefix = _SECONDS[seconds] = f"{datetime.fromtimestamp(seconds, tz=timezone.utc):%Y-%m-%dT%H:%M:%S}."
    return f"{prefix}{rem // 1_000_000:03d}Z"


def _hex_id(raw: bytes, length: int, what: str) -> str:
    if not raw or not any(raw):
        return ""  # pdata IsEmpty(): the field is left out
    if len(raw) != length:
        raise InvalidSpanError(f"{what} must be {length} bytes, got {len(raw)}")
    return raw.hex()


_LABEL_KEYS: dict[str, str] = {}


def _label_key(key: str) -> str:
    """label_key, memoized: attribute keys repeat across spans."""
    k = _LABEL_KEYS.get(key)
    if k is None:
        if len(_LABEL_KEYS) > 50_000:
            _LABEL_KEYS.clear()
        k = _LABEL_KEYS[key] = label_key(key)
    return k


def _value(v: AnyValue) -> Any:
    """An AnyValue as a Python value; arrays become lists, maps dicts, bytes bytes."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value
    return None


_LABEL_COLUMNS: dict[str, str] = {}  # attribute key -> "labels.<key with _>"
_NUMERIC_COLUMNS: dict[str, str] = {}  # attribute key -> "numeric_labels.<key with _>"


def _label_column(key: str) -> str:
    name = _LABEL_COLUMNS.get(key)
    if name is None:
        if len(_LABEL_COLUMNS) > 50_000:
            _LABEL_COLUMNS.clear()
        name = _LABEL_COLUMNS[key] = "labels." + label_key(key)
    return name


def _numeric_column(key: str) -> str:
    name = _NUMERIC_COLUMNS.get(key)
    if name is None:
        if len(_NUMERIC_COLUMNS) > 50_000:
            _NUMERIC_COLUMNS.clear()
        name = _NUMERIC_COLUMNS[key] = "numeric_labels." + label_key(key)
    return name


class _Doc:
    """A document under construction: labels kept apart until the end.

    ``labels`` and ``numeric_labels`` are keyed by the attribute key with dots replaced
    (``skeys``/``sname`` and ``nkeys``/``nname`` give that name for an attribute key);
    :class:`_FlatDoc` keys them by the full dotted field name instead.
    """

    __slots__ = ("labels", "numeric_labels", "source")

    skeys = nkeys = _LABEL_KEYS
    sname = nname = staticmethod(_label_key)

    def __init__(self) -> None:
        self.source: dict[str, Any] = {}
        self.labels: dict[str, Any] = {}
        self.numeric_labels: dict[str, Any] = {}


class _FlatDoc(_Doc):
    """A document for the column mapper: labels under ``labels.<key>`` / ``numeric_labels.<key>``."""

    __slots__ = ()

    skeys = _LABEL_COLUMNS
    nkeys = _NUMERIC_COLUMNS
    sname = staticmethod(_label_column)
    nname = staticmethod(_numeric_column)


def _set_label(doc: _Doc, attr: str, value: Any) -> None:
    """apm-data ``setLabel`` (metadata.go) for the value of attribute ``attr``."""
    t = type(value)
    if t is str:
        doc.labels[doc.skeys.get(attr) or doc.sname(attr)] = _truncate(value)
    elif t is bool:
        doc.labels[doc.skeys.get(attr) or doc.sname(attr)] = "true" if value else "false"
    elif t is int or t is float:
        if t is float and not math.isfinite(value):
            return  # JSON (and Elasticsearch) cannot hold NaN/Inf; APM Server's encoder fails on them too
        doc.numeric_labels[doc.nkeys.get(attr) or doc.nname(attr)] = float(value)
    elif t is list:
        if not value:
            return
        first = type(value[0])
        if first is str:
            doc.labels[doc.sname(attr)] = [x for x in value if type(x) is str]
        elif first is bool:
            doc.labels[doc.sname(attr)] = ["true" if x else "false" for x in value if type(x) is bool]
        elif first is float:
            doc.numeric_labels[doc.nname(attr)] = [x for x in value if type(x) is float and math.isfinite(x)]
        elif first is int:
            doc.numeric_labels[doc.nname(attr)] = [float(x) for x in value if type(x) is int]
    # maps (dict) and bytes are dropped


def _labels_except(attrs: Sequence[KeyValue], doc: _Doc, special: frozenset[str]) -> list[tuple[str, Any]]:
    """setLabel for every attribute whose key is not in ``special``; returns the special ones.

    The hot loop of the mapper: scalar values go straight from the protobuf to the
    label maps, with the same rules as :func:`_set_label`.
    """
    out: list[tuple[str, Any]] = []
    labels, numeric = doc.labels, doc.numeric_labels
    skeys, nkeys = doc.skeys, doc.nkeys
    isfinite = math.isfinite
    for kv in attrs:
        k = kv.key
        if k in special:
            out.append((k, _value(kv.value)))
            continue
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "string_value":
            sv = v.string_value
            labels[skeys.get(k) or doc.sname(k)] = sv if len(sv) <= KEYWORD_LENGTH else sv[:KEYWORD_LENGTH]
        elif kind == "double_value":
            d = v.double_value
            if isfinite(d):
                numeric[nkeys.get(k) or doc.nname(k)] = d
        elif kind == "int_value":
            numeric[nkeys.get(k) or doc.nname(k)] = float(v.int_value)
        elif kind == "bool_value":
            labels[skeys.get(k) or doc.sname(k)] = "true" if v.bool_value else "false"
        elif kind == "array_value":
            _set_label(doc, k, _value(v))
        # kvlist (maps) and bytes are dropped
    return out


def _nested(d: dict[str, Any], *path: str) -> dict[str, Any]:
    for p in path:
        d = d.setdefault(p, {})
    return d


class _Resource:
    """The translated resource: base fields and global labels shared by all its documents."""

    def __init__(self, resource: Resource, doc_type: type[_Doc] = _Doc) -> None:
        self.base = doc_type()
        src = self.base.source
        service: dict[str, Any] = {}
        agent: dict[str, Any] = {}
        host: dict[str, Any] = {}
        language = ""
        distro_name = distro_version = ""
        for kv in resource.attributes:
            k = kv.key
            v = _value(kv.value)
            sv = _truncate(v) if isinstance(v, str) else None
            if k == "service.name" and sv is not None:
                service["name"] = clean_service_name(v)
            elif k == "service.version" and sv is not None:
                service["version"] = sv
            elif k == "service.instance.id" and sv is not None:
                service.setdefault("node", {})["name"] = sv
            elif k in ("deployment.environment", "deployment.environment.name") and sv is not None:
                service["environment"] = sv
            elif k == "telemetry.sdk.name" and sv is not None:
                agent["name"] = sv
            elif k == "telemetry.sdk.version" and sv is not None:
                agent["version"] = sv
            elif k == "telemetry.sdk.language" and sv is not None:
                language = sv
            elif k == "telemetry.distro.name" and sv is not None:
                distro_name = sv
            elif k == "telemetry.distro.version" and sv is not None:
                distro_version = sv
            elif k == "host.name" and sv is not None:
                host["hostname"] = sv
            elif k == "host.id" and sv is not None:
                host["id"] = sv
            elif k == "host.arch" and sv is not None:
                host["architecture"] = sv
            elif k == "os.type" and sv is not None:
                _nested(host, "os")["platform"] = sv.lower()
            elif k == "os.description" and sv is not None:
                _nested(host, "os")["full"] = sv
            elif k == "os.name" and sv is not None:
                _nested(host, "os")["name"] = sv
            elif k == "os.version" and sv is not None:
                _nested(host, "os")["version"] = sv
            elif k == "process.pid" and type(v) is int:
                _nested(src, "process")["pid"] = v
            elif k == "process.executable.path" and sv is not None:
                _nested(src, "process")["executable"] = sv
            elif k == "process.command_line" and sv is not None:
                _nested(src, "process")["command_line"] = sv
            elif k == "process.runtime.name" and sv is not None:
                _nested(service, "runtime")["name"] = sv
            elif k == "process.runtime.version" and sv is not None:
                _nested(service, "runtime")["version"] = sv
            elif k in ("cloud.provider", "cloud.region", "cloud.availability_zone") and sv is not None:
                _nested(src, "cloud")[k.split(".", 1)[1]] = sv
            elif k == "cloud.account.id" and sv is not None:
                _nested(src, "cloud", "account")["id"] = sv
            elif k == "container.id" and sv is not None:
                _nested(src, "container")["id"] = sv
            elif k == "container.name" and sv is not None:
                _nested(src, "container")["name"] = sv
            elif k == "k8s.namespace.name" and sv is not None:
                _nested(src, "kubernetes")["namespace"] = sv
            elif k == "k8s.pod.name" and sv is not None:
                _nested(src, "kubernetes", "pod")["name"] = sv
            elif k == "k8s.pod.uid" and sv is not None:
                _nested(src, "kubernetes", "pod")["uid"] = sv
            elif k == "k8s.node.name" and sv is not None:
                _nested(src, "kubernetes", "node")["name"] = sv
            elif k in ("data_stream.dataset", "data_stream.namespace", "telemetry.sdk.elastic_export_timestamp"):
                pass  # routing overrides are not honoured by the local store; the timestamp is dropped as in apm-data
            else:
                _set_label(self.base, k, v)
        os_ = host.get("os", {})
        platform = os_.get("platform")
        if platform in ("windows", "linux"):
            os_["type"] = platform
        elif platform == "darwin":
            os_["type"] = "macos"
        elif platform in ("aix", "hpux", "solaris"):
            os_["type"] = "unix"
        service.setdefault("name", "unknown")
        agent.setdefault("name", "otlp")
        agent.setdefault("version", "unknown")
        if distro_name:
            agent["name"] = f"{agent['name']}/{language or 'unknown'}/{distro_name}"
            agent["version"] = distro_version or "unknown"
        elif language:
            agent["name"] = f"{agent['name']}/{language}"
        service["language"] = {"name": language or "unknown"}
        src["service"] = service
        src["agent"] = agent
        if host:
            src["host"] = host
        self.service_name: str = service["name"]
        self.language: str = language or "unknown"


def _representative_count(tracestate: str) -> float:
    """apm-data ``getRepresentativeCountFromTracestateHeader``: 2**p from ``ot=p:<p>``, default 1."""
    if "ot=" not in tracestate:
        return 1.0
    for member in tracestate.split(","):
        key, _, val = member.strip().partition("=")
        if key == "ot":
            for part in val.split(";"):
                k, _, pv = part.strip().partition(":")
                if k == "p":
                    try:
                        p = int(pv)
                    except ValueError:
                        return 1.0
                    if p > 62:
                        return 0.0
                    return float(2**p) if p >= 0 else 1.0
    return 1.0


def _copy_base(res: _Resource) -> _Doc:
    """A new document on the resource's fields. Sub-objects the mapper never changes
    afterwards (agent, host, ...) are shared between the documents of one request;
    ``service`` is copied because spans add ``framework`` and ``target`` to it."""
    doc = type(res.base)()
    src = doc.source
    src.update(res.base.source)
    src["service"] = dict(src["service"])
    doc.labels.update(res.base.labels)
    doc.numeric_labels.update(res.base.numeric_labels)
    return doc


def _deepcopy(v: Any) -> Any:
    if type(v) is dict:
        return {k: _deepcopy(x) for k, x in v.items()}
    if type(v) is list:
        return list(v)
    return v


def _finish(doc: _Doc) -> dict[str, Any]:
    src = doc.source
    if doc.labels:
        src["labels"] = doc.labels
    if doc.numeric_labels:
        src["numeric_labels"] = doc.numeric_labels
    return src


_DATA_STREAMS: dict[str, dict[str, str]] = {}


def _document(index: str, doc_id: str, doc: _Doc) -> ApmDocument:
    """The finished document; ``data_stream.*`` (constant_keyword in the templates) from its index."""
    ds = _DATA_STREAMS.get(index)
    if ds is None:
        type_, dataset, namespace = index.split("-", 2)
        ds = _DATA_STREAMS[index] = {"type": type_, "dataset": dataset, "namespace": namespace}
        if len(_DATA_STREAMS) > 10_000:
            _DATA_STREAMS.clear()
    src = _finish(doc)
    src["data_stream"] = ds
    return ApmDocument(index, doc_id, src)


class _Mapper:
    def __init__(self, namespace: str) -> None:
        _check_namespace(namespace)
        self.namespace = namespace
        self.traces_index = traces_index(namespace)
        self.error_index = f"logs-apm.error-{namespace}"
        self.out: list[ApmDocument] = []

    def emit(self, index: str, doc_id: str, doc: _Doc) -> None:
        self.out.append(_document(index, doc_id, doc))

    doc_type: type[_Doc] = _Doc

    def resource_spans(self, rs: ResourceSpans) -> None:
        res = _Resource(rs.resource, self.doc_type)
        self.res = res
        for ss in rs.scope_spans:
            for span in ss.spans:
                self.span(span, ss.scope, res)

    def span(self, span: Span, scope: InstrumentationScope, res: _Resource) -> None:
        trace_id = _hex_id(span.trace_id, 16, "trace_id")
        span_id = _hex_id(span.span_id, 8, "span_id")
        parent_id = _hex_id(span.parent_span_id, 8, "parent_span_id")
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        duration_ns = max(0, end - start)
        is_transaction = not parent_id or span.kind in (_KIND_SERVER, _KIND_CONSUMER)

        doc = _copy_base(res)
        src = doc.source
        src["@timestamp"] = _format_timestamp(start)
        src["timestamp"] = {"us": start // 1000}
        if trace_id:
            src["trace"] = {"id": trace_id}
        if parent_id:
            src["parent"] = {"id": parent_id}
        code = span.status.code
        outcome = "success" if code == _STATUS_OK else "failure" if code == _STATUS_ERROR else "unknown"
        event: dict[str, Any] = {"outcome": outcome}
        src["event"] = event
        if scope.name:
            framework = {"name": scope.name}
            if scope.version:
                framework["version"] = scope.version
            src["service"]["framework"] = framework
        rep = _representative_count(span.trace_state)
        attrs = span.attributes
        if is_transaction:
            src["processor"] = {"event": "transaction"}
            tx: dict[str, Any] = {"id": span_id, "name": span.name, "sampled": True, "representative_count": rep}
            src["transaction"] = tx
            if span_id:
                src["span"] = {"id": span_id}
            _translate_transaction(attrs, code, doc, tx)
            tx["duration"] = {"us": duration_ns // 1000}
        else:
            src["processor"] = {"event": "span"}
            sp: dict[str, Any] = {"id": span_id, "name": span.name, "representative_count": rep}
            src["span"] = sp
            _translate_span(span.kind, attrs, doc, sp)
            sp["duration"] = {"us": duration_ns // 1000}
        if span.links:
            links = []
            for link in span.links:
                links.append({
                    "trace": {"id": _hex_id(link.trace_id, 16, "link trace_id")},
                    "span": {"id": _hex_id(link.span_id, 8, "link span_id")},
                })
            src.setdefault("span", {})["links"] = links
        outcome = event["outcome"]
        if outcome == "success":
            event["success_count"] = 1
        elif outcome == "failure":
            event["success_count"] = 0
        doc_id = f"{trace_id}-{span_id}"
        self.emit(self.traces_index, doc_id, doc)
        if span.events:
            self.span_events(span, doc, is_transaction, trace_id, span_id, res)

    def span_events(
        self, span: Span, parent: _Doc, is_transaction: bool, trace_id: str, span_id: str, res: _Resource
    ) -> None:
        """convertSpanEvent: each event is an error or a log document with the parent's context."""
        psrc = parent.source
        for i, ev in enumerate(span.events):
            doc = _copy_base(res)
            src = doc.source
            # Cloned from the parent event, minus transaction/span/labels/event/destination.
            for k in ("trace", "parent", "session", "url", "http", "service", "user_agent"):
                if k in psrc:
                    src[k] = _deepcopy(psrc[k])
            src["@timestamp"] = _format_timestamp(ev.time_unix_nano)
            doc_id = f"{trace_id}-{span_id}-{i}"
            if ev.name == "exception":
                ex_type = ex_message = ex_stack = ""
                escaped = False
                for kv in ev.attributes:
                    v = _value(kv.value)
                    if kv.key == "exception.message":
                        ex_message = v if isinstance(v, str) else ""
                    elif kv.key == "exception.type":
                        ex_type = v if isinstance(v, str) else ""
                    elif kv.key == "exception.stacktrace":
                        ex_stack = v if isinstance(v, str) else ""
                    elif kv.key == "exception.escaped":
                        escaped = v is True
                    else:
                        _set_label(doc, kv.key, v)
                if ex_message or ex_type:
                    src["timestamp"] = {"us": ev.time_unix_nano // 1000}
                    src["processor"] = {"event": "error"}
                    exception: dict[str, Any] = {"message": ex_message or "[EMPTY]", "handled": not escaped}
                    if ex_type:
                        exception["type"] = ex_type
                    error: dict[str, Any] = {
                        "id": hashlib.sha256(doc_id.encode()).hexdigest()[:32],
                        "exception": [exception],
                        "grouping_key": _grouping_key(ex_type, ex_message or "[EMPTY]"),
                    }
                    if ex_stack:
                        error["stack_trace"] = ex_stack  # only Java traces are parsed into frames
                    src["error"] = error
                    # setErrorContext
                    if is_transaction:
                        tx = psrc["transaction"]
                        src["transaction"] = {"id": tx["id"], "sampled": tx["sampled"], "type": tx["type"]}
                        src["span"] = {"id": tx["id"]}
                        src["parent"] = {"id": tx["id"]}
                    else:
                        src["parent"] = {"id": span_id}
                    self.emit(self.error_index, doc_id, doc)
                    continue
                # An exception event without type and message is neither error nor log in apm-data
                # (its Error stays nil and it falls through to a log): keep that behaviour.
                doc = _copy_base(res)
                src = doc.source
                for k in ("trace", "parent", "session", "url", "http", "service", "user_agent"):
                    if k in psrc:
                        src[k] = _deepcopy(psrc[k])
                src["@timestamp"] = _format_timestamp(ev.time_unix_nano)
            # A log event (setLogContext).
            src["processor"] = {"event": "log"}
            src["event"] = {"kind": "event"}
            src["message"] = ev.name
            if is_transaction:
                src["transaction"] = {"id": psrc["transaction"]["id"]}
                src["span"] = {"id": psrc["transaction"]["id"]}
            else:
                src["span"] = {"id": span_id}
            _labels_except(ev.attributes, doc, _NO_KEYS)
            index = f"logs-apm.app.{_normalize_for_data_stream(res.service_name)}-{self.namespace}"
            self.emit(index, doc_id, doc)


def _grouping_key(ex_type: str, message: str) -> str:
    """modelprocessor SetGroupingKey for an exception without parsed frames: md5 of the type, else of the message."""
    h = hashlib.md5(usedforsecurity=False)
    h.update((ex_type or message).encode())
    return h.hexdigest()


_NO_KEYS: frozenset[str] = frozenset()
_HTTP_STATUS_KEYS = ("http.status_code", "http.response.status_code")
_HTTP_METHOD_KEYS = ("http.method", "http.request.method")
# Attribute keys with a native field (for some value type); every other key is a label.
_TRANSACTION_KEYS = frozenset({
    *_HTTP_STATUS_KEYS, *_HTTP_METHOD_KEYS, "net.peer.port", "net.host.port", "rpc.grpc.status_code",
    "http.url", "http.target", "http.path", "url.full", "http.host", "http.scheme", "http.server_name",
    "http.user_agent", "user_agent.original", "net.host.name", "message_bus.destination",
    "messaging.destination", "rpc.system", "rpc.service", "rpc.method", "type", A.SESSION_ID, "service.version",
})
_SPAN_KEYS = frozenset({
    *_HTTP_STATUS_KEYS, *_HTTP_METHOD_KEYS, "net.peer.port", "peer.port", A.SERVER_PORT, "rpc.grpc.status_code",
    "http.host", "http.scheme", "http.target", "http.url", "url.full", "sql.query", "db.statement", "db.name",
    "db.instance", "db.elasticsearch.cluster.name", "db.system", "db.type", "db.user", "net.peer.name",
    "peer.hostname", A.SERVER_ADDRESS, "net.peer.ip", "peer.ipv4", "peer.ipv6", "peer.address", A.SESSION_ID,
    "message_bus.destination", "messaging.destination", "messaging.operation", "messaging.system",
    "rpc.system", "rpc.service", "rpc.method", "span.kind", "code.stacktrace", "peer.service", A.GEN_AI_SYSTEM,
})


def _translate_transaction(attrs: Sequence[KeyValue], status_code: int, doc: _Doc, tx: dict[str, Any]) -> None:
    """apm-data ``TranslateTransaction`` for the attributes our telemetry and HTTP servers carry."""
    src = doc.source
    is_http = is_rpc = is_messaging = False
    http_url = http_host = http_scheme = http_server_name = net_host_name = ""
    net_host_port = 0
    method = ""
    status = 0
    for k, v in _labels_except(attrs, doc, _TRANSACTION_KEYS):
        t = type(v)
        if t is int:
            if k in _HTTP_STATUS_KEYS:
                is_http, status = True, v
            elif k == "net.peer.port":
                _nested(src, "source")["port"] = v
            elif k == "net.host.port":
                net_host_port = v
            elif k == "rpc.grpc.status_code":
                is_rpc = True
            else:
                _set_label(doc, k, v)
        elif t is str:
            s = _truncate(v)
            if k in _HTTP_METHOD_KEYS:
                is_http, method = True, s
            elif k in ("http.url", "http.target", "http.path", "url.full"):
                is_http, http_url = True, s
            elif k == "http.host":
                is_http, http_host = True, s
            elif k == "http.scheme":
                is_http, http_scheme = True, s
            elif k in _HTTP_STATUS_KEYS:
                if s.isdigit():
                    is_http, status = True, int(s)
            elif k == "http.server_name":
                is_http, http_server_name = True, s
            elif k in ("http.user_agent", "user_agent.original"):
                src["user_agent"] = {"original": s}
            elif k == "net.host.name":
                net_host_name = s
            elif k in ("message_bus.destination", "messaging.destination"):
                is_messaging = True
                tx["message"] = {"queue": {"name": s}}
            elif k in ("rpc.system", "rpc.grpc.status_code"):
                is_rpc = True
            elif k in ("rpc.service", "rpc.method"):
                pass
            elif k == "type":
                tx["type"] = s
            elif k == A.SESSION_ID:
                src["session"] = {"id": s}
            elif k == "service.version":
                src["service"]["version"] = s
            else:
                _set_label(doc, k, v)
        else:
            _set_label(doc, k, v)  # bools, doubles, arrays; maps and bytes are dropped
    if "type" not in tx:
        tx["type"] = "messaging" if is_messaging else "request" if (is_http or is_rpc) else "unknown"
    event = src["event"]
    if is_http:
        http: dict[str, Any] = {}
        if method:
            http["request"] = {"method": method}
        if status:
            http["response"] = {"status_code": status}
            if event["outcome"] == "unknown":
                event["outcome"] = "failure" if status >= 500 else "success"
            tx.setdefault("result", _http_result(status))
        if http:
            src["http"] = http
        host = http_host or http_server_name or net_host_name or src.get("host", {}).get("hostname", "")
        if not http_host and host and net_host_port > 0:
            host = f"{host}:{net_host_port}"
        url = _parse_url(http_url, host, http_scheme)
        if url:
            src["url"] = url
    if "result" not in tx:
        if status_code == _STATUS_OK:
            tx["result"] = "Success"
        elif status_code == _STATUS_ERROR:
            tx["result"] = "Error"


def _http_result(status: int) -> str:
    c = status // 100
    return f"HTTP {c}xx" if 1 <= c <= 5 else f"HTTP {status}"


def _parse_url(original: str, host: str, scheme: str) -> dict[str, Any]:
    """modelpb.ParseURL, reduced to the fields the APM templates map."""
    if not original:
        return {}
    url: dict[str, Any] = {"original": original}
    try:
        parts = urlsplit(original)
        if not parts.netloc and host:
            parts = urlsplit(f"{scheme or 'http'}://{host}{original if original.startswith('/') else '/' + original}")
        if parts.scheme:
            url["scheme"] = parts.scheme
        if parts.hostname:
            url["domain"] = parts.hostname
        if parts.port:
            url["port"] = parts.port
        if parts.path:
            url["path"] = parts.path
        if parts.scheme and parts.netloc:
            url["full"] = parts.geturl()
    except ValueError:
        pass
    return url


def _translate_span(kind: int, attrs: Sequence[KeyValue], doc: _Doc, sp: dict[str, Any]) -> None:
    """apm-data ``TranslateSpan``: native fields for http/db/messaging/rpc/genai, labels for the rest."""
    src = doc.source
    net_peer_name = net_peer_ip = peer_address = peer_service = ""
    net_peer_port = 0
    http_url = http_host = http_target = ""
    http_scheme = "http"
    method = ""
    status = 0
    db: dict[str, Any] = {}
    message_system = message_operation = queue = ""
    rpc_system = rpc_service = ""
    genai_system = ""
    is_http = is_db = is_rpc = is_messaging = False
    for k, v in _labels_except(attrs, doc, _SPAN_KEYS):
        t = type(v)
        if t is int:
            if k in _HTTP_STATUS_KEYS:
                is_http, status = True, v
            elif k in ("net.peer.port", "peer.port", A.SERVER_PORT):
                net_peer_port = v
            elif k == "rpc.grpc.status_code":
                is_rpc, rpc_system = True, "grpc"
            else:
                _set_label(doc, k, v)
        elif t is str:
            s = _truncate(v)
            if k == "http.host":
                is_http, http_host = True, s
            elif k == "http.scheme":
                is_http, http_scheme = True, s
            elif k == "http.target":
                is_http, http_target = True, s
            elif k in ("http.url", "url.full"):
                is_http, http_url = True, s
            elif k in _HTTP_METHOD_KEYS:
                is_http, method = True, s
            elif k in ("sql.query", "db.statement"):
                if k == "sql.query":
                    db.setdefault("type", "sql")
                db["statement"] = v  # not truncated, as in apm-data
                is_db = True
            elif k in ("db.name", "db.instance", "db.elasticsearch.cluster.name"):
                db["instance"] = s
                is_db = True
            elif k in ("db.system", "db.type"):
                db["type"] = s
                is_db = True
            elif k == "db.user":
                db["user"] = {"name": s}
                is_db = True
            elif k in ("net.peer.name", "peer.hostname", A.SERVER_ADDRESS):
                net_peer_name = s
            elif k in ("net.peer.ip", "peer.ipv4", "peer.ipv6"):
                net_peer_ip = s
            elif k == "peer.address":
                peer_address = s
            elif k == A.SESSION_ID:
                src["session"] = {"id": s}
            elif k in ("message_bus.destination", "messaging.destination"):
                is_messaging, queue = True, s
            elif k == "messaging.operation":
                is_messaging, message_operation = True, s
            elif k == "messaging.system":
                is_messaging, message_system = True, s
            elif k == "rpc.system":
                is_rpc, rpc_system = True, s
            elif k == "rpc.service":
                is_rpc, rpc_service = True, s
            elif k == "rpc.method" or k == "span.kind":
                pass
            elif k == "code.stacktrace":
                sp.setdefault("code", {})["stacktrace"] = s
            elif k == "peer.service":
                peer_service = s
            elif k == A.GEN_AI_SYSTEM:
                genai_system = s
            else:
                _set_label(doc, k, v)
        elif t is bool:
            _set_label(doc, k, v)
        else:
            _set_label(doc, k, v)  # doubles, arrays; maps and bytes are dropped

    if not net_peer_name and peer_address and (":" not in peer_address or _is_ipv6(peer_address)):
        net_peer_name = peer_address
    dest_port = net_peer_port
    dest_addr = net_peer_name or net_peer_ip
    full = None
    if http_url:
        full = _safe_split(http_url)
    elif http_target:
        host = http_host or (f"{dest_addr}:{dest_port}" if dest_addr and dest_port > 0 else dest_addr)
        full = _safe_split(f"{http_scheme}://{host}{http_target}")
        if full is not None:
            http_url = full.geturl()
    if full is not None and full.hostname:
        try:
            port = full.port or _default_port(full.scheme)
        except ValueError:
            port = _default_port(full.scheme)
        dest_addr = _truncate(full.hostname)
        if port > 0:
            dest_port = port

    dest_service: dict[str, Any] = {}
    target: dict[str, Any] = {}
    if peer_service:
        dest_service = {"name": peer_service, "resource": peer_service}
        target["name"] = peer_service
    if peer_address:
        dest_service["resource"] = peer_address

    event = src["event"]
    if is_http:
        if status:
            src["http"] = {"response": {"status_code": status}}
            if event["outcome"] == "unknown":
                event["outcome"] = "failure" if status >= 400 else "success"
        if method:
            src.setdefault("http", {})["request"] = {"method": method}
        src["url"] = {"original": http_url}
    if is_db:
        sp["db"] = db
    if is_messaging and queue:
        sp["message"] = {"queue": {"name": queue}}

    if genai_system:
        # apm-data derives the span type from gen_ai.system, ahead of the generic http branch
        sp["type"] = "genai"
        sp["subtype"] = genai_system
        target["type"] = genai_system
    elif is_db:
        sp["type"] = "db"
        if db.get("type"):
            sp["subtype"] = db["type"]
            target["type"] = db["type"]
            if "name" not in dest_service:
                dest_service = {"name": db["type"], "resource": db["type"]}
        else:
            target["type"] = "db"
        if db.get("instance"):
            target["name"] = db["instance"]
    elif is_messaging:
        sp["type"] = "messaging"
        if message_system:
            sp["subtype"] = message_system
        if not message_operation and kind == _KIND_PRODUCER:
            message_operation = "send"
        if message_operation:
            sp["action"] = message_operation
        target["type"] = message_system or "messaging"
        if message_system and "name" not in dest_service:
            dest_service = {"name": message_system, "resource": message_system}
        if dest_service.get("resource") and queue:
            dest_service["resource"] += "/" + queue
        if queue:
            target["name"] = queue
    elif is_rpc:
        sp["type"] = "external"
        if rpc_system:
            sp["subtype"] = rpc_system
        target["type"] = rpc_system or "external"
        if "name" not in dest_service:
            hp = f"{dest_addr}:{dest_port}"
            dest_service = {"name": hp, "resource": hp}
        if rpc_service:
            target["name"] = rpc_service
    elif is_http:
        sp["type"] = "external"
        sp["subtype"] = "http"
        target["type"] = "http"
        if full is not None and full.scheme and full.netloc:
            resource = full.netloc.rsplit("@", 1)[-1]
            name_host = resource
            if dest_port == _default_port(full.scheme):
                if full.port:
                    name_host = dest_addr
                else:
                    resource = f"{resource}:{dest_port}"
            target["name"] = resource
            if "name" not in dest_service:
                dest_service = {"name": f"{full.scheme}://{name_host}", "resource": resource}
    elif kind == _KIND_INTERNAL:
        sp["type"] = "app"
        sp["subtype"] = "internal"
    else:
        sp["type"] = "unknown"

    if dest_addr:
        dest: dict[str, Any] = {"address": dest_addr}
        if dest_port:
            dest["port"] = dest_port
        src["destination"] = dest
    if dest_service:
        dest_service.setdefault("type", sp["type"])
        sp["destination"] = {"service": dest_service}
    if target:
        src["service"]["target"] = target


def _safe_split(url: str) -> Any:
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _default_port(scheme: str) -> int:
    return {"http": 80, "https": 443}.get(scheme, 0)


def _is_ipv6(s: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


_PREFIXES: dict[str, str] = {}


def _prefix(key: str) -> str:
    p = _PREFIXES.get(key)
    if p is None:
        if len(_PREFIXES) > 10_000:
            _PREFIXES.clear()
        p = _PREFIXES[key] = key + "."
    return p


class _ColumnMapper(_Mapper):
    """The mapper writing each document straight into per-field columns (dotted names, row
    ``i`` of every column is document ``i``) instead of a nested ``_source``: the same
    fields, values and field order as flattening :func:`map_request`'s documents. Labels
    are keyed by their field name from the start (:class:`_FlatDoc`), and the sub-objects
    shared by the documents of a resource (``agent``, ``host``, ``process``, ...) and
    ``data_stream`` are flattened once."""

    doc_type = _FlatDoc

    def __init__(self, namespace: str, n: int) -> None:
        super().__init__(namespace)
        self.n = n
        self.i = 0
        self.ids: list[str] = []
        self.indexes: list[str] = []
        self.columns: dict[str, list[Any]] = {}
        # id(object) -> (object, its leaf fields): the object is kept so that its id stays unique
        self._flat: dict[int, tuple[Any, dict[str, Any]]] = {}

    def _shared(self, prefix: str, obj: dict[str, Any]) -> dict[str, Any]:
        hit = self._flat.get(id(obj))
        if hit is not None:
            return hit[1]
        flat: dict[str, Any] = {}
        flatten_into(obj, prefix, flat)
        self._flat[id(obj)] = (obj, flat)
        return flat

    def emit(self, index: str, doc_id: str, doc: _Doc) -> None:
        i = self.i
        self.i = i + 1
        self.ids.append(doc_id)
        self.indexes.append(index)
        cols = self.columns
        n = self.n
        base = self.res.base.source
        for key, value in doc.source.items():
            t = type(value)
            if t is dict:
                if base.get(key) is value:
                    put_row(self._shared(_prefix(key), value), cols, i, n)
                else:
                    flatten_into_columns(value, _prefix(key), cols, i, n)
            elif t is list and value and type(value[0]) is dict:
                flat: dict[str, Any] = {}
                flatten_into({key: value}, "", flat)
                put_row(flat, cols, i, n)
            else:
                col = cols.get(key)
                if col is None:
                    col = cols[key] = [None] * n
                col[i] = value
        for name, v in doc.labels.items():
            col = cols.get(name)
            if col is None:
                col = cols[name] = [None] * n
            col[i] = v
        for name, v in doc.numeric_labels.items():
            col = cols.get(name)
            if col is None:
                col = cols[name] = [None] * n
            col[i] = v
        ds = _DATA_STREAMS.get(index)
        if ds is None:
            type_, dataset, namespace = index.split("-", 2)
            ds = _DATA_STREAMS[index] = {"type": type_, "dataset": dataset, "namespace": namespace}
        put_row(self._shared("data_stream.", ds), cols, i, n)


def map_request_columns(
    request: ExportTraceServiceRequest, *, namespace: str = "default"
) -> tuple[list[str], list[str], dict[str, list[Any]]]:
    """``map_request``'s documents as columns, for the store: ``(ids, indexes, columns)``
    where ``columns`` maps each dotted leaf field to one value per document (None where a
    document lacks it), exactly what flattening the nested documents gives, without
    building them. Raises InvalidSpanError for malformed ids."""
    n = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                n += 1 + len(span.events)  # each span event is one document (an error or a log)
    m = _ColumnMapper(namespace, n)
    for rs in request.resource_spans:
        m.resource_spans(rs)
    if m.i != n:  # every span and every event must have given exactly one document
        raise AssertionError(f"column mapper wrote {m.i} documents for {n} spans and events")
    return m.ids, m.indexes, m.columns


def map_resource_spans(resource_spans: Iterable[ResourceSpans], *, namespace: str = "default") -> list[ApmDocument]:
    """Documents for OTLP ResourceSpans, in order: each span followed by its events."""
    m = _Mapper(namespace)
    for rs in resource_spans:
        m.resource_spans(rs)
    return m.out


def map_request(request: ExportTraceServiceRequest, *, namespace: str = "default") -> list[ApmDocument]:
    """Documents for one OTLP ``ExportTraceServiceRequest``. Raises InvalidSpanError for malformed ids."""
    return map_resource_spans(request.resource_spans, namespace=namespace)


def map_readable_spans(spans: Sequence[ReadableSpan], *, namespace: str = "default") -> list[ApmDocument]:
    """Documents for SDK spans, through the same OTLP encoding the SDK exporters use."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return map_request(encode_spans(spans), namespace=namespace)
