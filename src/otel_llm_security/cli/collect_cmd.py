"""``otel-llm-security collect``: a local OTLP endpoint that writes APM documents into the store."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "collect",
        help="receive OTLP traces on 127.0.0.1 and store them as Elastic APM documents",
        description=(
            "Listen for OTLP traces (HTTP: protobuf or JSON, gzip; optionally gRPC) and write them, mapped "
            "to the documents Elastic APM Server would index, into the local store. Point an app at it with "
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf."
        ),
    )
    p.add_argument("--store", help="store file (default: $OTEL_LLM_SECURITY_STORE or the user data dir)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: local only)")
    p.add_argument("--port", type=int, default=4318, help="OTLP/HTTP port (default 4318; 0 picks a free one)")
    p.add_argument("--grpc-port", type=int, default=None, help="also serve OTLP/gRPC on this port (e.g. 4317)")
    p.add_argument("--namespace", default="default", help="data stream namespace (default: default)")
    p.add_argument("--max-body-mb", type=float, default=32, help="largest accepted request, decoded (default 32)")
    p.add_argument(
        "--workers", type=int, default=0,
        help="worker processes that parse and map requests, so that mapping and the DuckDB insert use "
        "separate cores (default 0: all in this process; see bench/store.py for when it pays off)",
    )
    p.add_argument("--keep-source", action="store_true", help="also store each document's JSON _source (larger store)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_llm_security.export.otlp_receiver import OtlpReceiver
    from otel_llm_security.store.duckdb_store import DocumentStore, StoreError, default_store_path

    path = args.store or default_store_path()
    from otel_llm_security.export.apm_mapper import traces_index

    try:
        traces_index(args.namespace)
    except ValueError as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 2
    workers = args.workers
    if workers < 0:
        print("collect: --workers must be >= 0", file=sys.stderr)
        return 2
    try:
        store = DocumentStore(path, keep_source=args.keep_source)
    except StoreError as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 1
    try:
        receiver = OtlpReceiver(
            store, args.host, args.port, grpc_port=args.grpc_port,
            max_body=int(args.max_body_mb * 1024 * 1024), namespace=args.namespace, workers=workers,
        )
    except (OSError, RuntimeError) as exc:
        store.close()
        print(f"collect: {exc}", file=sys.stderr)
        return 1
    grpc = f", OTLP/gRPC on {args.host}:{receiver.grpc_port}" if receiver.grpc_port else ""
    print(f"collect: OTLP/HTTP on {receiver.http_endpoint}/v1/traces (protobuf, JSON, gzip){grpc}", flush=True)
    print(f"collect: store {path}", flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if hasattr(signal, "SIGUSR1"):  # kill -USR1 <pid>: every thread's stack on stderr, for a receiver that hangs
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        store.close()
        s = receiver.stats
        print(f"collect: {s.requests} requests, {s.spans} spans, {s.documents} documents stored, "
              f"{s.rejected} requests rejected", flush=True)
    return 0
