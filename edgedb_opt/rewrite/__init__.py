"""NULL-safe SQL rewrites for SQLite, driven by the live schema.

One rule per module, each a function from tree to tree that rewrites where the schema proves
the result unchanged and otherwise refuses with a reason. :func:`optimize` parses the statement
once, runs :data:`RULES` in order, and writes the result back as the original text with only
the rewritten parts replaced (:mod:`._splice`), checked by SQLite itself (:mod:`._check`).

>>> schema = Schema.from_ddl(
...     "CREATE TABLE questions (id INTEGER PRIMARY KEY, objective_id INTEGER);"
...     "CREATE TABLE answers (user_id INTEGER NOT NULL, question_id INTEGER NOT NULL,"
...     " session_id INTEGER)")
>>> result = optimize(
...     "SELECT id FROM questions WHERE id NOT IN (SELECT question_id FROM answers)"
...     " AND id NOT IN (SELECT session_id FROM answers)", schema)
>>> print(result.sql)
SELECT id FROM questions WHERE NOT EXISTS(SELECT 1 FROM answers
  WHERE questions.id = question_id) AND id NOT IN (SELECT session_id FROM answers)
>>> result.applied, [(r.rule, r.reason) for r in result.refused]
(['not_in_to_not_exists'],
 [('not_in_to_not_exists', 'subquery column may be NULL: NOT IN and NOT EXISTS differ')])
"""

from __future__ import annotations

import re
from dataclasses import replace

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
from sqlglot.parser import Parser

from edgedb_opt.errors import RewriteError
from edgedb_opt.rewrite import _check, _numbered
from edgedb_opt.rewrite._splice import Original
from edgedb_opt.rewrite.base import Change, Refusal, RewriteResult, RewriteRule, RuleOutcome
from edgedb_opt.rewrite.drop_distinct_in_subquery import drop_distinct_in_subquery
from edgedb_opt.rewrite.not_in_to_not_exists import not_in_to_not_exists
from edgedb_opt.rewrite.scalar_subquery_to_join import scalar_subquery_to_join
from edgedb_opt.rewrite.schema import Schema, TableInfo, read_schema

__all__ = [
    "RULES",
    "UNARY_PLUS",
    "UNWRITABLE",
    "Refusal",
    "RewriteResult",
    "RewriteRule",
    "RuleOutcome",
    "Schema",
    "TableInfo",
    "optimize",
    "parse",
    "read_schema",
]

#: The rules, in the order they run. NOT IN goes first so the DISTINCT it makes pointless goes
#: with it; DISTINCT last, over whatever IN / EXISTS subqueries remain.
RULES: tuple[RewriteRule, ...] = (
    not_in_to_not_exists,
    scalar_subquery_to_join,
    drop_distinct_in_subquery,
)

#: Why a statement is returned as written before any rule runs.
UNARY_PLUS = (
    "a unary + would be lost by the rewrite (in SQLite it strips affinity and keeps an index "
    "from being used): left as written"
)
UNWRITABLE = "sqlglot cannot write the rewritten statement for SQLite, left as written"
RENAMED = (
    "the rewrite would rename an unaliased result column (SQLite names it after its text); "
    "give it an alias"
)
UNSPLICEABLE = (
    "the rewrite cannot be written without changing parts no rule touched, left as written"
)
_TOKEN = re.compile(r"<Token token_type: [^,]+, text: (.*?), line: \d+, col: \d+.*?>")


