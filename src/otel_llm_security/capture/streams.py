"""Wrappers that finish a call's record when its output is complete.

A stream is finished, exactly once, on whichever comes first: exhaustion, an error,
``close()``, context-manager exit, or garbage collection (``weakref.finalize`` on the
wrapper, which also covers an early ``break`` once the stream is dropped). Each chunk
of a Chat Completions stream is read as it passes (its text pieces, finish reason and
usage kept, the chunk itself dropped: :class:`~otel_llm_security.capture.extract.ChatChunkReader`),
in enforce mode too; other streams keep their chunks (one list append each). The output is reassembled and
scanned once, at the end. In
``enforce`` mode the enforcing wrappers also scan the output in bounded windows as it
arrives and stop delivery when a window blocks (:mod:`otel_llm_security.capture.windows`).

The wrappers are ``wrapt.ObjectProxy`` objects, so ``isinstance(stream, openai.Stream)``
and every other attribute of the client's stream keep working.

Raw responses (``with_raw_response`` / ``with_streaming_response``) are handled here
too: a read non-streamed body is recorded at once; otherwise ``parse()`` is wrapped
(returning a wrapped stream for streams), with ``close()`` and GC as the fallback.
"""

from __future__ import annotations

import logging
import sys
import weakref
from typing import TYPE_CHECKING, Any

import wrapt

from otel_llm_security.capture import extract

if TYPE_CHECKING:
    from otel_llm_security.capture.call import Call
    from otel_llm_security.capture.windows import OutputWindows
    from otel_llm_security.guard.verdict import Verdict

logger = logging.getLogger("otel_llm_security")


def _finalize(proxy: object, call: Call, how: str) -> None:
    try:
        weakref.finalize(proxy, call.finish_stream, how)
    except TypeError:  # not weak-referenceable: exhaustion/close/exit still finish it
        logger.debug("otel-llm-security: stream wrapper is not weak-referenceable")


def _plain(cls: Any, name: str, names: tuple[str, ...]) -> bool:
    code = getattr(getattr(cls, name, None), "__code__", None)
    return code is not None and code.co_names == names


def _direct_sources() -> tuple[Any, Any, bool, bool, bool]:
    """openai's ``Stream.__iter__`` / ``__next__`` and ``AsyncStream.__anext__`` only pass
    on the items of the stream's ``_iterator`` (every openai from 1.x to 3.x); checked here
    by the names their code reads. Where they do, a stream of exactly that class is read
    from its ``_iterator``: one generator (coroutine) fewer per chunk."""
    import openai

    s, a = openai.Stream, openai.AsyncStream
    return (s, a, _plain(s, "__iter__", ("_iterator",)), _plain(s, "__next__", ("_iterator", "__next__")),
            _plain(a, "__anext__", ("_iterator", "__anext__")))


_STREAM, _ASYNC_STREAM, _DIRECT_ITER, _DIRECT_NEXT, _DIRECT_ANEXT = _direct_sources()


def _pull(wrapped: Any, sync: bool) -> Any:
    """The stream's ``__next__`` (``__anext__``), or its ``_iterator``'s where that is all
    the stream's method calls."""
    try:
        if sync:
            if _DIRECT_NEXT and type(wrapped) is _STREAM:
                return wrapped._iterator.__next__
        elif _DIRECT_ANEXT and type(wrapped) is _ASYNC_STREAM:
            return wrapped._iterator.__anext__
    except AttributeError:
        pass
    return wrapped.__next__ if sync else wrapped.__anext__


def _iter_source(wrapped: Any) -> Any:
    """What ``iter(stream)`` iterates: the stream's ``_iterator`` when that is what its
    ``__iter__`` would iterate, else the stream itself."""
    if _DIRECT_ITER and type(wrapped) is _STREAM:
        try:
            return wrapped._iterator
        except AttributeError:
            pass
    return wrapped


