"""Rule: drop DISTINCT from subqueries that are only tested for membership or existence.

``x IN (SELECT DISTINCT c ...)``, ``NOT IN`` and ``[NOT] EXISTS (SELECT DISTINCT ...)`` give the
same answer with or without duplicates, and the DISTINCT costs SQLite a temporary B-tree. Where
the rows themselves matter it stays: in scalar subqueries (the first row is the value), in
derived tables and CTEs (they are row sets), and wherever LIMIT/OFFSET picks rows (DISTINCT
decides which rows the limit keeps).
"""

from __future__ import annotations

from sqlglot import exp

from edgedb_opt.rewrite.base import RuleOutcome
from edgedb_opt.rewrite.schema import Schema

#: Refusal reason, stable for tests and for ``edgeopt rewrite --json`` consumers.
LIMITED = "DISTINCT with LIMIT/OFFSET decides which rows the subquery returns"


def drop_distinct_in_subquery(expression: exp.Expr, *, schema: Schema) -> RuleOutcome:
    """Remove DISTINCT from IN / NOT IN / EXISTS / NOT EXISTS subqueries.

    Args:
        expression: the statement tree; changed in place.
        schema: unused; every rule takes it.
    Returns:
        The tree, how many DISTINCTs were dropped, and a reason for each one kept.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one(
    ...     "SELECT id, (SELECT DISTINCT name FROM o WHERE o.id = q.oid) AS n FROM q "
    ...     "WHERE id IN (SELECT DISTINCT qid FROM a) "
    ...     "AND EXISTS (SELECT DISTINCT 1 FROM a WHERE a.qid = q.id)", dialect="sqlite")
    >>> print(drop_distinct_in_subquery(tree, schema=Schema()).expression.sql("sqlite"))
    SELECT id, (SELECT DISTINCT name FROM o WHERE o.id = q.oid) AS n FROM q
      WHERE id IN (SELECT qid FROM a) AND EXISTS(SELECT 1 FROM a WHERE a.qid = q.id)
    """
    del schema  # part of the rule signature; membership does not depend on the schema
    outcome = RuleOutcome(expression)
    for select in _membership_selects(expression):
        distinct = select.args.get("distinct")
        if not isinstance(distinct, exp.Distinct) or distinct.args.get("on") is not None:
            continue
        if select.args.get("limit") is not None or select.args.get("offset") is not None:
            outcome.refusals.append(LIMITED)
            continue
        select.set("distinct", None)
        outcome.applied += 1
    return outcome


def _membership_selects(root: exp.Expr) -> list[exp.Select]:
    found: list[exp.Select] = []
    for node in root.find_all(exp.In, exp.Exists):
        body = node.args.get("query") if isinstance(node, exp.In) else node.this
        while isinstance(body, (exp.Subquery, exp.Paren)):
            body = body.this
        if isinstance(body, exp.Select):
            found.append(body)
    return found
