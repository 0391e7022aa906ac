"""The README and docs say what the code does: commands, environment variables with their
defaults, and the field table of docs/architecture.md (where each field is set and read)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_fields import contract_fields, pattern_regex

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
COLLECTOR_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def test_the_two_fresh_machine_commands():
    assert "    bash scripts/setup.sh && .venv/bin/otel-llm-security demo\n" in README
    assert "    bash scripts/test.sh\n" in README


def _table_defaults(text: str) -> dict[str, str]:
    """First-column variable -> second-column text, from every markdown table row."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2:
            for var in re.findall(r"`([A-Z][A-Z0-9_<>]+)`", cells[0]):
                out.setdefault(var, cells[1])
    return out


def test_every_environment_variable_is_documented_with_its_default():
    env_constants = {v for k, v in vars(A).items() if k.startswith("ENV_") and isinstance(v, str)}
    code_env = set()
    for path in (ROOT / "src" / "otel_llm_security").rglob("*.py"):
        code_env |= set(re.findall(r"environ(?:\.get)?\(\s*\"([A-Z][A-Z0-9_]+)\"", path.read_text()))
        code_env |= set(re.findall(r"environ\[\"([A-Z][A-Z0-9_]+)\"\]", path.read_text()))
    collector: dict[str, str] = {}
    for path in (ROOT / "collector").glob("*.yaml"):
        for var, default in COLLECTOR_ENV.findall(path.read_text()):
            collector[var] = default
    for doc_name, doc in (("README.md", README), ("docs/configuration.md", CONFIGURATION)):
        table = _table_defaults(doc)
        for var in sorted(env_constants | code_env | set(collector)):
            documented = var in table or (
                var.startswith("OTEL_LLM_SECURITY_SCANNERS")
                and any(k.startswith("OTEL_LLM_SECURITY_SCANNERS__") for k in table)
            )
            assert documented, f"{doc_name}: {var} missing from the configuration table"
        for var, default in collector.items():
            if default:
                assert f"`{default}`" in table[var], (
                    f"{doc_name}: {var} default is {default}, doc says {table[var]}"
                )
            else:
                assert "required" in table[var] or "unset" in table[var], f"{doc_name}: {var} has no default"


def test_documented_library_defaults_match_the_code():
    from otel_llm_security.guard.policy import default_policy
    from otel_llm_security.record.settings import DEFAULT_CONTENT_MAX_LENGTH

    for doc in (README, CONFIGURATION):
        table = _table_defaults(doc)
        assert f"`{default_policy().mode.value}`" in table[A.ENV_MODE]
        assert f"`{DEFAULT_CONTENT_MAX_LENGTH}`" in table[A.ENV_CONTENT_MAX_LENGTH]
        assert "`false`" in table[A.ENV_CAPTURE_CONTENT]
        assert "store.duckdb" in table[A.ENV_STORE]


# --- docs/architecture.md: where each field is set and read -----------------------------


def _constant_names(value: str) -> list[str]:
    return [k for k, v in vars(A).items() if v == value and k.isupper()]


def _set_in(attribute: str, pattern: bool) -> list[str]:
    names = ["scanner_score_attribute"] if pattern else _constant_names(attribute)
    where = []
    for stage in ("capture", "record"):
        for path in sorted((ROOT / "src" / "otel_llm_security" / stage).glob("*.py")):
            text = path.read_text()
            if any(re.search(rf"\b[aA]\.{n}\b", text) for n in names):
                where.append(f"{stage}/{path.name}")
    return where


def field_rows() -> list[str]:
    rules = {p.stem: p.read_text() for p in sorted((ROOT / "rules").glob("*.toml"))}
    ndjson = (ROOT / "kibana" / "llm-security.ndjson").read_text()
    import otel_llm_security.report.data as report

    report_fields = {v for k, v in vars(report).items() if k.startswith("F_")}
    rows = []
    for cf in contract_fields():
        if cf.pattern:
            rx = pattern_regex(cf.field)
            readers = [s for s, t in rules.items() if any(rx.match(m) for m in re.findall(r"[\w.]+", t))]
        else:
            readers = [
                s for s, t in rules.items() if re.search(rf"(?<![\w.]){re.escape(cf.field)}(?![\w.])", t)
            ]
        dashboard = "yes" if json.dumps(cf.field)[1:-1] in ndjson or f'"{cf.field}"' in ndjson else ""
        read = (
            "all rules" if len(readers) == len(rules) else ", ".join(r.removeprefix("llm_") for r in readers)
        )
        rows.append(
            f"| `{cf.attribute}` | `{cf.field}` | {', '.join(_set_in(cf.attribute, cf.pattern)) or '-'} | "
            f"{read or '-'} | {dashboard or '-'} | {'yes' if cf.field in report_fields else '-'} |"
        )
    return rows


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_architecture_field_table_covers_the_contract_and_says_only_true_things():
    """Every contract attribute is in the table with its APM field; every claim in the table
    (set in, read by a rule, the dashboard, the report) is true of the code today. Other
    teams' later additions (a new rule reading a field) make it incomplete, not wrong, so
    they do not fail here: the message prints the current table to paste."""
    start = ARCHITECTURE.index("<!-- fields:start -->")
    end = ARCHITECTURE.index("<!-- fields:end -->")
    documented = {
        tuple(_cells(line)[:2]): _cells(line)
        for line in ARCHITECTURE[start:end].splitlines()
        if line.startswith("| `")
    }
    current = {tuple(_cells(line)[:2]): _cells(line) for line in field_rows()}
    hint = "\ncurrent table:\n" + "\n".join(field_rows())
    assert set(documented) == set(current), "attribute/field pairs differ from the contract" + hint
    rule_stems = {p.stem.removeprefix("llm_") for p in (ROOT / "rules").glob("*.toml")}
    for key, cells in documented.items():
        now = current[key]
        for claimed in filter(lambda c: c != "-", cells[2].split(", ")):
            assert claimed in now[2], f"{key[0]}: not set in {claimed}" + hint
        if cells[3] == "all rules":
            assert now[3] == "all rules", f"{key[0]}: not every rule reads it any more" + hint
        elif cells[3] != "-":
            for rule in cells[3].split(", "):
                if rule in rule_stems:
                    assert now[3] == "all rules" or rule in now[3].split(", "), (
                        f"{key[0]}: {rule} does not read it" + hint
                    )
        for col in (4, 5):
            assert cells[col] == now[col], (
                f"{key[0]}: column {col} says {cells[col]}, code says {now[col]}" + hint
            )
