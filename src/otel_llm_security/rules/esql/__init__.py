"""The local ES|QL engine, built on Elastic's ES|QL grammar (``detection-rules-esql-py``)."""

from __future__ import annotations

import sys

try:
    import esql as _grammar  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the interpreter
    raise ModuleNotFoundError(
        "the local ES|QL engine and 'rules lint' need detection-rules-esql-py, which requires "
        f"Python 3.12+ (this is {sys.version_info.major}.{sys.version_info.minor}); install "
        "'otel-llm-security[local]' on Python 3.12 or newer",
        name=exc.name,
    ) from exc
