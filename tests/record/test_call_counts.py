"""record.metrics: the counters summed in process and reported at collection."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_llm_security import attributes as a
from otel_llm_security.record.metrics import call_counts


def collect(reader: InMemoryMetricReader) -> dict[str, dict[tuple[Any, ...], Any]]:
    out: dict[str, dict[tuple[Any, ...], Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out[m.name] = {tuple(sorted(dict(p.attributes).items())): p.value for p in m.data.data_points}
                out[m.name]["_monotonic"] = m.data.is_monotonic
    return out


def test_sums_are_cumulative_per_attribute_set() -> None:
    reader = InMemoryMetricReader()
    counts = call_counts(MeterProvider(metric_readers=[reader]).get_meter("t"))
    x, y = {"k": "x"}, {"k": "y"}
    counts.add(a.METRIC_TOKEN_USAGE, ("x",), x, 10)
    counts.add(a.METRIC_TOKEN_USAGE, ("y",), y, 1)
    counts.add(a.METRIC_TOKEN_USAGE, ("x",), x, 5)
    first = collect(reader)[a.METRIC_TOKEN_USAGE]
    assert first == {(("k", "x"),): 15, (("k", "y"),): 1, "_monotonic": True}
    counts.add(a.METRIC_TOKEN_USAGE, ("x",), x, 1)
    assert collect(reader)[a.METRIC_TOKEN_USAGE][(("k", "x"),)] == 16  # cumulative, not reset by a collection
    assert a.METRIC_REQUESTS not in collect(reader)  # nothing counted: no point


def test_one_set_of_counts_per_meter_survives_reinstrumentation() -> None:
    """The SDK keeps the first callback of an observable instrument name: a second
    recorder on the same meter must feed the same sums."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("t")
    first, second = call_counts(meter), call_counts(meter)
    assert first is second
    first.add(a.METRIC_REQUESTS, ("r",), {"k": "r"}, 1)
    second.add(a.METRIC_REQUESTS, ("r",), {"k": "r"}, 1)
    assert collect(reader)[a.METRIC_REQUESTS][(("k", "r"),)] == 2
    other = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("t")
    assert call_counts(other) is not first


def test_concurrent_adds_are_not_lost() -> None:
    reader = InMemoryMetricReader()
    counts = call_counts(MeterProvider(metric_readers=[reader]).get_meter("t"))
    attrs = {"k": "v"}

    def work() -> None:
        for _ in range(20_000):
            counts.add(a.METRIC_REQUESTS, ("v",), attrs, 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert collect(reader)[a.METRIC_REQUESTS][(("k", "v"),)] == 80_000
