"""`rules mapping`: the component template maps every label field the rules read, as APM would."""

from __future__ import annotations

import json

from otel_llm_security.cli.main import main
from otel_llm_security.rules.mapping import component_template, label_fields
from otel_llm_security.rules.model import RULES_DIR, load_rules


def test_every_label_field_read_by_a_rule_is_mapped(capsys):
    rules = load_rules()
    fields = label_fields(rules)
    assert fields["labels.llm_security_threats"] == "keyword"
    assert fields["numeric_labels.llm_security_risk_score"] == "double"
    assert "numeric_labels.llm_security_output_secrets_score" in fields  # a per-scanner pattern field
    assert not any(name.startswith("Esql.") for name in fields)
    assert main(["rules", "mapping", str(RULES_DIR)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body == component_template(rules)
    props = body["template"]["mappings"]["properties"]
    for name, es_type in fields.items():
        prefix, leaf = name.split(".", 1)
        mapped = props[prefix]["properties"][leaf]
        expected = {"type": "keyword"} if es_type == "keyword" else {"type": "scaled_float", "scaling_factor": 1000000}
        assert mapped == expected, name
