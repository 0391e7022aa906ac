"""End-user and session identity for the LLM calls made in a block of code.

Web apps know who the user is in a request handler, far from the OpenAI call::

    import otel_llm_security as llm_security

    with llm_security.user_context(user_id=request.user.id, session_id=request.session_id):
        answer = client.chat.completions.create(...)

The ids are kept in a context variable (so they follow ``asyncio`` tasks and threads
started with ``contextvars.copy_context``) and never exported raw: the user id is
recorded as ``enduser.pseudo.id`` (HMAC), the session id as ``session.id`` and
``gen_ai.conversation.id``.

Where the ids come from, first match wins: the request's ``user`` or
``safety_identifier`` field (user), then :func:`user_context`, then OTel baggage
(``enduser.id``, ``session.id``) propagated from an upstream service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry import baggage

from otel_llm_security.attributes import BAGGAGE_ENDUSER_ID, SESSION_ID


@dataclass(frozen=True)
class UserContext:
    user_id: str | None = None
    session_id: str | None = None


_EMPTY = UserContext()
_current: ContextVar[UserContext] = ContextVar("otel_llm_security_user_context", default=_EMPTY)


@contextmanager
def user_context(user_id: str | None = None, session_id: str | None = None) -> Iterator[UserContext]:
    """Attribute the LLM calls inside the block to ``user_id`` / ``session_id``.

    Nested blocks override only what they set: an inner ``user_context(session_id=...)``
    keeps the outer user.
    """
    outer = _current.get()
    ctx = UserContext(
        user_id=str(user_id) if user_id is not None else outer.user_id,
        session_id=str(session_id) if session_id is not None else outer.session_id,
    )
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_user_context() -> UserContext:
    """The ids set by the innermost :func:`user_context` (empty outside any)."""
    return _current.get()


def resolve_identity(request_user: str | None) -> tuple[str | None, str | None]:
    """(user id, session id) for a call, by the precedence in the module docstring."""
    ctx = _current.get()
    user = request_user or ctx.user_id
    session = ctx.session_id
    if user is None or session is None:
        bag = baggage.get_all()
        if bag:
            if user is None:
                v = bag.get(BAGGAGE_ENDUSER_ID)
                user = str(v) if v else None
            if session is None:
                v = bag.get(SESSION_ID)
                session = str(v) if v else None
    return user, session
