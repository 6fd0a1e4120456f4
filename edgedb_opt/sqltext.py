"""Splitting SQL scripts into statements, keeping the line each one starts on.

Hand-written on purpose: sqlglot re-renders statements (it would change the SQL we promise to
run verbatim) and has no CREATE TRIGGER body support; SQLite's own
``sqlite3.complete_statement`` decides where a statement ends, triggers included.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a script and the 1-based line it starts on."""

    sql: str
    line: int


def split_statements(script: str, *, first_line: int = 1) -> list[Statement]:
    """Split ``script`` into complete statements; comments-only text yields nothing.

    >>> [s.sql for s in split_statements("CREATE TABLE a(x);\\n-- note\\nSELECT 1;")]
    ['CREATE TABLE a(x);', 'SELECT 1;']
    >>> split_statements("SELECT 1;\\nSELECT 2")[1]
    Statement(sql='SELECT 2', line=2)
    """
    out: list[Statement] = []
    buf: list[str] = []
    start = first_line
    for offset, line in enumerate(script.splitlines()):
        if not buf:
            if not _has_code(line):
                continue
            start = first_line + offset
        buf.append(line)
        text = "\n".join(buf)
        if sqlite3.complete_statement(text):
            out.append(Statement(_strip_comments_at_edges(text), start))
            buf = []
    rest = "\n".join(buf)
    if _has_code(rest):
        out.append(Statement(_strip_comments_at_edges(rest), start))
    return out


def _has_code(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return True
    return False


def _strip_comments_at_edges(text: str) -> str:
    lines = text.strip().splitlines()
    while lines and lines[-1].strip().startswith("--"):
        lines.pop()
    return "\n".join(lines).strip()
