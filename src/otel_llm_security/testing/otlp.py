"""OTLP protobuf values from plain Python values, for tests and benchmarks of the mapper."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList


def any_value(v: Any) -> AnyValue:
    """``AnyValue`` of a bool, int, float, str, bytes, list or dict (recursively)."""
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(x) for x in v]))
    if isinstance(v, dict):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(v)))
    raise TypeError(f"no OTLP AnyValue for {type(v).__name__}")


def key_values(d: dict[str, Any]) -> list[KeyValue]:
    """OTLP attribute list of a dict, in its order."""
    return [KeyValue(key=k, value=any_value(v)) for k, v in d.items()]
