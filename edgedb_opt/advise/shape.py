"""What each statement asks of each table it reads: the shape an index must have.

For every table reference in every SELECT scope (subqueries, CTEs and correlated probes
included, via sqlglot's scope analysis) this collects the columns compared by equality (to a
parameter, a constant or another table's column), the range comparisons, the ORDER BY /
GROUP BY / window order when it uses that table's columns alone, every column read (for
covering indexes), and the constant predicates a partial index could carry. Conditions no
index can serve (a leading-wildcard LIKE, a function wrapped around a column) are noted,
so the advisor can say why instead of proposing a useless index.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import Scope, traverse_scope

from edgedb_opt.advise.workload import WorkloadStatement
from edgedb_opt.errors import WorkloadError

__all__ = ["ParamRole", "StatementShape", "TableUse", "analyze_statement"]

_RANGE: dict[type[exp.Expr], str] = {
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
}
_RANGE_TYPES = tuple(_RANGE)
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}


@dataclass(frozen=True)
class ParamRole:
    """What a parameter is compared with: how to take a sample value from the data."""

    table: str | None
    column: str | None
    role: str  # "eq", ">", ">=", "<", "<=", "low", "high", "limit", "offset", "other"


@dataclass
class TableUse:
    """One table reference of one scope, as an index sees it."""

    table: str
    eq: list[str] = field(default_factory=list)  # = / IN / IS to values (params, constants, outer)
    joins: list[str] = field(default_factory=list)  # = to a column of another table here
    ranges: list[str] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    columns: set[str] = field(default_factory=set)
    constants: dict[str, str] = field(default_factory=dict)  # column -> predicate SQL
    notes: list[str] = field(default_factory=list)
    #: column -> the collation a comparison names (``COLLATE NOCASE``): the index needs it
    collations: dict[str, str] = field(default_factory=dict)
    #: set on the use of one branch of an OR: the branches' indexes only help together
    or_group: str | None = None

    def add(self, bucket: list[str], column: str) -> None:
        if column not in bucket:
            bucket.append(column)


@dataclass
class StatementShape:
    """Every table use of one statement, the parameters' roles and the table it writes."""

    statement: WorkloadStatement
    uses: list[TableUse]
    params: dict[str, ParamRole]
    writes: str | None


def _terms(node: exp.Expr | None, kind: type[exp.Connector]) -> Iterator[exp.Expr]:
    """The operands of a chain of ``kind`` (AND or OR), parentheses removed."""
    if node is None:
        return
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, kind):
        yield from _terms(node.left, kind)
        yield from _terms(node.right, kind)
    else:
        yield node


def _conjuncts(node: exp.Expr | None) -> Iterator[exp.Expr]:
    return _terms(node, exp.And)


def _conditions(scope: Scope) -> list[exp.Expr]:
    select = scope.expression
    out = list(_conjuncts(select.args["where"].this if select.args.get("where") else None))
    for join in select.args.get("joins") or []:
        out.extend(_conjuncts(join.args.get("on")))
    return out


class _Resolver:
    """Maps a scope's column references to (table name, column) using the live schema."""

    def __init__(self, tables: Mapping[str, str], schema: Mapping[str, set[str]]) -> None:
        self.tables = dict(tables)
        self.schema = schema

    @classmethod
    def of(cls, scope: Scope, schema: Mapping[str, set[str]]) -> _Resolver:
        return cls(
            {
                alias: src.name.lower()
                for alias, src in scope.sources.items()
                if isinstance(src, exp.Table) and src.name.lower() in schema
            },
            schema,
        )

    def alias_of(self, col: exp.Column) -> str | None:
        """The alias (of this scope) the column belongs to, or None (outer scope, derived)."""
        if col.table:
            return col.table if col.table in self.tables else None
        owners = [a for a, t in self.tables.items() if col.name.lower() in self.schema[t]]
        return owners[0] if len(owners) == 1 else None


def _uncollated(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Collate) else node


