"""Keyed hashes (HMAC-SHA256, full length, hex) of prompts, outputs and user ids.

A plain or truncated SHA-256 of a short prompt or user id is reversible by guessing;
an HMAC with an operator secret is not, and still lets rules group identical prompts
or users across services that share the key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any


class Hasher:
    """HMAC-SHA256 with one key; thread-safe, the keyed state is prepared once.

    Where the stdlib's ``hmac.HMAC`` wraps an OpenSSL HMAC object (CPython with OpenSSL),
    that object's own ``copy`` / ``update`` / ``hexdigest`` are used: the same digest
    without the wrapper's four Python frames per hash. It is checked against the
    wrapper's digest when the hasher is built.
    """

    __slots__ = ("_template",)

    def __init__(self, key: bytes) -> None:
        template: Any = hmac.new(key, digestmod=hashlib.sha256)
        native = getattr(template, "_hmac", None)
        if native is not None:
            try:
                probe = native.copy()
                probe.update(b"probe")
                wrapped = template.copy()
                wrapped.update(b"probe")
                if probe.hexdigest() == wrapped.hexdigest():
                    template = native
            except Exception:
                pass
        self._template = template

    def hexdigest(self, text: str) -> str:
        h = self._template.copy()
        # surrogatepass: lone surrogates (from hostile or broken JSON) must hash, not raise.
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()
