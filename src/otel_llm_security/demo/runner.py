"""``otel-llm-security demo``: the whole product, locally, in one command.

1. Starts the fake OpenAI API (:mod:`~otel_llm_security.demo.server`) and the local OTLP
   endpoint of ``collect`` (:class:`~otel_llm_security.export.otlp_receiver.OtlpReceiver`)
   writing into a fresh store, both on 127.0.0.1.
2. Instruments the real ``openai`` client with :class:`OpenAISecurityInstrumentor`
   (guard from the environment, monitor mode) under an OTel SDK whose OTLP/HTTP
   exporter sends to that endpoint, and plays the scripted traffic through the chat
   app, each request inside a ``POST /chat`` server span as a web framework makes.
3. Runs every detection rule with the local ES|QL engine and prints the alerts.
4. With ``enforce``: replays the same traffic in enforce mode and shows what was blocked.
5. Writes the HTML report of the store.

``otlp_endpoints`` also sends every span to real OTLP/HTTP endpoints (a collector in
front of Elastic), so the same traffic shows up in Kibana.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from otel_llm_security.attributes import ENV_MODE, Mode
from otel_llm_security.demo.traffic import Scenario, interleaved, responder_for, scenarios
from otel_llm_security.report.data import AlertRow

if TYPE_CHECKING:
    from rich.console import Console

    from otel_llm_security.demo.alerts import RuleRun

# A fixed demo key: the demo can then name the pseudonymous users it created. Real
# deployments set OTEL_LLM_SECURITY_HASH_KEY to a secret.
DEMO_HASH_KEY = b"otel-llm-security-demo-key"
SERVICE_NAME = "demo-chat-app"


@dataclass(frozen=True)
class TurnOutcome:
    scenario: str
    mode: str
    status: str  # answered | redacted | blocked | refused | error
    reason: str = ""


@dataclass
class DemoResult:
    store_path: Path
    report_path: Path | None
    scenarios: list[Scenario]
    user_labels: dict[str, str]  # pseudonymous id -> user id
    outcomes: list[TurnOutcome] = field(default_factory=list)
    rule_runs: list[RuleRun] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    seconds: float = 0.0
    calls_stored: int = 0

    def alerts_for(self, scenario: Scenario) -> list[AlertRow]:
        pseudo = {p for p, u in self.user_labels.items() if u == scenario.user}
        return [a for a in self.alerts if a.user in pseudo]

    @property
    def attacks_without_alert(self) -> list[str]:
        return [s.name for s in self.scenarios if s.kind == "attack" and not self.alerts_for(s)]

    @property
    def ordinary_with_alert(self) -> list[str]:
        return [s.name for s in self.scenarios if s.kind == "ordinary" and self.alerts_for(s)]


def pseudonymize(user: str) -> str:
    from otel_llm_security.record.hashing import Hasher

    return Hasher(DEMO_HASH_KEY).hexdigest(user)


def default_demo_store() -> Path:
    from otel_llm_security.store.duckdb_store import default_store_path

    return default_store_path().with_name("demo.duckdb")


def _fresh(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            p.unlink()


class _Pipeline:
    """The instrumented app's telemetry set-up: OTel SDK → OTLP/HTTP → endpoint."""

    def __init__(self, endpoint: str, mode: Mode, also_to: tuple[str, ...] = ()) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor
        from otel_llm_security.guard.engine import Guard
        from otel_llm_security.record.settings import RecordSettings

        self.provider = TracerProvider(
            resource=Resource.create(
                {
                    "service.name": SERVICE_NAME,
                    "service.version": "1.0.0",
                    "deployment.environment.name": "demo",
                }
            )
        )
        # The local collect endpoint, plus any real collector the user points the demo at.
        for url in (endpoint, *also_to):
            exporter = OTLPSpanExporter(endpoint=f"{url.rstrip('/')}/v1/traces")
            self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self.tracer = self.provider.get_tracer("demo-chat-app")
        guard = Guard.from_environment({**os.environ, ENV_MODE: mode.value})
        settings = RecordSettings(hash_key=DEMO_HASH_KEY, hash_key_configured=True)
        self.instrumentor = OpenAISecurityInstrumentor()
        self.instrumentor.instrument(tracer_provider=self.provider, guard=guard, settings=settings)

    def close(self) -> None:
        self.instrumentor.uninstrument()
        self.provider.force_flush()
        self.provider.shutdown()


