"""Index candidates from statement shapes: key order, covering and partial variants, merged.

Key order follows how SQLite uses an index: equality columns first, then one range column,
or the ORDER BY columns when the index can hand rows over in order (then no sort step). A
covering variant appends the other columns the statement reads, when they are few and narrow,
so the table is never visited. A partial variant moves constant predicates (``is_active = 1``,
``status = 'pending'``, ``col IS NULL``) into the index's WHERE: a smaller index that SQLite
uses only for statements that repeat the predicate, which these do by construction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from edgedb_opt.advise.shape import EXPRESSION, TableUse

__all__ = ["Candidate", "ExistingIndex", "TableInfo", "candidates_for", "merge", "term_column"]

#: A covering index stays an index: at most this many columns, each this narrow on average.
MAX_COVERING_COLUMNS = 8
MAX_COVERED_WIDTH = 40.0


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ExistingIndex:
    """An index the database already has (PRIMARY KEY and UNIQUE autoindexes included)."""

    name: str
    table: str
    columns: tuple[str, ...]  # "col" or "col DESC"
    where: str | None
    unique: bool
    auto: bool  # made by a UNIQUE / PRIMARY KEY constraint: cannot be dropped on its own


@dataclass
class TableInfo:
    """What candidate generation needs to know about one table."""

    name: str
    columns: set[str]
    rowid_alias: str | None  # the INTEGER PRIMARY KEY column, if any
    widths: dict[str, float] = field(default_factory=dict)  # average bytes per value
    existing: list[ExistingIndex] = field(default_factory=list)

    def is_rowid(self, column: str) -> bool:
        """The INTEGER PRIMARY KEY, or rowid / oid / _rowid_ where no column takes the name:
        every index holds it already, and a lookup by it needs none."""
        return column == self.rowid_alias or (
            column in ("rowid", "oid", "_rowid_") and column not in self.columns
        )


@dataclass(frozen=True)
class Candidate:
    """One proposed index; ``serves`` are the workload statements (1-based) it was made for."""

    table: str
    columns: tuple[str, ...]
    where: str | None
    serves: frozenset[int]
    key_length: int = 0  # columns that are key; the rest only cover (0: all are key)
    #: the OR whose branch this index serves: the branches' indexes are tried together
    or_group: str | None = field(default=None, compare=False)

    @property
    def lean(self) -> Candidate | None:
        """The same index without its covering columns, or None if it has none."""
        if not self.key_length or self.key_length >= len(self.columns):
            return None
        return Candidate(self.table, self.columns[: self.key_length], self.where, self.serves)

    @property
    def key(self) -> tuple[str, tuple[str, ...], str | None]:
        return (self.table, self.columns, self.where)

    @property
    def name(self) -> str:
        """``adv_<table>_<columns>`` (``_p`` + hash for partial ones), at most 63 characters."""
        cols = "_".join(re.sub(r"\s+DESC$", "d", c).replace(" COLLATE ", "_") for c in self.columns)
        base = re.sub(r"\W", "_", f"adv_{self.table}_{cols}")
        if self.where:
            base += "_p" + hashlib.blake2b(self.where.encode(), digest_size=2).hexdigest()
        if len(base) > 63:
            digest = hashlib.blake2b(base.encode(), digest_size=4).hexdigest()
            base = base[:54] + "_" + digest
        return base

    def create_sql(self) -> str:
        """The CREATE INDEX statement, identifiers quoted."""
        cols = ", ".join(_term_sql(c) for c in self.columns)
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE INDEX {_q(self.name)} ON {_q(self.table)} ({cols}){where}"

    def drop_sql(self) -> str:
        return f"DROP INDEX {_q(self.name)}"


_TERM = re.compile(r"^(?P<column>.*?)(?: COLLATE (?P<collation>\w+))?(?P<desc> DESC)?$")


def term_column(key: str) -> str:
    """The column of an index key term: ``"unit price COLLATE NOCASE DESC"`` is column
    ``unit price``."""
    match = _TERM.match(key)
    assert match is not None
    return match.group("column")


def _term_sql(key: str) -> str:
    """A key term in CREATE INDEX: the column quoted, its collation and order as given.

    >>> _term_sql("unit price COLLATE NOCASE DESC")
    '"unit price" COLLATE NOCASE DESC'
    """
    match = _TERM.match(key)
    assert match is not None
    collation = f" COLLATE {match.group('collation')}" if match.group("collation") else ""
    column = match.group("column")
    # An expression is written as the statement wrote it (SQLite matches the trees).
    written = column[len(EXPRESSION) :] if column.startswith(EXPRESSION) else _q(column)
    return written + collation + (match.group("desc") or "")


def _collated(key: list[str], use: TableUse) -> list[str]:
    """Each term with the collation its comparison names: an index on ``x`` serves
    ``x COLLATE NOCASE = ?`` only if it is ``x COLLATE NOCASE``."""
    out = []
    for term in key:
        column = term_column(term)
        if column in use.collations:
            desc = " DESC" if term.endswith(" DESC") else ""
            term = f"{column} COLLATE {use.collations[column]}{desc}"
        out.append(term)
    return out


def _ordered(order: list[tuple[str, bool]], skip: list[str]) -> list[str]:
    """ORDER BY columns as index columns. All-descending orders are read backwards from an
    ascending index; in a mixed order the columns against the first one's direction get DESC."""
    terms = [(c, d) for c, d in order if c not in skip]
    if not terms:
        return []
    flip = terms[0][1]
    return [c + (" DESC" if d != flip else "") for c, d in terms]


