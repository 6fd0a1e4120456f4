"""Whether a pack's steps fit a database's schema: a trial on the schema alone.

A pack is written for the reference schema; a real database may lack a table (an exam-prep
app without the social-growth tables) or a column, or already hold an object under a name a
step creates. Reading the step's SQL cannot say all of that (a trigger body, an FTS5
``content=`` table, an ``INSERT ... SELECT``), but SQLite can: the database's schema, only its
``CREATE`` statements, is replayed into an in-memory database, and each step's up section is
run there in order, in a savepoint. No row of data is read and the file is never written, so
it takes milliseconds at any scale.

- a step whose statements name a table or column the schema lacks is *skipped*, with the
  object named ("table growth_metrics absent"); it is not recorded as skipped for good: once
  the object exists, the next ``apply`` applies it;
- any other error (an index name already taken by another object, ...) means ``apply`` would
  *fail* at that step, with SQLite's own message;
- a step that runs is kept in the trial database, so later steps see what it created.

Data can still make a step fail (a UNIQUE index over duplicate values): the trial has no rows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from edgedb_opt.drivers.base import Driver
from edgedb_opt.migrate.pack import Step

__all__ = ["SchemaRow", "Trial", "missing_object", "read_schema", "touches", "trial_of"]

_ABSENT = re.compile(r"no such (table|column): (?:main\.)?(.+)$")
_ORDER = {"table": 0, "index": 1, "view": 2, "trigger": 3}


@dataclass(frozen=True)
class SchemaRow:
    """One ``sqlite_master`` row."""

    type: str
    name: str
    table: str
    sql: str | None


async def read_schema(db: Driver) -> list[SchemaRow]:
    """Every schema object of ``db`` (reads only)."""
    rows = await db.fetch_all("SELECT type, name, tbl_name, sql FROM sqlite_master")
    return [
        SchemaRow(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3]))
        for r in rows
    ]


async def trial_of(db: Driver) -> Trial:
    """A :class:`Trial` holding ``db``'s schema as it is now."""
    return Trial(await read_schema(db))


def missing_object(message: str) -> tuple[str, str] | None:
    """``(kind, name)`` of the table or column a "no such ..." error of SQLite names.

    >>> missing_object("no such table: main.growth_metrics")
    ('table', 'growth_metrics')
    >>> missing_object("no such column: review_status")
    ('column', 'review_status')
    >>> missing_object("index idx_a already exists") is None
    True
    """
    match = _ABSENT.search(message)
    return (match.group(1), match.group(2).strip()) if match else None


