"""``rules lint``: schema, ES|QL syntax (Elastic's grammar), fields, types, windows, executability."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from esql import ast

from otel_llm_security.rules.fields import catalog, multi_valued_fields
from otel_llm_security.rules.model import (
    Rule,
    RuleLoadError,
    load_rule,
    parse_date_math,
    parse_interval,
    rule_files,
)

SEVERITY_RANGES = {"low": (0, 21), "medium": (22, 47), "high": (48, 73), "critical": (74, 100)}
MATURITIES = {"development", "experimental", "beta", "production", "deprecated"}
REQUIRED_RULE = (
    "author", "description", "name", "rule_id", "risk_score", "severity", "type", "language", "query",
    "from", "interval", "tags", "note", "false_positives",
)
REQUIRED_METADATA = ("creation_date", "updated_date", "maturity", "integration")
TRACE_PATTERNS = frozenset({"traces-apm*", "traces-apm-*"})
_DATE = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_OWASP_TAG = re.compile(r"^LLM(0[1-9]|10)$")
_ATLAS_TAG = re.compile(r"^T\d{4}(\.\d{3})?$")
# Functions through which a multi-valued field may be read.
_MV_SAFE = {"is_null", "is_not_null", "values", "count", "count_distinct"}


@dataclass
class LintResult:
    path: Path
    name: str
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# The TOML type of each known field (Elastic's detection-rules schema): a field of
# another type is reported, and the later checks see it as absent.
_METADATA_TYPES: dict[str, type] = {
    "creation_date": str, "updated_date": str, "maturity": str, "integration": list, "min_stack_version": str,
    "min_stack_comments": str,
}
_RULE_TYPES: dict[str, type] = {
    "author": list, "description": str, "name": str, "rule_id": str, "risk_score": int, "severity": str,
    "type": str, "language": str, "query": str, "from": str, "interval": str, "tags": list, "note": str,
    "false_positives": list, "license": str, "references": list, "setup": str, "threat": list,
    "timestamp_override": str, "max_signals": int, "version": int,
}
_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list"}
_LIST_OF_STR = ("author", "tags", "false_positives", "references", "integration")


def _typed(table: dict, types: dict[str, type], where: str, errors: list[str]) -> dict:
    """``table`` without the known fields of the wrong TOML type, each reported."""
    out = {}
    for key, value in table.items():
        want = types.get(key)
        ok = want is None or (isinstance(value, want) and not (want is int and isinstance(value, bool)))
        if ok and key in _LIST_OF_STR:
            ok = all(isinstance(v, str) for v in value)
        if ok and key == "threat":
            ok = all(isinstance(t, dict) and isinstance(t.get("tactic", {}), dict)
                     and isinstance(t.get("technique", []), list)
                     and all(isinstance(x, dict) for x in t.get("technique", [])) for t in value)
        if ok:
            out[key] = value
            continue
        if key in _LIST_OF_STR:
            kind = "a list of strings"
        elif key == "threat":
            kind = "a list of tables"
        else:
            kind = _TYPE_NAMES[want]  # type: ignore[index]
        errors.append(f"[{where}] {key} must be {kind}, got {value!r:.60}")
    return out


def _check_schema(rule: Rule, errors: list[str]) -> Rule:
    """Checks the fields' types, then their values; returns the rule without the fields of
    the wrong type (so that later checks see them as absent)."""
    md = _typed(rule.metadata, _METADATA_TYPES, "metadata", errors)
    r = _typed(rule.rule, _RULE_TYPES, "rule", errors)
    rule = Rule(rule.path, md, r)
    _check_fields(rule, errors)
    return rule


def _check_fields(rule: Rule, errors: list[str]) -> None:
    md, r = rule.metadata, rule.rule
    for key in REQUIRED_METADATA:
        if key not in md:
            errors.append(f"[metadata] lacks {key}")
    for key in ("creation_date", "updated_date"):
        value = md.get(key)
        if value is not None and (not isinstance(value, str) or not _DATE.match(value)):
            errors.append(f"[metadata] {key} must be YYYY/MM/DD, got {value!r}")
        elif isinstance(value, str):
            try:
                dt.datetime.strptime(value, "%Y/%m/%d")
            except ValueError:
                errors.append(f"[metadata] {key} is not a real date: {value}")
    created, updated = md.get("creation_date"), md.get("updated_date")
    if isinstance(created, str) and isinstance(updated, str) and updated < created:
        errors.append("[metadata] updated_date is before creation_date")
    if md.get("maturity") not in MATURITIES | {None}:
        errors.append(f"[metadata] maturity must be one of {sorted(MATURITIES)}")
    if "integration" in md and md["integration"] != ["apm"]:
        errors.append('[metadata] integration must be ["apm"] (the rules read APM trace documents)')
    for key in REQUIRED_RULE:
        if key not in r or r[key] in ("", [], None):
            errors.append(f"[rule] lacks {key}")
    try:
        if str(uuid.UUID(str(r.get("rule_id", "")))) != str(r.get("rule_id")).lower():
            raise ValueError
    except ValueError:
        errors.append(f"[rule] rule_id must be a UUID, got {r.get('rule_id')!r}")
    if r.get("type") != "esql" or r.get("language") != "esql":
        errors.append('[rule] type and language must both be "esql"')
    severity, risk = r.get("severity"), r.get("risk_score")
    if severity not in SEVERITY_RANGES:
        errors.append(f"[rule] severity must be one of {list(SEVERITY_RANGES)}")
    elif not isinstance(risk, int) or isinstance(risk, bool):
        errors.append("[rule] risk_score must be an integer")
    else:
        lo, hi = SEVERITY_RANGES[severity]
        if not lo <= risk <= hi:
            errors.append(f"[rule] risk_score {risk} does not fit severity {severity} ({lo}-{hi})")
    if not isinstance(r.get("author"), list):
        errors.append("[rule] author must be a list")
    if not isinstance(r.get("false_positives"), list):
        errors.append("[rule] false_positives must be a list")
    note = r.get("note", "")
    if note and "## Triage and analysis" not in note:
        errors.append("[rule] note must start a '## Triage and analysis' guide")
    tags = r.get("tags", [])
    if "Domain: LLM" not in tags:
        errors.append('[rule] tags lack "Domain: LLM"')
    owasp = rule.tag_values("OWASP LLM")
    atlas = rule.tag_values("Mitre Atlas")
    if not owasp or not all(_OWASP_TAG.match(t) for t in owasp):
        errors.append('[rule] needs OWASP tags like "OWASP LLM: LLM01"')
    if not atlas or not all(_ATLAS_TAG.match(t) for t in atlas):
        errors.append('[rule] needs ATLAS tags like "Mitre Atlas: T0051"')
    for threat in r.get("threat", []):
        if threat.get("framework") != "MITRE ATLAS":
            errors.append('[rule.threat] framework must be "MITRE ATLAS"')
        tactic = threat.get("tactic", {})
        if not re.match(r"^AML\.TA\d{4}$", str(tactic.get("id", ""))) or not tactic.get("name"):
            errors.append("[rule.threat] tactic needs an AML.TAxxxx id and a name")
        for tech in threat.get("technique", []):
            tid = str(tech.get("id", ""))
            if not re.match(r"^AML\.T\d{4}(\.\d{3})?$", tid) or not tech.get("name"):
                errors.append(f"[rule.threat] technique {tid!r} needs an AML.Txxxx id and a name")
            elif "T" + tid.split(".T", 1)[1] not in atlas:
                errors.append(f"[rule.threat] technique {tid} has no matching 'Mitre Atlas' tag")


def _walk_with_parent(node: ast.BaseNode, parent: ast.BaseNode | None = None):
    yield node, parent
    for child in node.iter_children():
        if isinstance(child, ast.BaseNode):
            yield from _walk_with_parent(child, node)


def _check_query_semantics(tree: ast.EsqlQuery, errors: list[str]) -> None:
    """Booleans compared as booleans, and multi-valued labels read outside MV_* functions."""
    multi = set(multi_valued_fields())
    for cmd in tree.commands:
        if isinstance(cmd, ast.MvExpandCommand) and cmd.field in multi:
            multi.discard(cmd.field)  # one value per row from here on
            continue
        if isinstance(cmd, ast.RenameCommand):
            for old, new in cmd.renames:
                if old in multi:
                    multi.add(new)
        for node, parent in _walk_with_parent(cmd):
            if isinstance(node, ast.BinaryExpr) and node.op in ("==", "!="):
                for a, b in ((node.left, node.right), (node.right, node.left)):
                    if isinstance(a, ast.ColumnRef) and isinstance(b, ast.Literal) and b.kind == "boolean":
                        errors.append(
                            f'query: [{a.name} {node.op} {str(b.value).lower()}] compares a boolean; APM labels hold'
                            f' the strings "true"/"false": write {a.name} {node.op} "{str(b.value).lower()}"'
                        )
            if isinstance(node, ast.ColumnRef) and node.name in multi:
                fn = parent.name.lower() if isinstance(parent, ast.FunctionCall) else None
                if isinstance(cmd, (ast.KeepCommand, ast.DropCommand)):
                    continue
                if fn is None or not (fn.startswith("mv_") or fn in _MV_SAFE):
                    errors.append(
                        f"query: multi-valued field [{node.name}] read outside an MV_* function "
                        f"(ES|QL makes it null when a document holds several values): use MV_CONTAINS or MV_EXPAND"
                    )


def _check_window(rule: Rule, tree: ast.EsqlQuery, errors: list[str]) -> None:
    try:
        lookback = parse_date_math(str(rule.rule.get("from", "")))
        interval = parse_interval(str(rule.rule.get("interval", "")))
    except ValueError as exc:
        errors.append(f"[rule] {exc}")
        return
    if lookback < interval:
        errors.append(f"[rule] from (now-{lookback}) is shorter than interval ({interval}): executions leave gaps")
    aggregate = any(isinstance(c, ast.StatsCommand) for c in tree.commands)
    if not aggregate and lookback > interval + dt.timedelta(minutes=5):
        errors.append(
            "[rule] an event rule (no STATS) must look back at most interval + 5m, or one event alerts many times"
        )
    from otel_llm_security.rules.esql.engine import TIME_SPAN_TYPES, parse_temporal

    seconds = {"milliseconds": 0.001, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
    for node in tree:
        if isinstance(node, ast.Literal) and node.kind in TIME_SPAN_TYPES:
            amount, unit = parse_temporal(str(node.value))
            if unit not in seconds:
                errors.append(f"query: time span [{node.value}] in months/years is longer than any rule window")
                continue
            span = dt.timedelta(seconds=amount * seconds[unit])
            if span > lookback:
                errors.append(f"query: time span [{node.value}] exceeds the rule's look-back (from = now-{lookback})")


def lint_rule(rule: Rule) -> list[str]:
    """Every problem of one rule; empty when it is clean."""
    import esql
    from esql import ParserConfig, Schema
    from esql.analyzer import analyze

    from otel_llm_security.rules.esql.engine import EsqlEngineError
    from otel_llm_security.rules.esql.parser import TARGET_STACK_VERSION, parse_query

    errors: list[str] = []
    rule = _check_schema(rule, errors)
    query = rule.query
    if not query:
        return errors
    try:
        tree = parse_query(query, TARGET_STACK_VERSION)
    except esql.EsqlError as exc:
        errors.append(f"query: ES|QL {TARGET_STACK_VERSION} rejects it: {exc}")
        return errors
    try:
        esql.validate_detection_rule_query(tree, rule.name)
    except esql.EsqlError as exc:
        errors.append(f"query: {exc}")
    if rule.metadata.get("min_stack_version", TARGET_STACK_VERSION) != TARGET_STACK_VERSION:
        errors.append(f"[metadata] min_stack_version must be {TARGET_STACK_VERSION} (the grammar we validate with)")
    source = tree.commands[0] if tree.commands else None
    if not isinstance(source, ast.FromCommand) or not source.index_patterns or any(
        p not in TRACE_PATTERNS for p in source.index_patterns
    ):
        errors.append(f"query: must read FROM {' or '.join(sorted(TRACE_PATTERNS))} (the APM trace documents)")
    referenced = [n.name for n in tree if isinstance(n, ast.ColumnRef)]
    fields = catalog(referenced)
    _check_query_semantics(tree, errors)
    _check_window(rule, tree, errors)
    # Elastic's analyzer, under our mapping: unknown fields, column visibility, types.
    mapping = {name: f.es_type for name, f in fields.items()}
    try:
        with ParserConfig(min_stack_version=TARGET_STACK_VERSION):
            analyze(tree, Schema(mapping))
    except esql.EsqlError as exc:
        msg = str(exc).splitlines()[0]
        errors.append(f"query: against our APM mapping: {msg}")
    # The local engine must run it: compile and execute on an empty table of the mapping.
    try:
        _EmptyStore.run(rule, fields)
    except EsqlEngineError as exc:
        if str(exc).startswith("Unknown column"):
            errors.append(f"query: {exc}: not a field of our record's APM mapping")
        else:
            errors.append(f"query: the local engine cannot run it: {exc}")
    return errors


class _EmptyStore:
    """An empty in-memory table with one column per mapped field, to prove a rule executes."""

    def __init__(self, fields: dict) -> None:
        import duckdb

        from otel_llm_security.rules.esql.engine import SQL_TYPES, q

        self.connection = duckdb.connect()
        self._fields = dict(fields)
        cols = [f"{q('_id')} VARCHAR", f"{q('_index')} VARCHAR"]
        cols += [f"{q(n)} {SQL_TYPES[f.es_type]}{'[]' if f.multi else ''}" for n, f in fields.items()]
        self.connection.execute(f"CREATE TABLE docs ({', '.join(cols)})")

    def fields(self) -> dict:
        return self._fields

    @classmethod
    def run(cls, rule: Rule, fields: dict) -> None:
        from otel_llm_security.rules.esql.engine import EsqlEngine

        store = cls(fields)
        now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        try:
            window = rule.time_range(now)
        except ValueError:  # a malformed `from`, reported by _check_window
            window = (now - dt.timedelta(minutes=6), now)
        EsqlEngine(store, now=now).execute(rule.query, time_range=window)


def lint_paths(paths: list[Path] | None = None) -> list[LintResult]:
    """Lint every rule file; also checks that rule_ids and names are unique."""
    results: list[LintResult] = []
    ids: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for path in rule_files(paths):
        try:
            rule = load_rule(path)
        except RuleLoadError as exc:
            results.append(LintResult(path, path.stem, [str(exc)]))
            continue
        ids[rule.rule_id] += 1
        names[rule.name] += 1
        results.append(LintResult(path, rule.name, lint_rule(rule)))
    for res in results:
        try:
            rule = load_rule(res.path)
        except RuleLoadError:
            continue
        if ids[rule.rule_id] > 1:
            res.errors.append(f"[rule] rule_id {rule.rule_id} is used by another rule")
        if names[rule.name] > 1:
            res.errors.append(f"[rule] name {rule.name!r} is used by another rule")
    return results
