"""The attribute contract: every name this package writes on telemetry.

This module is the single source of truth. The span recorder writes these names, the
APM document mapper derives the Elasticsearch field names from them, the detection
rules and Kibana views read those fields, and ``docs/attributes.md`` is checked
against :data:`CONTRACT` by the test suite. Rename nothing here without a migration
note: rules and dashboards in the field depend on these exact strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

# --- GenAI semantic conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/) ---
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated in semconv, but APM Server derives span.type/subtype from it
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# --- End-user and session (OTel general attributes) ---
ENDUSER_PSEUDO_ID = "enduser.pseudo.id"  # HMAC of the end-user id, never the raw id
SESSION_ID = "session.id"

# --- The flat security summary on the LLM span ---
LLM_SECURITY_MODE = "llm.security.mode"
LLM_SECURITY_ACTION = "llm.security.action"
LLM_SECURITY_BLOCKED = "llm.security.blocked"
LLM_SECURITY_BLOCK_REASON = "llm.security.block_reason"
LLM_SECURITY_THREATS = "llm.security.threats"
LLM_SECURITY_RISK_SCORE = "llm.security.risk_score"
LLM_SECURITY_INPUT_HASH = "llm.security.input.hash"
LLM_SECURITY_OUTPUT_HASH = "llm.security.output.hash"
LLM_SECURITY_INPUT_LENGTH = "llm.security.input.length"
LLM_SECURITY_OUTPUT_LENGTH = "llm.security.output.length"
LLM_SECURITY_TOKENS_ESTIMATED = "llm.security.tokens.estimated"
LLM_SECURITY_PROVIDER_FILTER_CODE = "llm.security.provider.filter_code"
LLM_SECURITY_PROVIDER_FILTERED_CATEGORIES = "llm.security.provider.filtered_categories"
LLM_SECURITY_SCAN_DURATION_MS = "llm.security.scan.duration_ms"
LLM_SECURITY_SCANNER_ERRORS = "llm.security.scanner_errors"
LLM_SECURITY_REDACTED = "llm.security.redacted"
# Raw content, only when the operator opts in (OTEL_LLM_SECURITY_CAPTURE_CONTENT=true), truncated.
LLM_SECURITY_INPUT_CONTENT = "llm.security.input.content"
LLM_SECURITY_OUTPUT_CONTENT = "llm.security.output.content"

Direction = Literal["input", "output"]


def scanner_score_attribute(direction: Direction, scanner: str) -> str:
    """``llm.security.<direction>.<scanner>.score``: one double per scanner and direction."""
    if direction not in ("input", "output"):
        raise ValueError(f"direction must be 'input' or 'output', not {direction!r}")
    if not scanner or not all(c.isalnum() or c == "_" for c in scanner):
        raise ValueError(f"scanner names are [A-Za-z0-9_]+, got {scanner!r}")
    return f"llm.security.{direction}.{scanner}.score"


# --- Per-finding span event, after the draft GenAI security conventions
# (open-telemetry/semantic-conventions-genai PR #427). Track the draft; the flat
# summary above is our stable contract.
EVENT_SECURITY_FINDING = "gen_ai.security.finding"
SECURITY_GUARDRAIL_NAME = "gen_ai.security.guardrail.name"
SECURITY_GUARDRAIL_PROVIDER = "gen_ai.security.guardrail.provider.name"
SECURITY_TARGET_TYPE = "gen_ai.security.target.type"  # llm_input | llm_output
SECURITY_VERDICT_TYPE = "gen_ai.security.verdict.type"  # allow | warn | modify | deny
SECURITY_VERDICT_REASON = "gen_ai.security.verdict.reason"
SECURITY_VERDICT_CODE = "gen_ai.security.verdict.code"
SECURITY_ACTION_TYPE = "gen_ai.security.action.type"  # allow | warn | redact | block
SECURITY_RISK_SCORE = "gen_ai.security.risk.score"
SECURITY_RISK_CATEGORY = "gen_ai.security.risk.category"
SECURITY_POLICY_ID = "gen_ai.security.policy.id"


class Threat(str, Enum):
    """Vocabulary of ``llm.security.threats``. Rules match these exact strings."""

    PROMPT_INJECTION = "prompt_injection"
    JAILBREAK = "jailbreak"
    SYSTEM_PROMPT_LEAK = "system_prompt_leak"
    SECRET = "secret"
    PII = "pii"
    INSECURE_OUTPUT = "insecure_output"
    INVISIBLE_TEXT = "invisible_text"
    DENIAL_OF_SERVICE = "denial_of_service"
    REFUSAL = "refusal"
    PROVIDER_FILTER = "provider_filter"
    DATA_EXFILTRATION = "data_exfiltration"
    SCANNER_ERROR = "scanner_error"


THREAT_DESCRIPTIONS: dict[Threat, str] = {
    Threat.PROMPT_INJECTION: "Instructions in the prompt that try to override the application's instructions.",
    Threat.JAILBREAK: "Role play, personas or framing meant to lift the model's safety behaviour.",
    Threat.SYSTEM_PROMPT_LEAK: "A prompt fishing for the system prompt, training data or hidden instructions.",
    Threat.SECRET: "Credentials, keys, tokens or connection strings in prompt or output.",
    Threat.PII: "Personal data: e-mail, phone, card (Luhn-valid), IBAN, national ids.",
    Threat.INSECURE_OUTPUT: "Output that is dangerous to render or execute: script, event handlers, javascript: URLs, SQL/shell payloads.",
    Threat.INVISIBLE_TEXT: "Zero-width, tag, bidi or control characters, or homoglyph-mixed words hiding content.",
    Threat.DENIAL_OF_SERVICE: "Oversized, token-heavy or repetitive prompts (model denial of service).",
    Threat.REFUSAL: "The model refused to answer (a signal of probing when repeated).",
    Threat.PROVIDER_FILTER: "The provider's content filter refused or filtered the call (e.g. Azure ResponsibleAIPolicyViolation).",
    Threat.DATA_EXFILTRATION: "Output that would leak data when rendered, e.g. markdown images with data in the URL.",
    Threat.SCANNER_ERROR: "A scanner failed or overran its time budget; the call was handled per fail-open/closed.",
}


class Action(str, Enum):
    """``llm.security.action``: what the guard did, in increasing severity."""

    ALLOW = "allow"
    WARN = "warn"
    REDACT = "redact"
    BLOCK = "block"


ACTION_SEVERITY: dict[Action, int] = {Action.ALLOW: 0, Action.WARN: 1, Action.REDACT: 2, Action.BLOCK: 3}


class Mode(str, Enum):
    """``llm.security.mode``: ``monitor`` records only; ``enforce`` redacts and blocks."""

    MONITOR = "monitor"
    ENFORCE = "enforce"


AttributeType = Literal["string", "boolean", "int", "double", "string[]"]


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of the contract: its OTel name, value type and meaning."""

    name: str
    type: AttributeType
    description: str
    # True for names that contain a per-scanner placeholder, e.g. llm.security.input.<scanner>.score
    pattern: bool = False


