"""A local OTLP trace receiver: OTLP/HTTP (protobuf and JSON, gzip) and optionally gRPC → mapper → store.

Every request is answered only after its documents are committed to the store, so a
``200`` means the spans are on disk. Errors follow the OTLP specification: the body
of a 4xx/5xx is a ``google.rpc.Status`` in the request's encoding, whose
``message`` says what was wrong; retryable conditions (store busy, disk full) are
``503`` with ``Retry-After`` so that SDK exporters and collectors retry instead of
dropping data.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_llm_security.export.apm_mapper import InvalidSpanError, map_request, map_request_columns
from otel_llm_security.store.duckdb_store import (
    ColumnBatch,
    DocumentStore,
    MappingError,
    StoreError,
    arrow_batch,
    column_batch,
)

if TYPE_CHECKING:
    import grpc

log = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
DEFAULT_MAX_BODY = 32 * 1024 * 1024  # decoded request size limit (the collector's default max_request_body_size is 20 MiB)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class RequestError(Exception):
    """A request the receiver rejects; ``status`` is the HTTP status, the message the reason."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ReceiverStats:
    requests: int = 0
    spans: int = 0
    documents: int = 0
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, spans: int, documents: int) -> None:
        with self.lock:
            self.requests += 1
            self.spans += spans
            self.documents += documents

    def reject(self) -> None:
        with self.lock:
            self.rejected += 1


def decode_body(body: bytes, content_encoding: str, max_size: int) -> bytes:
    """Undo ``gzip``/``deflate`` with a bound on the decoded size (no decompression bombs).

    A gzip body may hold several members (RFC 1952: concatenated gzip files decode to the
    concatenation of their data); each is decoded. Bytes after the last member or after
    the deflate stream are an error, not something to drop."""
    enc = content_encoding.strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "deflate", "x-gzip"):
        raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"unsupported Content-Encoding {content_encoding!r} (use gzip)")
    gzip = enc in ("gzip", "x-gzip")
    wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
    out = bytearray()
    rest = body
    while True:
        d = zlib.decompressobj(wbits)
        try:
            out += d.decompress(rest, max_size + 1 - len(out))
            if len(out) > max_size or d.unconsumed_tail:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"decompressed body exceeds {max_size} bytes")
            out += d.flush()
        except zlib.error as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not valid {enc}: {exc}") from exc
        if len(out) > max_size:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"decompressed body exceeds {max_size} bytes")
        if not d.eof:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"truncated {enc} body")
        rest = d.unused_data
        if not rest:
            return bytes(out)
        if not gzip:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"{len(rest)} bytes after the end of the {enc} stream")


