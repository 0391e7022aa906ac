"""Scanner types by policy name. Modules are imported only when a policy names them,
so the ML scanner (numpy, tokenizers) and llm-guard (torch) never load by default."""

from __future__ import annotations

import importlib
from typing import Any

from otel_llm_security.attributes import Direction
from otel_llm_security.guard.scanner import Scanner

BUILTIN: dict[str, str] = {
    "prompt_injection": "otel_llm_security.guard.scanners.prompt_injection:PromptInjectionScanner",
    "secrets": "otel_llm_security.guard.scanners.secrets:SecretsScanner",
    "pii": "otel_llm_security.guard.scanners.pii:PIIScanner",
    "invisible_text": "otel_llm_security.guard.scanners.invisible_text:InvisibleTextScanner",
    "insecure_output": "otel_llm_security.guard.scanners.insecure_output:InsecureOutputScanner",
    "refusal": "otel_llm_security.guard.scanners.refusal:RefusalScanner",
    "denial_of_service": "otel_llm_security.guard.scanners.denial_of_service:DenialOfServiceScanner",
    "ml_prompt_injection": "otel_llm_security.guard.ml.scanner:MLPromptInjectionScanner",
}
LLM_GUARD_PREFIX = "llm_guard:"


def known_types() -> list[str]:
    return [*sorted(BUILTIN), f"{LLM_GUARD_PREFIX}<ScannerClass>"]


def _load(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_scanner(
    type_: str, *, name: str, direction: Direction, threshold: float | None, options: dict[str, Any]
) -> Scanner:
    """Build one scanner. Raises KeyError for an unknown type, TypeError/ValueError for bad options."""
    if type_.startswith(LLM_GUARD_PREFIX):
        from otel_llm_security.guard.llm_guard_adapter import LLMGuardScanner

        return LLMGuardScanner(
            type_[len(LLM_GUARD_PREFIX) :], name=name, direction=direction, threshold=threshold, options=options
        )
    if type_ not in BUILTIN:
        raise KeyError(type_)
    cls = _load(BUILTIN[type_])
    return cls(name=name, direction=direction, threshold=threshold, **_checked_options(cls, options))


_ENTRY_FIELDS = frozenset({"self", "name", "direction", "threshold", "return"})


def _checked_options(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against the scanner constructor's type hints, strictly: a
    YAML/TOML/env string "false" or "10" where a bool or a number goes is an error, not
    a truthy string or a comparison that happens to work. Raises TypeError or ValueError."""
    import typing

    from pydantic import TypeAdapter, ValidationError

    hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    known = sorted(k for k in hints if k not in _ENTRY_FIELDS)
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key in _ENTRY_FIELDS:
            raise TypeError(f"{key!r} is a field of the scanner entry, not an option")
        if key not in known:
            raise TypeError(f"unknown option {key!r} for {cls.__name__} (known: {', '.join(known) or 'none'})")
        try:
            checked[key] = TypeAdapter(hints[key]).validate_python(value, strict=True)
        except ValidationError as exc:
            raise ValueError(f"option {key!r}: {exc.errors()[0]['msg']}, got {value!r}") from None
    return checked
