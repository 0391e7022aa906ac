"""Renders :class:`~otel_llm_security.report.data.ReportData` as one self-contained HTML file.

The page carries its data as JSON and a small script that draws SVG charts: no
network access, no external asset, viewable offline. A Content-Security-Policy allows
only that one script (by hash), so nothing injected through telemetry values can run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources
from pathlib import Path

from otel_llm_security.report.data import ReportData

_PLACEHOLDER = re.compile(r"__(SCRIPT_HASH|TITLE|GENERATED|DATA|SCRIPT)__")


def _asset(name: str) -> str:
    return resources.files("otel_llm_security.report").joinpath(name).read_text(encoding="utf-8")


def _json_for_script(value: object) -> str:
    # Inside <script> only "</script" and "<!--" can end or confuse the element; escaping
    # <, > and & as JSON unicode escapes rules both out while JSON.parse reads the same data.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(data: ReportData) -> str:
    script = _asset("charts.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    values = {
        "SCRIPT_HASH": digest,
        "TITLE": html.escape(data.title),
        "GENERATED": html.escape(data.generated_at.isoformat(timespec="seconds")),
        "DATA": _json_for_script(data.payload()),
        "SCRIPT": script,
    }
    # One pass over the template, so a placeholder-like string inside the data stays as is.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("template.html"))


def write_report(data: ReportData, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    return out
