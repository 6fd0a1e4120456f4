"""Rule: ``x NOT IN (SELECT c ...)`` becomes ``NOT EXISTS (SELECT 1 ... AND x = c)``.

SQLite runs NOT EXISTS as an anti-join probe on an index of ``c``; NOT IN materialises the
whole subquery first. The two only agree when neither side can be NULL:

- a NULL among the subquery's values makes ``x NOT IN (...)`` NULL for every ``x`` it does
  not contain (no row passes), while NOT EXISTS ignores that NULL row (rows pass);
- a NULL ``x`` makes ``x NOT IN (...)`` NULL whenever the subquery returns any row, while
  ``NOT EXISTS (... AND NULL = c)`` is TRUE.

So the rule rewrites only when the schema or a WHERE term proves both non-NULL, and otherwise
leaves the query alone with a reason (sqlglot's own unnesting skips negated IN for the same
reason). ``x`` stays on the left of ``=``: SQLite codes ``x IN (SELECT c ...)`` with the
affinity and collation of ``x = c`` (see :mod:`._compare`), so the probe compares as before.
A DISTINCT in the subquery goes with the rewrite only when it cannot have merged values the
comparison tells apart (``c COLLATE NOCASE`` against a BINARY ``x``; 1 and 1.0 compared as
text).
"""

from __future__ import annotations

from sqlglot import exp

from edgedb_opt.rewrite import _compare, _edit, _scope
from edgedb_opt.rewrite.base import RuleOutcome
from edgedb_opt.rewrite.schema import Schema

#: Refusal reasons, stable for tests and for ``edgeopt rewrite --json`` consumers.
NULL_SUBQUERY_COLUMN = "subquery column may be NULL: NOT IN and NOT EXISTS differ"
NULL_LEFT_OPERAND = "left operand may be NULL: NOT IN and NOT EXISTS differ"
NOT_A_PLAIN_SELECT = "subquery is a compound SELECT (UNION/INTERSECT/EXCEPT)"
NOT_ONE_COLUMN = "subquery must select exactly one column"
ROW_VALUE = "row-value NOT IN is not rewritten"
SHAPES_ROWS = "subquery aggregates, groups or limits its rows"
UNRESOLVED = "cannot tell which table a column belongs to"
PARAMETER_ORDER = "rewriting would reorder positional ? parameters"
UNKNOWN_COMPARISON = "cannot tell the affinity or collation of both sides of the comparison"
OWN_ALIAS = "the subquery uses its own SELECT-list alias, which would not bind after the rewrite"
CONVERTED = (
    "the comparison converts the left operand's affinity, and SQLite can read the converted "
    "value back (e.g. in HAVING): moving the comparison could change the result"
)
DISTINCT_GROUPING = (
    "DISTINCT groups the subquery's values under another collation or affinity than the "
    "IN comparison: dropping it could change the result"
)

_MARK = "not_in_to_not_exists"


def not_in_to_not_exists(expression: exp.Expr, *, schema: Schema) -> RuleOutcome:
    """Turn each NULL-safe ``NOT IN (subquery)`` into a correlated ``NOT EXISTS``.

    Args:
        expression: the statement tree; changed in place.
        schema: nullability of the tables the statement reads.
    Returns:
        The tree, how many NOT INs were rewritten, and a reason for each one left alone.

    >>> import sqlglot
    >>> schema = Schema.from_ddl(
    ...     "CREATE TABLE questions (id INTEGER PRIMARY KEY, objective_id INTEGER);"
    ...     "CREATE TABLE answers (user_id INTEGER NOT NULL, question_id INTEGER NOT NULL)")
    >>> tree = sqlglot.parse_one(
    ...     "SELECT id FROM questions WHERE id NOT IN "
    ...     "(SELECT DISTINCT question_id FROM answers WHERE user_id = 7)", dialect="sqlite")
    >>> print(not_in_to_not_exists(tree, schema=schema).expression.sql("sqlite"))
    SELECT id FROM questions WHERE NOT EXISTS(SELECT 1 FROM answers
      WHERE user_id = 7 AND questions.id = question_id)

    A nullable subquery column is refused, and the query is left as it was:

    >>> tree = sqlglot.parse_one(
    ...     "SELECT id FROM questions WHERE 3 NOT IN (SELECT objective_id FROM questions)",
    ...     dialect="sqlite")
    >>> not_in_to_not_exists(tree, schema=schema).refusals
    ['subquery column may be NULL: NOT IN and NOT EXISTS differ']
    """
    outcome = RuleOutcome(expression)
    for node in _edit.innermost_first(expression, _candidates, _MARK):
        reason = _rewrite(node, schema)
        if reason is None:
            outcome.applied += 1
        else:
            outcome.refusals.append(reason)
    return outcome


def _candidates(root: exp.Expr) -> list[exp.Not]:
    return [n for n in root.find_all(exp.Not) if _subquery_in(n) is not None]


