"""Shared helpers of the performance scripts (bench/overhead.py, bench/startup.py).

Statistics (median, p99, spread of per-round medians), markdown tables, the machine
description printed with every table, and the fixed workload texts (a ~1,500-character
prompt, a ~300-character answer) so every script measures the same thing.

Nothing here imports the package or ``openai``: workers import what their
configuration needs, nothing more.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
LLMGUARD_PYTHON = ROOT / ".venv-llmguard" / "bin" / "python"
# contrib openai-v2 2.4b0 needs opentelemetry-util-genai < 1.3 (util.genai.instruments),
# kept beside the venv by scripts/setup.sh (see the coexistence test).
V2_COMPAT = ROOT / ".venv" / "compat-openai-v2"

# A benign, realistic prompt: a support engineer asking for a summary of a ticket
# thread. ASCII only on purpose (the common case); bench/scanners.py also measures text
# with typographic quotes and accents, which takes the Unicode normalisation path.
PROMPT = (
    "You are helping a support engineer triage a customer ticket. Summarise the thread "
    "below in five bullet points, then suggest the next step and a short reply to the "
    "customer. Keep the tone friendly and factual, and do not promise dates.\n\n"
    "Ticket 48213, priority normal, product: inventory sync for online shops.\n"
    "Customer: Since the update on Monday our stock levels stop syncing after about an hour. "
    "The dashboard still shows the last sync as successful, but new orders do not reduce the "
    "quantities in the warehouse view. We restarted the connector twice and it works again "
    "for a while. We have around four hundred products and two sales channels.\n"
    "Agent: Thanks for the details. Could you tell us which connector version you run and "
    "whether the second sales channel was added recently?\n"
    "Customer: Version 3.8.2 on both channels. The second channel has been there for a year. "
    "We did change the schedule from every ten minutes to every five minutes last week, "
    "because the marketing team runs flash sales on Fridays.\n"
    "Agent: Understood. Shorter schedules can overlap when a run takes longer than the "
    "interval, and the newer version skips a run while the previous one holds the lock. "
    "Could you send the connector log from yesterday afternoon?\n"
    "Customer: Attached. We also noticed that the error count in the health panel is zero, "
    "which is confusing if runs are being skipped. Is there a setting to make skipped runs "
    "visible, and what schedule would you recommend for our size?\n"
    "Agent: We will look at the log and get back to you with a recommendation."
)
# What the model answers: ~300 characters, benign.
ANSWER = (
    "Summary: stock sync stops about an hour after Monday's update; runs overlap since the "
    "schedule moved to five minutes, and version 3.8.2 silently skips locked runs. Next step: "
    "check the log for skipped runs and suggest a ten-minute schedule. Reply: thanks, we are "
    "reviewing your log and will follow up."
)
MODEL = "gpt-4o-mini"
STREAM_PIECES = 50  # content deltas per streamed answer (plus a role chunk and a finish chunk)


def machine() -> dict[str, str]:
    """nproc, CPU model, Python and load, printed above every table."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()}",
        "load average (1/5/15 min)": load,
    }


def print_machine(extra: dict[str, str] | None = None) -> None:
    info = {**machine(), **(extra or {})}
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    s = sorted(values)
    if not s:
        return math.nan
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def median(values: Iterable[float]) -> float:
    v = list(values)
    return statistics.median(v) if v else math.nan


def spread(round_medians: Sequence[float]) -> str:
    """Min-max of the per-round medians: how much the shared machine moved the figure."""
    if not round_medians:
        return "n/a"
    return f"{min(round_medians):.0f}-{max(round_medians):.0f}"


def fmt(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table (copied as is into docs/performance.md)."""
    rows = [list(map(str, r)) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def python_of(interpreter: Path) -> str:
    return str(interpreter) if interpreter.exists() else sys.executable