def optimize(
    sql: str | exp.Expr,
    schema: Schema,
    *,
    rules: tuple[RewriteRule, ...] = RULES,
    pretty: bool = False,
) -> RewriteResult:
    """Rewrite one statement with every rule that can prove itself safe.

    Args:
        sql: one SQL statement (SQLite dialect), or an already parsed tree (copied, never
            changed).
        schema: the database's columns and keys, e.g. from :func:`read_schema`.
        rules: the rules to run, in order.
        pretty: render the rewritten SQL on several indented lines.
    Returns:
        The SQL to run (the input text, untouched, when no rule applied), the names of the
        rules that changed it, and each refusal with its reason.
    Raises:
        RewriteError: the text is not one parsable statement; carries the 1-based position.
    """
    if isinstance(sql, str):
        text, back = _numbered.encode(sql)
        if text != sql:  # ?NNN parameters: rewritten under same-length names, then restored
            done = optimize(text, schema, rules=rules, pretty=pretty)
            if not done.applied:
                return RewriteResult(sql, done.applied, done.refused)
            changes = [replace(c, original=sql[c.start : c.end], rewritten=back(c.rewritten))
                       for c in done.changes]  # fmt: skip
            return RewriteResult(back(done.sql), done.applied, done.refused, changes)
    # A string is parsed into a tree we own; a caller's tree is copied once, here.
    tree = parse(sql) if isinstance(sql, str) else sql.copy()
    original = Original(sql, tree, _parse_fragment) if isinstance(sql, str) and not pretty else None
    applied: list[str] = []
    refused: list[Refusal] = []
    for rule in rules:
        outcome = rule(tree, schema=schema)
        tree = outcome.expression
        if outcome.applied:
            applied.append(rule.__name__)
        for reason in outcome.refusals:
            refusal = Refusal(rule.__name__, reason)
            if refusal not in refused:
                refused.append(refusal)
    if isinstance(sql, str) and not applied:
        return RewriteResult(sql, applied, refused)
    if original is not None:
        assert isinstance(sql, str)
        return _spliced(sql, tree, original, schema, applied, refused)
    try:
        text = tree.sql(dialect="sqlite", pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        if not isinstance(sql, str):
            raise RewriteError(f"cannot write the statement as SQLite: {exc}") from exc
        reason = f"{UNWRITABLE}: {' '.join(str(exc).split())}"
        return RewriteResult(sql, [], [*refused, Refusal("optimize", reason)])
    return RewriteResult(text, applied, refused)


def _spliced(
    sql: str,
    tree: exp.Expr,
    original: Original,
    schema: Schema,
    applied: list[str],
    refused: list[Refusal],
) -> RewriteResult:
    """The rewrite as the original text with only the changed parts replaced, once it parses
    back to the rewritten tree and SQLite accepts it; else the statement as written."""
    try:
        text = original.render(tree)
        written = parse(text)
    except (RewriteError, UnsupportedError) as exc:
        return RewriteResult(sql, [], [*refused, Refusal("optimize", f"{UNWRITABLE}: {exc}")])
    if written != tree or original.rewritten_untouched:
        return RewriteResult(sql, [], [*refused, Refusal("optimize", UNSPLICEABLE)])
    if _unary_pluses(text, written) != _unary_pluses(sql, original.pristine):
        return RewriteResult(sql, [], [*refused, Refusal("optimize", UNARY_PLUS)])
    renamed = original.renamed_columns(tree)
    if renamed:
        reason = f"{RENAMED}: {' '.join(renamed[0].split())[:60]}"
        return RewriteResult(sql, [], [*refused, Refusal("optimize", reason)])
    changes = original.changes()
    operands = [(start, end) for start, end, _, operand in changes if operand]
    rejected = _check.check(schema.statements(), sql, text, operands)
    if rejected is not None:
        return RewriteResult(sql, [], [*refused, Refusal("optimize", rejected)])
    return RewriteResult(
        text,
        applied,
        refused,
        [Change(start, end, sql[start:end], new) for start, end, new, _ in changes],
    )


def _parse_fragment(text: str, kind: type[exp.Expr]) -> exp.Expr | None:
    """Parse a part of a statement as a node of ``kind`` (for finding a node's span)."""
    if issubclass(kind, exp.Query | exp.DML):
        return parse(text)
    if kind is exp.Table:  # with its alias, as FROM reads it
        select = sqlglot.parse_one(f"SELECT 1 FROM {text}", dialect="sqlite")
        source = select.args.get("from_")
        return source.this if source is not None and not select.args.get("joins") else None
    if kind in Parser.EXPRESSION_PARSERS:
        into: type[exp.Expr] = kind
    elif issubclass(kind, exp.Alias) or not issubclass(kind, exp.Condition):
        select = sqlglot.parse_one(f"SELECT {text}", dialect="sqlite")
        items = select.expressions if isinstance(select, exp.Select) else []
        return items[0] if len(items) == 1 and select.args.get("from_") is None else None
    else:
        into = exp.Condition
    node = sqlglot.parse_one(text, dialect="sqlite", into=into)
    _comma_joins(node)
    return node


def parse(sql: str) -> exp.Expr:
    """Parse one SQLite statement, keeping comma joins as commas.

    Raises:
        RewriteError: with a one-line message and the 1-based (line, column) of the problem.

    >>> parse("SELECT * FROM a, b WHERE a.x = b.y").sql("sqlite")
    'SELECT * FROM a, b WHERE a.x = b.y'
    >>> try:
    ...     parse("SELECT * FROM WHERE")
    ... except RewriteError as exc:
    ...     print(exc, exc.position)
    cannot parse SQL at line 1, column 15: Expected table name but got 'WHERE' (1, 15)
    """
    try:
        trees = [t for t in sqlglot.parse(sql, dialect="sqlite") if t is not None]
    except ParseError as exc:
        raise _parse_error(sql, exc) from exc
    except TokenError as exc:
        where = _position(sql, getattr(exc, "end", None))
        at = f" near line {where[0]}, column {where[1]}" if where else ""
        raise RewriteError(f"cannot tokenize SQL{at}", sql=sql, position=where) from exc
    if len(trees) != 1:
        found = "no statement" if not trees else f"{len(trees)} statements"
        raise RewriteError(f"rewrite takes exactly one SQL statement, got {found}", sql=sql)
    tree = trees[0]
    _comma_joins(tree)
    return tree


def _comma_joins(tree: exp.Expr) -> None:
    for join in tree.find_all(exp.Join):
        # sqlglot reads "FROM a, b" as a CROSS JOIN (same precedence in SQLite), but writing
        # CROSS JOIN back would pin the join order in SQLite's planner; an explicit CROSS JOIN
        # keeps its "pivots" argument, a comma does not.
        if join.kind == "CROSS" and "pivots" not in join.args and not join.args.get("on"):
            join.set("kind", None)


def _unary_pluses(sql: str, tree: exp.Expr) -> int:
    """How many unary ``+`` the text has: sqlglot parses them away.

    ``+col`` is SQLite's idiom to keep the planner off an index, and it drops the column's
    affinity in comparisons. Outside the rewritten parts the text is kept, and them with it; a
    rewrite that would lose one (a moved ``+x`` comes out as ``x``) is refused. Every ``+``
    token that is not an addition in the tree was a unary one.
    """
    if "+" not in sql:
        return 0
    tokens = Dialect.get_or_raise("sqlite").tokenize(sql)
    pluses = sum(1 for token in tokens if token.token_type == TokenType.PLUS)
    return pluses - sum(1 for _ in tree.find_all(exp.Add))


def _parse_error(sql: str, exc: ParseError) -> RewriteError:
    first = exc.errors[0] if exc.errors else {}
    line, col = first.get("line"), first.get("col")
    description = _TOKEN.sub(r"'\1'", str(first.get("description") or exc))
    description = " ".join(description.split())
    if not isinstance(line, int) or not isinstance(col, int):
        return RewriteError(f"cannot parse SQL: {description}", sql=sql)
    # sqlglot points at the last character of the offending token; report where it starts.
    highlight = str(first.get("highlight") or "")
    if highlight and "\n" not in highlight:
        col = max(1, col - len(highlight) + 1)
    return RewriteError(
        f"cannot parse SQL at line {line}, column {col}: {description}",
        sql=sql,
        position=(line, col),
    )


def _position(sql: str, offset: object) -> tuple[int, int] | None:
    if not isinstance(offset, int) or not 0 <= offset <= len(sql):
        return None
    before = sql[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
