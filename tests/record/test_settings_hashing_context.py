from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import pytest

from otel_llm_security import attributes as a
from otel_llm_security import user_context
from otel_llm_security.record import settings as settings_mod
from otel_llm_security.record.context import current_user_context, resolve_identity
from otel_llm_security.record.hashing import Hasher
from otel_llm_security.record.settings import DEFAULT_CONTENT_MAX_LENGTH, RecordSettings


def test_hmac_sha256_full_hex() -> None:
    h = Hasher(b"k")
    assert h.hexdigest("hello") == hmac.new(b"k", b"hello", hashlib.sha256).hexdigest()
    assert len(h.hexdigest("")) == 64
    assert h.hexdigest("hello") != Hasher(b"other").hexdigest("hello")
    assert h.hexdigest("hello") != hashlib.sha256(b"hello").hexdigest()


def test_hasher_accepts_lone_surrogates_and_nul() -> None:
    assert len(Hasher(b"k").hexdigest("\ud800\x00\U0010ffff")) == 64


def test_native_and_wrapper_hmac_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # The OpenSSL HMAC object behind hmac.HMAC, and the stdlib's pure-Python HMAC (used
    # when there is no OpenSSL object), give the stdlib's digest for every text.
    import hashlib
    import hmac

    from otel_llm_security.record import hashing

    texts = ["", "hello", "x" * 10_000, "\ud800\x00\U0010ffff", "caf\u00e9"]
    expected = [hmac.new(b"k", t.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest() for t in texts]
    native = Hasher(b"k")
    assert [native.hexdigest(t) for t in texts] == expected
    monkeypatch.setattr(hashing.hmac, "new", lambda key, digestmod: hmac.HMAC(key, digestmod=lambda: hashlib.sha256()))
    wrapper = Hasher(b"k")
    assert getattr(wrapper._template, "_hmac", None) is None  # the pure-Python HMAC
    assert [wrapper.hexdigest(t) for t in texts] == expected


def test_settings_from_environment() -> None:
    s = RecordSettings.from_environment({
        a.ENV_HASH_KEY: "secret", a.ENV_CAPTURE_CONTENT: "TRUE", a.ENV_CONTENT_MAX_LENGTH: "64"})
    assert (s.hash_key, s.hash_key_configured, s.capture_content, s.content_max_length) == (b"secret", True, True, 64)
    d = RecordSettings.from_environment({a.ENV_HASH_KEY: "x", a.ENV_CONTENT_MAX_LENGTH: "lots"})
    assert d.capture_content is False
    assert d.content_max_length == DEFAULT_CONTENT_MAX_LENGTH


def test_random_key_warns_once(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_mod, "_warned_random_key", False)
    with caplog.at_level(logging.WARNING, logger="otel_llm_security"):
        s1 = RecordSettings.from_environment({})
        s2 = RecordSettings.from_environment({})
    assert not s1.hash_key_configured
    assert len(s1.hash_key) == 32
    assert s1.hash_key != s2.hash_key
    warnings = [r for r in caplog.records if a.ENV_HASH_KEY in r.getMessage()]
    assert len(warnings) == 1


def test_user_context_nesting_and_precedence() -> None:
    assert resolve_identity(None) == (None, None)
    with user_context(user_id="u1", session_id="s1"):
        with user_context(session_id="s2"):
            assert current_user_context().user_id == "u1"
            assert resolve_identity(None) == ("u1", "s2")
            assert resolve_identity("request-user") == ("request-user", "s2")
        assert resolve_identity(None) == ("u1", "s1")
    assert current_user_context().user_id is None


def test_user_context_follows_asyncio_tasks() -> None:
    async def inner() -> tuple[str | None, str | None]:
        await asyncio.sleep(0)
        return resolve_identity(None)

    async def main() -> tuple[str | None, str | None]:
        with user_context(user_id=42, session_id="s"):  # type: ignore[arg-type]
            return await asyncio.create_task(inner())

    assert asyncio.run(main()) == ("42", "s")
