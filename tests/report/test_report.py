"""The HTML report: aggregates from stored APM documents, and charts that really draw in Chromium."""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from otel_llm_security.report.data import AlertRow, ReportData, calls_from_documents
from otel_llm_security.report.html import render_html, write_report

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
XSS = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def doc(
    seconds: int,
    user: str,
    *,
    blocked: bool = False,
    threats: list[str] | None = None,
    risk: float = 0.0,
    model: str = "gpt-4o-mini",
    tokens: tuple[int, int] = (10, 20),
    reason: str = "",
) -> dict[str, Any]:
    """An LLM-call document in the APM shape (nested _source, labels / numeric_labels)."""
    labels: dict[str, Any] = {
        "llm_security_mode": "monitor",
        "llm_security_action": "block" if blocked else ("warn" if threats else "allow"),
        "llm_security_blocked": "true" if blocked else "false",
        "enduser_pseudo_id": user,
        "gen_ai_request_model": model,
    }
    if threats:
        labels["llm_security_threats"] = threats if len(threats) > 1 else threats[0]
    if reason:
        labels["llm_security_block_reason"] = reason
    return {
        "@timestamp": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
        "processor": {"event": "span"},
        "trace": {"id": f"{seconds:032x}"},
        "labels": labels,
        "numeric_labels": {
            "llm_security_risk_score": risk,
            "gen_ai_usage_input_tokens": tokens[0],
            "gen_ai_usage_output_tokens": tokens[1],
        },
    }


def sample_docs() -> list[dict[str, Any]]:
    docs = [doc(i * 20, "u-alice", tokens=(30, 60)) for i in range(6)]
    docs += [
        doc(30 + i * 15, "u-mallory", threats=["prompt_injection", "jailbreak"], risk=0.95) for i in range(3)
    ]
    docs.append(doc(200, "u-trudy", threats=["insecure_output"], risk=0.9, model="gpt-4o", tokens=(40, 400)))
    docs.append(
        doc(
            260,
            "u-victor",
            blocked=True,
            threats=["provider_filter"],
            risk=1.0,
            model=XSS,
            reason="content_filter",
        )
    )
    # Not an LLM call: an HTTP transaction of the same app, and a span event log document.
    docs.append({"@timestamp": T0.isoformat(), "processor": {"event": "transaction"}, "labels": {"x": "y"}})
    docs.append(
        {"@timestamp": T0.isoformat(), "processor": {"event": "log"}, "message": "gen_ai.security.finding"}
    )
    return docs


def sample_report() -> ReportData:
    alerts = [
        AlertRow("LLM prompt injection detected", "high", "u-mallory", 3, T0, T0 + timedelta(seconds=60), 73),
        AlertRow("LLM insecure output", "medium", "u-trudy", 1, T0 + timedelta(seconds=200), None, 47),
    ]
    return ReportData(
        calls_from_documents(sample_docs()),
        alerts,
        {"u-mallory": "mallory"},
        title="Test report",
        generated_at=T0,
    )


def test_aggregates_select_llm_calls_by_attribute():
    data = sample_report()
    assert len(data.calls) == 11
    assert data.summary() == {
        "calls": 11,
        "blocked": 1,
        "flagged": 5,
        "users": 4,
        "alerts": 2,
        "tokens": 1100,
    }
    assert data.threats()[0] == {"label": "prompt_injection", "value": 3}
    assert {t["label"] for t in data.threats()} == {
        "prompt_injection",
        "jailbreak",
        "insecure_output",
        "provider_filter",
    }
    users = data.top_users()
    assert [u["value"] for u in users] == [1.0, 0.95, 0.9, 0.0]
    assert users[1]["label"].startswith("mallory (") and users[1]["alerts"] == 1
    tokens = {t["label"]: (t["input"], t["output"]) for t in data.tokens_by_model()}
    assert tokens["gpt-4o-mini"] == (6 * 30 + 3 * 10, 6 * 60 + 3 * 20)
    timeline = data.timeline()
    assert timeline["bucket_seconds"] == 5
    assert sum(b["blocked"] for b in timeline["buckets"]) == 1
    assert sum(b["allowed"] for b in timeline["buckets"]) == 10


def test_html_is_self_contained_and_escapes_telemetry_values():
    page = render_html(sample_report())
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "<img src=x" not in page  # the model name only appears JSON-escaped
    assert "\\u003cimg src=x" in page
    assert "Content-Security-Policy" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Figures(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, str]] = {}
        self.body: dict[str, str] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "figure":
            self.figures[a["id"]] = a
        if tag == "body":
            self.body = a


