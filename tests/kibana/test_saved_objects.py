"""kibana/llm-security.ndjson: loads as saved objects, reads only fields our APM mapping writes."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_llm_security.export.apm_fields import apm_fields

ROOT = Path(__file__).resolve().parents[2]
NDJSON = ROOT / "kibana" / "llm-security.ndjson"
KNOWN_TYPES = {"index-pattern", "lens", "search", "dashboard"}
LENS_VISUALIZATIONS = {"lnsXY", "lnsDatatable", "lnsMetric", "lnsPie"}
KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*:")

# Attribute keys Kibana's saved-object schemas accept per type (they forbid unknown keys):
# dashboard `dashboardAttributesSchema` (dashboard_saved_object/schema/v1), Lens
# `lensItemAttributesSchema`, data view `dataViewAttributesSchema` and saved search
# `savedSearchAttributesSchema` (their content-management schemas), and the keys each requires.
ALLOWED_ATTRIBUTES = {
    "dashboard": {
        "title",
        "description",
        "kibanaSavedObjectMeta",
        "timeRestore",
        "timeFrom",
        "timeTo",
        "refreshInterval",
        "controlGroupInput",
        "panelsJSON",
        "optionsJSON",
        "hits",
        "version",
    },
    "lens": {"title", "description", "visualizationType", "state"},
    "index-pattern": {
        "title",
        "type",
        "timeFieldName",
        "sourceFilters",
        "fields",
        "typeMeta",
        "fieldFormatMap",
        "fieldAttrs",
        "allowNoIndex",
        "runtimeFieldMap",
        "name",
    },
    "search": {
        "title",
        "sort",
        "columns",
        "description",
        "grid",
        "hideChart",
        "isTextBasedQuery",
        "usesAdHocDataView",
        "kibanaSavedObjectMeta",
        "viewMode",
        "hideAggregatedPreview",
        "rowHeight",
        "headerRowHeight",
        "hits",
        "timeRestore",
        "timeRange",
        "refreshInterval",
        "sampleSize",
    },
}
REQUIRED_ATTRIBUTES = {
    "dashboard": {"title"},
    "lens": {"title", "visualizationType"},
    "index-pattern": {"title"},
    "search": {"title", "sort", "columns", "description", "grid", "kibanaSavedObjectMeta"},
}


def load(text: str) -> list[dict[str, Any]]:
    objects = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert objects, "no saved objects"
    return objects


def validate(objects: list[dict[str, Any]]) -> None:
    """What Kibana's import needs of each object, and that every reference resolves in the file."""
    by_key = {(o["type"], o["id"]) for o in objects}
    assert len(by_key) == len(objects), "duplicate type/id"
    for obj in objects:
        assert obj["type"] in KNOWN_TYPES, obj["type"]
        assert isinstance(obj["attributes"], dict) and isinstance(obj["references"], list)
        assert re.fullmatch(r"\d+\.\d+\.\d+", obj["typeMigrationVersion"])
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_key, f"{obj['id']}: dangling reference {ref}"
        names = [r["name"] for r in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['id']}: duplicate reference names"


def lens_fields(obj: dict[str, Any]) -> set[str]:
    state = obj["attributes"]["state"]
    fields: set[str] = set(KQL_FIELD.findall(state["query"]["query"]))
    for layer in state["datasourceStates"]["formBased"]["layers"].values():
        for column in layer["columns"].values():
            if column["sourceField"] != "___records___":
                fields.add(column["sourceField"])
            if "filter" in column:
                fields |= set(KQL_FIELD.findall(column["filter"]["query"]))
    return fields


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return load(NDJSON.read_text())


def of_type(objects: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == type_]


def test_file_is_what_the_builder_writes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "kibana/build_saved_objects.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_objects_load_as_saved_objects_of_known_types(objects):
    validate(objects)
    assert {o["type"] for o in objects} == KNOWN_TYPES
    (view,) = of_type(objects, "index-pattern")
    assert view["attributes"]["title"] == "traces-apm*"
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    formats = json.loads(view["attributes"]["fieldFormatMap"])
    assert formats["trace.id"]["params"]["urlTemplate"] == "/app/apm/link-to/trace/{{value}}"


def test_attributes_pass_kibanas_saved_object_schemas(objects):
    for obj in objects:
        keys = set(obj["attributes"])
        unknown = keys - ALLOWED_ATTRIBUTES[obj["type"]]
        assert not unknown, f"{obj['type']} {obj['id']}: Kibana forbids attributes {unknown}"
        missing = REQUIRED_ATTRIBUTES[obj["type"]] - keys
        assert not missing, f"{obj['type']} {obj['id']}: Kibana requires {missing}"
        for name, value in obj["attributes"].items():
            if name.endswith("JSON"):
                json.loads(value)  # stringified JSON must parse
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            json.loads(meta["searchSourceJSON"])


