"""Turn one call's verdicts and usage into telemetry: span attributes, finding events,
metrics and the security log record.

Raw prompt and output text never leave this module unless the operator opted in to
content capture: attributes carry HMAC hashes and lengths, events carry scanner names,
scores and reasons (which scanners write without matched text), metrics carry
low-cardinality labels, the log record carries hashes, lengths and the block reason.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord, NoOpLogger, SeverityNumber, get_logger
from opentelemetry.metrics import get_meter
from opentelemetry.trace import Span

from otel_llm_security import __version__
from otel_llm_security import attributes as a
from otel_llm_security.attributes import ACTION_SEVERITY, Action, Mode, Threat
from otel_llm_security.guard.scanner import ScanResult
from otel_llm_security.guard.verdict import ProviderVerdict, Verdict
from otel_llm_security.record.hashing import Hasher
from otel_llm_security.record.metrics import call_counts
from otel_llm_security.record.settings import RecordSettings

try:  # the API's stand-in logger until a LoggerProvider is set (private module)
    from opentelemetry._logs._internal import ProxyLogger

    _PROXY_LOGGER: tuple[type, ...] = (ProxyLogger,)
except ImportError:  # pragma: no cover - another API layout: always build the record
    _PROXY_LOGGER = ()

logger = logging.getLogger("otel_llm_security")

SCOPE_NAME = "otel_llm_security"
GUARDRAIL_PROVIDER = "otel-llm-security"
PROVIDER_FILTER_GUARDRAIL = "provider_content_filter"

_LOG_RECORD_PARAMS = inspect.signature(LogRecord.__init__).parameters
_LOG_RECORD_HAS_CONTEXT = "context" in _LOG_RECORD_PARAMS
_LOG_RECORD_HAS_EVENT_NAME = "event_name" in _LOG_RECORD_PARAMS

_TARGET = {"input": "llm_input", "output": "llm_output"}
# Distinct metric attribute sets kept (operation x system x model x mode x action x
# estimated): far above any real app's count; past it the sets are built per call.
_METRIC_SETS_MAX = 1024

# Span classes whose add_event raises NotImplementedError (the classic elastic-apm agent's
# OpenTelemetry bridge): the flat summary is still recorded on them, the finding events
# are skipped without trying again, and that is said once per process, not per call.
_NO_EVENT_SPAN_TYPES: set[type] = set()
_no_events_lock = threading.Lock()
_no_events_logged = False


def _span_takes_no_events(span: Span) -> None:
    global _no_events_logged
    cls = type(span)
    with _no_events_lock:
        _NO_EVENT_SPAN_TYPES.add(cls)
        if _no_events_logged:
            return
        _no_events_logged = True
    logger.info(
        "otel-llm-security: spans of %s.%s do not support events (add_event raises NotImplementedError); "
        "the security summary is recorded as span attributes, the per-finding %s events are skipped",
        cls.__module__, cls.__qualname__, a.EVENT_SECURITY_FINDING,
    )
_score_attr_cache: dict[tuple[str, str], str | None] = {}


def score_attribute(direction: str, scanner: str) -> str | None:
    """Cached :func:`attributes.scanner_score_attribute`; None for names it rejects."""
    key = (direction, scanner)
    try:
        return _score_attr_cache[key]
    except KeyError:
        pass
    try:
        name: str | None = a.scanner_score_attribute(direction, scanner)  # type: ignore[arg-type]
    except ValueError:
        name = None
    if len(_score_attr_cache) < 10_000:
        _score_attr_cache[key] = name
    return name


@dataclass(slots=True)
class CallData:
    """Everything recorded about one LLM call. Filled by capture, read by :class:`Recorder`."""

    operation: str
    system: str
    mode: Mode
    request_model: str | None = None
    input_text: str | None = None
    output_text: str | None = None
    input_verdict: Verdict | None = None
    output_verdict: Verdict | None = None
    provider: ProviderVerdict | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    user_id: str | None = None
    session_id: str | None = None
    conversation_id: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    # Directions ("input" / "output") in which the guard itself raised instead of answering.
    guard_errors: list[str] = field(default_factory=list)
    redacted: bool = False
    policy_id: str | None = None
    # Filled by Recorder.record, so each text is hashed once for span and log.
    input_hash: str | None = None
    output_hash: str | None = None
    user_hash: str | None = None

    def verdicts(self) -> list[Verdict]:
        return [v for v in (self.input_verdict, self.output_verdict) if v is not None]


@dataclass(frozen=True, slots=True)
class _MetricSets:
    """One combination's metric attribute sets."""

    base: dict[str, Any]  # operation, system, model
    requests: dict[str, Any]
    tokens_in: dict[str, Any]
    tokens_out: dict[str, Any]


