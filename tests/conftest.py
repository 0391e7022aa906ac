"""Shared fixtures: in-memory OTel providers and the instrumentor.

``telemetry`` gives a tracer, meter and logger provider that keep everything in memory
(``telemetry.spans()``, ``telemetry.metrics()``, ``telemetry.logs()``). ``instrument``
instruments OpenAI with those providers (and an optional guard / settings) and
uninstruments at teardown. ``replay`` is an :class:`OpenAIReplay`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_security.attributes import ACTION_SEVERITY, Action, Mode
from otel_llm_security.guard.scanner import ScanResult
from otel_llm_security.guard.verdict import Verdict
from otel_llm_security.record.settings import RecordSettings
from otel_llm_security.testing import OpenAIReplay

# A shell starts background jobs with SIGINT ignored, and children inherit that: then
# Python installs no KeyboardInterrupt handler, and the tests that stop `collect` or an
# example app with Ctrl-C (SIGINT) would hang. Handle SIGINT here as a terminal session
# does; exec resets a handled signal to its default in every child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TEST_HASH_KEY = b"test-hash-key"

try:  # property-based tests (tests/*/test_*_fuzz.py): the same draws on every run unless
    # HYPOTHESIS_PROFILE=explore asks for new ones (then failures are kept in .hypothesis/).
    import os as _os

    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", max_examples=60, derandomize=True, database=None, print_blob=True)
    _hypothesis_settings.register_profile("explore", max_examples=1000)
    _hypothesis_settings.load_profile(_os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:
    pass


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    span_exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    metric_reader: InMemoryMetricReader
    logger_provider: LoggerProvider
    log_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        """Instrument name -> its data points (collected now)."""
        out: dict[str, list[Any]] = {}
        data = self.metric_reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out

    def logs(self) -> list[Any]:
        return list(self.log_exporter.get_finished_logs())

    def providers(self) -> dict[str, Any]:
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    span_exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(span_exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    log_exporter = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    yield Telemetry(tp, span_exporter, mp, reader, lp, log_exporter)
    tp.shutdown()
    mp.shutdown()
    lp.shutdown()


def make_settings(**overrides: Any) -> RecordSettings:
    base: dict[str, Any] = {"hash_key": TEST_HASH_KEY, "hash_key_configured": True}
    base.update(overrides)
    return RecordSettings(**base)


@pytest.fixture
def instrument(telemetry: Telemetry) -> Iterator[Callable[..., Any]]:
    """``instrument(guard=..., settings=...)``: our instrumentor on the test providers."""
    from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor

    inst = OpenAISecurityInstrumentor()

    def _instrument(**kwargs: Any) -> OpenAISecurityInstrumentor:
        kwargs.setdefault("settings", make_settings())
        inst.instrument(**telemetry.providers(), **kwargs)
        return inst

    yield _instrument
    inst.uninstrument()


@pytest.fixture
def replay() -> OpenAIReplay:
    return OpenAIReplay()


@dataclass(frozen=True)
class Trigger:
    """ScriptedGuard rule: ``marker`` in the text makes ``scanner`` fail."""

    marker: str
    scanner: str
    threat: str
    action: Action
    score: float = 0.9
    direction: str = "input"
    replacement: str | None = None  # redaction: marker -> replacement


class ScriptedGuard:
    """A guard double with the engine's interface and scripted, deterministic verdicts.

    Capture tests use it to drive exact verdicts (block, redact, warn, errors) without
    depending on what the built-in scanners consider risky; tests with the real
    ``Guard`` live next to them.
    """

    def __init__(self, mode: Mode = Mode.MONITOR, triggers: tuple[Trigger, ...] = (), raises: bool = False,
                 fail_closed: bool = False) -> None:
        self.mode = mode
        self.triggers = triggers
        self.raises = raises
        self.fail_closed = fail_closed
        self.inputs: list[str] = []
        self.outputs: list[tuple[str, str]] = []

    def _verdict(self, text: str, direction: str) -> Verdict:
        if self.raises:
            raise RuntimeError("scripted guard failure")
        results = []
        action = Action.ALLOW
        sanitized = text
        for t in self.triggers:
            if t.direction != direction:
                continue
            hit = t.marker in text
            results.append(ScanResult(t.scanner, direction, t.score if hit else 0.0, not hit,  # type: ignore[arg-type]
                                      (t.threat,) if hit else (), reason=f"{t.scanner} matched" if hit else ""))
            if hit:
                if ACTION_SEVERITY[t.action] > ACTION_SEVERITY[action]:
                    action = t.action
                if t.replacement is not None:
                    sanitized = sanitized.replace(t.marker, t.replacement)
        enforce = self.mode is Mode.ENFORCE
        blocked = enforce and action is Action.BLOCK
        failed = [r for r in results if not r.passed]
        reason = "; ".join(f"{r.scanner}: {','.join(r.threats)}" for r in failed) if blocked else ""
        return Verdict(mode=self.mode, action=action, blocked=blocked, block_reason=reason, results=tuple(results),
                       sanitized_text=sanitized if enforce and action is Action.REDACT else None,
                       duration_ms=0.25, direction=direction)  # type: ignore[arg-type]

    def scan_input(self, text: str) -> Verdict:
        self.inputs.append(text)
        return self._verdict(text, "input")

    def scan_output(self, text: str, prompt: str) -> Verdict:
        self.outputs.append((text, prompt))
        return self._verdict(text, "output")


INJECTION = Trigger("IGNORE PREVIOUS INSTRUCTIONS", "prompt_injection", "prompt_injection", Action.BLOCK)
SECRET_OUT = Trigger("AKIA", "secrets", "secret", Action.BLOCK, score=1.0, direction="output")
EMAIL = Trigger("alice@example.com", "pii", "pii", Action.REDACT, score=0.7, replacement="[EMAIL]")


@pytest.fixture
def guard_factory() -> Callable[..., ScriptedGuard]:
    """``guard_factory(mode=Mode.ENFORCE)``: a ScriptedGuard with the standard triggers."""

    def make(mode: Mode = Mode.MONITOR, triggers: tuple[Trigger, ...] = (INJECTION, SECRET_OUT, EMAIL),
             **kw: Any) -> ScriptedGuard:
        return ScriptedGuard(mode, triggers, **kw)

    return make
