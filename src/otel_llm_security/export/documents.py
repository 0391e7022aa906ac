"""The document type shared by the APM mapper and the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApmDocument:
    """One document as APM Server would index it.

    ``index`` is the data stream (``traces-apm-default``, ``logs-apm.error-default``,
    ``logs-apm.app.<service>-default``), ``id`` the document id and ``source`` the
    nested ``_source``.
    """

    index: str
    id: str
    source: dict[str, Any]


def flatten_into(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """Add the leaf fields of nested ``obj`` to ``out`` by dotted name (``prefix`` first).

    Arrays of objects are flattened the way Elasticsearch indexes them: each leaf under
    the array becomes one multi-valued field. Raises ValueError for an array that mixes
    objects and plain values, which Elasticsearch refuses too.
    """
    for key, value in obj.items():
        t = type(value)
        if t is dict:
            flatten_into(value, prefix + key + ".", out)
        elif t is list and value and type(value[0]) is dict:
            merged: dict[str, list[Any]] = {}
            for item in value:
                if type(item) is not dict:
                    raise ValueError(f"field {prefix + key!r} mixes objects and values in one array")
                sub: dict[str, Any] = {}
                flatten_into(item, prefix + key + ".", sub)
                for k, v in sub.items():
                    merged.setdefault(k, []).extend(v if type(v) is list else [v])
            out.update(merged)
        else:
            out[prefix + key] = value


def put_row(fields: dict[str, Any], cols: dict[str, list[Any]], i: int, n: int) -> None:
    """Write flat ``fields`` into row ``i`` of ``n``-row columns, creating missing columns."""
    for name, v in fields.items():
        col = cols.get(name)
        if col is None:
            col = cols[name] = [None] * n
        col[i] = v


def flatten_into_columns(obj: dict[str, Any], prefix: str, cols: dict[str, list[Any]], i: int, n: int) -> None:
    """:func:`flatten_into` written straight into row ``i`` of ``n``-row per-field columns."""
    for key, value in obj.items():
        t = type(value)
        if t is dict:
            flatten_into_columns(value, prefix + key + ".", cols, i, n)
            continue
        if t is list and value and type(value[0]) is dict:
            flat: dict[str, Any] = {}
            flatten_into({key: value}, prefix, flat)
            put_row(flat, cols, i, n)
            continue
        name = prefix + key
        col = cols.get(name)
        if col is None:
            col = cols[name] = [None] * n
        col[i] = value
