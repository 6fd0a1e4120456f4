"""SQLite's own index advisor, the ``sqlite3`` shell's ``.expert``, as the baseline of ``advise``.

``.expert`` (the sqlite3expert extension) proposes, for one statement at a time, the indexes
its WHERE and ORDER BY shape wants, and the plan with them. :func:`run_expert` runs the real
``sqlite3`` command once for a whole list of statements, reading the database read-only, and
:func:`dedupe` merges the proposals into the set a user would create.

What the shell prints for ``.expert`` followed by one statement (relied on here, checked by
the tests against the installed ``sqlite3``)::

    CREATE INDEX t_idx_000123a8 ON t(a, c);     <- one line per proposal, or
                                                   "(no new indexes)"
    SEARCH t USING INDEX t_idx_000123a8 (a=?)   <- the plan with them ("(null)" if none)

and on stderr ``Error near line N: message`` (newer shells: ``Parse error near line N:``,
then indented context lines) when the statement is rejected. Each statement is preceded by a
``.print`` marker line, so its report is the text between two markers, and an error belongs
to the statement whose input lines hold line N.
"""

from __future__ import annotations

import bisect
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from edgedb_opt.errors import ConfigError, DriverError

__all__ = ["ENV_VAR", "ExpertAdvice", "dedupe", "expert_command", "proposed_index", "run_expert"]

#: Environment variable naming the ``sqlite3`` command to use instead of the one on PATH.
ENV_VAR = "EDGEOPT_SQLITE3"

_HINT = "install Debian's sqlite3 (make does) or set EDGEOPT_SQLITE3"
_ERROR_LINE = re.compile(r"^(?:Parse error|Runtime error|Error) near line (\d+): (.*)$")
_NO_INDEXES = ["(no new indexes)"]
_NO_PLAN = ["(null)"]
_SPACE = " \t\n\r\f\v"


@dataclass(frozen=True)
class ExpertAdvice:
    """What ``.expert`` said about one statement.

    Attributes:
        statement: 0-based index of the statement in the list given to :func:`run_expert`.
        indexes: the ``CREATE INDEX`` statements it proposed, exactly as printed.
        plan: its EXPLAIN QUERY PLAN lines with those indexes in place.
        error: why the statement got no report (one line), or None.
    """

    statement: int
    indexes: list[str]
    plan: list[str]
    error: str | None = None


def expert_command() -> str:
    """The ``sqlite3`` command to run: ``$EDGEOPT_SQLITE3`` if set, else ``sqlite3`` on PATH.

    Raises:
        ConfigError: no such executable.
    """
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise ConfigError(f"sqlite3 command not found at {ENV_VAR}={configured}: {_HINT}")
        return found
    found = shutil.which("sqlite3")
    if found is None:
        raise ConfigError(f"sqlite3 command not found: {_HINT}")
    return found


def run_expert(
    db_path: Path, statements: Sequence[str], *, timeout: float = 60.0
) -> list[ExpertAdvice]:
    """Ask ``.expert`` about each statement, in one ``sqlite3`` process, never writing the file.

    Args:
        db_path: a SQLite database file; opened read-only (see :func:`_readonly_uri`).
        statements: one SQL statement per item; ``?``, ``?NNN``, ``:name``, ``@name`` and
            ``$name`` parameters are fine, comments too.
        timeout: seconds the whole run may take.

    Returns:
        One :class:`ExpertAdvice` per statement, in the order given. A statement ``.expert``
        rejects (syntax error, unknown table, several statements in one item) gets ``error``.

    Raises:
        ConfigError: no ``sqlite3`` command.
        DriverError: the file is missing or not a database, or ``sqlite3`` failed, crashed,
            timed out or printed something this module does not understand.
    """
    command = expert_command()
    uri = _readonly_uri(Path(db_path))
    advice: dict[int, ExpertAdvice] = {}
    sendable: list[tuple[int, str]] = []
    for number, sql in enumerate(statements):
        text, problem = _prepare(sql)
        if text is None:
            advice[number] = ExpertAdvice(number, [], [], problem)
        else:
            sendable.append((number, text))
    if sendable:
        token = secrets.token_hex(8)
        script, starts = _script(token, sendable)
        stdout, stderr = _run(command, uri, script, timeout)
        blocks = _blocks(stdout, token, [number for number, _ in sendable], stderr)
        errors = _errors(stderr, starts, [number for number, _ in sendable])
        for number, _ in sendable:
            advice[number] = _advice(number, blocks[number], errors.get(number))
    return [advice[number] for number in range(len(statements))]


