"""Parse ES|QL with Elastic's grammar (``detection-rules-esql-py``) into its AST.

The package's AST builder drops a few things an executor needs: SORT direction and
null ordering, which aggregate a ``STATS ... WHERE`` filter belongs to, the
interleaved order of KEEP patterns, names of unaliased STATS/EVAL expressions and
backslash escapes in string literals. :class:`_ExecAstBuilder` subclasses it and keeps
them, on the same AST node classes, so linting and execution read one tree.
"""

from __future__ import annotations

import functools
from typing import Any

from esql import ast
from esql.ast_builder import AstBuilder, _line_col
from esql.errors import EsqlError, EsqlSyntaxError
from esql.parser import _parse_with_grammar
from esql.utils import ParserConfig
from esql.verifier import verify_features

# The stack our rules target (metadata.min_stack_version). MV_CONTAINS appeared in 9.2;
# 9.3 is the oldest grammar snapshot the parser package vendors at or above it.
TARGET_STACK_VERSION = "9.3.0"

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}


def unquote_string(token_text: str) -> str:
    """ES|QL string literal token → value: triple-quoted strings are raw, others unescape."""
    if token_text.startswith('"""') and token_text.endswith('"""') and len(token_text) >= 6:
        return token_text[3:-3]
    body = token_text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise EsqlSyntaxError(f"illegal escape sequence [\\{nxt}] in string {token_text}", 0, 0, token_text)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _source_text(ctx: Any) -> str:
    """The exact query text of a parse-tree node (ES names unaliased columns after it)."""
    stream = ctx.start.getInputStream()
    return stream.getText(ctx.start.start, ctx.stop.stop)


