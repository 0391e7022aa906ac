"""Read what the guard and the record need from OpenAI request bodies and responses.

Requests arrive as the plain ``body`` dict the client passes to ``post()``; responses
as the client's pydantic models, as ``dict`` (``cast_to=dict``) or, for raw responses,
as JSON bytes. Every accessor here tolerates missing keys, wrong types and hostile
values: a malformed shape yields "unknown", never an exception.

What counts as the prompt (``input`` text) of a call: the *new turn*, i.e. the text of
the messages after the last assistant message (user messages, tool results). System
and developer messages (and Responses ``instructions``) count only on the first turn,
when there is no assistant message yet. So a conversation is scanned once per message,
not re-flagged on every later turn that resends its history. Images, audio and files
are not text and are skipped. The output text of a call is the assistant text of every
choice, followed by the arguments of any tool calls, one per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from otel_llm_security.guard.verdict import ProviderVerdict

CHAT = "chat"
EMBEDDINGS = "embeddings"
TEXT_COMPLETION = "text_completion"

# API path -> (endpoint kind, gen_ai.operation.name)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "/chat/completions": ("chat", CHAT),
    "chat/completions": ("chat", CHAT),
    "/responses": ("responses", CHAT),
    "responses": ("responses", CHAT),
    "/embeddings": ("embeddings", EMBEDDINGS),
    "embeddings": ("embeddings", EMBEDDINGS),
    "/completions": ("completions", TEXT_COMPLETION),
    "completions": ("completions", TEXT_COMPLETION),
}

_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_FIRST_TURN_ROLES = frozenset({"system", "developer"})


def _one_of(value: Any, names: frozenset[str]) -> bool:
    """``value in names`` for a value from the app's request or the API's answer, which
    may be anything JSON holds (a list or dict is unhashable: ``in`` would raise)."""
    return isinstance(value, str) and value in names


_MISSING = object()


def g(obj: Any, name: str) -> Any:
    """``obj[name]`` for dicts, ``obj.name`` for models; None when absent.

    Pydantic models are read through their ``__dict__`` and extras: a failed
    ``getattr`` on a model costs an exception inside pydantic (Azure's extra fields are
    absent from most responses, and this runs on every call).
    """
    if isinstance(obj, dict):
        return obj.get(name)
    d = getattr(obj, "__dict__", None)
    if d is not None:
        v = d.get(name, _MISSING)
        if v is not _MISSING:
            return v
        extra = getattr(obj, "__pydantic_extra__", _MISSING)
        if extra is not _MISSING:
            return extra.get(name) if isinstance(extra, dict) else None
    return getattr(obj, name, None)


def _as_list(obj: Any) -> list[Any]:
    if isinstance(obj, list):
        return obj
    if isinstance(obj, tuple):
        return list(obj)
    return []


# A slot is where one piece of prompt text lives in the body: (container, key).
Slot = tuple[Any, Any]


def _content_slots(container: Any, key: Any, out: list[Slot]) -> None:
    content = container[key]
    if isinstance(content, str):
        out.append((container, key))
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and _one_of(part.get("type"), _TEXT_PART_TYPES) and isinstance(part.get("text"), str):
                out.append((part, "text"))


def _chat_slots(messages: list[Any]) -> list[Slot]:
    last_assistant = -1
    for i, m in enumerate(messages):
        if isinstance(m, dict) and m.get("role") == "assistant":
            last_assistant = i
    first_turn = last_assistant < 0
    out: list[Slot] = []
    for m in messages[last_assistant + 1 :]:
        if not isinstance(m, dict) or "content" not in m:
            continue
        if _one_of(m.get("role"), _FIRST_TURN_ROLES) and not first_turn:
            continue
        _content_slots(m, "content", out)
    return out


def _responses_slots(body: dict[str, Any]) -> list[Slot]:
    inp = body.get("input")
    out: list[Slot] = []
    continued = bool(body.get("previous_response_id") or body.get("conversation"))
    if isinstance(inp, str):
        if not continued and isinstance(body.get("instructions"), str):
            out.append((body, "instructions"))
        out.append((body, "input"))
        return out
    items = _as_list(inp)
    last_assistant = -1
    for i, it in enumerate(items):
        if isinstance(it, dict) and (it.get("role") == "assistant" or it.get("type") in ("function_call", "reasoning")):
            last_assistant = i
    first_turn = last_assistant < 0 and not continued
    if first_turn and isinstance(body.get("instructions"), str):
        out.append((body, "instructions"))
    for it in items[last_assistant + 1 :]:
        if not isinstance(it, dict):
            continue
        if it.get("type") == "function_call_output" and isinstance(it.get("output"), str):
            out.append((it, "output"))
        elif "content" in it:
            if _one_of(it.get("role"), _FIRST_TURN_ROLES) and not first_turn:
                continue
            _content_slots(it, "content", out)
    return out


def _string_list_slots(body: dict[str, Any], key: str) -> list[Slot]:
    val = body.get(key)
    if isinstance(val, str):
        return [(body, key)]
    if isinstance(val, list):
        return [(val, i) for i, v in enumerate(val) if isinstance(v, str)]
    return []


def prompt_slots(endpoint: str, body: Any) -> list[Slot]:
    """Where the prompt text of a request body lives, in order."""
    if not isinstance(body, dict):
        return []
    if endpoint == "chat":
        return _chat_slots(_as_list(body.get("messages")))
    if endpoint == "responses":
        return _responses_slots(body)
    if endpoint == "embeddings":
        return _string_list_slots(body, "input")
    if endpoint == "completions":
        return _string_list_slots(body, "prompt")
    return []


SEPARATOR = "\n"


def join_slots(slots: list[Slot]) -> str:
    if len(slots) == 1:
        c, k = slots[0]
        return c[k]
    return SEPARATOR.join(c[k] for c, k in slots)


def all_request_text(endpoint: str, body: Any) -> str:
    """All text of the request (whole history), for the offline token estimate."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    if endpoint == "chat":
        for m in _as_list(body.get("messages")):
            if isinstance(m, dict) and "content" in m:
                slots: list[Slot] = []
                _content_slots(m, "content", slots)
                parts.extend(c[k] for c, k in slots)
    elif endpoint == "responses":
        if isinstance(body.get("instructions"), str):
            parts.append(body["instructions"])
        inp = body.get("input")
        if isinstance(inp, str):
            parts.append(inp)
        for it in _as_list(inp):
            if isinstance(it, dict):
                if isinstance(it.get("output"), str):
                    parts.append(it["output"])
                elif "content" in it:
                    slots = []
                    _content_slots(it, "content", slots)
                    parts.extend(c[k] for c, k in slots)
    else:
        parts.extend(c[k] for c, k in prompt_slots(endpoint, body))
    return SEPARATOR.join(parts)


