"""Benchmark: LLM spans per second through ``otel-llm-security collect``, and store size.

Sends OTLP/HTTP protobuf batches of realistic LLM-call spans (the full security record,
distinct ids, hashes and timestamps; a finding event on a share of them) to a
``collect`` process, the way SDK exporters do (BatchSpanProcessor: 512 spans a
request), and reports:

* spans and documents per second through collect (request → mapper → DuckDB commit
  → 200), with the given number of concurrent senders;
* collect's CPU time per span (user+system, from /proc, its worker processes included):
  what it costs independent of other load on the machine, and the rate one fully
  available core would sustain;
* the in-process stages alone in CPU time (protobuf parse, mapping to columns, store
  write = Arrow conversion + DuckDB insert + commit), to show where it goes;
* the store file size per million spans.

    .venv/bin/python bench/store.py                 # 100 000 spans
    .venv/bin/python bench/store.py --spans 20000 --gzip --senders 4
    .venv/bin/python bench/store.py --workers 2     # mapping in 2 worker processes
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_llm_security import attributes as A
from otel_llm_security.testing.collect import start_collect

THREATS = [t.value for t in A.Threat]
MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini"]
SCANNERS_IN = ["prompt_injection", "secrets", "pii", "invisible_text", "denial_of_service"]
SCANNERS_OUT = ["secrets", "pii", "insecure_output", "refusal", "invisible_text"]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        v = AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = AnyValue(int_value=value)
    elif isinstance(value, float):
        v = AnyValue(double_value=value)
    elif isinstance(value, list):
        v = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=x) for x in value]))
    else:
        v = AnyValue(string_value=str(value))
    return KeyValue(key=key, value=v)


def make_batch(rng: random.Random, n: int, t0: int) -> bytes:
    """One ExportTraceServiceRequest of ``n`` LLM-call spans under request spans."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([
        _kv("service.name", "support-bot"), _kv("deployment.environment.name", "prod"),
        _kv("telemetry.sdk.name", "opentelemetry"), _kv("telemetry.sdk.language", "python"),
        _kv("telemetry.sdk.version", "1.45.2"), _kv("service.instance.id", "pod-7f9c"),
    ])
    ss = rs.scope_spans.add()
    ss.scope.name = "otel_llm_security"
    ss.scope.version = "0.1.0"
    for i in range(n):
        start = t0 + i * 1_000_000
        attack = rng.random() < 0.1
        blocked = attack and rng.random() < 0.5
        threats = rng.sample(THREATS, rng.randint(1, 2)) if attack else []
        risk = round(rng.uniform(0.7, 1.0) if attack else rng.uniform(0, 0.2), 4)
        attrs: list[KeyValue] = [
            _kv(A.GEN_AI_OPERATION_NAME, "chat"), _kv(A.GEN_AI_SYSTEM, "openai"), _kv(A.GEN_AI_PROVIDER_NAME, "openai"),
            _kv(A.GEN_AI_REQUEST_MODEL, rng.choice(MODELS)), _kv(A.SERVER_ADDRESS, "api.openai.com"),
            _kv(A.SERVER_PORT, 443), _kv(A.LLM_SECURITY_MODE, "enforce"),
            _kv(A.LLM_SECURITY_ACTION, "block" if blocked else ("warn" if attack else "allow")),
            _kv(A.LLM_SECURITY_BLOCKED, blocked), _kv(A.LLM_SECURITY_RISK_SCORE, risk),
            _kv(A.LLM_SECURITY_INPUT_HASH, rng.randbytes(32).hex()), _kv(A.LLM_SECURITY_INPUT_LENGTH, rng.randint(10, 4000)),
            _kv(A.ENDUSER_PSEUDO_ID, rng.randbytes(32).hex()), _kv(A.SESSION_ID, f"sess-{rng.randint(0, 5000)}"),
            _kv(A.GEN_AI_CONVERSATION_ID, f"sess-{rng.randint(0, 5000)}"),
            _kv(A.LLM_SECURITY_SCAN_DURATION_MS, round(rng.uniform(0.2, 3.0), 3)),
            _kv(A.LLM_SECURITY_TOKENS_ESTIMATED, False),
        ]
        attrs += [_kv(A.scanner_score_attribute("input", s), round(rng.random() * risk, 4)) for s in SCANNERS_IN]
        if threats:
            attrs.append(_kv(A.LLM_SECURITY_THREATS, threats))
        if blocked:
            attrs += [_kv(A.LLM_SECURITY_BLOCK_REASON, f"input scanner {threats[0]}"), _kv(A.ERROR_TYPE, "OpenAIRequestBlocked")]
        else:
            attrs += [
                _kv(A.GEN_AI_RESPONSE_MODEL, "gpt-4o-mini-2024-07-18"), _kv(A.GEN_AI_RESPONSE_ID, f"chatcmpl-{rng.randbytes(12).hex()}"),
                _kv(A.GEN_AI_RESPONSE_FINISH_REASONS, ["stop"]), _kv(A.GEN_AI_USAGE_INPUT_TOKENS, rng.randint(5, 2000)),
                _kv(A.GEN_AI_USAGE_OUTPUT_TOKENS, rng.randint(1, 800)), _kv(A.LLM_SECURITY_OUTPUT_HASH, rng.randbytes(32).hex()),
                _kv(A.LLM_SECURITY_OUTPUT_LENGTH, rng.randint(1, 3000)),
            ]
            attrs += [_kv(A.scanner_score_attribute("output", s), round(rng.random() * risk, 4)) for s in SCANNERS_OUT]
        events = []
        if attack:
            events.append(Span.Event(time_unix_nano=start + 200_000, name=A.EVENT_SECURITY_FINDING, attributes=[
                _kv(A.SECURITY_GUARDRAIL_NAME, threats[0]), _kv(A.SECURITY_GUARDRAIL_PROVIDER, "otel-llm-security"),
                _kv(A.SECURITY_TARGET_TYPE, "llm_input"), _kv(A.SECURITY_VERDICT_TYPE, "deny" if blocked else "warn"),
                _kv(A.SECURITY_ACTION_TYPE, "block" if blocked else "warn"), _kv(A.SECURITY_RISK_SCORE, risk),
            ]))
        ss.spans.append(Span(
            trace_id=rng.randbytes(16), span_id=rng.randbytes(8), parent_span_id=rng.randbytes(8),
            name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start,
            end_time_unix_nano=start + rng.randint(200, 3000) * 1_000_000, attributes=attrs, events=events,
            status=Status(code=Status.STATUS_CODE_ERROR if blocked else Status.STATUS_CODE_UNSET),
        ))
    return req.SerializeToString()