class _Step:
    """The per-chunk work of a recording stream, kept off the proxy.

    Reading an attribute of a ``wrapt`` proxy costs ~0.2 µs (wrapt 2.x's C proxy), so
    ``__next__`` reads one bound method of this plain object and the rest happens here.
    """

    __slots__ = ("append", "call", "pull")

    def __init__(self, wrapped: Any, call: Call, sync: bool) -> None:
        self.call = call
        # A chat stream's chunks are read as they pass (and dropped: holding every chunk
        # object until the end cost more per chunk than reading it); others are kept.
        reader = call.reader
        self.append = reader.add if reader is not None else call.chunks.append
        self.pull = _pull(wrapped, sync)

    def next(self) -> Any:
        try:
            chunk = self.pull()
        except StopIteration:
            self.call.finish_stream("end")
            raise
        except BaseException:
            self.call.finish_stream("error")
            raise
        try:
            self.append(chunk)
        except Exception:  # never the app's problem; the record misses this chunk
            logger.exception("otel-llm-security: reading a stream chunk failed")
        return chunk

    async def anext(self) -> Any:
        try:
            chunk = await self.pull()
        except StopAsyncIteration:
            self.call.finish_stream("end")
            raise
        except BaseException:
            self.call.finish_stream("error")
            raise
        try:
            self.append(chunk)
        except Exception:  # never the app's problem; the record misses this chunk
            logger.exception("otel-llm-security: reading a stream chunk failed")
        return chunk


def _iterate(proxy: SyncStreamProxy, step: _Step) -> Any:
    """What ``iter(stream)`` returns: a generator over the client's own iterator (as
    ``openai.Stream.__iter__`` returns one), so a ``for`` loop resumes two generators
    per chunk (ours and the client's ``__stream__``, as without us) instead of calling
    the proxy's ``__next__``. It holds the proxy, so the proxy lives (and is not
    finished by GC) while the app holds only the iterator."""
    call, append = step.call, step.append
    try:
        for chunk in _iter_source(proxy.__wrapped__):
            try:
                append(chunk)
            except Exception:  # never the app's problem; the record misses this chunk
                logger.exception("otel-llm-security: reading a stream chunk failed")
            yield chunk
    except GeneratorExit:  # this iterator was closed or dropped: close()/exit/GC finish
        raise
    except BaseException:
        call.finish_stream("error")
        raise
    call.finish_stream("end")


class SyncStreamProxy(wrapt.ObjectProxy):
    """An ``openai.Stream`` that records its call when it ends."""

    def __init__(self, wrapped: Any, call: Call) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_step = step = _Step(wrapped, call, sync=True)
        self._self_next = step.next
        _finalize(self, call, "gc")

    def __iter__(self) -> Any:
        return _iterate(self, self._self_step)

    def __next__(self) -> Any:
        return self._self_next()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.finish_stream("close")

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_call.finish_stream("exit")


class AsyncStreamProxy(wrapt.ObjectProxy):
    """An ``openai.AsyncStream`` that records its call when it ends."""

    def __init__(self, wrapped: Any, call: Call) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_anext = _Step(wrapped, call, sync=False).anext
        _finalize(self, call, "gc")

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    def __anext__(self) -> Any:  # returns the awaitable: no extra coroutine per chunk
        return self._self_anext()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.finish_stream("close")

    async def aclose(self) -> None:
        try:
            inner = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
            await inner()
        finally:
            self._self_call.finish_stream("close")

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_call.finish_stream("exit")