@dataclass(slots=True)
class Summary:
    """The flat security summary derived from a :class:`CallData`."""

    action: Action
    blocked: bool
    block_reason: str
    threats: list[str]
    risk_score: float
    scan_ms: float
    block_source: str | None
    # (threat, direction) pairs for the per-threat counter; direction: input | output | provider
    found: list[tuple[str, str]]


_ALLOW = Action.ALLOW
_SCANNER_ERROR = Threat.SCANNER_ERROR.value
_PROVIDER_FILTER = Threat.PROVIDER_FILTER.value


def summarize(data: CallData) -> Summary:
    action = _ALLOW
    blocked = False
    reasons: list[str] = []
    found: set[tuple[str, str]] = set()
    risk = 0.0
    scan_ms = 0.0
    for direction, v in (("input", data.input_verdict), ("output", data.output_verdict)):
        if v is None:
            continue
        if v.action is not _ALLOW and ACTION_SEVERITY[v.action] > ACTION_SEVERITY[action]:
            action = v.action
        blocked = blocked or v.blocked
        if v.block_reason:
            reasons.append(v.block_reason)
        if v.results:  # a verdict without results has no threats, no errors and risk 0.0
            found.update((t, direction) for t in v.threats)
            if v.scanner_errors:
                found.add((_SCANNER_ERROR, direction))
            risk = max(risk, v.risk_score)
        scan_ms += v.duration_ms
    if data.guard_errors:
        found.update((_SCANNER_ERROR, d) for d in data.guard_errors)
    block_source = "guard" if blocked else None
    pv = data.provider
    if pv is not None:
        found.add((_PROVIDER_FILTER, "provider"))
        if pv.refused:
            blocked = True
            action = Action.BLOCK
            block_source = block_source or "provider"
            cats = f" ({', '.join(pv.categories)})" if pv.categories else ""
            reasons.append(f"provider content filter: {pv.filter_code}{cats}")
    if not found:
        return Summary(action, blocked, "; ".join(reasons), [], risk, scan_ms, block_source, [])
    return Summary(
        action=action,
        blocked=blocked,
        block_reason="; ".join(reasons),
        threats=sorted({t for t, _ in found}),
        risk_score=risk,
        scan_ms=scan_ms,
        block_source=block_source,
        found=sorted(found),
    )


def _verdict_type(v: Verdict, mode: Mode) -> str:
    if v.blocked:
        return "deny"
    if v.sanitized_text is not None and mode is Mode.ENFORCE:
        return "modify"
    return "warn"


def _action_value(action: Any) -> str:
    return action.value if isinstance(action, Action) else str(action)


