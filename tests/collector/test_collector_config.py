"""The collector configs, checked as deeply as possible without a collector binary.

What only ``otelcol validate`` can check (component option schemas, the OTTL grammar,
RE2 compilation) is listed in docs/collector.md; here: structure, components against
the distributions' lists, environment variables, and the semantics of the content,
masking and sampling rules, evaluated on sample attributes.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llm_security import attributes as A

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "collector"
MAIN = COLLECTOR / "otel-config.yaml"
ES = COLLECTOR / "otel-config.elasticsearch.yaml"
OVERLAY = COLLECTOR / "auth-secret-token.yaml"
CONFIGS = [MAIN, ES]
KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def components() -> dict[str, Any]:
    return load(COLLECTOR / "components.yaml")


# --- a model of the collector's config resolution (confmap) ---------------------------


def resolve(value: Any, env: dict[str, str]) -> Any:
    """confmap's env provider: ``${env:X}`` / ``${env:X:-default}``, ``$$`` for ``$``;
    a value that is one whole reference is parsed as YAML (so numbers become numbers)."""
    if isinstance(value, dict):
        return {k: resolve(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        return env.get(m.group(1), m.group(2) if m.group(2) is not None else "")

    whole = _ENV_REF.fullmatch(value)
    if whole:
        return yaml.safe_load(sub(whole)) if sub(whole) else ""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        m = _ENV_REF.match(value, i)
        if m:
            out.append(sub(m))
            i = m.end()
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """How the collector merges several --config files: maps merge, other values replace."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


# --- a small model of the OTTL statements the configs use ------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:\\.|[^"\\])*")|(?P<word>[A-Za-z_][\w.]*(?:\["(?:\\.|[^"\\])*"\])?)|(?P<p>[(),]))')


def ottl_string(literal: str) -> str:
    assert literal[0] == literal[-1] == '"'
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), literal[1:-1])


def parse_call(stmt: str) -> tuple[str, list[str], str | None]:
    """``fn(arg, ...) [where cond]`` → name, args (string literals unescaped), condition."""
    where = None
    m = re.search(r'\)\s+where\s+(.*)$', stmt)
    if m:
        where = m.group(1)
        stmt = stmt[: m.start() + 1]
    name, _, rest = stmt.partition("(")
    assert rest.endswith(")"), stmt
    args, pos, body = [], 0, rest[:-1]
    while pos < len(body):
        t = _TOKEN.match(body, pos)
        assert t, f"cannot tokenize {body[pos:]!r}"
        pos = t.end()
        if t.group("str"):
            args.append(ottl_string(t.group("str")))
        elif t.group("word"):
            args.append(t.group("word"))
    return name.strip(), args, where


def go_replacement(repl: str) -> str:
    """Go regexp ``${1}`` expansion → Python ``\\g<1>``."""
    return re.sub(r"\$\{(\d+)\}", r"\\g<\1>", repl)


RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=")


def apply_transform(proc: dict[str, Any], context: str, attrs: dict[str, Any], name: str = "") -> dict[str, Any]:
    """Run a transform processor's statements for one context on an attribute map."""
    attrs = dict(attrs)
    for block in proc["trace_statements"]:
        if block["context"] != context:
            continue
        if any(not eval_literal_condition(c) for c in block.get("conditions", [])):
            continue
        for stmt in block["statements"]:
            fn, args, where = parse_call(stmt)
            assert args[0] == "attributes"
            if where is not None:
                wm = re.fullmatch(r'IsMatch\(name, ("(?:\\.|[^"\\])*")\)', where)
                assert wm, where
                if not re.search(ottl_string(wm.group(1)), name):
                    continue
            if fn == "delete_key":
                attrs.pop(args[1], None)
            elif fn == "delete_matching_keys":
                attrs = {k: v for k, v in attrs.items() if not re.search(args[1], k)}
            elif fn == "replace_all_patterns":
                assert args[1] == "value"
                attrs = {k: re.sub(args[2], go_replacement(args[3]), v) if isinstance(v, str) else v
                         for k, v in attrs.items()}
            else:
                raise AssertionError(f"unexpected OTTL function {fn}")
    return attrs


