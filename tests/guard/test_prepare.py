"""``otel-llm-security prepare`` fills the Hyperscan cache that later processes load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_llm_security.guard.scanners import hyperscan_prefilter as hs


def _prepare(cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # Not the switch tests/guard's conftest may have set for its pure-Python runs.
    full = {k: v for k, v in os.environ.items() if k != hs.ENV_SWITCH}
    full.update({hs.CACHE_DIR_ENV: str(cache), **env})
    return subprocess.run(
        [sys.executable, "-m", "otel_llm_security.cli.main", "prepare"],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not hs.installed(), reason="the hyperscan wheel does not exist for this platform")
def test_prepare_compiles_once_then_loads_from_the_cache(tmp_path: Path) -> None:
    first = _prepare(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "prompt_injection: compiled" in first.stdout
    built = sorted(p.name.split("-")[0] for p in (tmp_path / "hyperscan").glob("*.hsdb"))
    # refusal's rules are in insecure_output's database
    assert {"insecure_output", "prompt_injection", "secrets"} <= set(built) and "refusal" not in built

    second = _prepare(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "compiled" not in second.stdout
    assert "prompt_injection: cache" in second.stdout


def test_prepare_reports_a_bad_policy(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("mode: sometimes\n")
    run = _prepare(tmp_path, OTEL_LLM_SECURITY_POLICY=str(bad))
    assert run.returncode == 1
    assert "prepare:" in run.stderr and "mode" in run.stderr


def test_prepare_without_hyperscan_says_nothing_is_needed(tmp_path: Path) -> None:
    run = _prepare(tmp_path, **{hs.ENV_SWITCH: "0"})
    assert run.returncode == 0, run.stderr
    assert "hyperscan: not used" in run.stdout
    assert not (tmp_path / "hyperscan").exists()


@pytest.mark.skipif(not hs.installed(), reason="the hyperscan wheel does not exist for this platform")
def test_guard_prepare_returns_every_database_ready() -> None:
    from otel_llm_security.guard.engine import Guard

    previous = hs.set_enabled(True)
    try:
        groups = Guard.from_policy(None).prepare()
    finally:
        hs.set_enabled(previous)
    names = {g.name for g in groups}
    assert {"insecure_output", "prompt_injection", "secrets"} <= names
    assert all(g.source in ("cache", "compiled") and g.error is None for g in groups)


def test_guard_prepare_with_hyperscan_off_has_nothing_to_build() -> None:
    from otel_llm_security.guard.engine import Guard

    previous = hs.set_enabled(False)
    try:
        assert Guard.from_policy(None).prepare() == []
    finally:
        hs.set_enabled(previous)
