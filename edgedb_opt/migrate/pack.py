"""Reading optimization packs: ``<pack>/NNN_<name>.sql`` step files.

A step file is::

    -- edgeopt:step id=<id> requires=<id>,<id> needs=<capability>,!<capability>
                    supersedes=<sha256>,<sha256>
    -- what the step is for (free comment lines)
    -- up
    CREATE INDEX ...;
    -- down
    DROP INDEX ...;

Every problem is a :class:`PackError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edgedb_opt.drivers.base import Capabilities
from edgedb_opt.errors import PackError
from edgedb_opt.schema import packs_dir
from edgedb_opt.sqltext import Statement, split_statements

_HEADER = re.compile(r"^--\s*edgeopt:step\b(?P<rest>.*)$")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FILE = re.compile(r"^\d{3}_[A-Za-z0-9_\-]+\.sql$")
_KEYS = ("id", "requires", "needs", "supersedes")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Step:
    """One step of a pack: SQL to apply and the SQL that undoes it exactly."""

    id: str
    pack: str
    path: Path
    requires: tuple[str, ...]
    needs: tuple[str, ...]
    description: str
    up: tuple[Statement, ...]
    down: tuple[Statement, ...]
    checksum: str
    #: Checksums of earlier versions of this file: a ledger row holding one of them is not
    #: drift (the step was edited on purpose; its recorded down SQL still undoes it).
    supersedes: tuple[str, ...] = ()

    def accepts(self, checksum: str) -> bool:
        """Whether a ledger row with ``checksum`` is this step as shipped (now or before)."""
        return checksum == self.checksum or checksum in self.supersedes

    @property
    def down_sql(self) -> str:
        """The down section as one script (stored in the ledger)."""
        return "\n".join(s.sql for s in self.down)

    def where(self, stmt: Statement) -> str:
        """``file:line`` of a statement of this step."""
        return f"{self.path}:{stmt.line}"


@dataclass(frozen=True)
class Pack:
    """An ordered set of steps loaded from one folder."""

    name: str
    path: Path
    steps: tuple[Step, ...]

    def get(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


def resolve_pack_dir(name_or_dir: str | Path) -> Path:
    """A bundled pack's name (``study``) or a folder path, as a folder that exists."""
    text = str(name_or_dir)
    if _ID.match(text) and (packs_dir() / text).is_dir():
        return packs_dir() / text
    path = Path(text)
    if path.is_dir():
        return path
    bundled = sorted(p.name for p in packs_dir().iterdir() if p.is_dir())
    raise PackError(
        f"pack {text!r} not found: not a bundled pack ({', '.join(bundled)}) nor a folder"
    )


def load_pack(name_or_dir: str | Path) -> Pack:
    """Load and validate every step of a pack.

    Args:
        name_or_dir: a bundled pack's name or a folder of step files.
    Raises:
        PackError: a malformed file, a duplicate id, an unknown or circular requirement.
    """
    folder = resolve_pack_dir(name_or_dir)
    name = folder.name if folder.parent != packs_dir() else str(name_or_dir)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".sql")
    if not files:
        raise PackError(f"pack folder {folder} holds no .sql step files")
    steps: list[Step] = []
    seen: dict[str, Path] = {}
    for path in files:
        if not _FILE.match(path.name):
            raise PackError(f"{path}:1: step file names look like NNN_name.sql")
        step = parse_step(path, pack=name)
        if step.id in seen:
            raise PackError(f"{path}:1: step id {step.id!r} is already used by {seen[step.id]}")
        for req in step.requires:
            if req == step.id:
                raise PackError(f"{path}:1: step {step.id!r} requires itself")
            if req not in seen:
                later = any(parse_header_id(p) == req for p in files)
                what = "a later step (circular or out of order)" if later else "an unknown step"
                raise PackError(f"{path}:1: step {step.id!r} requires {req!r}, {what}")
        seen[step.id] = path
        steps.append(step)
    return Pack(name=name, path=folder, steps=tuple(steps))


def parse_header_id(path: Path) -> str | None:
    """The id a step file declares, or None when its header cannot be read."""
    try:
        return parse_step(path, pack="?").id
    except PackError:
        return None


