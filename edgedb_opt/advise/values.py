"""The values a workload statement is measured with: literals made parameters, and the sets of
values drawn from the data.

Query logs and ``.expert`` input carry literal values (``WHERE study_session_id = 11``).
Taken as constants they leave nothing to index (an equality on a constant) or become
partial-index predicates that serve one user and no one else. So a literal compared with a
column (``=``, ``IN``, ranges, ``BETWEEN``) becomes a parameter, unless all three hold:

- every statement of the workload with the same fingerprint (``runtime.fingerprint``: the
  monitor's) has the same value there, and the workload shows it more than once: the
  fingerprint's weights add up to 2 or more, or another statement compares the same column
  with the same value (one statement run once is no evidence that its value is fixed);
- its column is low-cardinality in the data (at most ``LOW_DISTINCT`` distinct values, each
  holding at least 1% of the rows on average): a status, a flag;
- the column is not key-like (primary key, rowid alias, a foreign key's column, a UNIQUE
  index's only column).

Only an equality can stay a constant (a partial index's predicate). LIMIT and OFFSET values,
values in the select list, in ``SET`` and in ``VALUES`` stay as written.

Each statement is then measured with several sets of values (:func:`value_sets`): as
written (the file's ``-- params``, or its literals, the rest sampled), a typical key, and
the column's heaviest value; a parameter that is not compared with a column keeps its
first value in every set.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from edgedb_opt.advise.shape import ParamRole
from edgedb_opt.advise.workload import WorkloadStatement
from edgedb_opt.runtime.fingerprint import fingerprint

__all__ = ["ColumnProfile", "parameterize", "value_sets"]

#: A column with at most this many distinct values may hold a constant.
LOW_DISTINCT = 16
_COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between)
#: Roles whose value is drawn from the column's data in the other sets.
_DRAWN = {"eq", ">", ">=", "<", "<=", "low", "high"}


@dataclass(frozen=True)
class ColumnProfile:
    """What the data says of one column."""

    rows: int
    distinct: int
    key_like: bool
    heaviest: Any  # the most frequent non-NULL value, None without one

    @property
    def low_cardinality(self) -> bool:
        """A status or a flag: few distinct values, each holding many rows."""
        return 0 < self.distinct <= LOW_DISTINCT and self.distinct * 100 <= self.rows


class Profiler(Protocol):
    """What :func:`parameterize` and :func:`value_sets` need of the lab."""

    def profile(self, table: str, column: str) -> ColumnProfile | None: ...

    def sample(self, names: list[str], roles: Mapping[str, ParamRole]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Slot:
    """One comparison of a column with literal values, in one statement."""

    table: str | None
    column: str
    equality: bool
    values: tuple[Any, ...]
    spans: tuple[tuple[int, int], ...]  # where each literal is in the statement's sql


def _value(node: exp.Expr) -> Any:
    negative = isinstance(node, exp.Neg)
    lit = node.this if negative else node
    assert isinstance(lit, exp.Literal)
    if lit.is_string:
        return lit.this
    text = lit.this
    number: int | float = int(text) if text.isdigit() else float(text)
    return -number if negative else number


def _literal(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and "start" in node.meta


def _span(node: exp.Expr, sql: str) -> tuple[int, int]:
    """Where a literal (with its minus sign) is in ``sql``: [start, end)."""
    lit = node.this if isinstance(node, exp.Neg) else node
    start, end = int(lit.meta["start"]), int(lit.meta["end"]) + 1
    if isinstance(node, exp.Neg):
        start = sql.rindex("-", 0, start)
    return start, end


def _tables(tree: exp.Expr) -> dict[str, str]:
    return {(t.alias or t.name).lower(): t.name.lower() for t in tree.find_all(exp.Table)}


def _owner(
    col: exp.Column, tables: Mapping[str, str], schema: Mapping[str, set[str]]
) -> str | None:
    if col.table:
        return tables.get(col.table.lower())
    owners = {t for t in tables.values() if col.name.lower() in schema.get(t, set())}
    return owners.pop() if len(owners) == 1 else None


def _slots(sql: str, schema: Mapping[str, set[str]]) -> list[_Slot] | None:
    """The literal comparisons of a statement, in document order; None if it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except SqlglotError:
        return None
    tables = _tables(tree)
    out: list[_Slot] = []
    for cmp in tree.find_all(*_COMPARISONS, bfs=False):
        if isinstance(cmp.parent, exp.Update):
            continue  # SET column = value: an assignment, not a comparison
        column = cmp.this
        if isinstance(cmp, exp.In):
            operands = list(cmp.expressions)
        elif isinstance(cmp, exp.Between):
            operands = [cmp.args["low"], cmp.args["high"]]
        else:
            column, operands = cmp.this, [cmp.expression]
            if not isinstance(column, exp.Column):
                column, operands = cmp.expression, [cmp.this]
        if not isinstance(column, exp.Column) or not operands or not all(map(_literal, operands)):
            continue
        out.append(
            _Slot(
                _owner(column, tables, schema),
                column.name.lower(),
                isinstance(cmp, exp.EQ),
                tuple(_value(o) for o in operands),
                tuple(_span(o, sql) for o in operands),
            )
        )
    return out


