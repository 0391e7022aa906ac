"""What the security record adds to an OpenAI call, next to plain GenAI instrumentation.

    .venv/bin/python bench/overhead.py            # full run (a few minutes)
    .venv/bin/python bench/overhead.py --quick    # smoke run (seconds; figures meaningless)

One worker process per configuration, all driven by this process over stdin/stdout, so
every configuration patches the client in a clean interpreter. Rounds are interleaved:
each round asks every worker, in a rotating order, for a batch of calls of each
workload, so a burst of load from other users of the machine hits all configurations
alike. Reported per configuration and workload: the median and p99 over all calls, the
spread (min-max) of the per-round medians, and the median added over the bare client.

The client is the real ``openai`` client over an in-process ``httpx`` MockTransport
(``otel_llm_security.testing.OpenAIReplay``) answering with realistic bodies built by
``otel_llm_security.testing``: a ~1,500-character prompt and a ~300-character answer;
the stream answer comes in 50 content deltas (52 chunks with the role and finish
chunks) without ``stream_options.include_usage`` (the client's default, so usage is
estimated offline).

Telemetry: the SDK TracerProvider has one span processor that only counts ended spans
(no exporter: export cost is the same for every instrumentation and would drown the
difference); the SDK MeterProvider has an InMemoryMetricReader that is never
collected during timing (so metric aggregation is paid on every call, as in
production); the SDK LoggerProvider has no processor.

Configurations (``ours`` = ``OpenAISecurityInstrumentor`` with the default policy):

* ``bare``: the openai client alone.
* ``sdk``: the OTel SDK providers installed globally, no instrumentation.
* ``v2``: contrib ``opentelemetry-instrumentation-openai-v2`` alone.
* ``ours``: ours alone (it makes its own span), monitor mode.
* ``ours+v2``: both (ours enriches openai-v2's span).
* ``ours-enforce``: ours alone, ``OTEL_LLM_SECURITY_MODE=enforce`` (the prompt is benign).
* ``ours-noscan``: ours alone with a policy without scanners: what capture and the
  record cost without any scanning (span, hashes, attributes, metrics).
* ``bare@llmguard`` / ``ours+llmguard``: run by .venv-llmguard's Python 3.11 (the only
  venv with torch and llm-guard), so they are compared with each other only: the
  default policy plus llm-guard's offline scanners (BanSubstrings, Regex, Secrets,
  InvisibleText, TokenLimit on the prompt; NoRefusalLight on the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

WORKLOADS = ("sync", "async", "stream")

# (name, interpreter, description, baseline name)
CONFIGS: list[tuple[str, Path, str, str]] = [
    ("bare", c.VENV_PYTHON, "openai client alone", "bare"),
    ("sdk", c.VENV_PYTHON, "OTel SDK only (no instrumentation)", "bare"),
    ("v2", c.VENV_PYTHON, "contrib openai-v2 alone", "bare"),
    ("ours", c.VENV_PYTHON, "ours alone (own span)", "bare"),
    ("ours+v2", c.VENV_PYTHON, "ours with openai-v2", "bare"),
    ("ours-enforce", c.VENV_PYTHON, "ours, enforce mode", "bare"),
    ("ours-noscan", c.VENV_PYTHON, "ours, policy with no scanners (capture + record only)", "bare"),
    ("bare@llmguard", c.LLMGUARD_PYTHON, "openai client alone (py3.11 llm-guard venv)", "bare@llmguard"),
    ("ours+llmguard", c.LLMGUARD_PYTHON, "ours + llm-guard offline scanners (py3.11 llm-guard venv)", "bare@llmguard"),
]

LLM_GUARD_POLICY = """\
version: 1
id: bench-llm-guard
mode: monitor
fail: open
budget_ms: 1000
scanners:
{default}
  - type: "llm_guard:BanSubstrings"
    name: llm_guard_ban_substrings
    direction: input
    options: {{substrings: ["ignore previous instructions", "jailbreak"], match_type: str}}
  - type: "llm_guard:Regex"
    direction: input
    options: {{patterns: ["sk-[a-zA-Z0-9]{{20,}}"], threat: secret}}
  - type: "llm_guard:Secrets"
    direction: input
  - type: "llm_guard:InvisibleText"
    direction: input
  - type: "llm_guard:TokenLimit"
    direction: input
    options: {{limit: 4096}}
  - type: "llm_guard:NoRefusalLight"
    direction: output
