"""``?NNN`` parameters, which sqlglot cannot parse, written as same-length named ones.

``?12`` becomes ``:bc`` (digit d as the letter a+d) before parsing, so every offset into the
text stays valid, and back after writing. When the statement already uses a named parameter
made only of the letters a-j, nothing is renamed (the two could not be told apart) and the
statement fails to parse as before.

>>> text, back = encode("SELECT x FROM t WHERE a = ?12 AND b = ?")
>>> text
'SELECT x FROM t WHERE a = :bc AND b = ?'
>>> back("SELECT x FROM t WHERE NOT EXISTS(SELECT 1 WHERE a = :bc)")
'SELECT x FROM t WHERE NOT EXISTS(SELECT 1 WHERE a = ?12)'
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from sqlglot import TokenType
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError

_TO = str.maketrans("0123456789", "abcdefghij")
_FROM = str.maketrans("abcdefghij", "0123456789")


def _adjacent(sql: str, first: TokenType, second: TokenType) -> list[tuple[int, int, str]]:
    """(start, end, text of the second token) for each ``first`` directly followed by ``second``."""
    try:
        tokens = Dialect.get_or_raise("sqlite").tokenize(sql)
    except TokenError:
        return []
    return [
        (a.start, b.end + 1, b.text)
        for a, b in itertools.pairwise(tokens)
        if a.token_type == first and b.token_type == second and b.start == a.end + 1
    ]


def encode(sql: str) -> tuple[str, Callable[[str], str]]:
    """``sql`` with ``?NNN`` renamed, and the function that renames them back in a text."""
    numbered = _adjacent(sql, TokenType.PLACEHOLDER, TokenType.NUMBER)
    if not numbered or any(
        not name.strip("abcdefghij") for *_, name in _adjacent(sql, TokenType.COLON, TokenType.VAR)
    ):
        return sql, lambda text: text
    out = list(sql)
    names = set()
    for start, end, digits in numbered:
        if not digits.isdigit():
            return sql, lambda text: text
        name = digits.translate(_TO)
        names.add(name)
        out[start:end] = ":" + name
    return "".join(out), lambda text: _decode(text, names)


def _decode(text: str, names: set[str]) -> str:
    out = list(text)
    for start, end, name in reversed(_adjacent(text, TokenType.COLON, TokenType.VAR)):
        if name in names:
            out[start:end] = "?" + name.translate(_FROM)
    return "".join(out)
