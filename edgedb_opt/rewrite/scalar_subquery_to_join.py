"""Rule: a correlated key lookup in the SELECT list becomes a LEFT JOIN.

``SELECT q.id, (SELECT o.name FROM objectives o WHERE o.id = q.objective_id) AS name FROM
questions q`` runs the subquery once per row; ``SELECT q.id, o.name AS name FROM questions q
LEFT JOIN objectives o ON o.id = q.objective_id`` lets the planner join once. They agree only
when the lookup matches at most one row: SQLite does not reject a scalar subquery that returns
several rows (it takes the first), but a join would repeat the outer row for each match. So the
subquery's WHERE must fix every column of the primary key or of a full unique index to an outer
column or a constant; a LEFT JOIN (not an inner join) keeps the rows with no match, where both
forms give NULL. "Unique" must hold under the very comparison the WHERE makes: a key unique
under BINARY matches several rows when compared under NOCASE, and a TEXT key compared with a
number is converted ('1' and '01' both become 1), so such lookups are refused.

The subquery must select a plain column of the looked-up table: with no match the join gives
NULL for that column, as the subquery does, but ``coalesce(o.name, '-')`` or a literal would
not be NULL there. Columns of the outer query that the joined table also has are qualified, so
they do not become ambiguous; the joined table gets a fresh alias if its name is taken.

Refused, with a reason: lookups on non-unique columns; subqueries with aggregates (``count(*)``
returns 0, not NULL, when nothing matches), GROUP BY, ORDER BY, LIMIT or nested subqueries;
outer queries that aggregate or select ``*`` (the joined columns would appear); select items
without an alias where the result column names are visible (the name would change); moves that
would reorder positional ``?`` parameters; anything whose columns cannot be resolved for certain.
Uncorrelated and compound subqueries are not candidates. As with any plan change, a LIMIT
without ORDER BY may return other rows than before (SQL leaves them unspecified).
"""

from __future__ import annotations

from sqlglot import exp

from edgedb_opt.rewrite import _compare, _edit, _scope
from edgedb_opt.rewrite.base import RuleOutcome
from edgedb_opt.rewrite.schema import Schema, TableInfo, fold

#: Refusal reasons, stable for tests and for ``edgeopt rewrite --json`` consumers.
NOT_UNIQUE = "lookup key is not unique: a LEFT JOIN could repeat outer rows"
NOT_A_LOOKUP = "subquery aggregates, groups, orders or limits: not a plain key lookup"
NOT_ONE_TABLE = "subquery must read exactly one table known to the schema"
NESTED = "subquery contains another subquery"
OWN_ALIAS = "the subquery uses its own SELECT-list alias, which would not bind in a JOIN"
NOT_A_COLUMN = "subquery must select a plain column of the looked-up table"
OUTER_AGGREGATES = "outer query aggregates (GROUP BY, HAVING or aggregate functions)"
NO_ALIAS = "select item has no alias: the result column's name would change"
NO_FROM = "outer query has no FROM clause to join to"
OUTER_STAR = "outer query selects *: the joined table's columns would be added"
UNRESOLVED = "cannot tell which table a column belongs to"
PARAMETER_ORDER = "rewriting would reorder positional ? parameters"

_MARK = "scalar_subquery_to_join"
_FROM_LIKE = (exp.From, exp.Join, exp.CTE)


def scalar_subquery_to_join(expression: exp.Expr, *, schema: Schema) -> RuleOutcome:
    """Turn each correlated unique-key lookup in a SELECT list into a LEFT JOIN.

    Args:
        expression: the statement tree; changed in place.
        schema: primary keys and unique indexes of the tables the statement reads.
    Returns:
        The tree, how many subqueries became joins, and a reason for each one left alone.
        Uncorrelated subqueries are not candidates (SQLite runs them once already).

    >>> import sqlglot
    >>> schema = Schema.from_ddl(
    ...     "CREATE TABLE objectives (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    ...     "CREATE TABLE questions (id INTEGER PRIMARY KEY, objective_id INTEGER)")
    >>> tree = sqlglot.parse_one(
    ...     "SELECT q.id, (SELECT o.name FROM objectives o WHERE o.id = q.objective_id) AS obj "
    ...     "FROM questions q", dialect="sqlite")
    >>> print(scalar_subquery_to_join(tree, schema=schema).expression.sql("sqlite"))
    SELECT q.id, o.name AS obj FROM questions AS q
      LEFT JOIN objectives AS o ON o.id = q.objective_id

    A lookup by a column that is not unique is left alone:

    >>> tree = sqlglot.parse_one(
    ...     "SELECT o.id, (SELECT q.id FROM questions q WHERE q.objective_id = o.id) AS q1 "
    ...     "FROM objectives o", dialect="sqlite")
    >>> scalar_subquery_to_join(tree, schema=schema).refusals
    ['lookup key is not unique: a LEFT JOIN could repeat outer rows']
    """
    outcome = RuleOutcome(expression)
    for sub in _edit.innermost_first(expression, _candidates, _MARK):
        reason = _rewrite(sub, schema)
        if reason is None:
            outcome.applied += 1
        elif reason:
            outcome.refusals.append(reason)
    return outcome


