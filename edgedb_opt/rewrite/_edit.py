"""Edits shared by the rules, each paired with the check that makes it safe to keep.

Rules change the tree in place, then verify (column bindings, order of ``?`` parameters); a
:class:`Checkpoint` puts a node back when the verification fails.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel

from edgedb_opt.rewrite.schema import fold

_PLACEHOLDER_MARK = "edgeopt_ph_"
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Words the SQLite tokenizer reads as keywords (a name among them must be quoted; a missed
#: one still cannot slip through: the rewritten statement is prepared by SQLite before use).
_KEYWORDS = frozenset(
    word.upper()
    for keyword in Dialect.get_or_raise("sqlite").tokenizer_class.KEYWORDS
    for word in keyword.split()
    if word.isalpha()
)
E = TypeVar("E", bound="exp.Expr")


def identifier(name: str) -> exp.Identifier:
    """``name`` as an identifier, quoted when SQLite needs it: not a plain word, or a keyword
    (a table called ``order`` or ``group`` must be written ``"order"``).

    >>> identifier("q").sql("sqlite"), identifier("order").sql("sqlite"), identifier("a b").sql()
    ('q', '"order"', '"a b"')
    """
    plain = _PLAIN.fullmatch(name) is not None and name.upper() not in _KEYWORDS
    return exp.to_identifier(name, quoted=not plain)


def qualify(column: exp.Column, name: str) -> None:
    """Make ``column`` read ``name.column``, quoting the name when SQL needs it."""
    column.set("table", identifier(name))
    column.set("db", None)
    column.set("catalog", None)


def rename_source(node: exp.Expr, name: str) -> None:
    """Give a FROM / JOIN source the alias ``name``, keeping any column list of its alias."""
    alias = node.args.get("alias")
    if isinstance(alias, exp.TableAlias):
        alias.set("this", identifier(name))
    else:
        node.set("alias", exp.TableAlias(this=identifier(name)))


def and_(left: exp.Expr, right: exp.Expr) -> exp.And:
    """``left AND right`` without copying either, parenthesising an OR (or XOR) operand."""
    terms = [
        exp.Paren(this=t) if isinstance(t, exp.Connector) and not isinstance(t, exp.And) else t
        for t in (left, right)
    ]
    return exp.And(this=terms[0], expression=terms[1])


def source_names(root: exp.Expr) -> set[str]:
    """Every table, alias and CTE name used anywhere under ``root`` (lower case)."""
    names = {fold(t.alias_or_name) for t in root.find_all(exp.Table)}
    names |= {fold(t.name) for t in root.find_all(exp.Table)}
    names |= {fold(a.name) for a in root.find_all(exp.TableAlias) if a.name}
    return names


def fresh_name(base: str, taken: set[str]) -> str:
    """``base`` suffixed with the first number that makes it unused.

    >>> fresh_name("objectives", {"objectives", "objectives_2"})
    'objectives_3'
    """
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def placeholder_order(root: exp.Expr) -> list[int]:
    """Identities of the anonymous ``?`` parameters under ``root``, in rendered order.

    Positional parameters bind by position, so an edit that moves one ``?`` past another
    would bind the caller's values to the wrong places; rules compare this before and after.
    """
    marks = [p for p in root.find_all(exp.Placeholder) if not p.this]
    if not marks:
        return []
    for i, mark in enumerate(marks):
        mark.set("this", f"{_PLACEHOLDER_MARK}{i}")
    try:
        text = root.sql(dialect="sqlite", unsupported_level=ErrorLevel.IGNORE)
    finally:
        for mark in marks:
            mark.set("this", None)
    return [id(marks[int(i)]) for i in re.findall(rf"{_PLACEHOLDER_MARK}(\d+)", text)]


class Checkpoint:
    """A copy of a node's children, to put back if an edit turns out unsafe.

    The node itself keeps its identity (it may be the root of the whole statement).
    """

    def __init__(self, node: exp.Expr) -> None:
        self.node = node
        self._saved = node.copy()

    def restore(self) -> None:
        """Put the node's children back as they were when the checkpoint was taken."""
        for key in list(self.node.args):
            self.node.set(key, None)
        for key, value in self._saved.args.items():
            self.node.set(key, value)


def innermost_first(
    root: exp.Expr, find: Callable[[exp.Expr], Iterable[E]], mark: str
) -> Iterator[E]:
    """Yield each node ``find`` returns under ``root`` once, innermost first.

    The list is taken again after every step, so a :class:`Checkpoint` restore (which puts
    copies in place of the originals) never leaves a stale node to work on; ``mark`` in each
    node's ``meta`` (copied along with it) remembers what was already seen.
    """
    while True:
        pending = [n for n in find(root) if not n.meta.get(mark)]
        if not pending:
            return
        # In pre-order a node's descendants follow it directly, so the first node not followed
        # by one of its own descendants has none left: post-order, siblings in text order.
        node = next(
            (n for n, after in itertools.pairwise(pending) if not _inside(after, n)),
            pending[-1],
        )
        node.meta[mark] = True
        yield node


def _inside(node: exp.Expr, ancestor: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False
