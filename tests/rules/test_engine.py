"""The local ES|QL engine on hand-written APM documents in a real DocumentStore."""

from __future__ import annotations

import datetime as dt

import pytest

from otel_llm_security.export.documents import ApmDocument
from otel_llm_security.rules.esql.engine import (
    EsqlEngine,
    EsqlEngineError,
    EsqlUnsupportedError,
    like_to_sql,
)
from otel_llm_security.store.duckdb_store import DocumentStore

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def ts(minutes_ago: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def doc(i: int, minutes_ago: float, index: str = "traces-apm-default", **fields: object) -> ApmDocument:
    source: dict = {"@timestamp": ts(minutes_ago), "processor": {"event": "span"}}
    labels = {k: v for k, v in fields.items() if not k.startswith("n_") and k not in ("span_type", "service")}
    numeric = {k[2:]: v for k, v in fields.items() if k.startswith("n_")}
    if labels:
        source["labels"] = labels
    if numeric:
        source["numeric_labels"] = numeric
    if "span_type" in fields:
        source["span"] = {"type": fields["span_type"]}
    if "service" in fields:
        source["service"] = {"name": fields["service"]}
    return ApmDocument(index=index, id=f"d{i}", source=source)


DOCS = [
    doc(1, 5, user="alice", threats=["jailbreak", "pii"], blocked="true", n_risk=0.9, span_type="genai", service="chat"),
    doc(2, 50, user="alice", threats=["jailbreak"], blocked="false", n_risk=0.5, span_type="genai", service="chat"),
    doc(3, 300, user="Bob", blocked="false", span_type="genai", service="chat", n_tokens=100),
    doc(4, 1, index="logs-apm.app.chat-default", user="carol", threats=["x"], blocked="true"),
    doc(5, 20, user="bob", threats=["prompt_injection"], n_risk=0.2, n_tokens=40, service="batch"),
    doc(6, 2000, user="dave", n_tokens=7, service="batch"),
]


@pytest.fixture(scope="module")
def store():
    s = DocumentStore(None)
    s.write(DOCS)
    yield s
    s.close()


@pytest.fixture(scope="module")
def engine(store):
    return EsqlEngine(store, now=NOW)


def rows(engine, query: str) -> list[dict]:
    return engine.execute(query).to_dicts()


def test_store_shape_is_what_the_engine_expects(store):
    fields = store.fields()
    assert fields["labels.threats"].multi is True
    assert fields["labels.user"].multi is False
    assert fields["numeric_labels.risk"].es_type == "double"


def test_from_matches_index_patterns_and_metadata(engine):
    out = rows(engine, "FROM traces-apm* METADATA _id, _index | KEEP _id, _index | SORT _id")
    assert [r["_id"] for r in out] == ["d1", "d2", "d3", "d5", "d6"]
    assert {r["_index"] for r in out} == {"traces-apm-default"}
    assert len(rows(engine, "FROM logs-*,traces-apm* | KEEP labels.user")) == 6
    assert len(rows(engine, "FROM *,-logs-* | KEEP labels.user")) == 5
    with pytest.raises(EsqlEngineError, match=r"Unknown column \[_id\]"):
        engine.execute("FROM traces-apm* | KEEP _id")


def test_metadata_version_is_one(engine):
    out = rows(engine, "FROM traces-apm* METADATA _id, _version | WHERE _id == \"d1\" | KEEP _version")
    assert out == [{"_version": 1}]


def test_like_is_case_sensitive_with_star_and_question_mark(engine):
    q = 'FROM traces-apm* | WHERE labels.user LIKE "{}" | KEEP labels.user | SORT labels.user'
    assert [r["labels.user"] for r in rows(engine, q.format("b*"))] == ["bob"]
    assert [r["labels.user"] for r in rows(engine, q.format("?ob"))] == ["Bob", "bob"]
    assert rows(engine, q.format("?o")) == []
    out = rows(engine, 'FROM traces-apm* | WHERE labels.user NOT LIKE "*o*" | KEEP labels.user | SORT labels.user')
    assert [r["labels.user"] for r in out] == ["alice", "alice", "dave"]


def test_like_translation_escapes_sql_wildcards():
    assert like_to_sql("50%_off*") == "50\\%\\_off%"
    assert like_to_sql("a\\*b?") == "a*b_"


def test_rlike_is_anchored(engine):
    q = 'FROM traces-apm* | WHERE labels.user RLIKE "{}" | KEEP labels.user | SORT labels.user'
    assert rows(engine, q.format("ali")) == []
    assert [r["labels.user"] for r in rows(engine, q.format("ali.*"))] == ["alice", "alice"]
    assert [r["labels.user"] for r in rows(engine, q.format("[bB]o(b|x)"))] == ["Bob", "bob"]


def test_rlike_refuses_lucene_only_syntax(engine):
    with pytest.raises(EsqlUnsupportedError, match="Lucene"):
        engine.execute('FROM traces-apm* | WHERE labels.user RLIKE "<1-5>" | KEEP labels.user')
    with pytest.raises(EsqlUnsupportedError, match="escape"):
        engine.execute('FROM traces-apm* | WHERE labels.user RLIKE """\\d+""" | KEEP labels.user')


def test_multi_valued_field_is_null_in_scalar_context(engine):
    # d1 holds two threats: == yields null, not a match, and != is null too.
    out = rows(engine, 'FROM traces-apm* METADATA _id | WHERE labels.threats == "jailbreak" | KEEP _id')
    assert out == [{"_id": "d2"}]
    out = rows(engine, 'FROM traces-apm* METADATA _id | WHERE labels.threats != "zzz" | KEEP _id | SORT _id')
    assert [r["_id"] for r in out] == ["d2", "d5"]


def test_mv_contains_and_mv_functions(engine):
    out = rows(
        engine,
        'FROM traces-apm* METADATA _id | WHERE MV_CONTAINS(labels.threats, "jailbreak") '
        "| EVAL n = MV_COUNT(labels.threats), f = MV_MIN(labels.threats), c = MV_CONCAT(labels.threats, \"+\") "
        "| KEEP _id, n, f, c | SORT _id",
    )
    assert out == [
        {"_id": "d1", "n": 2, "f": "jailbreak", "c": "jailbreak+pii"},
        {"_id": "d2", "n": 1, "f": "jailbreak", "c": "jailbreak"},
    ]
    # null is an empty set: contains nothing, and contains the empty set
    out = rows(engine, 'FROM traces-apm* METADATA _id | WHERE NOT MV_CONTAINS(labels.threats, "pii") | KEEP _id | SORT _id')
    assert [r["_id"] for r in out] == ["d2", "d3", "d5", "d6"]


def test_three_valued_logic(engine):
    # d3/d6 have no risk: risk > 0.4 is null, NOT null is null, null OR true is true.
    q = "FROM traces-apm* METADATA _id | WHERE {} | KEEP _id | SORT _id"
    assert [r["_id"] for r in rows(engine, q.format("NOT (numeric_labels.risk > 0.4)"))] == ["d5"]
    assert [r["_id"] for r in rows(engine, q.format('numeric_labels.risk > 0.4 OR labels.user == "dave"'))] == [
        "d1", "d2", "d6",
    ]
    assert [r["_id"] for r in rows(engine, q.format("numeric_labels.risk IS NULL"))] == ["d3", "d6"]
    assert [r["_id"] for r in rows(engine, q.format("labels.threats IS NOT NULL"))] == ["d1", "d2", "d5"]
    assert [r["_id"] for r in rows(engine, q.format('labels.user IN ("alice", null)'))] == ["d1", "d2"]
    assert rows(engine, q.format('labels.user NOT IN ("alice", null)')) == []  # NOT (false OR null) is null


def test_now_and_date_math_are_pinned(engine):
    q = "FROM traces-apm* METADATA _id | WHERE @timestamp > NOW() - {} | KEEP _id | SORT _id"
    assert [r["_id"] for r in rows(engine, q.format("30 minutes"))] == ["d1", "d5"]
    assert [r["_id"] for r in rows(engine, q.format("1 hour"))] == ["d1", "d2", "d5"]
    assert [r["_id"] for r in rows(engine, q.format("1 day"))] == ["d1", "d2", "d3", "d5"]
    later = EsqlEngine(engine.store, now=NOW + dt.timedelta(hours=1))
    assert [r["_id"] for r in later.execute(q.format("90 minutes")).to_dicts()] == ["d1", "d5"]
    out = rows(engine, 'FROM traces-apm* METADATA _id | WHERE @timestamp >= "2026-03-01T11:50:00Z" | KEEP _id')
    assert out == [{"_id": "d1"}]


def test_date_trunc_and_output_format(engine):
    out = rows(
        engine,
        "FROM traces-apm* METADATA _id | EVAL h = DATE_TRUNC(1 hour, @timestamp), d = DATE_TRUNC(1 day, @timestamp), "
        "m = DATE_TRUNC(15 minutes, @timestamp) | WHERE _id == \"d2\" | KEEP h, d, m",
    )
    assert out == [{"h": "2026-03-01T11:00:00.000Z", "d": "2026-03-01T00:00:00.000Z", "m": "2026-03-01T11:00:00.000Z"}]


def test_stats_counts_values_and_multi_values(engine):
    out = rows(
        engine,
        "FROM traces-apm* | STATS n = COUNT(*), c = COUNT(labels.threats), d = COUNT_DISTINCT(labels.threats), "
        "v = VALUES(labels.threats), mx = MAX(numeric_labels.risk), mn = MIN(numeric_labels.risk), "
        "s = SUM(numeric_labels.tokens), a = AVG(numeric_labels.risk), t0 = MIN(@timestamp)",
    )
    assert out == [
        {
            "n": 5, "c": 4, "d": 3, "v": ["jailbreak", "pii", "prompt_injection"], "mx": 0.9, "mn": 0.2,
            "s": 147.0, "a": pytest.approx(1.6 / 3), "t0": "2026-02-28T02:40:00.000Z",
        }
    ]


def test_stats_by_multi_valued_key_counts_row_in_each_group(engine):
    out = rows(engine, "FROM traces-apm* | STATS n = COUNT(*) BY labels.threats | SORT labels.threats")
    assert out == [
        {"n": 2, "labels.threats": "jailbreak"},
        {"n": 1, "labels.threats": "pii"},
        {"n": 1, "labels.threats": "prompt_injection"},
        {"n": 2, "labels.threats": None},
    ]


def test_stats_where_filter_expression_over_aggregates_and_grouping_expression(engine):
    out = rows(
        engine,
        'FROM traces-apm* | EVAL b = CASE(labels.blocked == "true", 1, 0) '
        '| STATS total = COUNT(*), blocked = COUNT(*) WHERE labels.blocked == "true", '
        "rate = TO_DOUBLE(SUM(b)) / COUNT(*), int_rate = SUM(b) / COUNT(*) BY u = TO_LOWER(labels.user) | SORT u",
    )
    assert out == [
        {"total": 2, "blocked": 1, "rate": 0.5, "int_rate": 0, "u": "alice"},
        {"total": 2, "blocked": 0, "rate": 0.0, "int_rate": 0, "u": "bob"},
        {"total": 1, "blocked": 0, "rate": 0.0, "int_rate": 0, "u": "dave"},
    ]


def test_stats_without_by_on_no_rows_gives_one_row(engine):
    assert rows(engine, 'FROM traces-apm* | WHERE labels.user == "nobody" | STATS n = COUNT(*)') == [{"n": 0}]


def test_unnamed_columns_are_named_by_their_text(engine):
    out = engine.execute("FROM traces-apm* | STATS COUNT(*), MAX(numeric_labels.risk) BY service.name | SORT service.name")
    assert [c.name for c in out.columns] == ["COUNT(*)", "MAX(numeric_labels.risk)", "service.name"]


def test_sort_nulls_last_ascending_first_descending(engine):
    q = "FROM traces-apm* METADATA _id | SORT numeric_labels.risk{} | KEEP _id"
    assert [r["_id"] for r in rows(engine, q.format(""))][:3] == ["d5", "d2", "d1"]
    assert [r["_id"] for r in rows(engine, q.format(" DESC"))][2:] == ["d1", "d2", "d5"]
    assert [r["_id"] for r in rows(engine, q.format(" DESC NULLS LAST"))][:3] == ["d1", "d2", "d5"]


def test_sort_then_limit_keeps_order(engine):
    out = rows(engine, "FROM traces-apm* METADATA _id | SORT @timestamp DESC | KEEP _id | LIMIT 2")
    assert [r["_id"] for r in out] == ["d1", "d5"]


def test_default_limit_is_1000(store):
    s = DocumentStore(None)
    s.write([doc(i, 1) for i in range(1200)])
    assert len(EsqlEngine(s, now=NOW).execute("FROM traces-apm* | KEEP @timestamp").values) == 1000
    assert len(EsqlEngine(s, now=NOW).execute("FROM traces-apm* | KEEP @timestamp | LIMIT 1100").values) == 1100
    s.close()


def test_keep_drop_rename_and_eval_shadowing(engine):
    res = engine.execute("FROM traces-apm* | KEEP labels.u*, numeric_labels.* | RENAME labels.user AS who | LIMIT 1")
    assert [c.name for c in res.columns] == ["who", "numeric_labels.risk", "numeric_labels.tokens"]
    res = engine.execute("FROM traces-apm* | KEEP labels.* | DROP labels.t* | EVAL labels.user = 1 | LIMIT 1")
    assert [c.name for c in res.columns] == ["labels.blocked", "labels.user"]
    assert res.columns[-1].type == "long"
    with pytest.raises(EsqlEngineError, match=r"No matches found for pattern \[nope\*\]"):
        engine.execute("FROM traces-apm* | KEEP nope*")


def test_mv_expand(engine):
    out = rows(
        engine,
        "FROM traces-apm* METADATA _id | WHERE labels.user == \"alice\" | MV_EXPAND labels.threats "
        "| KEEP _id, labels.threats | SORT _id, labels.threats",
    )
    assert out == [
        {"_id": "d1", "labels.threats": "jailbreak"},
        {"_id": "d1", "labels.threats": "pii"},
        {"_id": "d2", "labels.threats": "jailbreak"},
    ]


def test_case_coalesce_and_string_functions(engine):
    out = rows(
        engine,
        'FROM traces-apm* METADATA _id | EVAL k = COALESCE(numeric_labels.risk, 0.0), '
        'lvl = CASE(k >= 0.8, "high", k >= 0.4, "mid", "low"), up = TO_UPPER(labels.user), '
        'c = CONCAT(labels.user, "/", service.name) | KEEP _id, lvl, up, c | SORT _id',
    )
    assert out[0] == {"_id": "d1", "lvl": "high", "up": "ALICE", "c": "alice/chat"}
    assert out[1]["lvl"] == "mid" and out[3]["lvl"] == "low"
    assert out[4]["c"] == "dave/batch"


def test_time_range_filters_like_a_rule_window(engine):
    res = engine.execute(
        "FROM traces-apm* METADATA _id | KEEP _id | SORT _id", time_range=(NOW - dt.timedelta(hours=1), NOW)
    )
    assert [r["_id"] for r in res.to_dicts()] == ["d1", "d2", "d5"]


def test_mapped_but_unstored_fields_are_null_columns(store):
    from otel_llm_security.rules.fields import MappedField

    e = EsqlEngine(store, now=NOW, mapped_fields={"labels.never_seen": MappedField("labels.never_seen", "keyword")})
    assert e.execute('FROM traces-apm* | WHERE labels.never_seen == "x" | KEEP labels.user').values == []
    with pytest.raises(EsqlEngineError, match=r"Unknown column \[labels.never_seen\]"):
        EsqlEngine(store, now=NOW).execute('FROM traces-apm* | WHERE labels.never_seen == "x"')


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("FROM traces-apm* | WHERE nope == 1", EsqlEngineError, r"Unknown column \[nope\]"),
        ('FROM traces-apm* | GROK labels.user "%{WORD:x}"', EsqlUnsupportedError, r"command \[GROK\]"),
        ('FROM traces-apm* | DISSECT labels.user "%{x}"', EsqlUnsupportedError, r"command \[DISSECT\]"),
        ("FROM traces-apm* | EVAL x = BUCKET(@timestamp, 1 hour)", EsqlUnsupportedError, r"function \[BUCKET\]"),
        ("FROM traces-apm* | WHERE labels.blocked == true", EsqlEngineError, r"\[keyword\].*\[boolean\]"),
        ("FROM traces-apm* | WHERE numeric_labels.risk == \"x\"", EsqlEngineError, r"\[double\].*\[keyword\]"),
        ("FROM traces-apm* | EVAL x = COUNT(*)", EsqlEngineError, r"only allowed in STATS"),
        ("FROM traces-apm* | STATS n = COUNT(*) BY labels.user | KEEP labels.threats", EsqlEngineError,
         r"Unknown column \[labels.threats\]"),
        ("FROM traces-apm* | STATS x = labels.user", EsqlEngineError, r"must appear in the STATS BY"),
        ("ROW a = 1", EsqlUnsupportedError, r"needs a FROM"),
        ("FROM traces-apm* | INLINE STATS n = COUNT(*)", EsqlUnsupportedError, r"INLINE STATS"),
        ("FROM traces-apm* | LOOKUP JOIN users ON labels.user", EsqlUnsupportedError, r"LOOKUP|JOIN"),
    ],
)
def test_outside_the_subset_or_invalid_is_a_clear_error(engine, query, error, message):
    with pytest.raises(error, match=message):
        engine.execute(query)