def _candidates(root: exp.Expr) -> list[exp.Subquery]:
    return [s for s in root.find_all(exp.Subquery) if _outer_select(s) is not None]


def _outer_select(sub: exp.Subquery) -> exp.Select | None:
    """The Select whose SELECT list holds ``sub`` as a scalar value, if it is one."""
    if isinstance(sub.parent, (exp.In, exp.From, exp.Join)):
        return None
    child: exp.Expr = sub
    parent = sub.parent
    while parent is not None and not isinstance(parent, _scope.SCOPES):
        if isinstance(parent, (exp.Subquery, exp.Query)):
            return None
        child, parent = parent, parent.parent
    if isinstance(parent, exp.Select) and child.arg_key == "expressions":
        return parent
    return None


def _rewrite(sub: exp.Subquery, schema: Schema) -> str | None:
    """Rewrite one scalar subquery in place; return why not ('' if not a candidate)."""
    outer = _outer_select(sub)
    inner = sub.this
    assert outer is not None
    if not isinstance(inner, exp.Select):
        return ""
    inner_refs = {id(c): _scope.resolve(c, schema) for c in _scope.columns_in(inner)}
    if not any(r is not None and r.source.scope is not inner for r in inner_refs.values()):
        return "" if all(r is not None for r in inner_refs.values()) else UNRESOLVED
    reason = _check_inner(inner, schema) or _check_outer(outer, sub)
    if reason is not None:
        return reason
    if any(r is None for r in inner_refs.values()):
        return UNRESOLVED
    source = next(iter(_scope.sources(inner, schema).values()))
    assert source.table is not None
    if not _unique(source.table, _key_columns(inner, source, inner_refs, schema)):
        return NOT_UNIQUE

    refs = _outer_refs(outer, schema)
    if refs is None:
        return UNRESOLVED
    refs.update({k: v for k, v in inner_refs.items() if v is not None})
    before = _edit.placeholder_order(outer.root())
    checkpoint = _edit.Checkpoint(outer)

    # The joined table enters the outer scope: its name must not clash with the names seen
    # there (the outer query's and enclosing queries' sources).
    visible_names = {
        n for scope in _scope.scope_chain(outer) for n in _scope.sources(scope, schema)
    }
    name = source.name
    if name in visible_names:
        name = _edit.fresh_name(name, visible_names | _edit.source_names(outer.root()))
    visible = {id(scope) for scope in _scope.scope_chain(outer)}
    offered = source.columns or frozenset()
    for col in _scope.columns_in(outer):
        found = refs.get(id(col))
        if found is None:
            continue
        if found.source.node is source.node:
            _edit.qualify(col, name)
        elif not col.table and fold(col.name) in offered and id(found.source.scope) in visible:
            # The joined table offers the same name: unqualified it would become ambiguous.
            _edit.qualify(col, found.source.name)
    if name != source.name or source.node.alias:
        _edit.rename_source(source.node, name)

    where = inner.args.get("where")
    join = exp.Join(this=source.node, side="LEFT", on=where.this if where else None)
    sub.replace(inner.selects[0].unalias())
    outer.append("joins", join)

    if not _scope.same_bindings(outer, refs, schema):
        checkpoint.restore()
        return UNRESOLVED
    if _edit.placeholder_order(outer.root()) != before:
        checkpoint.restore()
        return PARAMETER_ORDER
    return None


