"""`otel-llm-security demo` end to end, as the README runs it: real CLI, real subprocess.

One run (monitor, then --enforce replay) serves every test of this module: the fake
API, the instrumented openai client, OTLP/HTTP into the collect receiver, the store,
every rule through the local ES|QL engine, and the HTML report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_llm_security.demo.alerts import run_all_rules, sorted_alerts
from otel_llm_security.demo.runner import pseudonymize
from otel_llm_security.demo.traffic import scenarios
from otel_llm_security.report.data import calls_from_store
from otel_llm_security.store.duckdb_store import DocumentStore

CLI = Path(sys.executable).with_name("otel-llm-security")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from otel_llm_security.export.otlp_receiver import OtlpReceiver

    out = tmp_path_factory.mktemp("demo")
    store = out / "demo.duckdb"
    report = out / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env["COLUMNS"] = "200"
    # Stands in for a real collector that --otlp-endpoint also sends to.
    with DocumentStore(out / "remote.duckdb") as remote, OtlpReceiver(remote, port=0) as collector:
        proc = subprocess.run(
            [
                str(CLI),
                "demo",
                "--enforce",
                "--store",
                str(store),
                "--report",
                str(report),
                "--otlp-endpoint",
                collector.http_endpoint,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        remote_calls = len(calls_from_store(remote))
    return {"proc": proc, "store": store, "report": report, "remote_calls": remote_calls}


def test_demo_exits_zero_and_prints_tables_and_summary(demo):
    proc = demo["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for text in (
        "Playing traffic",
        "Alerts:",
        "Rule",
        "Severity",
        "First seen",
        "Last seen",
        "Enforce mode: what was blocked",
    ):
        assert text in out, text
    summary = [line for line in out.splitlines() if "LLM calls recorded" in line]
    assert (
        len(summary) == 1
        and "attack scenarios alerted" in summary[0]
        and "blocked in enforce mode" in summary[0]
    )
    assert "rule could not run" not in out
    assert "Traceback" not in proc.stderr


def test_every_attack_scenario_alerts_and_no_ordinary_user_does(demo):
    with DocumentStore(demo["store"], read_only=True) as store:
        runs = run_all_rules(store)
        alerts = sorted_alerts(runs)
    assert not [r for r in runs if r.error], [(r.name, r.error) for r in runs if r.error]
    by_user: dict[str, set[str]] = {}
    for a in alerts:
        by_user.setdefault(a.user, set()).add(a.rule)
    undetected = []
    for s in scenarios():
        fired = by_user.get(pseudonymize(s.user), set())
        if s.kind == "ordinary":
            assert not fired, f"ordinary user {s.user} alerted: {fired}"
        elif not fired:
            # A rule can only alert on what a scanner found: name the missing scanner
            # rather than blame the rules when the guard has none for this threat yet.
            if not guard_finds_expected_threat(s):
                undetected.append(s.name)
                continue
            pytest.fail(f"no alert for attack scenario {s.name}")
    if undetected:
        pytest.xfail(f"the guard finds none of the expected threats of {undetected}: scanner not there yet")


def guard_finds_expected_threat(scenario) -> bool:
    from otel_llm_security.guard.engine import Guard

    guard = Guard.from_environment({})
    found: set[str] = set()
    for turn in scenario.turns:
        found |= set(guard.scan_input(turn.prompt).threats)
        found |= set(guard.scan_output(turn.reply.content, turn.prompt).threats)
    # The provider's content filter is read from the response, not scanned.
    return bool(found & set(scenario.expected_threats)) or "provider_filter" in scenario.expected_threats


def test_the_store_holds_both_passes_with_the_record(demo):
    with DocumentStore(demo["store"], read_only=True) as store:
        calls = calls_from_store(store)
        kinds = {
            row[0]
            for row in store.connection.execute('SELECT DISTINCT "processor.event" FROM docs').fetchall()
        }
    total = sum(s.requests for s in scenarios())
    assert len(calls) == 2 * total
    assert {"transaction", "span"} <= kinds  # POST /chat server span + the LLM client span
    users = {pseudonymize(s.user) for s in scenarios()}
    assert {c.user for c in calls} == users  # pseudonymous ids only, never the raw user id
    blocked = [c for c in calls if c.blocked]
    assert any(c.action == "block" and "prompt_injection" in c.threats for c in blocked)
    assert all(c.user != pseudonymize("alice@example.com") for c in blocked)


def test_enforce_mode_blocks_the_injection_and_spares_ordinary_users(demo):
    out = demo["proc"].stdout
    table = out[out.index("Enforce mode: what was blocked") :]
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.startswith("│")}
    injection = rows["Prompt-injection attacker"].split("│")
    assert int(injection[3]) == 3  # every injection turn blocked by the guard
    for title in ("Ordinary user: travel questions", "Ordinary user: coding help", "Ordinary user: cooking"):
        cells = rows[title].split("│")
        assert (
            int(cells[3]) == 0 and int(cells[4]) == 0 and int(cells[5]) == 0
        )  # not blocked, refused, redacted
    secret = rows["Secret leaked in an answer"].split("│")
    assert int(secret[5]) == 1  # the leaked keys were redacted before the app saw the answer


def test_otlp_endpoint_receives_the_same_calls(demo):
    assert demo["remote_calls"] == 2 * sum(s.requests for s in scenarios())


def test_report_is_written(demo):
    page = demo["report"].read_text()
    assert "otel-llm-security demo" in page and 'id="report-data"' in page


@pytest.mark.slow
def test_readme_command_verbatim(tmp_path):
    """The README's fresh-machine command, run as written (setup is idempotent after test.sh ran it)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    command = "bash scripts/setup.sh && .venv/bin/otel-llm-security demo"
    assert f"    {command}\n" in readme
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    # Keep the demo's store out of the user data dir shared by everyone on this machine.
    env["OTEL_LLM_SECURITY_STORE"] = str(tmp_path / "store.duckdb")
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "6/6 attack scenarios alerted · 0 ordinary users alerted" in proc.stdout.replace("\n", " ")
    assert (tmp_path / "demo.duckdb").exists() and (tmp_path / "demo-report.html").exists()