def test_multi_values_read_like_doc_values_sorted_and_keyword_deduplicated():
    s = DocumentStore(None)
    s.write([doc(1, 1, threats=["pii", "jailbreak", "pii"], n_scores=[0.5, 0.1, 0.5])])
    out = EsqlEngine(s, now=NOW).execute(
        "FROM traces-apm* | EVAL n = MV_COUNT(labels.threats), f = MV_FIRST(labels.threats), "
        "k = MV_COUNT(numeric_labels.scores) | KEEP labels.threats, numeric_labels.scores, n, f, k"
    ).to_dicts()
    assert out == [{"labels.threats": ["jailbreak", "pii"], "numeric_labels.scores": [0.1, 0.5, 0.5], "n": 2,
                    "f": "jailbreak", "k": 3}]
    s.close()


@pytest.mark.parametrize("pattern", ["^abc", "abc$", "(?i)abc", "a<1-5>"])
def test_rlike_refuses_syntax_lucene_reads_differently(engine, pattern):
    with pytest.raises(EsqlUnsupportedError, match="RLIKE pattern"):
        engine.execute(f'FROM traces-apm* | WHERE labels.user RLIKE "{pattern}" | KEEP labels.user')
    # a negated character class is the same in both
    assert engine.execute('FROM traces-apm* | WHERE labels.user RLIKE "[^x]+" | KEEP labels.user').values