@dataclass(slots=True)
class RequestInfo:
    """What one request asks for."""

    endpoint: str
    operation: str
    model: str | None
    stream: bool
    include_usage: bool
    user: str | None
    conversation_id: str | None
    slots: list[Slot]
    input_text: str | None


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def read_prompt(req: RequestInfo, body: Any) -> None:
    """Fill ``req.slots`` and ``req.input_text`` from the request body."""
    req.slots = slots = prompt_slots(req.endpoint, body)
    req.input_text = join_slots(slots) if slots else None


def snapshot_body(body: Any) -> Any:
    """The request body as sent, for a prompt read later: a copy of its top level and of
    its top-level lists (``messages``, ``input``, ``prompt``), so an app that reuses and
    appends to them after the call does not change what is read. (openai's client
    already sends a body of its own making; this does not rely on it.)"""
    if not isinstance(body, dict):
        return body
    snap = dict(body)
    for k, v in body.items():
        if type(v) is list:
            snap[k] = v.copy()
    return snap


def parse_request(endpoint: str, operation: str, body: Any, stream: bool, prompt: bool = True) -> RequestInfo:
    """What the request asks for; without ``prompt``, the prompt (``slots``,
    ``input_text``) is left for :func:`read_prompt`."""
    if not isinstance(body, dict):
        return RequestInfo(endpoint, operation, None, stream, False, None, None, [], None)
    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    user = _str_or_none(body.get("safety_identifier")) or _str_or_none(body.get("user"))
    conv = body.get("conversation")
    conversation_id = _str_or_none(conv) or (_str_or_none(conv.get("id")) if isinstance(conv, dict) else None)
    slots = prompt_slots(endpoint, body) if prompt else []
    text = join_slots(slots) if slots else None
    return RequestInfo(
        endpoint=endpoint,
        operation=operation,
        model=_str_or_none(body.get("model")),
        stream=stream or bool(body.get("stream")),
        include_usage=include_usage,
        user=user,
        conversation_id=conversation_id,
        slots=slots,
        input_text=text,
    )