def _hex_to_b64(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{what} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{what} is not hex: {value[:40]!r}") from exc
    return base64.b64encode(raw).decode()


def parse_json_request(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON: protobuf JSON mapping, except that trace and span ids are hex strings, not base64."""
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "an OTLP/JSON body is an object with resourceSpans")
    for rs in _objs(obj.get("resourceSpans", obj.get("resource_spans"))):
        for ss in _objs(rs.get("scopeSpans", rs.get("scope_spans"))):
            for span in _objs(ss.get("spans")):
                for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
                    if key in span:
                        span[key] = _hex_to_b64(span[key], key)
                for link in _objs(span.get("links")):
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        if key in link:
                            link[key] = _hex_to_b64(link[key], "link " + key)
    req = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(obj, req, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"not an OTLP ExportTraceServiceRequest: {exc}") from exc
    return req


def _objs(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RequestError(HTTPStatus.BAD_REQUEST, "OTLP/JSON lists must hold objects")
    return value


def parse_protobuf_request(body: bytes) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not a protobuf ExportTraceServiceRequest: {exc}") from exc
    return req


def count_spans(req: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def request_batch(req: ExportTraceServiceRequest, namespace: str, keep_source: bool) -> ColumnBatch:
    """The store's columns for one request. Without ``_source`` the mapper writes the columns
    directly (no nested documents to build and flatten); with it, through the documents."""
    if keep_source:
        return column_batch(map_request(req, namespace=namespace), keep_source=True)
    ids, indexes, columns = map_request_columns(req, namespace=namespace)
    return ColumnBatch(ids, indexes, columns)


def prepare(body: bytes, content_type: str, namespace: str, keep_source: bool, arrow: bool = False) -> tuple[Any, ...]:
    """Parse, map and flatten one request body: ``("ok", spans, ColumnBatch)`` or
    ``("error", http_status, reason)``. Pure and picklable, so it runs in worker processes;
    ``arrow`` (what workers do) also converts the columns to Arrow arrays where it can, so
    that the process holding the store has only the insert left to do."""
    try:
        req = parse_json_request(body) if content_type == JSON else parse_protobuf_request(body)
        batch = request_batch(req, namespace, keep_source)
        return ("ok", count_spans(req), arrow_batch(batch) if arrow else batch)
    except RequestError as exc:
        return ("error", exc.status, str(exc))
    except InvalidSpanError as exc:
        return ("error", HTTPStatus.BAD_REQUEST, f"invalid span: {exc}")
    except RecursionError:
        return ("error", HTTPStatus.BAD_REQUEST, "attribute values nested too deeply")


class TraceIngest:
    """Maps requests and writes them to the store; shared by the HTTP and gRPC front ends.

    With ``workers > 0`` parsing, mapping and flattening run in that many worker
    processes (the GIL would otherwise keep them on one core) and only the DuckDB
    insert runs here; every request is still acknowledged after its own commit.
    """

    def __init__(self, store: DocumentStore, *, namespace: str = "default", workers: int = 0) -> None:
        self.store = store
        self.namespace = namespace
        self.stats = ReceiverStats()
        self.workers = workers
        self._pool: Any = None
        self._pool_lock = threading.Lock()
        if workers > 0:
            self._pool = self._new_pool()

    def _new_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: forking a process that holds a DuckDB connection and server threads is unsafe
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _prepare(self, body: bytes, content_type: str) -> tuple[Any, ...]:
        keep = self.store.keep_source
        if self._pool is None:
            return prepare(body, content_type, self.namespace, keep)
        from concurrent.futures.process import BrokenProcessPool

        pool = self._pool
        try:
            return pool.submit(prepare, body, content_type, self.namespace, keep, True).result()
        except BrokenProcessPool as exc:  # a worker died (e.g. killed for memory): start fresh, let the client retry
            with self._pool_lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, "a mapping worker died; retry", retry_after=1) from exc

    def ingest_body(self, body: bytes, content_type: str) -> int:
        """Parse, map and store one decoded request body; returns documents written. Raises RequestError."""
        result = self._prepare(body, content_type)
        if result[0] == "error":
            raise RequestError(result[1], result[2])
        _, spans, batch = result
        n = self._write(batch)
        self.stats.add(spans, n)
        return n

    def ingest(self, req: ExportTraceServiceRequest) -> int:
        """Store an already parsed request; returns the number of documents written. Raises RequestError."""
        if self._pool is not None:
            return self.ingest_body(req.SerializeToString(), PROTOBUF)
        try:
            batch = request_batch(req, self.namespace, self.store.keep_source)
        except InvalidSpanError as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"invalid span: {exc}") from exc
        n = self._write(batch)
        self.stats.add(count_spans(req), n)
        return n

    def _write(self, batch: ColumnBatch) -> int:
        try:
            return self.store.write_batch(batch)
        except MappingError as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"cannot index the spans: {exc}") from exc
        except StoreError as exc:
            log.error("store write failed: %s", exc)
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), retry_after=5) from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "otel-llm-security-collect"
    timeout = 60  # seconds a client may stall mid-request (slowloris) before its connection is dropped

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        as_json = ctype == JSON
        try:
            if self.path.split("?")[0] != "/v1/traces":
                self._drain()
                raise RequestError(HTTPStatus.NOT_FOUND, f"{self.path}: this receiver stores traces only (POST /v1/traces)")
            body = self._read_body()
            if ctype not in (PROTOBUF, JSON):
                raise RequestError(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    f"unsupported Content-Type {ctype or '(none)'!r}: use {PROTOBUF} or {JSON}",
                )
            with self.server.inflight:  # bounds memory: at most this many bodies decoded at once
                body = decode_body(body, self.headers.get("Content-Encoding", ""), self.server.max_body)
                self.server.ingest.ingest_body(body, ctype)
        except RequestError as exc:
            self.server.ingest.stats.reject()
            self._error(exc, as_json)
            return
        except Exception as exc:  # a bug must not kill the server or hang the client
            log.exception("unexpected error handling %s", self.path)
            self.server.ingest.stats.reject()
            self._error(RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc}"), as_json)
            return
        resp = ExportTraceServiceResponse()
        if as_json:
            self._send(HTTPStatus.OK, JSON, json_format.MessageToJson(resp).encode())
        else:
            self._send(HTTPStatus.OK, PROTOBUF, resp.SerializeToString())

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(HTTPStatus.OK, "text/plain", b"otel-llm-security collect: POST OTLP traces to /v1/traces\n")
        else:
            self._error(RequestError(HTTPStatus.NOT_FOUND, f"{self.path}: not found"), False)

    def do_PUT(self) -> None:
        self._drain()
        self._error(RequestError(HTTPStatus.METHOD_NOT_ALLOWED, "use POST"), False)

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= self.server.max_body:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported: send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        if not length.isdigit():
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length[:20]!r}")
        n = int(length)
        if n > self.server.max_body:
            self.close_connection = True
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {n} bytes exceeds the limit of {self.server.max_body}")
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body ended after {len(body)} of {n} bytes")
        return body

    def _error(self, exc: RequestError, as_json: bool) -> None:
        code = code_pb2.INVALID_ARGUMENT if exc.status < 500 else code_pb2.UNAVAILABLE
        status = status_pb2.Status(code=code, message=str(exc))
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        if as_json:
            self._send(exc.status, JSON, json_format.MessageToJson(status).encode(), headers)
        else:
            self._send(exc.status, PROTOBUF, status.SerializeToString(), headers)

    def _send(self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], ingest: TraceIngest, max_body: int) -> None:
        self.ingest = ingest
        self.max_body = max_body
        self.inflight = threading.BoundedSemaphore(max(4, 2 * ingest.workers))
        super().__init__(addr, _Handler)


class OtlpReceiver:
    """OTLP receiver writing into a store. ``port=0`` picks a free port (see :attr:`http_endpoint`)."""

    def __init__(
        self,
        store: DocumentStore,
        host: str = "127.0.0.1",
        port: int = DEFAULT_HTTP_PORT,
        *,
        grpc_port: int | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        namespace: str = "default",
        workers: int = 0,
    ) -> None:
        self.ingest = TraceIngest(store, namespace=namespace, workers=workers)
        self.host = host
        try:
            self._http = _HTTPServer((host, port), self.ingest, max_body)
        except OSError as exc:
            self.ingest.close()
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._grpc: grpc.Server | None = None
        self.grpc_port: int | None = None
        if grpc_port is not None:
            try:
                self._grpc, self.grpc_port = _start_grpc(self.ingest, host, grpc_port)
            except (OSError, RuntimeError):
                self._http.server_close()
                self.ingest.close()
                raise
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> ReceiverStats:
        return self.ingest.stats

    @property
    def http_port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def http_endpoint(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the traces path is ``/v1/traces``)."""
        return f"http://{self.host}:{self.http_port}"

    def start(self) -> OtlpReceiver:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, name="otlp-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._http.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
            self._grpc = None
        self.ingest.close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start_grpc(ingest: TraceIngest, host: str, port: int) -> tuple[grpc.Server, int]:
    try:
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    except ImportError as exc:
        raise RuntimeError("OTLP/gRPC needs grpcio: pip install grpcio (or leave --grpc-port off)") from exc

    class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: ExportTraceServiceRequest, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
            try:
                ingest.ingest(request)
            except RequestError as exc:
                ingest.stats.reject()
                code = grpc.StatusCode.INVALID_ARGUMENT if exc.status < 500 else grpc.StatusCode.UNAVAILABLE
                context.abort(code, str(exc))
            return ExportTraceServiceResponse()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", DEFAULT_MAX_BODY)],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port}")
    server.start()
    return server, bound


__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_MAX_BODY",
    "OtlpReceiver",
    "ReceiverStats",
    "RequestError",
    "TraceIngest",
    "decode_body",
    "parse_json_request",
    "parse_protobuf_request",
    "prepare",
]
