"""Name resolution shared by the rules: which table a column reads, and whether it can be NULL.

A rewrite moves expressions between scopes (into a subquery, out into a JOIN). That is only
safe when every column still names the same table afterwards, so the rules resolve columns the
way SQLite does (innermost scope first, then outwards for correlated references), edit, and then
check that each column still resolves to the same source. Anything this module cannot resolve
for certain (views, table functions, ``SELECT *`` in derived tables, ambiguous names) resolves to
None, and the rules refuse rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from edgedb_opt.rewrite.schema import Schema, TableInfo, fold

#: Nodes that open a name scope: their FROM / target tables are visible to nested subqueries.
SCOPES = (exp.Select, exp.Update, exp.Delete)
#: Where a scope's WHERE has already filtered the rows an expression sees.
_FILTERED_CLAUSES = frozenset({"expressions", "where", "group", "having", "order", "qualify"})
_AGGREGATE_NAMES = frozenset(
    {"count", "sum", "total", "avg", "min", "max", "group_concat", "string_agg", "median"}
)


@dataclass(frozen=True, eq=False)
class Source:
    """A table, derived table or CTE named in a scope's FROM, JOIN or UPDATE/DELETE target.

    Attributes:
        name: the lower-case name columns qualify it with (its alias, else its table name).
        node: the ``exp.Table`` or ``exp.Subquery`` in the tree; its identity is the source's.
        scope: the Select / Update / Delete the source belongs to.
        table: the base table, when the schema knows it; None for anything else.
        columns: the column names it offers, None when unknown.
        nullable: on the NULL-filled side of an outer join.
        derived: the Subquery or CTE whose rows a derived source reads, else None.
    """

    name: str
    node: exp.Expr
    scope: exp.Expr
    table: TableInfo | None
    columns: frozenset[str] | None
    nullable: bool
    derived: exp.Expr | None = None


@dataclass(frozen=True)
class Resolved:
    """A column reference bound to its source."""

    source: Source
    column: str

    @property
    def key(self) -> tuple[int, str]:
        """Identity of what the column reads, stable across edits that move the source."""
        return (id(self.source.node), self.column)


def scope_chain(node: exp.Expr) -> list[exp.Expr]:
    """Scopes visible from ``node``, innermost first (``node`` itself counts if it is one)."""
    chain: list[exp.Expr] = [node] if isinstance(node, SCOPES) else []
    hidden = False
    child, parent = node, node.parent
    while parent is not None:
        # A derived table or CTE body cannot see the sources of the query that contains it.
        if (isinstance(child, exp.Subquery) and isinstance(parent, (exp.From, exp.Join))) or (
            isinstance(child, exp.CTE)
        ):
            hidden = True
        if isinstance(parent, SCOPES):
            if not hidden:
                chain.append(parent)
            hidden = False
        child, parent = parent, parent.parent
    return chain


def sources(scope: exp.Expr, schema: Schema) -> dict[str, Source]:
    """The sources of ``scope`` by lower-case name, with outer-join nullability."""
    items: list[tuple[exp.Expr, exp.Join | None]] = []
    target = scope.args.get("this")
    if isinstance(scope, (exp.Update, exp.Delete)) and isinstance(target, exp.Table):
        items.append((target, None))
    from_ = scope.args.get("from_")
    if isinstance(from_, exp.From):
        items.append((from_.this, None))
    for join in scope.args.get("joins") or ():
        items.append((join.this, join))
    nullable = [False] * len(items)
    for i, (_, join) in enumerate(items):
        side = (join.side or "").upper() if join is not None else ""
        if side in ("LEFT", "FULL"):
            nullable[i] = True
        if side in ("RIGHT", "FULL"):
            nullable[:i] = [True] * i
    out: dict[str, Source] = {}
    for (node, _), null in zip(items, nullable, strict=True):
        source = _source(node, scope, schema, null)
        if source is not None:
            out.setdefault(source.name, source)
    return out


def _source(node: exp.Expr, scope: exp.Expr, schema: Schema, nullable: bool) -> Source | None:
    name = fold(node.alias_or_name)
    if not name:
        return None
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        cte = _visible_cte(node, scope) if not node.db else None
        if cte is not None:
            return Source(name, node, scope, None, _output_columns(cte), nullable, cte)
        table = schema.table(node.name) if fold(node.db) in ("", "main") else None
        columns = frozenset(table.columns) if table is not None else None
        return Source(name, node, scope, table, columns, nullable)
    if isinstance(node, exp.Subquery):
        return Source(name, node, scope, None, _output_columns(node), nullable, node)
    return Source(name, node, scope, None, None, nullable)


def _visible_cte(table: exp.Table, scope: exp.Expr) -> exp.CTE | None:
    node: exp.Expr | None = scope
    while node is not None:
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            for cte in with_.expressions:
                if fold(cte.alias_or_name) == fold(table.name):
                    return cte  # type: ignore[no-any-return]
        node = node.parent
    return None


def _output_columns(node: exp.Expr) -> frozenset[str] | None:
    alias = node.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return frozenset(fold(c.name) for c in alias.columns)
    body = node.this
    if not isinstance(body, exp.Query) or any(isinstance(e, exp.Star) for e in body.selects):
        return None
    if any(isinstance(e, exp.Column) and isinstance(e.this, exp.Star) for e in body.selects):
        return None
    return frozenset(fold(name) for name in body.named_selects)


def resolve(column: exp.Column, schema: Schema) -> Resolved | None:
    """Bind ``column`` to the source SQLite would read it from, or None if not certain."""
    name = fold(column.name)
    qualifier = fold(column.table)
    if not name or name.startswith("$") or isinstance(column.this, exp.Star):
        return None
    for scope in scope_chain(column):
        found = sources(scope, schema)
        if qualifier:
            source = found.get(qualifier)
            if source is None:
                continue
            if source.columns is not None and name not in source.columns:
                return None
            return Resolved(source, name)
        if any(s.columns is None for s in found.values()):
            return None
        matches = [s for s in found.values() if s.columns is not None and name in s.columns]
        if len(matches) == 1:
            return Resolved(matches[0], name)
        if matches or name in _aliases(scope):
            return None  # ambiguous, or SQLite's alias-in-WHERE extension: do not guess
    return None


def _aliases(scope: exp.Expr) -> set[str]:
    if not isinstance(scope, exp.Select):
        return set()
    return {fold(e.alias) for e in scope.expressions if isinstance(e, exp.Alias)}


def columns_in(node: exp.Expr) -> Iterator[exp.Column]:
    """Every column reference under ``node`` (itself included)."""
    for found in node.find_all(exp.Column):
        if not isinstance(found.this, exp.Star):
            yield found


def conjuncts(condition: exp.Expr | None) -> list[exp.Expr]:
    """The top-level AND terms of ``condition`` (parentheses removed)."""
    if condition is None:
        return []
    if isinstance(condition, exp.Where):
        condition = condition.this
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.And):
        return conjuncts(condition.this) + conjuncts(condition.expression)
    return [condition]


def unparen(node: exp.Expr) -> exp.Expr:
    """``node`` without surrounding parentheses."""
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def not_null(expr: exp.Expr, schema: Schema) -> bool:
    """Whether ``expr``, where it stands in the tree, can never evaluate to NULL.

    True for non-NULL literals; for columns of NOT NULL table columns (not on the NULL side of
    an outer join) or columns a null-rejecting WHERE term (``c IS NOT NULL``, ``c = ...``,
    ``c > ...``, ``c IN (...)``, ``c LIKE ...``) already filters; and for ``+ - * ||``, unary
    minus, CAST and COALESCE built from those. Division is excluded: ``1 / 0`` is NULL in SQLite.
    """
    node = unparen(expr)
    if isinstance(node, exp.Literal):
        return True
    if isinstance(node, exp.Column):
        return _column_not_null(node, schema)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.DPipe)):
        return not_null(node.this, schema) and not_null(node.expression, schema)
    if isinstance(node, (exp.Neg, exp.Cast)):
        return not_null(node.this, schema)
    if isinstance(node, exp.Coalesce):
        return any(not_null(e, schema) for e in [node.this, *node.expressions])
    return False


def _column_not_null(column: exp.Column, schema: Schema) -> bool:
    found = resolve(column, schema)
    if found is None:
        return False
    source = found.source
    if source.table is not None and not source.nullable and source.table.not_null(found.column):
        return True
    if source.derived is not None and not source.nullable:
        output = derived_output(source.derived, found.column)
        if output is not None and not_null(output, schema):
            return True
    if not _filtered_by_where(column, source.scope):
        return False
    for term in conjuncts(source.scope.args.get("where")):
        for operand in _null_rejected(term):
            if isinstance(operand, exp.Column):
                other = resolve(operand, schema)
                if other is not None and other.key == found.key:
                    return True
    return False


def names_matter(select: exp.Select) -> bool:
    """Whether anything can see the result column names of ``select``.

    Not inside a scalar, IN or EXISTS subquery; yes at the top, in derived tables, CTEs and
    compound queries.
    """
    parent = select.parent
    if isinstance(parent, exp.Exists):
        return False
    return not (
        isinstance(parent, exp.Subquery)
        and not isinstance(parent.parent, (exp.From, exp.Join, exp.CTE))
    )


def uses_own_alias(select: exp.Select) -> bool:
    """Whether ``select`` names one of its own result aliases outside its SELECT list (SQLite
    lets WHERE and ORDER BY use them); such a name stops binding once the list changes.

    >>> import sqlglot
    >>> uses_own_alias(sqlglot.parse_one("SELECT a AS z FROM t WHERE z > 1"))
    True
    >>> uses_own_alias(sqlglot.parse_one("SELECT a AS z FROM t WHERE a > 1"))
    False
    """
    aliases = _aliases(select)
    if not aliases:
        return False
    listed = {id(c) for e in select.expressions for c in e.find_all(exp.Column)}
    return any(
        not c.table and fold(c.name) in aliases and id(c) not in listed for c in columns_in(select)
    )


def derived_output(derived: exp.Expr, column: str) -> exp.Expr | None:
    """The expression a derived table or CTE (a plain SELECT) computes for ``column``."""
    body = derived.this
    if not isinstance(body, exp.Select) or body.args.get("limit") or body.args.get("offset"):
        return None
    if has_aggregate(body) or body.args.get("group") is not None:
        return None  # an aggregate over no rows is NULL (and a LIMIT can cut a filter short)
    alias = derived.args.get("alias")
    names = [fold(c.name) for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
    selects = body.selects
    if names:
        if len(names) != len(selects) or column not in names:
            return None
        return selects[names.index(column)].unalias()
    matches = [e for e in selects if fold(e.alias_or_name) == column]
    return matches[0].unalias() if len(matches) == 1 else None


def _filtered_by_where(node: exp.Expr, scope: exp.Expr) -> bool:
    child = node
    while child.parent is not None and child.parent is not scope:
        child = child.parent
    return child.parent is scope and child.arg_key in _FILTERED_CLAUSES


def _null_rejected(term: exp.Expr) -> list[exp.Expr]:
    if isinstance(term, exp.Not) and isinstance(unparen(term.this), exp.Is):
        test = unparen(term.this)
        return [unparen(test.this)] if isinstance(test.expression, exp.Null) else []
    if isinstance(term, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        return [unparen(term.this), unparen(term.expression)]
    if isinstance(term, (exp.Between, exp.In, exp.Like, exp.Glob)) and not term.args.get("negate"):
        return [unparen(term.this)]
    return []


def has_aggregate(node: exp.Expr) -> bool:
    """Whether ``node`` calls an aggregate function outside nested subqueries."""
    for found in _walk_same_scope(node):
        if isinstance(found, exp.AggFunc) and not isinstance(found, exp.Greatest):
            return True
        if isinstance(found, exp.Anonymous) and fold(found.name) in _AGGREGATE_NAMES:
            return True
    return False


def has_window(node: exp.Expr) -> bool:
    """Whether ``node`` uses a window function outside nested subqueries."""
    return any(isinstance(n, exp.Window) for n in _walk_same_scope(node))


def _walk_same_scope(node: exp.Expr) -> Iterator[exp.Expr]:
    yield node
    for child in node.iter_expressions():
        if not isinstance(child, (exp.Subquery, exp.Query, exp.Exists)):
            yield from _walk_same_scope(child)


def same_bindings(node: exp.Expr, before: dict[int, Resolved | None], schema: Schema) -> bool:
    """Whether every column under ``node`` recorded in ``before`` still reads the same source.

    ``before`` maps ``id(column)`` to its binding taken before an edit; columns it does not
    record (or recorded as unresolved) are not checked.
    """
    for col in columns_in(node):
        was = before.get(id(col))
        if was is None:
            continue
        now = resolve(col, schema)
        if now is None or now.key != was.key:
            return False
    return True