def parse_step(path: Path, *, pack: str) -> Step:
    """Parse one step file (see the module docstring for the format)."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}:1: cannot read step file: {exc}") from exc
    lines = text.splitlines()
    if not lines or not (match := _HEADER.match(lines[0].strip())):
        raise PackError(f"{path}:1: first line must be '-- edgeopt:step id=<id> ...'")
    fields = _parse_fields(match.group("rest"), path)
    step_id = fields.get("id", "")
    if not _ID.match(step_id):
        raise PackError(f"{path}:1: step id {step_id!r} must match [a-z][a-z0-9_]*")
    requires = _split_list(fields.get("requires", ""), path, check=_ID, what="requirement")
    supersedes = _split_list(fields.get("supersedes", ""), path, check=_SHA256, what="checksum")
    known = Capabilities.names()
    needs = _split_list(fields.get("needs", ""), path, check=None, what="capability")
    for need in needs:
        if need.removeprefix("!") not in known:
            raise PackError(f"{path}:1: unknown capability {need!r} (known: {', '.join(known)})")

    up_at = _marker(lines, "up", path)
    down_at = _marker(lines, "down", path)
    if up_at is None:
        raise PackError(f"{path}:{len(lines)}: step {step_id!r} has no '-- up' section")
    if down_at is None:
        raise PackError(f"{path}:{len(lines)}: step {step_id!r} has no '-- down' section")
    if down_at < up_at:
        raise PackError(f"{path}:{down_at + 1}: '-- down' must come after '-- up'")
    description = " ".join(
        ln.strip().lstrip("-").strip() for ln in lines[1:up_at] if ln.strip().startswith("--")
    ).strip()
    up = _section(lines, up_at, down_at, path, step_id, "up")
    down = _section(lines, down_at, len(lines), path, step_id, "down")
    return Step(
        id=step_id,
        pack=pack,
        path=path,
        requires=requires,
        needs=needs,
        description=description,
        up=up,
        down=down,
        checksum=hashlib.sha256(raw).hexdigest(),
        supersedes=supersedes,
    )


def _parse_fields(rest: str, path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for token in rest.split():
        key, sep, value = token.partition("=")
        if not sep or key not in _KEYS:
            raise PackError(f"{path}:1: unexpected {token!r} in header (keys: {', '.join(_KEYS)})")
        if key in fields:
            raise PackError(f"{path}:1: {key}= given twice in header")
        fields[key] = value
    return fields


def _split_list(
    value: str, path: Path, *, check: re.Pattern[str] | None, what: str
) -> tuple[str, ...]:
    items = tuple(v for v in (p.strip() for p in value.split(",")) if v)
    for item in items:
        if check is not None and not check.match(item):
            kind = "a sha256 hex digest" if what == "checksum" else "a valid step id"
            raise PackError(f"{path}:1: {what} {item!r} is not {kind}")
    return items


def _marker(lines: list[str], name: str, path: Path) -> int | None:
    found = [i for i, ln in enumerate(lines) if ln.strip().lower() == f"-- {name}"]
    if len(found) > 1:
        raise PackError(f"{path}:{found[1] + 1}: a second '-- {name}' section")
    return found[0] if found else None


def _section(
    lines: list[str], start: int, end: int, path: Path, step_id: str, name: str
) -> tuple[Statement, ...]:
    body = "\n".join(lines[start + 1 : end])
    statements = split_statements(body, first_line=start + 2)
    if not statements:
        raise PackError(f"{path}:{start + 1}: the '-- {name}' section of {step_id!r} is empty")
    for stmt in statements:
        problem = syntax_problem(stmt.sql)
        if problem:
            raise PackError(f"{path}:{stmt.line}: {problem} in '-- {name}' of {step_id!r}")
    return tuple(statements)


_SYNTAX_HINTS = ("syntax error", "incomplete input", "unrecognized token", "near ")


def syntax_problem(sql: str) -> str | None:
    """A syntax error SQLite finds in ``sql`` (names it resolves later are not checked).

    Preparing ``EXPLAIN <sql>`` on an empty in-memory database parses the statement without
    running it; "no such table" and similar name errors are expected there and ignored.

    >>> syntax_problem("CREATE INDEX i ON t(a);") is None
    True
    >>> print(syntax_problem("CREATE INDEX i ON t(a"))
    incomplete SQL statement (missing ';' or unbalanced quotes)
    >>> syntax_problem("CREAT INDEX i ON t(a);")
    'SQL error: near "CREAT": syntax error'
    """
    if not sql.rstrip().endswith(";") or not sqlite3.complete_statement(sql):
        return "incomplete SQL statement (missing ';' or unbalanced quotes)"
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("EXPLAIN " + sql.rstrip().rstrip(";"))
    except sqlite3.Error as exc:
        message = str(exc)
        if any(h in message for h in _SYNTAX_HINTS):
            return f"SQL error: {message}"
    finally:
        conn.close()
    return None
