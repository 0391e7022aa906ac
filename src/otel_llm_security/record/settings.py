"""Recording settings, read once from the environment (never per call).

``OTEL_LLM_SECURITY_HASH_KEY``: the HMAC key for prompt, output and end-user hashes.
Without it a random per-process key is generated and one warning is logged: hashes then
correlate only within the process. ``OTEL_LLM_SECURITY_CAPTURE_CONTENT`` (``true`` /
``1`` / ``yes``) opts in to exporting raw prompt and output text, cut to
``OTEL_LLM_SECURITY_CONTENT_MAX_LENGTH`` characters (default 1000).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from otel_llm_security.attributes import ENV_CAPTURE_CONTENT, ENV_CONTENT_MAX_LENGTH, ENV_HASH_KEY

logger = logging.getLogger("otel_llm_security")

DEFAULT_CONTENT_MAX_LENGTH = 1000
_TRUE = frozenset({"1", "true", "yes", "on"})
_warned_random_key = False


@dataclass(frozen=True)
class RecordSettings:
    """What the recorder needs to know, fixed at instrumentation time."""

    hash_key: bytes
    hash_key_configured: bool
    capture_content: bool = False
    content_max_length: int = DEFAULT_CONTENT_MAX_LENGTH

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RecordSettings:
        env = os.environ if environ is None else environ
        raw_key = env.get(ENV_HASH_KEY, "")
        if raw_key:
            key, configured = raw_key.encode("utf-8"), True
        else:
            key, configured = secrets.token_bytes(32), False
            _warn_random_key_once()
        capture = env.get(ENV_CAPTURE_CONTENT, "").strip().lower() in _TRUE
        max_len = DEFAULT_CONTENT_MAX_LENGTH
        raw_len = env.get(ENV_CONTENT_MAX_LENGTH, "").strip()
        if raw_len:
            try:
                max_len = max(0, int(raw_len))
            except ValueError:
                logger.warning("%s=%r is not an integer; using %d", ENV_CONTENT_MAX_LENGTH, raw_len, max_len)
        return cls(hash_key=key, hash_key_configured=configured, capture_content=capture, content_max_length=max_len)


def _warn_random_key_once() -> None:
    global _warned_random_key
    if not _warned_random_key:
        _warned_random_key = True
        logger.warning(
            "%s is not set: prompt, output and end-user hashes use a random per-process key and "
            "correlate only within this process. Set it to the same secret everywhere to correlate.",
            ENV_HASH_KEY,
        )
