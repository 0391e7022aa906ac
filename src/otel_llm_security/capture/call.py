"""One instrumented OpenAI call: span placement, guard, response reading, record.

The hook (:mod:`otel_llm_security.capture.patch`) creates a :class:`Call` inside the
client's ``post()``, runs the request, and hands the result to :meth:`Call.on_result`,
which records at once (plain responses) or wraps the result (streams, raw responses)
so that the record is written when the output is complete. Every method here
swallows and logs its own failures, except the deliberate :class:`OpenAIRequestBlocked`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import weakref
from typing import Any, NoReturn

import openai
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_llm_security import attributes as a
from otel_llm_security.attributes import Action, Mode
from otel_llm_security.capture import extract
from otel_llm_security.capture.errors import OpenAIRequestBlocked
from otel_llm_security.guard.tokens import estimate_tokens
from otel_llm_security.guard.verdict import Verdict
from otel_llm_security.record.context import resolve_identity
from otel_llm_security.record.recorder import CallData, Recorder

logger = logging.getLogger("otel_llm_security")

SYSTEM_OPENAI = "openai"
SYSTEM_AZURE = "azure.ai.openai"
_AZURE_CLIENTS: tuple[type, ...] = tuple(
    c for c in (getattr(openai, "AzureOpenAI", None), getattr(openai, "AsyncAzureOpenAI", None)) if c is not None
)
# Attributes by which we recognise a GenAI span made by another instrumentation
# (OTel contrib / genai-openai set gen_ai.operation.name, Traceloop llm.request.type).
_GENAI_MARKERS = (a.GEN_AI_SYSTEM, a.GEN_AI_PROVIDER_NAME, "llm.request.type")
# gen_ai.operation.name values of a single model call (semconv, plus names peers use).
_LLM_OPERATIONS = frozenset({"chat", "text_completion", "embeddings", "generate_content", "completion", "responses"})


# Peer spans that already carry (or will carry) the record of a call. A peer that
# leaks its span's context (contrib openai-v2 after an early ``break``) leaves an old
# span current; a later call must not write its record there.
_claimed: weakref.WeakSet[Any] = weakref.WeakSet()


def current_genai_span() -> Span | None:
    """The current span if it is another instrumentation's recording span of this
    LLM call (kind CLIENT, an LLM operation) that no earlier call has claimed.

    Agent, workflow and tool spans (``invoke_agent``, ``execute_tool``, ...) wrap many
    calls: they are parents, not the call's span, and get a child span of ours.
    """
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    attrs = getattr(span, "attributes", None)
    if not attrs:
        return None
    op = attrs.get(a.GEN_AI_OPERATION_NAME)
    if op is not None:
        if op not in _LLM_OPERATIONS:
            return None
    elif not any(m in attrs for m in _GENAI_MARKERS):
        return None
    kind = getattr(span, "kind", SpanKind.CLIENT)
    if kind is not SpanKind.CLIENT:
        return None
    try:
        if span in _claimed:
            return None
        _claimed.add(span)
    except TypeError:  # not weak-referenceable: fall back to our marker attribute
        if a.LLM_SECURITY_MODE in attrs:
            return None
    return span


_server_cache: dict[int, tuple[Any, str | None, int | None]] = {}


def _server(instance: Any) -> tuple[str | None, int | None]:
    """(server.address, server.port) of the client's base URL; remembered per URL object
    (a client keeps its URL object; reading host and port parses it each time)."""
    try:
        try:  # what the base_url property returns; the property itself costs ~0.6 µs
            url = instance._base_url
        except AttributeError:
            url = instance.base_url
        hit = _server_cache.get(id(url))
        if hit is not None and hit[0] is url:
            return hit[1], hit[2]
        port = url.port or (443 if url.scheme == "https" else 80)
        host = url.host or None
    except Exception:
        return None, None
    if len(_server_cache) >= 64:
        _server_cache.clear()
    _server_cache[id(url)] = (url, host, port)  # holds the URL, so its id is not reused
    return host, port


class Runtime:
    """What every call needs, built once by the instrumentor."""

    def __init__(self, recorder: Recorder, guard: Any, stream_window: int | None = None) -> None:
        self.recorder = recorder
        self.guard = guard
        mode = getattr(guard, "mode", Mode.MONITOR) if guard is not None else Mode.MONITOR
        self.mode = mode if isinstance(mode, Mode) else Mode(str(mode))
        self.fail_closed = bool(getattr(guard, "fail_closed", False))
        policy_id = getattr(getattr(guard, "policy", None), "id", None)
        self.policy_id = policy_id if isinstance(policy_id, str) else None
        self.tracer = recorder.tracer
        # In monitor mode the built-in guard neither blocks nor redacts, so nothing it
        # says about a prompt can change the request: the prompt is scanned when the
        # call is finished, next to its output: the request (a stream's first chunk) is
        # not delayed by the scan, and the two scans run back to back on warm caches
        # (4-18 µs less guard time per call in the instrumented process than a scan on
        # each side of the client's own work).
        from otel_llm_security.guard.engine import Guard

        self.defer_input = self.mode is Mode.MONITOR and isinstance(guard, Guard)
        # In enforce mode a stream's output is scanned in windows as it arrives
        # (capture.windows); 0 turns that off (then it is scanned once, at the end).
        from otel_llm_security.capture.windows import window_from_environment

        self.stream_window = window_from_environment() if stream_window is None else stream_window
        self.enforce_streams = self.mode is Mode.ENFORCE and guard is not None


def _guard_failure_verdict(rt: Runtime, direction: str) -> Verdict | None:
    """Verdict when the guard itself raised: nothing (fail-open) or a block (fail-closed)."""
    if not rt.fail_closed:
        return None
    return Verdict(
        mode=rt.mode,
        action=Action.BLOCK,
        blocked=rt.mode is Mode.ENFORCE,
        block_reason=f"guard failed on {direction} (fail-closed)",
        direction=direction,  # type: ignore[arg-type]
    )


class Call:
    """State of one call from ``post()`` to the complete output."""

    __slots__ = (
        "_finished",
        "_open",
        "body",
        "chunks",
        "data",
        "input_pending",
        "own",
        "prompt_pending",
        "reader",
        "req",
        "rt",
        "span",
        "token",
    )

    def __init__(self, rt: Runtime, instance: Any, endpoint: str, operation: str, kwargs: dict[str, Any]) -> None:
        self.rt = rt
        self.body = body = kwargs.get("body")
        # A monitor-mode stream's prompt is scanned when the stream is finished, and is
        # only read then (from a snapshot of the body): off the path to the first chunk.
        defer = rt.defer_input
        self.req = req = extract.parse_request(endpoint, operation, body, bool(kwargs.get("stream")), prompt=not defer)
        self.prompt_pending = defer and req.stream and isinstance(body, dict)
        if self.prompt_pending:
            self.body = extract.snapshot_body(body)
        elif defer:
            extract.read_prompt(req, body)
        system = SYSTEM_AZURE if _AZURE_CLIENTS and isinstance(instance, _AZURE_CLIENTS) else SYSTEM_OPENAI
        user, session = resolve_identity(req.user)
        self.data = CallData(
            operation=operation,
            system=system,
            mode=rt.mode,
            request_model=req.model,
            input_text=req.input_text,
            user_id=user,
            session_id=session,
            conversation_id=req.conversation_id,
            policy_id=rt.policy_id,
        )
        # The chunks kept until the output is complete (a list), or, for a Chat
        # Completions stream in enforce mode, a windows.ReadChunks that reads and drops
        # them (set by streams.wrap_stream).
        self.chunks: Any = []
        # A Chat Completions stream reads each chunk as it passes instead of keeping it
        # (set by streams.wrap_stream); otherwise the chunks are kept.
        self.reader: extract.ChatChunkReader | None = None
        self._finished = False
        self._open = [True]  # popped by the one finisher (list.pop is atomic: no lock needed)
        self.token: object | None = None
        self.input_pending = False
        peer = current_genai_span()
        if peer is not None:
            self.span, self.own = peer, False
        else:
            host, port = _server(instance)
            attrs: dict[str, Any] = {
                a.GEN_AI_OPERATION_NAME: operation,
                a.GEN_AI_SYSTEM: system,
                a.GEN_AI_PROVIDER_NAME: system,
            }
            if req.model:
                attrs[a.GEN_AI_REQUEST_MODEL] = req.model
            if host:
                attrs[a.SERVER_ADDRESS] = host
                attrs[a.SERVER_PORT] = port
            name = f"{operation} {req.model}" if req.model else operation
            self.span = rt.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
            self.own = True

    # --- input -------------------------------------------------------------

    def scan_input(self, kwargs: dict[str, Any]) -> None:
        """Scan the prompt; raise :class:`OpenAIRequestBlocked` or redact the body."""
        rt, data = self.rt, self.data
        text = data.input_text
        if rt.guard is None or text is None:
            return
        try:
            verdict: Verdict | None = rt.guard.scan_input(text)
        except Exception as exc:
            logger.warning("otel-llm-security: guard failed on input: %s", type(exc).__name__)
            self.input_guard_failed()
            return
        data.input_verdict = verdict
        if verdict is None:
            return
        if verdict.blocked:
            self._block_input(verdict)
        if verdict.sanitized_text is not None and rt.mode is Mode.ENFORCE and verdict.action is Action.REDACT:
            try:
                new_body = self._redacted_body(verdict.sanitized_text)
            except Exception:
                logger.exception("otel-llm-security: redaction failed; sending the original prompt")
                new_body = None
            if new_body is not None:
                kwargs["body"] = new_body
                data.redacted = True

    def input_guard_failed(self) -> None:
        """The prompt could not be scanned: a guard error on input and the policy's
        failure verdict (fail-closed: a block, which stops the call in enforce mode)."""
        self.data.guard_errors.append("input")
        verdict = self.data.input_verdict = _guard_failure_verdict(self.rt, "input")
        if verdict is not None and verdict.blocked:
            self._block_input(verdict)

    def _block_input(self, verdict: Verdict) -> NoReturn:
        blocked = OpenAIRequestBlocked(verdict, direction="input")
        self.finish_error(blocked)
        raise blocked

    def _redacted_body(self, sanitized: str) -> Any:
        body = copy.deepcopy(self.body)
        slots = extract.prompt_slots(self.req.endpoint, body)
        if not slots:
            return None
        if len(slots) == 1:
            c, k = slots[0]
            c[k] = sanitized
            return body
        # The guard scanned the slots joined by SEPARATOR; give each slot back its lines
        # when the redaction kept the line structure, else redact slot by slot.
        lines = sanitized.split(extract.SEPARATOR)
        wanted = [c[k].count(extract.SEPARATOR) + 1 for c, k in slots]
        if sum(wanted) == len(lines):
            i = 0
            for (c, k), n in zip(slots, wanted, strict=True):
                c[k] = extract.SEPARATOR.join(lines[i : i + n])
                i += n
            return body
        for c, k in slots:
            v = self.rt.guard.scan_input(c[k])
            if v.sanitized_text is not None:
                c[k] = v.sanitized_text
        return body

    # --- context -------------------------------------------------------------

    def activate(self) -> None:
        if self.own:
            self.token = otel_context.attach(trace.set_span_in_context(self.span))

    def deactivate(self) -> None:
        if self.token is not None:
            try:
                otel_context.detach(self.token)  # type: ignore[arg-type]
            except Exception:
                pass
            self.token = None

    # --- deferred finish on a peer's span --------------------------------------

    def hook_peer_end(self) -> None:
        """Finish our record first whenever the peer ends its span.

        For streams and raw responses the output completes after ``post()`` returned,
        and peers end their span on their own schedule (some in their wrapper's
        ``__del__``, which runs before ours). Shadowing the span's ``end`` on the
        instance makes our record land on the span before it closes, whoever ends it.
        """
        span = self.span
        original = span.end
        call = self

        def end(*args: Any, **kwargs: Any) -> None:
            if not call._finished:
                call.finish_stream("peer-end")
            try:
                span.__dict__.pop("end", None)
            except Exception:
                pass
            original(*args, **kwargs)

        try:
            span.end = end  # type: ignore[method-assign]
        except Exception:
            logger.debug("otel-llm-security: cannot hook the peer span's end()")

    # --- output ------------------------------------------------------------

    def on_result(self, result: Any) -> Any:
        """Record a plain result, or wrap a stream / raw response. Raises only on output block."""
        streams = _streams or _load_streams()
        try:
            if isinstance(result, _STREAM_TYPES):
                self._defer()
                return streams.wrap_stream(result, self)
            wrapped = streams.wrap_raw_response(result, self)
            if wrapped is not None:
                if not self._finished:
                    self._defer()
                return wrapped
            info = extract.parse_response(self.req.endpoint, result)
        except Exception:
            logger.exception("otel-llm-security: reading the response failed")
            self.finish_with(None, None)
            return result
        return self.finish_with(info, result)

    def finish_with(self, info: extract.ResponseInfo | None, result: Any) -> Any:
        """Scan the output, record and end. Returns ``result`` (maybe redacted)."""
        if not self._claim():
            return result
        blocked: OpenAIRequestBlocked | None = None
        try:
            self._apply_response(info, streamed=False)
            blocked = self._scan_output(can_enforce=result is not None)
            if blocked is None and result is not None:
                self._redact_output(result)
            self._record_and_end(blocked)
        except Exception:
            logger.exception("otel-llm-security: recording the call failed")
            self._end_quietly()
        if blocked is not None:
            raise blocked
        return result

    def _defer(self) -> None:
        if not self.own:
            self.hook_peer_end()

    def finish_stream(self, how: str = "end", enforce: bool = False) -> OpenAIRequestBlocked | None:
        """Record a stream's call once, however it ended. Never raises.

        With ``enforce`` (an enforcing stream that reached its end) an output verdict
        that blocks is enforced: the exception to raise instead of ending the iteration
        is returned (and recorded). Otherwise the stream's output was delivered or
        dropped by the app, and the verdict is only recorded.

        On garbage collection a peer span that is still open is ended here: nobody
        else holds the stream any more, so nobody else would end it.
        """
        if not self._claim():
            return None
        blocked: OpenAIRequestBlocked | None = None
        try:
            reader, self.reader = self.reader, None
            if reader is not None:
                info = reader.info()
            else:
                chunks, self.chunks = self.chunks, []
                info = extract.parse_stream(self.req.endpoint, chunks)
            self._apply_response(info, streamed=True)
            blocked = self._scan_output(can_enforce=enforce, stream=True)
            self._record_and_end(blocked)
            if how == "gc" and not self.own and self.span.is_recording():
                self.span.end()
        except Exception:
            logger.exception("otel-llm-security: recording the stream failed")
            self._end_quietly()
        return blocked

    def block_stream(self, window_verdict: Verdict) -> OpenAIRequestBlocked:
        """A window of a stream's output blocked: record the call as blocked, once.

        The output received so far (the chunk that completed the window included,
        although the app does not get it) is scanned whole, like any stream's output at
        its end, and that verdict is the record; should it not block (a scanner that
        reads the whole text differently), the window's verdict is recorded instead.
        Returns the exception the stream raises.
        """
        if not self._claim():
            return OpenAIRequestBlocked(window_verdict, direction="output")
        blocked: OpenAIRequestBlocked | None = None
        data = self.data
        try:
            reader, self.reader = self.reader, None
            chunks, self.chunks = self.chunks, []
            info = reader.info() if reader is not None else extract.parse_stream(self.req.endpoint, chunks)
            self._apply_response(info, streamed=True)
            blocked = self._scan_output(can_enforce=True, stream=True)
            if blocked is None:
                whole = data.output_verdict
                if whole is not None:
                    names = {r.scanner for r in window_verdict.results}
                    extra = tuple(r for r in whole.results if r.scanner not in names)
                    window_verdict = dataclasses.replace(
                        window_verdict, results=window_verdict.results + extra,
                        duration_ms=window_verdict.duration_ms + whole.duration_ms)
                data.output_verdict = window_verdict
                blocked = OpenAIRequestBlocked(window_verdict, direction="output")
            self._record_and_end(blocked)
        except Exception:
            logger.exception("otel-llm-security: recording the blocked stream failed")
            self._end_quietly()
        return blocked or OpenAIRequestBlocked(window_verdict, direction="output")

    def stream_windows(self) -> Any:
        """The incremental scan of this stream's output (enforce mode), or None."""
        from otel_llm_security.capture import windows

        rt = self.rt
        chunks = self.chunks
        read = windows.read_reader if isinstance(chunks, windows.ReadChunks) else windows.TEXT_READERS.get(self.req.endpoint)
        if rt.stream_window <= 0 or read is None or not rt.enforce_streams:
            return None
        prompt = self.data.input_text or ""
        factory = getattr(rt.guard, "stream_output_scanner", None)
        if factory is not None:
            scan = factory(prompt)
            if scan is None:  # no output scanner blocks or redacts
                return None
        else:  # a guard without the window interface: its whole output check, per window
            scan_output = rt.guard.scan_output

            def scan(window: str) -> Verdict:
                return scan_output(window, prompt)

        return windows.OutputWindows(scan, read, chunks, rt.stream_window,  # type: ignore[arg-type]
                                     on_error=_guard_failure_verdict(rt, "output"))

    def finish_error(self, exc: BaseException) -> None:
        """Record a call that raised (API error, transport error, our block). Never raises."""
        if not self._claim():
            return
        try:
            if isinstance(exc, openai.APIStatusError):
                self.data.provider = extract.azure_refusal(getattr(exc, "body", None))
            self._record_and_end(exc)
        except Exception:
            logger.exception("otel-llm-security: recording the failed call failed")
            self._end_quietly()

    # --- internals -----------------------------------------------------------

    def _claim(self) -> bool:
        """True for the one finisher of the call (list.pop is atomic: no lock needed),
        after reading a deferred prompt."""
        try:
            self._open.pop()
        except IndexError:
            return False
        self._finished = True
        if self.prompt_pending:
            self.prompt_pending = False
            try:
                extract.read_prompt(self.req, self.body)
                self.data.input_text = self.req.input_text
            except Exception:
                logger.exception("otel-llm-security: reading the prompt failed")
        return True

    def _apply_response(self, info: extract.ResponseInfo | None, *, streamed: bool) -> None:
        data = self.data
        if info is None:
            return
        data.output_text = info.output_text
        data.response_model = info.model
        data.response_id = info.id
        data.finish_reasons = info.finish_reasons
        if info.provider is not None:
            data.provider = info.provider
        if info.input_tokens is not None or info.output_tokens is not None:
            data.input_tokens, data.output_tokens = info.input_tokens, info.output_tokens
        elif streamed or self.req.endpoint != "embeddings":
            data.input_tokens = estimate_tokens(extract.all_request_text(self.req.endpoint, self.body))
            data.output_tokens = estimate_tokens(info.output_text or "")
            data.tokens_estimated = True

    def _scan_output(self, *, can_enforce: bool, stream: bool = False) -> OpenAIRequestBlocked | None:
        rt, data = self.rt, self.data
        if rt.guard is None or data.output_text is None:
            return None
        try:
            verdict: Verdict | None = rt.guard.scan_output(data.output_text, data.input_text or "")
        except Exception as exc:
            logger.warning("otel-llm-security: guard failed on output: %s", type(exc).__name__)
            data.guard_errors.append("output")
            verdict = _guard_failure_verdict(rt, "output")
        if verdict is not None and stream and can_enforce:
            # Delivered chunks cannot be redacted: on a stream, enforce stops it instead.
            from otel_llm_security.capture.windows import stream_verdict

            verdict = stream_verdict(verdict)
        if verdict is not None and verdict.blocked and not can_enforce:
            # A stream's output was already delivered: record what the guard asked for.
            verdict = Verdict(
                mode=verdict.mode,
                action=verdict.action,
                blocked=False,
                block_reason="",
                results=verdict.results,
                duration_ms=verdict.duration_ms,
                direction=verdict.direction,
            )
        data.output_verdict = verdict
        if verdict is not None and verdict.blocked:
            return OpenAIRequestBlocked(verdict, direction="output")
        return None

    def _redact_output(self, result: Any) -> None:
        v = self.data.output_verdict
        if v is None or v.sanitized_text is None or self.rt.mode is not Mode.ENFORCE or v.action is not Action.REDACT:
            return
        if self.req.endpoint != "chat":
            return
        choices = extract.g(result, "choices")
        if not isinstance(choices, list) or len(choices) != 1:
            return
        msg = extract.g(choices[0], "message")
        if msg is None or extract.g(msg, "tool_calls"):
            return
        if isinstance(msg, dict):
            msg["content"] = v.sanitized_text
        else:
            msg.content = v.sanitized_text
        self.data.redacted = True

    def _record_and_end(self, exc: BaseException | None) -> None:
        if self.input_pending:  # monitor mode: the prompt is scanned now, next to the output
            self.input_pending = False
            try:
                self.scan_input({})
            except Exception:
                logger.exception("otel-llm-security: input scan failed")
        span = self.span
        self.rt.recorder.record(span, self.data, self.own)
        if self.own:
            if exc is not None:
                etype = type(exc).__qualname__
                span.set_attribute(a.ERROR_TYPE, etype)
                span.set_status(Status(StatusCode.ERROR, etype))
            span.end()
        elif isinstance(exc, OpenAIRequestBlocked) and self.req.stream and span.is_recording():
            # A stream's block is raised from the iterator, through the peer's stream
            # wrapper, and not every peer marks its span failed then (Traceloop ends it
            # OK): mark it, as the peers do for a call that raised.
            etype = type(exc).__qualname__
            span.set_attribute(a.ERROR_TYPE, etype)
            span.set_status(Status(StatusCode.ERROR, etype))

    def _end_quietly(self) -> None:
        if self.own:
            try:
                self.span.end()
            except Exception:
                pass


