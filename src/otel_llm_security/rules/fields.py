"""The fields our rules may read: the APM mapping of our record, from the export stage's catalog."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from otel_llm_security import attributes as A
from otel_llm_security.export.apm_fields import apm_fields, contract_fields, pattern_regex

METADATA_FIELDS = {"_id": "keyword", "_index": "keyword", "_version": "long"}


@dataclass(frozen=True)
class MappedField:
    name: str
    es_type: str
    multi: bool = False


def _multi_fields() -> set[str]:
    out = set()
    for cf in contract_fields():
        if A.CONTRACT_BY_NAME[cf.attribute].type == "string[]":
            out.add(cf.field)
    return out


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    return [(pattern_regex(cf.field), cf.es_type) for cf in contract_fields() if cf.pattern]


def catalog(referenced: Iterable[str] = ()) -> dict[str, MappedField]:
    """Every concrete APM field of our record → its type and whether it is multi-valued.

    Pattern fields (``numeric_labels.llm_security_output_<scanner>_score``) are only
    listed for the concrete names given in ``referenced`` that match them.
    """
    multi = _multi_fields()
    out = {
        name: MappedField(name, es_type, name in multi)
        for name, es_type in apm_fields().items()
        if "<" not in name
    }
    patterns = _patterns()
    for name in referenced:
        if name in out:
            continue
        for rx, es_type in patterns:
            if rx.match(name):
                out[name] = MappedField(name, es_type)
                break
    return out


def multi_valued_fields() -> frozenset[str]:
    return frozenset(_multi_fields())
