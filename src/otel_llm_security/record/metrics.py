"""The record's metrics: call, block, threat and token counts kept in process and
reported through observable counters, plus the scan-duration histogram.

A synchronous SDK counter point costs ~15 µs (the SDK copies, validates and hashes the
attribute set on every ``add``), and a call made four of them. The counts here are
summed in process instead (a dict update under a lock, well under a microsecond) and
handed to the SDK as cumulative values when a reader collects. Exporters see the same
monotonic cumulative sums a synchronous counter would produce.

The counts live in one :class:`CallCounts` per meter provider: the SDK returns an
already registered observable instrument without adding a second callback, so a second
instrumentation on the same provider (uninstrument, instrument again) must feed the
same counts, and they keep growing instead of starting again from zero. The global
provider (no ``meter_provider`` given, or the one set globally) is one key whether or
not the app has set it yet: before it does, each ``get_meter`` returns a new proxy
meter, and the proxies' instruments all land on the one real meter once it is set.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation, get_meter_provider

from otel_llm_security import attributes as a

Attributes = dict[str, Any]

# (name, unit, description) of the counters summed in process.
COUNTERS: tuple[tuple[str, str, str], ...] = (
    (a.METRIC_REQUESTS, "{request}", "Instrumented LLM calls."),
    (a.METRIC_BLOCKS, "{request}", "Blocked LLM calls."),
    (a.METRIC_THREAT_DETECTIONS, "{threat}", "Threats found in LLM calls, one per threat, direction and call."),
    (a.METRIC_TOKEN_USAGE, "{token}", "Tokens of LLM calls (sum), by token type."),
)


# Distinct attribute sets kept per counter (the model name comes from the app's
# requests); past it, further sets are summed into one overflow set, as the SDK does
# with its default cardinality limit (2,000 per metric) and the spec's overflow attribute.
MAX_ATTRIBUTE_SETS = 2000
_OVERFLOW_ATTRIBUTES: Attributes = {"otel.metric.overflow": True}
_OVERFLOW_KEY = tuple(_OVERFLOW_ATTRIBUTES.items())


class CallCounts:
    """Cumulative sums per attribute set for the observable counters of one meter."""

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        # instrument name -> {attribute-set key: [attributes, running sum]}
        self._sums: dict[str, dict[tuple[Any, ...], list[Any]]] = {name: {} for name, _, _ in COUNTERS}
        for name, unit, description in COUNTERS:
            meter.create_observable_counter(name, callbacks=[self._observer(name)], unit=unit, description=description)

    def add(self, instrument: str, attributes: Attributes, amount: int | float) -> None:
        """Add ``amount`` to the sum of ``attributes``. The attributes are kept as given:
        callers pass a dict they never mutate. A negative amount is dropped, as the SDK's
        synchronous counter drops it: the sums are monotonic."""
        if amount < 0:
            return
        sums = self._sums[instrument]
        key = tuple(attributes.items())
        with self._lock:
            entry = sums.get(key)
            if entry is None:
                if len(sums) >= MAX_ATTRIBUTE_SETS:  # as the SDK's cardinality limit does
                    key, attributes = _OVERFLOW_KEY, _OVERFLOW_ATTRIBUTES
                    entry = sums.get(key)
                if entry is None:
                    sums[key] = [attributes, amount]
                    return
            entry[1] += amount

    def observe(self, instrument: str) -> list[Observation]:
        with self._lock:
            entries = [(attrs, total) for attrs, total in self._sums[instrument].values()]
        return [Observation(total, attrs) for attrs, total in entries]

    def _observer(self, instrument: str) -> Any:
        # A weak reference: the meter (and the provider's callback list) must not keep
        # a dropped CallCounts alive through its bound method.
        ref = weakref.ref(self)

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            counts = ref()
            return counts.observe(instrument) if counts is not None else []

        return callback


_by_provider: weakref.WeakKeyDictionary[Any, CallCounts] = weakref.WeakKeyDictionary()
_global_counts: CallCounts | None = None
_by_provider_lock = threading.Lock()


def call_counts(provider: Any, meter: Meter) -> CallCounts:
    """The one :class:`CallCounts` of ``provider`` (None: the global one), created on
    first use with its instruments on ``meter``, the provider's meter of this scope."""
    global _global_counts
    with _by_provider_lock:
        global_provider = get_meter_provider()
        target = provider if provider is not None else global_provider
        is_global = target is global_provider
        try:
            counts = _by_provider.get(target)
        except TypeError:  # a provider that cannot be weakly referenced: counts of its own
            return CallCounts(meter)
        if counts is None and is_global:
            # made while the app had not set its provider yet (on the API's proxy), or
            # for the provider given explicitly and set globally since
            counts = _global_counts
        if counts is None:
            counts = CallCounts(meter)
        if is_global and _global_counts is None:
            _global_counts = counts
        _by_provider[target] = counts
        return counts
