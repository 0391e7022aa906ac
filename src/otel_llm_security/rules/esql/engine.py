"""A local ES|QL engine: Elastic's parse tree compiled to DuckDB SQL over the store.

Each pipe command becomes one CTE over the previous one. Columns keep their ES|QL
names (quoted identifiers) and carry an ES type and a multi-valued flag: a
multi-valued store field is a DuckDB LIST, and every scalar use of it goes through
:meth:`_Compiler.scalar`, which yields null unless the row holds exactly one value
(ES|QL returns null, with a warning, when a scalar operation meets a multi-value).

Whatever is outside the supported subset raises :class:`EsqlUnsupportedError` naming
the command or function; column errors read like Elasticsearch's
(``Unknown column [x]``). See docs/rules.md for the subset and the known differences.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from esql import ast

from otel_llm_security.rules.esql.parser import TARGET_STACK_VERSION, parse_query

DEFAULT_LIMIT = 1000  # ES: esql.query.result_truncation_default_size
MAX_LIMIT = 10000  # ES: esql.query.result_truncation_max_size
ORD = "__esql_ord"  # hidden column carrying the order established by SORT

STRING_TYPES = frozenset({"keyword", "text"})
NUMERIC_TYPES = frozenset({"long", "integer", "double"})
SQL_TYPES = {
    "keyword": "VARCHAR",
    "text": "VARCHAR",
    "long": "BIGINT",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "TIMESTAMP",
}
# Milliseconds since the epoch that a TIMESTAMP (microseconds in a BIGINT) can hold.
_MAX_EPOCH_MS = (2**63 - 1) // 1000
# The types of time span literals ("1 hour", "2 days"), and the functions that take one
# as an argument (to others it is a type error).
TIME_SPAN_TYPES = frozenset({"time_duration", "date_period"})
_SPAN_ARGUMENTS = frozenset({"date_trunc"})
AGGREGATES = frozenset({"count", "count_distinct", "min", "max", "avg", "sum", "values"})


class EsqlEngineError(ValueError):
    """A query the local engine rejects, the way Elasticsearch would (unknown column, type mismatch)."""


class EsqlUnsupportedError(EsqlEngineError):
    """Valid ES|QL outside the local engine's subset: the message names the command or function."""


class FieldLike(Protocol):
    @property
    def es_type(self) -> str: ...

    @property
    def multi(self) -> bool: ...


class StoreLike(Protocol):
    @property
    def connection(self) -> Any: ...

    def fields(self) -> Mapping[str, FieldLike]: ...


@dataclass(frozen=True)
class Col:
    type: str
    multi: bool = False


@dataclass(frozen=True)
class Expr:
    sql: str
    type: str
    multi: bool = False
    literal: Any = None  # the Python value for literals, else None
    is_literal: bool = False


@dataclass
class Column:
    name: str
    type: str


