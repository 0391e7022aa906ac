"""The embedded document store: APM documents in one DuckDB table, one typed column per field.

Table ``docs`` holds ``_id``, ``_index`` (the data stream), ``_source`` (the original
document as JSON text, for display only) and one column per leaf field, named by its
dotted Elasticsearch name (``"labels.llm_security_blocked"``). Columns appear as
documents bring new fields (a dynamic mapping, as in Elasticsearch) and take the type
the APM index templates give the field. A field that receives more than one value in
a document becomes a LIST column, and its earlier rows become one-element lists.

Field metadata (ES type, multi-valued) lives in the table ``_fields`` of the same
file, so that a reopened store knows that a VARCHAR column is ``keyword`` or
``text`` and which columns are multi-valued.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_llm_security.attributes import ENV_STORE
from otel_llm_security.export.apm_fields import ES_TYPES, field_es_type
from otel_llm_security.export.documents import ApmDocument, flatten_into, flatten_into_columns

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

APP_NAME = "otel-llm-security"
DEFAULT_FILENAME = "store.duckdb"

_SQL_TYPES = {
    "keyword": "VARCHAR",
    "text": "VARCHAR",
    "long": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "TIMESTAMP",
}
_RESERVED = frozenset({"_id", "_index", "_source"})


class StoreError(RuntimeError):
    """The store could not be opened or written. The message says why and what to do."""


class StoreLockedError(StoreError):
    """Another process holds the store file."""


class StoreFullError(StoreError):
    """The disk (or the file-size limit) is full; nothing of the failed write was kept."""


class MappingError(StoreError):
    """A document's value does not fit the type its field already has (Elasticsearch would reject it too)."""


@dataclass(frozen=True)
class FieldInfo:
    """One field (column) of the store."""

    name: str  # dotted ES field name, e.g. "labels.llm_security_blocked"
    es_type: str  # "keyword" | "long" | "double" | "boolean" | "date" | "text"
    multi: bool  # True once any document held more than one value: the column is then a DuckDB LIST

    @property
    def sql_type(self) -> str:
        base = _SQL_TYPES[self.es_type]
        return base + "[]" if self.multi else base