def test_lens_state_is_consistent(objects):
    for obj in of_type(objects, "lens"):
        attrs = obj["attributes"]
        assert attrs["visualizationType"] in LENS_VISUALIZATIONS
        layers = attrs["state"]["datasourceStates"]["formBased"]["layers"]
        ref_names = {r["name"] for r in obj["references"]}
        for layer_id, layer in layers.items():
            assert f"indexpattern-datasource-layer-{layer_id}" in ref_names
            assert sorted(layer["columnOrder"]) == sorted(layer["columns"])
            bucketed = [layer["columns"][c]["isBucketed"] for c in layer["columnOrder"]]
            assert bucketed == sorted(bucketed, reverse=True), "Lens wants bucket columns before metrics"
            for column in layer["columns"].values():
                assert column["operationType"] in {"date_histogram", "terms", "count", "max", "sum"}
                if column["operationType"] == "terms" and column["params"]["orderBy"]["type"] == "column":
                    assert column["params"]["orderBy"]["columnId"] in layer["columns"]
        vis = attrs["state"]["visualization"]
        columns = {c for layer in layers.values() for c in layer["columns"]}
        if attrs["visualizationType"] == "lnsXY":
            for lyr in vis["layers"]:
                assert lyr["layerId"] in layers
                used = [
                    lyr["xAccessor"],
                    *lyr["accessors"],
                    *([lyr["splitAccessor"]] if "splitAccessor" in lyr else []),
                ]
                assert set(used) <= columns
        elif attrs["visualizationType"] == "lnsDatatable":
            assert {c["columnId"] for c in vis["columns"]} == columns
        elif attrs["visualizationType"] == "lnsMetric":
            assert vis["metricAccessor"] in columns


def test_dashboard_panels_resolve(objects):
    (board,) = of_type(objects, "dashboard")
    assert board["attributes"]["title"] == "LLM security"
    panels = json.loads(board["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in board["references"]}
    titles = set()
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert ref["type"] == panel["type"]
        target = next(o for o in objects if o["id"] == ref["id"])
        titles.add(target["attributes"]["title"])
        grid = panel["gridData"]
        assert grid["x"] + grid["w"] <= 48
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels overlap at {(x, y)}"
                cells.add((x, y))
    # The views the issue asks for.
    assert {
        "LLM calls: blocked vs allowed",
        "LLM threats by category",
        "Top end users by risk score",
        "Token usage by model",
        "Latest blocked LLM calls",
    } <= titles


def test_every_field_a_visualization_reads_is_in_our_apm_mapping(objects):
    mapping = apm_fields()
    read: set[str] = set()
    for obj in of_type(objects, "lens"):
        read |= lens_fields(obj)
    for obj in of_type(objects, "search"):
        read |= set(obj["attributes"]["columns"])
        source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        read |= set(KQL_FIELD.findall(source["query"]["query"]))
        read |= {s[0] for s in obj["attributes"]["sort"]}
    (view,) = of_type(objects, "index-pattern")
    read |= set(json.loads(view["attributes"]["fieldFormatMap"]))
    assert read, "no field read"
    missing = sorted(f for f in read if f not in mapping)
    assert not missing, f"fields not written by the APM mapping: {missing}"
    # Spot-check that the mapping typing matches what each panel does with the field.
    for obj in of_type(objects, "lens"):
        for layer in obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values():
            for column in layer["columns"].values():
                if column["operationType"] in ("sum", "max"):
                    assert mapping[column["sourceField"]] in ("long", "double"), column["sourceField"]
                if column["operationType"] == "terms":
                    assert mapping[column["sourceField"]] == "keyword", column["sourceField"]
                if column["operationType"] == "date_histogram":
                    assert mapping[column["sourceField"]] == "date"


def test_a_field_outside_the_mapping_is_caught(objects):
    broken = json.loads(json.dumps(of_type(objects, "lens")[0]))
    layer = next(iter(broken["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values()))
    next(iter(layer["columns"].values()))["sourceField"] = "labels.llm_security_not_a_field"
    assert "labels.llm_security_not_a_field" in lens_fields(broken)
    assert "labels.llm_security_not_a_field" not in apm_fields()


class _FakeKibana(BaseHTTPRequestHandler):
    """Checks the import request the way Kibana's API documents it."""

    received: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        problems = []
        if not self.path.startswith("/s/security/api/saved_objects/_import?"):
            problems.append(f"path {self.path}")
        if "overwrite=true" not in self.path:
            problems.append("overwrite not set")
        if self.headers.get("kbn-xsrf") is None:
            problems.append("kbn-xsrf header missing")
        if self.headers.get("Authorization") != "ApiKey test-key":
            problems.append(f"auth {self.headers.get('Authorization')}")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        files = [
            p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "file"
        ]
        if len(files) != 1:
            problems.append("no multipart 'file' field")
            objects: list[dict[str, Any]] = []
        else:
            objects = load(files[0].get_payload(decode=True).decode())
            validate(objects)
        self.received.append({"problems": problems, "objects": objects})
        answer = (
            {"success": True, "successCount": len(objects)}
            if not problems
            else {"statusCode": 400, "error": "Bad Request", "message": "; ".join(problems)}
        )
        data = json.dumps(answer, separators=(",", ":")).encode()
        self.send_response(200 if not problems else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_import_script_posts_the_file_to_the_import_api(objects):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeKibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            **os.environ,
            "KIBANA_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "KIBANA_API_KEY": "test-key",
            "KIBANA_SPACE": "security",
        }
        result = subprocess.run(
            ["sh", str(ROOT / "kibana/import.sh")], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    assert _FakeKibana.received, result.stderr
    assert _FakeKibana.received[-1]["problems"] == []
    assert len(_FakeKibana.received[-1]["objects"]) == len(objects)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"successCount":{len(objects)}' in result.stdout


def test_import_script_fails_when_kibana_refuses():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeKibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIBANA_", "ELASTIC_"))}
        env["KIBANA_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
        result = subprocess.run(
            ["sh", str(ROOT / "kibana/import.sh")], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    problems = _FakeKibana.received[-1]["problems"]
    assert "HTTP 400" in result.stderr
    assert any(p.startswith("auth") for p in problems)  # refused for the missing credentials only
    assert not any("kbn-xsrf" in p or "multipart" in p for p in problems)