# --- Responses ---


@dataclass(slots=True)
class ResponseInfo:
    """What one response says."""

    output_text: str | None = None
    model: str | None = None
    id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    provider: ProviderVerdict | None = None


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def filtered_categories(results: Any) -> list[str]:
    """Categories an Azure content filter result marks ``filtered`` or ``detected``."""
    if not isinstance(results, dict):
        return []
    cats = []
    for name, res in results.items():
        if isinstance(res, dict) and (res.get("filtered") is True or res.get("detected") is True):
            cats.append(str(name))
    return cats


def _merge_provider(pv: ProviderVerdict | None, code: str, cats: Iterable[str]) -> ProviderVerdict:
    if pv is None:
        pv = ProviderVerdict(filter_code=code)
    for c in cats:
        if c not in pv.categories:
            pv.categories.append(c)
    return pv


def azure_annotations(prompt_filter: Any, choice_filters: Iterable[Any], finish_reasons: Iterable[str]) -> ProviderVerdict | None:
    """Provider verdict from Azure's ``prompt_filter_results`` / ``content_filter_results``."""
    pv: ProviderVerdict | None = None
    for entry in _as_list(prompt_filter):
        cats = filtered_categories(g(entry, "content_filter_results"))
        if cats:
            pv = _merge_provider(pv, "content_filter", cats)
    for res in choice_filters:
        cats = filtered_categories(res)
        if cats:
            pv = _merge_provider(pv, "content_filter", cats)
    if "content_filter" in finish_reasons:
        pv = _merge_provider(pv, "content_filter", ())
    return pv


def azure_refusal(body: Any) -> ProviderVerdict | None:
    """Provider verdict of an HTTP 400 content-filter refusal (``APIStatusError.body``)."""
    err = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    code = err.get("code")
    inner = err.get("innererror")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    if code != "content_filter" and inner_code != "ResponsibleAIPolicyViolation":
        return None
    cats = filtered_categories(inner.get("content_filter_result")) if isinstance(inner, dict) else []
    return ProviderVerdict(filter_code=str(inner_code or code), categories=cats, refused=True)


def _tool_arguments(tool_calls: Any, out: list[str]) -> None:
    for tc in _as_list(tool_calls):
        fn = g(tc, "function")
        args = g(fn, "arguments") if fn is not None else None
        if isinstance(args, str) and args:
            out.append(args)


