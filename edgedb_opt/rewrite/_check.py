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
import re
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

INVALID = "SQLite cannot prepare the rewritten statement, left as written"
UNCHECKED = "SQLite cannot prepare the statement on a copy of the schema, left as written"
GROUPING = (
    "SQLite groups the rewritten part with its neighbours differently than the rewriter "
    "read it (operator precedence), left as written"
)


@functools.lru_cache(maxsize=8)
def _replica(ddl: tuple[str, ...]) -> tuple[sqlite3.Connection, threading.Lock]:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    for statement in ddl:
        try:
            conn.execute(statement)
        except sqlite3.Error:
            continue  # e.g. a virtual table whose module this build lacks
    return conn, threading.Lock()


_USES = re.compile(r"uses (\d+), and there (?:are|is) \d+ supplied")


def _program(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]] | str:
    """SQLite's program for ``sql`` (EXPLAIN rows), or why it cannot be prepared. Parameters
    bind NULL: the count comes from SQLite's own complaint (any style: ?, ?NNN, :a, @a, $a)."""
    params: list[None] = []
    for _ in range(2):
        try:
            return [tuple(r) for r in conn.execute("EXPLAIN " + sql, params).fetchall()]
        except sqlite3.ProgrammingError as exc:
            found = _USES.search(str(exc))
            if found is None or params:
                return str(exc)
            params = [None] * int(found.group(1))
        except (sqlite3.Error, ValueError) as exc:
            return str(exc) or type(exc).__name__
    return "cannot bind the statement's parameters"


def check(
    ddl: tuple[str, ...], original: str, rewritten: str, parts: Sequence[tuple[int, int]]
) -> str | None:
    """Why SQLite rejects the rewrite (a refusal reason), or None when it accepts it.

    Args:
        ddl: the schema's CREATE statements (``Schema.statements()``).
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