def _subquery_in(node: exp.Not) -> exp.In | None:
    target = _scope.unparen(node.this)
    if isinstance(target, exp.In) and isinstance(target.args.get("query"), exp.Subquery):
        return target
    return None


def _rewrite(node: exp.Not, schema: Schema) -> str | None:
    """Rewrite one ``NOT (x IN (subquery))`` in place; return why not, or None when done."""
    target = _subquery_in(node)
    assert target is not None
    inner = target.args["query"].this
    left = target.this
    reason = _check_shape(left, inner)
    if reason is not None:
        return reason
    column = _scope.unparen(inner.selects[0].unalias())
    if not _scope.not_null(column, schema):
        return NULL_SUBQUERY_COLUMN
    if not _scope.not_null(left, schema):
        return NULL_LEFT_OPERAND
    reason = _comparison_check(left, column, schema, inner.args.get("distinct") is not None)
    if reason is not None:
        return reason

    outer_refs = {id(c): _scope.resolve(c, schema) for c in _scope.columns_in(left)}
    inner_refs = {id(c): _scope.resolve(c, schema) for c in _scope.columns_in(inner)}
    if any(r is None for r in outer_refs.values()):
        return UNRESOLVED
    before = _edit.placeholder_order(node.root())
    checkpoint = _edit.Checkpoint(node)

    inner_sources = _scope.sources(inner, schema)
    shadowed = {r.source.name for r in outer_refs.values() if r and r.source.name in inner_sources}
    if shadowed and any(r is None for r in inner_refs.values()):
        return UNRESOLVED
    taken = _edit.source_names(node.root())
    for name in sorted(shadowed):
        new_name = _edit.fresh_name(name, taken)
        taken.add(new_name)
        _rename(inner_sources[name], new_name, inner, inner_refs)
    for col in _scope.columns_in(left):
        found = outer_refs[id(col)]
        assert found is not None
        _edit.qualify(col, found.source.name)

    condition = exp.EQ(this=left, expression=column)
    where = inner.args.get("where")
    inner.set("where", exp.Where(this=_edit.and_(where.this, condition) if where else condition))
    inner.set("expressions", [exp.Literal.number(1)])
    inner.set("distinct", None)
    inner.set("order", None)  # without LIMIT the order of an EXISTS probe is meaningless
    node.set("this", exp.Exists(this=inner))

    moved = {**outer_refs, **{k: v for k, v in inner_refs.items() if v is not None}}
    if not _scope.same_bindings(node, moved, schema):
        checkpoint.restore()
        return UNRESOLVED
    if _edit.placeholder_order(node.root()) != before:
        checkpoint.restore()
        return PARAMETER_ORDER
    return None


def _comparison_check(
    left: exp.Expr, column: exp.Expr, schema: Schema, distinct: bool
) -> str | None:
    """Why ``left = column`` may not replace the IN (None: it may): a left operand the
    comparison converts, or a DISTINCT that merged values the comparison tells apart."""
    mine, theirs = _compare.operand(left, schema), _compare.operand(column, schema)
    if mine is None or theirs is None:
        return UNKNOWN_COMPARISON
    comparison = _compare.compare(mine, theirs)
    if any(True for _ in _scope.columns_in(left)) and _compare.converts(mine, comparison):
        return CONVERTED
    if distinct and not _compare.groups_finer(theirs, comparison):
        return DISTINCT_GROUPING
    return None


def _check_shape(left: exp.Expr, inner: exp.Expr) -> str | None:
    if isinstance(_scope.unparen(left), exp.Tuple):
        return ROW_VALUE
    if not isinstance(inner, exp.Select):
        return NOT_A_PLAIN_SELECT
    selects = inner.selects
    if len(selects) != 1 or isinstance(selects[0], exp.Star) or selects[0].is_star:
        return NOT_ONE_COLUMN
    if any(inner.args.get(k) for k in ("group", "having", "limit", "offset", "qualify")):
        return SHAPES_ROWS
    if _scope.uses_own_alias(inner):
        return OWN_ALIAS
    if _scope.has_aggregate(selects[0]) or _scope.has_window(selects[0]):
        return SHAPES_ROWS
    order = inner.args.get("order")
    if order is not None and (_scope.has_aggregate(order) or _scope.has_window(order)):
        return SHAPES_ROWS
    return None


def _rename(
    source: _scope.Source,
    new_name: str,
    inner: exp.Expr,
    refs: dict[int, _scope.Resolved | None],
) -> None:
    """Alias ``source`` as ``new_name`` and requalify the columns that name it."""
    for col in _scope.columns_in(inner):
        found = refs.get(id(col))
        if col.table and found is not None and found.source.node is source.node:
            _edit.qualify(col, new_name)
    _edit.rename_source(source.node, new_name)
