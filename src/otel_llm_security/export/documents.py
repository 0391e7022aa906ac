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