def _collation(cond: exp.Expr) -> str | None:
    """The collation a comparison names on either operand (``x COLLATE NOCASE = ?``)."""
    for operand in (cond.this, cond.args.get("expression")):
        if isinstance(operand, exp.Collate):
            return str(operand.expression.name).upper()
    return None


#: An index key term that is an expression, not a column: ``expr:lower(email)``.
EXPRESSION = "expr:"
# SQLite's names, and sqlglot's class names for them (random() parses as Rand).
_VOLATILE = {"random", "rand", "randomblob", "changes", "total_changes", "last_insert_rowid"}


def _expression_of(node: exp.Expr, alias: str, res: _Resolver) -> str | None:
    """``node`` as an index expression on ``alias``'s table (``lower(email)``, ``a + b``),
    or None: it must read only that table's columns, at least one, through functions that
    give the same result for the same row (no aggregate, no random(), no 'now')."""
    if not isinstance(node, exp.Func | exp.Add | exp.Sub | exp.Mul | exp.Div | exp.DPipe):
        return None
    if isinstance(node, exp.AggFunc | exp.Window) or node.find(exp.Select, exp.Star):
        return None
    columns = list(node.find_all(exp.Column))
    if not columns or any(res.alias_of(c) != alias for c in columns):
        return None
    names = {f.name.lower() for f in node.find_all(exp.Func) if isinstance(f, exp.Anonymous)}
    names |= {type(f).__name__.lower() for f in node.find_all(exp.Func)}
    if names & _VOLATILE or any(
        isinstance(v, exp.Literal) and v.is_string and v.this.lower() == "now"
        for v in node.find_all(exp.Literal)
    ):
        return None
    bare = node.copy()
    for col in bare.find_all(exp.Column):
        col.set("table", None)  # an index expression names its columns unqualified
    return EXPRESSION + bare.sql(dialect="sqlite")


def _column_of(node: exp.Expr, alias: str, res: _Resolver) -> str | None:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    node = _uncollated(node)
    if isinstance(node, exp.Column) and res.alias_of(node) == alias:
        return node.name.lower()
    return _expression_of(node, alias, res)


def _mentions(node: exp.Expr, alias: str, res: _Resolver) -> bool:
    return any(res.alias_of(c) == alias for c in node.find_all(exp.Column))


def _is_constant(node: exp.Expr) -> bool:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    node = _uncollated(node)
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal | exp.Null | exp.Boolean)


def _classify(cond: exp.Expr, alias: str, use: TableUse, res: _Resolver) -> None:
    """Record what ``cond`` offers an index on ``alias``'s table."""
    if not _mentions(cond, alias, res):
        return
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Is):
        col = _column_of(cond.this.this, alias, res)
        if col and isinstance(cond.this.expression, exp.Null):
            use.add(use.ranges, col)
            use.constants.setdefault(col, f"{col} IS NOT NULL")
            return
    if isinstance(cond, exp.In):
        col = _column_of(cond.this, alias, res)
        if col:
            use.add(use.eq, col)
            return
    if isinstance(cond, exp.Between):
        col = _column_of(cond.this, alias, res)
        if col and not _mentions(cond.args["low"], alias, res):
            use.add(use.ranges, col)
            if collation := _collation(cond):
                use.collations[col] = collation
            return
    if isinstance(cond, (exp.EQ, exp.Is, *_RANGE_TYPES)):
        left, right = cond.this, cond.expression
        for mine, other in ((left, right), (right, left)):
            if isinstance(mine, exp.Tuple) and isinstance(cond, _RANGE_TYPES):
                first = mine.expressions[0] if mine.expressions else None
                col = _column_of(first, alias, res) if first is not None else None
                if col and not _mentions(other, alias, res):
                    use.add(use.ranges, col)
                    return
            col = _column_of(mine, alias, res)
            if col is None or _mentions(other, alias, res):
                continue
            if collation := _collation(cond):
                use.collations[col] = collation
            if isinstance(cond, exp.EQ | exp.Is):
                joined = any(res.alias_of(c) is not None for c in other.find_all(exp.Column))
                use.add(use.joins if joined else use.eq, col)
                if _is_constant(other) and not col.startswith(EXPRESSION):
                    op = "IS" if isinstance(cond, exp.Is) else "="
                    use.constants[col] = f"{col} {op} {other.sql(dialect='sqlite')}"
            else:
                use.add(use.ranges, col)
            return
    if isinstance(cond, exp.Like | exp.ILike | exp.Glob) and _column_of(cond.this, alias, res):
        use.notes.append(
            f"{use.table}.{_column_of(cond.this, alias, res)} {type(cond).__name__.upper()} "
            "cannot use a plain index (a leading wildcard, or LIKE's case folding)"
        )
        return
    if isinstance(cond, exp.Exists) or cond.find(exp.Select):
        return  # a subquery: its own scope is analyzed on its own
    wrapped = [
        f.sql(dialect="sqlite")
        for f in cond.find_all(exp.Func)
        if any(res.alias_of(c) == alias for c in f.find_all(exp.Column))
    ]
    if wrapped:
        use.notes.append(f"{wrapped[0]} wraps a column of {use.table}: no index serves it")