class Recorder:
    """Writes the record; built once per instrumentation, shared by all calls."""

    def __init__(
        self,
        settings: RecordSettings,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
    ) -> None:
        self.settings = settings
        self.hasher = Hasher(settings.hash_key)
        self.tracer = trace.get_tracer(SCOPE_NAME, __version__, tracer_provider)
        meter = get_meter(SCOPE_NAME, __version__, meter_provider)
        # Requests, blocks, threats and tokens are summed in process (record.metrics);
        # only the scan duration is a synchronous instrument.
        self.counts = call_counts(meter_provider, meter)
        self.scan_duration = meter.create_histogram(
            a.METRIC_SCAN_DURATION, unit="ms", description="Time spent in guardrail scanners per LLM call."
        )
        self.log = get_logger(SCOPE_NAME, __version__, logger_provider)
        self._metric_sets: dict[tuple[Any, ...], _MetricSets] = {}

    # --- span ---------------------------------------------------------------

    def hash(self, text: str) -> str:
        return self.hasher.hexdigest(text)

    def attributes(self, data: CallData, summary: Summary, own_span: bool) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            a.LLM_SECURITY_MODE: data.mode._value_,
            a.LLM_SECURITY_ACTION: summary.action._value_,
            a.LLM_SECURITY_BLOCKED: summary.blocked,
            a.LLM_SECURITY_RISK_SCORE: float(summary.risk_score),
            a.LLM_SECURITY_SCAN_DURATION_MS: float(summary.scan_ms),
        }
        if summary.block_reason:
            attrs[a.LLM_SECURITY_BLOCK_REASON] = summary.block_reason
        if summary.threats:
            attrs[a.LLM_SECURITY_THREATS] = summary.threats
        errors: set[str] | None = {"guard"} if data.guard_errors else None
        for v in (data.input_verdict, data.output_verdict):
            if v is None or not v.results:
                continue
            for r in v.results:
                name = score_attribute(r.direction, r.scanner)
                if name is not None:
                    attrs[name] = float(r.score)
            scanner_errors = v.scanner_errors
            if scanner_errors:
                errors = errors or set()
                errors.update(scanner_errors)
        if errors:
            attrs[a.LLM_SECURITY_SCANNER_ERRORS] = sorted(errors)
        if data.redacted:
            attrs[a.LLM_SECURITY_REDACTED] = True
        settings = self.settings
        if data.input_text is not None:
            attrs[a.LLM_SECURITY_INPUT_HASH] = data.input_hash
            attrs[a.LLM_SECURITY_INPUT_LENGTH] = len(data.input_text)
            if settings.capture_content:
                attrs[a.LLM_SECURITY_INPUT_CONTENT] = data.input_text[: settings.content_max_length]
        if data.output_text is not None:
            attrs[a.LLM_SECURITY_OUTPUT_HASH] = data.output_hash
            attrs[a.LLM_SECURITY_OUTPUT_LENGTH] = len(data.output_text)
            if settings.capture_content:
                attrs[a.LLM_SECURITY_OUTPUT_CONTENT] = data.output_text[: settings.content_max_length]
        if data.user_hash:
            attrs[a.ENDUSER_PSEUDO_ID] = data.user_hash
        if data.session_id:
            attrs[a.SESSION_ID] = data.session_id
        conversation = data.conversation_id or data.session_id
        if conversation:
            attrs[a.GEN_AI_CONVERSATION_ID] = conversation
        if data.input_tokens is not None:
            attrs[a.GEN_AI_USAGE_INPUT_TOKENS] = data.input_tokens
        if data.output_tokens is not None:
            attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] = data.output_tokens
        if data.input_tokens is not None or data.output_tokens is not None:
            attrs[a.LLM_SECURITY_TOKENS_ESTIMATED] = data.tokens_estimated
        pv = data.provider
        if pv is not None:
            attrs[a.LLM_SECURITY_PROVIDER_FILTER_CODE] = pv.filter_code
            if pv.categories:
                attrs[a.LLM_SECURITY_PROVIDER_FILTERED_CATEGORIES] = list(pv.categories)
        if own_span:
            if data.response_model:
                attrs[a.GEN_AI_RESPONSE_MODEL] = data.response_model
            if data.response_id:
                attrs[a.GEN_AI_RESPONSE_ID] = data.response_id
            if data.finish_reasons:
                attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] = list(data.finish_reasons)
        return attrs

    def _finding_events(self, span: Span, data: CallData) -> None:
        if type(span) in _NO_EVENT_SPAN_TYPES:
            return
        try:
            self._add_finding_events(span, data)
        except NotImplementedError:
            _span_takes_no_events(span)

    def _add_finding_events(self, span: Span, data: CallData) -> None:
        policy_id = data.policy_id
        for v in (data.input_verdict, data.output_verdict):
            if v is None or not v.results:
                continue
            vtype = _verdict_type(v, data.mode)
            for r in v.triggered:
                span.add_event(a.EVENT_SECURITY_FINDING, self._finding(r, v, vtype, policy_id))
        pv = data.provider
        if pv is not None:
            ev: dict[str, Any] = {
                a.SECURITY_GUARDRAIL_NAME: PROVIDER_FILTER_GUARDRAIL,
                a.SECURITY_GUARDRAIL_PROVIDER: data.system,
                a.SECURITY_TARGET_TYPE: "llm_input" if pv.refused else "llm_output",
                a.SECURITY_VERDICT_TYPE: "deny" if pv.refused or "content_filter" in data.finish_reasons else "warn",
                a.SECURITY_VERDICT_CODE: pv.filter_code,
                a.SECURITY_ACTION_TYPE: "block" if pv.refused else "warn",
            }
            if pv.categories:
                ev[a.SECURITY_RISK_CATEGORY] = list(pv.categories)
            span.add_event(a.EVENT_SECURITY_FINDING, ev)

    @staticmethod
    def _finding(r: ScanResult, v: Verdict, vtype: str, policy_id: str | None) -> dict[str, Any]:
        ev: dict[str, Any] = {
            a.SECURITY_GUARDRAIL_NAME: r.scanner,
            a.SECURITY_GUARDRAIL_PROVIDER: GUARDRAIL_PROVIDER,
            a.SECURITY_TARGET_TYPE: _TARGET.get(r.direction, "llm_input"),
            a.SECURITY_VERDICT_TYPE: vtype,
            # The action this scanner's policy took (engine results carry it), else the verdict's.
            a.SECURITY_ACTION_TYPE: _action_value(getattr(r, "action", None) or v.action),
            a.SECURITY_RISK_SCORE: float(r.score),
        }
        if r.reason:
            ev[a.SECURITY_VERDICT_REASON] = r.reason
        if r.threats:
            ev[a.SECURITY_RISK_CATEGORY] = list(r.threats)
        if r.error:
            ev[a.SECURITY_VERDICT_CODE] = f"error:{r.error}"
        if policy_id:
            ev[a.SECURITY_POLICY_ID] = policy_id
        return ev

    # --- everything ---------------------------------------------------------

    def record(self, span: Span, data: CallData, own_span: bool) -> Summary:
        """Write the record of one finished call. Never raises."""
        summary = summarize(data)
        hexdigest = self.hasher.hexdigest
        if data.input_text is not None and data.input_hash is None:
            data.input_hash = hexdigest(data.input_text)
        if data.output_text is not None and data.output_hash is None:
            data.output_hash = hexdigest(data.output_text)
        if data.user_id and data.user_hash is None:
            data.user_hash = hexdigest(data.user_id)
        try:
            if span.is_recording():
                span.set_attributes(self.attributes(data, summary, own_span))
                iv, ov = data.input_verdict, data.output_verdict
                if (iv is not None and iv.results) or (ov is not None and ov.results) or data.provider is not None:
                    self._finding_events(span, data)  # else there is no finding to add
        except Exception:
            logger.exception("otel-llm-security: recording span attributes failed")
        try:
            self._metrics(data, summary)
        except Exception:
            logger.exception("otel-llm-security: recording metrics failed")
        if summary.blocked or summary.threats:
            try:
                if not self._log_is_noop():
                    self._security_log(span, data, summary)
            except Exception:
                logger.exception("otel-llm-security: emitting the security log record failed")
        return summary

    def _metric_attributes(self, data: CallData, summary: Summary) -> _MetricSets:
        """The attribute sets of one call's metric points, built once per distinct
        combination (operation, system, model, mode, action, estimated) and reused: the
        SDK and CallCounts keep what they are given, and nothing here mutates them."""
        key = (data.operation, data.system, data.request_model, data.mode, summary.action, data.tokens_estimated)
        sets = self._metric_sets.get(key)
        if sets is None:
            base = {
                a.GEN_AI_OPERATION_NAME: data.operation,
                a.GEN_AI_SYSTEM: data.system,
                a.GEN_AI_REQUEST_MODEL: data.request_model or "unknown",
            }
            est = data.tokens_estimated
            sets = _MetricSets(
                base=base,
                requests={**base, a.LLM_SECURITY_MODE: data.mode.value, a.LLM_SECURITY_ACTION: summary.action.value},
                tokens_in={**base, a.SIGNAL_TOKEN_TYPE: "input", a.LLM_SECURITY_TOKENS_ESTIMATED: est},
                tokens_out={**base, a.SIGNAL_TOKEN_TYPE: "output", a.LLM_SECURITY_TOKENS_ESTIMATED: est},
            )
            if len(self._metric_sets) < _METRIC_SETS_MAX:
                self._metric_sets[key] = sets
        return sets

    def _metrics(self, data: CallData, summary: Summary) -> None:
        sets = self._metric_attributes(data, summary)
        add = self.counts.add
        add(a.METRIC_REQUESTS, sets.requests, 1)
        if summary.blocked:
            add(a.METRIC_BLOCKS, {**sets.base, a.SIGNAL_BLOCK_SOURCE: summary.block_source or "guard"}, 1)
        for threat, direction in summary.found:
            add(a.METRIC_THREAT_DETECTIONS, {**sets.base, a.SIGNAL_THREAT: threat, a.SIGNAL_DIRECTION: direction}, 1)
        if data.input_tokens is not None:
            add(a.METRIC_TOKEN_USAGE, sets.tokens_in, data.input_tokens)
        if data.output_tokens is not None:
            add(a.METRIC_TOKEN_USAGE, sets.tokens_out, data.output_tokens)
        if data.input_verdict is not None or data.output_verdict is not None:
            self.scan_duration.record(summary.scan_ms, sets.base)

    def _log_is_noop(self) -> bool:
        """True while no LoggerProvider is configured: the record would go nowhere, so it
        is not built. Re-checked per call (a provider may be set after instrument())."""
        log = self.log
        if _PROXY_LOGGER and isinstance(log, _PROXY_LOGGER):
            try:
                log = log._logger  # type: ignore[attr-defined]
            except Exception:
                return False
        return isinstance(log, NoOpLogger)

    def _security_log(self, span: Span, data: CallData, summary: Summary) -> None:
        event = a.LOG_EVENT_BLOCK if summary.blocked else a.LOG_EVENT_GUARDRAIL
        attrs: dict[str, Any] = {
            a.SIGNAL_EVENT_TYPE: "block" if summary.blocked else "guardrail",
            a.LLM_SECURITY_MODE: data.mode.value,
            a.LLM_SECURITY_ACTION: summary.action.value,
            a.LLM_SECURITY_BLOCKED: summary.blocked,
            a.LLM_SECURITY_THREATS: summary.threats,
            a.LLM_SECURITY_RISK_SCORE: float(summary.risk_score),
            a.GEN_AI_OPERATION_NAME: data.operation,
            a.GEN_AI_SYSTEM: data.system,
        }
        if summary.block_reason:
            attrs[a.LLM_SECURITY_BLOCK_REASON] = summary.block_reason
        if summary.block_source:
            attrs[a.SIGNAL_BLOCK_SOURCE] = summary.block_source
        if data.request_model:
            attrs[a.GEN_AI_REQUEST_MODEL] = data.request_model
        if data.input_text is not None:
            attrs[a.LLM_SECURITY_INPUT_HASH] = data.input_hash
            attrs[a.LLM_SECURITY_INPUT_LENGTH] = len(data.input_text)
        if data.output_text is not None:
            attrs[a.LLM_SECURITY_OUTPUT_HASH] = data.output_hash
            attrs[a.LLM_SECURITY_OUTPUT_LENGTH] = len(data.output_text)
        if data.user_hash:
            attrs[a.ENDUSER_PSEUDO_ID] = data.user_hash
        if data.session_id:
            attrs[a.SESSION_ID] = data.session_id
        if data.provider is not None:
            attrs[a.LLM_SECURITY_PROVIDER_FILTER_CODE] = data.provider.filter_code
        severity = SeverityNumber.WARN if summary.blocked else SeverityNumber.INFO
        body = f"{event}: {summary.block_reason}" if summary.block_reason else f"{event}: {', '.join(summary.threats)}"
        kwargs: dict[str, Any] = {
            "timestamp": time.time_ns(),
            "severity_number": severity,
            "severity_text": severity.name,
            "body": body,
            "attributes": attrs,
        }
        if _LOG_RECORD_HAS_CONTEXT:
            kwargs["context"] = trace.set_span_in_context(span)
        else:  # opentelemetry-api before 1.35: correlation by explicit ids
            sc = span.get_span_context()
            kwargs.update(trace_id=sc.trace_id, span_id=sc.span_id, trace_flags=sc.trace_flags)
        if _LOG_RECORD_HAS_EVENT_NAME:
            kwargs["event_name"] = event
        self.log.emit(LogRecord(**kwargs))
