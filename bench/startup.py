"""Import time and added RSS of ``import otel_llm_security`` plus ``instrument()``.

    .venv/bin/python bench/startup.py            # 15 fresh processes per case
    .venv/bin/python bench/startup.py --quick    # 2 per case (smoke)
    .venv/bin/python bench/startup.py --importtime   # also the slowest imports on that path

Each measurement is a fresh interpreter (``python -c``), default policy, no
environment overrides, measured with ``time.perf_counter`` and ``VmRSS`` from
/proc/self/status around the step. Two cases, interleaved:

* ``warm app``: the app has already imported ``openai`` and set up the OTel SDK (what
  an instrumented app does anyway), then imports ``otel_llm_security`` and calls
  ``OpenAISecurityInstrumentor().instrument()``: the cost this package adds. This is
  the figure the target (< 150 ms, < 20 MB) applies to.
* ``warm app, 1st call after the warm-up``: the same, but the app's first LLM call
  comes once the warm-up that ``instrument()`` starts in a daemon thread has finished
  (guard/warm_up.py), as in a server whose first request comes after start-up. With
  ``--no-warm-up`` (``OTEL_LLM_SECURITY_WARM_UP=false``) there is no warm-up to wait for:
  the before/after of the warm-up, in the 1st-call column.
* ``cold``: nothing imported before: ``openai`` and the OTel SDK are loaded by the
  import/instrument step itself (the whole start-up cost of an otherwise empty app).

Bytecode: by default every child runs with a bytecode cache (``PYTHONPYCACHEPREFIX``, a
temporary directory filled by one untimed process first), as an installed package has
its ``.pyc`` files; ``PYTHONDONTWRITEBYTECODE`` in the caller's environment would
otherwise make every fresh process compile the checkout's modules from source (tens of
ms that no deployed app pays). ``--bytecode none`` measures that case instead.

Then two chat calls on the replay transport (bench/overhead.py's prompt and answer):
the first pays whatever is loaded or compiled lazily on first use. Also printed: whether ``llm_guard``, ``torch``, ``transformers``, ``duckdb``,
``pyarrow`` or ``numpy`` were imported on that path (none of them may be).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

HEAVY = ("llm_guard", "torch", "transformers", "duckdb", "pyarrow", "numpy", "tokenizers", "spacy")

CHILD = r"""
import json, sys, time
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
if {warm!r}:
    import openai
    from opentelemetry import trace, metrics
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    trace.set_tracer_provider(TracerProvider())
    metrics.set_meter_provider(MeterProvider())
before_mods = set(sys.modules)
print("--- bench marker ---", file=sys.stderr, flush=True)
rss0 = rss_kb()
t0 = time.perf_counter()
import otel_llm_security
t1 = time.perf_counter()
from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor
OpenAISecurityInstrumentor().instrument()
t2 = time.perf_counter()
rss1 = rss_kb()
new = set(sys.modules) - before_mods
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
import threading
from otel_llm_security.guard import warm_up
warm_up_threads = [t for t in threading.enumerate() if t.name == warm_up.THREAD_NAME]
if {after_warm_up!r}:  # an app whose first LLM call comes once it has started
    for t in warm_up_threads:
        t.join()
warm_up_ms = (time.perf_counter() - t2) * 1e3
rss2 = rss_kb()
# The first call after instrument() (what is compiled or loaded lazily is paid here),
# and the second, on the replay transport with the ~1,500-char prompt of bench/overhead.py.
sys.path.insert(0, {bench!r})
import _common as c
from otel_llm_security.testing import OpenAIReplay, Reply, chat_completion
replay = OpenAIReplay(handler=lambda req: Reply.of(chat_completion(c.ANSWER)))
client = replay.client()
calls = []
for _ in range(2):
    t3 = time.perf_counter()
    client.chat.completions.create(model=c.MODEL, messages=[{{"role": "user", "content": c.PROMPT}}])
    calls.append((time.perf_counter() - t3) * 1e3)