def dedupe(advice: list[ExpertAdvice]) -> list[str]:
    """The distinct indexes proposed, in first-seen order, each as first printed.

    Two proposals on the same table with the same column list (names compared as SQLite
    does, without case or quotes; DESC and COLLATE count) are one index even when
    ``.expert`` named them differently.

    >>> a = ExpertAdvice(0, ["CREATE INDEX t_idx_1 ON t(a, b);"], [])
    >>> b = ExpertAdvice(1, ['CREATE INDEX t_2 ON "T"("A", B);', "CREATE INDEX u_i ON u(a);"], [])
    >>> dedupe([a, b])
    ['CREATE INDEX t_idx_1 ON t(a, b);', 'CREATE INDEX u_i ON u(a);']
    """
    seen: set[tuple[str, ...]] = set()
    distinct: list[str] = []
    for item in advice:
        for sql in item.indexes:
            key = _index_key(sql)
            if key not in seen:
                seen.add(key)
                distinct.append(sql)
    return distinct


def _index_key(sql: str) -> tuple[str, ...]:
    """What makes two CREATE INDEX statements the same index: uniqueness, table, columns, WHERE.

    sqlglot, not a regex: quoted names, COLLATE and DESC parse correctly where a regex over
    the parenthesised list would have to handle commas and quotes inside names by hand.

    >>> _index_key('CREATE INDEX x ON "T"(a, "B" COLLATE NOCASE DESC);')
    ('', 't', 'a', 'b collate nocase desc', '')
    >>> _index_key("not sql at all (")
    ('not sql at all (',)
    """
    try:
        tree = sqlglot.parse_one(sql, dialect="sqlite")
    except sqlglot.errors.SqlglotError:
        return (sql,)
    index = tree.this if isinstance(tree, exp.Create) else None
    table = index.args.get("table") if isinstance(index, exp.Index) else None
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    if not isinstance(table, exp.Table) or not isinstance(params, exp.IndexParameters):
        return (sql,)
    columns = []
    for column in params.args.get("columns") or []:
        desc = isinstance(column, exp.Ordered) and bool(column.args.get("desc"))
        term = column.this if isinstance(column, exp.Ordered) else column
        columns.append(_unquoted(term) + (" desc" if desc else ""))
    where = params.args.get("where")
    return (
        "unique" if tree.args.get("unique") else "",
        table.name.lower(),
        *columns,
        _unquoted(where) if isinstance(where, exp.Expression) else "",
    )


def proposed_index(sql: str) -> tuple[str, list[str]] | None:
    """The table and key terms of one ``.expert`` proposal, terms written as the advisor's
    candidates write them (``col``, ``col COLLATE NOCASE``, ``col DESC``), names in lower
    case; None for anything that is not a plain CREATE INDEX on columns.

    >>> proposed_index('CREATE INDEX t_idx_1 ON "T"(a, "B c" COLLATE NOCASE DESC);')
    ('t', ['a', 'b c COLLATE NOCASE DESC'])
    >>> proposed_index("CREATE INDEX t_i ON t(a + 1);") is None
    True
    """
    try:
        tree = sqlglot.parse_one(sql, dialect="sqlite")
    except sqlglot.errors.SqlglotError:
        return None
    index = tree.this if isinstance(tree, exp.Create) else None
    table = index.args.get("table") if isinstance(index, exp.Index) else None
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    if not isinstance(table, exp.Table) or not isinstance(params, exp.IndexParameters):
        return None
    if params.args.get("where") is not None or tree.args.get("unique"):
        return None  # .expert proposes neither; a shape this parser does not know
    terms = []
    for column in params.args.get("columns") or []:
        desc = isinstance(column, exp.Ordered) and bool(column.args.get("desc"))
        term = column.this if isinstance(column, exp.Ordered) else column
        collation = None
        if isinstance(term, exp.Collate):
            collation = term.expression.name
            term = term.this
        if not isinstance(term, exp.Column):
            return None
        text = term.name.lower()
        if collation:
            text += f" COLLATE {collation.upper()}"
        terms.append(text + (" DESC" if desc else ""))
    return (table.name.lower(), terms) if terms else None