class _Enforcer:
    """The per-chunk work of an enforcing stream, kept off the proxy.

    Reading an attribute of a ``wrapt`` proxy costs a few hundred ns (measured with wrapt
    2.x's C proxy), so the enforcing wrappers read one bound method per chunk and do
    the rest here, on plain slots.
    """

    __slots__ = ("call", "count", "keep", "next_check", "pull", "stopped", "windows", "wrapped")

    def __init__(self, wrapped: Any, call: Call, windows: OutputWindows | None, sync: bool) -> None:
        self.call = call
        # call.chunks: a list, or a windows.ReadChunks (a chat stream: read and dropped).
        self.keep = call.chunks.append
        self.count = len(call.chunks)  # len(call.chunks), kept here: no len() call per chunk
        self.windows = windows
        self.next_check = windows.next_check if windows is not None else sys.maxsize
        self.pull = _pull(wrapped, sync)
        self.wrapped = wrapped
        self.stopped = False

    def look(self) -> Verdict | None:
        """At a checkpoint: a verdict that stops the stream, or None."""
        windows = self.windows
        verdict = windows.check()  # type: ignore[union-attr]
        self.next_check = windows.next_check  # type: ignore[union-attr]
        if verdict is not None:
            self.stopped = True
        return verdict

    def next(self) -> Any:
        if self.stopped:
            raise StopIteration
        try:
            chunk = self.pull()
        except StopIteration:
            blocked = self.call.finish_stream("end", enforce=True)
            if blocked is not None:
                self.stopped = True
                raise blocked from None
            raise
        except BaseException:
            self.call.finish_stream("error")
            raise
        self.keep(chunk)
        self.count += 1
        if self.count >= self.next_check:
            verdict = self.look()
            if verdict is not None:
                try:
                    self.wrapped.close()
                except Exception:
                    logger.debug("otel-llm-security: closing the blocked stream failed", exc_info=True)
                raise self.call.block_stream(verdict)
        return chunk

    async def anext(self) -> Any:
        if self.stopped:
            raise StopAsyncIteration
        try:
            chunk = await self.pull()
        except StopAsyncIteration:
            blocked = self.call.finish_stream("end", enforce=True)
            if blocked is not None:
                self.stopped = True
                raise blocked from None
            raise
        except BaseException:
            self.call.finish_stream("error")
            raise
        self.keep(chunk)
        self.count += 1
        if self.count >= self.next_check:
            verdict = self.look()
            if verdict is not None:
                try:
                    await self.wrapped.close()
                except Exception:
                    logger.debug("otel-llm-security: closing the blocked stream failed", exc_info=True)
                raise self.call.block_stream(verdict)
        return chunk


class EnforcingSyncStreamProxy(SyncStreamProxy):
    """An ``openai.Stream`` in ``enforce`` mode: its output is scanned in windows as it
    arrives (:class:`~otel_llm_security.capture.windows.OutputWindows`) and whole at the
    end; a verdict that blocks stops delivery.

    A blocking window closes the HTTP stream, records the call as blocked and raises
    :class:`~otel_llm_security.capture.errors.OpenAIRequestBlocked` from ``next()``
    instead of returning the chunk that completed the window. A blocking verdict on the
    whole output raises it instead of ``StopIteration``. After either, iteration stops.
    Per chunk: the chunk is kept (a chat stream's is read and dropped, see
    :class:`~otel_llm_security.capture.windows.ReadChunks`) and the count compared with
    the next checkpoint.
    """

    def __init__(self, wrapped: Any, call: Call, windows: OutputWindows | None) -> None:
        super().__init__(wrapped, call)
        self._self_next = _Enforcer(wrapped, call, windows, sync=True).next

    def __iter__(self) -> EnforcingSyncStreamProxy:
        return self

    def __next__(self) -> Any:
        return self._self_next()


class EnforcingAsyncStreamProxy(AsyncStreamProxy):
    """An ``openai.AsyncStream`` in ``enforce`` mode (see :class:`EnforcingSyncStreamProxy`)."""

    def __init__(self, wrapped: Any, call: Call, windows: OutputWindows | None) -> None:
        super().__init__(wrapped, call)
        self._self_anext = _Enforcer(wrapped, call, windows, sync=False).anext

    def __anext__(self) -> Any:  # returns the awaitable: no extra coroutine per chunk
        return self._self_anext()