def eval_literal_condition(cond: str) -> bool:
    m = re.fullmatch(r'\s*("(?:[^"\\]|\\.)*")\s*(==|!=)\s*("(?:[^"\\]|\\.)*")\s*', cond)
    assert m, f"only literal comparisons are modelled: {cond}"
    equal = ottl_string(m.group(1)) == ottl_string(m.group(3))
    return equal if m.group(2) == "==" else not equal


def eval_span_condition(cond: str, attrs: dict[str, Any]) -> bool:
    m = re.fullmatch(r'attributes\["([^"]+)"\]\s*(==|!=)\s*(nil|true|false|"[^"]*")', cond)
    assert m, f"unmodelled condition {cond}"
    key, op, lit = m.groups()
    actual = attrs.get(key)
    expected = {"nil": None, "true": True, "false": False}.get(lit, lit.strip('"'))
    return (actual == expected) if op == "==" else (actual != expected)


def sampled(policies: list[dict[str, Any]], attrs: dict[str, Any], status: str = "UNSET") -> set[str]:
    """Names of the policies that vote to sample a one-span trace (any vote keeps it)."""
    votes = set()
    for p in policies:
        t = p["type"]
        if t == "boolean_attribute":
            if attrs.get(p[t]["key"]) is p[t]["value"]:
                votes.add(p["name"])
        elif t == "ottl_condition":
            if any(eval_span_condition(c, attrs) for c in p[t]["span"]):
                votes.add(p["name"])
        elif t == "status_code":
            if status in p[t]["status_codes"]:
                votes.add(p["name"])
        elif t == "probabilistic":
            pass  # the share is random; checked for its value separately
        else:
            raise AssertionError(f"unmodelled policy type {t}")
    return votes


# --- structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_pipeline_component_is_defined_and_every_defined_component_used(path: Path) -> None:
    cfg = load(path)
    service = cfg["service"]
    used: dict[str, set[str]] = {k: set() for k in KINDS}
    for ext in service["extensions"]:
        assert ext in cfg["extensions"], f"service extension {ext} not defined"
        used["extensions"].add(ext)
    for name, pipe in service["pipelines"].items():
        assert name.split("/")[0] in ("traces", "metrics", "logs")
        for kind in ("receivers", "processors", "exporters"):
            assert pipe[kind], f"{name} has no {kind}"
            for comp in pipe[kind]:
                assert comp in (cfg.get(kind) or {}), f"{name}: {kind} {comp} not defined"
                used[kind].add(comp)
    # components referenced from other components (the queue's storage)
    for exp in cfg["exporters"].values():
        storage = (exp.get("sending_queue") or {}).get("storage")
        if storage:
            assert storage in used["extensions"], f"queue storage {storage} is not a running extension"
    for kind in KINDS:
        assert set(cfg.get(kind) or {}) == used[kind], f"unused {kind}: {set(cfg.get(kind) or {}) - used[kind]}"


def component_modules(cfg: dict[str, Any]) -> list[tuple[str, str, str]]:
    types = components()["types"]
    out = []
    for kind in KINDS:
        for comp in cfg.get(kind) or {}:
            ctype = comp.split("/")[0]
            assert ctype in types.get(kind, {}), f"{kind} type {ctype!r} has no module in components.yaml"
            out.append((kind, comp, types[kind][ctype]))
    return out


@pytest.mark.parametrize("dist", ["edot", "otelcol-contrib"])
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_component_exists_in_the_named_distribution(path: Path, dist: str) -> None:
    d = components()["distributions"][dist]
    assert d["source"].startswith("https://github.com/") and re.search(r"/blob/[0-9a-f]{40}/", d["source"])
    for kind, comp, module in component_modules(load(path)):
        assert module in d[kind], f"{comp} ({module}) is not in {d['name']} {d['version']}"


def test_the_component_check_catches_a_component_edot_lacks() -> None:
    cfg = load(MAIN)
    cfg["processors"]["redaction"] = {}
    edot = components()["distributions"]["edot"]
    missing = [comp for kind, comp, module in component_modules(cfg) if module not in edot[kind]]
    assert missing == ["redaction"]


def test_docs_name_the_distributions_and_versions_of_the_component_list() -> None:
    doc = (ROOT / "docs" / "collector.md").read_text()
    for d in components()["distributions"].values():
        assert d["version"] in doc


# --- environment variables ----------------------------------------------------------------


