"""Elasticsearch field names and types of the APM documents, and of our attributes in them.

The types follow the APM index templates (``traces-apm``, ``logs-apm.app``,
``logs-apm.error``, shipped with Elasticsearch's apm-data plugin): ``labels.*`` are
keyword, ``numeric_labels.*`` scaled_float (reported here as ``double``, which is
how ES|QL sees them), ``*.duration.us`` long, ``@timestamp`` date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from otel_llm_security import attributes as A

ES_TYPES: frozenset[str] = frozenset({"keyword", "text", "long", "double", "boolean", "date"})

# APM-native fields the mapper writes, with their index-template types. Keyword
# fields that the templates also index as text (``message``,
# ``error.exception.message``) are "text" here: ES|QL reads both as strings.
_NATIVE_FIELDS: dict[str, str] = {
    "@timestamp": "date",
    "timestamp.us": "long",
    "data_stream.type": "keyword",
    "data_stream.dataset": "keyword",
    "data_stream.namespace": "keyword",
    "processor.event": "keyword",
    "event.outcome": "keyword",
    "event.kind": "keyword",
    "event.success_count": "long",
    "agent.name": "keyword",
    "agent.version": "keyword",
    "observer.type": "keyword",
    "observer.version": "keyword",
    "trace.id": "keyword",
    "span.id": "keyword",
    "parent.id": "keyword",
    "transaction.id": "keyword",
    "transaction.name": "keyword",
    "transaction.type": "keyword",
    "transaction.result": "keyword",
    "transaction.sampled": "boolean",
    "transaction.root": "boolean",
    "transaction.duration.us": "long",
    "transaction.representative_count": "double",
    "span.name": "keyword",
    "span.type": "keyword",
    "span.subtype": "keyword",
    "span.action": "keyword",
    "span.kind": "keyword",
    "span.duration.us": "long",
    "span.representative_count": "double",
    "span.destination.service.resource": "keyword",
    "span.destination.service.name": "keyword",
    "span.destination.service.type": "keyword",
    "span.links.trace.id": "keyword",
    "span.links.span.id": "keyword",
    "destination.address": "keyword",
    "destination.port": "long",
    "service.name": "keyword",
    "service.version": "keyword",
    "service.environment": "keyword",
    "service.node.name": "keyword",
    "service.language.name": "keyword",
    "service.language.version": "keyword",
    "service.runtime.name": "keyword",
    "service.runtime.version": "keyword",
    "service.framework.name": "keyword",
    "service.framework.version": "keyword",
    "service.target.type": "keyword",
    "service.target.name": "keyword",
    "host.hostname": "keyword",
    "host.name": "keyword",
    "host.architecture": "keyword",
    "host.os.platform": "keyword",
    "host.os.type": "keyword",
    "host.os.version": "keyword",
    "process.pid": "long",
    "process.executable": "keyword",
    "process.title": "keyword",
    "container.id": "keyword",
    "kubernetes.pod.name": "keyword",
    "kubernetes.pod.uid": "keyword",
    "kubernetes.namespace": "keyword",
    "cloud.provider": "keyword",
    "cloud.region": "keyword",
    "session.id": "keyword",
    "span.db.statement": "keyword",
    "span.db.instance": "keyword",
    "span.db.type": "keyword",
    "span.db.user.name": "keyword",
    "span.message.queue.name": "keyword",
    "span.code.stacktrace": "keyword",
    "transaction.message.queue.name": "keyword",
    "source.port": "long",
    "host.id": "keyword",
    "host.os.full": "keyword",
    "host.os.name": "keyword",
    "process.command_line": "keyword",
    "cloud.availability_zone": "keyword",
    "cloud.account.id": "keyword",
    "container.name": "keyword",
    "kubernetes.node.name": "keyword",
    "url.original": "keyword",
    "url.full": "keyword",
    "url.scheme": "keyword",
    "url.domain": "keyword",
    "url.port": "long",
    "url.path": "keyword",
    "http.request.method": "keyword",
    "http.response.status_code": "long",
    "user_agent.original": "keyword",
    "message": "text",
    "error.id": "keyword",
    "error.grouping_key": "keyword",
    "error.culprit": "keyword",
    "error.type": "keyword",
    "error.exception.type": "keyword",
    "error.exception.message": "text",
    "error.exception.handled": "boolean",
    "error.stack_trace": "keyword",
    "error.message": "text",
}

_LABEL_ES_TYPE = {"string": "keyword", "boolean": "keyword", "string[]": "keyword", "int": "double", "double": "double"}


def label_key(attribute: str) -> str:
    """apm-data ``replaceDots``: every ``.`` of an attribute key becomes ``_``."""
    return attribute.replace(".", "_")


def attribute_field(name: str, type_: str) -> tuple[str, str]:
    """APM field name and ES type of a non-native span attribute of the given OTel type.

    Strings, booleans and string arrays become ``labels.<key>`` (keyword); ints,
    doubles and numeric arrays become ``numeric_labels.<key>`` (scaled_float, read as
    double).
    """
    es_type = _LABEL_ES_TYPE[type_]
    prefix = "labels." if es_type == "keyword" else "numeric_labels."
    return prefix + label_key(name), es_type


# Contract attributes that APM Server maps to a native field instead of a label.
# Some are native only on span documents (TranslateSpan) and stay labels on
# transactions (TranslateTransaction): both names are listed, span first.
_NATIVE_ATTRIBUTE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    A.SESSION_ID: (("session.id", "keyword"),),
    A.SERVER_PORT: (("destination.port", "long"), ("numeric_labels.server_port", "double")),
    A.SERVER_ADDRESS: (("destination.address", "keyword"), ("labels.server_address", "keyword")),
    A.GEN_AI_SYSTEM: (("span.subtype", "keyword"), ("labels.gen_ai_system", "keyword")),
}


@dataclass(frozen=True)
class ContractField:
    """Where one attribute of :data:`attributes.CONTRACT` lands in an APM document."""

    attribute: str
    field: str
    es_type: str
    pattern: bool = False


def contract_fields() -> tuple[ContractField, ...]:
    """APM field name and ES type for every attribute of the contract.

    Pattern attributes (``llm.security.input.<scanner>.score``) keep their
    placeholder: ``numeric_labels.llm_security_input_<scanner>_score``; use
    :func:`pattern_regex` to match concrete names.
    """
    out: list[ContractField] = []
    for spec in A.CONTRACT:
        native = _NATIVE_ATTRIBUTE_FIELDS.get(spec.name)
        if native:
            out.extend(ContractField(spec.name, f, t, spec.pattern) for f, t in native)
            continue
        field, es_type = attribute_field(spec.name, spec.type)
        out.append(ContractField(spec.name, field, es_type, spec.pattern))
    return tuple(out)


def contract_field(attribute: str) -> ContractField:
    """The (first) APM field of one contract attribute; KeyError when it is not in the contract."""
    for cf in contract_fields():
        if cf.attribute == attribute:
            return cf
    raise KeyError(attribute)


def pattern_regex(field: str) -> re.Pattern[str]:
    """A regex matching the concrete field names of a pattern field (``<scanner>`` → ``[A-Za-z0-9_]+``)."""
    parts = re.split(r"<[a-z_]+>", field)
    return re.compile("[A-Za-z0-9_]+".join(re.escape(p) for p in parts) + r"\Z")


def apm_fields() -> dict[str, str]:
    """Every APM field name the mapper can write for our telemetry → its ES type.

    The APM-native fields plus the field of every contract attribute (pattern
    attributes keep their ``<scanner>`` placeholder).
    """
    out = dict(_NATIVE_FIELDS)
    for cf in contract_fields():
        out.setdefault(cf.field, cf.es_type)
    return out


def field_es_type(name: str) -> str | None:
    """ES type of a field as the APM index templates map it, or None if the templates leave it to dynamic mapping."""
    t = _NATIVE_FIELDS.get(name)
    if t is not None:
        return t
    if name.startswith("labels."):
        return "keyword"
    if name.startswith("numeric_labels."):
        return "double"
    return None