class Trial:
    """An in-memory database holding only the schema of ``rows``; steps are tried on it.

    Objects the local SQLite cannot replay (a virtual table of a module it lacks) are left
    out and listed in ``not_replayed``: steps that touch them may be mispredicted.
    """

    def __init__(self, rows: Sequence[SchemaRow]) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.not_replayed: list[str] = []
        #: Every name the real schema has (lower case): a name the trial lacks but the real
        #: schema has is not missing, only not replayed.
        self.real_names = {r.name.lower() for r in rows}
        # sqlite_sequence comes with an AUTOINCREMENT table; the statistics tables cannot be
        # created by name, ANALYZE makes them.
        internal = {r.name for r in rows if r.name.startswith(("sqlite_stat", "sqlite_sequence"))}
        wanted = [r for r in rows if r.sql and r.name not in internal]
        # Virtual tables first: they make their own shadow tables, which are then skipped
        # (by existing, not by name: a real table may be called like a shadow table).
        for row in sorted(wanted, key=lambda r: (_ORDER.get(r.type, 9), not _is_virtual(r))):
            if row.type == "table" and not _is_virtual(row) and self._has(row.name):
                continue
            try:
                self.conn.execute(row.sql or "")
            except sqlite3.Error:
                self.not_replayed.append(row.name)
        if any(n.startswith("sqlite_stat") for n in internal):
            self.conn.execute("ANALYZE")
            self.not_replayed.extend(
                sorted(n for n in internal if n != "sqlite_sequence" and not self._has(n))
            )

    def _has(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE lower(name) = lower(?)", (name,)
        ).fetchone()
        return row is not None

    def unreplayed(self, name: str) -> bool:
        """Whether ``name`` exists in the real schema but not in the trial."""
        return name.lower() in self.real_names and not self._has(name)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, step: Step) -> tuple[str, str] | None:
        """Run the step's up section; keep it when it succeeds (None), else undo it and
        return the failing statement's ``file:line`` and SQLite's message."""
        self.conn.execute("SAVEPOINT edgeopt_trial")
        for stmt in step.up:
            try:
                if (missing := self._fts_content_missing(stmt.sql)) is not None:
                    raise sqlite3.OperationalError(missing)
                self.conn.execute(stmt.sql)
            except sqlite3.Error as exc:
                self._end(keep=False)
                return step.where(stmt), str(exc)
        self._end(keep=True)
        return None

    def _end(self, *, keep: bool) -> None:
        # A trigger's RAISE(ROLLBACK) or a step's own COMMIT may have ended the savepoint.
        if not self.conn.in_transaction:
            return
        if not keep:
            self.conn.execute("ROLLBACK TO edgeopt_trial")
        self.conn.execute("RELEASE edgeopt_trial")

    def _fts_content_missing(self, sql: str) -> str | None:
        """ "no such table: T" / "no such column: C" for an external-content FTS5 table whose
        content table, or one of whose columns, is missing.

        FTS5 says only "SQL logic error" when it reads such a table (at ``'rebuild'`` or
        the first trigger), so the trial names the object itself."""
        match = _FTS5.match(sql)
        if match is None:
            return None
        items = [i.strip() for i in match.group("args").split(",")]
        options = {
            k.strip().lower(): v.strip() for k, v in (i.split("=", 1) for i in items if "=" in i)
        }
        content = options.get("content", "").strip("'\"")
        if not content:
            return None
        have = {
            str(r[1]).lower() for r in self.conn.execute(f"PRAGMA table_info({_quote(content)})")
        }
        if not have:
            return None if self.unreplayed(content) else f"no such table: {content}"
        for item in items:
            if "=" not in item and item:
                column = item.split()[0].strip("'\"`[]").lower()
                if column not in have:
                    return f"no such column: {column}"
        return None

    def prepare(self, sql: str) -> str | None:
        """SQLite's message when ``sql`` cannot be prepared on this schema, else None."""
        try:
            self.conn.execute("EXPLAIN " + sql, [None] * sql.count("?"))
        except sqlite3.Error as exc:
            return str(exc)
        return None


def _is_virtual(row: SchemaRow) -> bool:
    return row.type == "table" and (row.sql or "").upper().startswith("CREATE VIRTUAL TABLE")


_FTS5 = re.compile(
    r"\s*CREATE\s+VIRTUAL\s+TABLE\s+.*?\bUSING\s+fts5\s*\((?P<args>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_TRIGGER_ON = re.compile(r"\bON\s+[\"`\[]?(\w+)", re.IGNORECASE)
_CONTENT = re.compile(r"\bcontent\s*=\s*'(\w+)'", re.IGNORECASE)
_NAMED = re.compile(
    r"^\s*(?:ANALYZE|CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON"
    r"|INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|FROM|JOIN)\s+[\"`\[]?(\w+)",
    re.IGNORECASE | re.MULTILINE,
)


def touches(step: Step) -> list[str]:
    """The tables a step's up section names (indexed, analyzed, written, read, or a trigger's
    or FTS5 content table), the ones it creates left out: what ``check`` lists per step.

    Informative only: the trial, not this list, decides whether a step applies.
    """
    created: set[str] = set()
    named: set[str] = set()
    for stmt in step.up:
        sql = stmt.sql
        head = re.match(
            r"\s*CREATE\s+(?:VIRTUAL\s+)?(TABLE|TRIGGER|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
            r"[\"`\[]?(\w+)",
            sql,
            re.IGNORECASE,
        )
        if head is not None:
            created.add(head.group(2).lower())
            if head.group(1).upper() == "TRIGGER" and (on := _TRIGGER_ON.search(sql)):
                named.add(on.group(1).lower())
        named.update(m.lower() for m in _CONTENT.findall(sql))
        named.update(m.group(1).lower() for m in _NAMED.finditer(sql))
    return sorted(named - created - {"sqlite_stat1"})
