"""Enforce mode on streams: the output is scanned in windows as it arrives, and a
blocking verdict stops delivery (``OpenAIRequestBlocked`` from the iterator), sync and
async, with the record written once."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from otel_llm_security import attributes as a
from otel_llm_security.attributes import Action, Mode
from otel_llm_security.capture import extract
from otel_llm_security.capture import windows as w
from otel_llm_security.capture.errors import OpenAIRequestBlocked
from otel_llm_security.capture.streams import (
    EnforcingAsyncStreamProxy,
    EnforcingSyncStreamProxy,
    SyncStreamProxy,
)
from otel_llm_security.guard.engine import Guard
from otel_llm_security.guard.errors import PolicyError
from otel_llm_security.guard.policy import apply_environment, default_policy
from otel_llm_security.guard.verdict import Verdict
from otel_llm_security.testing import Reply, chat_completion_chunks, response_stream_events

KEY = b"test-hash-key"
MODEL = "gpt-4o-mini"
PROMPT = "tell me"
MESSAGES = [{"role": "user", "content": PROMPT}]
XSS = "<img src=x onerror=alert(document.cookie)>"
XSS_REASON = "output scanner insecure_output (insecure_output; score 0.90)"
SECRET = "AKIAIOSFODNN7EXAMPLE"
SECRET_REASON = "output scanner secrets (secret; score 0.95; redact is not possible on a stream)"
# Benign prose, ~100 characters a sentence.
PROSE = ("The sync runs every ten minutes and skips a run while the previous one still holds the lock. "
         "Check the connector log for skipped runs before you change the schedule again. ")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guard" / "output_attacks.jsonl"


def hm(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def prose(n: int) -> str:
    return (PROSE * (n // len(PROSE) + 1))[:n]


def pieces(text: str, size: int = 4) -> list[str]:
    """``text`` in chunks of ``size`` characters (OpenAI sends about one token, ~4 characters)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def events(parts: list[str]) -> list[dict[str, Any]]:
    """Chat completion chunks with exactly these content deltas (role chunk first, finish chunk last)."""
    template = chat_completion_chunks("x", pieces=1)
    role, content, finish = template[0], template[1], template[-1]
    out = [role]
    for p in parts:
        c = json.loads(json.dumps(content))
        c["choices"][0]["delta"]["content"] = p
        out.append(c)
    out.append(finish)
    return out


def enforcing_guard() -> Guard:
    """The shipped policy in enforce mode (insecure_output blocks, secrets redacts)."""
    return Guard.from_policy(apply_environment(default_policy(), {a.ENV_MODE: "enforce"}))


def one_span(telemetry: Any) -> Any:
    spans = telemetry.spans()
    assert len(spans) == 1, [s.name for s in spans]
    assert spans[0].end_time is not None
    return spans[0]


def text_of(chunk: Any) -> str:
    return (chunk.choices[0].delta.content or "") if chunk.choices else ""


def consume(stream: Any) -> tuple[str, BaseException | None]:
    got: list[str] = []
    try:
        for chunk in stream:
            got.append(text_of(chunk))
    except OpenAIRequestBlocked as exc:
        return "".join(got), exc
    return "".join(got), None


async def aconsume(stream: Any) -> tuple[str, BaseException | None]:
    got: list[str] = []
    try:
        async for chunk in stream:
            got.append(text_of(chunk))
    except OpenAIRequestBlocked as exc:
        return "".join(got), exc
    return "".join(got), None


async def run(replay: Any, parts: list[str], is_async: bool) -> tuple[Any, str, BaseException | None]:
    replay.enqueue(Reply.stream(events(parts)))
    if is_async:
        stream = await replay.async_client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert isinstance(stream, EnforcingAsyncStreamProxy)
        delivered, exc = await aconsume(stream)
    else:
        stream = replay.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert isinstance(stream, EnforcingSyncStreamProxy)
        delivered, exc = consume(stream)
    return stream, delivered, exc