def _openai_completion_types() -> tuple[type, type, type] | None:
    """openai's (ChatCompletion, Choice, ChatCompletionMessage) when they have the fields
    :func:`_read_openai_completion` reads as plain fields (the Azure ones as extras)."""
    try:
        from openai.types.chat.chat_completion import ChatCompletion, Choice
        from openai.types.chat.chat_completion_message import ChatCompletionMessage

        wanted = ((ChatCompletion, ("id", "model", "choices", "usage")),
                  (Choice, ("message", "finish_reason")),
                  (ChatCompletionMessage, ("content", "tool_calls")))
        ok = (
            all(set(names) <= set(cls.model_fields) for cls, names in wanted)
            and "prompt_filter_results" not in ChatCompletion.model_fields
            and "content_filter_results" not in Choice.model_fields
            and not any(name in vars(k) for cls, names in wanted for k in cls.__mro__ for name in names)
        )
    except Exception:
        return None
    return (ChatCompletion, Choice, ChatCompletionMessage) if ok else None


_COMPLETION_TYPES: Any = False  # (ChatCompletion, Choice, ChatCompletionMessage), None, or False: not looked up yet


def _read_openai_completion(obj: Any) -> ResponseInfo | None:
    """:func:`parse_chat_completion` for openai's own ChatCompletion object without tool
    calls or Azure annotations (direct field reads, no per-field lookup through g());
    None for any other shape, which the general reading handles."""
    global _COMPLETION_TYPES
    if _COMPLETION_TYPES is False:
        _COMPLETION_TYPES = _openai_completion_types()
    if _COMPLETION_TYPES is None or type(obj) is not _COMPLETION_TYPES[0]:
        return None
    _, choice_t, message_t = _COMPLETION_TYPES
    texts: list[str] = []
    finish_reasons: list[str] = []
    try:
        ex = obj.__pydantic_extra__
        if ex and (type(ex) is not dict or ex.get("prompt_filter_results") is not None):
            return None
        choices = obj.choices
        if type(choices) is not list:
            return None
        for ch in choices:
            if type(ch) is not choice_t:
                return None
            cex = ch.__pydantic_extra__
            if cex and (type(cex) is not dict or cex.get("content_filter_results") is not None):
                return None
            msg = ch.message
            if type(msg) is not message_t or msg.tool_calls:
                return None
            content = msg.content
            if isinstance(content, str):
                texts.append(content)
            fr = ch.finish_reason
            if isinstance(fr, str):
                finish_reasons.append(fr)
        model, rid, usage = obj.model, obj.id, obj.usage
    except AttributeError:
        return None
    info = ResponseInfo(model=_str_or_none(model), id=_str_or_none(rid), finish_reasons=finish_reasons)
    info.output_text = SEPARATOR.join(texts) if texts else None
    _usage(info, usage)
    if "content_filter" in finish_reasons:  # else azure_annotations says None
        info.provider = azure_annotations(None, (), finish_reasons)
    return info


def parse_chat_completion(obj: Any) -> ResponseInfo:
    fast = _read_openai_completion(obj)
    if fast is not None:
        return fast
    info = ResponseInfo(model=_str_or_none(g(obj, "model")), id=_str_or_none(g(obj, "id")))
    texts: list[str] = []
    tools: list[str] = []
    filters: list[Any] = []
    for ch in _as_list(g(obj, "choices")):
        msg = g(ch, "message")
        content = g(msg, "content") if msg is not None else None
        if isinstance(content, str):
            texts.append(content)
        if msg is not None:
            _tool_arguments(g(msg, "tool_calls"), tools)
        fr = g(ch, "finish_reason")
        if isinstance(fr, str):
            info.finish_reasons.append(fr)
        cf = g(ch, "content_filter_results")
        if cf is not None:
            filters.append(cf)
    info.output_text = SEPARATOR.join(texts + tools) if (texts or tools) else None
    _usage(info, g(obj, "usage"))
    info.provider = azure_annotations(g(obj, "prompt_filter_results"), filters, info.finish_reasons)
    return info


def parse_completion(obj: Any) -> ResponseInfo:
    info = ResponseInfo(model=_str_or_none(g(obj, "model")), id=_str_or_none(g(obj, "id")))
    texts = []
    for ch in _as_list(g(obj, "choices")):
        t = g(ch, "text")
        if isinstance(t, str):
            texts.append(t)
        fr = g(ch, "finish_reason")
        if isinstance(fr, str):
            info.finish_reasons.append(fr)
    info.output_text = SEPARATOR.join(texts) if texts else None
    _usage(info, g(obj, "usage"))
    return info


