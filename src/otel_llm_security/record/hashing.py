"""Keyed hashes (HMAC-SHA256, full length, hex) of prompts, outputs and user ids.

A plain or truncated SHA-256 of a short prompt or user id is reversible by guessing;
an HMAC with an operator secret is not, and still lets rules group identical prompts
or users across services that share the key.
"""

from __future__ import annotations

import hashlib
import hmac


class Hasher:
    """HMAC-SHA256 with one key; thread-safe, the keyed state is prepared once."""

    __slots__ = ("_template",)

    def __init__(self, key: bytes) -> None:
        self._template = hmac.new(key, digestmod=hashlib.sha256)

    def hexdigest(self, text: str) -> str:
        h = self._template.copy()
        # surrogatepass: lone surrogates (from hostile or broken JSON) must hash, not raise.
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()