def default_store_path() -> Path:
    """``$OTEL_LLM_SECURITY_STORE``, else ``store.duckdb`` under the user's data directory."""
    env = os.environ.get(ENV_STORE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / DEFAULT_FILENAME


def quote_ident(name: str) -> str:
    """A DuckDB quoted identifier for a dotted field name."""
    return '"' + name.replace('"', '""') + '"'


def flatten(source: dict[str, Any]) -> dict[str, Any]:
    """Leaf fields of a nested ``_source`` by dotted name.

    Arrays of objects are flattened the way Elasticsearch indexes them: each leaf
    under the array becomes one multi-valued field.
    """
    out: dict[str, Any] = {}
    try:
        flatten_into(source, "", out)
    except ValueError as exc:
        raise MappingError(str(exc)) from exc
    return out


def unflatten(fields: dict[str, Any]) -> dict[str, Any]:
    """Dotted field values → a nested ``_source`` (dates printed as Elasticsearch prints them)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        parts = name.split(".")
        d = out
        for p in parts[:-1]:
            nxt = d.get(p)
            if not isinstance(nxt, dict):
                nxt = d[p] = {}
            d = nxt
        d[parts[-1]] = _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value


def _infer_es_type(value: Any) -> str | None:
    if isinstance(value, list):
        for v in value:
            t = _infer_es_type(v)
            if t is not None:
                return t
        return None
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, datetime):
        return "date"
    return "keyword"


@dataclass
class ColumnBatch:
    """Documents flattened into per-field value lists (row ``i`` of every list is document ``i``).

    A column may also be a pyarrow Array (see :func:`arrow_batch`); :meth:`DocumentStore.write_batch`
    takes it as is when its type is the field's, and as the list of its values otherwise.
    """

    ids: list[str]
    indexes: list[str]
    columns: dict[str, Any]  # field name -> list of values, or pyarrow Array
    sources: list[str] | None = None  # JSON _source, when kept


def column_batch(docs: Iterable[ApmDocument], *, keep_source: bool = False) -> ColumnBatch:
    """Flatten documents for :meth:`DocumentStore.write_batch` (pure Python, picklable result)."""
    batch = list(docs)
    n = len(batch)
    cols: dict[str, list[Any]] = {}
    try:
        for i, doc in enumerate(batch):
            flatten_into_columns(doc.source, "", cols, i, n)
    except ValueError as exc:
        raise MappingError(str(exc)) from exc
    sources = [json.dumps(d.source, separators=(",", ":"), default=str) for d in batch] if keep_source else None
    return ColumnBatch([d.id for d in batch], [d.index for d in batch], cols, sources)


def arrow_batch(batch: ColumnBatch) -> ColumnBatch:
    """The batch with every column whose values share one scalar type (str, int, float or
    bool, besides None) converted to a pyarrow Array; other columns stay lists.

    For ``collect --workers``: the worker process does the conversion and ships Arrow
    buffers (cheap to pickle), and the process that holds the store only checks each
    array's type against its field before the insert. The rows written are the same as
    for the plain batch.
    """
    import pyarrow as pa

    if not _PY_ARROW:
        _PY_ARROW.update({str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()})
    cols: dict[str, Any] = {}
    for name, values in batch.columns.items():
        if type(values) is list:
            types = set(map(type, values))
            types.discard(_NONE_TYPE)
            if len(types) == 1:
                at = _PY_ARROW.get(types.pop())
                if at is not None:
                    try:
                        cols[name] = pa.array(values, at)
                        continue
                    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                        pass
        cols[name] = values
    return ColumnBatch(batch.ids, batch.indexes, cols, batch.sources)


_NONE_TYPE = type(None)
_PY_ARROW: dict[type, Any] = {}


class DocumentStore:
    """APM documents in DuckDB, queryable by their Elasticsearch field names.

    ``path=None`` keeps the store in memory. Writes are serialized by a lock; each
    :meth:`write` is one transaction, committed before it returns.
    """

    TABLE = "docs"
    FIELDS_TABLE = "_fields"

    DEFAULT_MAX_FIELDS = 1000  # Elasticsearch's index.mapping.total_fields.limit default

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        read_only: bool = False,
        keep_source: bool = False,
        max_fields: int = DEFAULT_MAX_FIELDS,
    ) -> None:
        import duckdb

        self.path: Path | None = Path(path).expanduser() if path is not None else None
        self.read_only = read_only
        # The JSON _source costs several times the typed columns on disk and a third of
        # the write time; without it, documents() rebuilds the source from the columns.
        self.keep_source = keep_source
        # Like Elasticsearch's total fields limit: a flood of distinct attribute keys is
        # refused instead of growing the table (and every later ALTER) without bound.
        self.max_fields = max_fields
        self._lock = threading.RLock()
        if self.path is not None and not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store directory {self.path.parent}: {exc.strerror}") from exc
        if self.path is not None and read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}: run `otel-llm-security collect` (or the demo) first")
        try:
            self._con = duckdb.connect(str(self.path) if self.path is not None else ":memory:", read_only=read_only)
        except duckdb.Error as exc:
            raise _translate_error(exc, self.path) from exc
        self._fields: dict[str, FieldInfo] = {}
        try:
            if not read_only:
                self._ensure_schema()
            self._load_fields()
        except duckdb.Error as exc:
            self._con.close()
            raise _translate_error(exc, self.path) from exc

    # --- public API -------------------------------------------------------------

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (not thread-safe: do not query it while another thread writes)."""
        return self._con

    def fields(self) -> dict[str, FieldInfo]:
        """Every field column of ``docs`` by dotted name (``_id``, ``_index``, ``_source`` excluded)."""
        with self._lock:
            return dict(self._fields)

    def count(self) -> int:
        with self._lock:
            row = self._con.execute(f"SELECT count(*) FROM {self.TABLE}").fetchone()
        return int(row[0]) if row else 0

    def write(self, docs: Iterable[ApmDocument]) -> int:
        """Insert documents in one transaction; returns how many. Committed before returning.

        Raises :class:`MappingError` for a value that fits neither its field's type nor a
        lossless widening (nothing of the batch is written), :class:`StoreFullError`
        when the disk is full, :class:`StoreError` for other failures.
        """
        return self.write_batch(column_batch(docs, keep_source=self.keep_source))

    def write_batch(self, batch: ColumnBatch) -> int:
        """:meth:`write` for documents already flattened by :func:`column_batch` (which can
        run in another process: ``collect`` maps and flattens in worker processes)."""
        import duckdb

        if self.read_only:
            raise StoreError("the store was opened read-only")
        if not batch.ids:
            return 0
        with self._lock:
            before = dict(self._fields)
            try:
                self._con.execute("BEGIN TRANSACTION")
                table = self._build_batch(batch)
                self._con.register("_otel_llm_security_batch", table)
                try:
                    self._con.execute(
                        f"INSERT INTO {self.TABLE} BY NAME SELECT * FROM _otel_llm_security_batch"
                    )
                finally:
                    self._con.unregister("_otel_llm_security_batch")
                self._con.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                self._fields = before
                if isinstance(exc, duckdb.Error):
                    raise _translate_error(exc, self.path) from exc
                if isinstance(exc, OSError):
                    raise _translate_os_error(exc, self.path) from exc
                raise
        return len(batch.ids)

    def documents(self, where: str = "TRUE", params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        """The ``_source`` of matching documents, oldest first (``where`` is SQL over the field columns).

        The stored JSON when the document was written with ``keep_source``, else the
        source rebuilt from the typed columns: the same nested fields and values (dates
        as ES prints them), except that arrays of objects come back as objects of arrays.
        """
        with self._lock:
            cur = self._con.execute(
                f"SELECT * EXCLUDE (_id, _index) FROM {self.TABLE} WHERE {where} ORDER BY \"@timestamp\"", params or []
            )
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        for row in rows:
            src = row[0]
            if src is not None:
                yield json.loads(src)
                continue
            yield unflatten({n: v for n, v in zip(names[1:], row[1:], strict=True) if v is not None})

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema -----------------------------------------------------------------

    def _ensure_schema(self) -> None:
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {self.FIELDS_TABLE} "
            "(name VARCHAR PRIMARY KEY, es_type VARCHAR NOT NULL, multi BOOLEAN NOT NULL)"
        )
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {self.TABLE} "
            '(_id VARCHAR, _index VARCHAR, _source VARCHAR, "@timestamp" TIMESTAMP)'
        )
        self._con.execute(
            f"INSERT INTO {self.FIELDS_TABLE} VALUES ('@timestamp', 'date', false) ON CONFLICT DO NOTHING"
        )

    def _load_fields(self) -> None:
        try:
            rows = self._con.execute(f"SELECT name, es_type, multi FROM {self.FIELDS_TABLE}").fetchall()
        except Exception as exc:  # a read-only open of a file that is not a store
            raise StoreError(f"{self.path} is not an otel-llm-security store ({exc})") from exc
        self._fields = {n: FieldInfo(n, t, bool(m)) for n, t, m in rows}

    def _rollback(self) -> None:
        try:
            self._con.execute("ROLLBACK")
        except Exception:
            pass

    def _set_field(self, info: FieldInfo, *, new: bool) -> None:
        col = quote_ident(info.name)
        if new:
            self._con.execute(f"ALTER TABLE {self.TABLE} ADD COLUMN {col} {info.sql_type}")
            self._con.execute(f"INSERT INTO {self.FIELDS_TABLE} VALUES (?, ?, ?)", [info.name, info.es_type, info.multi])
        else:
            old = self._fields[info.name]
            if info.multi and not old.multi:
                # Existing single values become one-element lists.
                using = f"CASE WHEN {col} IS NULL THEN NULL ELSE [CAST({col} AS {_SQL_TYPES[info.es_type]})] END"
            else:
                using = f"CAST({col} AS {info.sql_type})"
            self._con.execute(f"ALTER TABLE {self.TABLE} ALTER COLUMN {col} SET DATA TYPE {info.sql_type} USING {using}")
            self._con.execute(
                f"UPDATE {self.FIELDS_TABLE} SET es_type = ?, multi = ? WHERE name = ?",
                [info.es_type, info.multi, info.name],
            )
        self._fields[info.name] = info

    # --- batch building ---------------------------------------------------------

    def _build_batch(self, batch: ColumnBatch) -> pa.Table:
        import pyarrow as pa

        columns: dict[str, pa.Array] = {
            "_id": pa.array(batch.ids, pa.string()),
            "_index": pa.array(batch.indexes, pa.string()),
        }
        if batch.sources is not None:
            columns["_source"] = pa.array(batch.sources, pa.string())
        fields = self._fields
        new = [name for name in batch.columns if name not in fields]
        if new and len(fields) + len(new) > self.max_fields:
            raise MappingError(
                f"Limit of total fields [{self.max_fields}] has been exceeded while adding new fields [{len(new)}] "
                f"(e.g. {', '.join(sorted(new)[:3])})"
            )
        for name, values in batch.columns.items():
            known = fields.get(name)
            if type(values) is not list:  # a pyarrow Array made by arrow_batch
                arr = _known_arrow(known, values)
                if arr is not None:
                    columns[name] = arr
                    continue
                values = values.to_pylist()
            if known is not None and not known.multi and set(map(type, values)) <= _EXACT_TYPES.get(known.es_type, _NONE):
                # Fast path: every value already has the column's Python type, so pyarrow
                # converts in C; anything else (arrays, coercions, widening) takes the full path.
                try:
                    columns[name] = pa.array(values, _arrow_type(known.es_type))
                    continue
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                    pass
            if name in _RESERVED:
                raise MappingError(f"field name {name!r} is reserved for document metadata")
            info = self._resolve_field(name, values)
            if info is None:  # only nulls / empty arrays so far: no column, as in ES
                continue
            columns[name] = _to_arrow(info, values)
        return pa.table(columns)

    def _resolve_field(self, name: str, values: list[Any]) -> FieldInfo | None:
        multi = False
        for v in values:
            if type(v) is list and len(v) > 1:
                multi = True
                break
        existing = self._fields.get(name)
        if existing is None:
            es_type = field_es_type(name)
            if es_type is None:
                for v in values:
                    es_type = _infer_es_type(v)
                    if es_type is not None:
                        break
            if es_type is None:
                return None
            info = FieldInfo(name, es_type, multi)
            self._set_field(info, new=True)
            return info
        es_type = existing.es_type
        if es_type == "long" and field_es_type(name) is None and _has_fraction(values):
            es_type = "double"  # dynamic long field receiving fractions: widen, losing nothing
        if es_type != existing.es_type or (multi and not existing.multi):
            info = FieldInfo(name, es_type, existing.multi or multi)
            self._set_field(info, new=False)
            return info
        return existing