@pytest.mark.parametrize("path", [*CONFIGS, OVERLAY], ids=lambda p: p.name)
def test_env_references_are_well_formed_and_documented(path: Path) -> None:
    text = path.read_text()
    body = "\n".join(line.split(" #", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#"))
    stray = re.sub(r"\$\$|" + _ENV_REF.pattern, "", body)
    assert "$" not in stray, "a '$' that is neither ${env:...} nor the $$ escape"
    doc = (ROOT / "docs" / "collector.md").read_text()
    for name, _ in _ENV_REF.findall(body):
        assert f"`{name}`" in doc, f"{name} is not documented in docs/collector.md"


def required_env(path: Path) -> set[str]:
    return {n for n, d in re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}", path.read_text()) if not d}


def test_only_the_backend_and_its_credentials_have_no_default() -> None:
    assert required_env(MAIN) == {"ELASTIC_APM_SERVER_ENDPOINT", "ELASTIC_APM_API_KEY"}
    assert required_env(ES) == {"ELASTICSEARCH_ENDPOINT", "ELASTIC_API_KEY"}
    assert required_env(OVERLAY) == {"ELASTIC_APM_SECRET_TOKEN"}


def test_defaults_resolve_to_a_local_only_listener_and_sane_values() -> None:
    cfg = resolve(load(MAIN), {"ELASTIC_APM_SERVER_ENDPOINT": "https://apm.example:443", "ELASTIC_APM_API_KEY": "k"})
    otlp = cfg["receivers"]["otlp"]["protocols"]
    assert otlp["grpc"]["endpoint"] == "127.0.0.1:4317"
    assert otlp["http"]["endpoint"] == "127.0.0.1:4318"
    ts = cfg["processors"]["tail_sampling"]
    assert ts["decision_wait"] == "10s" and ts["num_traces"] == 50000
    share = next(p for p in ts["policies"] if p["type"] == "probabilistic")
    assert share["probabilistic"]["sampling_percentage"] == 10
    assert cfg["processors"]["memory_limiter"]["limit_percentage"] == 80
    exp = cfg["exporters"]["otlp/elastic"]
    assert exp["endpoint"] == "https://apm.example:443"
    assert exp["headers"]["Authorization"] == "ApiKey k"
    env = {"OTEL_LLM_SECURITY_SAMPLING_PERCENTAGE": "25", "OTLP_HTTP_ENDPOINT": "0.0.0.0:4318"}
    cfg = resolve(load(MAIN), env)
    assert cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    share = next(p for p in cfg["processors"]["tail_sampling"]["policies"] if p["type"] == "probabilistic")
    assert share["probabilistic"]["sampling_percentage"] == 25


# --- pipeline order and delivery -------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_processor_order(path: Path) -> None:
    procs = load(path)["service"]["pipelines"]["traces"]["processors"]
    assert procs[0] == "memory_limiter"
    assert procs[-1] == "batch"
    # content is removed and secrets masked before anything holds or exports the spans
    assert procs.index("transform/content") < procs.index("transform/mask_secrets") < procs.index("tail_sampling")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_delivery_retries_and_queues_on_disk(path: Path) -> None:
    cfg = resolve(load(path), {})
    (exp,) = cfg["exporters"].values()
    queue = exp["sending_queue"]
    assert queue["enabled"] is True
    assert cfg["extensions"][queue["storage"]]["directory"] == "/var/lib/otelcol/otel-llm-security"
    assert queue["storage"].split("/")[0] == "file_storage"
    retry = exp.get("retry_on_failure") or exp.get("retry")
    assert retry["enabled"] is True
    if "retry_on_failure" in exp:
        assert retry["max_elapsed_time"] == 0  # unlimited: an outage does not drop queued data


def test_secret_token_overlay_replaces_only_the_authorization_header() -> None:
    base, overlay = load(MAIN), load(OVERLAY)
    merged = deep_merge(base, overlay)
    assert merged["exporters"]["otlp/elastic"]["headers"]["Authorization"] == "Bearer ${env:ELASTIC_APM_SECRET_TOKEN}"
    merged["exporters"]["otlp/elastic"]["headers"] = base["exporters"]["otlp/elastic"]["headers"]
    assert merged == base


def test_elasticsearch_variant_shares_everything_but_the_exporter() -> None:
    main, es = load(MAIN), load(ES)
    for section in ("extensions", "receivers", "processors"):
        assert es[section] == main[section], section
    assert es["service"]["extensions"] == main["service"]["extensions"]
    exp = es["exporters"]["elasticsearch/otel"]
    assert exp["mapping"]["mode"] == "otel"
    assert exp["api_key"] == "${env:ELASTIC_API_KEY}"


# --- content protection ------------------------------------------------------------------------


def content_proc() -> dict[str, Any]:
    return load(MAIN)["processors"]["transform/content"]


def test_content_rules_delete_exactly_the_contract_raw_content_attributes() -> None:
    for block in content_proc()["trace_statements"]:
        keys, patterns = set(), []
        for stmt in block["statements"]:
            fn, args, where = parse_call(stmt)
            if fn == "delete_key" and where is None:
                keys.add(args[1])
            elif fn == "delete_matching_keys":
                patterns.append(args[1])
        assert keys == set(A.RAW_CONTENT_ATTRIBUTES), block["context"]
        for prefix in A.RAW_CONTENT_ATTRIBUTE_PREFIXES:
            assert any(re.search(p, prefix + "0.content") for p in patterns), prefix
        assert len(patterns) == len(A.RAW_CONTENT_ATTRIBUTE_PREFIXES)


def test_the_opt_in_condition_uses_the_contract_environment_variable() -> None:
    for block in content_proc()["trace_statements"]:
        assert block["conditions"] == [f'"${{env:{A.ENV_CAPTURE_CONTENT}:-false}}" != "true"']


def sample_span_attributes() -> dict[str, Any]:
    return {
        "gen_ai.input.messages": '[{"role":"user","content":"secret plan"}]',
        "gen_ai.output.messages": "[...]",
        "gen_ai.system_instructions": "You are ...",
        "gen_ai.prompt.0.content": "hello",
        "gen_ai.completion.0.content": "hi",
        "gen_ai.prompt": "legacy",
        "traceloop.entity.input": "{...}",
        "traceloop.entity.output": "{...}",
        A.LLM_SECURITY_INPUT_CONTENT: "hello",
        A.GEN_AI_REQUEST_MODEL: "gpt-4o",
        A.LLM_SECURITY_INPUT_HASH: "ab" * 32,
        A.LLM_SECURITY_BLOCKED: True,
        A.GEN_AI_USAGE_INPUT_TOKENS: 12,
        "gen_ai.prompt_tokens_typo": "kept: not a content key",
    }


def test_content_is_dropped_by_default_and_kept_when_opted_in() -> None:
    default = resolve(load(MAIN), {})["processors"]["transform/content"]
    out = apply_transform(default, "span", sample_span_attributes())
    assert out == {
        A.GEN_AI_REQUEST_MODEL: "gpt-4o",
        A.LLM_SECURITY_INPUT_HASH: "ab" * 32,
        A.LLM_SECURITY_BLOCKED: True,
        A.GEN_AI_USAGE_INPUT_TOKENS: 12,
        "gen_ai.prompt_tokens_typo": "kept: not a content key",
    }
    opted_in = resolve(load(MAIN), {A.ENV_CAPTURE_CONTENT: "true"})["processors"]["transform/content"]
    assert apply_transform(opted_in, "span", sample_span_attributes()) == sample_span_attributes()


def test_content_of_gen_ai_span_events_is_dropped() -> None:
    proc = resolve(load(MAIN), {})["processors"]["transform/content"]
    assert apply_transform(proc, "spanevent", {"content": "hi", "role": "user"}, name="gen_ai.user.message") == {"role": "user"}
    assert apply_transform(proc, "spanevent", {"content": "x"}, name="app.event") == {"content": "x"}
    assert apply_transform(proc, "spanevent", {"gen_ai.prompt": "p", "k": 1}, name="gen_ai.content.prompt") == {"k": 1}


SECRETS = [
    "sk-proj-" + "A1b2C3d4" * 6,
    "sk-ant-api03-" + "x" * 40,
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a" * 36,
    "github_pat_" + "B" * 30,
    "xoxb-1234567890-abcdef",
    "AIza" + "S" * 35,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
]


def mask_proc() -> dict[str, Any]:
    return resolve(load(MAIN), {})["processors"]["transform/mask_secrets"]


def test_masking_patterns_use_only_re2_syntax() -> None:
    for block in load(MAIN)["processors"]["transform/mask_secrets"]["trace_statements"]:
        for stmt in block["statements"]:
            fn, args, _ = parse_call(stmt)
            assert fn == "replace_all_patterns"
            assert not RE2_UNSUPPORTED.search(args[2]), args[2]
            re.compile(args[2])


@pytest.mark.parametrize("context", ["span", "spanevent"])
@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s[:12])
def test_credentials_in_any_string_attribute_are_masked(secret: str, context: str) -> None:
    attrs = {"app.note": f"call failed with key {secret} today", A.LLM_SECURITY_BLOCK_REASON: secret}
    out = apply_transform(mask_proc(), context, attrs)
    for v in out.values():
        assert secret not in v and "[REDACTED" in v


def test_masking_keeps_credential_names_and_leaves_ordinary_values_alone() -> None:
    attrs = {
        "db.conn": "host=db password=hunter2hunter port=5432",
        "http.auth": "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
        A.LLM_SECURITY_INPUT_HASH: "0f" * 32,
        A.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        A.LLM_SECURITY_THREATS: "prompt_injection",
        A.GEN_AI_CONVERSATION_ID: "conv_4f1d2c",
        "note": "the key-value store is fine",
        A.GEN_AI_USAGE_INPUT_TOKENS: 12,
    }
    out = apply_transform(mask_proc(), "span", attrs)
    assert out["db.conn"] == "host=db password=[REDACTED] port=5432"
    assert out["http.auth"] == "Authorization: Bearer [REDACTED]"
    for k in (A.LLM_SECURITY_INPUT_HASH, A.GEN_AI_RESPONSE_MODEL, A.LLM_SECURITY_THREATS, A.GEN_AI_CONVERSATION_ID,
              "note", A.GEN_AI_USAGE_INPUT_TOKENS):
        assert out[k] == attrs[k], k


def test_both_contexts_mask_with_the_same_patterns() -> None:
    blocks = {b["context"]: b["statements"] for b in load(MAIN)["processors"]["transform/mask_secrets"]["trace_statements"]}
    assert blocks["span"] == blocks["spanevent"]


# --- sampling ------------------------------------------------------------------------------------


def policies() -> list[dict[str, Any]]:
    return resolve(load(MAIN), {})["processors"]["tail_sampling"]["policies"]


def test_sampling_conditions_reference_contract_attributes() -> None:
    contract = set(A.CONTRACT_BY_NAME) | {A.ERROR_TYPE}
    keys = set()
    for p in policies():
        if p["type"] == "boolean_attribute":
            keys.add(p["boolean_attribute"]["key"])
        elif p["type"] == "ottl_condition":
            keys |= {re.search(r'attributes\["([^"]+)"\]', c).group(1) for c in p["ottl_condition"]["span"]}  # type: ignore[union-attr]
    assert keys <= contract, keys - contract
    assert {A.LLM_SECURITY_BLOCKED, A.LLM_SECURITY_THREATS, A.ERROR_TYPE} <= keys


@pytest.mark.parametrize(
    ("attrs", "status", "kept"),
    [
        ({A.LLM_SECURITY_BLOCKED: True}, "UNSET", True),
        ({A.LLM_SECURITY_THREATS: ["pii"], A.LLM_SECURITY_BLOCKED: False}, "UNSET", True),
        ({A.LLM_SECURITY_PROVIDER_FILTER_CODE: "content_filter"}, "UNSET", True),
        ({A.LLM_SECURITY_SCANNER_ERRORS: ["secrets"]}, "UNSET", True),
        ({A.ERROR_TYPE: "RateLimitError"}, "UNSET", True),
        ({}, "ERROR", True),
        ({A.LLM_SECURITY_BLOCKED: False, A.LLM_SECURITY_ACTION: "allow"}, "OK", False),
        ({A.GEN_AI_REQUEST_MODEL: "gpt-4o"}, "UNSET", False),
    ],
)
def test_blocked_threat_and_error_spans_are_always_kept(attrs: dict[str, Any], status: str, kept: bool) -> None:
    assert bool(sampled(policies(), attrs, status)) is kept