print(json.dumps({{"import_ms": (t1 - t0) * 1e3, "total_ms": (t2 - t0) * 1e3, "rss_mb": (rss1 - rss0) / 1024,
                  "modules": len(new), "heavy": heavy, "first_call_ms": calls[0], "second_call_ms": calls[1],
                  "warm_up_started": bool(warm_up_threads), "warm_up_ms": warm_up_ms, "rss_then_mb": (rss2 - rss0) / 1024}}))
"""


PHASES_CHILD = r"""
import cProfile, json, pstats, sys, time
import openai
from opentelemetry import trace, metrics
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.metrics import MeterProvider
trace.set_tracer_provider(TracerProvider())
metrics.set_meter_provider(MeterProvider())
import otel_llm_security
from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
OpenAISecurityInstrumentor().instrument()
prof.disable()
total = (time.perf_counter() - t0) * 1e3
wanted = {phases!r}
out = {{"instrument() under the profiler": total}}
for (path, line, name), (cc, nc, tt, ct, callers) in pstats.Stats(prof).stats.items():
    for label, (suffix, fn) in wanted.items():
        if name == fn and path.replace("\\", "/").endswith(suffix):
            out[label] = out.get(label, 0.0) + ct * 1e3
print(json.dumps(out))
"""
# label -> (file suffix, function name): cumulative time inside instrument().
PHASES = {
    "policy: read + validate + overrides (policy_from_environment)": ("guard/policy.py", "policy_from_environment"),
    "policy: YAML/TOML file parsed (load_policy)": ("guard/policy.py", "load_policy"),
    "policy: environment overrides": ("guard/policy.py", "apply_environment"),
    "scanners: import + build (create_scanner)": ("guard/registry.py", "create_scanner"),
    "re.compile (all callers)": ("re/__init__.py", "_compile"),
    "recorder (tracer, meter, logger, instruments)": ("record/recorder.py", "__init__"),
    "hooks (wrap_function_wrapper)": ("wrapt/patches.py", "wrap_function_wrapper"),
}


# Set by main(): the bytecode cache directory of the children (None: no bytecode cache),
# and whether instrument() starts no warm-up in them.
PYCACHE: str | None = None
NO_WARM_UP = False


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LLM_SECURITY_", "OTEL_PYTHON"))}
    env["OTEL_LLM_SECURITY_HASH_KEY"] = "bench-key"  # avoids the one-time random-key warning on stderr
    if NO_WARM_UP:
        env["OTEL_LLM_SECURITY_WARM_UP"] = "false"
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def run_phases() -> dict[str, float]:
    env = child_env()
    proc = subprocess.run([sys.executable, "-c", PHASES_CHILD.format(phases=PHASES)], capture_output=True, text=True,
                          env=env, cwd=c.ROOT, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_child(warm: bool, importtime: bool = False, after_warm_up: bool = False) -> dict | str:
    env = child_env()
    code = CHILD.format(warm=warm, heavy=HEAVY, bench=str(c.ROOT / "bench"), after_warm_up=after_warm_up)
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=c.ROOT, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {proc.stderr[-2000:]}")
    if importtime:
        return proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slowest_imports(stderr: str, top: int = 15) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the slowest top-level imports in ``-X importtime`` output."""
    rows = []
    for line in stderr.split("--- bench marker ---", 1)[-1].splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            cumulative = int(parts[1].strip())
        except ValueError:
            continue
        rows.append((cumulative, parts[2].rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--importtime", action="store_true", help="print the slowest imports (warm app case)")
    ap.add_argument("--phases", action="store_true", help="where instrument() spends its time (cProfile, warm app)")
    ap.add_argument("--bytecode", choices=("cached", "none"), default="cached",
                    help="cached (default): children use a bytecode cache, as an installed package does; "
                         "none: every child compiles the checkout's modules from source")
    ap.add_argument("--no-warm-up", action="store_true", help="children run with OTEL_LLM_SECURITY_WARM_UP=false")
    args = ap.parse_args()
    runs = 2 if args.quick else args.runs
    global PYCACHE, NO_WARM_UP
    NO_WARM_UP = args.no_warm_up
    with tempfile.TemporaryDirectory(prefix="bench-startup-pycache-") as tmp:
        if args.bytecode == "cached":
            PYCACHE = tmp
            run_child(True)  # untimed: fills the bytecode cache
            run_child(False)
        _main(args, runs)


def _main(args: argparse.Namespace, runs: int) -> None:
    c.print_machine()
    print("Warm-up: " + ("off (OTEL_LLM_SECURITY_WARM_UP=false)" if NO_WARM_UP else "on (the default)"))
    print("Bytecode: " + ("cached (PYTHONPYCACHEPREFIX, filled by an untimed run first)" if PYCACHE is not None
                          else "none (PYTHONDONTWRITEBYTECODE=1: every process compiles the checkout from source)"))
    results: dict[str, list[dict]] = {"warm app": [], "warm app, 1st call after the warm-up": [], "cold": []}
    for _ in range(runs):  # interleaved
        results["warm app"].append(run_child(True))  # type: ignore[arg-type]
        results["warm app, 1st call after the warm-up"].append(run_child(True, after_warm_up=True))  # type: ignore[arg-type]
        results["cold"].append(run_child(False))  # type: ignore[arg-type]
    print(f"\n### import otel_llm_security + instrument() (default policy), {runs} fresh processes per case\n")
    rows = []
    for case, rs in results.items():
        total = [r["total_ms"] for r in rs]
        rows.append([
            case,
            c.fmt(c.median(r["import_ms"] for r in rs), 1),
            c.fmt(c.median(total), 1),
            f"{min(total):.0f}-{max(total):.0f}",
            c.fmt(c.median(r["rss_mb"] for r in rs), 1),
            c.fmt(c.median(r["first_call_ms"] for r in rs), 1),
            c.fmt(c.median(r["second_call_ms"] for r in rs), 1),
            str(int(c.median(r["modules"] for r in rs))),
            ", ".join(sorted({m for r in rs for m in r["heavy"]})) or "none",
        ])
    print(c.table(["case", "import ms", "import+instrument ms", "spread ms", "added RSS MB", "1st call ms", "2nd call ms", "modules loaded",
                   "heavy modules loaded (" + ", ".join(HEAVY) + ")"], rows))
    waited = results["warm app, 1st call after the warm-up"]
    started = sum(r["warm_up_started"] for r in waited)
    print(f"\nWarm-up (guard/warm_up.py, a daemon thread started by instrument()): running after instrument() returned in "
          f"{started}/{len(waited)} processes; finished {c.median(r['warm_up_ms'] for r in waited):.1f} ms after it returned "
          f"(median; the 1st call of the middle case starts then), added RSS then "
          f"{c.median(r['rss_then_mb'] for r in waited):.1f} MB (the loaded pattern databases and compiled rules).")
    warm = results["warm app"]
    t, m = c.median(r["total_ms"] for r in warm), c.median(r["rss_mb"] for r in warm)
    heavy = sorted({x for r in warm for x in r["heavy"]})
    print(f"\nTargets (warm app): import+instrument < 150 ms: {t:.0f} ms ({'met' if t < 150 else 'NOT met'}); "
          f"< 20 MB added RSS: {m:.1f} MB ({'met' if m < 20 else 'NOT met'}); "
          f"no llm_guard/torch/duckdb: {'met' if not heavy else 'NOT met: ' + ', '.join(heavy)}\n")
    if args.phases:
        runs_p = [run_phases() for _ in range(2 if args.quick else 7)]
        labels = list(runs_p[0])
        print(f"### Where instrument() spends its time (warm app, cProfile cumulative, median of {len(runs_p)} processes)\n")
        print(c.table(["phase", "ms"], [[k, c.fmt(c.median(r.get(k, 0.0) for r in runs_p), 1)] for k in labels]))
        print()
    if args.importtime:
        print("### Slowest imports on that path (warm app, -X importtime, cumulative)\n")
        print(c.table(["cumulative ms", "module"], [[f"{us / 1000:.1f}", mod] for us, mod in
                                                      slowest_imports(run_child(True, importtime=True))]))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
