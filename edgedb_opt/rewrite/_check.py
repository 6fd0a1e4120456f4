"""SQLite's own word on a rewrite: it must prepare, and it must group as sqlglot did.

sqlglot and SQLite do not always agree on precedence (``a = 7 NOT IN (1)`` is
``(a = 7) NOT IN (1)`` in SQLite, ``a = (7 NOT IN (1))`` in sqlglot). A rule that replaces a
part sqlglot read as one expression is only right if SQLite reads it as one too: putting that
part of the *original* statement in parentheses must leave SQLite's program (``EXPLAIN``)
unchanged. And the rewritten statement must prepare. Both run on a private in-memory copy of
the schema (its CREATE statements), never on the user's database.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from sqlglot import TokenType
from sqlglot.dialects.dialect import Dialect

INVALID = "SQLite cannot prepare the rewritten statement, left as written"
UNCHECKED = "SQLite cannot prepare the statement on a copy of the schema, left as written"
GROUPING = (
    "SQLite groups the rewritten part with its neighbours differently than the rewriter "
    "read it (operator precedence), left as written"
)


class _Missing(dict[str, Any]):
    """Named parameters for EXPLAIN: every name binds NULL."""

    def __missing__(self, key: str) -> None:
        return None


def _bindings(sql: str) -> Sequence[Any] | dict[str, Any]:
    tokens = Dialect.get_or_raise("sqlite").tokenize(sql)
    marks = [t.text for t in tokens if t.token_type in (TokenType.PLACEHOLDER, TokenType.PARAMETER)]
    if any(m not in ("?", "") and not m.startswith("?") for m in marks):
        return _Missing()
    numbered = [int(m[1:]) for m in marks if m.startswith("?") and m[1:].isdigit()]
    return [None] * max([sum(1 for m in marks if m in ("?", "")), *numbered, 0])


@functools.lru_cache(maxsize=8)
def _replica(ddl: tuple[str, ...]) -> tuple[sqlite3.Connection, threading.Lock]:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    for statement in ddl:
        try:
            conn.execute(statement)
        except sqlite3.Error:
            continue  # e.g. a virtual table whose module this build lacks
    return conn, threading.Lock()


def _program(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]] | str:
    try:
        return [tuple(r) for r in conn.execute("EXPLAIN " + sql, _bindings(sql)).fetchall()]
    except (sqlite3.Error, ValueError) as exc:
        return str(exc) or type(exc).__name__


def check(
    ddl: tuple[str, ...], original: str, rewritten: str, parts: Sequence[tuple[int, int]]
) -> str | None:
    """Why SQLite rejects the rewrite (a refusal reason), or None when it accepts it.

    Args:
        ddl: the schema's CREATE statements (empty: nothing to check against, accepted).
        original: the statement as written.
        rewritten: the rewritten statement.
        parts: (start, end) of each expression of ``original`` a rule replaced.
    """
    if not ddl:
        return None
    conn, lock = _replica(ddl)
    with lock:
        before = _program(conn, original)
        if isinstance(before, str):
            return f"{UNCHECKED}: {before}"
        after = _program(conn, rewritten)
        if isinstance(after, str):
            return f"{INVALID}: {after}"
        for start, end in parts:
            grouped = f"{original[:start]}({original[start:end]}){original[end:]}"
            if _program(conn, grouped) != before:
                return GROUPING
    return None