def assert_blocked_record(telemetry: Any, received: str, reason: str, threat: str, scanner: str, action: str) -> None:
    """The exact record of a stream blocked on its output, written once."""
    span = one_span(telemetry)
    attrs = span.attributes
    assert span.status.status_code.name == "ERROR"
    assert attrs[a.ERROR_TYPE] == "OpenAIRequestBlocked"
    assert attrs[a.LLM_SECURITY_MODE] == "enforce"
    assert attrs[a.LLM_SECURITY_BLOCKED] is True
    assert attrs[a.LLM_SECURITY_ACTION] == "block"
    assert attrs[a.LLM_SECURITY_BLOCK_REASON] == reason
    assert attrs[a.LLM_SECURITY_THREATS] == (threat,)
    assert attrs[a.LLM_SECURITY_OUTPUT_HASH] == hm(received)
    assert attrs[a.LLM_SECURITY_OUTPUT_LENGTH] == len(received)
    assert attrs[a.LLM_SECURITY_INPUT_HASH] == hm(PROMPT)
    assert attrs[a.LLM_SECURITY_TOKENS_ESTIMATED] is True
    findings = [e for e in span.events if e.name == a.EVENT_SECURITY_FINDING]
    assert [(e.attributes[a.SECURITY_GUARDRAIL_NAME], e.attributes[a.SECURITY_TARGET_TYPE],
             e.attributes[a.SECURITY_VERDICT_TYPE], e.attributes[a.SECURITY_ACTION_TYPE]) for e in findings] == [
        (scanner, "llm_output", "deny", action)]
    metrics = telemetry.metrics()
    assert [(p.value, p.attributes[a.SIGNAL_BLOCK_SOURCE]) for p in metrics[a.METRIC_BLOCKS]] == [(1, "guard")]
    assert [(p.value, p.attributes[a.LLM_SECURITY_ACTION]) for p in metrics[a.METRIC_REQUESTS]] == [(1, "block")]
    assert [(p.attributes[a.SIGNAL_THREAT], p.attributes[a.SIGNAL_DIRECTION]) for p in metrics[a.METRIC_THREAT_DETECTIONS]] == [
        (threat, "output")]
    logs = telemetry.logs()
    assert len(logs) == 1
    rec = logs[0].log_record
    assert rec.body == f"{a.LOG_EVENT_BLOCK}: {reason}"
    assert rec.attributes[a.LLM_SECURITY_OUTPUT_HASH] == hm(received)
    assert rec.attributes[a.LLM_SECURITY_OUTPUT_LENGTH] == len(received)
    assert rec.span_id == span.context.span_id


# --- blocking mid-stream ---------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_xss_in_the_middle_stops_delivery(instrument, telemetry, replay, is_async) -> None:
    instrument(guard=enforcing_guard())
    answer = prose(3000) + XSS + prose(6000)
    parts = pieces(answer)
    stream, delivered, exc = await run(replay, parts, is_async)
    # The app catches the block like any client error and never sees the rest.
    assert isinstance(exc, OpenAIRequestBlocked) and isinstance(exc, openai.OpenAIError)
    assert exc.direction == "output" and exc.reason == XSS_REASON and exc.threats == ("insecure_output",)
    end = answer.index(XSS) + len(XSS)
    assert answer.startswith(delivered)
    # Stopped within one window (+ overlap and one checkpoint interval) after the payload.
    assert 3000 < len(delivered) < end + w.DEFAULT_WINDOW + w.OVERLAP + w.MAX_CHECK_INTERVAL * 4
    # The chunk that completed the blocking window was withheld; the record covers it.
    received = answer[: len(delivered) + 4]
    assert_blocked_record(telemetry, received, XSS_REASON, "insecure_output", "insecure_output", "block")
    assert stream.response.is_closed  # the HTTP stream was closed
    # Iteration is over: no second record, nothing more delivered, close()/GC change nothing.
    if is_async:
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        await stream.close()
    else:
        with pytest.raises(StopIteration):
            next(stream)
        stream.close()
    del stream
    gc.collect()
    one_span(telemetry)
    assert len(telemetry.logs()) == 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_secret_in_a_streamed_answer_is_blocked_not_redacted(instrument, telemetry, replay, is_async) -> None:
    # The shipped policy redacts secrets in output; delivered chunks cannot be redacted,
    # so on a stream the redaction stops delivery.
    instrument(guard=enforcing_guard())
    answer = prose(2500) + f"Use the key {SECRET} for the bucket. " + prose(5000)
    _, delivered, exc = await run(replay, pieces(answer, 5), is_async)
    assert isinstance(exc, OpenAIRequestBlocked)
    assert exc.reason == SECRET_REASON
    assert answer.startswith(delivered) and len(delivered) < len(answer) - 2000
    received = answer[: len(delivered) + 5]
    assert_blocked_record(telemetry, received, SECRET_REASON, "secret", "secrets", "block")
    assert a.LLM_SECURITY_REDACTED not in one_span(telemetry).attributes


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_xss_at_the_very_end_raises_instead_of_ending(instrument, telemetry, replay, is_async) -> None:
    # After the last window: every chunk was delivered, the whole-output scan at the end
    # blocks, and the iteration ends with the exception instead of StopIteration.
    instrument(guard=enforcing_guard())
    answer = prose(700) + " " + XSS
    _, delivered, exc = await run(replay, pieces(answer, 6), is_async)
    assert delivered == answer
    assert isinstance(exc, OpenAIRequestBlocked) and exc.reason == XSS_REASON
    assert_blocked_record(telemetry, answer, XSS_REASON, "insecure_output", "insecure_output", "block")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("offset", range(-40, 41, 8))
