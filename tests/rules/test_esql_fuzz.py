"""Property-based: the local ES|QL engine on any query built from its grammar.

Hypothesis writes pipelines (FROM, WHERE, EVAL, STATS ... BY, SORT, LIMIT, KEEP, DROP,
RENAME) of expressions over the store's fields: every supported function with right and
wrong argument types, operators, LIKE/RLIKE/IN/IS NULL, literals with quotes,
backslashes and any characters. Each query must either run or be refused with an
``EsqlEngineError`` or an ``esql.EsqlError`` (Elasticsearch's own kinds of answer: a
parse error, an unknown column, a type mismatch), never another exception: a DuckDB
error or a Python one there is a query the compiler turned into bad SQL. Results must
respect LIMIT. The ``ci`` profile (tests/conftest.py) derandomizes the draws.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("esql", reason="the ES|QL parser (dev extra) needs Python 3.12+")
from esql import EsqlError  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from otel_llm_security.rules.esql.engine import DEFAULT_LIMIT, EsqlEngine, EsqlEngineError  # noqa: E402
from otel_llm_security.store.duckdb_store import DocumentStore  # noqa: E402

from .test_engine import DOCS, NOW  # noqa: E402

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

FIELDS = [
    "labels.user",
    "labels.threats",
    "labels.blocked",
    "numeric_labels.risk",
    "numeric_labels.tokens",
    "span.type",
    "service.name",
    "@timestamp",
    "processor.event",
    "no.such.field",
]
FUNCTIONS: dict[str, tuple[int, int]] = {
    "TO_LOWER": (1, 1), "TO_UPPER": (1, 1), "LENGTH": (1, 1), "CONCAT": (2, 3), "STARTS_WITH": (2, 2),
    "ENDS_WITH": (2, 2), "COALESCE": (1, 3), "CASE": (2, 5), "ABS": (1, 1), "ROUND": (1, 2), "GREATEST": (1, 3),
    "LEAST": (1, 3), "TO_STRING": (1, 1), "TO_DOUBLE": (1, 1), "TO_LONG": (1, 1), "TO_BOOLEAN": (1, 1),
    "TO_DATETIME": (1, 1), "DATE_TRUNC": (2, 2), "MV_COUNT": (1, 1), "MV_CONTAINS": (2, 2), "MV_MIN": (1, 1),
    "MV_MAX": (1, 1), "MV_FIRST": (1, 1), "MV_LAST": (1, 1), "MV_SUM": (1, 1), "MV_AVG": (1, 1),
    "MV_DEDUPE": (1, 1), "MV_SORT": (1, 2), "MV_CONCAT": (2, 2), "NOW": (0, 0),
}
AGGREGATES = ["COUNT", "COUNT_DISTINCT", "MIN", "MAX", "AVG", "SUM", "VALUES"]


def string_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
LITERAL = st.one_of(
    TEXT.map(string_literal),
    st.sampled_from(['"jailbreak"', '"alice"', '"a*"', '"*o*"', '"ali.*"', '"1 hour"', '"asc"', '"desc"',
                     '"2026-03-01T11:00:00Z"', '"true"', '"%_"', "\"\\\\\"", '"\'; DROP TABLE docs; --"']),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(float(f))),
    st.sampled_from(["null", "true", "false", "0", "1", "-1", "1 hour", "5 minutes", "1 day"]),
)
ATOM = st.one_of(st.sampled_from(FIELDS), LITERAL)


def _call(name: str, low: int, high: int, inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(inner, min_size=low, max_size=high).map(lambda args: f"{name}({', '.join(args)})")


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    calls = st.sampled_from(sorted(FUNCTIONS)).flatmap(lambda n: _call(n, *FUNCTIONS[n], inner))
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "AND", "OR"]), inner)
    return st.one_of(
        calls,
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"(NOT {e})"),
        inner.map(lambda e: f"({e} IS NULL)"),
        inner.map(lambda e: f"({e} IS NOT NULL)"),
        st.tuples(inner, st.sampled_from(["LIKE", "NOT LIKE", "RLIKE", "NOT RLIKE"]), TEXT).map(
            lambda t: f"({t[0]} {t[1]} {string_literal(t[2])})"
        ),
        st.tuples(inner, st.lists(inner, min_size=1, max_size=3)).map(lambda t: f"({t[0]} IN ({', '.join(t[1])}))"),
        st.tuples(inner, st.sampled_from(["::string", "::long", "::double", "::boolean", "::datetime"])).map(
            lambda t: f"({t[0]}){t[1]}"
        ),
    )


EXPR = st.recursive(ATOM, _compound, max_leaves=6)
NAME = st.sampled_from(["x", "y", "`odd name`", "labels.user", "n"])


def _command(draw: Any) -> str:
    kind = draw(st.sampled_from(["WHERE", "EVAL", "STATS", "SORT", "LIMIT", "KEEP", "DROP", "RENAME"]))
    if kind == "WHERE":
        return f"WHERE {draw(EXPR)}"
    if kind == "EVAL":
        parts = draw(st.lists(st.tuples(NAME, EXPR), min_size=1, max_size=2))
        return "EVAL " + ", ".join(f"{n} = {e}" for n, e in parts)
    if kind == "STATS":
        aggs = draw(st.lists(st.tuples(NAME, st.one_of(st.just("COUNT(*)"), st.tuples(st.sampled_from(AGGREGATES), EXPR).map(
            lambda t: f"{t[0]}({t[1]})"))), min_size=1, max_size=2))
        text = "STATS " + ", ".join(f"{n} = {agg}" for n, agg in aggs)
        by = draw(st.lists(st.one_of(st.sampled_from(FIELDS), NAME), max_size=2))
        return text + (" BY " + ", ".join(by) if by else "")
    if kind == "SORT":
        keys = draw(st.lists(st.tuples(st.one_of(st.sampled_from(FIELDS), NAME), st.sampled_from(["", " ASC", " DESC"]),
                                       st.sampled_from(["", " NULLS FIRST", " NULLS LAST"])), min_size=1, max_size=2))
        return "SORT " + ", ".join(k + d + n for k, d, n in keys)
    if kind == "LIMIT":
        return f"LIMIT {draw(st.integers(min_value=0, max_value=20))}"
    if kind == "KEEP":
        return "KEEP " + ", ".join(draw(st.lists(st.one_of(st.sampled_from(FIELDS), NAME, st.just("labels.*")), min_size=1, max_size=3)))
    if kind == "DROP":
        return "DROP " + ", ".join(draw(st.lists(st.one_of(st.sampled_from(FIELDS), NAME), min_size=1, max_size=2)))
    old, new = draw(st.one_of(st.sampled_from(FIELDS), NAME)), draw(NAME)
    return f"RENAME {old} AS {new}"


@st.composite
def queries(draw: Any) -> str:
    source = draw(st.sampled_from(["FROM traces-apm*", "FROM traces-apm*,logs-* METADATA _id, _index", "FROM *"]))
    commands = [_command(draw) for _ in range(draw(st.integers(min_value=0, max_value=4)))]
    return " | ".join([source, *commands])


@pytest.fixture(scope="module")
def engine() -> Any:
    store = DocumentStore(None)
    store.write(DOCS)
    yield EsqlEngine(store, now=NOW)
    store.close()


def _limit_of(query: str) -> int:
    """The most rows the query may return: the smallest LIMIT after the last STATS (a
    STATS without BY gives one row even over none: `LIMIT 0 | STATS n = COUNT(*)` is [[0]])."""
    parts = query.split(" | ")
    last_stats = max((i for i, part in enumerate(parts) if part.startswith("STATS ")), default=-1)
    limits = [int(part.split()[1]) for part in parts[last_stats + 1 :] if part.startswith("LIMIT ")]
    return min([DEFAULT_LIMIT, *limits])


@FUZZ
@given(query=queries())
def test_any_query_runs_or_is_refused_with_an_esql_error(engine: EsqlEngine, query: str) -> None:
    try:
        result = engine.execute(query, time_range=(NOW - dt.timedelta(days=30), NOW))
    except (EsqlEngineError, EsqlError) as exc:
        assert str(exc)
        return
    assert len(result.values) <= _limit_of(query)
    assert all(len(row) == len(result.columns) for row in result.values)


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=6,
)


@FUZZ
@given(data=st.data())
def test_the_linter_reports_any_broken_rule_and_never_raises(data: st.DataObject) -> None:
    """A rule file edited by hand: any field of a real rule replaced by anything, or its
    query by any pipeline, is a list of problems (the lint CI step's output), not a crash."""
    from otel_llm_security.rules.lint import lint_rule
    from otel_llm_security.rules.model import Rule, load_rules

    rule = data.draw(st.sampled_from(load_rules()))
    metadata, body = dict(rule.metadata), dict(rule.rule)
    for table in (metadata, body):
        for key in data.draw(st.lists(st.sampled_from(sorted(table)), max_size=3, unique=True)):
            table[key] = data.draw(JSONISH)
    if data.draw(st.booleans()):
        body["query"] = data.draw(st.one_of(queries(), st.text(max_size=40), JSONISH))
    errors = lint_rule(Rule(rule.path, metadata, body))
    assert isinstance(errors, list) and all(isinstance(e, str) and e for e in errors)
