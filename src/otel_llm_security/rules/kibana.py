"""Export rules as Kibana's import ndjson, and deploy them with ``POST /api/detection_engine/rules/_import``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from otel_llm_security.rules.model import Rule

IMPORT_PATH = "/api/detection_engine/rules/_import"
RULES_PATH = "/api/detection_engine/rules"

# TOML [rule] keys that Kibana's rule schema takes as they are.
_PASSTHROUGH = (
    "author", "description", "false_positives", "from", "interval", "language", "license", "name", "note",
    "query", "references", "risk_score", "rule_id", "setup", "severity", "tags", "threat", "timestamp_override",
    "type", "max_signals",
)


def to_kibana(rule: Rule, *, enabled: bool = False) -> dict[str, Any]:
    """One rule in the detection engine's import/export JSON shape."""
    body: dict[str, Any] = {k: rule.rule[k] for k in _PASSTHROUGH if k in rule.rule}
    body.setdefault("references", [])
    body["to"] = "now"
    body["enabled"] = enabled
    body["version"] = int(rule.metadata.get("version", 1))
    body.setdefault("max_signals", 100)
    for threat in body.get("threat", []):
        threat.setdefault("technique", [])
    return body


def export_ndjson(rules: list[Rule], *, enabled: bool = False) -> str:
    """Kibana import ndjson: one rule object per line."""
    return "".join(json.dumps(to_kibana(r, enabled=enabled), sort_keys=True) + "\n" for r in rules)


@dataclass
class DeployReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rule_id or name, message)
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "failed": [{"rule": r, "error": m} for r, m in self.failed],
        }


class DeployError(RuntimeError):
    """Kibana refused the request as a whole (auth, URL, version): the message says what it answered."""


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"kbn-xsrf": "true"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    return headers


def _base(url: str, space: str | None) -> str:
    url = url.rstrip("/")
    return f"{url}/s/{space}" if space and space != "default" else url


def deploy(
    rules: list[Rule],
    kibana_url: str,
    *,
    api_key: str | None = None,
    overwrite: bool = False,
    enabled: bool = False,
    space: str | None = None,
    verify: bool | str = True,
    timeout: float = 30.0,
    transport: Any = None,
) -> DeployReport:
    """Import the rules into Kibana; tells created from updated by asking which rule_ids exist first."""
    import httpx

    base = _base(kibana_url, space)
    report = DeployReport()
    names = {r.rule_id: r.name for r in rules}
    with httpx.Client(headers=_headers(api_key), verify=verify, timeout=timeout, transport=transport) as client:
        existing: set[str] = set()
        for rule in rules:
            resp = client.get(f"{base}{RULES_PATH}", params={"rule_id": rule.rule_id})
            if resp.status_code == 200:
                existing.add(rule.rule_id)
            elif resp.status_code != 404:
                raise DeployError(f"GET {RULES_PATH} answered {resp.status_code}: {resp.text[:300]}")
        files = {"file": ("rules.ndjson", export_ndjson(rules, enabled=enabled).encode(), "application/ndjson")}
        resp = client.post(
            f"{base}{IMPORT_PATH}", params={"overwrite": "true" if overwrite else "false"}, files=files
        )
        if resp.status_code != 200:
            raise DeployError(f"POST {IMPORT_PATH} answered {resp.status_code}: {resp.text[:500]}")
        body = resp.json()
    report.response = body
    failed_ids: set[str] = set()
    for err in body.get("errors", []):
        rid = str(err.get("rule_id", err.get("id", "?")))
        failed_ids.add(rid)
        error = err.get("error", {})
        msg = f"{error.get('status_code', '?')}: {error.get('message', err)}"
        report.failed.append((f"{names.get(rid, rid)} ({rid})", msg))
    for rule in rules:
        if rule.rule_id in failed_ids:
            continue
        (report.updated if rule.rule_id in existing else report.created).append(rule.name)
    return report
