"""Run a rule or an ad-hoc ES|QL query on Elasticsearch (``POST /_query``) or on the local store."""

from __future__ import annotations

import datetime as dt
from typing import Any

from otel_llm_security.rules.esql.engine import Column, EsqlEngine, EsqlResult
from otel_llm_security.rules.model import Rule


def engine_for(store: Any, now: dt.datetime | None = None, query: str = "") -> EsqlEngine:
    """A local engine whose FROM also sees every field of our APM mapping, like an index template maps them."""
    from esql import ast

    from otel_llm_security.rules.esql.parser import parse_query
    from otel_llm_security.rules.fields import catalog

    referenced = [n.name for n in parse_query(query) if isinstance(n, ast.ColumnRef)] if query else []
    return EsqlEngine(store, now=now, mapped_fields=catalog(referenced))


def run_rule_local(rule: Rule, store: Any, now: dt.datetime | None = None) -> EsqlResult:
    """One execution of the rule at ``now``: its query over @timestamp in [now - from, now], as Kibana runs it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return engine_for(store, now, rule.query).execute(rule.query, time_range=rule.time_range(now))


def run_query_local(query: str, store: Any, now: dt.datetime | None = None) -> EsqlResult:
    return engine_for(store, now, query).execute(query)


def run_on_elasticsearch(
    query: str,
    es_url: str,
    *,
    api_key: str | None = None,
    lookback: dt.timedelta | None = None,
    verify_certs: bool = True,
    request_timeout: float = 60.0,
) -> EsqlResult:
    """``POST /_query`` through the official client; ``lookback`` adds the rule's @timestamp range as a filter."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url, api_key=api_key, verify_certs=verify_certs, request_timeout=request_timeout)
    kwargs: dict[str, Any] = {"query": query, "format": "json"}
    if lookback is not None:
        seconds = int(lookback.total_seconds())
        kwargs["filter"] = {"range": {"@timestamp": {"gte": f"now-{seconds}s", "lte": "now"}}}
    try:
        body = client.esql.query(**kwargs).body
    finally:
        client.close()
    columns = [Column(c["name"], c["type"]) for c in body.get("columns", [])]
    return EsqlResult(columns=columns, values=[list(v) for v in body.get("values", [])])
