"""An index-template mapping for the label fields the rules read.

APM maps ``labels.*`` (keyword) and ``numeric_labels.*`` (scaled_float) dynamically, on
the first document that carries them, and ES|QL rejects a query that names a field no
matched index maps (``Unknown column``). Mapping the fields our rules read up front, in
the ``traces-apm@custom`` component template, makes the rules run on a fresh cluster.
"""

from __future__ import annotations

from typing import Any

from otel_llm_security.rules.model import Rule

COMPONENT_TEMPLATE = "traces-apm@custom"
# The APM templates' dynamic mapping of numeric_labels.*.
NUMERIC_LABEL_MAPPING = {"type": "scaled_float", "scaling_factor": 1000000}


def label_fields(rules: list[Rule]) -> dict[str, str]:
    """``labels.*`` / ``numeric_labels.*`` fields the rules read → ES type (keyword | double)."""
    from esql import ast

    from otel_llm_security.rules.esql.parser import parse_query
    from otel_llm_security.rules.fields import catalog

    out: dict[str, str] = {}
    for rule in rules:
        names = [n.name for n in parse_query(rule.query) if isinstance(n, ast.ColumnRef)]
        known = catalog(names)
        for name in names:
            if name in known and name.startswith(("labels.", "numeric_labels.")):
                out[name] = known[name].es_type
    return dict(sorted(out.items()))


def component_template(rules: list[Rule]) -> dict[str, Any]:
    """Body of ``PUT _component_template/traces-apm@custom`` mapping every label field the rules read."""
    labels: dict[str, Any] = {}
    numeric: dict[str, Any] = {}
    for name in label_fields(rules):
        prefix, leaf = name.split(".", 1)
        if prefix == "labels":
            labels[leaf] = {"type": "keyword"}
        else:
            numeric[leaf] = dict(NUMERIC_LABEL_MAPPING)
    return {
        "template": {
            "mappings": {
                "properties": {
                    "labels": {"type": "object", "properties": labels},
                    "numeric_labels": {"type": "object", "properties": numeric},
                }
            }
        },
        "_meta": {"description": "otel-llm-security: fields the detection rules read, mapped before first use"},
    }
