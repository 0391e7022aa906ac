"""Instrumented OpenAI calls into in-memory telemetry, in a few lines.

For fixtures, demos and benchmarks that need the real record::

    from otel_llm_security.testing import instrumented, Reply, chat_completion

    with instrumented(service_name="fixture-app") as run:
        run.replay.enqueue(Reply.of(chat_completion("Hi")))
        run.client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    spans = run.spans()        # ReadableSpan objects, ready for the APM mapper

The block instruments OpenAI (our instrumentor only) with private SDK providers (spans
kept in memory, metrics on an in-memory reader, log records in memory), and
uninstruments on exit; the global OTel providers are not touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from otel_llm_security.testing.transport import OpenAIReplay

DEFAULT_TEST_HASH_KEY = b"otel-llm-security-testing"


@dataclass
class InstrumentedRun:
    """What :func:`instrumented` yields."""

    replay: OpenAIReplay
    client: Any  # openai.OpenAI over the replay
    async_client: Any  # openai.AsyncOpenAI over the replay
    span_exporter: Any
    metric_reader: Any
    log_exporter: Any
    tracer_provider: Any

    def spans(self) -> list[Any]:
        """Finished spans (``opentelemetry.sdk.trace.ReadableSpan``), in end order."""
        return list(self.span_exporter.get_finished_spans())

    def logs(self) -> list[Any]:
        """Emitted security log records (SDK ``ReadableLogRecord`` objects)."""
        return list(self.log_exporter.get_finished_logs())

    def metrics(self) -> Any:
        """Collect and return the SDK ``MetricsData`` (None when nothing was recorded)."""
        return self.metric_reader.get_metrics_data()


@contextmanager
def instrumented(
    guard: Any = None,
    *,
    settings: Any = None,
    service_name: str = "otel-llm-security-test",
    resource_attributes: dict[str, Any] | None = None,
    replay: OpenAIReplay | None = None,
) -> Iterator[InstrumentedRun]:
    """Instrument OpenAI into in-memory telemetry for the duration of the block.

    ``guard`` defaults to ``Guard.from_environment()``; ``settings`` to a fixed test
    hash key (so hashes are reproducible) without content capture.
    """
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor
    from otel_llm_security.record.settings import RecordSettings

    resource = Resource.create({"service.name": service_name, **(resource_attributes or {})})
    span_exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(span_exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader], resource=resource)
    log_exporter = InMemoryLogRecordExporter()
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    if settings is None:
        settings = RecordSettings(hash_key=DEFAULT_TEST_HASH_KEY, hash_key_configured=True)
    inst = OpenAISecurityInstrumentor()
    if inst.is_instrumented_by_opentelemetry:
        raise RuntimeError("OpenAI is already instrumented in this process; uninstrument it first")
    replay = replay or OpenAIReplay()
    inst.instrument(tracer_provider=tp, meter_provider=mp, logger_provider=lp, guard=guard, settings=settings)
    try:
        yield InstrumentedRun(replay, replay.client(), replay.async_client(), span_exporter, reader, log_exporter, tp)
    finally:
        inst.uninstrument()
        tp.force_flush()