def parameterize(
    workload: Sequence[WorkloadStatement], schema: Mapping[str, set[str]], lab: Profiler
) -> list[WorkloadStatement]:
    """The workload with each literal that is a parameter (see the module docstring) written
    as ``:lN``; its written value goes in the statement's ``literals``."""
    slots = [_slots(w.sql, schema) for w in workload]
    groups: dict[str, list[int]] = defaultdict(list)
    statements_with: Counter[tuple[Any, ...]] = Counter()
    for n, w in enumerate(workload):
        groups[fingerprint(w.text)].append(n)
        statements_with.update({_compared(slot) for slot in slots[n] or []})
    out: list[WorkloadStatement] = []
    for n, w in enumerate(workload):
        mine = slots[n]
        if not mine:
            out.append(w)
            continue
        group = groups[fingerprint(w.text)]
        peers = [slots[m] for m in group]
        aligned = all(p is not None and len(p) == len(mine) for p in peers)
        runs = sum(workload[m].weight for m in group)
        edits: list[tuple[tuple[int, int], str, Any]] = []
        count = 0
        for k, slot in enumerate(mine):
            same = aligned and all(p is not None and p[k].values == slot.values for p in peers)
            repeated = runs >= 2 or statements_with[_compared(slot)] >= 2
            if same and repeated and slot.equality and _constant(slot, lab):
                continue
            for value, span in zip(slot.values, slot.spans, strict=True):
                count += 1
                edits.append((span, f"l{count}", value))
        out.append(_rewrite(w, edits))
    return out


def _compared(slot: _Slot) -> tuple[Any, ...]:
    return (slot.table, slot.column, slot.equality, slot.values)


def _constant(slot: _Slot, lab: Profiler) -> bool:
    if slot.table is None:
        return False
    profile = lab.profile(slot.table, slot.column)
    return profile is not None and profile.low_cardinality and not profile.key_like


def _rewrite(
    w: WorkloadStatement, edits: list[tuple[tuple[int, int], str, Any]]
) -> WorkloadStatement:
    if not edits:
        return w
    sql = w.sql
    for (start, end), name, _ in sorted(edits, key=lambda e: e[0][0], reverse=True):
        sql = sql[:start] + ":" + name + sql[end:]
    literals = {name: value for _span_, name, value in edits}
    return replace(w, sql=sql, names=[*w.names, *literals], literals=literals)


def value_sets(
    statement: WorkloadStatement, roles: Mapping[str, ParamRole], lab: Profiler
) -> list[dict[str, Any]]:
    """The sets of values the statement is measured with, first as written (distinct sets
    only; one set when no parameter is compared with a column)."""
    sampled = lab.sample(statement.names, roles)
    written = dict(statement.params) if statement.params is not None else dict(sampled)
    written.update(statement.literals)
    drawn = [
        n for n in statement.names if roles.get(n, ParamRole(None, None, "other")).role in _DRAWN
    ]
    if not drawn:
        return [written]
    typical = {**written, **{n: sampled[n] for n in drawn if sampled.get(n) is not None}}
    heaviest = dict(typical)
    for n in drawn:
        role = roles[n]
        if role.role == "eq" and role.table is not None and role.column is not None:
            profile = lab.profile(role.table, role.column)
            if profile is not None and profile.heaviest is not None:
                heaviest[n] = profile.heaviest
    out: list[dict[str, Any]] = []
    for values in (written, typical, heaviest):
        if values not in out:
            out.append(values)
    return out
