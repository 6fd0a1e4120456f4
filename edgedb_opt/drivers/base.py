"""The small async surface every database backend offers, and its optional features.

Everything above the drivers (migration engine, pools, study queries) talks to a database only
through :class:`Driver`, so a new backend plugs in without touching them. A feature only some
backends have is a runtime-checkable protocol of its own (:class:`SupportsFetchThen`,
:class:`SupportsSync`): callers test ``isinstance(db, SupportsSync)`` instead of probing
attribute names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol, runtime_checkable

Params = Sequence[Any] | Mapping[str, Any]
Row = tuple[Any, ...]
TransactionMode = Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"]


@dataclass(frozen=True)
class Capabilities:
    """What a connection's engine supports, probed rather than assumed.

    Names match the ``needs=`` values of pack steps; ``!name`` in ``needs=`` asks for an
    engine *without* the capability (a step variant for the other engines).

    >>> Capabilities(fts5=False).missing(["fts5", "partial_indexes"])
    ['fts5']
    >>> Capabilities().missing(["!implied_not_null"])
    ['!implied_not_null']
    """

    fts5: bool = True
    partial_indexes: bool = True
    update_from: bool = True
    window_functions: bool = True
    analyze: bool = True
    #: The planner uses an index ``WHERE x IS NOT NULL`` for ``x = ?`` (SQLite infers the
    #: implication; the Turso engine needs ``x IS NOT NULL`` written in the query).
    implied_not_null: bool = True

    @classmethod
    def names(cls) -> list[str]:
        """All capability names a step may need."""
        return [f.name for f in fields(cls)]

    def missing(self, needs: Iterable[str]) -> list[str]:
        """The needs this engine does not meet: a capability it lacks, or ``!name`` for one
        it has (unknown names count as unmet)."""
        return [n for n in needs if getattr(self, n.removeprefix("!"), None) is not _wanted(n)]

    def describe_unmet(self, needs: Iterable[str], engine: str) -> str | None:
        """Why a step with ``needs`` does not apply on ``engine``, or None when it does.

        >>> Capabilities(fts5=False).describe_unmet(["fts5", "!analyze"], "turso")
        'needs fts5, which turso lacks; is for engines without analyze, which turso has'
        """
        unmet = self.missing(needs)
        lacks = [n for n in unmet if not n.startswith("!")]
        has = [n[1:] for n in unmet if n.startswith("!")]
        parts = [f"needs {', '.join(lacks)}, which {engine} lacks"] if lacks else []
        if has:
            parts.append(f"is for engines without {', '.join(has)}, which {engine} has")
        return "; ".join(parts) or None


def _wanted(need: str) -> bool:
    """The capability value a need asks for: True for ``name``, False for ``!name``."""
    return not need.startswith("!")


@runtime_checkable
class Driver(Protocol):
    """One open connection (or connection set) to a database.

    ``transaction()`` yields with a transaction open on the connection: statements executed
    inside it commit together on a clean exit and roll back together on an exception.
    """

    @property
    def name(self) -> str:
        """Short backend name: ``sqlite``, ``turso``, ``libsql``."""
        ...

    @property
    def target(self) -> str:
        """What this driver is connected to, safe to print (no secrets)."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one query; return every row as a tuple."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per parameter row."""
        ...

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        """Run several statements in order in one round trip, inside the caller's transaction
        (or each in autocommit outside one); no counts come back."""
        ...

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        """Run several statements in one transaction; return each one's changed-row count."""
        ...

    def transaction(
        self, mode: TransactionMode = "IMMEDIATE"
    ) -> AbstractAsyncContextManager[None]: ...

    @property
    def in_transaction(self) -> bool:
        """Whether the calling task is inside a transaction on this driver (another task's
        transaction does not count: its statements would wait for it, not join it)."""
        ...

    async def close(self) -> None: ...


#: Makes the second query of a dependent pair from the first one's rows (None: no second).
#: It may run on the driver's own thread: keep it quick, pure Python and thread-safe.
FollowUp = Callable[[list[Row]], "tuple[str, Params] | None"]


class Reader(Protocol):
    """The part of a :class:`Driver` a read needs."""

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...


@runtime_checkable
class SupportsFetchThen(Protocol):
    """A driver that runs a dependent pair of queries in one round trip (see :func:`fetch_then`)."""

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]: ...


class SyncState(Protocol):
    """What a syncing replica reports of its last sync (``SyncStats`` has more)."""

    @property
    def last_error(self) -> str | None: ...

    @property
    def lag_seconds(self) -> float | None: ...

    @property
    def pulls(self) -> int: ...


@runtime_checkable
class SupportsSync(Protocol):
    """A local replica of a server: it pulls the server's changes and pushes its own."""

    def sync_stats(self) -> SyncState: ...

    async def pull(self) -> bool: ...

    async def push(self) -> None: ...


@runtime_checkable
class SupportsClosed(Protocol):
    """A driver that tells whether it was closed."""

    @property
    def closed(self) -> bool: ...


def sync_error(db: object) -> str | None:
    """The last sync failure of a replica (None: not a replica, or its last sync worked)."""
    return db.sync_stats().last_error if isinstance(db, SupportsSync) else None


async def fetch_then(
    db: Reader, sql: str, params: Params, then: FollowUp, *, quick: bool = False
) -> tuple[list[Row], list[Row]]:
    """Run a query, then the query ``then`` makes of its rows; return both results.

    A driver with its own ``fetch_then`` runs the pair in one round trip (the SQLite driver:
    one hop to its thread instead of two, which on a small read costs more than the SQL);
    any other runs the two ``fetch_all`` calls in turn. Nothing opens a transaction: like
    two reads, the pair sees one snapshot only inside the caller's transaction. ``quick``:
    the caller vouches that the pair is a few index seeks, which a driver may then run
    without leaving the calling thread (see ``SqliteDriver.fetch_then``).
    """
    if isinstance(db, SupportsFetchThen):
        return await db.fetch_then(sql, params, then, quick=quick)
    first = await db.fetch_all(sql, params)
    follow = then(first)
    return first, ([] if follow is None else await db.fetch_all(*follow))


def _no_follow_up(rows: list[Row]) -> None:
    return None


async def fetch_quick(db: Reader, sql: str, params: Params = ()) -> list[Row]:
    """One query the caller vouches is a few index seeks: ``fetch_then`` with ``quick`` and
    no second query, so a driver may run it without leaving the calling thread."""
    rows, _ = await fetch_then(db, sql, params, _no_follow_up, quick=True)
    return rows


class Statements:
    """Wraps a :data:`FollowUp` to remember the statements of the pair, for monitors."""

    def __init__(self, sql: str, then: FollowUp) -> None:
        self.sql = [sql]
        self._then = then

    def __call__(self, rows: list[Row]) -> tuple[str, Params] | None:
        follow = self._then(rows)
        if follow is not None:
            self.sql.append(follow[0])
        return follow