async def test_xss_split_across_chunks_and_window_boundary(instrument, telemetry, replay, is_async, offset) -> None:
    # Window of 256: the payload straddles (or sits next to) the end of the first
    # window, cut into 3-character chunks; it is caught mid-stream every time.
    instrument(guard=enforcing_guard(), stream_window=256)
    start = 256 - len(XSS) // 2 + offset
    answer = prose(start) + XSS + prose(3000)
    _, delivered, exc = await run(replay, pieces(answer, 3), is_async)
    assert isinstance(exc, OpenAIRequestBlocked) and exc.reason == XSS_REASON
    assert len(delivered) < start + len(XSS) + 256 + w.OVERLAP
    assert_blocked_record(telemetry, answer[: len(delivered) + 3], XSS_REASON, "insecure_output", "insecure_output",
                          "block")


# --- what must not change ----------------------------------------------------------


CODE_BLOCK = "```html\n" + "<p>Profile</p>\n<script>alert(document.cookie)</script>\n" * 60 + "```\n"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_long_benign_stream_is_not_blocked(instrument, telemetry, replay, is_async) -> None:
    # 12 KB of prose with an XSS example inside a fenced code block longer than a window
    # (the whole-output scan ignores code; so must a window that starts inside it).
    guard = enforcing_guard()
    scanned: list[str] = []
    real = guard.stream_output_scanner

    def spy(prompt: str) -> Any:
        scan = real(prompt)

        def counted(window: str) -> Verdict:
            scanned.append(window)
            return scan(window)

        return counted

    guard.stream_output_scanner = spy  # type: ignore[method-assign]
    instrument(guard=guard)
    answer = prose(4000) + "\nAn example of what the filter removes:\n" + CODE_BLOCK + prose(5000)
    assert len(CODE_BLOCK) > w.DEFAULT_WINDOW
    _, delivered, exc = await run(replay, pieces(answer), is_async)
    assert exc is None and delivered == answer
    # Bounded windows, never the output from the start: each at most window + 2 overlaps
    # (+ a checkpoint interval and the fence line), together ~ the output once.
    assert len(scanned) >= len(answer) // (w.DEFAULT_WINDOW + w.MAX_CHECK_INTERVAL * 4) - 1
    assert max(len(s) for s in scanned) <= w.DEFAULT_WINDOW + 2 * w.OVERLAP + w.MAX_CHECK_INTERVAL * 4 + 8
    assert sum(len(s) for s in scanned) < len(answer) * 1.4
    assert any(s.startswith("```\n") for s in scanned)  # a window that starts inside the fence
    attrs = one_span(telemetry).attributes
    assert attrs[a.LLM_SECURITY_BLOCKED] is False
    assert attrs[a.LLM_SECURITY_ACTION] == "allow"
    assert attrs[a.LLM_SECURITY_OUTPUT_HASH] == hm(answer)
    assert telemetry.logs() == []


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_monitor_mode_scans_once_at_the_end(instrument, telemetry, replay, guard_factory, is_async) -> None:
    guard = guard_factory(Mode.MONITOR)
    instrument(guard=guard, stream_window=256)
    answer = prose(1000) + f"key {SECRET} " + prose(1000)
    replay.enqueue(Reply.stream(events(pieces(answer))))
    if is_async:
        stream = await replay.async_client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        delivered, exc = await aconsume(stream)
    else:
        stream = replay.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        delivered, exc = consume(stream)
    assert type(stream).__name__ in ("SyncStreamProxy", "AsyncStreamProxy")
    assert exc is None and delivered == answer
    assert guard.outputs == [(answer, PROMPT)]  # one scan, at the end, no windows
    attrs = one_span(telemetry).attributes
    assert (attrs[a.LLM_SECURITY_ACTION], attrs[a.LLM_SECURITY_BLOCKED]) == ("block", False)
    assert a.ERROR_TYPE not in attrs