class _ExecAstBuilder(AstBuilder):
    def visitStringLiteral(self, ctx: Any) -> ast.Literal | None:
        line, col = _line_col(ctx)
        token = ctx.string().QUOTED_STRING() if ctx.string() is not None else None
        if token is None:
            return None
        return ast.Literal(value=unquote_string(token.getText()), kind="string", line=line, column=col)

    def visitStringArrayLiteral(self, ctx: Any) -> ast.Literal | None:
        line, col = _line_col(ctx)
        values = [unquote_string(s.QUOTED_STRING().getText()) for s in ctx.string() or [] if s.QUOTED_STRING()]
        return ast.Literal(value=values, kind="string_array", line=line, column=col)

    def _visit_string_or_parameter(self, ctx: Any) -> ast.Expression | None:
        line, col = _line_col(ctx)
        token = None
        if hasattr(ctx, "QUOTED_STRING") and ctx.QUOTED_STRING() is not None:
            token = ctx.QUOTED_STRING()
        else:
            string_ctx = getattr(ctx, "string", lambda: None)()
            if string_ctx is not None:
                token = string_ctx.QUOTED_STRING()
        if token is not None:
            return ast.Literal(value=unquote_string(token.getText()), kind="string", line=line, column=col)
        return super()._visit_string_or_parameter(ctx)

    def visitSortCommand(self, ctx: Any) -> ast.SortCommand:
        cmd = super().visitSortCommand(ctx)
        for key, order_ctx in zip(cmd.keys, ctx.orderExpression() or [], strict=True):
            descending = order_ctx.ordering is not None and order_ctx.ordering.text.upper() == "DESC"
            if order_ctx.nullOrdering is not None:
                nulls_first = order_ctx.nullOrdering.text.upper() == "FIRST"
            else:
                nulls_first = descending  # ES: nulls sort as the largest value
            key.descending = descending  # type: ignore[attr-defined]
            key.nulls_first = nulls_first  # type: ignore[attr-defined]
        return cmd

    def _ordered_patterns(self, ctx: Any) -> list[str]:
        patterns_ctx = ctx.qualifiedNamePatterns()
        if patterns_ctx is None:
            return []
        return [p.getText().replace("`", "") for p in patterns_ctx.qualifiedNamePattern() or []]

    def visitKeepCommand(self, ctx: Any) -> ast.KeepCommand:
        cmd = super().visitKeepCommand(ctx)
        cmd.patterns = self._ordered_patterns(ctx)  # type: ignore[attr-defined]
        return cmd

    def visitDropCommand(self, ctx: Any) -> ast.DropCommand:
        cmd = super().visitDropCommand(ctx)
        cmd.patterns = self._ordered_patterns(ctx)  # type: ignore[attr-defined]
        return cmd

    def _named(self, field_ctx: Any) -> ast.Alias | None:
        """A ``field`` (``name = expr`` or bare ``expr``) as an Alias named like ES names it."""
        line, col = _line_col(field_ctx)
        expr_ctx = field_ctx.booleanExpression()
        if expr_ctx is None:
            return None
        expr = self.visit(expr_ctx)
        if not isinstance(expr, ast.Expression):
            return None
        if field_ctx.qualifiedName() is not None and field_ctx.ASSIGN() is not None:
            name = self._visit_qualified_name(field_ctx.qualifiedName())
        elif isinstance(expr, ast.ColumnRef):
            name = expr.name
        else:
            name = _source_text(expr_ctx)
        return ast.Alias(name=name, expr=expr, line=line, column=col)

    def visitEvalCommand(self, ctx: Any) -> ast.EvalCommand:
        line, col = _line_col(ctx)
        fields = ctx.fields().field() if ctx.fields() is not None else []
        assignments = [a for a in (self._named(f) for f in fields or []) if a is not None]
        return ast.EvalCommand(assignments=assignments, line=line, column=col)

    def visitStatsCommand(self, ctx: Any) -> ast.StatsCommand:
        cmd = super().visitStatsCommand(ctx)
        aggregates: list[ast.Alias] = []
        filters: list[ast.Expression] = []
        agg_fields = ctx.aggFields()
        for agg_ctx in (agg_fields.aggField() if agg_fields is not None else None) or []:
            alias = self._named(agg_ctx.field())
            if alias is None:
                continue
            where = self._visit_agg_where(agg_ctx)
            alias.filter = where  # type: ignore[attr-defined]
            if where is not None:
                filters.append(where)
            aggregates.append(alias)
        cmd.aggregates = aggregates
        cmd.aggregate_filters = filters
        # Unaliased grouping expressions: the builder names them by token text without
        # whitespace; ES uses the source text.
        group_ctx = ctx.fields()
        if group_ctx is not None:
            for i, field_ctx in enumerate(group_ctx.field() or []):
                if field_ctx.ASSIGN() is None and field_ctx.booleanExpression() is not None:
                    expr = self.visit(field_ctx.booleanExpression())
                    if not isinstance(expr, ast.ColumnRef):
                        old = cmd.grouping[i]
                        new = _source_text(field_ctx.booleanExpression())
                        cmd.grouping[i] = new
                        for alias in cmd.grouping_aliases:
                            if alias.name == old:
                                alias.name = new
        return cmd


@functools.lru_cache(maxsize=256)
def parse_query(query: str, stack_version: str = TARGET_STACK_VERSION) -> ast.EsqlQuery:
    """Parse ES|QL text with the grammar of ``stack_version``; raises ``esql.EsqlError`` subclasses.

    Results are cached (the Python ANTLR runtime is slow): treat the returned tree as read-only.
    """
    from esql.analyzer import check_catalog_names

    with ParserConfig(min_stack_version=stack_version):
        try:
            tree = _parse_with_grammar(query)
        except EsqlError:
            raise
        except Exception as exc:  # the ANTLR runtime's lexer raises a bare Exception("Empty Stack") on some input
            raise EsqlSyntaxError(f"the ES|QL lexer cannot read this query ({exc})", 0, 0, query[:80]) from None
        result = _ExecAstBuilder().visit(tree)
        if not isinstance(result, ast.EsqlQuery):
            raise EsqlSyntaxError("query did not parse to a pipeline", 0, 0, query[:80])
        verify_features(result, stack_version)
        check_catalog_names(result)
    return result