def test_keep_precedence_exact_over_partial_over_star(engine):
    def cols(q: str) -> list[str]:
        return [c.name for c in engine.execute(q).columns]

    base = "FROM traces-apm* | KEEP labels.*, numeric_labels.* | "
    assert cols(base + "KEEP labels.*, labels.user") == ["labels.blocked", "labels.threats", "labels.user"]
    assert cols(base + "KEEP labels.user, *") == ["labels.user", "labels.blocked", "labels.threats",
                                                  "numeric_labels.risk", "numeric_labels.tokens"]
    assert cols(base + "KEEP *, labels.t*") == ["labels.blocked", "labels.user", "numeric_labels.risk",
                                                "numeric_labels.tokens", "labels.threats"]


def test_match_all_pattern_is_is_not_null_like_es_optimizer(engine):
    # ES rewrites LIKE "*" / RLIKE ".*" to IS NOT NULL, so NOT LIKE "*" keeps rows without a value.
    q = "FROM traces-apm* METADATA _id | WHERE {} | KEEP _id | SORT _id"
    assert [r["_id"] for r in rows(engine, q.format('numeric_labels.risk IS NULL'))] == ["d3", "d6"]
    assert [r["_id"] for r in rows(engine, q.format('labels.blocked NOT LIKE "*"'))] == ["d5", "d6"]
    assert [r["_id"] for r in rows(engine, q.format('labels.blocked NOT RLIKE ".*"'))] == ["d5", "d6"]
    assert [r["_id"] for r in rows(engine, q.format('labels.blocked LIKE "**"'))] == ["d1", "d2", "d3"]


