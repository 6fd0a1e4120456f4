"""Rule: drop DISTINCT from subqueries that are only tested for membership or existence.

``x IN (SELECT DISTINCT c ...)``, ``NOT IN`` and ``[NOT] EXISTS (SELECT DISTINCT ...)`` give the
same answer with or without duplicates, and the DISTINCT costs SQLite a temporary B-tree. Where
the rows themselves matter it stays: in scalar subqueries (the first row is the value), in
derived tables and CTEs (they are row sets), and wherever LIMIT/OFFSET picks rows (DISTINCT
decides which rows the limit keeps).

For IN, "same answer" holds only when DISTINCT cannot merge two values the IN comparison
tells apart: DISTINCT groups under the subquery column's collation and treats 1 and 1.0 as one
value, while ``x IN (SELECT c ...)`` compares as ``x = c`` (another collation may win; TEXT
affinity tells 1 from 1.0). Where the schema cannot show that, DISTINCT stays, with a reason.
"""

from __future__ import annotations

from sqlglot import exp

from edgedb_opt.rewrite import _compare, _scope
from edgedb_opt.rewrite.base import RuleOutcome
from edgedb_opt.rewrite.schema import Schema

#: Refusal reason, stable for tests and for ``edgeopt rewrite --json`` consumers.
LIMITED = "DISTINCT with LIMIT/OFFSET decides which rows the subquery returns"
UNKNOWN_COMPARISON = "cannot tell the affinity or collation of both sides of the IN comparison"
GROUPING = (
    "DISTINCT groups the subquery's values under another collation or affinity than the "
    "IN comparison: dropping it could change the result"
)
ROW_VALUE = "row-value IN: DISTINCT is kept"


def drop_distinct_in_subquery(expression: exp.Expr, *, schema: Schema) -> RuleOutcome:
    """Remove DISTINCT from IN / NOT IN / EXISTS / NOT EXISTS subqueries.

    Args:
        expression: the statement tree; changed in place.
        schema: affinity and collation of the columns an IN compares.
    Returns:
        The tree, how many DISTINCTs were dropped, and a reason for each one kept.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one(
    ...     "SELECT id, (SELECT DISTINCT name FROM o WHERE o.id = q.oid) AS n FROM q "
    ...     "WHERE id IN (SELECT DISTINCT qid FROM a) "
    ...     "AND EXISTS (SELECT DISTINCT 1 FROM a WHERE a.qid = q.id)", dialect="sqlite")
    >>> schema = Schema.from_ddl("CREATE TABLE q (id INTEGER PRIMARY KEY, oid INT);"
    ...     "CREATE TABLE o (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE a (qid INT)")
    >>> print(drop_distinct_in_subquery(tree, schema=schema).expression.sql("sqlite"))
    SELECT id, (SELECT DISTINCT name FROM o WHERE o.id = q.oid) AS n FROM q
      WHERE id IN (SELECT qid FROM a) AND EXISTS(SELECT 1 FROM a WHERE a.qid = q.id)
    """
    outcome = RuleOutcome(expression)
    for select, test in _membership_selects(expression):
        distinct = select.args.get("distinct")
        if not isinstance(distinct, exp.Distinct) or distinct.args.get("on") is not None:
            continue
        if select.args.get("limit") is not None or select.args.get("offset") is not None:
            outcome.refusals.append(LIMITED)
            continue
        reason = _grouping(select, test, schema) if isinstance(test, exp.In) else None
        if reason is not None:
            outcome.refusals.append(reason)
            continue
        select.set("distinct", None)
        outcome.applied += 1
    return outcome


def _grouping(select: exp.Select, test: exp.In, schema: Schema) -> str | None:
    """Why DISTINCT must stay in ``test``'s subquery (None: it may go)."""
    if isinstance(_scope.unparen(test.this), exp.Tuple) or len(select.selects) != 1:
        return ROW_VALUE
    left = _compare.operand(test.this, schema)
    right = _compare.operand(select.selects[0], schema)
    if left is None or right is None:
        return UNKNOWN_COMPARISON
    return None if _compare.groups_finer(right, _compare.compare(left, right)) else GROUPING


def _membership_selects(root: exp.Expr) -> list[tuple[exp.Select, exp.In | exp.Exists]]:
    found: list[tuple[exp.Select, exp.In | exp.Exists]] = []
    for node in root.find_all(exp.In, exp.Exists):
        body = node.args.get("query") if isinstance(node, exp.In) else node.this
        while isinstance(body, (exp.Subquery, exp.Paren)):
            body = body.this
        if isinstance(body, exp.Select) and isinstance(node, exp.In | exp.Exists):
            found.append((body, node))
    return found
