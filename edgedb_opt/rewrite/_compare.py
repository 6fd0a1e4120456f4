"""SQLite's comparison rules, as the rules need them to prove a rewrite keeps every row.

``x IN (SELECT y ...)`` compares exactly as ``x = y`` does (SQLite codes the IN with the
affinity and collation of that binary comparison), so NOT IN can become a correlated
``x = y``. What can break a rewrite is grouping: DISTINCT groups ``y`` values under ``y``'s
collation and SQLite's value equality, a unique index under its own collation, and the
comparison may see those values differently:

- Collation. An explicit ``COLLATE`` wins (the left operand's first); else a column operand's
  collation (the left one first; a column always has one, BINARY by default); else BINARY.
  ``CAST`` and parentheses keep their operand's collation.
- Affinity. Columns and CASTs have an affinity (a BLOB column's counts); other expressions
  have none. Two operands with affinity compare under NUMERIC if either is numeric, else with
  no conversion; one with affinity lends it to the comparison. NUMERIC turns numeric-looking
  text into numbers ('01' and '1' both become 1); TEXT turns numbers into text (1 and 1.0
  become '1' and '1.0').

A rule asks :func:`groups_finer` (may DISTINCT go?) or :func:`key_holds` (does a unique key
still match one row?) and refuses when the answer is no or unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from edgedb_opt.rewrite import _scope
from edgedb_opt.rewrite.schema import Schema, affinity

NUMERIC = frozenset({"INTEGER", "REAL", "NUMERIC"})
#: Affinities whose stored values hold no pair of equal numbers of two storage classes
#: (1 and 1.0): INTEGER and NUMERIC store 1.0 as 1, REAL stores 1 as 1.0, TEXT stores text.
_NO_MIXED_NUMBERS = frozenset({"INTEGER", "REAL", "NUMERIC", "TEXT"})


@dataclass(frozen=True)
class Operand:
    """One side of a comparison, as SQLite sees it.

    Attributes:
        affinity: INTEGER, TEXT, REAL, NUMERIC or BLOB for a column or CAST; "" for an
            expression without affinity.
        collation: the collation it carries (a column's, or an explicit COLLATE), else None.
        explicit: the collation comes from an explicit ``COLLATE``.
    """

    affinity: str
    collation: str | None
    explicit: bool = False


@dataclass(frozen=True)
class Comparison:
    """How ``left = right`` compares: the affinity applied to both sides ("" for none) and
    the collation of text comparisons."""

    affinity: str
    collation: str


def operand(expr: exp.Expr, schema: Schema) -> Operand | None:
    """Describe ``expr`` as a comparison operand; None when it cannot be told for certain.

    >>> s = Schema.from_ddl("CREATE TABLE t (a TEXT COLLATE NOCASE, n INT)")
    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT a, n, CAST(a AS INT), 1, a COLLATE BINARY FROM t")
    >>> [operand(e, s) for e in q.expressions][:3]
    [Operand(affinity='TEXT', collation='NOCASE', explicit=False),
     Operand(affinity='INTEGER', collation='BINARY', explicit=False),
     Operand(affinity='INTEGER', collation='NOCASE', explicit=False)]
    >>> operand(q.expressions[3], s), operand(q.expressions[4], s).collation
    (Operand(affinity='', collation=None, explicit=False), 'BINARY')
    """
    node = _scope.unparen(expr)
    if isinstance(node, exp.Alias):
        return operand(node.this, schema)
    if isinstance(node, exp.Collate):
        inner = operand(node.this, schema)
        name = node.expression
        text = name.name if isinstance(name, exp.Identifier | exp.Column | exp.Var) else None
        if inner is None or not text:
            return None
        return Operand(inner.affinity, text.upper(), explicit=True)
    if isinstance(node, exp.Cast):
        inner = operand(node.this, schema)
        to = node.args.get("to")
        if inner is None or not isinstance(to, exp.DataType):
            return None
        return Operand(affinity(to.sql("sqlite")), inner.collation, inner.explicit)
    if isinstance(node, exp.Column):
        found = _scope.resolve(node, schema)
        if found is not None and found.source.table is None and found.source.derived is not None:
            return _derived(found.source.derived, found.column, schema)
        table = found.source.table if found is not None else None
        if found is None or table is None:
            return None
        aff, coll = table.affinity.get(found.column), table.collation.get(found.column)
        return None if aff is None or coll is None else Operand(aff, coll)
    if any(True for _ in node.find_all(exp.Collate, exp.Subquery, exp.Select)):
        return None  # a COLLATE or a subquery inside an expression: not modelled here
    return Operand("", None)


def _derived(derived: exp.Expr, column: str, schema: Schema) -> Operand | None:
    """A CTE's or derived table's column: SQLite gives it the affinity and collation of the
    expression it selects, and an expression without affinity becomes a BLOB-affinity column."""
    expression = _scope.derived_output(derived, column)
    inner = operand(expression, schema) if expression is not None else None
    if inner is None:
        return None
    return Operand(inner.affinity or "BLOB", inner.collation or "BINARY")


def compare(left: Operand, right: Operand) -> Comparison:
    """The comparison SQLite makes for ``left = right`` (and ``left IN (SELECT right)``).

    >>> compare(Operand("TEXT", "BINARY"), Operand("INTEGER", "NOCASE"))
    Comparison(affinity='NUMERIC', collation='BINARY')
    >>> compare(Operand("", None), Operand("TEXT", "NOCASE"))
    Comparison(affinity='TEXT', collation='NOCASE')
    """
    if left.explicit:
        collation = left.collation
    elif right.explicit:
        collation = right.collation
    else:
        collation = left.collation or right.collation
    if left.affinity and right.affinity:
        numeric = left.affinity in NUMERIC or right.affinity in NUMERIC
        aff = "NUMERIC" if numeric else ""
    else:
        aff = left.affinity or right.affinity
    if aff == "BLOB":
        aff = ""
    return Comparison("NUMERIC" if aff in NUMERIC else aff, collation or "BINARY")


def finer_or_equal(collation: str, than: str) -> bool:
    """Whether values equal under ``collation`` are equal under ``than`` too (BINARY is the
    finest built-in collation; other pairs must match exactly)."""
    return collation.upper() in ("BINARY", than.upper())


def groups_finer(grouped: Operand, comparison: Comparison) -> bool:
    """Whether DISTINCT over ``grouped`` keeps every value ``comparison`` can tell apart, so
    dropping it cannot change which rows match.

    DISTINCT merges values equal under their collation and numbers equal across storage
    classes (1 and 1.0); the comparison must not tell merged values apart.

    >>> cmp = Comparison("", "BINARY")
    >>> groups_finer(Operand("TEXT", "NOCASE"), cmp), groups_finer(Operand("TEXT", "BINARY"), cmp)
    (False, True)
    >>> groups_finer(Operand("BLOB", "BINARY"), Comparison("TEXT", "BINARY"))
    False
    """
    if not finer_or_equal(grouped.collation or "BINARY", comparison.collation):
        return False
    return comparison.affinity != "TEXT" or grouped.affinity in _NO_MIXED_NUMBERS


def converts(side: Operand, comparison: Comparison) -> bool:
    """Whether ``comparison`` may convert ``side``'s values before comparing them.

    SQLite applies the affinity to the value in place, and where that value is read again
    (a GROUP BY column in HAVING, say) the conversion shows in the result: ``'1'`` comes out
    as ``1``. Moving such a comparison into another scope changes what is read back, so the
    rules keep an operand that would be converted where it is.

    >>> converts(Operand("TEXT", "BINARY"), Comparison("NUMERIC", "BINARY"))
    True
    >>> converts(Operand("INTEGER", "BINARY"), Comparison("NUMERIC", "BINARY"))
    False
    """
    if comparison.affinity == "NUMERIC":
        return side.affinity not in NUMERIC
    if comparison.affinity == "TEXT":
        return side.affinity != "TEXT"
    return False


def key_holds(key: Operand, key_collation: str, comparison: Comparison) -> bool:
    """Whether a column unique under ``key_collation`` still matches at most one row when
    compared by ``comparison``: the comparison is at least as fine as the key's collation, and
    does not turn distinct key values into equal ones (NUMERIC conversion of text does).

    >>> key_holds(Operand("TEXT", "BINARY"), "BINARY", Comparison("NUMERIC", "BINARY"))
    False
    >>> key_holds(Operand("INTEGER", "BINARY"), "BINARY", Comparison("NUMERIC", "BINARY"))
    True
    """
    if not finer_or_equal(comparison.collation, key_collation):
        return False
    return comparison.affinity != "NUMERIC" or key.affinity in NUMERIC