def test_boolean_multi_values_are_sorted_not_deduplicated():
    s = DocumentStore(None)
    s.write([ApmDocument("traces-apm-default", "b1", {"@timestamp": ts(1), "flags": [True, False, True]})])
    out = EsqlEngine(s, now=NOW).execute("FROM traces-apm* | EVAL n = MV_COUNT(flags) | KEEP flags, n").to_dicts()
    assert out == [{"flags": [False, True, True], "n": 3}]
    s.close()


def test_case_and_coalesce_pass_multi_values_through(engine):
    out = rows(
        engine,
        'FROM traces-apm* METADATA _id | EVAL c = CASE(labels.user == "alice", labels.threats, "none"), '
        'k = COALESCE(labels.threats, "-") | KEEP _id, c, k | SORT _id',
    )
    assert out[0] == {"_id": "d1", "c": ["jailbreak", "pii"], "k": ["jailbreak", "pii"]}
    assert out[2] == {"_id": "d3", "c": "none", "k": "-"}


def test_date_conversions_use_epoch_milliseconds(engine):
    out = rows(
        engine,
        'FROM traces-apm* METADATA _id | WHERE _id == "d1" | EVAL ms = TO_LONG(@timestamp), d = TO_DOUBLE(@timestamp), '
        'back = TO_DATETIME(ms), parsed = TO_DATETIME("2026-03-01T11:55:00.000Z"), s = TO_STRING(@timestamp) '
        "| KEEP ms, d, back, parsed, s",
    )
    ms = int(dt.datetime(2026, 3, 1, 11, 55, tzinfo=dt.timezone.utc).timestamp() * 1000)
    iso = "2026-03-01T11:55:00.000Z"
    assert out == [{"ms": ms, "d": float(ms), "back": iso, "parsed": iso, "s": iso}]


