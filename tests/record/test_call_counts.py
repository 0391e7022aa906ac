"""record.metrics: the counters summed in process and reported at collection."""

from __future__ import annotations

import threading
from typing import Any

import pytest
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
    provider = MeterProvider(metric_readers=[reader])
    counts = call_counts(provider, provider.get_meter("t"))
    x, y = {"k": "x"}, {"k": "y"}
    counts.add(a.METRIC_TOKEN_USAGE, x, 10)
    counts.add(a.METRIC_TOKEN_USAGE, y, 1)
    counts.add(a.METRIC_TOKEN_USAGE, x, 5)
    counts.add(a.METRIC_TOKEN_USAGE, x, -3)  # dropped: the sums are monotonic
    first = collect(reader)[a.METRIC_TOKEN_USAGE]
    assert first == {(("k", "x"),): 15, (("k", "y"),): 1, "_monotonic": True}
    counts.add(a.METRIC_TOKEN_USAGE, x, 1)
    assert collect(reader)[a.METRIC_TOKEN_USAGE][(("k", "x"),)] == 16  # cumulative, not reset by a collection
    assert a.METRIC_REQUESTS not in collect(reader)  # nothing counted: no point


def test_one_set_of_counts_per_meter_survives_reinstrumentation() -> None:
    """The SDK keeps the first callback of an observable instrument name: a second
    recorder on the same provider must feed the same sums."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = call_counts(provider, provider.get_meter("t")), call_counts(provider, provider.get_meter("t"))
    assert first is second
    first.add(a.METRIC_REQUESTS, {"k": "r"}, 1)
    second.add(a.METRIC_REQUESTS, {"k": "r"}, 1)
    assert collect(reader)[a.METRIC_REQUESTS][(("k", "r"),)] == 2
    other = MeterProvider(metric_readers=[InMemoryMetricReader()])
    assert call_counts(other, other.get_meter("t")) is not first


@pytest.mark.parametrize("order", ["both-before-set", "one-before-one-after", "explicit-then-global"])
def test_recorders_on_the_global_provider_share_their_counts(monkeypatch, order) -> None:
    """Instrumentations on the global provider made before the app sets its
    MeterProvider (they get proxy meters), after it, or with the provider passed
    explicitly before it is set globally: all count, into the provider's one set of
    sums."""
    from opentelemetry import metrics
    from opentelemetry.metrics import _internal as metrics_internal

    from otel_llm_security.record import metrics as record_metrics
    from otel_llm_security.record.recorder import Recorder
    from otel_llm_security.record.settings import RecordSettings

    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER", None)
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER_SET_ONCE", metrics_internal.Once())
    monkeypatch.setattr(metrics_internal, "_PROXY_METER_PROVIDER", metrics_internal._ProxyMeterProvider())
    monkeypatch.setattr(record_metrics, "_global_counts", None)
    monkeypatch.delenv("OTEL_PYTHON_METER_PROVIDER", raising=False)
    settings = RecordSettings(hash_key=b"k", hash_key_configured=True)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    if order == "explicit-then-global":
        first = Recorder(settings, meter_provider=provider)
        metrics.set_meter_provider(provider)
        second = Recorder(settings)
    else:
        first = Recorder(settings)
        if order == "one-before-one-after":
            metrics.set_meter_provider(provider)
        second = Recorder(settings)
        if order == "both-before-set":
            metrics.set_meter_provider(provider)
    third = Recorder(settings, meter_provider=provider)  # the global provider, passed explicitly
    assert first.counts is second.counts is third.counts
    first.counts.add(a.METRIC_REQUESTS, {"k": "r"}, 1)
    second.counts.add(a.METRIC_REQUESTS, {"k": "r"}, 2)
    third.counts.add(a.METRIC_REQUESTS, {"k": "r"}, 4)
    assert collect(reader)[a.METRIC_REQUESTS][(("k", "r"),)] == 7


def test_concurrent_adds_are_not_lost() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    counts = call_counts(provider, provider.get_meter("t"))
    attrs = {"k": "v"}

    def work() -> None:
        for _ in range(20_000):
            counts.add(a.METRIC_REQUESTS, attrs, 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert collect(reader)[a.METRIC_REQUESTS][(("k", "v"),)] == 80_000


def test_attribute_sets_past_the_limit_go_to_one_overflow_set(monkeypatch) -> None:
    from otel_llm_security.record import metrics as record_metrics

    monkeypatch.setattr(record_metrics, "MAX_ATTRIBUTE_SETS", 3)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    counts = call_counts(provider, provider.get_meter("t"))
    for i in range(6):
        counts.add(a.METRIC_REQUESTS, {"model": f"m{i}"}, 1)
    counts.add(a.METRIC_REQUESTS, {"model": "m0"}, 1)  # a kept set still counts
    points = collect(reader)[a.METRIC_REQUESTS]
    assert points == {(("model", "m0"),): 2, (("model", "m1"),): 1, (("model", "m2"),): 1,
                      (("otel.metric.overflow", True),): 3, "_monotonic": True}