CONTRACT: tuple[AttributeSpec, ...] = (
    AttributeSpec(GEN_AI_OPERATION_NAME, "string", "GenAI operation: chat, text_completion, embeddings, ..."),
    AttributeSpec(GEN_AI_SYSTEM, "string", "Provider (openai, azure.ai.openai). APM Server turns it into span.subtype."),
    AttributeSpec(GEN_AI_PROVIDER_NAME, "string", "Provider, current semconv name."),
    AttributeSpec(GEN_AI_REQUEST_MODEL, "string", "Model requested."),
    AttributeSpec(GEN_AI_RESPONSE_MODEL, "string", "Model that answered."),
    AttributeSpec(GEN_AI_RESPONSE_FINISH_REASONS, "string[]", "Finish reason per choice."),
    AttributeSpec(GEN_AI_USAGE_INPUT_TOKENS, "int", "Input tokens (reported, or estimated: see llm.security.tokens.estimated)."),
    AttributeSpec(GEN_AI_USAGE_OUTPUT_TOKENS, "int", "Output tokens (reported, or estimated)."),
    AttributeSpec(GEN_AI_CONVERSATION_ID, "string", "Conversation / session id, when known."),
    AttributeSpec(SESSION_ID, "string", "Session id, when known (same value as gen_ai.conversation.id)."),
    AttributeSpec(ENDUSER_PSEUDO_ID, "string", "HMAC-SHA256 (hex) of the end-user id."),
    AttributeSpec(LLM_SECURITY_MODE, "string", "monitor | enforce."),
    AttributeSpec(LLM_SECURITY_ACTION, "string", "allow | warn | redact | block: the strongest action taken."),
    AttributeSpec(LLM_SECURITY_BLOCKED, "boolean", "True when the call was blocked (enforce mode, or a provider refusal)."),
    AttributeSpec(LLM_SECURITY_BLOCK_REASON, "string", "Why it was blocked: scanner and threat, or the provider's filter code."),
    AttributeSpec(LLM_SECURITY_THREATS, "string[]", "Threat categories found (vocabulary: Threat)."),
    AttributeSpec(LLM_SECURITY_RISK_SCORE, "double", "Highest score of all scanners, 0..1."),
    AttributeSpec("llm.security.input.<scanner>.score", "double", "Score of one input scanner, 0..1.", pattern=True),
    AttributeSpec("llm.security.output.<scanner>.score", "double", "Score of one output scanner, 0..1.", pattern=True),
    AttributeSpec(LLM_SECURITY_INPUT_HASH, "string", "HMAC-SHA256 (hex) of the prompt text."),
    AttributeSpec(LLM_SECURITY_OUTPUT_HASH, "string", "HMAC-SHA256 (hex) of the output text."),
    AttributeSpec(LLM_SECURITY_INPUT_LENGTH, "int", "Prompt length in characters."),
    AttributeSpec(LLM_SECURITY_OUTPUT_LENGTH, "int", "Output length in characters."),
    AttributeSpec(LLM_SECURITY_TOKENS_ESTIMATED, "boolean", "True when token counts are an offline estimate."),
    AttributeSpec(LLM_SECURITY_PROVIDER_FILTER_CODE, "string", "Provider filter code, e.g. content_filter / ResponsibleAIPolicyViolation."),
    AttributeSpec(LLM_SECURITY_PROVIDER_FILTERED_CATEGORIES, "string[]", "Provider filter categories that fired (hate, jailbreak, ...)."),
    AttributeSpec(LLM_SECURITY_SCAN_DURATION_MS, "double", "Time spent in scanners for this call, ms."),
    AttributeSpec(LLM_SECURITY_SCANNER_ERRORS, "string[]", "Scanners that failed or overran their budget."),
    AttributeSpec(LLM_SECURITY_REDACTED, "boolean", "True when redacted text was sent instead of the original."),
    AttributeSpec(LLM_SECURITY_INPUT_CONTENT, "string", "Raw prompt, truncated. Only with content capture opted in."),
    AttributeSpec(LLM_SECURITY_OUTPUT_CONTENT, "string", "Raw output, truncated. Only with content capture opted in."),
)