def test_eval_after_dropping_every_column_and_remote_patterns(engine):
    out = engine.execute("FROM traces-apm* | KEEP labels.user | DROP labels.user | EVAL x = 1 | LIMIT 2")
    assert [c.name for c in out.columns] == ["x"] and out.values == [[1], [1]]
    with pytest.raises(EsqlUnsupportedError, match="cross-cluster"):
        engine.execute("FROM remote:traces-apm* | KEEP labels.user")


def test_stats_keeps_only_the_rightmost_column_of_a_name(engine):
    """ES: "If multiple columns have the same name, all but the rightmost column with
    this name will be ignored"; a grouping named like a computed column replaces it."""
    out = engine.execute("FROM traces-apm* | STATS a = COUNT(*), b = MAX(numeric_labels.risk), a = MIN(numeric_labels.risk)")
    assert [c.name for c in out.columns] == ["b", "a"]
    assert out.values == [[0.9, 0.2]]
    out = engine.execute("FROM traces-apm* | STATS a = MAX(labels.user), a = MAX(numeric_labels.risk) | WHERE a > 0.5")
    assert out.values == [[0.9]]
    out = rows(engine, "FROM traces-apm* | STATS service.name = COUNT(*) BY service.name | SORT service.name")
    assert out == [{"service.name": "batch"}, {"service.name": "chat"}]


