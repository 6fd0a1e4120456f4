"""Statement fingerprints: one text per query shape, whatever values it was run with.

Two statements that differ only in their literals, their parameter style, the length of an
``IN`` list, whitespace, comments or keyword case share a fingerprint, so timings add up per
shape and an N+1 loop shows as one fingerprint run many times.

>>> fingerprint("select * from Users where id = 42 and name = 'ann'")
'SELECT * FROM users WHERE id = ? AND name = ?'
>>> fingerprint("SELECT * FROM users WHERE id IN (1, 2, 3)") == fingerprint(
...     "SELECT * FROM users   WHERE id IN (:a, :b)")
True
>>> fingerprint_id("SELECT * FROM users WHERE id = ?")
'69e443c5483b'
"""

from __future__ import annotations

import functools
import hashlib
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

__all__ = ["batch_advice", "fingerprint", "fingerprint_id"]

_VALUE = (exp.Literal, exp.Boolean, exp.HexString, exp.Placeholder, exp.Parameter)


def _is_value(node: exp.Expression) -> bool:
    if isinstance(node, exp.Neg):
        return _is_value(node.this)
    if isinstance(node, exp.Column) and not node.table:
        return node.name.startswith("$")  # sqlglot reads SQLite's $name parameters as columns
    return isinstance(node, _VALUE)


def _to_placeholder(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.In) and node.expressions and all(map(_is_value, node.expressions)):
        node.set("expressions", [exp.Placeholder()])
        return node
    return exp.Placeholder() if _is_value(node) else node


def _collapse_values(tree: exp.Expression) -> None:
    # A multi-row VALUES of placeholders is one shape however many rows it carries.
    for values in tree.find_all(exp.Values):
        rows = values.expressions
        if len(rows) > 1 and len({r.sql(comments=False) for r in rows}) == 1:
            values.set("expressions", rows[:1])


_LITERAL = re.compile(
    r"""(?P<name>"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])  # a quoted name stays as it is
      | (?P<comment>--[^\n]*|/\*.*?(?:\*/|$))  # a comment becomes a space
      | '(?:[^']|'')*'?          # a string, possibly unterminated
      | \b[xX]'[0-9a-fA-F]*'     # a blob
      | (?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?  # a number (its sign is an operator)
      | \?\d* | [:@$][A-Za-z_]\w*  # a parameter""",
    re.X | re.S,
)
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.I)
#: A VALUES whose rows are all the same row of placeholders: one row stands for them all.
_ROWS = re.compile(r"(\bVALUES\s*)(\(\s*\?(?:\s*,\s*\?)*\s*\))(?:\s*,\s*\2)+(?!\s*,\s*\()", re.I)


def _literal_or_name(match: re.Match[str]) -> str:
    # One left-to-right scan, so a quote inside a comment or "--" inside a string is no trap.
    return match["name"] or (" " if match["comment"] else "?")


def _strip_values(sql: str) -> str:
    """Literals and parameters as ``?``, no comments, single spaces: cheap, and enough to
    make every run of one statement shape the same text."""
    text = _LITERAL.sub(_literal_or_name, sql)
    # Lists and rows of placeholders collapse here, before any parse: a 500-row INSERT
    # would otherwise cost sqlglot tens of milliseconds on the event loop per new length.
    text = _ROWS.sub(r"\1\2", _IN_LIST.sub("IN (?)", text))
    return " ".join(text.split()).rstrip(";").rstrip()


@functools.lru_cache(maxsize=4096)
def fingerprint(sql: str) -> str:
    """The shape of ``sql``: literals and parameters as ``?``, ``IN (...)`` lists of them as
    ``IN (?)``, keywords upper case, identifiers lower case, single spaces, no comments.

    Args:
        sql: one statement (several are fingerprinted together, joined by ``; ``).
    Returns:
        The normalized text; cached, so a repeated statement costs a dictionary lookup, and
        statements that differ only in their values are parsed once between them.

    >>> fingerprint("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') -- import")
    'INSERT INTO t (a, b) VALUES (?, ?)'
    >>> fingerprint("SELECT a FROM t WHERE b = -1.5 LIMIT 10 OFFSET 20")
    'SELECT a FROM t WHERE b = ? LIMIT ? OFFSET ?'
    >>> fingerprint("SELEKT x FROM t WHERE id = 7 AND k IN (1, 2)")
    'SELEKT X FROM T WHERE ID = ? AND K IN (?)'
    """
    return _shape(_strip_values(sql))


#: Statements sqlglot parses only as a Command, after logging a warning each time: triggers
#: and virtual tables (schema changes, never hot), normalized by the regex alone.
_COMMAND_ONLY = re.compile(r"\s*CREATE\s+(TEMP\w*\s+)?(TRIGGER|VIRTUAL\s+TABLE)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _shape(text: str) -> str:
    if _COMMAND_ONLY.match(text):
        return _IN_LIST.sub("IN (?)", text).upper()
    try:
        trees = sqlglot.parse(text, read="sqlite")
    except SqlglotError:
        trees = []
    if not trees or any(t is None or isinstance(t, exp.Command) for t in trees):
        # sqlglot cannot parse every SQLite statement (fts5 options, typos): the regex
        # normalization stands, with upper case for keywords and identifiers alike.
        return _IN_LIST.sub("IN (?)", text).upper()
    out = []
    for tree in trees:
        assert tree is not None
        shaped = tree.transform(_to_placeholder, copy=False)
        _collapse_values(shaped)
        out.append(shaped.sql(dialect="sqlite", normalize=True, comments=False))
    return "; ".join(out)


@functools.lru_cache(maxsize=4096)
def fingerprint_id(sql: str) -> str:
    """A short stable id of ``sql``'s fingerprint: 12 hex digits, a compact metric label."""
    return hashlib.blake2b(fingerprint(sql).encode(), digest_size=6).hexdigest()


def batch_advice(shape: str) -> str:
    """How to turn a statement run once per row into one round trip, for an N+1 warning.

    >>> batch_advice("SELECT o.code FROM objectives AS o WHERE o.id = ?")
    'fetch every row at once: JOIN objectives ... or run one query with WHERE o.id IN (?, ?, ...)'
    >>> batch_advice("INSERT INTO t (a) VALUES (?)")
    'send the rows together: one executemany() or batch() call, inside one transaction'
    """
    try:
        tree: exp.Expr | None = sqlglot.parse_one(shape, read="sqlite")
    except SqlglotError:
        tree = None
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        return "send the rows together: one executemany() or batch() call, inside one transaction"
    table = key = None
    if tree is not None:
        first = tree.find(exp.Table)
        table = first.name if first is not None else None
        for eq in tree.find_all(exp.EQ):
            column, value = eq.this, eq.expression
            if isinstance(value, exp.Column):
                column, value = value, column
            if isinstance(column, exp.Column) and isinstance(value, exp.Placeholder):
                key = column.sql(dialect="sqlite")
                break
    return (
        f"fetch every row at once: JOIN {table or 'the looked-up table'} in the query that found"
        f" the keys, or run one query with WHERE {key or '<key>'} IN (?, ?, ...)"
    )
