"""The performance scripts of bench/ owned here (overhead.py, startup.py, scaling.py, phases.py, cold.py) run in their tiny mode and print their tables.

No timing is asserted (the machines are shared and noisy): only that each script
finishes, prints its machine line and the header of each table, and (for startup.py)
that llm_guard, torch and duckdb stay off the import + instrument() path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def run(script: str, *args: str, timeout: int = 600) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("Machine: nproc"), proc.stdout[:500]
    return proc.stdout


@pytest.mark.slow
def test_overhead_quick_prints_every_table() -> None:
    out = run("overhead.py", "--quick", "--only", "bare,sdk,ours,ours-enforce")
    for title in ("### Non-streaming, sync client", "### Non-streaming, async client", "### Streaming, 50 content deltas",
                  "### Added cost, µs per call (median)", "### Targets (issue 7)"):
        assert title in out, out
    assert "| config" in out and "median" in out and "p99" in out
    # each configuration ran and its span carried the record where it should
    assert "ours           ok" in out and '"record": true' in out


@pytest.mark.slow
def test_scaling_quick_prints_every_table() -> None:
    out = run("scaling.py", "--quick")
    assert "### ASCII text" in out and "### Unicode text" in out and "### Adversarial texts" in out
    assert "| backticks (output)" in out and "| control characters (input)" in out
    assert "default policy: scan_input" in out and "x" in out.split("| default policy: scan_input")[1].splitlines()[0]


@pytest.mark.slow
def test_startup_quick_prints_the_table_and_no_heavy_imports() -> None:
    out = run("startup.py", "--quick")
    assert "### import otel_llm_security + instrument()" in out
    warm = [line for line in out.splitlines() if line.startswith("| warm app")]
    assert len(warm) == 2 and "1st call after the warm-up" in warm[1]
    assert all(line.split("|")[-2].strip() == "none" for line in warm), warm
    assert "Warm-up (guard/warm_up.py, a daemon thread started by instrument())" in out


@pytest.mark.slow
def test_phases_quick_prints_every_step_and_scanner() -> None:
    out = run("phases.py", "--quick")
    assert "### One sync call of bench/overhead.py's workload, step by step" in out
    for step in ("call start (Call.__init__)", "guard: scan_input", "guard: scan_output", "record (Recorder.record)",
                 "the SDK's set_attributes", "metrics"):
        row = next((line for line in out.splitlines() if line.startswith("|") and line.split("|")[1].strip() == step), None)
        assert row is not None and not row.endswith("| - |"), (step, out)  # each step was timed
    assert "| input:prompt_injection |" in out and "| output:insecure_output |" in out


@pytest.mark.slow
def test_cold_quick_prints_warm_and_cold_for_every_step() -> None:
    out = run("cold.py", "--quick")
    assert "### µs per step" in out
    for step in ("prompt_injection scanner", "guard: scan_input", "guard: scan_output"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {step} "))
        cells = [cell.strip() for cell in row.split("|")[2:-1]]
        assert len(cells) == 4 and all(cells) and cells[-1].startswith("x"), row