def _order_columns(scope: Scope, alias: str, res: _Resolver) -> list[tuple[str, bool]]:
    select = scope.expression
    terms: list[tuple[exp.Expr, bool]] = []
    if select.args.get("order"):
        terms = [(o.this, bool(o.args.get("desc"))) for o in select.args["order"].expressions]
    elif select.args.get("group"):
        terms = [(g, False) for g in select.args["group"].expressions]
    else:
        windows = [w for w in select.find_all(exp.Window) if w.args.get("order")]
        if windows:
            terms = [
                (o.this, bool(o.args.get("desc"))) for o in windows[0].args["order"].expressions
            ]
    out: list[tuple[str, bool]] = []
    for term, desc in terms:
        col = _column_of(term, alias, res)
        if col is None:
            break  # random(), an expression or another table's column: order ends here
        if col not in [c for c, _ in out]:
            out.append((col, desc))
    return out


def _uses(scope: Scope, schema: Mapping[str, set[str]]) -> Iterator[TableUse]:
    if not isinstance(scope.expression, exp.Select):
        return
    res = _Resolver.of(scope, schema)
    conditions = _conditions(scope)
    for alias, table in res.tables.items():
        use = TableUse(table)
        for cond in conditions:
            _classify(cond, alias, use, res)
        use.order = _order_columns(scope, alias, res)
        use.columns = {c.name.lower() for c in scope.columns if res.alias_of(c) == alias}
        if any(isinstance(s, exp.Star) for s in scope.expression.expressions):
            use.columns |= schema[table]
        yield use
        yield from _or_branches(conditions, alias, use, res)


def _or_branches(
    conditions: list[exp.Expr], alias: str, use: TableUse, res: _Resolver
) -> Iterator[TableUse]:
    """For ``a = ? OR b = ?`` on one table, a use per branch: SQLite's MULTI-INDEX OR looks
    each branch up in its own index, then reads the rows by rowid."""
    for cond in conditions:
        if not isinstance(cond.unnest() if isinstance(cond, exp.Paren) else cond, exp.Or):
            continue
        if any(res.alias_of(c) != alias for c in cond.find_all(exp.Column)):
            continue  # a branch on another table: no single index per branch serves it
        for branch in _terms(cond, exp.Or):
            # No covering variant: a covering index on one branch lets the planner scan it
            # whole for every branch instead of looking each one up.
            part = TableUse(use.table, or_group=f"{use.table}: {cond.sql(dialect='sqlite')}")
            for term in _conjuncts(branch):
                _classify(term, alias, part, res)
            if part.eq or part.ranges:
                yield part