def test_to_datetime_of_an_out_of_range_number_is_null(engine):
    out = rows(engine, "FROM traces-apm* | EVAL d = TO_DATETIME(4.2e16), e = TO_DATETIME(1.0e12) | KEEP d, e | LIMIT 1")
    assert out == [{"d": None, "e": "2001-09-09T01:46:40.000Z"}]


def test_a_time_span_is_refused_where_a_function_takes_a_value(engine):
    with pytest.raises(EsqlEngineError, match=r"MV_CONTAINS.*time span"):
        engine.execute("FROM traces-apm* | WHERE MV_CONTAINS(1 day, 1 day)")
    assert rows(engine, 'FROM traces-apm* | EVAL h = DATE_TRUNC(1 hour, @timestamp) | KEEP h | LIMIT 1')


def test_round_takes_an_integer_number_of_decimals(engine):
    assert rows(engine, "FROM traces-apm* | EVAL r = ROUND(2.345, 2) | KEEP r | LIMIT 1") == [{"r": 2.35}]
    with pytest.raises(EsqlEngineError, match=r"ROUND.*integer"):
        engine.execute("FROM traces-apm* | EVAL r = ROUND(2.345, 5.5e16) | KEEP r")
    assert rows(engine, "FROM traces-apm* | EVAL r = ROUND(2.345, 55416653055262720) | KEEP r | LIMIT 1") == [{"r": None}]