def _usage(info: ResponseInfo, usage: Any) -> None:
    if usage is None:
        return
    inp = _int_or_none(g(usage, "prompt_tokens"))
    if inp is None:
        inp = _int_or_none(g(usage, "input_tokens"))
    out = _int_or_none(g(usage, "completion_tokens"))
    if out is None:
        out = _int_or_none(g(usage, "output_tokens"))
    info.input_tokens, info.output_tokens = inp, out


def parse_response_object(obj: Any) -> ResponseInfo:
    info = ResponseInfo(model=_str_or_none(g(obj, "model")), id=_str_or_none(g(obj, "id")))
    texts: list[str] = []
    tools: list[str] = []
    for item in _as_list(g(obj, "output")):
        typ = g(item, "type")
        if typ == "message":
            for part in _as_list(g(item, "content")):
                ptype = g(part, "type")
                if ptype == "output_text":
                    t = g(part, "text")
                    if isinstance(t, str):
                        texts.append(t)
                elif ptype == "refusal":
                    t = g(part, "refusal")
                    if isinstance(t, str):
                        texts.append(t)
        elif typ == "function_call":
            args = g(item, "arguments")
            if isinstance(args, str) and args:
                tools.append(args)
    info.output_text = SEPARATOR.join(texts + tools) if (texts or tools) else None
    status = g(obj, "status")
    if isinstance(status, str):
        reason = status
        details = g(obj, "incomplete_details")
        r = g(details, "reason") if details is not None else None
        if isinstance(r, str):
            reason = r
        info.finish_reasons.append(reason)
    _usage(info, g(obj, "usage"))
    if "content_filter" in info.finish_reasons:
        info.provider = ProviderVerdict(filter_code="content_filter")
    return info


def parse_embeddings(obj: Any) -> ResponseInfo:
    info = ResponseInfo(model=_str_or_none(g(obj, "model")))
    _usage(info, g(obj, "usage"))
    if info.input_tokens is not None:
        info.output_tokens = None
    return info


def parse_response(endpoint: str, obj: Any) -> ResponseInfo:
    if endpoint == "chat":
        return parse_chat_completion(obj)
    if endpoint == "responses":
        return parse_response_object(obj)
    if endpoint == "embeddings":
        return parse_embeddings(obj)
    if endpoint == "completions":
        return parse_completion(obj)
    return ResponseInfo()