def _param_roles(tree: exp.Expr, schema: Mapping[str, set[str]]) -> dict[str, ParamRole]:
    roles: dict[str, ParamRole] = {}
    named = sorted({t.name.lower() for t in tree.find_all(exp.Table)})
    for placeholder in tree.find_all(exp.Placeholder):
        name = placeholder.name
        ph: exp.Expr = placeholder
        parent = ph.parent
        if isinstance(parent, exp.Collate):  # "x = ? COLLATE NOCASE": the comparison above
            ph, parent = parent, parent.parent
        role = ParamRole(None, None, "other")
        if isinstance(parent, exp.Limit):
            role = ParamRole(None, None, "limit")
        elif isinstance(parent, exp.Offset):
            role = ParamRole(None, None, "offset")
        elif isinstance(parent, exp.Between):
            col = _uncollated(parent.this)
            if isinstance(col, exp.Column):
                which = "low" if parent.args.get("low") is ph else "high"
                role = ParamRole(col.table or None, col.name.lower(), which)
        elif isinstance(parent, exp.Tuple) and isinstance(parent.parent, _RANGE_TYPES):
            cmp = parent.parent
            assert cmp is not None
            other = cmp.this if cmp.expression is parent else cmp.expression
            pos = parent.expressions.index(ph)
            if isinstance(other, exp.Tuple) and pos < len(other.expressions):
                col = other.expressions[pos]
                op = _RANGE[type(cmp)]
                op = op if cmp.expression is parent else _FLIP[op]
                if isinstance(col, exp.Column):
                    role = ParamRole(col.table or None, col.name.lower(), op)
        elif parent is not None and isinstance(
            parent, (exp.EQ, exp.In, exp.NEQ, exp.Is, *_RANGE_TYPES)
        ):
            side: exp.Expr | None = (
                parent.this if parent.this is not ph else parent.args.get("expression")
            )
            compared = _uncollated(side) if side is not None else None
            if isinstance(compared, exp.Column):
                col = compared
                if isinstance(parent, _RANGE_TYPES):
                    op = _RANGE[type(parent)]
                    op = op if parent.expression is ph else _FLIP[op]
                else:
                    op = "eq"
                role = ParamRole(col.table or None, col.name.lower(), op)
        if role.table is None and role.column is not None:
            # An unqualified column belongs to the one table of the statement that has it.
            owners = [t for t in named if role.column in schema.get(t, set())]
            role = ParamRole(owners[0] if len(owners) == 1 else None, role.column, role.role)
        elif role.table is not None:
            role = ParamRole(_alias_table(tree, role.table), role.column, role.role)
        roles.setdefault(name, role)
    return roles


def _alias_table(tree: exp.Expr, alias: str) -> str | None:
    for t in tree.find_all(exp.Table):
        if (t.alias or t.name) == alias:
            return t.name.lower()
    return alias.lower()


def analyze_statement(
    statement: WorkloadStatement, schema: Mapping[str, set[str]]
) -> StatementShape:
    """The shape of one workload statement against the live schema (table -> columns).

    Raises:
        WorkloadError: the statement does not parse; names it, its line and the position.
    """
    try:
        trees = sqlglot.parse(statement.sql, read="sqlite")
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        line = statement.line + int(err.get("line", 1) or 1) - 1
        col = err.get("col", "?")
        desc = str(err.get("description", exc)).split("\n")[0]
        raise WorkloadError(f"{statement.label}: {desc} at line {line}, column {col}") from exc
    if len(trees) != 1 or trees[0] is None:
        raise WorkloadError(f"{statement.label}: one statement expected")
    tree = trees[0]
    writes = None
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        target = tree.find(exp.Table)
        writes = target.name.lower() if target is not None else None
    uses = [u for scope in traverse_scope(tree) for u in _uses(scope, schema)]
    if isinstance(tree, exp.Update | exp.Delete) and writes is not None and writes in schema:
        # The rows an UPDATE or DELETE finds are a lookup like any other.
        target = tree.find(exp.Table)
        alias = (target.alias or target.name) if target is not None else writes
        res = _Resolver({alias: writes}, schema)
        use = TableUse(writes)
        where = tree.args.get("where")
        for cond in _conjuncts(where.this if where is not None else None):
            _classify(cond, alias, use, res)
        use.columns = {
            c.name.lower() for c in (where.find_all(exp.Column) if where else []) if c.name
        }
        uses.append(use)
    return StatementShape(statement, uses, _param_roles(tree, schema), writes)
