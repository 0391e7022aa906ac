"""The security policy: which scanners run, where, how strictly, and what happens.

A policy is a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file validated by pydantic,
then adjusted by ``OTEL_LLM_SECURITY_*`` environment variables (see ``docs/policy.md``).
Anything invalid raises :class:`~otel_llm_security.guard.errors.PolicyError` whose
message names the offending key; nothing falls back silently to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from otel_llm_security.attributes import ENV_FAIL_CLOSED, ENV_MODE, ENV_POLICY, Action, Direction, Mode
from otel_llm_security.guard.errors import PolicyError

FailMode = Literal["open", "closed"]
ENV_SCANNER_PREFIX = "OTEL_LLM_SECURITY_SCANNERS__"
_NAME_RE = re.compile(r"^[a-z0-9_]+$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ScannerPolicy(BaseModel):
    """One scanner entry of the policy."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    type: str = Field(description="built-in kind, 'ml_prompt_injection', or 'llm_guard:<ScannerClass>'")
    name: str | None = Field(None, description="[a-z0-9_]+; defaults to the type")
    direction: Direction = "input"
    # A result fails when its score reaches the threshold; at 0 every text, with no threat
    # found, would fail: a mistake, refused like any other.
    threshold: float | None = Field(None, gt=0.0, le=1.0)
    action: Action = Action.WARN
    fail: FailMode | None = None  # None: the policy's global ``fail``
    budget_ms: float | None = Field(None, gt=0)  # None: the policy's global ``budget_ms``
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_attribute_safe(cls, v: str | None) -> str | None:
        if v is not None and not _NAME_RE.match(v):
            raise ValueError("must match [a-z0-9_]+ (it becomes part of an attribute name)")
        return v

    @property
    def resolved_name(self) -> str:
        if self.name:
            return self.name
        base = self.type.split(":", 1)[-1]
        base = re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()
        return re.sub(r"[^a-z0-9_]", "_", ("llm_guard_" + base) if self.type.startswith("llm_guard:") else base)


class Policy(BaseModel):
    """The whole policy: global defaults plus the scanner list."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    id: str = "default"
    mode: Mode = Mode.MONITOR
    fail: FailMode = "open"
    budget_ms: float = Field(50.0, gt=0)
    # Built-in scanners run inline, so their budgets cannot cut a scan short: a text
    # longer than this is scanned as a head and tail sample instead, which bounds the
    # time a huge prompt adds. Its true length still reaches the denial_of_service scanner.
    max_scan_chars: int = Field(262_144, ge=4096)
    scanners: list[ScannerPolicy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Policy:
        seen: set[tuple[str, str]] = set()
        for i, s in enumerate(self.scanners):
            key = (s.direction, s.resolved_name)
            if key in seen:
                raise ValueError(f"scanners[{i}]: duplicate {s.direction} scanner name {s.resolved_name!r}")
            seen.add(key)
        return self

    def fail_of(self, scanner: ScannerPolicy) -> FailMode:
        return scanner.fail or self.fail

    def budget_of(self, scanner: ScannerPolicy) -> float:
        return scanner.budget_ms or self.budget_ms


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<policy>"


def parse_policy(data: Mapping[str, Any], source: str = "policy") -> Policy:
    """Validate a mapping; on error raise PolicyError naming the first bad key."""
    if not isinstance(data, Mapping):
        raise PolicyError(f"{source}: the policy must be a mapping, not {type(data).__name__}")
    try:
        return Policy.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _loc(tuple(err["loc"]))
            problems.append(f"{loc}: {err['msg']}")
        raise PolicyError(f"{source}: invalid policy key {problems[0]}" + (f" (+{len(problems) - 1} more: {'; '.join(problems[1:])})" if len(problems) > 1 else "")) from None


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a YAML or TOML policy file."""
    p = Path(path)
    try:
        content = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{ENV_POLICY}: cannot read policy file {str(p)!r}: {exc.strerror or exc}") from None
    try:
        if p.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # pragma: no cover - Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(content)
        else:
            import yaml

            # libyaml's parser when PyYAML has it: same safe constructor and resolver,
            # a fraction of the pure-Python parser's start-up cost.
            data = yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception as exc:  # syntax errors of either format
        raise PolicyError(f"{p}: not valid {'TOML' if p.suffix.lower() == '.toml' else 'YAML'}: {exc}") from None
    if data is None:
        raise PolicyError(f"{p}: the policy file is empty")
    return parse_policy(data, source=str(p))