"""


# --------------------------------------------------------------------------- worker


class _CountingProcessor:
    """A SpanProcessor that only counts ended spans and keeps the last one (for the sanity check)."""

    def __init__(self) -> None:
        self.ended = 0
        self.last: Any = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        self.ended += 1
        self.last = span

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _on_ending(self, span: Any) -> None:  # SDK >= 1.35 calls it when present
        pass


def _llm_guard_policy_file() -> str:
    from otel_llm_security.guard.policy import default_policy_path

    lines = default_policy_path().read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("scanners:"))
    default = "\n".join(line for line in lines[start + 1 :] if line.strip())
    fd, path = tempfile.mkstemp(prefix="bench-llm-guard-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(LLM_GUARD_POLICY.format(default=default))
    return path


def _empty_policy_file() -> str:
    fd, path = tempfile.mkstemp(prefix="bench-no-scanners-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write("version: 1\nid: bench-no-scanners\nscanners: []\n")
    return path


class Worker:
    def __init__(self, config: str) -> None:
        self.config = config
        self.processor: _CountingProcessor | None = None
        self.loop = asyncio.new_event_loop()
        self._setup()

    def _setup(self) -> None:
        cfg = self.config
        if cfg.startswith("ours"):
            os.environ.setdefault("OTEL_LLM_SECURITY_HASH_KEY", "bench-key")
            os.environ["OTEL_LLM_SECURITY_MODE"] = "enforce" if cfg == "ours-enforce" else "monitor"
            if cfg == "ours+llmguard":
                os.environ["OTEL_LLM_SECURITY_POLICY"] = _llm_guard_policy_file()
            elif cfg == "ours-noscan":
                os.environ["OTEL_LLM_SECURITY_POLICY"] = _empty_policy_file()
            else:
                os.environ.pop("OTEL_LLM_SECURITY_POLICY", None)
        providers: dict[str, Any] = {}
        if cfg not in ("bare", "bare@llmguard"):
            from opentelemetry import metrics, trace
            from opentelemetry._logs import set_logger_provider
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
            from opentelemetry.sdk.trace import TracerProvider

            tp = TracerProvider()
            self.processor = _CountingProcessor()
            tp.add_span_processor(self.processor)
            mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
            lp = LoggerProvider()
            trace.set_tracer_provider(tp)
            metrics.set_meter_provider(mp)
            set_logger_provider(lp)
            providers = {"tracer_provider": tp, "meter_provider": mp, "logger_provider": lp}
        if cfg in ("v2", "ours+v2"):
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

            OpenAIInstrumentor().instrument(**providers)
        if cfg.startswith("ours"):
            from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor

            OpenAISecurityInstrumentor().instrument(**providers)
            # The pattern databases are compiled once per machine (then loaded from the
            # cache), in the background: wait for them, so that no round times the
            # pure-Python path a fresh machine uses meanwhile.
            from otel_llm_security.guard.scanners import hyperscan_prefilter

            hyperscan_prefilter.wait_all(timeout=600)
        if cfg == "ours+llmguard":
            # llm-guard logs every scan at INFO to stdout by default; an operator turns that down.
            from llm_guard.util import configure_logger

            configure_logger("WARNING", stream=sys.stderr)

        from otel_llm_security.testing import (
            OpenAIReplay,
            Reply,
            chat_completion,
            chat_completion_chunks,
            usage_for,
        )

        usage = usage_for(c.PROMPT, c.ANSWER)
        plain = Reply.of(chat_completion(c.ANSWER, model=c.MODEL, usage=usage))
        streamed = Reply.stream(chat_completion_chunks(c.ANSWER, model=c.MODEL, pieces=c.STREAM_PIECES))
        self.replay = OpenAIReplay(handler=lambda req: streamed if req.wants_stream else plain)
        self.client = self.replay.client()
        self.aclient = self.replay.async_client()
        self.messages = [{"role": "user", "content": c.PROMPT}]

    # --- workloads (each returns per-call figures in µs) ---

    def run_sync(self, n: int) -> dict[str, list[float]]:
        create, msgs, model = self.client.chat.completions.create, self.messages, c.MODEL
        clock = time.perf_counter_ns
        out = []
        for _ in range(n):
            t0 = clock()
            create(model=model, messages=msgs)
            out.append((clock() - t0) / 1000.0)
        return {"call": out}

    def run_async(self, n: int) -> dict[str, list[float]]:
        create, msgs, model = self.aclient.chat.completions.create, self.messages, c.MODEL
        clock = time.perf_counter_ns

        async def go() -> list[float]:
            out = []
            for _ in range(n):
                t0 = clock()
                await create(model=model, messages=msgs)
                out.append((clock() - t0) / 1000.0)
            return out

        return {"call": self.loop.run_until_complete(go())}

    def run_stream(self, n: int) -> dict[str, list[float]]:
        create, msgs, model = self.client.chat.completions.create, self.messages, c.MODEL
        clock = time.perf_counter_ns
        calls, ttfc, per_chunk, tail, chunks = [], [], [], [], 0
        for _ in range(n):
            t0 = clock()
            it = iter(create(model=model, messages=msgs, stream=True))
            next(it)
            t_first = t_last = clock()
            count = 1
            for _chunk in it:
                t_last = clock()
                count += 1
            t_end = clock()
            calls.append((t_end - t0) / 1000.0)
            ttfc.append((t_first - t0) / 1000.0)
            per_chunk.append((t_last - t_first) / 1000.0 / max(1, count - 1))
            tail.append((t_end - t_last) / 1000.0)  # the final next(): where the record is written
            chunks = count
        return {"call": calls, "ttfc": ttfc, "per_chunk": per_chunk, "tail": tail, "chunks": [float(chunks)]}

    def run_chunkcost(self, n: int) -> dict[str, list[float]]:
        """Our stream wrapper alone, monitor mode: ns per chunk over an in-memory iterator of
        the workload's parsed chunk objects, wrapped (chunks read as they pass, as a chat
        stream's are) or not."""
        from openai.types.chat import ChatCompletionChunk

        from otel_llm_security.capture.streams import SyncStreamProxy

        try:
            from otel_llm_security.capture.extract import ChatChunkReader
        except ImportError:  # a tree from before chunks were read as they pass (kept instead)
            ChatChunkReader = None
        from otel_llm_security.testing import chat_completion_chunks

        class _Call:  # what the proxy needs of a Call; finishing is measured by the stream workload
            def __init__(self, reader: Any = None) -> None:
                self.chunks: list[Any] = []
                self.reader = reader

            def finish_stream(self, how: str = "end", enforce: bool = False) -> None:
                pass

        if not hasattr(self, "_chunks"):
            events = chat_completion_chunks(c.ANSWER, model=c.MODEL, pieces=c.STREAM_PIECES)
            self._chunks = [ChatCompletionChunk.construct(**e) for e in events]
        items = (self._chunks * (n // len(self._chunks) + 1))[:n]
        clock = time.perf_counter_ns
        t0 = clock()
        for _ in iter(items):
            pass
        raw = clock() - t0
        t0 = clock()
        for _ in SyncStreamProxy(iter(items), _Call(ChatChunkReader() if ChatChunkReader else None)):
            pass
        wrapped = clock() - t0
        enforce_raw, enforce = self._enforce_chunkcost(_Call, 3 if n < 20_000 else 20)
        return {"call": [0.0], "raw_ns": [raw / n], "wrapped_ns": [wrapped / n],
                "enforce_raw_ns": [enforce_raw], "enforce_ns": [enforce]}

    def _enforce_chunkcost(self, make_call: Any, repeat: int) -> tuple[float, float]:
        """Enforce mode's stream wrapper alone, window scans included: ns per chunk over a
        long answer (the workload's answer x 30, ~9 KB) in chunks of the workload's size,
        parsed chunk objects over an in-memory iterator, the default policy in enforce mode."""
        from openai.types.chat import ChatCompletionChunk

        from otel_llm_security.capture import extract, windows
        from otel_llm_security.capture.streams import EnforcingSyncStreamProxy
        from otel_llm_security.guard.engine import Guard
        from otel_llm_security.guard.policy import apply_environment, default_policy
        from otel_llm_security.testing import chat_completion_chunks

        if not hasattr(self, "_long_chunks"):
            answer = (c.ANSWER + " ") * 30
            events = chat_completion_chunks(answer, model=c.MODEL, pieces=c.STREAM_PIECES * 30)
            self._long_chunks = [ChatCompletionChunk.model_validate(e) for e in events]
            self._enforce_guard = Guard.from_policy(apply_environment(default_policy(), {"OTEL_LLM_SECURITY_MODE": "enforce"}))
            self._enforce_guard.scan_output(answer, c.PROMPT)  # warm-up: scanners compile their patterns lazily
        chunks, guard = self._long_chunks, self._enforce_guard
        read_chunks = getattr(windows, "ReadChunks", None)  # trees before it kept every chunk object

        class _EnforceCall(make_call):  # type: ignore[misc,valid-type]
            def finish_stream(self, how: str = "end", enforce: bool = False) -> None:
                # The reading of the output at the end is part of the wrapper's cost.
                if self.reader is not None:
                    self.reader.info()
                else:
                    extract.parse_stream("chat", self.chunks)

        clock = time.perf_counter_ns
        raw = wrapped = 0
        for _ in range(repeat):
            t0 = clock()
            for _ in iter(chunks):
                pass
            raw += clock() - t0
            if read_chunks is not None:  # what streams.wrap_stream sets up for a chat stream
                call = _EnforceCall(extract.ChatChunkReader())
                call.chunks = read_chunks(call.reader)
                read = windows.read_reader
            else:
                call, read = _EnforceCall(), windows.read_chat
            ws = windows.OutputWindows(guard.stream_output_scanner(c.PROMPT), read, call.chunks)
            t0 = clock()
            for _ in EnforcingSyncStreamProxy(iter(chunks), call, ws):
                pass
            wrapped += clock() - t0
        per = repeat * len(chunks)
        return raw / per, wrapped / per

    def run_inprocess(self, n: int) -> dict[str, list[float]]:
        """CPU time of our hook on vs off in this one process (``--inprocess``): batches of
        each workload alternate between our runtime installed and removed (the wrappers
        then pass straight through), so the pair shares the interpreter, its caches and
        the machine's load of the moment. Returns per-batch (on - off) differences."""
        from otel_llm_security.capture import patch

        rt = patch.runtime
        cpu = time.process_time_ns
        create, msgs, model = self.client.chat.completions.create, self.messages, c.MODEL
        out: dict[str, list[float]] = {}

        def one_stream() -> tuple[float, float, float]:
            t0 = cpu()
            it = iter(create(model=model, messages=msgs, stream=True))
            next(it)
            t1 = cpu()
            for _ in range(self._middle_chunks):
                next(it)
            t2 = cpu()
            for _ in it:
                pass
            t3 = cpu()
            return (t1 - t0) / 1e3, (t2 - t1) / 1e3 / self._middle_chunks, (t3 - t2) / 1e3

        if not hasattr(self, "_middle_chunks"):
            self._middle_chunks = len(list(create(model=model, messages=msgs, stream=True))) - 3
        res: dict[bool, dict[str, list[float]]] = {}
        order = (True, False) if n % 2 else (False, True)
        for state in order:
            patch.runtime = rt if state else None
            gc.collect()
            r: dict[str, list[float]] = {}
            t0 = cpu()
            self.run_sync(n)
            r["sync"] = [(cpu() - t0) / 1e3 / n]
            t0 = cpu()
            self.run_async(n)
            r["async"] = [(cpu() - t0) / 1e3 / n]
            streams = [one_stream() for _ in range(max(2, n // 2))]
            r["stream_first"] = [c.median(s[0] for s in streams)]
            r["stream_chunk"] = [c.median(s[1] for s in streams)]
            r["stream_tail"] = [c.median(s[2] for s in streams)]
            res[state] = r
        patch.runtime = rt
        self.replay.requests.clear()
        for k in res[True]:
            out[k] = [res[True][k][0] - res[False][k][0]]
            out[k + "_off"] = res[False][k]
        return out

    def run(self, workload: str, n: int) -> dict[str, list[float]]:
        gc.collect()
        res = getattr(self, f"run_{workload}")(n)
        self.replay.requests.clear()
        return res

    def sanity(self) -> dict[str, Any]:
        """What one call produced: spans per call, whether our record is on the LLM span."""
        info: dict[str, Any] = {"python": sys.version.split()[0]}
        if self.processor is None:
            return info
        before = self.processor.ended
        self.run_sync(1)
        gc.collect()
        info["spans_per_call"] = self.processor.ended - before
        span = self.processor.last
        attrs = dict(span.attributes or {}) if span is not None else {}
        info["span"] = span.name if span is not None else None
        info["record"] = "llm.security.mode" in attrs
        info["risk_score"] = attrs.get("llm.security.risk_score")
        info["threats"] = list(attrs.get("llm.security.threats", ()))
        return info


def worker_main(config: str) -> None:
    # The protocol owns the original stdout; anything the libraries print goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        w = Worker(config)
        for wl in WORKLOADS:  # warm-up: imports, caches, pydantic models
            w.run(wl, 30)
        out.write(json.dumps({"ready": True, "info": w.sanity()}) + "\n")
    except Exception as exc:
        out.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"[:300]}) + "\n")
        out.flush()
        return
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        out.write(json.dumps(w.run(req["workload"], req["n"])) + "\n")
        out.flush()


# --------------------------------------------------------------------------- driver


def start_worker(name: str, interpreter: Path) -> tuple[subprocess.Popen[str] | None, dict[str, Any]]:
    if not interpreter.exists():
        return None, {"error": f"{interpreter} missing (scripts/setup.sh{' --llm-guard' if 'llmguard' in str(interpreter) else ''})"}
    env = dict(os.environ)
    for k in [k for k in env if k.startswith(("OTEL_LLM_SECURITY_", "OTEL_SEMCONV", "OTEL_INSTRUMENTATION_GENAI"))]:
        env.pop(k)
    if "v2" in name:
        if not (c.V2_COMPAT / "opentelemetry").is_dir():
            return None, {"error": f"{c.V2_COMPAT} missing: run scripts/setup.sh"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(c.V2_COMPAT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [str(interpreter), __file__, "--worker", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=c.ROOT,
    )
    assert proc.stdout is not None
    hello = json.loads(proc.stdout.readline() or '{"ready": false, "error": "worker died"}')
    if not hello.get("ready"):
        proc.kill()
        proc.wait()
        return None, {"error": hello.get("error", "?")}
    return proc, hello["info"]


def ask(proc: subprocess.Popen[str], workload: str, n: int) -> dict[str, list[float]]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"workload": workload, "n": n}) + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--calls", type=int, default=40, help="calls per batch (streams: half)")
    ap.add_argument("--only", default="", help="comma-separated configuration names")
    ap.add_argument("--json", default="", help="also write the raw summary here")
    ap.add_argument("--inprocess", action="store_true",
                    help="instead: CPU time of our hook on vs off inside one process per configuration "
                         "(ours, ours-noscan; less noisy than wall time across processes)")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker)
        return
    if args.quick:
        args.rounds, args.calls = 2, 6
    if args.inprocess:
        inprocess(args)
        return
    configs = [cf for cf in CONFIGS if not args.only or cf[0] in args.only.split(",")]

    c.print_machine()
    procs: dict[str, subprocess.Popen[str]] = {}
    infos: dict[str, dict[str, Any]] = {}
    for name, interp, _desc, _base in configs:
        proc, info = start_worker(name, interp)
        infos[name] = info
        if proc is not None:
            procs[name] = proc
        print(f"  {name:14} {'ok' if proc else 'UNAVAILABLE'}  {json.dumps(info)}", flush=True)

    # samples[config][workload][metric] -> all values; rounds[config][workload] -> per-round medians
    samples: dict[str, dict[str, dict[str, list[float]]]] = {n: {w: {} for w in WORKLOADS} for n in procs}
    # rounds[config][workload][metric] -> the median of each round's batch, round by round
    rounds: dict[str, dict[str, dict[str, list[float]]]] = {n: {w: {} for w in WORKLOADS} for n in procs}
    names = list(procs)
    t_start = time.monotonic()
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)] if names else []
        for wl in WORKLOADS:
            n = args.calls if wl != "stream" else max(2, args.calls // 2)
            for name in order:
                res = ask(procs[name], wl, n)
                for metric, vals in res.items():
                    samples[name][wl].setdefault(metric, []).extend(vals)
                    rounds[name][wl].setdefault(metric, []).append(c.median(vals))
    elapsed = time.monotonic() - t_start
    chunkcost: dict[str, list[float]] = {}
    if "ours" in procs:
        for _ in range(3 if args.quick else 7):
            for k, v in ask(procs["ours"], "chunkcost", 2_000 if args.quick else 200_000).items():
                chunkcost.setdefault(k, []).extend(v)
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write('{"quit": true}\n')
        proc.stdin.flush()
        proc.wait(timeout=30)

    summary = report(configs, samples, rounds, infos, args, elapsed, chunkcost)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


def inprocess(args: argparse.Namespace) -> None:
    """``--inprocess``: per configuration, rounds of (runtime on, runtime off) batches in
    one worker, in alternating order; the median over rounds of the CPU difference."""
    names = [n for n in ("ours", "ours-noscan", "ours-enforce") if not args.only or n in args.only.split(",")]
    c.print_machine()
    procs = {}
    for name in names:
        proc, info = start_worker(name, c.VENV_PYTHON)
        print(f"  {name:14} {'ok' if proc else 'UNAVAILABLE'}  {json.dumps(info)}", flush=True)
        if proc is not None:
            procs[name] = proc
    diffs: dict[str, dict[str, list[float]]] = {n: {} for n in procs}
    t_start = time.monotonic()
    for r in range(args.rounds):
        for name in procs:
            res = ask(procs[name], "inprocess", args.calls + r % 2)
            for k, v in res.items():
                diffs[name].setdefault(k, []).extend(v)
    elapsed = time.monotonic() - t_start
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write('{"quit": true}\n')
        proc.stdin.flush()
        proc.wait(timeout=30)
    print(f"\n### In-process CPU time of our hook (on - off), {args.rounds} rounds x {args.calls} calls "
          f"({max(2, args.calls // 2)} streams) per configuration, {elapsed:.0f} s\n")
    print("Each round runs the same batches with our runtime installed and removed (the wrappers then pass "
          "straight through) in one process, in alternating order; figures are medians over rounds of the "
          "CPU-time difference (time.process_time), in µs. 'off' is the client's own CPU time.\n")
    keys = [("sync", "sync call"), ("async", "async call"), ("stream_first", "stream: to first chunk"),
            ("stream_chunk", "stream: per chunk"), ("stream_tail", "stream: last chunk to end")]
    rows = []
    for k, label in keys:
        row = [label, c.fmt(c.median(diffs[next(iter(diffs))][k + "_off"]), 2 if k == "stream_chunk" else 0)] if diffs else [label, ""]
        for name in procs:
            row.append(c.fmt(c.median(diffs[name][k]), 2 if k == "stream_chunk" else 0))
        rows.append(row)
    print(c.table(["what", "off (client alone)", *[f"{n} adds" for n in procs]], rows))
    print()


def report(configs, samples, rounds, infos, args, elapsed, chunkcost) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    med = {n: {w: c.median(samples[n][w]["call"]) for w in WORKLOADS} for n in samples}
    nan = float("nan")

    def added(name: str, wl: str, base: str = "bare", metric: str = "call") -> float:
        """Median over rounds of (config's round median - baseline's round median): each
        difference pairs batches run seconds apart, so a burst of load cancels out."""
        if name not in rounds or base not in rounds:
            return nan
        return c.median(a - b for a, b in zip(rounds[name][wl][metric], rounds[base][wl][metric], strict=True))

    print(
        f"\n{args.rounds} interleaved rounds x {args.calls} calls ({max(2, args.calls // 2)} streams) per configuration "
        f"and workload, {elapsed:.0f} s. Times in µs per call; 'spread' is min-max of the per-round medians; "
        "'added' is the median over rounds of the difference between the configuration's and the baseline's round "
        "medians (baseline: the bare client of the same interpreter), which cancels most of the shared machine's "
        "load swings.\n"
    )
    summary: dict[str, Any] = {"machine": c.machine(), "configs": {}}
    for wl in WORKLOADS:
        rows = []
        for name, _interp, desc, base in configs:
            if name not in samples:
                rows.append([name, desc, "unavailable: " + infos[name].get("error", "?")] + [""] * (3 + 5 * (wl == "stream")))
                continue
            calls = samples[name][wl]["call"]
            add = added(name, wl, base)
            row = [name, desc, c.fmt(med[name][wl]), c.fmt(c.percentile(calls, 99)), c.spread(rounds[name][wl]["call"]),
                   c.fmt(add) if name != base else "-"]
            if wl == "stream":
                s = samples[name][wl]
                row += [c.fmt(c.median(s["ttfc"])), c.fmt(added(name, wl, base, "ttfc")) if name != base else "-",
                        c.fmt(c.median(s["per_chunk"]), 2), c.fmt(added(name, wl, base, "per_chunk"), 2) if name != base else "-",
                        c.fmt(c.median(s["tail"]))]
            rows.append(row)
            summary["configs"].setdefault(name, {})[wl] = {
                "median": med[name][wl], "p99": c.percentile(calls, 99), "added": add,
                "round_medians": rounds[name][wl]["call"],
                **({k: c.median(v) for k, v in samples[name][wl].items() if k != "call"} if wl == "stream" else {}),
            }
        headers = ["config", "what", "median", "p99", "spread", "added"]
        if wl == "stream":
            headers += ["first chunk", "added", "µs/chunk", "added", "last→end"]
        title = {"sync": "Non-streaming, sync client", "async": "Non-streaming, async client",
                 "stream": f"Streaming, {c.STREAM_PIECES} content deltas (sync client, whole stream consumed)"}[wl]
        print(f"### {title}\n")
        print(c.table(headers, rows))
        print()
        if wl == "stream" and chunkcost:
            raw, wrapped = c.median(chunkcost["raw_ns"]), c.median(chunkcost["wrapped_ns"])
            summary["stream_wrapper_ns_per_chunk"] = wrapped - raw
            print(f"Our stream wrapper in isolation (SyncStreamProxy over an in-memory iterator of the workload's chunk "
                  f"objects, each read as it passes, median of "
                  f"{len(chunkcost['raw_ns'])} runs): {wrapped:.0f} ns per item wrapped vs {raw:.0f} ns unwrapped, "
                  f"+{(wrapped - raw) / 1000:.3f} µs per chunk.\n")
            raw, enforce = c.median(chunkcost["enforce_raw_ns"]), c.median(chunkcost["enforce_ns"])
            summary["stream_enforce_ns_per_chunk"] = enforce - raw
            print(f"Enforce mode's stream wrapper in isolation (EnforcingSyncStreamProxy over a {len(c.ANSWER) * 30 + 30:,}-"
                  f"character answer in chunks of the workload's size, window scans of the default policy and the "
                  f"reading of the output included, "
                  f"median of {len(chunkcost['enforce_ns'])} runs): +{(enforce - raw) / 1000:.3f} µs per chunk.\n")

    # The comparison the issue asks for.
    rows = []
    for wl in WORKLOADS:
        ours, v2 = added("ours", wl), added("v2", wl)
        rows.append([wl, c.fmt(v2), c.fmt(ours), c.fmt(ours / v2, 2) if v2 > 0 else "n/a",
                     c.fmt(added("ours+v2", wl, "v2")), c.fmt(added("ours-enforce", wl)), c.fmt(added("ours-noscan", wl)),
                     c.fmt(added("ours+llmguard", wl, "bare@llmguard"))])
    print("### Added cost, µs per call (median)\n")
    print(c.table(["workload", "openai-v2 adds", "ours adds", "ours / v2", "ours on top of v2", "ours enforce adds",
                   "ours without scanners adds", "ours + llm-guard adds (py3.11)"], rows))
    print()
    if "ours" in samples and "bare" in samples:
        per_chunk = added("ours", "stream", metric="per_chunk")
        ttfc = added("ours", "stream", metric="ttfc")
        sync_added, v2_added = added("ours", "sync"), added("v2", "sync")
        print("### Targets (issue 7)\n")
        print(c.table(["target", "measured", "met"], [
            ["ours adds <= openai-v2 adds (sync)", f"{sync_added:.0f} vs {v2_added:.0f} µs",
             _yes(sync_added <= v2_added) if v2_added == v2_added else "n/a"],
            ["ours adds < 150 µs per non-streaming call", f"{sync_added:.0f} µs", _yes(sync_added < 150)],
            ["(capture + record alone, no scanners) <= openai-v2 adds", f"{added('ours-noscan', 'sync'):.0f} vs {v2_added:.0f} µs",
             _yes(added("ours-noscan", "sync") <= v2_added) if "ours-noscan" in med and v2_added == v2_added else "n/a"],
            ["stream: < 1 µs added per chunk (end to end)", f"{per_chunk:.2f} µs", _yes(per_chunk < 1)],
            ["stream: < 1 µs added per chunk (wrapper alone)", f"{summary.get('stream_wrapper_ns_per_chunk', nan) / 1000:.3f} µs",
             _yes(summary.get("stream_wrapper_ns_per_chunk", nan) < 1000)],
            ["stream, enforce: < 1 µs added per chunk (wrapper + window scans, ~9 KB answer)",
             f"{summary.get('stream_enforce_ns_per_chunk', nan) / 1000:.3f} µs",
             _yes(summary.get("stream_enforce_ns_per_chunk", nan) < 1000)],
            ["stream: time to first chunk unchanged (monitor mode)", f"{ttfc:+.0f} µs", "see first-chunk column"],
        ]))
        print()
    return summary


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    main()