def _check_inner(inner: exp.Select, schema: Schema) -> str | None:
    if any(inner.args.get(k) for k in ("group", "having", "limit", "offset", "order", "qualify")):
        return NOT_A_LOOKUP
    if inner.args.get("with_") is not None or len(inner.selects) != 1 or inner.is_star:
        return NOT_A_LOOKUP
    if _scope.has_aggregate(inner) or _scope.has_window(inner):
        return NOT_A_LOOKUP
    if any(True for _ in inner.find_all(exp.Subquery, exp.Exists)):
        return NESTED
    if _scope.uses_own_alias(inner):
        return OWN_ALIAS
    found = _scope.sources(inner, schema)
    if inner.args.get("joins") or len(found) != 1:
        return NOT_ONE_TABLE
    (source,) = found.values()
    if source.table is None or not isinstance(source.node, exp.Table):
        return NOT_ONE_TABLE
    # With no match the subquery is NULL, and the join gives NULL for the table's columns;
    # any other expression (a literal, coalesce(...), x IS NULL) could be non-NULL there.
    value = _scope.unparen(inner.selects[0].unalias())
    if not isinstance(value, exp.Column) or fold(value.table) not in ("", source.name):
        return NOT_A_COLUMN
    if value.table == "" and not source.table.has_column(value.name):
        return NOT_A_COLUMN
    return None


def _check_outer(outer: exp.Select, sub: exp.Subquery) -> str | None:
    if outer.args.get("from_") is None:
        return NO_FROM
    if any(isinstance(e, exp.Star) for e in outer.expressions):
        return OUTER_STAR
    if outer.args.get("group") is not None or outer.args.get("having") is not None:
        return OUTER_AGGREGATES
    order = outer.args.get("order")
    if any(_scope.has_aggregate(e) for e in [*outer.expressions, *([order] if order else [])]):
        return OUTER_AGGREGATES
    item: exp.Expr = sub
    while item.parent is not outer:
        assert item.parent is not None
        item = item.parent
    return None if isinstance(item, exp.Alias) or not _scope.names_matter(outer) else NO_ALIAS


Pinned = dict[str, list[tuple[_compare.Operand, _compare.Comparison]]]


def _key_columns(
    inner: exp.Select,
    source: _scope.Source,
    refs: dict[int, _scope.Resolved | None],
    schema: Schema,
) -> Pinned:
    """Inner columns the WHERE pins with ``=`` to an outer column, a constant or a parameter,
    each with how SQLite compares it there (the operands in the order written)."""
    pinned: Pinned = {}
    for term in _scope.conjuncts(inner.args.get("where")):
        if not isinstance(term, exp.EQ):
            continue
        for mine, other in ((term.this, term.expression), (term.expression, term.this)):
            mine = _scope.unparen(mine)
            found = refs.get(id(mine))
            if not isinstance(mine, exp.Column) or found is None:
                continue
            if found.source.node is not source.node:
                continue
            reads_inner = any(
                (r := refs.get(id(c))) is not None and r.source.node is source.node
                for c in _scope.columns_in(other)
            )
            key, outer = _compare.operand(mine, schema), _compare.operand(other, schema)
            left = _compare.operand(term.this, schema)
            right = _compare.operand(term.expression, schema)
            if reads_inner or key is None or outer is None or left is None or right is None:
                continue
            comparison = _compare.compare(left, right)
            if any(True for _ in _scope.columns_in(other)) and _compare.converts(outer, comparison):
                continue  # the outer value would be converted in place (see _compare.converts)
            pinned.setdefault(found.column, []).append((key, comparison))
    return pinned


def _unique(table: TableInfo, pinned: Pinned) -> bool:
    """Whether the pinned columns cover a unique key under the comparisons that pin them."""
    for key, collations in zip(table.unique_keys, table.key_collations, strict=False):
        if len(collations) != len(key):
            continue
        if all(
            any(_compare.key_holds(op, coll, cmp) for op, cmp in pinned.get(column, []))
            for column, coll in zip(key, collations, strict=True)
        ):
            return True
    return False


def _outer_refs(outer: exp.Select, schema: Schema) -> dict[int, _scope.Resolved | None] | None:
    """Bindings of every column under ``outer`` outside the subquery; None if any is unknown.

    ``ORDER BY name`` may name a result column rather than a table column; it keeps doing so
    after the rewrite (SQLite matches ORDER BY terms to result aliases first).
    """
    aliases = {fold(e.alias) for e in outer.expressions if isinstance(e, exp.Alias)}
    order = outer.args.get("order")
    refs: dict[int, _scope.Resolved | None] = {}
    for col in _scope.columns_in(outer):
        found = _scope.resolve(col, schema)
        if found is None:
            in_order = order is not None and col.find_ancestor(exp.Order) is order
            if in_order and not col.table and fold(col.name) in aliases:
                continue
            return None
        refs[id(col)] = found
    return refs