def test_mv_concat_with_a_column_as_delimiter_is_named_unsupported(engine):
    with pytest.raises(EsqlUnsupportedError, match="MV_CONCAT"):
        engine.execute("FROM traces-apm* | WHERE MV_CONCAT(labels.threats, labels.user) IS NULL")


@pytest.mark.parametrize("pattern", ["?", "c(Q", "[N", "a*+", "[a-z]+*"])
def test_a_malformed_rlike_pattern_is_the_querys_error(engine, pattern):
    with pytest.raises(EsqlEngineError, match="Invalid regex"):
        engine.execute(f'FROM traces-apm* | WHERE labels.user RLIKE "{pattern}"')


def test_repeat_characters_inside_a_class_are_not_repeats(engine):
    assert rows(engine, 'FROM traces-apm* | WHERE labels.user RLIKE "[*+]?al[a-z]+" | KEEP labels.user | LIMIT 1') == [
        {"labels.user": "alice"}
    ]


def test_in_reads_string_literals_as_dates_on_both_sides(engine):
    q = 'FROM traces-apm* | WHERE "{}" IN (@timestamp, "2026-01-01T00:00:00Z") | KEEP labels.user'
    assert rows(engine, q.format(ts(5))) == [{"labels.user": "alice"}]
    with pytest.raises(EsqlEngineError, match=r"cannot convert string \[a\*\] to \[datetime\]"):
        engine.execute('FROM traces-apm* | WHERE "2026-03-01T11:00:00Z" IN (@timestamp, "a*")')


def test_date_trunc_of_null_is_null(engine):
    assert rows(engine, "FROM traces-apm* | EVAL d = DATE_TRUNC(5 minutes, null) | KEEP d | LIMIT 1") == [{"d": None}]
