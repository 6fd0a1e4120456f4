"""What the rewrite rules know about a database: nullability, keys, affinity and collation.

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
- ``PRAGMA table_info`` omits generated columns; ``table_xinfo`` lists them (hidden 2 and 3).
- SQLite folds identifier case for ASCII letters only: ``Ärzte`` and ``ärzte`` are two tables.
  Names here are folded with :func:`fold`, never with ``str.lower``.
- A column's collation is what SQLite itself uses when it compares the column: read from the
  comparison opcode of ``EXPLAIN`` (declared ``COLLATE`` clauses, generated columns included),
  not parsed from the CREATE statement.
- A unique index is unique under its own collation (``index_xinfo``), which may differ from
  the column's.
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
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_COMPARE_OPS = ("Eq", "Ne", "Lt", "Le", "Gt", "Ge")


def fold(name: str) -> str:
    """``name`` as SQLite compares identifiers: ASCII letters folded, nothing else.

    >>> fold("Users"), fold("ÄRZTE")
    ('users', 'Ärzte')
    """
    return name.translate(_ASCII_LOWER)


def affinity(declared: str) -> str:
    """The affinity SQLite gives a column of type ``declared`` (its five rules, in order).

    >>> [affinity(t) for t in ("BIGINT", "VARCHAR(9)", "BLOB", "", "DOUBLE", "DECIMAL", "POINT")]
    ['INTEGER', 'TEXT', 'BLOB', 'BLOB', 'REAL', 'NUMERIC', 'INTEGER']
    """
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper.strip():
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


@dataclass(frozen=True)
class TableInfo:
    """One table's columns and keys; every name is lower case (SQLite ignores case).

    Args:
        name: the table name.
        columns: each column's name and whether it can never be NULL.
        primary_key: the primary key columns, in key order (empty without a declared key).
        unique_keys: every column set a full unique index or the primary key makes unique.
        affinity: each column's affinity (INTEGER, TEXT, REAL, NUMERIC or BLOB, the last
            meaning none); a column missing here has an unknown affinity.
        collation: each column's collation as SQLite compares it (BINARY, NOCASE, RTRIM or a
            custom name); missing means unknown.
        key_collations: for each of ``unique_keys``, the collation each of its columns is
            unique under (empty when unknown).

    >>> t = TableInfo("users", {"id": True, "email": True, "name": False},
    ...               primary_key=("id",), unique_keys=(("id",), ("email",)))
    >>> t.is_unique({"email", "name"}), t.is_unique({"name"})
    (True, False)
    """

    name: str
    columns: Mapping[str, bool]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    affinity: Mapping[str, str] = field(default_factory=dict)
    collation: Mapping[str, str] = field(default_factory=dict)
    key_collations: tuple[tuple[str, ...], ...] = ()

    def has_column(self, column: str) -> bool:
        """Whether the table has ``column`` (case-insensitive)."""
        return fold(column) in self.columns

    def not_null(self, column: str) -> bool:
        """Whether ``column`` can never hold NULL (False for unknown columns)."""
        return self.columns.get(fold(column), False)

    def is_unique(self, columns: Iterable[str]) -> bool:
        """Whether equality on all of ``columns`` matches at most one row."""
        wanted = {fold(c) for c in columns}
        return any(set(key) <= wanted for key in self.unique_keys)

    def is_unique_under(self, columns: Mapping[str, str]) -> bool:
        """Whether equality on the given columns, each compared under the given collation,
        matches at most one row: a unique key must be covered, each of its columns compared
        under the key's own collation or under BINARY (BINARY-equal values are equal under
        every built-in collation, so uniqueness under a coarser one implies it).

        >>> t = TableInfo("t", {"code": True}, unique_keys=(("code",),),
        ...               key_collations=(("NOCASE",),))
        >>> t.is_unique_under({"code": "BINARY"}), t.is_unique_under({"code": "RTRIM"})
        (True, False)
        """
        wanted = {fold(c): coll.upper() for c, coll in columns.items()}
        for index, key in enumerate(self.unique_keys):
            if not set(key) <= set(wanted):
                continue
            colls = self.key_collations[index] if index < len(self.key_collations) else ()
            if len(colls) != len(key):
                continue
            if all(wanted[c] in ("BINARY", k.upper()) for c, k in zip(key, colls, strict=True)):
                return True
        return False


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
    #: The CREATE statements of the schema's tables, views and indexes (for SQLite's checks).
    ddl: tuple[str, ...] = ()

    def statements(self) -> tuple[str, ...]:
        """:attr:`ddl`, or for a schema built by hand, CREATE TABLE statements made from what it
        knows (columns, affinity, collation, NOT NULL): enough for SQLite to prepare queries.

        >>> Schema.from_dict({"t": {"columns": {"id": True}}}).statements()
        ('CREATE TABLE "t" ("id" NOT NULL)',)
        """
        if self.ddl:
            return self.ddl
        out = []
        for table in self.tables.values():
            columns = []
            for name, not_null in table.columns.items():
                aff = table.affinity.get(name, "BLOB")
                coll = table.collation.get(name, "BINARY")
                parts = [_quote(name), "" if aff == "BLOB" else aff]
                parts += [
                    f"COLLATE {coll}" if coll != "BINARY" else "",
                    "NOT NULL" if not_null else "",
                ]
                columns.append(" ".join(p for p in parts if p))
            out.append(f"CREATE TABLE {_quote(table.name)} ({', '.join(columns)})")
        return tuple(out)

    def table(self, name: str) -> TableInfo | None:
        """The table called ``name`` (case-insensitive), or None if unknown."""
        return self.tables.get(fold(name))

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
            pk = tuple(fold(c) for c in table.get("primary_key", ()))
            columns = {fold(c): bool(nn) or fold(c) in pk for c, nn in table["columns"].items()}
            keys = [pk] if pk else []
            keys += [tuple(fold(c) for c in key) for key in table.get("unique", ())]
            tables[fold(name)] = TableInfo(fold(name), columns, pk, tuple(dict.fromkeys(keys)))
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
    def from_connection(cls, conn: sqlite3.Connection) -> Schema:
        """Read the schema through an open ``sqlite3`` connection (only reads)."""
        return _read_sync(conn)

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
        # table_xinfo rows: cid, name, type, notnull, dflt_value, pk, hidden (2, 3: generated)
        columns = await fetch(f"PRAGMA table_xinfo({_quote(name)})")
        indexes = await fetch(f"PRAGMA index_list({_quote(name)})")
        index_columns: dict[str, Sequence[Sequence[Any]]] = {}
        for index in indexes:
            if index[2] and not index[4]:  # unique and not partial
                index_columns[index[1]] = await fetch(f"PRAGMA index_xinfo({_quote(index[1])})")
        collations = {str(c[1]): await _collation(fetch, name, str(c[1])) for c in columns}
        info = _table_info(name, sql or "", columns, indexes, index_columns, collations)
        tables[info.name] = info
    ddl = await fetch(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'view' THEN 1 ELSE 2 END, rowid"
    )
    return Schema(tables, tuple(str(row[0]) for row in ddl))


async def _collation(fetch: Fetch, table: str, column: str) -> str | None:
    """The collation SQLite compares ``table.column`` with, from the comparison opcode of a
    plan that must compare it (None when no such plan can be had, e.g. a virtual table)."""
    # In the result list the comparison is always computed: no index can stand in for it.
    sql = f"EXPLAIN SELECT {_quote(table)}.{_quote(column)} = '' FROM {_quote(table)}"
    try:
        rows = await fetch(sql)
    except Exception:  # an engine or table that cannot explain it: unknown
        return None
    for row in rows:
        # EXPLAIN rows: addr, opcode, p1, p2, p3, p4 (a comparison's collation, "NOCASE-8"), ...
        if row[1] in _COMPARE_OPS and isinstance(row[5], str):
            return row[5].split("-")[0].upper() or None
    return None


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
    collations: Mapping[str, str | None] | None = None,
) -> TableInfo:
    # table_xinfo rows: cid, name, type, notnull, dflt_value, pk (1-based key position or 0),
    # hidden (table_info rows lack it).
    without_rowid = bool(_WITHOUT_ROWID.search(create_sql.strip()))
    pk_cols = sorted((c for c in columns if c[5]), key=lambda c: int(c[5]))
    primary_key = tuple(fold(str(c[1])) for c in pk_cols)
    # An INTEGER PRIMARY KEY that is not the rowid (the "DESC" quirk) gets its own pk index.
    has_pk_index = any(len(i) > 3 and i[3] == "pk" for i in indexes)
    rowid_alias = (
        not without_rowid
        and len(pk_cols) == 1
        and str(pk_cols[0][2]).strip().upper() == "INTEGER"
        and not has_pk_index
    )
    not_null = {
        fold(str(c[1])): bool(c[3]) or (bool(c[5]) and (without_rowid or rowid_alias))
        for c in columns
    }
    found = {fold(k): v for k, v in (collations or {}).items() if v}
    if rowid_alias:  # always an integer: no collation ever applies to it
        found.setdefault(primary_key[0], "BINARY")
    keys: dict[tuple[str, ...], tuple[str, ...]] = {}
    if rowid_alias:  # the rowid: an integer, unique under any collation
        keys[primary_key] = ("BINARY",)
    for rows in index_columns.values():
        # index_xinfo rows: seqno, cid, name, desc, coll, key; name NULL for an expression;
        # key 0 for the rowid / primary key columns a WITHOUT ROWID index appends.
        terms = sorted((r for r in rows if len(r) < 6 or r[5]), key=lambda r: int(r[0]))
        names = [r[2] for r in terms]
        if names and all(isinstance(n, str) for n in names):
            colls = tuple(str(r[4]).upper() if len(r) > 4 and r[4] else "" for r in terms)
            key = tuple(fold(str(n)) for n in names)
            keys.setdefault(key, colls if all(colls) else ())
    if primary_key and primary_key not in keys:
        keys[primary_key] = ()  # a key with no index seen: unique, collation unknown
    ordered = sorted(keys, key=lambda k: (k != primary_key,))
    return TableInfo(
        fold(str(name)),
        not_null,
        primary_key,
        tuple(ordered),
        affinity={fold(str(c[1])): affinity(str(c[2] or "")) for c in columns},
        collation=found,
        key_collations=tuple(keys[k] for k in ordered),
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