def _unquoted(node: exp.Expression) -> str:
    """SQL text of ``node`` in lower case with identifiers unquoted (SQLite ignores both)."""
    copy = node.copy()
    for identifier in copy.find_all(exp.Identifier):
        identifier.set("quoted", False)
    return copy.sql(dialect="sqlite").lower()


def _readonly_uri(path: Path) -> str:
    """A ``file:`` URI that opens ``path`` read-only and leaves no file behind.

    ``mode=ro`` alone would still create ``-wal`` and ``-shm`` next to a WAL database that
    was closed cleanly; then everything is in the main file, so ``immutable=1`` reads it
    without them. When a ``-wal`` exists its frames are part of the database and must be read.
    """
    resolved = path.resolve()
    if not resolved.is_file():
        raise DriverError(f"cannot open {path}: no such file")
    with resolved.open("rb") as handle:
        header = handle.read(20)
    if header and not header.startswith(b"SQLite format 3\x00"):
        raise DriverError(f"cannot open {path}: not a SQLite database")
    params = "mode=ro"
    wal_mode = len(header) == 20 and header[18] == 2
    if wal_mode and not Path(f"{resolved}-wal").exists():
        params += "&immutable=1"
    return f"file:{urllib.parse.quote(str(resolved))}?{params}"


def _skip_trivia(text: str, pos: int = 0, *, semicolons: bool = False) -> int:
    """Position of the first character at or after ``pos`` that is not whitespace or comment.

    By hand: the shell's own notion of "nothing here" is these three tokens, and a general SQL
    tokenizer would accept syntax the shell does not.

    >>> text = "  -- c\\n /* d */ ;SELECT"
    >>> text[_skip_trivia(text, semicolons=True) :], text[_skip_trivia(text) :]
    ('SELECT', ';SELECT')
    """
    while pos < len(text):
        if text[pos] in _SPACE or (semicolons and text[pos] == ";"):
            pos += 1
        elif text.startswith("--", pos):
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end + 1
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            pos = len(text) if end < 0 else end + 2
        else:
            break
    return pos


def _is_terminator(line: str) -> bool:
    """Whether the shell takes ``line`` as an Oracle ``/`` or SQL Server ``GO`` terminator."""
    stripped = line.lstrip(_SPACE)
    if stripped.startswith("/"):
        rest = stripped[1:]
    elif stripped[:2].lower() == "go":
        rest = stripped[2:]
    else:
        return False
    return _skip_trivia(rest) == len(rest)


def _prepare(sql: str) -> tuple[str | None, str | None]:
    """The text to feed the shell for one statement, or None and why it cannot be fed.

    The shell reads stdin line by line: a line starting with ``.`` is a dot-command when no
    statement is pending, and a statement ends on the first line where the text so far is
    complete. So an item must start with SQL and end exactly once, or it would run commands
    or swallow the next statement's lines.

    >>> _prepare("-- note\\nSELECT 1 -- trailing")
    ('SELECT 1 -- trailing\\n;', None)
    >>> _prepare(".shell rm -rf /")[1]
    'not an SQL statement: the sqlite3 shell would run it as a dot-command'
    """
    if "\x00" in sql:
        return None, "the statement holds a NUL character"
    body = sql[_skip_trivia(sql, semicolons=True) :]
    if not body:
        return None, "empty statement"
    if body.startswith("."):
        return None, "not an SQL statement: the sqlite3 shell would run it as a dot-command"
    lines = body.split("\n")
    if not sqlite3.complete_statement(body):
        lines.append(";")  # on a line of its own, so a trailing "-- comment" cannot hide it
    done = ""
    for number, line in enumerate(lines):
        before, done = done, done + line + "\n"
        if sqlite3.complete_statement(done) or (
            number > 0 and _is_terminator(line) and sqlite3.complete_statement(before + ";")
        ):
            rest = "\n".join(lines[number + 1 :])
            if _skip_trivia(rest, semicolons=True) < len(rest):
                return None, "more than one statement: give .expert one at a time"
            return "\n".join(lines[: number + 1]), None
    return None, "incomplete statement: an unterminated string, quoted name or comment"