def play(
    endpoint: str,
    base_url: str,
    azure_endpoint: str,
    items: list[Scenario],
    mode: Mode,
    on_turn: Callable[[Scenario, TurnOutcome], None] | None = None,
    also_to: tuple[str, ...] = (),
) -> list[TurnOutcome]:
    """Plays every scenario's turns through the instrumented chat app; returns their outcomes."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from otel_llm_security.demo.app import ChatApp

    pipeline = _Pipeline(endpoint, mode, also_to)
    app = ChatApp(base_url, azure_endpoint)
    outcomes = []
    try:
        for scenario, _, turn in interleaved(items):
            with pipeline.tracer.start_as_current_span(
                "POST /chat",
                kind=SpanKind.SERVER,
                attributes={"http.request.method": "POST", "url.path": "/chat", "http.route": "/chat"},
            ) as span:
                result = app.chat(
                    scenario.user, turn.prompt, scenario.session, turn.stream, turn.azure, scenario.model
                )
                status = {"answered": 200, "blocked": 403, "refused": 422}.get(result.status, 502)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            status_text = result.status
            if result.status == "answered" and result.text != turn.reply.content:
                # The app got something else than the model said: the guard redacted it.
                status_text = "redacted"
            outcome = TurnOutcome(scenario.name, mode.value, status_text, result.reason)
            outcomes.append(outcome)
            if on_turn:
                on_turn(scenario, outcome)
    finally:
        app.close()
        pipeline.close()
    return outcomes


def prepare_scanners() -> tuple[int, float]:
    """Loads or compiles the policy's pattern databases before any traffic, as
    ``otel-llm-security prepare`` does at deploy time: on a new machine they would
    otherwise compile in the background during the first seconds of traffic, while the
    scans take the slower pure-Python path (the flood's 100 K-character prompts then
    overrun their time budget and are recorded as scanner errors). Returns how many
    databases had to be compiled (0: all came from the cache) and the seconds spent."""
    from otel_llm_security.guard.engine import Guard

    started = time.monotonic()
    groups = Guard.from_environment().prepare()
    return sum(1 for g in groups if g.source == "compiled"), time.monotonic() - started


def run_demo(
    store_path: Path | None = None,
    *,
    enforce: bool = False,
    report_path: Path | None = None,
    console: Console | None = None,
    now: datetime | None = None,
    otlp_endpoints: tuple[str, ...] = (),
) -> DemoResult:
    """Runs the demo end to end (see the module doc) and prints it to ``console``."""
    from otel_llm_security.demo import display
    from otel_llm_security.demo.alerts import run_all_rules, sorted_alerts
    from otel_llm_security.demo.server import FakeOpenAIServer
    from otel_llm_security.export.otlp_receiver import OtlpReceiver
    from otel_llm_security.report.data import build_report
    from otel_llm_security.report.html import write_report
    from otel_llm_security.store.duckdb_store import DocumentStore

    console = console or display.console_for_output()
    started = time.monotonic()
    store_path = Path(store_path) if store_path else default_demo_store()
    _fresh(store_path)
    items = scenarios()
    labels = {pseudonymize(s.user): s.user for s in items}
    result = DemoResult(store_path, report_path, items, labels)

    store = DocumentStore(store_path)
    try:
        with FakeOpenAIServer(responder_for(items)) as api, OtlpReceiver(store, port=0) as receiver:
            display.header(console, api.base_url, receiver.http_endpoint, store_path, otlp_endpoints)
            compiled, seconds = prepare_scanners()
            if compiled:
                console.print(f"  compiled the scanners' pattern databases in {seconds:.1f} s (first run on this "
                              "machine; cached for the next runs, as `otel-llm-security prepare` does at deploy time)")
            with display.traffic_progress(console, items, "monitor") as advance:
                result.outcomes += play(
                    receiver.http_endpoint,
                    api.base_url,
                    api.azure_endpoint,
                    items,
                    Mode.MONITOR,
                    advance,
                    otlp_endpoints,
                )
            result.rule_runs = run_all_rules(store, now)
            result.alerts = sorted_alerts(result.rule_runs)
            result.calls_stored = display.traffic_table(console, store, items, labels)
            display.alerts_table(console, result.rule_runs, result.alerts, labels)
            if enforce:
                with display.traffic_progress(console, items, "enforce") as advance:
                    enforced = play(
                        receiver.http_endpoint,
                        api.base_url,
                        api.azure_endpoint,
                        items,
                        Mode.ENFORCE,
                        advance,
                        otlp_endpoints,
                    )
                result.outcomes += enforced
                display.enforce_table(console, items, enforced)
        if report_path is not None:
            data = build_report(store, result.alerts, labels, title="otel-llm-security demo")
            write_report(data, report_path)
    finally:
        store.close()
    result.seconds = time.monotonic() - started
    display.summary(console, result)
    return result
