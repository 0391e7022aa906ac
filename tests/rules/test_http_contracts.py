"""`rules deploy` against a local Kibana stand-in and `hunt` against a local Elasticsearch stand-in.

The servers check what Kibana's detection engine API and Elasticsearch's ES|QL API
document: method, path, query parameters, auth and xsrf headers, multipart ndjson
body, and answer in their documented response shapes.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from otel_llm_security.cli.main import main
from otel_llm_security.rules.kibana import DeployError, deploy, export_ndjson, to_kibana
from otel_llm_security.rules.model import RULES_DIR, load_rules

API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
REQUIRED = {"rule_id", "name", "description", "risk_score", "severity", "type", "language", "query", "from",
            "interval", "tags", "note", "false_positives", "to", "enabled", "version"}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.existing: set[str] = set()
        self.reject: set[str] = set()


def _serve(handler_cls: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def kibana_handler(rec: Recorder) -> type[BaseHTTPRequestHandler]:
    class Kibana(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _auth_ok(self) -> bool:
            if self.headers.get("Authorization") != f"ApiKey {API_KEY}":
                self._json(401, {"statusCode": 401, "error": "Unauthorized", "message": "unable to authenticate"})
                return False
            return True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            rec.requests.append({"method": "GET", "path": url.path, "query": parse_qs(url.query)})
            if not self._auth_ok():
                return
            if url.path != "/api/detection_engine/rules":
                self._json(404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})
                return
            rule_id = parse_qs(url.query)["rule_id"][0]
            if rule_id in rec.existing:
                self._json(200, {"rule_id": rule_id, "id": "x"})
            else:
                self._json(404, {"status_code": 404, "message": f'rule_id: "{rule_id}" not found'})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            rec.requests.append({"method": "POST", "path": url.path, "query": parse_qs(url.query),
                                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body": raw})
            if not self._auth_ok():
                return
            if self.headers.get("kbn-xsrf") is None:
                self._json(400, {"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."})
                return
            if url.path != "/api/detection_engine/rules/_import":
                self._json(404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})
                return
            ctype = self.headers.get("Content-Type", "")
            assert ctype.startswith("multipart/form-data; boundary=")
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
            )
            parts = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
            assert len(parts) == 1
            assert parts[0].get_filename().endswith(".ndjson")
            lines = [json.loads(line) for line in parts[0].get_payload(decode=True).decode().splitlines() if line]
            overwrite = parse_qs(url.query).get("overwrite", ["false"])[0] == "true"
            errors = []
            for rule in lines:
                missing = REQUIRED - set(rule)
                if missing:
                    errors.append({"rule_id": rule.get("rule_id"), "error": {"status_code": 400,
                                   "message": f"missing {sorted(missing)}"}})
                elif rule["rule_id"] in rec.reject:
                    errors.append({"rule_id": rule["rule_id"], "error": {"status_code": 400,
                                   "message": "[esql] query is invalid"}})
                elif rule["rule_id"] in rec.existing and not overwrite:
                    errors.append({"rule_id": rule["rule_id"], "error": {"status_code": 409,
                                   "message": f'rule_id: "{rule["rule_id"]}" already exists'}})
                else:
                    rec.existing.add(rule["rule_id"])
            self._json(200, {
                "success": not errors, "success_count": len(lines) - len(errors), "rules_count": len(lines),
                "errors": errors, "exceptions_success": True, "exceptions_success_count": 0,
                "exceptions_errors": [], "action_connectors_success": True,
                "action_connectors_success_count": 0, "action_connectors_errors": [],
                "action_connectors_warnings": [],
            })

    return Kibana


@pytest.fixture
def kibana() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    for url in _serve(kibana_handler(rec)):
        yield url, rec


RULES = load_rules()


def test_export_is_kibana_import_ndjson():
    text = export_ndjson(RULES)
    lines = text.splitlines()
    assert len(lines) == len(RULES)
    for line, rule in zip(lines, RULES, strict=True):
        obj = json.loads(line)
        assert set(obj) >= REQUIRED
        assert obj["rule_id"] == rule.rule_id and obj["type"] == "esql" and obj["enabled"] is False
        assert obj["query"] == rule.query
        assert all(t["framework"] == "MITRE ATLAS" and t["technique"] for t in obj["threat"])
    assert to_kibana(RULES[0], enabled=True)["enabled"] is True


def test_deploy_creates_then_updates_with_overwrite(kibana):
    url, rec = kibana
    report = deploy(RULES, url, api_key=API_KEY, overwrite=False)
    assert sorted(report.created) == sorted(r.name for r in RULES) and not report.updated and report.ok
    post = next(r for r in rec.requests if r["method"] == "POST")
    assert post["path"] == "/api/detection_engine/rules/_import"
    assert post["query"] == {"overwrite": ["false"]}
    assert post["headers"]["kbn-xsrf"] == "true"
    report = deploy(RULES[:2], url, api_key=API_KEY, overwrite=True)
    assert sorted(report.updated) == sorted(r.name for r in RULES[:2]) and not report.created and report.ok


def test_deploy_reports_conflicts_and_rejections(kibana):
    url, rec = kibana
    rec.existing.add(RULES[0].rule_id)
    rec.reject.add(RULES[1].rule_id)
    report = deploy(RULES[:3], url, api_key=API_KEY)
    assert report.created == [RULES[2].name]
    failed = dict(report.failed)
    assert "409" in failed[f"{RULES[0].name} ({RULES[0].rule_id})"]
    assert "[esql] query is invalid" in failed[f"{RULES[1].name} ({RULES[1].rule_id})"]


def test_deploy_into_a_space_uses_the_space_path(kibana):
    url, rec = kibana
    with pytest.raises(DeployError, match="404"):
        deploy(RULES[:1], url, api_key=API_KEY, space="security")
    assert rec.requests[0]["path"] == "/s/security/api/detection_engine/rules"


def test_deploy_with_a_wrong_key_fails_clearly(kibana):
    url, _ = kibana
    with pytest.raises(DeployError, match="401"):
        deploy(RULES[:1], url, api_key="wrong")


def test_cli_deploy_report(kibana, capsys, monkeypatch):
    url, rec = kibana
    rec.existing.add(RULES[0].rule_id)
    monkeypatch.setenv("KIBANA_API_KEY", API_KEY)
    assert main(["rules", "deploy", str(RULES_DIR), "--kibana-url", url, "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert f"updated  {RULES[0].name}" in out
    assert f"{len(RULES) - 1} created, 1 updated, 0 failed" in out
    assert main(["rules", "deploy", str(RULES_DIR), "--kibana-url", url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report["failed"]) == len(RULES) and "already exists" in report["failed"][0]["error"]


# --- Elasticsearch POST /_query ---------------------------------------------------------------

ES_ANSWER = {
    "took": 3,
    "columns": [{"name": "labels.enduser_pseudo_id", "type": "keyword"}, {"name": "Esql.attempt_count", "type": "long"}],
    "values": [["u-1", 3]],
}


def es_handler(rec: Recorder) -> type[BaseHTTPRequestHandler]:
    class Elasticsearch(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=9")
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            rec.requests.append({"path": url.path, "query": parse_qs(url.query),
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
            if self.headers.get("Authorization") != f"ApiKey {API_KEY}":
                self._json(401, {"error": {"type": "security_exception", "reason": "missing authentication"},
                                 "status": 401})
                return
            if url.path != "/_query" or "query" not in body:
                self._json(400, {"error": {"type": "parsing_exception", "reason": "bad request"}, "status": 400})
                return
            if "nope" in body["query"]:
                self._json(400, {"error": {"type": "verification_exception",
                                           "reason": "Found 1 problem\nline 1:1: Unknown column [nope]"}, "status": 400})
                return
            self._json(200, ES_ANSWER)

    return Elasticsearch


@pytest.fixture
def elasticsearch() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    for url in _serve(es_handler(rec)):
        yield url, rec


def test_hunt_rule_on_elasticsearch(elasticsearch, capsys):
    url, rec = elasticsearch
    rule = next(r for r in RULES if r.path.stem == "llm_prompt_injection_repeated_by_user")
    code = main(["hunt", "--rule", rule.path.stem, "--rules-dir", str(RULES_DIR), "--es-url", url,
                 "--api-key", API_KEY, "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"columns": ES_ANSWER["columns"], "values": ES_ANSWER["values"]}
    req = rec.requests[0]
    assert req["path"] == "/_query" and req["query"] == {"format": ["json"]}
    assert req["headers"]["content-type"].startswith("application/vnd.elasticsearch+json")
    assert req["body"]["query"] == rule.query
    assert req["body"]["filter"] == {"range": {"@timestamp": {"gte": "now-86400s", "lte": "now"}}}


def test_hunt_query_table_and_errors(elasticsearch, capsys):
    url, rec = elasticsearch
    assert main(["hunt", "FROM traces-apm* | LIMIT 1", "--es-url", url, "--api-key", API_KEY]) == 0
    out = capsys.readouterr().out
    assert "u-1" in out and "Esql.attempt_count" in out and "1 row(s)" in out
    assert "filter" not in rec.requests[0]["body"]
    assert main(["hunt", "FROM traces-apm* | KEEP nope", "--es-url", url, "--api-key", API_KEY]) == 1
    assert "Unknown column [nope]" in capsys.readouterr().err
    assert main(["hunt", "FROM traces-apm*", "--es-url", url, "--api-key", "bad"]) == 1
    assert "401" in capsys.readouterr().err
