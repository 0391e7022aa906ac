"""A minimal OTLP/HTTP protobuf receiver for tests (gzip-aware, in a thread).

Accepts ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` with
``application/x-protobuf`` bodies, optionally ``Content-Encoding: gzip``, parses them
with opentelemetry-proto and keeps the decoded requests.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

_KINDS = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


class OTLPSink:
    def __init__(self) -> None:
        self.received: dict[str, list[Any]] = {k: [] for k in _KINDS}
        self.raw_bodies: list[bytes] = []
        self.encodings: list[str] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                kind = _KINDS.get(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                sink.encodings.append(encoding)
                if encoding == "gzip":
                    body = gzip.decompress(body)
                if kind is None or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                req = kind[0]()
                req.ParseFromString(body)
                sink.raw_bodies.append(body)
                sink.received[self.path].append(req)
                out = kind[1]().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OTLPSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- decoded views ---

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every received span."""
        out = []
        for req in self.received["/v1/traces"]:
            for rs in req.resource_spans:
                res = attrs_of(rs.resource.attributes)
                for ss in rs.scope_spans:
                    out.extend((res, s) for s in ss.spans)
        return out

    def log_records(self) -> list[Any]:
        return [lr for req in self.received["/v1/logs"] for rl in req.resource_logs for sl in rl.scope_logs
                for lr in sl.log_records]

    def metrics(self) -> dict[str, Any]:
        return {m.name: m for req in self.received["/v1/metrics"] for rm in req.resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics}


def value_of(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return tuple(value_of(x) for x in v.array_value.values)
    if which == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def attrs_of(kvs: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in kvs}