def _has_fraction(values: list[Any]) -> bool:
    for v in values:
        for x in v if type(v) is list else (v,):
            if isinstance(x, float) and not x.is_integer():
                return True
    return False


def _coerce(es_type: str, name: str, value: Any) -> Any:
    """One value to the Python type of its column, as Elasticsearch coerces it, or MappingError."""
    if value is None:
        return None
    try:
        if es_type in ("keyword", "text"):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (dict, list)):
                raise ValueError("an object where a value is expected")
            return str(value)
        if es_type == "long":
            if isinstance(value, bool):
                raise ValueError("a boolean")
            if isinstance(value, str):
                value = float(value) if any(c in value for c in ".eE") else int(value)
            return int(value)
        if es_type == "double":
            if isinstance(value, bool):
                raise ValueError("a boolean")
            return float(value)
        if es_type == "boolean":
            if isinstance(value, bool):
                return value
            if value in ("true", "false"):
                return value == "true"
            if value == "":
                return False
            raise ValueError(f"{value!r} is not true/false")
        if es_type == "date":
            if isinstance(value, datetime):
                dt = value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                dt = datetime.fromtimestamp(value / 1000, tz=timezone.utc)  # ES epoch_millis
            else:
                dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if dt.tzinfo is not None:
                dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
            return dt
    except (ValueError, TypeError, OverflowError) as exc:
        raise MappingError(
            f"field {name!r} is mapped as {es_type}; cannot index value {_preview(value)}: {exc}"
        ) from exc
    raise MappingError(f"field {name!r}: unknown type {es_type!r}")


