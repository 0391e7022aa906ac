"""Builds kibana/llm-security.ndjson: the data view and "LLM security" dashboard.

    python kibana/build_saved_objects.py           # rewrite the ndjson
    python kibana/build_saved_objects.py --check   # exit 1 if the file is stale

Field names come from the attribute contract through the APM mapping
(``otel_llm_security.export.apm_fields``), so a renamed attribute cannot leave a
panel reading a field that no longer exists; tests/kibana checks the written file.

Objects are saved-object export format for Kibana 8.11+ and 9.x: Lens panels by
reference, Lens ``formBased`` datasource, ``typeMigrationVersion`` of the 8.x exports
(Kibana migrates them forward on import).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_fields import contract_field

OUT = Path(__file__).with_name("llm-security.ndjson")
NAMESPACE = uuid.UUID("6c1c6f4e-3d0e-4f39-9a7e-0d5c2a1f7b10")
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {"index-pattern": "8.0.0", "lens": "8.9.0", "search": "7.9.3", "dashboard": "8.9.0"}
PANEL_VERSION = "8.11.0"


def field(attribute: str) -> str:
    return contract_field(attribute).field


BLOCKED = field(A.LLM_SECURITY_BLOCKED)
ACTION = field(A.LLM_SECURITY_ACTION)
THREATS = field(A.LLM_SECURITY_THREATS)
RISK = field(A.LLM_SECURITY_RISK_SCORE)
USER = field(A.ENDUSER_PSEUDO_ID)
MODEL = field(A.GEN_AI_REQUEST_MODEL)
INPUT_TOKENS = field(A.GEN_AI_USAGE_INPUT_TOKENS)
OUTPUT_TOKENS = field(A.GEN_AI_USAGE_OUTPUT_TOKENS)
BLOCK_REASON = field(A.LLM_SECURITY_BLOCK_REASON)
FILTER_CODE = field(A.LLM_SECURITY_PROVIDER_FILTER_CODE)
SESSION = field(A.SESSION_ID)

# Every LLM call carries the security mode; select calls by attribute, never by
# processor.event (a call without a parent span is a transaction, not a span).
LLM_CALLS_KQL = f"{field(A.LLM_SECURITY_MODE)} : *"
INDEX_TITLE = "traces-apm*"


def sid(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


DATA_VIEW_ID = sid("data-view:traces-apm")


def saved_object(
    type_: str, name: str, attributes: dict[str, Any], references: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "attributes": attributes,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "id": sid(f"{type_}:{name}"),
        "managed": False,
        "references": references,
        "type": type_,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[type_],
    }


def data_view() -> dict[str, Any]:
    formats = {
        # Each trace id in Discover and in the saved search opens the trace in the APM app.
        "trace.id": {
            "id": "url",
            "params": {"urlTemplate": "/app/apm/link-to/trace/{{value}}", "labelTemplate": "{{value}}"},
        },
        RISK: {"id": "number", "params": {"pattern": "0.00"}},
    }
    obj = saved_object(
        "index-pattern",
        "traces-apm",
        {
            "title": INDEX_TITLE,
            "name": "APM traces (LLM security)",
            "timeFieldName": "@timestamp",
            "fieldFormatMap": json.dumps(formats, sort_keys=True),
            "fieldAttrs": "{}",
            "fields": "[]",
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "typeMeta": "{}",
            "allowNoIndex": True,
        },
        [],
    )
    obj["id"] = DATA_VIEW_ID
    return obj


# --- Lens columns ---------------------------------------------------------------


def col_date(label: str = "@timestamp") -> dict[str, Any]:
    return {
        "label": label,
        "dataType": "date",
        "operationType": "date_histogram",
        "sourceField": "@timestamp",
        "isBucketed": True,
        "scale": "interval",
        "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
    }


def col_terms(source: str, label: str, size: int, order_by: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "string",
        "operationType": "terms",
        "sourceField": source,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": size,
            "orderBy": order_by,
            "orderDirection": "desc",
            "otherBucket": False,
            "missingBucket": False,
            "parentFormat": {"id": "terms"},
        },
    }


def col_count(label: str) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "number",
        "operationType": "count",
        "sourceField": "___records___",
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }


def col_metric(operation: str, source: str, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "number",
        "operationType": operation,
        "sourceField": source,
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }


def lens(
    name: str,
    title: str,
    description: str,
    visualization_type: str,
    columns: dict[str, dict[str, Any]],
    visualization: dict[str, Any],
    kql: str = LLM_CALLS_KQL,
) -> dict[str, Any]:
    layer = sid(f"layer:{name}")
    state = {
        "datasourceStates": {
            "formBased": {
                "layers": {
                    layer: {
                        "columns": columns,
                        "columnOrder": list(columns),
                        "incompleteColumns": {},
                        "sampling": 1,
                    }
                }
            }
        },
        "visualization": {**visualization, "layerId": layer}
        if "layers" not in visualization
        else visualization,
        "query": {"language": "kuery", "query": kql},
        "filters": [],
        "internalReferences": [],
        "adHocDataViews": {},
    }
    if "layers" in visualization:
        for lyr in state["visualization"]["layers"]:
            lyr["layerId"] = layer
    return saved_object(
        "lens",
        name,
        {"title": title, "description": description, "visualizationType": visualization_type, "state": state},
        [
            {
                "type": "index-pattern",
                "id": DATA_VIEW_ID,
                "name": "indexpattern-datasource-current-indexpattern",
            },
            {"type": "index-pattern", "id": DATA_VIEW_ID, "name": f"indexpattern-datasource-layer-{layer}"},
        ],
    )


def xy(series: str, x: str, accessors: list[str], split: str | None = None) -> dict[str, Any]:
    layer: dict[str, Any] = {
        "layerType": "data",
        "seriesType": series,
        "xAccessor": x,
        "accessors": accessors,
        "palette": {"type": "palette", "name": "default"},
    }
    if split:
        layer["splitAccessor"] = split
    return {
        "legend": {"isVisible": True, "position": "right"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "preferredSeriesType": series,
        "axisTitlesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "layers": [layer],
    }


def blocked_vs_allowed() -> dict[str, Any]:
    cols = {
        "time": col_date(),
        "outcome": col_terms(BLOCKED, "Blocked", 3, {"type": "alphabetical", "fallback": False}),
        "calls": col_count("LLM calls"),
    }
    return lens(
        "blocked-vs-allowed",
        "LLM calls: blocked vs allowed",
        f'LLM calls over time split by {BLOCKED} ("true" = blocked by the guard or refused by the provider).',
        "lnsXY",
        cols,
        xy("bar_stacked", "time", ["calls"], "outcome"),
    )


def threats_by_category() -> dict[str, Any]:
    cols = {
        "threat": col_terms(THREATS, "Threat", 12, {"type": "column", "columnId": "calls"}),
        "calls": col_count("Calls with this threat"),
    }
    return lens(
        "threats-by-category",
        "LLM threats by category",
        "Calls per threat category (a call with several threats counts once in each).",
        "lnsXY",
        cols,
        xy("bar_horizontal", "threat", ["calls"]),
        kql=f"{THREATS} : *",
    )


def top_users_by_risk() -> dict[str, Any]:
    cols = {
        "user": col_terms(USER, "End user (pseudonymous id)", 10, {"type": "column", "columnId": "risk"}),
        "risk": col_metric("max", RISK, "Highest risk score"),
        "flagged": {**col_count("Calls"), "filter": {"language": "kuery", "query": f"{THREATS} : *"}},
        "blocked": {
            **col_count("Blocked calls"),
            "filter": {"language": "kuery", "query": f'{BLOCKED} : "true"'},
        },
    }
    cols["flagged"]["label"] = "Flagged calls"
    visualization = {
        "layerType": "data",
        "columns": [{"columnId": c, "isTransposed": False} for c in cols],
        "sorting": {"columnId": "risk", "direction": "desc"},
    }
    return lens(
        "top-users-by-risk",
        "Top end users by risk score",
        f"End users ({USER}, an HMAC of the user id) ranked by their highest risk score.",
        "lnsDatatable",
        cols,
        visualization,
    )


def token_usage_by_model() -> dict[str, Any]:
    cols = {
        "model": col_terms(MODEL, "Model", 10, {"type": "column", "columnId": "input"}),
        "input": col_metric("sum", INPUT_TOKENS, "Input tokens"),
        "output": col_metric("sum", OUTPUT_TOKENS, "Output tokens"),
    }
    return lens(
        "token-usage-by-model",
        "Token usage by model",
        "Input and output tokens per requested model (estimated counts included).",
        "lnsXY",
        cols,
        xy("bar_stacked", "model", ["input", "output"]),
    )


def blocked_calls_metric() -> dict[str, Any]:
    cols = {
        "blocked": {
            **col_count("Blocked LLM calls"),
            "filter": {"language": "kuery", "query": f'{BLOCKED} : "true"'},
        }
    }
    return lens(
        "blocked-calls-metric",
        "Blocked LLM calls",
        "Calls the guard blocked or the provider refused.",
        "lnsMetric",
        cols,
        {"layerType": "data", "metricAccessor": "blocked"},
    )


def latest_blocked_calls() -> dict[str, Any]:
    search_source = {
        "query": {"language": "kuery", "query": f'{BLOCKED} : "true"'},
        "filter": [],
        "highlightAll": True,
        "version": True,
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    return saved_object(
        "search",
        "latest-blocked-calls",
        {
            "title": "Latest blocked LLM calls",
            "description": "Blocked or provider-refused calls, newest first; trace.id links to the trace in APM.",
            "columns": ["service.name", USER, SESSION, MODEL, BLOCK_REASON, THREATS, FILTER_CODE, "trace.id"],
            "sort": [["@timestamp", "desc"]],
            "grid": {},
            "hideChart": True,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search_source, sort_keys=True)},
        },
        [
            {
                "type": "index-pattern",
                "id": DATA_VIEW_ID,
                "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            }
        ],
    )


def dashboard(panels: list[tuple[dict[str, Any], dict[str, int]]]) -> dict[str, Any]:
    panels_json: list[dict[str, Any]] = []
    references: list[dict[str, str]] = []
    for i, (obj, grid) in enumerate(panels):
        index = str(i + 1)
        ref = f"panel_{index}"
        panels_json.append(
            {
                "version": PANEL_VERSION,
                "type": obj["type"],
                "gridData": {**grid, "i": index},
                "panelIndex": index,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": ref,
            }
        )
        references.append({"type": obj["type"], "id": obj["id"], "name": f"{index}:{ref}"})
    return saved_object(
        "dashboard",
        "llm-security",
        {
            "title": "LLM security",
            "description": "Security view of every instrumented LLM call (otel-llm-security): blocks, threats, risky users, tokens.",
            "panelsJSON": json.dumps(panels_json, sort_keys=True),
            "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-24h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "version": 1,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps({"query": {"language": "kuery", "query": ""}, "filter": []})
            },
        },
        references,
    )


def build() -> list[dict[str, Any]]:
    metric = blocked_calls_metric()
    timeline = blocked_vs_allowed()
    threats = threats_by_category()
    users = top_users_by_risk()
    tokens = token_usage_by_model()
    latest = latest_blocked_calls()
    board = dashboard(
        [
            (metric, {"x": 0, "y": 0, "w": 12, "h": 12}),
            (timeline, {"x": 12, "y": 0, "w": 36, "h": 12}),
            (threats, {"x": 0, "y": 12, "w": 24, "h": 14}),
            (users, {"x": 24, "y": 12, "w": 24, "h": 14}),
            (tokens, {"x": 0, "y": 26, "w": 20, "h": 14}),
            (latest, {"x": 20, "y": 26, "w": 28, "h": 14}),
        ]
    )
    return [data_view(), metric, timeline, threats, users, tokens, latest, board]


def render() -> str:
    return "".join(json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n" for obj in build())


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python kibana/build_saved_objects.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(build())} saved objects)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