def render_in_chromium(page: Path, screenshot: Path | None = None) -> _Figures:
    exe = _chromium()
    assert exe
    with tempfile.TemporaryDirectory() as profile:
        args = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,2200",
            "--virtual-time-budget=5000",
        ]
        if screenshot:
            subprocess.run(
                [*args, f"--screenshot={screenshot}", page.as_uri()],
                capture_output=True,
                timeout=120,
                check=True,
            )
        out = subprocess.run(
            [*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
        )
    parser = _Figures()
    parser.feed(out.stdout)
    return parser


chromium = pytest.mark.skipif(
    _chromium() is None,
    reason="no chromium binary: scripts/setup.sh installs Debian's chromium when run as root (apt-get install chromium)",
)


@pytest.mark.chromium
@chromium
def test_charts_draw_in_headless_chromium(tmp_path):
    data = sample_report()
    page = write_report(data, tmp_path / "report.html")
    shot = Path(os.environ["REPORT_SCREENSHOT"]) if os.environ.get("REPORT_SCREENSHOT") else None
    dom = render_in_chromium(page, shot)
    assert "data-error" not in dom.body, dom.body.get("data-error")
    assert dom.body.get("data-charts-drawn") == "4"
    payload = data.payload()
    expected_marks = {
        "chart-timeline": sum(
            (b["blocked"] > 0) + (b["allowed"] > 0) for b in payload["timeline"]["buckets"]
        ),
        "chart-threats": len(payload["threats"]),
        "chart-users": len(payload["users"]),
        "chart-tokens": sum((t["input"] > 0) + (t["output"] > 0) for t in payload["tokens"]),
    }
    for figure, marks in expected_marks.items():
        attrs = dom.figures[figure]
        assert int(attrs["data-marks"]) == marks, figure
        assert int(attrs["data-area"]) > 0, f"{figure}: bars have no rendered area"
    # The untrusted model name was drawn as text, not parsed as markup.
    assert "data-pwned" not in dom.body
    assert dom.tags.count("img") == 0


@pytest.mark.chromium
@chromium
def test_empty_store_renders_without_error(tmp_path):
    page = write_report(ReportData([], generated_at=T0), tmp_path / "empty.html")
    dom = render_in_chromium(page)
    assert "data-error" not in dom.body
    assert all(f["data-marks"] == "0" for f in dom.figures.values())


def test_payload_is_json_round_trippable():
    payload = sample_report().payload()
    assert json.loads(json.dumps(payload)) == payload


def _store_from_real_pipeline(path: Path) -> dict[str, str]:
    """A store filled by the real pipeline: instrumented openai calls → StoreSpanExporter → mapper → DuckDB."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor
    from otel_llm_security.demo.app import ChatApp
    from otel_llm_security.demo.runner import DEMO_HASH_KEY, pseudonymize
    from otel_llm_security.demo.server import FakeOpenAIServer
    from otel_llm_security.demo.traffic import responder_for, scenarios
    from otel_llm_security.export.store_exporter import StoreSpanExporter
    from otel_llm_security.guard.engine import Guard
    from otel_llm_security.record.settings import RecordSettings
    from otel_llm_security.store.duckdb_store import DocumentStore

    items = [
        s
        for s in scenarios()
        if s.name in ("ordinary-alice", "prompt-injection", "content-filter", "xss-bait")
    ]
    store = DocumentStore(path)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(StoreSpanExporter(store)))
    instrumentor = OpenAISecurityInstrumentor()
    instrumentor.instrument(
        tracer_provider=provider,
        guard=Guard.from_environment({}),
        settings=RecordSettings(hash_key=DEMO_HASH_KEY, hash_key_configured=True),
    )
    try:
        with FakeOpenAIServer(responder_for(items)) as api:
            app = ChatApp(api.base_url, api.azure_endpoint)
            for s in items:
                for t in s.turns:
                    app.chat(s.user, t.prompt, s.session, t.stream, t.azure, s.model)
            app.close()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        store.close()
    return {pseudonymize(s.user): s.user for s in items}


@pytest.mark.chromium
@chromium
def test_report_command_on_a_store_from_the_real_pipeline(tmp_path):
    from otel_llm_security.cli.main import main

    users = _store_from_real_pipeline(tmp_path / "store.duckdb")
    out = tmp_path / "report.html"
    assert main(["report", "--store", str(tmp_path / "store.duckdb"), "-o", str(out)]) == 0
    page = out.read_text()
    payload = json.loads(
        page.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    )
    assert payload["summary"]["calls"] == 3 + 3 + 3 + 2  # every turn of the four scenarios
    assert {u["label"][:12] for u in payload["users"]} == {p[:12] for p in users}
    assert {"prompt_injection", "provider_filter"} <= {t["label"] for t in payload["threats"]}
    assert payload["summary"]["blocked"] == 3  # the provider's three content-filter refusals
    assert any(a["rule"] for a in payload["alerts"])
    dom = render_in_chromium(out)
    assert "data-error" not in dom.body
    for figure, attrs in dom.figures.items():
        assert int(attrs["data-marks"]) > 0 and int(attrs["data-area"]) > 0, figure