def parse_json_bytes(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


# --- Streams: all chunks are kept (one list append each) and read once at the end ---


def _openai_chunk_types() -> tuple[type, type, type] | None:
    """openai's (ChatCompletionChunk, Choice, ChoiceDelta) when they have the fields the
    fast path of :class:`ChatChunkReader` reads (and the Azure ones as extras), else None."""
    try:
        from openai.types.chat.chat_completion_chunk import ChatCompletionChunk, Choice, ChoiceDelta

        ok = (
            {"id", "model", "choices", "usage"} <= set(ChatCompletionChunk.model_fields)
            and "prompt_filter_results" not in ChatCompletionChunk.model_fields
            and {"index", "delta", "finish_reason"} <= set(Choice.model_fields)
            and "content_filter_results" not in Choice.model_fields
            and {"content", "tool_calls"} <= set(ChoiceDelta.model_fields)
            # no class attribute (property, descriptor) shadows the fields read
            and not any(name in vars(k) for cls, names in (
                (ChatCompletionChunk, ("id", "model", "choices", "usage")),
                (Choice, ("index", "delta", "finish_reason")),
                (ChoiceDelta, ("content", "tool_calls"))) for k in cls.__mro__ for name in names)
        )
    except Exception:
        return None
    return (ChatCompletionChunk, Choice, ChoiceDelta) if ok else None


_CHUNK_TYPES: Any = False  # (ChatCompletionChunk, Choice, ChoiceDelta), None, or False: not looked up yet


class ChatChunkReader:
    """Reads a Chat Completions stream chunk by chunk, keeping only what the record needs
    (text pieces per choice, tool-call argument pieces, finish reasons, filters, usage),
    so a stream does not hold every chunk object until it ends.

    :meth:`add` takes the chunks in order, :meth:`info` gives the same
    :class:`ResponseInfo` as :func:`parse_chat_chunks` over the same chunks. openai's
    own chunk objects with one choice and no tool call (nearly every chunk) take a fast
    path that reads their fields directly; anything else is read like a dict or model of
    any shape, as everywhere in this module.
    """

    __slots__ = ("_choice_t", "_chunk_t", "_delta_t", "_filters", "_idx", "_info", "_need_ids", "_pieces",
                 "_prompt_filter", "_texts", "_tools")

    def __init__(self) -> None:
        global _CHUNK_TYPES
        if _CHUNK_TYPES is False:
            _CHUNK_TYPES = _openai_chunk_types()
        self._chunk_t, self._choice_t, self._delta_t = _CHUNK_TYPES or (None, None, None)
        self._info = ResponseInfo()
        self._texts: dict[int, list[str]] = {}
        self._tools: dict[tuple[int, int], list[str]] = {}
        self._filters: list[Any] = []
        self._prompt_filter: list[Any] = []
        # The text pieces of the choice the last piece went to (the fast path's shortcut
        # into _texts), and whether model and id are still unknown.
        self._idx: int | None = None
        self._pieces: list[str] = []
        self._need_ids = True

    def add(self, chunk: Any) -> None:
        if type(chunk) is self._chunk_t:
            # Attribute reads of these classes are reads of the instance dict (checked by
            # _openai_chunk_types), i.e. what g() reads. The common chunk (one choice, no
            # tool call, no Azure annotation) is read with as few steps as possible: this
            # runs once per chunk, between two chunks of the client's own work, with cold
            # CPU caches.
            try:
                choices = chunk.choices
                if type(choices) is list and len(choices) == 1:
                    ch = choices[0]
                    if type(ch) is self._choice_t:
                        delta = ch.delta
                        idx = ch.index
                        if type(delta) is self._delta_t and type(idx) is int and not delta.tool_calls:
                            ex = chunk.__pydantic_extra__
                            cex = ch.__pydantic_extra__
                            if (not ex or (type(ex) is dict and ex.get("prompt_filter_results") is None)) and (
                                    not cex or (type(cex) is dict and cex.get("content_filter_results") is None)):
                                content = delta.content
                                fr = ch.finish_reason
                                usage = chunk.usage
                                if self._need_ids:  # read before anything is updated
                                    self._ids(chunk.model, chunk.id)
                                if content and isinstance(content, str):
                                    if idx == self._idx:
                                        self._pieces.append(content)
                                    else:
                                        self._text_piece(idx, content)
                                if fr is not None:
                                    self._finish(fr)
                                if usage is not None:
                                    _usage(self._info, usage)
                                return
            except AttributeError:
                pass
        self._add_any(chunk)

    def _text_piece(self, idx: int, content: str) -> None:
        pieces = self._texts.get(idx)
        if pieces is None:
            pieces = self._texts[idx] = []
        pieces.append(content)
        self._idx, self._pieces = idx, pieces

    def _finish(self, fr: Any) -> None:
        if isinstance(fr, str):
            self._info.finish_reasons.append(fr)

    def _ids(self, model: Any, rid: Any) -> None:
        info = self._info
        if info.model is None:
            info.model = _str_or_none(model)
        if info.id is None:
            info.id = _str_or_none(rid)
        self._need_ids = info.model is None or info.id is None

    def _add_any(self, chunk: Any) -> None:
        info = self._info
        if info.model is None:
            info.model = _str_or_none(g(chunk, "model"))
        if info.id is None:
            info.id = _str_or_none(g(chunk, "id"))
        pf = g(chunk, "prompt_filter_results")
        if pf is not None:
            self._prompt_filter.extend(_as_list(pf))
        texts, tools = self._texts, self._tools
        for ch in _as_list(g(chunk, "choices")):
            idx = g(ch, "index")
            idx = idx if isinstance(idx, int) else 0
            delta = g(ch, "delta")
            if delta is not None:
                c = g(delta, "content")
                if isinstance(c, str) and c:
                    texts.setdefault(idx, []).append(c)
                for tc in _as_list(g(delta, "tool_calls")):
                    tidx = g(tc, "index")
                    fn = g(tc, "function")
                    args = g(fn, "arguments") if fn is not None else None
                    if isinstance(args, str) and args:
                        tools.setdefault((idx, tidx if isinstance(tidx, int) else 0), []).append(args)
            fr = g(ch, "finish_reason")
            if isinstance(fr, str):
                info.finish_reasons.append(fr)
            cf = g(ch, "content_filter_results")
            if cf is not None:
                self._filters.append(cf)
        _usage_if_present(info, g(chunk, "usage"))

    def info(self) -> ResponseInfo:
        """What the chunks added so far say (call once, when the stream is done)."""
        info = self._info
        texts, tools = self._texts, self._tools
        parts = ["".join(texts[k]) for k in sorted(texts)] + ["".join(tools[k]) for k in sorted(tools)]
        info.output_text = SEPARATOR.join(parts) if parts else None
        info.provider = azure_annotations(self._prompt_filter, self._filters, info.finish_reasons)
        return info


def parse_chat_chunks(chunks: Iterable[Any]) -> ResponseInfo:
    reader = ChatChunkReader()
    add = reader.add
    for chunk in chunks:
        add(chunk)
    return reader.info()


def _usage_if_present(info: ResponseInfo, usage: Any) -> None:
    if usage is not None:
        _usage(info, usage)


def parse_completion_chunks(chunks: Iterable[Any]) -> ResponseInfo:
    info = ResponseInfo()
    texts: list[str] = []
    for chunk in chunks:
        if info.model is None:
            info.model = _str_or_none(g(chunk, "model"))
            info.id = _str_or_none(g(chunk, "id"))
        for ch in _as_list(g(chunk, "choices")):
            t = g(ch, "text")
            if isinstance(t, str):
                texts.append(t)
            fr = g(ch, "finish_reason")
            if isinstance(fr, str):
                info.finish_reasons.append(fr)
        _usage_if_present(info, g(chunk, "usage"))
    info.output_text = "".join(texts) if texts else None
    return info


_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def parse_response_events(events: Iterable[Any]) -> ResponseInfo:
    deltas: list[str] = []
    final: Any = None
    model = rid = None
    for ev in events:
        typ = g(ev, "type")
        if typ == "response.output_text.delta":
            d = g(ev, "delta")
            if isinstance(d, str):
                deltas.append(d)
        elif _one_of(typ, _FINAL_RESPONSE_EVENTS):
            final = g(ev, "response")
        elif typ == "response.created":
            resp = g(ev, "response")
            model = _str_or_none(g(resp, "model"))
            rid = _str_or_none(g(resp, "id"))
    if final is not None:
        info = parse_response_object(final)
        if info.output_text is None and deltas:
            info.output_text = "".join(deltas)
        return info
    return ResponseInfo(output_text="".join(deltas) if deltas else None, model=model, id=rid)


def parse_stream(endpoint: str, chunks: list[Any]) -> ResponseInfo:
    if endpoint == "chat":
        return parse_chat_chunks(chunks)
    if endpoint == "responses":
        return parse_response_events(chunks)
    if endpoint == "completions":
        return parse_completion_chunks(chunks)
    return ResponseInfo()
