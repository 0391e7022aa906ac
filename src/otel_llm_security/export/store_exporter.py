"""A SpanExporter that writes APM documents straight into the local store (no receiver)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_llm_security.export.apm_mapper import InvalidSpanError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from otel_llm_security.store.duckdb_store import DocumentStore

log = logging.getLogger(__name__)


class StoreSpanExporter(SpanExporter):
    """Maps finished spans to APM documents and commits them to a :class:`DocumentStore`.

    ``store`` is an open store (left open on shutdown), or a path, or None for the
    default path (``$OTEL_LLM_SECURITY_STORE`` or the user data dir); a store opened
    here is closed on :meth:`shutdown`. Use it behind a ``BatchSpanProcessor``: each
    export is one transaction.
    """

    def __init__(self, store: DocumentStore | str | Path | None = None, *, namespace: str = "default") -> None:
        from otel_llm_security.store.duckdb_store import DocumentStore, default_store_path

        if isinstance(store, DocumentStore):
            self.store = store
            self._owned = False
        else:
            self.store = DocumentStore(store if store is not None else default_store_path())
            self._owned = True
        self.namespace = namespace
        self._lock = threading.Lock()
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        from otel_llm_security.export.otlp_receiver import request_batch
        from otel_llm_security.store.duckdb_store import StoreError

        if self._shutdown:
            log.warning("StoreSpanExporter is shut down; %d spans not written", len(spans))
            return SpanExportResult.FAILURE
        try:
            # the same OTLP encoding as the SDK exporters, then the receiver's column path:
            # no nested documents to build and flatten unless the store keeps _source
            batch = request_batch(encode_spans(spans), self.namespace, self.store.keep_source)
            with self._lock:
                self.store.write_batch(batch)
        except (StoreError, InvalidSpanError) as exc:
            log.error("could not write %d spans to the store: %s", len(spans), exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is committed before it returns

    def shutdown(self) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            if self._owned:
                self.store.close()