def _keys(eq: list[str], use: TableUse) -> list[list[str]]:
    keys: list[list[str]] = []
    rng = [r for r in use.ranges if r not in eq]
    base = eq + rng[:1]
    if base:
        keys.append(base)
    by_order = _ordered(use.order, eq)
    if by_order and (not rng or term_column(by_order[0]) == rng[0]):
        keys.append(eq + by_order)
    return keys


def candidates_for(use: TableUse, statement: int, info: TableInfo) -> list[Candidate]:
    """Every candidate for one table use (before merging across statements)."""
    if any(info.is_rowid(c) for c in use.eq):
        return []  # found by its primary key already
    access = [use.eq]
    joins = [j for j in use.joins if not info.is_rowid(j) and j not in use.eq]
    if joins:
        access.append(use.eq + joins)  # probed once per row of the other table
    keyed: list[tuple[list[str], str | None]] = []
    for eq in access:
        if not use.constants:  # with constant predicates the partial variant below is better
            keyed.extend((key, None) for key in _keys(eq, use))
        equal_consts = {
            c: p for c, p in use.constants.items() if c in eq and not p.endswith("IS NOT NULL")
        }
        not_null = {c: p for c, p in use.constants.items() if p.endswith("IS NOT NULL")}
        consts = {**equal_consts, **not_null}
        if consts:
            partial = " AND ".join(consts[c] for c in sorted(consts))
            for key in _keys([c for c in eq if c not in equal_consts], use):
                keyed.append((key, partial))
    out: list[Candidate] = []
    read = sorted(c for c in use.columns if not info.is_rowid(c))
    for plain, where in keyed:
        # rowid ends every index already (and orders rows within equal keys): never a term.
        key = [k for k in _collated(plain, use) if not info.is_rowid(term_column(k))]
        names = [term_column(k) for k in key]
        if not names or info.is_rowid(names[0]):
            continue
        serves = frozenset({statement})
        out.append(Candidate(use.table, tuple(key), where, serves, or_group=use.or_group))
        extra = [c for c in read if c not in names]
        narrow = all(info.widths.get(c, 8.0) <= MAX_COVERED_WIDTH for c in extra)
        if extra and narrow and len(names) + len(extra) <= MAX_COVERING_COLUMNS:
            out.append(Candidate(use.table, (*key, *extra), where, serves, len(key)))
    return out


def _prefix(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def merge(
    candidates: Iterable[Candidate], infos: dict[str, TableInfo], *, keep_lean: bool = False
) -> list[Candidate]:
    """One candidate per distinct index: none duplicates an index the table already has, and
    a candidate that is a prefix of another (same table, same WHERE) folds into it. With
    ``keep_lean`` an index without covering columns does not fold into a covering one, so
    both can be measured before one is chosen.

    >>> a = Candidate("t", ("x",), None, frozenset({1}))
    >>> b = Candidate("t", ("x", "y"), None, frozenset({2}))
    >>> [(c.columns, sorted(c.serves)) for c in merge([a, b], {})]
    [(('x', 'y'), [1, 2])]
    """
    ordered = sorted(candidates, key=lambda c: (c.table, c.where or "", -len(c.columns)))
    kept: list[Candidate] = []
    for cand in ordered:
        info = infos.get(cand.table)
        if info is not None and any(
            ex.where == cand.where and _prefix(cand.columns, ex.columns) for ex in info.existing
        ):
            continue
        for n, other in enumerate(kept):
            if (
                other.table == cand.table
                and other.where == cand.where
                and _prefix(cand.columns, other.columns)
                and (
                    cand.columns == other.columns
                    or not (keep_lean and other.lean is not None and cand.lean is None)
                )
            ):
                kept[n] = Candidate(
                    other.table,
                    other.columns,
                    other.where,
                    other.serves | cand.serves,
                    max(other.key_length, cand.key_length or len(cand.columns)),
                    or_group=other.or_group or cand.or_group,
                )
                break
        else:
            kept.append(cand)
    return kept
