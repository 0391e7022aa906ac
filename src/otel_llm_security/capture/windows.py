"""Incremental output scanning of a stream in ``enforce`` mode: bounded windows.

A streamed answer reaches the app chunk by chunk, so scanning it only when it ends can
record a block but never stop one. In ``enforce`` mode, when the guard has output
scanners whose action is ``block`` or ``redact``, :class:`OutputWindows` scans the
output as it arrives: each time about ``size`` new characters have come in, it scans a
window made of those characters plus the last ``overlap`` characters already scanned
(so a payload split across a window boundary, or across chunks, is seen whole as long
as it is shorter than the overlap), per choice / tool call / output part. A window
whose verdict blocks (or redacts: chunks already delivered cannot be redacted, see
:func:`stream_verdict`) stops delivery. Each character is scanned 1 + overlap / size to
1 + 2 · overlap / size times (the overlap starts at a line start), never the whole output
from the start on each chunk; the whole output is still scanned once, when the stream
ends.

Cost per chunk: the stream wrapper reads a Chat Completions chunk as it passes and drops
it (:class:`ReadChunks`, as in monitor mode; other streams' chunks are kept) and compares
the chunk count with the next checkpoint. At a checkpoint the text read since the last
one (:func:`read_reader`; for kept chunks, one pass over them, :data:`TEXT_READERS`) is
added to the pending text and, when ``size`` characters are pending, scanned; the next checkpoint is placed where the window should fill up at
the observed characters per chunk (at most :data:`MAX_CHECK_INTERVAL` chunks ahead), so
the scan happens within a few chunks of the window filling.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from otel_llm_security.attributes import ENV_STREAM_WINDOW, Action, Mode
from otel_llm_security.capture.extract import g
from otel_llm_security.guard.errors import PolicyError
from otel_llm_security.guard.verdict import Verdict

logger = logging.getLogger("otel_llm_security")

# Default window: 2,048 new characters (~500 tokens). A window scan of the default
# policy's blocking/redacting output scanners (insecure_output, secrets) costs a fixed
# part (tens of µs) plus a linear part; over ~500 OpenAI-sized chunks (~4 characters)
# that is well under 1 µs per chunk. 1,024 halves how much of a bad answer can reach
# the app before the block, at about twice the per-chunk cost (see docs/attributes.md).
DEFAULT_WINDOW = 2048
# Characters of already-scanned text rescanned at the start of the next window: longer
# than what the built-in patterns need to see at once (tokens, keys, tags, URLs).
OVERLAP = 256
MIN_WINDOW = 256
# At most this many chunks between two looks at the pending text.
MAX_CHECK_INTERVAL = 32

Key = Any
Reader = Callable[[list[Any], int, int, dict[Key, list[str]]], int]


def window_from_environment(env: Mapping[str, str] | None = None) -> int:
    """``OTEL_LLM_SECURITY_STREAM_WINDOW``: characters per window; 0 turns windows off."""
    env = os.environ if env is None else env
    raw = env.get(ENV_STREAM_WINDOW, "").strip()
    if not raw:
        return DEFAULT_WINDOW
    try:
        value = int(raw)
    except ValueError:
        raise PolicyError(f"{ENV_STREAM_WINDOW}: expected a number of characters, got {raw!r}") from None
    if value != 0 and value < MIN_WINDOW:
        raise PolicyError(f"{ENV_STREAM_WINDOW}: expected 0 (off) or at least {MIN_WINDOW} characters, got {value}")
    return value


def stream_verdict(v: Verdict) -> Verdict:
    """What ``enforce`` mode does with an output verdict on a stream.

    Chunks already delivered cannot be redacted, and the redacted text cannot be
    delivered instead, so a ``redact`` stops the stream like a ``block`` (as the guard
    already blocks when a scanner cannot redact what it found). Other verdicts are
    returned unchanged; so is every verdict in ``monitor`` mode.
    """
    if v.blocked or v.mode is not Mode.ENFORCE or v.action is not Action.REDACT:
        return v
    results = []
    reasons = []
    for r in v.results:
        if not r.passed and (r.action or Action.REDACT) is Action.REDACT:
            r = dataclasses.replace(r, action=Action.BLOCK)
            reasons.append(f"output scanner {r.scanner} ({', '.join(r.threats) or 'risk'}; score {r.score:.2f}; "
                           "redact is not possible on a stream)")
        results.append(r)
    return Verdict(
        mode=v.mode,
        action=Action.BLOCK,
        blocked=True,
        block_reason="; ".join(reasons) or "output redaction is not possible on a stream",
        results=tuple(results),
        duration_ms=v.duration_ms,
        direction=v.direction,
    )


def stops_stream(v: Verdict) -> bool:
    return v.blocked or (v.mode is Mode.ENFORCE and v.action is Action.REDACT)


# --- reading the text of chunks, in one pass per checkpoint --------------------


def _add(out: dict[Key, list[str]], key: Key, text: str) -> None:
    pieces = out.get(key)
    if pieces is None:
        out[key] = [text]
    else:
        pieces.append(text)


def _chat_slow(chunk: Any, out: dict[Key, list[str]]) -> int:
    n = 0
    for ch in g(chunk, "choices") or ():
        idx = g(ch, "index") or 0
        delta = g(ch, "delta")
        if delta is None:
            continue
        c = g(delta, "content")
        if isinstance(c, str) and c:
            _add(out, idx, c)
            n += len(c)
        for tc in g(delta, "tool_calls") or ():
            fn = g(tc, "function")
            args = g(fn, "arguments") if fn is not None else None
            if isinstance(args, str) and args:
                _add(out, (idx, g(tc, "index") or 0), args)
                n += len(args)
    return n


def read_chat(chunks: list[Any], start: int, end: int, out: dict[Key, list[str]]) -> int:
    """Chat Completions chunks: content per choice, tool call arguments per tool call."""
    n = 0
    first = out.get(0)
    if first is None:
        first = out[0] = []
    for chunk in chunks[start:end]:
        try:
            choices = chunk.choices
            if len(choices) == 1:  # the common shape: one choice, text only
                ch = choices[0]
                delta = ch.delta
                if ch.index == 0 and not delta.tool_calls:
                    c = delta.content
                    if c:
                        first.append(c)
                        n += len(c)
                    continue
            n += _chat_slow(chunk, out)
        except (AttributeError, TypeError):
            n += _chat_slow(chunk, out)
    return n


def read_completions(chunks: list[Any], start: int, end: int, out: dict[Key, list[str]]) -> int:
    """Legacy Completions chunks: text per choice."""
    n = 0
    for i in range(start, end):
        for ch in g(chunks[i], "choices") or ():
            t = g(ch, "text")
            if isinstance(t, str) and t:
                _add(out, g(ch, "index") or 0, t)
                n += len(t)
    return n


_RESPONSE_DELTAS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.function_call_arguments.delta": "arguments",
}


def read_responses(chunks: list[Any], start: int, end: int, out: dict[Key, list[str]]) -> int:
    """Responses API events: text, refusal and function-call argument deltas per output item."""
    n = 0
    for i in range(start, end):
        ev = chunks[i]
        kind = _RESPONSE_DELTAS.get(g(ev, "type"))
        if kind is None:
            continue
        d = g(ev, "delta")
        if isinstance(d, str) and d:
            _add(out, (kind, g(ev, "output_index"), g(ev, "content_index")), d)
            n += len(d)
    return n


TEXT_READERS: dict[str, Reader] = {"chat": read_chat, "completions": read_completions, "responses": read_responses}


class ReadChunks:
    """Stands in for a Chat Completions stream's chunk list in ``enforce`` mode: each chunk
    is read as it arrives (:class:`~otel_llm_security.capture.extract.ChatChunkReader`, as
    in monitor mode) and dropped, instead of every chunk object being held until the
    stream ends. ``len()`` is the number of chunks so far (what the checkpoints count);
    :func:`read_reader` hands the windows the text read since their last look.
    """

    __slots__ = ("n", "reader", "seen")

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.n = 0
        self.seen: dict[Key, int] = {}  # per output part: pieces already handed to the windows

    def append(self, chunk: Any) -> None:
        self.n += 1
        try:
            self.reader.add(chunk)
        except Exception:  # never the app's problem; the record misses this chunk
            logger.exception("otel-llm-security: reading a stream chunk failed")

    def __len__(self) -> int:
        return self.n


def read_reader(chunks: ReadChunks, start: int, end: int, out: dict[Key, list[str]]) -> int:
    """:data:`Reader` over :class:`ReadChunks`: the text pieces the reader has read since
    the last call, per choice (content) and per (choice, tool call) (arguments), as
    :func:`read_chat` keys them; ``start`` / ``end`` are implied."""
    n = 0
    seen = chunks.seen
    for parts in (chunks.reader._texts, chunks.reader._tools):
        for key, pieces in parts.items():
            k = seen.get(key, 0)
            if len(pieces) > k:
                new = pieces[k:]
                seen[key] = len(pieces)
                have = out.get(key)
                if have is None:
                    out[key] = new
                else:
                    have.extend(new)
                for piece in new:
                    n += len(piece)
    return n


class OutputWindows:
    """The incremental scan of one stream's output (see the module docstring).

    ``chunks`` is the list the stream wrapper appends every chunk to; ``scan`` takes a
    window of text and returns the guard's verdict. Not thread-safe: one stream is
    iterated by one consumer.
    """

    __slots__ = ("_scanned", "chunks", "next_check", "on_error", "overlap", "pending", "pending_chars", "read", "scan",
                 "size", "tails")

    def __init__(self, scan: Callable[[str], Verdict], read: Reader, chunks: list[Any], size: int = DEFAULT_WINDOW,
                 overlap: int = OVERLAP, on_error: Verdict | None = None) -> None:
        self.scan: Callable[[str], Verdict] | None = scan
        self.on_error = on_error
        self.read = read
        self.chunks = chunks
        self.size = size
        self.overlap = min(overlap, size)
        self.pending: dict[Key, list[str]] = {}
        self.pending_chars = 0
        # Per output part: the text the next window starts with, and the code fence open there.
        self.tails: dict[Key, tuple[str, str | None]] = {}
        self._scanned = 0  # chunks read so far
        self.next_check = 8  # the first look (the first chunks are usually short or empty)

    def check(self) -> Verdict | None:
        """Read the chunks that arrived since the last look; scan when a window is full.

        Returns the (stream) verdict that stops delivery, else None. Sets
        :attr:`next_check`, the chunk count at which the wrapper calls again.
        """
        chunks = self.chunks
        end = len(chunks)
        start = self._scanned
        added = self.read(chunks, start, end, self.pending) if end > start else 0
        self._scanned = end
        self.pending_chars += added
        verdict = None
        if self.pending_chars >= self.size:
            verdict = self.flush()
        # Place the next look where the window should fill at the observed chunk size.
        per_chunk = max(1, added // max(1, end - start))
        ahead = (self.size - self.pending_chars) // per_chunk
        self.next_check = end + max(1, min(MAX_CHECK_INTERVAL, ahead))
        return verdict

    def flush(self) -> Verdict | None:
        """Scan every output part with pending text (tail of the last window + new text)."""
        pending, self.pending, self.pending_chars = self.pending, {}, 0
        scan = self.scan
        if scan is None:
            return None
        for key, pieces in pending.items():
            if not pieces:
                continue
            window = self._window(key, "".join(pieces))
            try:
                verdict = scan(window)
            except Exception as exc:
                logger.warning("otel-llm-security: guard failed on a stream window: %s", type(exc).__name__)
                self.scan = None
                return self.on_error  # fail-closed: a block; fail-open: the final scan records it
            if stops_stream(verdict):
                self.scan = None
                return stream_verdict(verdict)
        return None

    def _window(self, key: Key, new: str) -> str:
        """The text to scan for ``key``; keeps the next window's tail and code-fence state.

        The tail starts at a line start when one is near (so code fences and inline
        code spans are read as in the whole text). If that start lies inside a fenced
        code block, the next window is prefixed with the fence's opening line: code the
        whole-output scan ignores is ignored in a window too (no block of a benign
        answer that shows HTML in a code block across a window boundary).
        """
        tail, fence = self.tails.get(key, ("", None))
        text = tail + new
        cut = max(0, len(text) - self.overlap)
        nl = text.rfind("\n", max(0, cut - self.overlap), cut + 1)
        if nl >= 0:
            cut = nl + 1
        self.tails[key] = (text[cut:], fence_state(text, 0, cut, fence))
        return f"{fence}\n{text}" if fence else text


_FENCE_LINE_RE = re.compile(r"(?m)^[ \t]{0,3}(```+|~~~+)([^\n]*)$")


def fence_state(text: str, start: int, end: int, fence: str | None) -> str | None:
    """The open code fence (its marker, e.g. ``````` ``` `````) at ``end`` of ``text``, given
    the one open at ``start``; the same reading as the insecure-output scanner's mask."""
    if "`" not in text and "~" not in text:
        return fence
    for m in _FENCE_LINE_RE.finditer(text, start, end):
        marker = m.group(1)
        if fence is None:
            if m.end() < end:  # an opening line needs its newline
                fence = marker
        elif marker == fence and not m.group(2).strip(" \t"):
            fence = None
    return fence