def default_policy_path() -> Path:
    return Path(str(resources.files("otel_llm_security.guard") / "default_policy.yaml"))


# The shipped policy is ``default_policy.yaml`` (the file to read and edit). Next to it,
# ``default_policy.json`` holds the same mapping already parsed, with the SHA-256 of the
# YAML text it was made from: when the digest matches, the default policy is read from
# it and PyYAML is not even imported (~15 ms of start-up); when it does not (the YAML
# was edited), the YAML is parsed as before. ``write_default_policy_json()`` remakes it
# (tests/guard/test_default_policy_json.py checks that it is current).
_DEFAULT_JSON = "default_policy.json"


def _default_policy_json_path() -> Path:
    return Path(str(resources.files("otel_llm_security.guard") / _DEFAULT_JSON))


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def default_policy() -> Policy:
    """The shipped policy: fast built-in scanners only, monitor mode."""
    path = default_policy_path()
    try:
        import json

        source = path.read_bytes()
        twin = json.loads(_default_policy_json_path().read_text(encoding="utf-8"))
        if isinstance(twin, dict) and twin.get("source_sha256") == _sha256(source) and isinstance(twin.get("policy"), dict):
            return parse_policy(twin["policy"], source=str(path))
    except (OSError, ValueError):
        pass
    return load_policy(path)


def write_default_policy_json() -> Path:
    """Remake ``default_policy.json`` from ``default_policy.yaml`` (run after editing it)."""
    import json

    import yaml

    path = default_policy_path()
    source = path.read_bytes()
    data = yaml.safe_load(source.decode("utf-8"))
    parse_policy(data, source=str(path))  # only a valid policy is written
    out = _default_policy_json_path()
    out.write_text(json.dumps({"source_sha256": _sha256(source), "policy": data}, indent=1) + "\n", encoding="utf-8")
    return out


def parse_bool(var: str, value: str) -> bool:
    """A boolean environment value (true/false, 1/0, yes/no, on/off); else a PolicyError naming ``var``."""
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise PolicyError(f"{var}: expected true or false, got {value!r}")


def apply_environment(policy: Policy, env: Mapping[str, str]) -> Policy:
    """Apply OTEL_LLM_SECURITY_MODE, _FAIL_CLOSED and per-scanner overrides.

    Per-scanner: ``OTEL_LLM_SECURITY_SCANNERS__<NAME>__<FIELD>=<value>`` with FIELD one
    of ACTION, THRESHOLD, FAIL, BUDGET_MS, ENABLED; it applies to the scanner of that
    name in every direction. An unknown name or field is an error.
    """
    data = policy.model_dump(mode="python")
    mode = env.get(ENV_MODE)
    if mode is not None and mode.strip():
        try:
            data["mode"] = Mode(mode.strip().lower())
        except ValueError:
            raise PolicyError(f"{ENV_MODE}: expected one of monitor, enforce; got {mode!r}") from None
    fail_closed = env.get(ENV_FAIL_CLOSED)
    if fail_closed is not None and fail_closed.strip():
        data["fail"] = "closed" if parse_bool(ENV_FAIL_CLOSED, fail_closed) else "open"
    fields = {"ACTION": "action", "THRESHOLD": "threshold", "FAIL": "fail", "BUDGET_MS": "budget_ms", "ENABLED": "enabled"}
    for var in sorted(env):
        if not var.startswith(ENV_SCANNER_PREFIX):
            continue
        rest = var[len(ENV_SCANNER_PREFIX) :]
        name, sep, field = rest.rpartition("__")
        if not sep or field not in fields:
            raise PolicyError(f"{var}: expected {ENV_SCANNER_PREFIX}<NAME>__<{'|'.join(fields)}>")
        targets = [s for s, pol in zip(data["scanners"], policy.scanners, strict=True) if pol.resolved_name == name.lower()]
        if not targets:
            raise PolicyError(f"{var}: no scanner named {name.lower()!r} in the policy")
        value: Any = env[var]
        if fields[field] == "enabled":
            value = parse_bool(var, value)
        for target in targets:
            target[fields[field]] = value
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PolicyError(f"environment: invalid policy key {_loc(tuple(err['loc']))}: {err['msg']}") from None


def policy_from_environment(env: Mapping[str, str] | None = None) -> Policy:
    """The policy named by OTEL_LLM_SECURITY_POLICY (or the default), with env overrides."""
    env = os.environ if env is None else env
    path = env.get(ENV_POLICY, "").strip()
    policy = load_policy(path) if path else default_policy()
    return apply_environment(policy, env)
