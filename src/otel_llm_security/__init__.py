"""otel-llm-security: security observability for LLM calls, on OpenTelemetry and Elastic."""

from __future__ import annotations

__version__ = "0.1.0"
