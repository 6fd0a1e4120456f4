"""What the rewrite rules know about a database: nullability, primary keys, unique keys.

A rule may only change a query when the schema proves the change cannot alter its result, so
the facts here are conservative: a column counts as NOT NULL only when SQLite enforces it, and a
key counts as unique only when a full (non-partial) unique index or the primary key covers it.

SQLite traps this module encodes:

- ``INTEGER PRIMARY KEY`` is an alias of the rowid and can never be NULL, although
  ``PRAGMA table_info`` reports ``notnull = 0`` for it.
- Any other PRIMARY KEY of a rowid table *may* hold NULLs (a long-standing SQLite quirk kept for
  compatibility), unless the column is also declared NOT NULL or the table is WITHOUT ROWID.
- A partial unique index (``CREATE UNIQUE INDEX ... WHERE ...``) is unique only over the rows
  its WHERE selects, so it does not make a key unique over the table.
- An index over expressions has no column name for those terms; it is not a column key.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edgedb_opt.drivers.base import Driver

_WITHOUT_ROWID = re.compile(r"\bWITHOUT\s+ROWID\s*;?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TableInfo:
    """One table's columns and keys; every name is lower case (SQLite ignores case).

    Args:
        name: the table name.
        columns: each column's name and whether it can never be NULL.
        primary_key: the primary key columns, in key order (empty without a declared key).
        unique_keys: every column set a full unique index or the primary key makes unique.

    >>> t = TableInfo("users", {"id": True, "email": True, "name": False},
    ...               primary_key=("id",), unique_keys=(("id",), ("email",)))
    >>> t.is_unique({"email", "name"}), t.is_unique({"name"})
    (True, False)
    """

    name: str
    columns: Mapping[str, bool]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()

    def has_column(self, column: str) -> bool:
        """Whether the table has ``column`` (case-insensitive)."""
        return column.lower() in self.columns

    def not_null(self, column: str) -> bool:
        """Whether ``column`` can never hold NULL (False for unknown columns)."""
        return self.columns.get(column.lower(), False)

    def is_unique(self, columns: Iterable[str]) -> bool:
        """Whether equality on all of ``columns`` matches at most one row."""
        wanted = {c.lower() for c in columns}
        return any(set(key) <= wanted for key in self.unique_keys)


@dataclass(frozen=True)
class Schema:
    """The tables the rewriter may reason about, by lower-case name.

    Build it from a live database with :func:`read_schema`, from a file with
    :meth:`from_sqlite`, from DDL with :meth:`from_ddl`, or by hand with :meth:`from_dict`.

    >>> s = Schema.from_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT UNIQUE, n INT)")
    >>> s.table("T").not_null("id"), s.table("t").not_null("code"), s.table("t").unique_keys
    (True, False, (('id',), ('code',)))
    """

    tables: Mapping[str, TableInfo] = field(default_factory=dict)

    def table(self, name: str) -> TableInfo | None:
        """The table called ``name`` (case-insensitive), or None if unknown."""
        return self.tables.get(name.lower())

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping[str, Any]]) -> Schema:
        """Build a schema from plain data, e.g. for doctests.

        Args:
            spec: per table, ``columns`` (name to NOT NULL flag), and optionally
                ``primary_key`` (column list) and ``unique`` (list of column lists).
                Primary key columns count as NOT NULL and as a unique key.

        >>> s = Schema.from_dict({"a": {"columns": {"id": True, "x": False},
        ...                             "primary_key": ["id"], "unique": [["x"]]}})
        >>> s.table("a").unique_keys
        (('id',), ('x',))
        """
        tables: dict[str, TableInfo] = {}
        for name, table in spec.items():
            pk = tuple(c.lower() for c in table.get("primary_key", ()))
            columns = {c.lower(): bool(nn) or c.lower() in pk for c, nn in table["columns"].items()}
            keys = [pk] if pk else []
            keys += [tuple(c.lower() for c in key) for key in table.get("unique", ())]
            tables[name.lower()] = TableInfo(name.lower(), columns, pk, tuple(dict.fromkeys(keys)))
        return cls(tables)

    @classmethod
    def from_sqlite(cls, path: str | Path) -> Schema:
        """Read the schema of the SQLite file at ``path`` (opened read-only)."""
        uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            return _read_sync(conn)
        finally:
            conn.close()

    @classmethod
    def from_ddl(cls, ddl: str) -> Schema:
        """Run ``ddl`` in a private in-memory database and read its schema."""
        conn = sqlite3.connect(":memory:")
        try:
            conn.executescript(ddl)
            return _read_sync(conn)
        finally:
            conn.close()


async def read_schema(db: Driver) -> Schema:
    """Read every table's columns, primary key and full unique indexes through ``db``.

    Args:
        db: any open driver (only ``fetch_all`` is used, with plain PRAGMA statements).
    Returns:
        The schema of the main database.
    """
    return await _read(db.fetch_all)


Fetch = Callable[[str], Awaitable[Sequence[Sequence[Any]]]]


async def _read(fetch: Fetch) -> Schema:
    tables: dict[str, TableInfo] = {}
    masters = await fetch(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    for name, sql in masters:
        columns = await fetch(f"PRAGMA table_info({_quote(name)})")
        indexes = await fetch(f"PRAGMA index_list({_quote(name)})")
        index_columns: dict[str, Sequence[Sequence[Any]]] = {}
        for index in indexes:
            if index[2] and not index[4]:  # unique and not partial
                index_columns[index[1]] = await fetch(f"PRAGMA index_info({_quote(index[1])})")
        info = _table_info(name, sql or "", columns, indexes, index_columns)
        tables[info.name] = info
    return Schema(tables)


def _read_sync(conn: sqlite3.Connection) -> Schema:
    async def fetch(sql: str) -> Sequence[Sequence[Any]]:
        return conn.execute(sql).fetchall()

    # The reader is written once, async; a sync connection never suspends, so one send()
    # runs the coroutine to completion.
    coro = _read(fetch)
    try:
        coro.send(None)
    except StopIteration as done:
        result: Schema = done.value
        return result
    coro.close()
    raise RuntimeError("schema reader suspended on a synchronous connection")


def _table_info(
    name: str,
    create_sql: str,
    columns: Sequence[Sequence[Any]],
    indexes: Sequence[Sequence[Any]],
    index_columns: Mapping[str, Sequence[Sequence[Any]]],
) -> TableInfo:
    # table_info rows: cid, name, type, notnull, dflt_value, pk (1-based key position or 0).
    without_rowid = bool(_WITHOUT_ROWID.search(create_sql.strip()))
    pk_cols = sorted((c for c in columns if c[5]), key=lambda c: int(c[5]))
    primary_key = tuple(str(c[1]).lower() for c in pk_cols)
    # An INTEGER PRIMARY KEY that is not the rowid (the "DESC" quirk) gets its own pk index.
    has_pk_index = any(len(i) > 3 and i[3] == "pk" for i in indexes)
    rowid_alias = (
        not without_rowid
        and len(pk_cols) == 1
        and str(pk_cols[0][2]).strip().upper() == "INTEGER"
        and not has_pk_index
    )
    not_null = {
        str(c[1]).lower(): bool(c[3]) or (bool(c[5]) and (without_rowid or rowid_alias))
        for c in columns
    }
    keys: list[tuple[str, ...]] = [primary_key] if primary_key else []
    for rows in index_columns.values():
        # index_info rows: seqno, cid, name; name is NULL for an expression term.
        names = [r[2] for r in sorted(rows, key=lambda r: int(r[0]))]
        if names and all(isinstance(n, str) for n in names):
            keys.append(tuple(str(n).lower() for n in names))
    return TableInfo(str(name).lower(), not_null, primary_key, tuple(dict.fromkeys(keys)))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