_STREAM_TYPES = (openai.Stream, openai.AsyncStream)
_streams: Any = None


def _load_streams() -> Any:
    global _streams
    from otel_llm_security.capture import streams

    _streams = streams
    return streams


def start_call(rt: Runtime, instance: Any, endpoint: str, operation: str, kwargs: dict[str, Any]) -> Call | None:
    """A new :class:`Call` with its input scanned, or None if capture itself failed.

    Raises :class:`OpenAIRequestBlocked` when the guard blocks the prompt.
    """
    try:
        call = Call(rt, instance, endpoint, operation, kwargs)
    except Exception:
        return _call_without_prompt(rt, instance, endpoint, operation, kwargs)
    try:
        if rt.defer_input:
            call.input_pending = True
        else:
            call.scan_input(kwargs)
    except OpenAIRequestBlocked:
        raise
    except Exception:
        logger.exception("otel-llm-security: input scan failed")
    return call


def _call_without_prompt(rt: Runtime, instance: Any, endpoint: str, operation: str, kwargs: dict[str, Any]) -> Call | None:
    """When the request could not be read (a bug of ours on a shape we did not foresee):
    the call is still recorded, with its response but without its prompt, and the
    prompt counts as a guard failure on input: a ``scanner_error`` in monitor mode or
    with fail-open, a block in ``enforce`` mode with fail-closed."""
    logger.exception("otel-llm-security: could not read the request; recording the call without its prompt")
    try:
        call = Call(rt, instance, endpoint, operation, {"stream": kwargs.get("stream")})
    except Exception:
        logger.exception("otel-llm-security: could not start recording the call")
        return None
    if rt.guard is not None:
        call.input_guard_failed()
    return call
