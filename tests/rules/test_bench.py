"""bench/rules.py runs (on a small document count) and reports every rule."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from otel_llm_security.rules.model import RULES_DIR

BENCH = Path(__file__).resolve().parents[2] / "bench" / "rules.py"


def test_bench_generates_store_shaped_documents_and_times_every_rule(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_rules", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["rules.py", "--docs", "20000", "--repeat", "1", "--json"])
    assert module.main() == 0
    out = json.loads(capsys.readouterr().out)
    assert out["docs"] == 20000
    assert set(out["rules_s"]) == {p.stem for p in RULES_DIR.glob("*.toml")}
    assert all(isinstance(n, int) for n in out["alerts"].values())