CONTRACT_BY_NAME: dict[str, AttributeSpec] = {spec.name: spec for spec in CONTRACT}

# Raw-content attributes that other instrumentations may add; the collector drops them
# unless the operator opts in, and the privacy tests look for canaries in them.
RAW_CONTENT_ATTRIBUTES: tuple[str, ...] = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    LLM_SECURITY_INPUT_CONTENT,
    LLM_SECURITY_OUTPUT_CONTENT,
)
RAW_CONTENT_ATTRIBUTE_PREFIXES: tuple[str, ...] = ("gen_ai.prompt.", "gen_ai.completion.", "traceloop.entity.input", "traceloop.entity.output")


# --- Baggage key read for the end-user id (never written raw; see ENDUSER_PSEUDO_ID).
# session.id is read from baggage under SESSION_ID.
BAGGAGE_ENDUSER_ID = "enduser.id"

# --- Metrics: instrument names, and the low-cardinality attributes they carry ---
METRIC_REQUESTS = "llm.security.requests"  # counter: every instrumented call
METRIC_BLOCKS = "llm.security.blocks"  # counter: blocked calls (guard or provider)
METRIC_THREAT_DETECTIONS = "llm.security.threat.detections"  # counter: one per threat found in a call
METRIC_TOKEN_USAGE = "llm.security.token.usage"  # counter: tokens summed, by gen_ai.token.type
METRIC_SCAN_DURATION = "llm.security.scan.duration"  # histogram, ms per call
SIGNAL_THREAT = "llm.security.threat"  # one Threat value (metrics, logs)
SIGNAL_DIRECTION = "llm.security.direction"  # input | output | provider
SIGNAL_BLOCK_SOURCE = "llm.security.block.source"  # guard | provider
SIGNAL_TOKEN_TYPE = "gen_ai.token.type"  # input | output (semconv)
SIGNAL_EVENT_TYPE = "llm.security.event.type"  # security log: block | guardrail

# --- Security log records (OTel logs API, trace-correlated; never raw text) ---
LOG_EVENT_BLOCK = "llm.security.block"
LOG_EVENT_GUARDRAIL = "llm.security.guardrail"

SIGNAL_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec(SIGNAL_THREAT, "string", "One threat category (vocabulary: Threat), on metrics and logs."),
    AttributeSpec(SIGNAL_DIRECTION, "string", "input | output | provider: where a threat was found."),
    AttributeSpec(SIGNAL_BLOCK_SOURCE, "string", "guard | provider: who blocked the call."),
    AttributeSpec(SIGNAL_TOKEN_TYPE, "string", "input | output, on the token usage counter."),
    AttributeSpec(SIGNAL_EVENT_TYPE, "string", "Security log record type: block | guardrail."),
)


# --- Environment variables (documented in docs/configuration.md) ---
ENV_MODE = "OTEL_LLM_SECURITY_MODE"
ENV_POLICY = "OTEL_LLM_SECURITY_POLICY"
ENV_HASH_KEY = "OTEL_LLM_SECURITY_HASH_KEY"
ENV_CAPTURE_CONTENT = "OTEL_LLM_SECURITY_CAPTURE_CONTENT"
ENV_CONTENT_MAX_LENGTH = "OTEL_LLM_SECURITY_CONTENT_MAX_LENGTH"
ENV_FAIL_CLOSED = "OTEL_LLM_SECURITY_FAIL_CLOSED"
ENV_STREAM_WINDOW = "OTEL_LLM_SECURITY_STREAM_WINDOW"
ENV_STORE = "OTEL_LLM_SECURITY_STORE"
ENV_HYPERSCAN = "OTEL_LLM_SECURITY_HYPERSCAN"  # diagnostic: 0 turns the pattern prefilter off
ENV_WARM_UP = "OTEL_LLM_SECURITY_WARM_UP"  # false: no warm-up scans at instrument()
ENV_CACHE_DIR = "OTEL_LLM_SECURITY_CACHE_DIR"  # compiled pattern databases (otel-llm-security prepare)