def wrap_stream(stream: Any, call: Call) -> Any:
    """The wrapper for a client stream: enforcing in ``enforce`` mode, else recording only."""
    sync = isinstance(stream, _STREAM)
    if call.req.endpoint == "chat" and call.reader is None and not call.chunks:
        call.reader = extract.ChatChunkReader()
        if call.rt.enforce_streams:  # the enforcing wrapper and the windows count and read through it
            from otel_llm_security.capture.windows import ReadChunks

            call.chunks = ReadChunks(call.reader)
    if call.rt.enforce_streams:
        try:
            windows = call.stream_windows()
        except Exception:
            logger.exception("otel-llm-security: cannot scan the stream incrementally; it is scanned at its end")
            windows = None
        return (EnforcingSyncStreamProxy if sync else EnforcingAsyncStreamProxy)(stream, call, windows)
    return (SyncStreamProxy if sync else AsyncStreamProxy)(stream, call)


# --- raw responses -----------------------------------------------------------


def _raw_classes() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(legacy raw, sync streaming-raw, async streaming-raw) response classes."""
    legacy: tuple[type, ...] = ()
    sync: tuple[type, ...] = ()
    asyn: tuple[type, ...] = ()
    try:
        from openai._legacy_response import LegacyAPIResponse

        legacy = (LegacyAPIResponse,)
    except ImportError:
        pass
    try:
        from openai._response import APIResponse, AsyncAPIResponse

        sync, asyn = (APIResponse,), (AsyncAPIResponse,)
    except ImportError:
        pass
    return legacy, sync, asyn


_LEGACY, _SYNC_RAW, _ASYNC_RAW = _raw_classes()


def _wrap_parsed(call: Call, parsed: Any) -> Any:
    import openai

    if isinstance(parsed, (openai.Stream, openai.AsyncStream)):
        return wrap_stream(parsed, call)
    try:
        info = extract.parse_response(call.req.endpoint, parsed)
    except Exception:
        logger.exception("otel-llm-security: reading the parsed response failed")
        info = None
    # The caller already holds the raw response: an output block cannot be enforced.
    call.finish_with(info, None)
    return parsed


class _RawProxyBase(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, call: Call) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_parsed: dict[Any, Any] = {}
        _finalize(self, call, "gc")

    def _self_cached(self, key: Any, parsed: Any) -> Any:
        if key not in self._self_parsed:
            self._self_parsed[key] = _wrap_parsed(self._self_call, parsed)
        return self._self_parsed[key]


class SyncRawResponseProxy(_RawProxyBase):
    """``LegacyAPIResponse`` / ``APIResponse`` whose ``parse()`` records the call."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self.__wrapped__.parse(*args, **kwargs)
        return self._self_cached(kwargs.get("to"), parsed)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            if not self._self_parsed:
                self._self_call.finish_with(None, None)


class AsyncRawResponseProxy(_RawProxyBase):
    """``AsyncAPIResponse`` whose ``parse()`` records the call."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = await self.__wrapped__.parse(*args, **kwargs)
        return self._self_cached(kwargs.get("to"), parsed)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            if not self._self_parsed:
                self._self_call.finish_with(None, None)


def wrap_raw_response(result: Any, call: Call) -> Any | None:
    """A wrapper for a raw response, or None if ``result`` is not one.

    A non-streamed ``with_raw_response`` body has been read already: it is recorded
    now, from the JSON bytes, and the response is returned as is.
    """
    if _LEGACY and isinstance(result, _LEGACY):
        if not call.req.stream:
            http = getattr(result, "http_response", None)
            content = getattr(http, "content", None) if http is not None else None
            obj = extract.parse_json_bytes(content) if isinstance(content, bytes) else None
            info = extract.parse_response(call.req.endpoint, obj) if obj is not None else None
            call.finish_with(info, None)
            return result
        # LegacyAPIResponse.parse() is synchronous for both clients.
        return SyncRawResponseProxy(result, call)
    if _ASYNC_RAW and isinstance(result, _ASYNC_RAW):
        return AsyncRawResponseProxy(result, call)
    if _SYNC_RAW and isinstance(result, _SYNC_RAW):
        return SyncRawResponseProxy(result, call)
    return None

