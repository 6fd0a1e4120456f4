"""A workload file: the statements an application runs, how often, and with what values.

One statement per ``;`` (split like SQLite does). Comment lines right before a statement may
say ``-- weight: N`` (how often it runs relative to the others, default 1) and ``-- params:
JSON`` (a list for ``?`` parameters, an object for ``:name`` ones) when sample values should
not be taken from the data. Parameters are renamed ``:pN`` so the advisor can bind each one
by name; ``?NNN``, ``:name``, ``@name`` and ``$name`` keep their own identity.

>>> w = parse_workload("-- weight: 30\\nSELECT * FROM t WHERE a = ? AND b = :b;")
>>> w[0].weight, w[0].sql, w[0].names
(30.0, 'SELECT * FROM t WHERE a = :p1 AND b = :b', ['p1', 'b'])
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType

from edgedb_opt.errors import ConfigError, WorkloadError
from edgedb_opt.sqltext import split_statements

__all__ = ["WorkloadStatement", "load_workload", "parse_workload"]

_META = re.compile(r"^--\s*(weight|params)\s*:\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class WorkloadStatement:
    """One statement of a workload.

    Attributes:
        index: 1-based position in the file (how reports name it).
        line: 1-based line of the file where the statement starts.
        text: the statement as written.
        sql: the statement with positional parameters renamed ``:pN``.
        names: the parameter names of ``sql``, in order of first appearance.
        weight: relative frequency (> 0).
        params: sample values given in the file, by name, or None to sample the data.
        literals: the written values of literals the advisor made parameters (``:lN``), by
            name (see ``advise.values``); empty as parsed.
    """

    index: int
    line: int
    text: str
    sql: str
    names: list[str]
    weight: float
    params: dict[str, Any] | None
    literals: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name this statement: ``statement 3 (line 12)``."""
        return f"statement {self.index} (line {self.line})"


def _name_parameters(sql: str, where: str) -> tuple[str, list[str]]:
    """Rename every parameter ``:name`` (``?`` is ``:pN``, numbered as SQLite numbers it: one
    past the largest so far; ``?NNN`` is ``:pNNN``; ``@x`` and ``$x`` are ``:x``)."""
    try:
        tokens = SQLite().tokenize(sql)
    except TokenError as exc:
        raise WorkloadError(f"{where}: cannot read the statement: {exc}") from exc
    pieces: list[str] = []
    names: list[str] = []
    last = highest = 0
    skip = -1
    for n, tok in enumerate(tokens):
        if n <= skip:
            continue
        following = tokens[n + 1] if n + 1 < len(tokens) else None
        adjacent = following is not None and following.start == tok.end + 1
        if tok.token_type == TokenType.PLACEHOLDER:
            if adjacent and following is not None and following.text.isdigit():
                number, end, skip = int(following.text), following.end, n + 1
            else:
                number, end = highest + 1, tok.end
            highest = max(highest, number)
            name = f"p{number}"
        elif (
            tok.token_type in (TokenType.COLON, TokenType.PARAMETER)
            and adjacent
            and following is not None
            and following.token_type == TokenType.VAR
        ):
            name, end, skip = following.text, following.end, n + 1
        elif tok.token_type == TokenType.VAR and tok.text.startswith("$") and len(tok.text) > 1:
            name, end = tok.text[1:], tok.end
        else:
            continue
        pieces.append(sql[last : tok.start] + ":" + name)
        last = end + 1
        if name not in names:
            names.append(name)
    # Up to the last token: a closing ";" and trailing comments are not part of it.
    end_of_code = (
        tokens[-1].start if tokens[-1].token_type == TokenType.SEMICOLON else (tokens[-1].end + 1)
    )
    pieces.append(sql[last:end_of_code])
    return "".join(pieces).strip(), names


def _meta(comments: list[str], where: str) -> tuple[float, Any]:
    weight, params = 1.0, None
    for line in comments:
        m = _META.match(line.strip())
        if not m:
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "weight":
            try:
                weight = float(value)
            except ValueError:
                raise WorkloadError(f"{where}: weight {value!r} is not a number") from None
            if not weight > 0:
                raise WorkloadError(f"{where}: weight must be positive, not {value}")
        else:
            try:
                params = json.loads(value)
            except json.JSONDecodeError as exc:
                raise WorkloadError(f"{where}: params are not JSON: {exc.msg}") from None
    return weight, params


def parse_workload(text: str, *, source: str = "workload") -> list[WorkloadStatement]:
    """The statements of a workload file's text (see the module docstring).

    Raises:
        WorkloadError: a bad weight or params line, or no statement at all; names the
            statement and its line.
    """
    out: list[WorkloadStatement] = []
    for n, stmt in enumerate(split_statements(text), 1):
        where = f"{source}: statement {n} (line {stmt.line})"
        weight, given = _meta(_leading_comments(text, stmt.line), where)
        sql, names = _name_parameters(stmt.sql, where)
        params: dict[str, Any] | None = None
        if isinstance(given, list):
            positional = [nm for nm in names if re.fullmatch(r"p\d+", nm)]
            if len(given) != len(names) or len(positional) != len(names):
                raise WorkloadError(
                    f"{where}: params lists {len(given)} values for {len(names)} parameters"
                )
            params = {f"p{i}": v for i, v in enumerate(given, 1)}
        elif isinstance(given, dict):
            missing = [nm for nm in names if nm not in given]
            if missing:
                raise WorkloadError(f"{where}: params has no value for :{missing[0]}")
            params = dict(given)
        elif given is not None:
            raise WorkloadError(f"{where}: params must be a JSON list or object")
        out.append(WorkloadStatement(n, stmt.line, stmt.sql, sql, names, weight, params))
    if not out:
        raise WorkloadError(f"{source}: no statements")
    return out


def _leading_comments(text: str, line: int) -> list[str]:
    """The ``--`` lines right above ``line`` (1-based), nearest last."""
    lines = text.splitlines()
    out: list[str] = []
    i = line - 2
    while i >= 0 and lines[i].strip().startswith("--"):
        out.append(lines[i])
        i -= 1
    # The statement's own first lines may be comments too (split keeps them).
    j = line - 1
    while j < len(lines) and lines[j].strip().startswith("--"):
        out.append(lines[j])
        j += 1
    return out


def load_workload(path: str | Path) -> list[WorkloadStatement]:
    """Read and parse the workload file at ``path``.

    Raises:
        ConfigError: the file cannot be read. WorkloadError: see :func:`parse_workload`.
    """
    return parse_workload(read_text(path, "workload"), source=str(path))


def read_text(path: str | Path, what: str) -> str:
    """A UTF-8 file's text, or a one-line ConfigError naming ``what`` it was and why."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