def cpu_seconds(pid: int, children_too: bool = True) -> float | None:
    """User+system CPU time of a process and its live children (collect's worker processes;
    Linux /proc), to report cost independent of machine load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None
    if not children_too:
        return total / os.sysconf("SC_CLK_TCK")
    children: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children.update(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        pass
    for child in children:
        sub = cpu_seconds(child)
        if sub is not None:
            total += round(sub * os.sysconf("SC_CLK_TCK"))
    return total / os.sysconf("SC_CLK_TCK")


def send_all(host: str, port: int, bodies: list[bytes], senders: int, use_gzip: bool) -> None:
    payloads = [gzip.compress(b, 1) if use_gzip else b for b in bodies]
    headers = {"Content-Type": "application/x-protobuf"}
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    errors: list[str] = []
    it = iter(range(len(payloads)))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        while True:
            with lock:
                i = next(it, None)
            if i is None:
                break
            conn.request("POST", "/v1/traces", body=payloads[i], headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors.append(f"HTTP {resp.status}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {errors[:3]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=512, help="spans per request (BatchSpanProcessor default: 512)")
    ap.add_argument("--senders", type=int, default=2, help="concurrent HTTP senders")
    ap.add_argument("--gzip", action="store_true", help="gzip request bodies (OTEL_EXPORTER_OTLP_COMPRESSION=gzip)")
    ap.add_argument("--workers", type=int, default=None, help="collect --workers (default: its own default)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    t0 = 1_760_000_000_000_000_000
    nbatches = max(1, args.spans // args.batch)
    print(f"generating {nbatches} batches of {args.batch} spans ...", flush=True)
    bodies = [make_batch(rng, args.batch, t0 + i * args.batch * 1_000_000) for i in range(nbatches)]
    spans = nbatches * args.batch
    nwarm = max(2, args.senders, args.workers or 0)
    warmup = [make_batch(rng, args.batch, t0 - (i + 1) * args.batch * 1_000_000) for i in range(nwarm)]
    warm_docs = 0
    for b in warmup:
        r = ExportTraceServiceRequest()
        r.ParseFromString(b)
        warm_docs += sum(1 + len(sp.events) for rs in r.resource_spans for ss in rs.scope_spans for sp in ss.spans)

    # In-process stages, on a sample, to show where the time goes: what collect does per
    # request (parse, map straight to columns, write) and, for comparison, the nested
    # documents other callers get (map_request) flattened by column_batch.
    from otel_llm_security.export.apm_mapper import map_request, map_request_columns
    from otel_llm_security.store.duckdb_store import ColumnBatch, DocumentStore, column_batch

    sample = bodies[: max(1, min(len(bodies), 20))]
    t = time.process_time()
    reqs = []
    for b in sample:
        r = ExportTraceServiceRequest()
        r.ParseFromString(b)
        reqs.append(r)
    parse_s = time.process_time() - t
    t = time.process_time()
    batches = [ColumnBatch(*map_request_columns(r)) for r in reqs]
    map_s = time.process_time() - t
    t = time.process_time()
    for r in reqs:
        column_batch(map_request(r))
    docs_s = time.process_time() - t
    n_sample = len(sample) * args.batch
    with tempfile.TemporaryDirectory() as d, DocumentStore(Path(d) / "s.duckdb") as store:
        store.write_batch(batches[0])  # creates the columns once, as the first request would
        t = time.process_time()
        for batch in batches[1:]:
            store.write_batch(batch)
        write_s = time.process_time() - t
    n_write = (len(sample) - 1) * args.batch

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.duckdb"
        try:
            proc, base_url = start_collect(path, *(["--workers", str(args.workers)] if args.workers is not None else []))
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
        endpoint = urlsplit(base_url)
        host, port = endpoint.hostname or "127.0.0.1", endpoint.port or 0
        try:
            # Warm-up, not measured: the first requests create the columns and start the
            # worker processes (each imports the package and protobuf: about a CPU second).
            send_all(host, port, warmup, args.senders, args.gzip)
            cpu0, main0 = cpu_seconds(proc.pid), cpu_seconds(proc.pid, children_too=False)
            t = time.perf_counter()
            send_all(host, port, bodies, args.senders, args.gzip)
            elapsed = time.perf_counter() - t
            cpu1, main1 = cpu_seconds(proc.pid), cpu_seconds(proc.pid, children_too=False)
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=60)
        m = re.search(r"(\d+) documents stored", out)
        docs = int(m.group(1)) - warm_docs if m else 0
        if proc.returncode != 0 or not m:
            raise SystemExit(f"collect failed: {out}{err}")
        size = path.stat().st_size + (path.with_suffix(".duckdb.wal").stat().st_size
                                      if path.with_suffix(".duckdb.wal").exists() else 0)

    print(f"cores: {os.cpu_count()}  spans: {spans}  documents: {docs} (spans + span events)  "
          f"batch: {args.batch}  senders: {args.senders}  gzip: {args.gzip}  "
          f"workers: {args.workers if args.workers is not None else 'default'}")
    print(f"through collect:  {spans / elapsed:10,.0f} spans/s  {docs / elapsed:10,.0f} docs/s  ({elapsed:.1f} s)")
    if cpu0 is not None and cpu1 is not None:
        cpu = cpu1 - cpu0
        print(f"collect CPU:      {cpu / spans * 1e6:10,.0f} µs per span (user+system, workers included) → "
              f"{spans / cpu:,.0f} spans/s per fully available core")
        if args.workers and main0 is not None and main1 is not None and main1 > main0:
            main = main1 - main0
            print(f"  main process:   {main / spans * 1e6:10,.0f} µs per span (HTTP, Arrow checks, DuckDB insert) → "
                  f"at most {spans / main:,.0f} spans/s however many cores the workers get")
            print(f"  workers:        {(cpu - main) / spans * 1e6:10,.0f} µs per span (parse, map, Arrow) → "
                  f"{spans / (cpu - main):,.0f} spans/s per worker core")
    print("in-process stages (CPU time per span):")
    print(f"  protobuf parse:         {parse_s / n_sample * 1e6:6.1f} µs")
    print(f"  map to columns:         {map_s / n_sample * 1e6:6.1f} µs  ({n_sample / map_s:,.0f} spans/s per core)")
    print(f"  (nested docs+flatten:   {docs_s / n_sample * 1e6:6.1f} µs, the path of map_request callers)")
    if n_write:
        print(f"  store write:            {write_s / n_write * 1e6:6.1f} µs  (Arrow + DuckDB insert + commit)")
    total = spans + nwarm * args.batch
    print(f"store size:       {size / total * 1e6 / 2**20:10,.0f} MiB per million spans ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