def _marker(token: str, label: object) -> str:
    return f"@@edgeopt-expert:{token}:{label}"


def _script(token: str, sendable: list[tuple[int, str]]) -> tuple[str, list[int]]:
    """The shell's stdin, and the 1-based input line where each statement's part starts."""
    parts: list[str] = []
    starts: list[int] = []
    line = 1
    for number, text in sendable:
        starts.append(line)
        part = f".print {_marker(token, number)}\n.expert\n{text}\n"
        parts.append(part)
        line += part.count("\n")
    parts.append(f".print {_marker(token, 'end')}\n")
    return "".join(parts), starts


def _run(command: str, uri: str, script: str, timeout: float) -> tuple[str, str]:
    """Run the shell on ``script``; its stdout and stderr. Kills its whole group on timeout."""
    args = [command, "-init", os.devnull, "-batch", "-readonly", uri]
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # a wrapper script's children die with it on timeout
        )
    except OSError as exc:
        raise DriverError(f"cannot run {command}: {exc.strerror or exc}") from exc
    with process:
        try:
            stdout, stderr = process.communicate(script, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise DriverError(f"sqlite3 .expert did not finish within {timeout:g} s") from exc
    code = process.returncode
    if code < 0:
        raise DriverError(f"sqlite3 .expert crashed: {signal.Signals(-code).name}")
    if code not in (0, 1):  # 1 only says some statement failed; those errors are parsed
        raise DriverError(f"sqlite3 .expert failed: {_first_line(stderr, f'exit status {code}')}")
    return stdout, stderr


def _first_line(text: str, default: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else default


def _blocks(stdout: str, token: str, numbers: list[int], stderr: str) -> dict[int, list[str]]:
    """Each statement's output lines, cut at the markers; all markers must come, in order."""
    labels = {_marker(token, number): number for number in numbers}
    end = _marker(token, "end")
    blocks: dict[int, list[str]] = {}
    order: list[int] = []
    current: list[str] | None = None
    finished = False
    for line in stdout.split("\n"):
        line = line.rstrip("\r")
        if line in labels:
            order.append(labels[line])
            current = blocks.setdefault(labels[line], [])
        elif line == end:
            finished = True
            current = None
        elif current is not None:
            current.append(line.rstrip())
    if order != numbers or not finished:
        problem = _first_line(stderr, "is it the sqlite3 shell, with .expert?")
        raise DriverError(f"sqlite3 .expert gave unexpected output: {problem}")
    return blocks


def _errors(stderr: str, starts: list[int], numbers: list[int]) -> dict[int, str]:
    """The error of each rejected statement, from the input line each error names."""
    errors: dict[int, str] = {}
    for line in stderr.splitlines():
        match = _ERROR_LINE.match(line)
        if match:
            position = bisect.bisect_right(starts, int(match.group(1))) - 1
            if position >= 0:
                errors.setdefault(numbers[position], match.group(2).strip())
                continue
        if line.strip() and not line[0].isspace():  # indented lines: context of the last error
            raise DriverError(f"sqlite3 .expert failed: {line.strip()}")
    return errors


def _advice(number: int, block: list[str], error: str | None) -> ExpertAdvice:
    """One statement's advice from its output lines (or the error the shell gave it)."""
    if error is not None:
        return ExpertAdvice(number, [], [], error)
    groups: list[list[str]] = [[]]
    for line in block:
        if line:
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    groups = [group for group in groups if group]
    if not groups:
        return ExpertAdvice(number, [], [], "sqlite3 .expert reported nothing")
    if len(groups) != 2:
        return ExpertAdvice(number, [], [], "more than one statement: give .expert one at a time")
    indexes, plan = groups
    indexes = [] if indexes == _NO_INDEXES else indexes
    if any(not sql.upper().startswith("CREATE ") for sql in indexes):
        raise DriverError(f"sqlite3 .expert gave unexpected output: {indexes[0]}")
    return ExpertAdvice(number, indexes, [] if plan == _NO_PLAN else plan)