def _preview(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 80 else r[:77] + "..."


_ARROW_TYPES: dict[str, Any] = {}


_NONE: frozenset[type] = frozenset()
_EXACT_TYPES: dict[str, frozenset[type]] = {
    "keyword": frozenset({str, type(None)}),
    "text": frozenset({str, type(None)}),
    "long": frozenset({int, type(None)}),
    "double": frozenset({float, int, type(None)}),
    "boolean": frozenset({bool, type(None)}),
}


def _arrow_type(es_type: str) -> Any:
    import pyarrow as pa

    if not _ARROW_TYPES:
        _ARROW_TYPES.update(
            keyword=pa.string(),
            text=pa.string(),
            long=pa.int64(),
            double=pa.float64(),
            boolean=pa.bool_(),
            date=pa.timestamp("us"),
        )
    return _ARROW_TYPES[es_type]


def _known_arrow(known: FieldInfo | None, arr: pa.Array) -> pa.Array | None:
    """``arr`` as its known single-valued field's column, when that needs no coercion (what the
    list path would give for the same values); None to take the list path."""
    import pyarrow as pa

    if known is None or known.multi:
        return None
    t = _arrow_type(known.es_type)
    if arr.type == t:
        return arr
    if known.es_type == "date" and arr.type == pa.string():
        try:
            return arr.cast(pa.timestamp("us", tz="UTC")).cast(t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return None


def _to_arrow(info: FieldInfo, values: list[Any]) -> pa.Array:
    import pyarrow as pa

    t = _arrow_type(info.es_type)
    if info.multi:
        lists: list[list[Any] | None] = []
        for v in values:
            if v is None:
                lists.append(None)
            elif type(v) is list:
                lists.append([_coerce(info.es_type, info.name, x) for x in v] if v else None)
            else:
                lists.append([_coerce(info.es_type, info.name, v)])
        return pa.array(lists, pa.list_(t))
    # Single-valued column: one-element arrays are the value itself (as ES sees them),
    # empty arrays are missing.
    flat = [(v[0] if v else None) if type(v) is list else v for v in values]
    if info.es_type != "date":
        try:
            return pa.array(flat, t)  # fast path: values already of the column's type
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    elif all(v is None or type(v) is str for v in flat):
        try:
            return pa.array(flat, pa.string()).cast(pa.timestamp("us", tz="UTC")).cast(t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.array([_coerce(info.es_type, info.name, v) for v in flat], t)


def _translate_error(exc: Exception, path: Path | None) -> StoreError:
    msg = str(exc)
    where = str(path) if path is not None else "the in-memory store"
    low = msg.lower()
    if "could not set lock" in low or "conflicting lock" in low:
        return StoreLockedError(
            f"the store {where} is in use by another process ({msg.split('Conflicting lock is held in')[-1].strip()}); "
            "stop it (e.g. a running `otel-llm-security collect`) or point "
            f"{ENV_STORE} at another file"
        )
    if "no space left" in low or "file too large" in low or "disk quota" in low:
        return StoreFullError(
            f"the disk holding {where} is full ({msg}); the write was rolled back and nothing of it was kept. "
            "Free space or move the store (" + ENV_STORE + ")"
        )
    if "permission denied" in low:
        return StoreError(f"no permission to use the store {where}: {msg}")
    return StoreError(f"store {where}: {msg}")


def _translate_os_error(exc: OSError, path: Path | None) -> StoreError:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return StoreFullError(f"the disk holding {path} is full ({exc.strerror}); the write was rolled back")
    return StoreError(f"store {path}: {exc}")


__all__ = [
    "ES_TYPES",
    "ColumnBatch",
    "DocumentStore",
    "FieldInfo",
    "MappingError",
    "StoreError",
    "StoreFullError",
    "StoreLockedError",
    "arrow_batch",
    "column_batch",
    "default_store_path",
    "flatten",
    "quote_ident",
    "unflatten",
]
