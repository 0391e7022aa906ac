"""The DuckDB document store: typed columns per ES field, dynamic mapping, multi-values, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from otel_llm_security.attributes import ENV_STORE
from otel_llm_security.export.documents import ApmDocument
from otel_llm_security.store.duckdb_store import (
    DocumentStore,
    FieldInfo,
    MappingError,
    StoreError,
    StoreLockedError,
    default_store_path,
    flatten,
)


def doc(i: int, source: dict, index: str = "traces-apm-default") -> ApmDocument:
    return ApmDocument(index, f"id-{i}", source)


def col(store: DocumentStore, name: str, where: str = "TRUE") -> list:
    return [r[0] for r in store.connection.execute(f'SELECT "{name}" FROM docs WHERE {where} ORDER BY _id').fetchall()]


def test_columns_are_named_and_typed_like_the_apm_index_template() -> None:
    with DocumentStore() as store:
        n = store.write([
            doc(1, {
                "@timestamp": "2025-03-01T10:00:00.123456Z",
                "trace": {"id": "abc"},
                "span": {"duration": {"us": 1500}},
                "labels": {"llm_security_blocked": "true"},
                "numeric_labels": {"gen_ai_usage_input_tokens": 12},
                "transaction": {"sampled": True},
            })
        ])
        assert n == 1
        f = store.fields()
        assert f["labels.llm_security_blocked"] == FieldInfo("labels.llm_security_blocked", "keyword", False)
        # numeric_labels are scaled_float in the template: an int value still makes a double column
        assert f["numeric_labels.gen_ai_usage_input_tokens"].es_type == "double"
        assert f["span.duration.us"].es_type == "long"
        assert f["@timestamp"].es_type == "date"
        assert f["transaction.sampled"].es_type == "boolean"
        types = dict(store.connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'docs'"
        ).fetchall())
        assert types["numeric_labels.gen_ai_usage_input_tokens"] == "DOUBLE"
        assert types["span.duration.us"] == "BIGINT"
        assert types["@timestamp"] == "TIMESTAMP"
        assert types["_id"] == types["_index"] == "VARCHAR"
        assert col(store, "@timestamp") == [datetime(2025, 3, 1, 10, 0, 0, 123456)]
        assert col(store, "labels.llm_security_blocked", "\"labels.llm_security_blocked\" = 'true'") == ["true"]


def test_timestamps_with_offsets_are_stored_in_utc() -> None:
    with DocumentStore() as store:
        store.write([doc(1, {"@timestamp": "2025-03-01T12:00:00+02:00"}), doc(2, {"@timestamp": 1740826800000})])
        assert col(store, "@timestamp") == [datetime(2025, 3, 1, 10, 0), datetime(2025, 3, 1, 11, 0)]


def test_new_fields_add_columns_and_old_rows_read_null() -> None:
    with DocumentStore() as store:
        store.write([doc(1, {"labels": {"a": "x"}})])
        store.write([doc(2, {"labels": {"b": "y"}, "custom": {"n": 3}})])
        assert set(store.fields()) >= {"labels.a", "labels.b", "custom.n"}
        assert store.fields()["custom.n"].es_type == "long"  # dynamic mapping from the value
        assert col(store, "labels.b") == [None, "y"]


def test_a_multi_valued_field_becomes_a_list_column_and_migrates_old_rows() -> None:
    with DocumentStore() as store:
        store.write([doc(1, {"labels": {"t": "pii"}}), doc(2, {"labels": {"t": ["secret"]}})])
        assert store.fields()["labels.t"].multi is False  # a one-element array is a single value in ES
        store.write([doc(3, {"labels": {"t": ["pii", "secret"]}}), doc(4, {"labels": {"t": []}})])
        assert store.fields()["labels.t"] == FieldInfo("labels.t", "keyword", True)
        assert col(store, "labels.t") == [["pii"], ["secret"], ["pii", "secret"], None]
        store.write([doc(5, {"labels": {"t": "jailbreak"}})])
        assert col(store, "labels.t", "_id = 'id-5'") == [["jailbreak"]]
        hits = store.connection.execute(
            "SELECT _id FROM docs WHERE list_contains(\"labels.t\", 'secret') ORDER BY _id"
        ).fetchall()
        assert [h[0] for h in hits] == ["id-2", "id-3"]


def test_arrays_of_objects_flatten_like_elasticsearch() -> None:
    src = {"span": {"links": [{"trace": {"id": "t1"}, "span": {"id": "s1"}}, {"trace": {"id": "t2"}, "span": {"id": "s2"}}]}}
    assert flatten(src) == {"span.links.trace.id": ["t1", "t2"], "span.links.span.id": ["s1", "s2"]}


def test_a_value_that_does_not_fit_rejects_the_whole_batch() -> None:
    with DocumentStore() as store:
        store.write([doc(1, {"span": {"duration": {"us": 10}}})])
        with pytest.raises(MappingError, match=r"span\.duration\.us.*long"):
            store.write([doc(2, {"span": {"duration": {"us": 20}}, "labels": {"new": "x"}}),
                         doc(3, {"span": {"duration": {"us": "not a number"}}})])
        assert store.count() == 1
        assert "labels.new" not in store.fields()  # schema change rolled back with the data
        store.write([doc(4, {"labels": {"new": "x"}})])
        assert col(store, "labels.new") == [None, "x"]


def test_dynamic_long_field_widens_to_double_instead_of_losing_fractions() -> None:
    with DocumentStore() as store:
        store.write([doc(1, {"custom": {"v": 2}})])
        store.write([doc(2, {"custom": {"v": 2.5}})])
        assert store.fields()["custom.v"].es_type == "double"
        assert col(store, "custom.v") == [2.0, 2.5]


def test_source_is_kept_as_json_when_asked() -> None:
    src = {"@timestamp": "2025-03-01T10:00:00Z", "labels": {"a": "x"}, "message": "hello"}
    with DocumentStore(keep_source=True) as store:
        store.write([doc(1, src, index="logs-apm.app.svc-default")])
        assert list(store.documents()) == [src]
        assert store.connection.execute("SELECT _index FROM docs").fetchone() == ("logs-apm.app.svc-default",)


def test_without_kept_source_documents_are_rebuilt_from_the_columns() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_llm_security.export.apm_mapper import map_readable_spans

    mem = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(mem))
    attrs = {"llm.security.blocked": True, "llm.security.threats": ["pii", "secret"], "gen_ai.usage.input_tokens": 3}
    with provider.get_tracer("t").start_as_current_span("root"), \
            provider.get_tracer("t").start_as_current_span("chat m", attributes=attrs) as span:
        span.add_event("gen_ai.security.finding", {"gen_ai.security.risk.score": 0.5})
    docs = map_readable_spans(mem.get_finished_spans())
    with DocumentStore() as store:
        store.write(docs)
        assert store.connection.execute("SELECT count(_source) FROM docs").fetchone() == (0,)
        rebuilt = sorted(store.documents(), key=lambda d: (d["@timestamp"], d["processor"]["event"]))
        original = sorted((d.source for d in docs), key=lambda d: (d["@timestamp"], d["processor"]["event"]))
        assert rebuilt == original


def test_reserved_metadata_names_are_rejected() -> None:
    with DocumentStore() as store, pytest.raises(MappingError, match="reserved"):
        store.write([doc(1, {"_id": "x"})])


def test_fields_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with DocumentStore(path) as store:
        store.write([doc(1, {"message": "m", "labels": {"t": ["a", "b"]}})])
    with DocumentStore(path, read_only=True) as store:
        f = store.fields()
        assert f["message"].es_type == "text"
        assert f["labels.t"].multi
        assert store.count() == 1
        with pytest.raises(StoreError, match="read-only"):
            store.write([doc(2, {})])


def test_read_only_open_of_a_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="collect"):
        DocumentStore(tmp_path / "none.duckdb", read_only=True)


def test_default_path_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_STORE, str(tmp_path / "x.duckdb"))
    assert default_store_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv(ENV_STORE)
    p = default_store_path()
    assert p.name == "store.duckdb" and "otel-llm-security" in str(p)


def test_a_store_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    DocumentStore(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from otel_llm_security.store.duckdb_store import DocumentStore
            s = DocumentStore({str(path)!r})
            print("ready", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match="in use by another process"):
            DocumentStore(path)
    finally:
        holder.communicate("\n", timeout=30)


def test_a_full_disk_rolls_back_and_keeps_earlier_documents(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes writes past the limit fail with EFBIG, as a full disk fails them with ENOSPC.
    script = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        from otel_llm_security.export.documents import ApmDocument
        from otel_llm_security.store.duckdb_store import DocumentStore, StoreFullError
        s = DocumentStore({str(tmp_path / 'full.duckdb')!r})
        s.write([ApmDocument("traces-apm-default", "first", {{"labels": {{"a": "x"}}}})])
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, resource.RLIM_INFINITY))
        try:
            s.write([ApmDocument("traces-apm-default", str(i), {{"labels": {{"a": "x" * 1000 + str(i)}}}})
                     for i in range(20000)])
        except StoreFullError as e:
            print("FULL", e)
        print("COUNT", s.count())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "FULL" in out.stdout and "rolled back" in out.stdout, out.stdout + out.stderr
    assert "COUNT 1" in out.stdout


def test_total_fields_limit() -> None:
    with DocumentStore(max_fields=5) as store:
        store.write([doc(1, {"labels": {"a": "x", "b": "y"}})])  # @timestamp, labels.a, labels.b
        with pytest.raises(MappingError, match=r"Limit of total fields \[5\] has been exceeded while adding new fields \[3\]"):
            store.write([doc(2, {"labels": {"c": "1", "d": "2", "e": "3"}})])
        store.write([doc(3, {"labels": {"c": "1", "d": "2"}})])
        assert len(store.fields()) == 5