def test_scripted_guard_blocks_through_scan_output_windows(instrument, telemetry, replay, guard_factory) -> None:
    # A guard without stream_output_scanner: its scan_output is applied per window.
    guard = guard_factory(Mode.ENFORCE)
    instrument(guard=guard, stream_window=256)
    answer = prose(600) + f"key {SECRET} " + prose(2000)
    replay.enqueue(Reply.stream(events(pieces(answer))))
    stream = replay.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    delivered, exc = consume(stream)
    assert isinstance(exc, OpenAIRequestBlocked) and exc.reason == "secrets: secret"
    received = answer[: len(delivered) + 4]
    windows, final = guard.outputs[:-1], guard.outputs[-1]
    assert final == (received, PROMPT)
    assert windows and all(p == PROMPT and len(t) < 256 + 2 * w.OVERLAP + w.MAX_CHECK_INTERVAL * 4 for t, p in windows)
    assert SECRET in windows[-1][0] and not any(SECRET in t for t, _ in windows[:-1])
    assert_blocked_record(telemetry, received, "secrets: secret", "secret", "secrets", "block")


def test_stream_window_zero_scans_only_at_the_end(instrument, telemetry, replay) -> None:
    instrument(guard=enforcing_guard(), stream_window=0)
    answer = prose(3000) + XSS + prose(3000)
    replay.enqueue(Reply.stream(events(pieces(answer))))
    delivered, exc = consume(replay.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert delivered == answer  # no windows: delivered whole, blocked at the end
    assert isinstance(exc, OpenAIRequestBlocked)
    assert_blocked_record(telemetry, answer, XSS_REASON, "insecure_output", "insecure_output", "block")


def test_responses_api_stream_is_blocked_mid_way(instrument, telemetry, replay) -> None:
    instrument(guard=enforcing_guard(), stream_window=256)
    answer = prose(400) + XSS + prose(3000)
    evs = response_stream_events(answer)
    delta = next(e for e in evs if e.get("type") == "response.output_text.delta")
    i = evs.index(delta)
    deltas = []
    for p in pieces(answer):
        d = json.loads(json.dumps(delta))
        d["delta"] = p
        deltas.append(d)
    evs = evs[:i] + deltas + [e for e in evs[i:] if e.get("type") != "response.output_text.delta"]
    replay.enqueue(Reply.stream(evs, responses_api=True))
    got: list[str] = []
    with pytest.raises(OpenAIRequestBlocked) as info:
        for ev in replay.client().responses.create(model=MODEL, input=PROMPT, stream=True):
            if ev.type == "response.output_text.delta":
                got.append(ev.delta)
    assert info.value.reason == XSS_REASON
    delivered = "".join(got)
    assert answer.startswith(delivered) and len(delivered) < len(answer) - 2000
    assert_blocked_record(telemetry, answer[: len(delivered) + 4], XSS_REASON, "insecure_output", "insecure_output",
                          "block")


def test_chat_stream_helper_raises_the_block(instrument, telemetry, replay) -> None:
    instrument(guard=enforcing_guard(), stream_window=256)
    answer = prose(400) + XSS + prose(3000)
    replay.enqueue(Reply.stream(events(pieces(answer))))
    with pytest.raises(OpenAIRequestBlocked), replay.client().chat.completions.stream(model=MODEL, messages=MESSAGES) as s:
        s.get_final_completion()
    assert one_span(telemetry).attributes[a.LLM_SECURITY_BLOCKED] is True


# --- the windows themselves ---------------------------------------------------------


def _chunk_objects(parts: list[str]) -> list[Any]:
    return [ChatCompletionChunk.model_validate(e) for e in events(parts)]


def _blocking_scan(needle: str, seen: list[str]) -> Any:
    def scan(window: str) -> Verdict:
        seen.append(window)
        hit = needle in window
        return Verdict(mode=Mode.ENFORCE, action=Action.BLOCK if hit else Action.ALLOW, blocked=hit,
                       block_reason="found" if hit else "")

    return scan


def _feed(ws: w.OutputWindows, source: list[Any]) -> tuple[int, Verdict | None]:
    for n, chunk in enumerate(source, 1):
        ws.chunks.append(chunk)
        if len(ws.chunks) >= ws.next_check:
            v = ws.check()
            if v is not None:
                return n, v
    return len(source), None


@pytest.mark.parametrize("offset", range(0, 30))
def test_a_payload_across_a_window_boundary_is_seen_whole(offset) -> None:
    seen: list[str] = []
    needle = "<script>alert(1)</script>"
    answer = "a" * (250 + offset) + needle + "b" * 2000
    source = _chunk_objects(pieces(answer, 7))
    ws = w.OutputWindows(_blocking_scan(needle, seen), w.read_chat, [], size=256, overlap=64)
    n, v = _feed(ws, source)
    assert v is not None and v.blocked
    assert n < len(source) - 200
    # The windows cover the text in order, each new part once, with the tail overlap.
    assert all(len(s) <= 256 + 2 * 64 + w.MAX_CHECK_INTERVAL * 7 for s in seen)


def _two_choice_chunks(text1: str, tool_call_at: Callable[[int], bool] = lambda i: i % 7 == 0) -> list[Any]:
    """``text1`` as choice 1's content in 5-character pieces, interleaved with choice 0's
    text, and a tool-call delta after the pieces ``tool_call_at`` picks."""
    chunks = []
    for i, p in enumerate(pieces(text1, 5)):
        for idx, t in ((0, "zzzzz"), (1, p)):
            chunks.append(ChatCompletionChunk.model_validate({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": idx, "delta": {"content": t}, "finish_reason": None}]}))
        if tool_call_at(i):
            chunks.append(ChatCompletionChunk.model_validate({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"tool_calls": [{"index": i % 2, "function": {"arguments": f"{{\"a\": {i}}}"}}]},
                             "finish_reason": None}]}))
    return chunks


def test_windows_are_per_choice_and_tool_call() -> None:
    # Two interleaved choices: a payload in choice 1 is not cut up by choice 0's text.
    seen: list[str] = []
    needle = "<script>alert(1)</script>"
    text1 = "x" * 300 + needle + "y" * 300
    chunks = _two_choice_chunks(text1, tool_call_at=lambda i: i == 0)
    ws = w.OutputWindows(_blocking_scan(needle, seen), w.read_chat, [], size=256)
    _, v = _feed(ws, chunks)
    assert v is not None
    assert any(needle in s and "z" not in s for s in seen)
    assert '{"a": 0}' in ws.tails.get((0, 0), ("", None))[0] or any(s == '{"a": 0}' for s in seen)


def test_every_output_attack_fixture_is_caught_mid_stream_across_a_boundary(instrument) -> None:
    # Each XSS / exfiltration fixture, centred on the first window's end and cut into
    # 3-character chunks, is blocked by a window (not only by the scan at the end).
    guard = enforcing_guard()
    rows = [json.loads(line) for line in FIXTURES.read_text().splitlines() if line.strip()]
    missed = []
    checked = 0
    for row in rows:
        scan = guard.stream_output_scanner(PROMPT)
        assert scan is not None
        text = prose(256 - len(row["text"]) // 2) + row["text"] + prose(3000)
        if not guard.scan_output(text, PROMPT).blocked:
            continue  # not blocked in this context even as a whole (a shell line after prose)
        checked += 1
        ws = w.OutputWindows(scan, w.read_chat, [], size=256)
        _, v = _feed(ws, _chunk_objects(pieces(text, 3)))
        if v is None or not v.blocked:
            missed.append(row["text"])
    assert missed == []
    assert checked >= 50, checked


def test_stream_verdict_turns_redact_into_block_in_enforce_mode_only() -> None:
    from otel_llm_security.guard.scanner import ScanResult

    r = ScanResult("secrets", "output", 0.95, False, ("secret",), sanitized="[REDACTED]", action=Action.REDACT)
    v = Verdict(mode=Mode.ENFORCE, action=Action.REDACT, blocked=False, block_reason="", results=(r,),
                sanitized_text="[REDACTED]", direction="output")
    s = w.stream_verdict(v)
    assert (s.action, s.blocked, s.sanitized_text) == (Action.BLOCK, True, None)
    assert s.block_reason == SECRET_REASON
    assert s.results[0].action is Action.BLOCK
    monitor = Verdict(mode=Mode.MONITOR, action=Action.REDACT, blocked=False, block_reason="", results=(r,))
    assert w.stream_verdict(monitor) is monitor


def test_fence_state() -> None:
    assert w.fence_state("a\n```py\nx = 1\n", 0, 14, None) == "```"
    assert w.fence_state("a\n```py\nx = 1\n```\nb", 0, 19, None) is None
    assert w.fence_state("x = 1\n```\nmore", 0, 14, "```") is None
    assert w.fence_state("x = 1\n~~~\nmore", 0, 14, "```") == "```"  # another marker does not close it
    assert w.fence_state("plain text", 0, 10, "~~~") == "~~~"


def test_window_setting_from_environment() -> None:
    assert w.window_from_environment({}) == w.DEFAULT_WINDOW
    assert w.window_from_environment({a.ENV_STREAM_WINDOW: "0"}) == 0
    assert w.window_from_environment({a.ENV_STREAM_WINDOW: " 1024 "}) == 1024
    for bad in ("two", "100", "-5"):
        with pytest.raises(PolicyError, match=a.ENV_STREAM_WINDOW):
            w.window_from_environment({a.ENV_STREAM_WINDOW: bad})


def test_monitor_guard_has_no_window_scanner() -> None:
    assert Guard.from_policy(None).stream_output_scanner(PROMPT) is None
    warn_only = apply_environment(default_policy(), {
        a.ENV_MODE: "enforce",
        "OTEL_LLM_SECURITY_SCANNERS__INSECURE_OUTPUT__ACTION": "warn",
        "OTEL_LLM_SECURITY_SCANNERS__SECRETS__ACTION": "warn",
    })
    assert Guard.from_policy(warn_only).stream_output_scanner(PROMPT) is None


def test_monitor_stream_keeps_the_plain_wrapper(instrument, replay, guard_factory) -> None:
    instrument(guard=guard_factory(Mode.MONITOR))
    replay.enqueue(Reply.stream(events(pieces(prose(100)))))
    stream = replay.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert type(stream) is SyncStreamProxy
    stream.close()


class _FailingOutputGuard:
    """Enforce mode; prompts pass, every output scan raises."""

    mode = Mode.ENFORCE

    def __init__(self, fail_closed: bool) -> None:
        self.fail_closed = fail_closed
        self.output_calls = 0

    def scan_input(self, text: str) -> Verdict:
        return Verdict(mode=Mode.ENFORCE, action=Action.ALLOW, blocked=False, block_reason="", direction="input")

    def scan_output(self, text: str, prompt: str) -> Verdict:
        self.output_calls += 1
        raise RuntimeError("scanner crashed")


@pytest.mark.parametrize("fail_closed", [True, False], ids=["fail-closed", "fail-open"])
def test_guard_failure_on_a_window(instrument, telemetry, replay, fail_closed) -> None:
    guard = _FailingOutputGuard(fail_closed)
    instrument(guard=guard, stream_window=256)
    answer = prose(2000)
    replay.enqueue(Reply.stream(events(pieces(answer))))
    delivered, exc = consume(replay.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    attrs = one_span(telemetry).attributes
    assert attrs[a.LLM_SECURITY_SCANNER_ERRORS] == ("guard",)
    assert attrs[a.LLM_SECURITY_THREATS] == ("scanner_error",)
    if fail_closed:  # the first window fails: the stream stops there
        assert isinstance(exc, OpenAIRequestBlocked) and exc.reason == "guard failed on output (fail-closed)"
        assert len(delivered) < 256 + w.MAX_CHECK_INTERVAL * 4
        assert guard.output_calls == 2  # the window, then the received output once
        assert attrs[a.LLM_SECURITY_BLOCKED] is True
        assert attrs[a.LLM_SECURITY_OUTPUT_LENGTH] == len(delivered) + 4
    else:  # windows stop after the failure; the output is delivered and scanned (and fails) at the end
        assert exc is None and delivered == answer
        assert guard.output_calls == 2
        assert attrs[a.LLM_SECURITY_BLOCKED] is False


def test_window_scanner_runs_only_the_scanners_that_stop_delivery() -> None:
    scan = enforcing_guard().stream_output_scanner(PROMPT)
    assert scan is not None
    v = scan(prose(500))
    assert [r.scanner for r in v.results] == ["insecure_output", "secrets"]  # not pii, invisible_text, refusal
    assert v.direction == "output" and not v.blocked


# --- a chat stream in enforce mode reads its chunks as they pass -----------------------




@pytest.mark.parametrize("case", ["one-choice", "two-choices-and-tools", "dicts"])
def test_windows_over_read_chunks_scan_what_windows_over_kept_chunks_scan(case) -> None:
    # The reader-backed chunk count (ReadChunks + read_reader) hands the windows the same
    # text, per the same keys, at the same checkpoints, as the kept chunk objects, so the
    # same windows are scanned and the stream stops at the same chunk.
    needle = "<script>alert(1)</script>"
    if case == "one-choice":
        source: list[Any] = _chunk_objects(pieces("a" * 700 + needle + "b" * 3000, 4))
    elif case == "two-choices-and-tools":
        source = _two_choice_chunks("x" * 900 + needle + "y" * 900)
    else:
        source = list(events(pieces("c" * 1200 + needle + "d" * 500, 6)))
    runs = []
    for kept in (True, False):
        seen: list[str] = []
        chunks: Any = [] if kept else w.ReadChunks(extract.ChatChunkReader())
        ws = w.OutputWindows(_blocking_scan(needle, seen), w.read_chat if kept else w.read_reader, chunks,
                             size=256, overlap=64)
        n, v = _feed(ws, source)
        runs.append((n, v is not None and v.blocked, sorted(seen), dict(ws.tails)))
    assert runs[0] == runs[1]  # (within one look the parts may be scanned in another order)
    assert runs[0][1]


def test_enforce_chat_stream_drops_its_chunks_as_they_pass(instrument, telemetry, replay) -> None:
    instrument(guard=enforcing_guard())
    answer = prose(3000)
    replay.enqueue(Reply.stream(events(pieces(answer, 4))))
    stream = replay.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}],
                                                     stream=True)
    call = stream._self_call
    assert isinstance(call.chunks, w.ReadChunks) and call.reader is not None
    it = iter(stream)
    for _ in range(40):
        next(it)
    assert len(call.chunks) == 40 and not hasattr(call.chunks, "__getitem__")  # counted, not kept
    rest = list(it)
    assert "".join(c.choices[0].delta.content or "" for c in rest if c.choices)
    attrs = telemetry.spans()[-1].attributes
    assert attrs[a.LLM_SECURITY_OUTPUT_LENGTH] == len(answer)