@dataclass
class EsqlResult:
    """Shaped like the ES ``_query`` response: ``columns`` and ``values`` (rows)."""

    columns: list[Column]
    values: list[list[Any]]
    sql: str = ""

    def to_dicts(self) -> list[dict[str, Any]]:
        names = [c.name for c in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.values]

    def to_json(self) -> dict[str, Any]:
        return {"columns": [{"name": c.name, "type": c.type} for c in self.columns], "values": self.values}


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ts_literal(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


_UNITS = {
    "millisecond": ("milliseconds", 1),
    "milliseconds": ("milliseconds", 1),
    "millis": ("milliseconds", 1),
    "ms": ("milliseconds", 1),
    "second": ("seconds", 1),
    "seconds": ("seconds", 1),
    "sec": ("seconds", 1),
    "s": ("seconds", 1),
    "minute": ("minutes", 1),
    "minutes": ("minutes", 1),
    "min": ("minutes", 1),
    "m": ("minutes", 1),
    "hour": ("hours", 1),
    "hours": ("hours", 1),
    "h": ("hours", 1),
    "day": ("days", 1),
    "days": ("days", 1),
    "d": ("days", 1),
    "week": ("days", 7),
    "weeks": ("days", 7),
    "w": ("days", 7),
    "month": ("months", 1),
    "months": ("months", 1),
    "mo": ("months", 1),
    "quarter": ("months", 3),
    "quarters": ("months", 3),
    "q": ("months", 3),
    "year": ("years", 1),
    "years": ("years", 1),
    "yr": ("years", 1),
    "y": ("years", 1),
}
_MS = {"milliseconds": 1, "seconds": 1000, "minutes": 60_000, "hours": 3_600_000, "days": 86_400_000}


def parse_temporal(text: str) -> tuple[int, str]:
    """``"1hour"`` / ``"7d"`` → (amount, DuckDB unit), weeks and quarters normalised to days/months."""
    m = re.fullmatch(r"(\d+)\s*([A-Za-z]+)", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise EsqlEngineError(f"cannot parse temporal amount [{text}]")
    unit, factor = _UNITS[m.group(2).lower()]
    return int(m.group(1)) * factor, unit


def like_to_sql(pattern: str) -> str:
    """ES|QL LIKE (``*`` any, ``?`` one, ``\\`` escapes) → SQL LIKE pattern with ESCAPE '\\'."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\" + nxt if nxt in "%_\\" else nxt)
            i += 2
            continue
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# Lucene RegExp operators that RE2 reads differently or not at all (ES enables them all),
# and RE2 syntax Lucene lacks (anchors, groups with flags).
_LUCENE_ONLY = re.compile(r'(?<!\\)(?:\\\\)*(?:[@&~<>#"^$]|\(\?)')


def rlike_to_re2(pattern: str) -> str:
    """ES|QL RLIKE (Lucene regex, anchored) → RE2 for regexp_full_match; refuses Lucene-only syntax."""
    if _LUCENE_ONLY.search(pattern.replace("[^", "[")):  # a negated class is fine in both
        raise EsqlUnsupportedError(
            f"RLIKE pattern [{pattern}] uses a Lucene regex operator (@ & ~ < > # \") or RE2-only syntax (^ $ (?...))"
            " that the local engine does not translate: escape the character with a backslash"
        )
    # Lucene reads \d, \t, ... as the letter itself or as a class depending on its version; RE2 as a class
    # or control character. Refuse them rather than guess.
    if m := re.search(r"(?<!\\)(?:\\\\)*\\([A-Za-z0-9])", pattern):
        raise EsqlUnsupportedError(
            f"RLIKE pattern [{pattern}] uses the escape [\\{m.group(1)}], whose meaning differs between Lucene"
            " and the local engine: write a character class instead"
        )
    # Lucene's '.' matches newlines too.
    translated = "(?s)" + pattern
    try:  # a malformed pattern is the query's error (as in ES), not one DuckDB raises mid-run
        re.compile(translated)
    except re.error as exc:
        raise EsqlEngineError(f"Invalid regex [{pattern}]: {exc}") from None
    if _RE2_BAD_REPEAT.search(_CHAR_CLASS.sub("x", pattern)):
        raise EsqlEngineError(f"Invalid regex [{pattern}]: a repetition operator follows another one")
    return translated


# Python's re takes "a*+" and "a??" (possessive and lazy repeats); RE2 refuses a repeat
# of a repeat except the lazy "?", Lucene has neither.
_CHAR_CLASS = re.compile(r"\[\^?\]?(?:\\.|[^\]\\])*\]")
_RE2_BAD_REPEAT = re.compile(r"(?<!\\)(?:\\\\)*[*+?}][*+{]")


def _unify(types: list[str], what: str) -> str:
    real = [t for t in types if t != "null"]
    if not real:
        return "null"
    if all(t in NUMERIC_TYPES for t in real):
        return "double" if "double" in real else "long"
    if all(t in STRING_TYPES for t in real):
        return "keyword" if "keyword" in real else "text"
    if len(set(real)) == 1:
        return real[0]
    raise EsqlEngineError(f"{what}: all values must have the same type, found {sorted(set(real))}")


class _Compiler:
    """Compiles one parsed query to DuckDB SQL; see module docstring."""

    def __init__(
        self,
        fields: Mapping[str, FieldLike],
        now: dt.datetime,
        table: str = "docs",
        mapped: Mapping[str, FieldLike] | None = None,
        time_range: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> None:
        self.fields = fields
        self.mapped = mapped or {}
        self.time_range = time_range
        self.now = now
        self.table = table
        self.ctes: list[tuple[str, str]] = []
        self.cols: dict[str, Col] = {}
        self.ordered = False
        self.limited_last = False
        self._n = 0

    # -- pipeline ----------------------------------------------------------------
    def new_cte(self, sql: str) -> str:
        name = f"s{self._n}"
        self._n += 1
        self.ctes.append((name, sql))
        return name

    @property
    def prev(self) -> str:
        return self.ctes[-1][0]

    def col_list(self, cols: Mapping[str, Col] | None = None) -> str:
        names = list((self.cols if cols is None else cols).keys())
        if self.ordered:
            names.append(ORD)
        return ", ".join(q(n) for n in names) if names else "NULL AS __esql_empty"

    def compile(self, query: ast.EsqlQuery) -> tuple[str, list[Column]]:
        if query.settings:
            raise EsqlUnsupportedError("SET is not supported by the local engine")
        commands = list(query.commands)
        if not commands or not isinstance(commands[0], ast.FromCommand):
            name = type(commands[0]).__name__ if commands else "empty query"
            raise EsqlUnsupportedError(f"the local engine needs a FROM source command, not [{name}]")
        for cmd in commands:
            self.limited_last = False
            handler = getattr(self, f"cmd_{type(cmd).__name__}", None)
            if handler is None or (isinstance(cmd, ast.StatsCommand) and cmd.inline):
                label = "INLINE STATS" if isinstance(cmd, ast.StatsCommand) else _command_label(cmd)
                raise EsqlUnsupportedError(f"command [{label}] is not supported by the local engine")
            handler(cmd)
        names = ", ".join(q(n) for n in self.cols) or "NULL AS __esql_empty"
        final = f"SELECT {names} FROM {self.prev}"
        if self.ordered:
            final += f" ORDER BY {q(ORD)}"
        if not self.limited_last:
            final += f" LIMIT {DEFAULT_LIMIT}"
        with_sql = ",\n".join(f"{n} AS ({s})" for n, s in self.ctes)
        out_cols = [Column(n, c.type if c.type != "null" else "null") for n, c in self.cols.items()]
        return f"WITH {with_sql}\n{final}", out_cols

    def cmd_FromCommand(self, cmd: ast.FromCommand) -> None:
        if cmd.kind != "from":
            raise EsqlUnsupportedError("command [TS] is not supported by the local engine")
        if any(not isinstance(s, str) for s in cmd.sources):
            raise EsqlUnsupportedError("FROM subqueries are not supported by the local engine")
        include: list[str] = []
        exclude: list[str] = []
        for pattern in cmd.index_patterns:
            for part in (p.strip() for p in pattern.split(",")):
                if "::" in part:
                    raise EsqlUnsupportedError(f"index selector in [{part}] is not supported locally")
                if ":" in part:
                    raise EsqlUnsupportedError(f"cross-cluster index pattern [{part}] is not supported locally")
                (exclude if part.startswith("-") else include).append(part.lstrip("-"))
        conds = " OR ".join(f"{q('_index')} LIKE {sql_str(like_to_sql(p))} ESCAPE '\\'" for p in include)
        where = f"({conds})" if conds else "FALSE"
        for p in exclude:
            where += f" AND NOT ({q('_index')} LIKE {sql_str(like_to_sql(p))} ESCAPE '\\')"
        cols: dict[str, Col] = {}
        select: list[str] = []
        for name in sorted(set(self.fields) | set(self.mapped)):
            if name in ("_id", "_index", "_source"):
                continue
            stored = name in self.fields
            info = self.fields[name] if stored else self.mapped[name]
            if info.es_type not in SQL_TYPES:
                raise EsqlEngineError(f"field [{name}] has a type the engine does not know: {info.es_type}")
            cols[name] = Col(info.es_type, bool(info.multi))
            if stored and info.multi and info.es_type != "text":
                # ES|QL reads these from doc values: multi-values come back sorted, and keyword
                # values also deduplicated (sorted-set doc values).
                dedupe = info.es_type in STRING_TYPES
                inner = f"list_distinct({q(name)})" if dedupe else q(name)
                select.append(f"CASE WHEN len({q(name)}) = 0 THEN NULL ELSE list_sort({inner}) END AS {q(name)}")
            elif stored:
                select.append(q(name))
            else:
                # Mapped (as an index template would) but no stored document has it yet.
                sql_type = SQL_TYPES[info.es_type] + ("[]" if info.multi else "")
                select.append(f"CAST(NULL AS {sql_type}) AS {q(name)}")
        for meta in cmd.metadata:
            if meta == "_id":
                select.append(q("_id"))
                cols["_id"] = Col("keyword")
            elif meta == "_index":
                select.append(q("_index"))
                cols["_index"] = Col("keyword")
            elif meta == "_version":
                # Data stream documents are append-only: every one is at version 1.
                select.append(f"CAST(1 AS BIGINT) AS {q('_version')}")
                cols["_version"] = Col("long")
            else:
                raise EsqlUnsupportedError(f"METADATA field [{meta}] is not supported by the local engine")
        if self.time_range is not None:
            if "@timestamp" not in self.fields:
                where = "FALSE"  # nothing stored has a timestamp: nothing is in range
            else:
                start, end = self.time_range
                where += f" AND {q('@timestamp')} >= {_ts_literal(start)} AND {q('@timestamp')} <= {_ts_literal(end)}"
        self.cols = cols
        self.new_cte(f"SELECT {', '.join(select) or 'NULL AS __esql_empty'} FROM {self.table} WHERE {where}")

    def cmd_WhereCommand(self, cmd: ast.WhereCommand) -> None:
        cond = self.boolean(self.expr(cmd.predicate), "WHERE")
        self.new_cte(f"SELECT {self.col_list()} FROM {self.prev} WHERE {cond.sql}")

    def cmd_EvalCommand(self, cmd: ast.EvalCommand) -> None:
        for alias in cmd.assignments:
            e = self.expr(alias.expr)
            if e.type in TIME_SPAN_TYPES:
                raise EsqlEngineError(f"EVAL [{alias.name}]: a time span cannot be a column value")
            cols = {n: c for n, c in self.cols.items() if n != alias.name}
            rest = self.col_list(cols)
            value = e.sql if e.type != "null" else "NULL"
            self.new_cte(f"SELECT {rest}, {value} AS {q(alias.name)} FROM {self.prev}")
            cols[alias.name] = Col(e.type, e.multi)
            self.cols = cols

    def _patterns(self, cmd: ast.KeepCommand | ast.DropCommand) -> list[str]:
        """Columns selected by KEEP/DROP patterns, in KEEP's output order.

        ES precedence when a column matches several patterns: an exact name beats a
        partial wildcard, which beats ``*``; between equals the rightmost pattern wins.
        Columns are ordered by their winning pattern, then by input order.
        """
        patterns: list[str] = getattr(cmd, "patterns", None) or [*cmd.columns, *cmd.wildcards]
        best: dict[str, tuple[int, int]] = {}  # column -> (precedence, pattern index)
        for i, p in enumerate(patterns):
            if "*" in p:
                rx = re.compile(".*".join(re.escape(part) for part in p.split("*")) + r"\Z")
                hits = [n for n in self.cols if rx.match(n)]
                if not hits:
                    raise EsqlEngineError(f"No matches found for pattern [{p}]")
                precedence = 1 if set(p) == {"*"} else 2
            else:
                if p not in self.cols:
                    raise EsqlEngineError(f"Unknown column [{p}]")
                hits, precedence = [p], 3
            for n in hits:
                if n not in best or precedence >= best[n][0]:
                    best[n] = (precedence, i)
        order = {n: k for k, n in enumerate(self.cols)}
        return sorted(best, key=lambda n: (best[n][1], order[n]))

    def cmd_KeepCommand(self, cmd: ast.KeepCommand) -> None:
        keep = self._patterns(cmd)
        self.cols = {n: self.cols[n] for n in keep}
        self.new_cte(f"SELECT {self.col_list()} FROM {self.prev}")

    def cmd_DropCommand(self, cmd: ast.DropCommand) -> None:
        drop = set(self._patterns(cmd))
        self.cols = {n: c for n, c in self.cols.items() if n not in drop}
        self.new_cte(f"SELECT {self.col_list()} FROM {self.prev}")

    def cmd_RenameCommand(self, cmd: ast.RenameCommand) -> None:
        for old, new in cmd.renames:
            if "*" in old or "*" in new:
                raise EsqlUnsupportedError("RENAME with wildcards is not supported by the local engine")
            if old not in self.cols:
                raise EsqlEngineError(f"Unknown column [{old}]")
            cols: dict[str, Col] = {}
            select: list[str] = []
            for n, c in self.cols.items():
                if n == new and n != old:
                    continue  # the renamed column replaces an existing one of that name
                out = new if n == old else n
                cols[out] = c
                select.append(f"{q(n)} AS {q(out)}")
            if self.ordered:
                select.append(q(ORD))
            self.cols = cols
            self.new_cte(f"SELECT {', '.join(select)} FROM {self.prev}")

    def cmd_LimitCommand(self, cmd: ast.LimitCommand) -> None:
        if cmd.by:
            raise EsqlUnsupportedError("command [LIMIT ... BY] is not supported by the local engine")
        if not isinstance(cmd.count, int):
            raise EsqlUnsupportedError("LIMIT needs an integer literal in the local engine")
        n = min(cmd.count, MAX_LIMIT)
        order = f" ORDER BY {q(ORD)}" if self.ordered else ""
        self.new_cte(f"SELECT {self.col_list()} FROM {self.prev}{order} LIMIT {n}")
        self.limited_last = True

    def cmd_SortCommand(self, cmd: ast.SortCommand) -> None:
        keys: list[str] = []
        for key in cmd.keys:
            e = self.expr(key.expr)
            desc = bool(getattr(key, "descending", False))
            nulls_first = bool(getattr(key, "nulls_first", desc))
            # ES sorts a multi-value by its lowest value ascending, highest descending.
            sql = f"list_{'max' if desc else 'min'}({e.sql})" if e.multi else e.sql
            keys.append(f"{sql} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}")
        if self.ordered:  # ES combines consecutive sorts: the earlier order breaks ties
            keys.append(f"{q(ORD)} ASC")
        names = ", ".join(q(n) for n in self.cols)
        self.new_cte(
            f"SELECT {names}{', ' if names else ''}row_number() OVER (ORDER BY {', '.join(keys)}) AS {q(ORD)} "
            f"FROM {self.prev}"
        )
        self.ordered = True

    def cmd_MvExpandCommand(self, cmd: ast.MvExpandCommand) -> None:
        name = cmd.field or ""
        if name not in self.cols:
            raise EsqlEngineError(f"Unknown column [{name}]")
        col = self.cols[name]
        if not col.multi:
            return
        select = []
        for n in self.cols:
            if n == name:
                select.append(
                    f"unnest(CASE WHEN {q(n)} IS NULL OR len({q(n)}) = 0 THEN [NULL] ELSE {q(n)} END) AS {q(n)}"
                )
            else:
                select.append(q(n))
        if self.ordered:
            select.append(q(ORD))
        self.cols = {n: (Col(c.type, False) if n == name else c) for n, c in self.cols.items()}
        self.new_cte(f"SELECT {', '.join(select)} FROM {self.prev}")

    def cmd_StatsCommand(self, cmd: ast.StatsCommand) -> None:
        aliases = {a.name: a.expr for a in cmd.grouping_aliases}
        groups: list[tuple[str, Expr]] = []
        for name in cmd.grouping:
            node = aliases.get(name) or ast.ColumnRef(name)
            e = self.expr(node)
            if e.type in TIME_SPAN_TYPES:
                raise EsqlEngineError(f"STATS BY [{name}]: cannot group by a time span")
            groups.append((name, e))
        # Pre-stage: input columns plus the grouping keys as __g<i>; multi-valued keys are
        # expanded, so a row counts in the group of each of its values (as in ES).
        base = self.col_list()
        gsel = [f"{g.sql if g.type != 'null' else 'NULL'} AS __g{i}" for i, (_, g) in enumerate(groups)]
        src = self.new_cte(f"SELECT {', '.join([base, *gsel])} FROM {self.prev}") if groups else self.prev
        for i, (_, g) in enumerate(groups):
            if g.multi:
                others = [base] + [f"__g{j}" for j in range(len(groups)) if j != i]
                src = self.new_cte(
                    f"SELECT {', '.join(others)}, unnest(CASE WHEN __g{i} IS NULL OR len(__g{i}) = 0 "
                    f"THEN [NULL] ELSE __g{i} END) AS __g{i} FROM {src}"
                )
        group_refs = {name: (f"__g{i}", Col(g.type, False)) for i, (name, g) in enumerate(groups)}
        # ES: of several columns with one name only the rightmost is kept, and a grouping
        # named like a computed column replaces it (a second SQL column of the same name
        # would be the one later commands read: the first).
        columns: dict[str, tuple[str, Col]] = {}
        for alias in cmd.aggregates:
            filt = getattr(alias, "filter", None)
            fsql = self.boolean(self.expr(filt), "STATS ... WHERE").sql if filt is not None else None
            e = self.agg_expr(alias.expr, group_refs, fsql)
            columns.pop(alias.name, None)
            columns[alias.name] = (f"{e.sql} AS {q(alias.name)}", Col(e.type, e.multi))
        for i, (name, _) in enumerate(groups):
            columns.pop(name, None)
            columns[name] = (f"__g{i} AS {q(name)}", group_refs[name][1])
        select = [sql for sql, _ in columns.values()]
        out = {name: col for name, (_, col) in columns.items()}
        group_by = f" GROUP BY {', '.join(f'__g{i}' for i in range(len(groups)))}" if groups else ""
        if not select:
            raise EsqlEngineError("STATS needs at least one aggregate or grouping")
        self.ordered = False
        self.cols = out
        self.new_cte(f"SELECT {', '.join(select)} FROM {src}{group_by}")

    # -- expressions ---------------------------------------------------------------
    def scalar(self, e: Expr) -> Expr:
        if not e.multi:
            return e
        return Expr(f"(CASE WHEN len({e.sql}) = 1 THEN ({e.sql})[1] END)", e.type)

    def as_list(self, e: Expr) -> str:
        if e.multi:
            return e.sql
        if e.type == "null":
            return "NULL"
        return f"(CASE WHEN ({e.sql}) IS NULL THEN NULL ELSE [{e.sql}] END)"

    def boolean(self, e: Expr, where: str) -> Expr:
        e = self.scalar(e)
        if e.type not in ("boolean", "null"):
            raise EsqlEngineError(f"{where}: condition must be boolean, found [{e.type}]")
        return e if e.type == "boolean" else Expr("CAST(NULL AS BOOLEAN)", "boolean")

    def literal(self, node: ast.Literal) -> Expr:
        kind, value = node.kind, node.value
        if kind == "null" or value is None:
            return Expr("NULL", "null", literal=None, is_literal=True)
        if kind == "string":
            return Expr(sql_str(value), "keyword", literal=value, is_literal=True)
        if kind == "boolean":
            return Expr("TRUE" if value else "FALSE", "boolean", literal=value, is_literal=True)
        if kind in ("long", "integer"):
            return Expr(f"CAST({int(value)} AS BIGINT)", "long", literal=int(value), is_literal=True)
        if kind == "double":
            if not math.isfinite(value):
                raise EsqlEngineError(f"invalid number [{value}]")
            return Expr(f"CAST({value!r} AS DOUBLE)", "double", literal=float(value), is_literal=True)
        if kind in TIME_SPAN_TYPES:
            amount, unit = parse_temporal(str(value))
            return Expr(f"INTERVAL '{amount} {unit}'", kind, literal=(amount, unit), is_literal=True)
        if kind == "string_array":
            items = ", ".join(sql_str(v) for v in value)
            return Expr(f"[{items}]::VARCHAR[]", "keyword", multi=True, literal=list(value), is_literal=True)
        if kind == "numeric_array":
            t = "double" if any(isinstance(v, float) for v in value) else "long"
            items = ", ".join(repr(v) for v in value)
            return Expr(f"[{items}]::{SQL_TYPES[t]}[]", t, multi=True, literal=list(value), is_literal=True)
        if kind == "boolean_array":
            items = ", ".join("TRUE" if v else "FALSE" for v in value)
            return Expr(f"[{items}]::BOOLEAN[]", "boolean", multi=True, literal=list(value), is_literal=True)
        raise EsqlUnsupportedError(f"literal of kind [{kind}] is not supported by the local engine")

    def column(self, name: str) -> Expr:
        if name.startswith("?"):
            raise EsqlUnsupportedError(f"query parameter [{name}] is not supported by the local engine")
        col = self.cols.get(name)
        if col is None:
            raise EsqlEngineError(f"Unknown column [{name}]")
        return Expr(q(name), col.type, col.multi)

    def expr(self, node: ast.Expression | None) -> Expr:
        if node is None:
            raise EsqlEngineError("missing expression")
        if isinstance(node, ast.Literal):
            return self.literal(node)
        if isinstance(node, ast.ColumnRef):
            return self.column(node.name)
        if isinstance(node, ast.BinaryExpr):
            return self.binary(node)
        if isinstance(node, ast.InlineCast):
            return self.convert(node.target_type, self.expr(node.expr), "::" + node.target_type)
        if isinstance(node, ast.FunctionCall):
            return self.function(node)
        raise EsqlUnsupportedError(f"expression [{type(node).__name__}] is not supported by the local engine")

    def _coerce_date_literal(self, a: Expr, b: Expr) -> tuple[Expr, Expr]:
        """ES casts a string literal compared with a date to a date."""
        if a.type == "date" and b.is_literal and b.type == "keyword":
            return a, Expr(_ts_literal(_parse_date(b.literal)), "date")
        if b.type == "date" and a.is_literal and a.type == "keyword":
            return Expr(_ts_literal(_parse_date(a.literal)), "date"), b
        return a, b

    def compare(self, op: str, a: Expr, b: Expr) -> Expr:
        a, b = self.scalar(a), self.scalar(b)
        a, b = self._coerce_date_literal(a, b)
        if "null" in (a.type, b.type):
            return Expr("CAST(NULL AS BOOLEAN)", "boolean")
        ok = (
            (a.type in NUMERIC_TYPES and b.type in NUMERIC_TYPES)
            or (a.type in STRING_TYPES and b.type in STRING_TYPES)
            or a.type == b.type
        )
        if not ok or a.type in TIME_SPAN_TYPES:
            raise EsqlEngineError(
                f"first argument of [{op}] is [{a.type}] so second argument must also be [{a.type}] but was [{b.type}]"
            )
        if a.type == "boolean" and op not in ("==", "!="):
            raise EsqlEngineError(f"[{op}] cannot compare booleans")
        sql_op = {"==": "=", "!=": "<>"}.get(op, op)
        return Expr(f"({a.sql} {sql_op} {b.sql})", "boolean")

    def binary(self, node: ast.BinaryExpr) -> Expr:
        op = node.op.lower()
        if op in ("and", "or"):
            a = self.boolean(self.expr(node.left), op.upper())
            b = self.boolean(self.expr(node.right), op.upper())
            return Expr(f"({a.sql} {op.upper()} {b.sql})", "boolean")
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self.compare(op, self.expr(node.left), self.expr(node.right))
        if op in ("in", "not_in"):
            if not isinstance(node.right, ast.FunctionCall) or node.right.name != "__values__":
                raise EsqlUnsupportedError("IN with a subquery is not supported by the local engine")
            left = self.scalar(self.expr(node.left))
            values = [self.scalar(self.expr(v)) for v in node.right.args]
            if left.type != "date" and any(v.type == "date" for v in values):
                # a string literal on the left is read as a date, and then so is every value
                left = self._coerce_date_literal(left, next(v for v in values if v.type == "date"))[0]
            for v in values:
                self.compare("IN", left, v)  # type check
            coerced = [self._coerce_date_literal(left, v)[1] for v in values]
            if left.type == "null":
                return Expr("CAST(NULL AS BOOLEAN)", "boolean")
            items = ", ".join(v.sql if v.type != "null" else "NULL" for v in coerced)
            neg = "NOT " if op == "not_in" else ""
            return Expr(f"({left.sql} {neg}IN ({items}))", "boolean")
        if op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(op, self.expr(node.left), self.expr(node.right))
        raise EsqlUnsupportedError(f"operator [{node.op}] is not supported by the local engine")

    def arithmetic(self, op: str, a: Expr, b: Expr) -> Expr:
        a, b = self.scalar(a), self.scalar(b)
        if a.type == "date" and b.type in TIME_SPAN_TYPES and op in "+-":
            return Expr(f"({a.sql} {op} {b.sql})", "date")
        if b.type == "date" and a.type in TIME_SPAN_TYPES and op == "+":
            return Expr(f"({b.sql} + {a.sql})", "date")
        if "null" in (a.type, b.type):
            return Expr("NULL", "null")
        if a.type not in NUMERIC_TYPES or b.type not in NUMERIC_TYPES:
            raise EsqlEngineError(f"[{op}] has arguments with incompatible types [{a.type}] and [{b.type}]")
        t = "double" if "double" in (a.type, b.type) else "long"
        if op == "/":
            if t == "long":  # integer division truncates toward zero, as in Java
                return Expr(f"CAST(trunc({a.sql} / NULLIF({b.sql}, 0)) AS BIGINT)", "long")
            return Expr(f"({a.sql} / NULLIF({b.sql}, 0))", "double")
        if op == "%":
            return Expr(f"fmod({a.sql}, NULLIF({b.sql}, 0))" if t == "double" else f"({a.sql} % NULLIF({b.sql}, 0))", t)
        return Expr(f"({a.sql} {op} {b.sql})", t)

    def convert(self, target: str, e: Expr, label: str) -> Expr:
        e = self.scalar(e)
        target = {"string": "keyword", "int": "integer", "datetime": "date", "bool": "boolean"}.get(target, target)
        if e.type == "null":
            return Expr("NULL", "null")
        if target in STRING_TYPES:
            if e.type == "date":
                return Expr(f"strftime({e.sql}, '%Y-%m-%dT%H:%M:%S.%gZ')", "keyword")
            if e.type == "boolean":
                return Expr(f"(CASE WHEN {e.sql} THEN 'true' WHEN NOT {e.sql} THEN 'false' END)", "keyword")
            return Expr(f"CAST({e.sql} AS VARCHAR)", "keyword")
        if e.type == "date" and target in ("double", "long", "integer"):  # milliseconds since the epoch
            return Expr(f"CAST(epoch_ms({e.sql}) AS {'DOUBLE' if target == 'double' else 'BIGINT'})",
                        "double" if target == "double" else "long")
        if target == "double":
            return Expr(f"TRY_CAST({e.sql} AS DOUBLE)", "double")
        if target in ("long", "integer"):
            if e.type == "double":
                return Expr(f"TRY_CAST(trunc({e.sql}) AS BIGINT)", "long")
            if e.type in STRING_TYPES:
                return Expr(f"TRY_CAST(trunc(TRY_CAST({e.sql} AS DOUBLE)) AS BIGINT)", "long")
            return Expr(f"TRY_CAST({e.sql} AS BIGINT)", "long")
        if target == "boolean":
            if e.type in STRING_TYPES:
                return Expr(f"(lower({e.sql}) = 'true')", "boolean")
            return Expr(f"TRY_CAST({e.sql} AS BOOLEAN)", "boolean")
        if target == "date":
            if e.type == "date":
                return e
            if e.type in STRING_TYPES:  # ISO 8601 in UTC ("Z"); other offsets give null
                return Expr(f"TRY_CAST(regexp_replace({e.sql}, 'Z$', '') AS TIMESTAMP)", "date")
            if e.type in NUMERIC_TYPES:  # milliseconds since the epoch; out of range: null
                return Expr(
                    f"(CASE WHEN {e.sql} BETWEEN -{_MAX_EPOCH_MS} AND {_MAX_EPOCH_MS} "
                    f"THEN make_timestamp(CAST(trunc({e.sql}) AS BIGINT) * 1000) END)",
                    "date",
                )
        raise EsqlUnsupportedError(f"conversion [{label}] from [{e.type}] is not supported by the local engine")

    def function(self, node: ast.FunctionCall) -> Expr:
        name = node.name.lower()
        args = node.args
        if name in AGGREGATES:
            raise EsqlEngineError(f"aggregate function [{name.upper()}] is only allowed in STATS")
        if name == "not":
            a = self.boolean(self.expr(args[0]), "NOT")
            return Expr(f"(NOT {a.sql})", "boolean")
        if name == "-":
            a = self.scalar(self.expr(args[0]))
            if a.type in TIME_SPAN_TYPES:
                return Expr(f"(-{a.sql})", a.type)
            if a.type not in NUMERIC_TYPES and a.type != "null":
                raise EsqlEngineError(f"unary [-] needs a number, found [{a.type}]")
            return Expr(f"(-{a.sql})", a.type)
        if name in ("is_null", "is_not_null"):
            a = self.expr(args[0])
            if a.multi:
                sql = f"({a.sql} IS NULL OR len({a.sql}) = 0)"
            else:
                sql = "TRUE" if a.type == "null" else f"({a.sql} IS NULL)"
            return Expr(sql if name == "is_null" else f"(NOT {sql})", "boolean")
        if name in ("like", "not_like", "rlike", "not_rlike"):
            value = self.scalar(self.expr(args[0]))
            if value.type not in STRING_TYPES and value.type != "null":
                raise EsqlEngineError(f"[{name.upper()}] needs a string, found [{value.type}]")
            patterns = []
            for p in args[1:]:
                if not isinstance(p, ast.Literal) or not isinstance(p.value, str):
                    raise EsqlUnsupportedError(f"[{name.upper()}] needs a string literal pattern in the local engine")
                patterns.append(p.value)
            match_all = re.compile(r"(\.\*)+" if name.endswith("rlike") else r"\*+")
            if patterns and all(match_all.fullmatch(p) for p in patterns):
                # ES's optimizer rewrites a match-everything pattern to IS NOT NULL, so that
                # `x NOT LIKE "*"` is true (not null) where x is null.
                sql = f"({value.sql} IS NOT NULL)" if value.type != "null" else "FALSE"
                return Expr(f"(NOT {sql})" if name.startswith("not_") else sql, "boolean")
            parts = []
            for p in args[1:]:
                assert isinstance(p, ast.Literal)
                if name.endswith("rlike"):
                    parts.append(f"regexp_full_match({value.sql}, {sql_str(rlike_to_re2(p.value))})")
                else:
                    parts.append(f"({value.sql} LIKE {sql_str(like_to_sql(p.value))} ESCAPE '\\')")
            sql = "(" + " OR ".join(parts) + ")"
            return Expr(f"(NOT {sql})" if name.startswith("not_") else sql, "boolean")
        fn = getattr(self, f"fn_{name}", None)
        if fn is None:
            raise EsqlUnsupportedError(f"function [{name.upper()}] is not supported by the local engine")
        compiled = [self.expr(a) for a in args]
        if name not in _SPAN_ARGUMENTS:
            for e in compiled:
                if e.type in TIME_SPAN_TYPES:
                    raise EsqlEngineError(f"function [{name.upper()}] does not take a time span, found [{e.type}]")
        return fn(node, compiled)

    # scalar functions: fn_<name>(node, compiled args)
    def _arity(self, node: ast.FunctionCall, args: list[Expr], lo: int, hi: int | None = None) -> None:
        hi = lo if hi is None else hi
        if not lo <= len(args) <= (hi if hi >= 0 else len(args)):
            raise EsqlEngineError(f"function [{node.name.upper()}] got {len(args)} arguments")

    def _string_arg(self, node: ast.FunctionCall, e: Expr) -> Expr:
        e = self.scalar(e)
        if e.type not in STRING_TYPES and e.type != "null":
            raise EsqlEngineError(f"function [{node.name.upper()}] needs a string argument, found [{e.type}]")
        return e

    def fn_now(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 0)
        return Expr(_ts_literal(self.now), "date")

    def fn_to_lower(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return Expr(f"lower({self._string_arg(node, args[0]).sql})", "keyword")

    def fn_to_upper(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return Expr(f"upper({self._string_arg(node, args[0]).sql})", "keyword")

    def fn_length(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return Expr(f"CAST(length({self._string_arg(node, args[0]).sql}) AS BIGINT)", "integer")

    def fn_concat(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2, -1)
        parts = [self._string_arg(node, a).sql for a in args]
        return Expr("(" + " || ".join(parts) + ")", "keyword")

    def fn_starts_with(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2)
        a, b = (self._string_arg(node, x) for x in args)
        return Expr(f"starts_with({a.sql}, {b.sql})", "boolean")

    def fn_ends_with(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2)
        a, b = (self._string_arg(node, x) for x in args)
        return Expr(f"ends_with({a.sql}, {b.sql})", "boolean")

    def _values(self, values: list[Expr], what: str) -> tuple[list[str], str, bool]:
        """SQL for result values that may be multi-valued (CASE and COALESCE pass multi-values through)."""
        t = _unify([v.type for v in values], what)
        multi = any(v.multi for v in values)
        if not multi:
            return [v.sql if v.type != "null" else "NULL" for v in values], t, False
        sql_type = SQL_TYPES.get(t, "VARCHAR") + "[]"
        return [f"CAST({self.as_list(v)} AS {sql_type})" if v.type != "null" else "NULL" for v in values], t, True

    def fn_coalesce(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1, -1)
        sqls, t, multi = self._values(args, "COALESCE")
        return Expr("coalesce(" + ", ".join(sqls) + ")", t, multi)

    def fn_case(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2, -1)
        # A multi-valued condition is null (ES: "treating result as false"); values may be multi-valued.
        conds = [self.boolean(args[i], "CASE") for i in range(0, len(args) - 1, 2)]
        values = [args[i + 1] for i in range(0, len(args) - 1, 2)]
        if len(args) % 2:
            values.append(args[-1])
        sqls, t, multi = self._values(values, "CASE")
        parts = [f"WHEN {c.sql} THEN {v}" for c, v in zip(conds, sqls, strict=False)]
        if len(args) % 2:
            parts.append(f"ELSE {sqls[-1]}")
        return Expr("(CASE " + " ".join(parts) + " END)", t, multi)

    def _numeric(self, node: ast.FunctionCall, e: Expr) -> Expr:
        e = self.scalar(e)
        if e.type not in NUMERIC_TYPES and e.type != "null":
            raise EsqlEngineError(f"function [{node.name.upper()}] needs a number, found [{e.type}]")
        return e

    def fn_abs(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        a = self._numeric(node, args[0])
        return Expr(f"abs({a.sql})", a.type)

    def fn_round(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1, 2)
        a = self._numeric(node, args[0])
        digits = "0"
        if len(args) == 2:
            d = self._numeric(node, args[1])
            if d.type == "double":  # ES: the number of decimals is an integer
                raise EsqlEngineError(f"second argument of [ROUND] must be an integer, found [{d.type}]")
            digits = f"TRY_CAST({d.sql} AS INTEGER)"  # past an int's range: null
        return Expr(f"round({a.sql}, {digits})", a.type)

    def fn_greatest(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        args = [self.scalar(a) for a in args]
        t = _unify([a.type for a in args], node.name.upper())
        fn = "greatest" if node.name.lower() == "greatest" else "least"
        # ES returns null when any argument is null; DuckDB would skip nulls.
        nulls = " OR ".join(f"({a.sql}) IS NULL" for a in args)
        return Expr(f"(CASE WHEN {nulls} THEN NULL ELSE {fn}({', '.join(a.sql for a in args)}) END)", t)

    fn_least = fn_greatest

    def fn_to_string(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return self.convert("keyword", args[0], "TO_STRING")

    def fn_to_double(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return self.convert("double", args[0], "TO_DOUBLE")

    def fn_to_long(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return self.convert("long", args[0], "TO_LONG")

    fn_to_integer = fn_to_long

    def fn_to_boolean(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return self.convert("boolean", args[0], "TO_BOOLEAN")

    def fn_to_datetime(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        return self.convert("date", args[0], "TO_DATETIME")

    def fn_date_trunc(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2)
        span, date = args[0], self.scalar(args[1])
        if span.type not in TIME_SPAN_TYPES or not span.is_literal:
            raise EsqlUnsupportedError("DATE_TRUNC needs a literal time span (e.g. 1 hour) in the local engine")
        if date.type not in ("date", "null"):
            raise EsqlEngineError(f"DATE_TRUNC needs a date, found [{date.type}]")
        if date.type == "null":
            return Expr("CAST(NULL AS TIMESTAMP)", "date")
        amount, unit = span.literal
        if unit in _MS and not (unit == "days" and amount in (1, 7)):
            # Fixed intervals are aligned on the epoch, like ES's fixed-interval rounding.
            ms = amount * _MS[unit]
            return Expr(f"make_timestamp((epoch_ms({date.sql}) // {ms}) * {ms} * 1000)", "date")
        calendar = {("days", 1): "day", ("days", 7): "week", ("months", 1): "month", ("months", 3): "quarter",
                    ("years", 1): "year"}.get((unit, amount))
        if calendar is None:
            raise EsqlUnsupportedError(f"DATE_TRUNC by [{amount} {unit}] is not supported by the local engine")
        return Expr(f"date_trunc('{calendar}', {date.sql})", "date")

    # multi-value functions
    def fn_mv_count(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        a = args[0]
        if a.multi:
            return Expr(f"CAST(NULLIF(len({a.sql}), 0) AS BIGINT)", "integer")
        return Expr(f"(CASE WHEN ({a.sql}) IS NULL THEN NULL ELSE CAST(1 AS BIGINT) END)", "integer")

    def fn_mv_contains(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2)
        sup, sub = args
        t = _unify([sup.type, sub.type], "MV_CONTAINS")
        if t == "null":
            return Expr("TRUE", "boolean")
        empty = f"[]::{SQL_TYPES[t]}[]"
        # ES: null is an empty set; true when every value of the second is in the first.
        return Expr(f"list_has_all(coalesce({self.as_list(sup)}, {empty}), coalesce({self.as_list(sub)}, {empty}))",
                    "boolean")

    def _mv_unary(self, node: ast.FunctionCall, args: list[Expr], sql_fn: str, numeric: bool = False) -> Expr:
        self._arity(node, args, 1)
        a = args[0]
        if numeric and a.type not in NUMERIC_TYPES and a.type != "null":
            raise EsqlEngineError(f"function [{node.name.upper()}] needs numbers, found [{a.type}]")
        if not a.multi:
            return a
        return Expr(f"{sql_fn}({a.sql})", a.type)

    def fn_mv_min(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        return self._mv_unary(node, args, "list_min")

    def fn_mv_max(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        return self._mv_unary(node, args, "list_max")

    def fn_mv_first(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        return self._mv_unary(node, args, "list_first")

    def fn_mv_last(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        return self._mv_unary(node, args, "list_last")

    def fn_mv_sum(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        e = self._mv_unary(node, args, "list_sum", numeric=True)
        return Expr(f"CAST({e.sql} AS {SQL_TYPES.get(e.type, 'DOUBLE')})", e.type) if args[0].multi else e

    def fn_mv_avg(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        e = self._mv_unary(node, args, "list_avg", numeric=True)
        return Expr(f"CAST({e.sql} AS DOUBLE)", "double")

    def fn_mv_dedupe(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1)
        a = args[0]
        return Expr(f"list_sort(list_distinct({a.sql}))", a.type, multi=True) if a.multi else a

    def fn_mv_sort(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 1, 2)
        a = args[0]
        order = "ASC"
        if len(args) == 2:
            if not args[1].is_literal or str(args[1].literal).upper() not in ("ASC", "DESC"):
                raise EsqlEngineError("MV_SORT order must be the literal \"ASC\" or \"DESC\"")
            order = str(args[1].literal).upper()
        return Expr(f"list_sort({a.sql}, '{order}')", a.type, multi=True) if a.multi else a

    def fn_mv_concat(self, node: ast.FunctionCall, args: list[Expr]) -> Expr:
        self._arity(node, args, 2)
        a, delim = args[0], self._string_arg(node, args[1])
        if a.type not in STRING_TYPES and a.type != "null":
            raise EsqlEngineError(f"MV_CONCAT needs strings, found [{a.type}]")
        if not a.multi:
            return a
        if delim.literal is None and delim.type != "null":  # DuckDB's array_to_string takes a constant only
            raise EsqlUnsupportedError("MV_CONCAT with a delimiter that is not a constant is not supported by the local engine")
        return Expr(f"NULLIF(array_to_string({a.sql}, {delim.sql}), '')", "keyword")

    # -- aggregates -------------------------------------------------------------------
    def agg_expr(self, node: ast.Expression, groups: dict[str, tuple[str, Col]], filt: str | None) -> Expr:
        """Compile an expression over aggregates (and grouping keys) for STATS."""
        if isinstance(node, ast.FunctionCall) and node.name.lower() in AGGREGATES:
            return self.aggregate(node, filt)
        if isinstance(node, ast.Literal):
            return self.literal(node)
        if isinstance(node, ast.ColumnRef):
            if node.name in groups:
                ref, col = groups[node.name]
                return Expr(ref, col.type, col.multi)
            raise EsqlEngineError(
                f"column [{node.name}] must appear in the STATS BY clause or be used in an aggregate function"
            )
        # Anything else: aggregates and grouping keys become the leaves of a row expression.
        return _AggScope(self, groups, filt).compile(node)

    def aggregate(self, node: ast.FunctionCall, filt: str | None) -> Expr:
        name = node.name.lower()
        fw = f" FILTER (WHERE {filt})" if filt else ""
        if name == "count" and not node.args:
            return Expr(f"count(*){fw}", "long")
        if name == "count" and len(node.args) == 1 and isinstance(node.args[0], ast.Wildcard):
            return Expr(f"count(*){fw}", "long")
        if len(node.args) != 1:
            if name == "count_distinct" and len(node.args) == 2:
                pass  # precision argument: we count exactly
            else:
                raise EsqlEngineError(f"aggregate [{name.upper()}] got {len(node.args)} arguments")
        a = self.expr(node.args[0])
        if a.type in TIME_SPAN_TYPES:
            raise EsqlEngineError(f"aggregate [{name.upper()}] cannot take a time span")
        if name == "count":
            if a.multi:
                return Expr(f"CAST(coalesce(sum(len({a.sql})){fw}, 0) AS BIGINT)", "long")
            return Expr(f"count({a.sql}){fw}", "long")
        if a.type == "null":
            return Expr("CAST(0 AS BIGINT)" if name == "count_distinct" else "NULL", "long" if name ==
                        "count_distinct" else "null")
        nn = f" FILTER (WHERE {a.sql} IS NOT NULL{' AND ' + filt if filt else ''})"
        values = f"flatten(list({a.sql}){nn})" if a.multi else f"list({a.sql}){nn}"
        if name == "count_distinct":
            return Expr(f"CAST(coalesce(len(list_distinct({values})), 0) AS BIGINT)", "long")
        if name == "values":
            return Expr(f"list_sort(list_distinct({values}))", a.type, multi=True)
        if name in ("min", "max"):
            inner = f"list_{name}({a.sql})" if a.multi else a.sql
            return Expr(f"{name}({inner}){fw}", a.type)
        if a.type not in NUMERIC_TYPES:
            raise EsqlEngineError(f"aggregate [{name.upper()}] needs a number, found [{a.type}]")
        if name == "sum":
            inner = f"list_sum({a.sql})" if a.multi else a.sql
            t = "double" if a.type == "double" else "long"
            return Expr(f"CAST(sum({inner}){fw} AS {SQL_TYPES[t]})", t)
        if name == "avg":
            if a.multi:
                return Expr(f"(sum(list_sum({a.sql})){fw} / NULLIF(sum(len({a.sql})){fw}, 0))", "double")
            return Expr(f"CAST(avg({a.sql}){fw} AS DOUBLE)", "double")
        raise EsqlUnsupportedError(f"aggregate [{name.upper()}] is not supported by the local engine")


# Placeholder column names while compiling expressions over aggregates; the NUL byte keeps
# them apart from anything a query can contain.
_AGG_MARK = "\x00agg"


class _AggScope:
    """Re-runs the row-expression compiler where leaves are aggregates or grouping keys."""

    def __init__(self, compiler: _Compiler, groups: dict[str, tuple[str, Col]], filt: str | None) -> None:
        self.c = compiler
        self.groups = groups
        self.filt = filt

    def compile(self, node: ast.Expression) -> Expr:
        # Replace aggregate calls and group refs by placeholders the row compiler accepts:
        # temporary columns whose SQL is the aggregate text.
        placeholders: dict[str, Col] = {}
        sqls: dict[str, str] = {}

        def rewrite(n: ast.Expression) -> ast.Expression:
            if isinstance(n, ast.FunctionCall) and n.name.lower() in AGGREGATES:
                e = self.c.aggregate(n, self.filt)
                key = f"{_AGG_MARK}{len(sqls)}"
                sqls[key] = e.sql
                placeholders[key] = Col(e.type, e.multi)
                return ast.ColumnRef(key)
            if isinstance(n, ast.ColumnRef):
                if n.name not in self.groups:
                    raise EsqlEngineError(
                        f"column [{n.name}] must appear in the STATS BY clause or be used in an aggregate function"
                    )
                ref, col = self.groups[n.name]
                key = f"{_AGG_MARK}{len(sqls)}"
                sqls[key] = ref
                placeholders[key] = col
                return ast.ColumnRef(key)
            if isinstance(n, ast.BinaryExpr):
                right = n.right
                if not (isinstance(right, ast.FunctionCall) and right.name == "__values__"):
                    right = rewrite(right)
                else:
                    right = ast.FunctionCall("__values__", [rewrite(a) for a in right.args])
                return ast.BinaryExpr(n.op, rewrite(n.left), right)
            if isinstance(n, ast.FunctionCall):
                return ast.FunctionCall(n.name, [rewrite(a) for a in n.args])
            if isinstance(n, ast.InlineCast):
                return ast.InlineCast(rewrite(n.expr), n.target_type)
            return n

        saved_rows_cols = self.c.cols
        rewritten = rewrite(node)
        self.c.cols = placeholders
        try:
            e = self.c.expr(rewritten)
        finally:
            self.c.cols = saved_rows_cols
        sql = e.sql
        for key in sorted(sqls, key=len, reverse=True):
            sql = sql.replace(q(key), f"({sqls[key]})")
        return Expr(sql, e.type, e.multi)


def _command_label(cmd: ast.Command) -> str:
    if isinstance(cmd, ast.GenericCommand):
        return cmd.name.upper()
    name = type(cmd).__name__.removesuffix("Command")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _parse_date(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EsqlEngineError(f"cannot convert string [{text}] to [datetime]") from exc
    return value


def _to_output(value: Any, col: Column) -> Any:
    if isinstance(value, list):
        items = [_to_output(v, col) for v in value if v is not None]
        if not items:
            return None
        return items[0] if len(items) == 1 else items
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):
        return int(value) if col.type in ("long", "integer") else float(value)
    if isinstance(value, float) and col.type in ("long", "integer") and value.is_integer():
        return int(value)
    return value


@dataclass
class EsqlEngine:
    """Run ES|QL over a :class:`~otel_llm_security.store.duckdb_store.DocumentStore`.

    ``now`` pins ``NOW()`` (tests and replays); by default it is the wall clock (UTC)
    read once per query, as in Elasticsearch.
    """

    store: StoreLike
    now: dt.datetime | None = None
    stack_version: str = TARGET_STACK_VERSION
    table: str = "docs"
    mapped_fields: Mapping[str, FieldLike] = field(default_factory=dict)

    def compile(
        self, query: str | ast.EsqlQuery, *, time_range: tuple[dt.datetime, dt.datetime] | None = None
    ) -> tuple[str, list[Column]]:
        """ES|QL → (DuckDB SQL, output columns). ``time_range`` filters @timestamp like a rule's from/to."""
        tree = parse_query(query, self.stack_version) if isinstance(query, str) else query
        now = self.now or dt.datetime.now(dt.timezone.utc)
        return _Compiler(self.store.fields(), now, self.table, self.mapped_fields, time_range).compile(tree)

    def execute(
        self, query: str | ast.EsqlQuery, *, time_range: tuple[dt.datetime, dt.datetime] | None = None
    ) -> EsqlResult:
        sql, columns = self.compile(query, time_range=time_range)
        rows = self.store.connection.execute(sql).fetchall()
        if not columns:
            return EsqlResult(columns=[], values=[], sql=sql)
        values = [[_to_output(v, c) for v, c in zip(row, columns, strict=True)] for row in rows]
        return EsqlResult(columns=columns, values=values, sql=sql)
