"""The parsed twin of the shipped policy (guard/default_policy.json) that lets
``instrument()`` skip importing PyYAML: current, equal to the YAML, and ignored when stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otel_llm_security.guard import policy as pol


def test_json_twin_is_current() -> None:
    """If this fails after editing default_policy.yaml, run
    ``python -c "from otel_llm_security.guard.policy import write_default_policy_json as w; w()"``."""
    source = pol.default_policy_path().read_bytes()
    twin = json.loads(pol._default_policy_json_path().read_text(encoding="utf-8"))
    assert twin["source_sha256"] == pol._sha256(source)
    assert twin["policy"] == yaml.safe_load(source.decode("utf-8"))


def test_default_policy_equals_the_yaml() -> None:
    assert pol.default_policy() == pol.load_policy(pol.default_policy_path())


def test_default_policy_does_not_import_yaml() -> None:
    code = ("import sys\nfrom otel_llm_security.guard.policy import default_policy\n"
            "p = default_policy()\nassert p.scanners, p\nprint('yaml' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("content", [
    '{"source_sha256": "0000", "policy": {"version": 1, "id": "stale", "scanners": []}}',
    "not json",
    '["a list"]',
])
def test_stale_or_broken_twin_falls_back_to_the_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     content: str) -> None:
    twin = tmp_path / "default_policy.json"
    twin.write_text(content, encoding="utf-8")
    monkeypatch.setattr(pol, "_default_policy_json_path", lambda: twin)
    assert pol.default_policy() == pol.load_policy(pol.default_policy_path())
    monkeypatch.setattr(pol, "_default_policy_json_path", lambda: tmp_path / "missing.json")
    assert pol.default_policy() == pol.load_policy(pol.default_policy_path())
