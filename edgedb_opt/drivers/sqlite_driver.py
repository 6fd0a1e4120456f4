"""SQLite files through aiosqlite: the embedded default backend."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from edgedb_opt.drivers._dbapi import PARAM_ERRORS, DbApiDriver, describe_error, param_error
from edgedb_opt.drivers._probe import probe
from edgedb_opt.drivers.base import Capabilities, FollowUp, Params, Row
from edgedb_opt.errors import DriverError, Hint

T = TypeVar("T")

#: Pragmas the runtime layer sets on every connection it opens (WAL, one writer, many readers:
#: see docs/architecture.md). The migration engine does not force them: journal mode is a
#: property of the file that belongs to its owner.
RUNTIME_PRAGMAS: Mapping[str, str | int] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "temp_store": "MEMORY",
    "cache_size": -64000,
    "mmap_size": 268435456,
    "journal_size_limit": 67108864,
}


@functools.cache
def sqlite_capabilities() -> Capabilities:
    """Capabilities of the SQLite library this Python links against (probed once)."""
    return probe(lambda: sqlite3.connect(":memory:"), (sqlite3.Error,))


def check_path(path: str | os.PathLike[str], *, must_exist: bool, writable: bool = False) -> Path:
    """Refuse paths that cannot be a database file, with a message naming the path.

    With ``writable``, a file whose permissions allow nobody to write is refused too: its
    owner marked it read-only, and a superuser (for whom the kernel ignores the bits) must
    not write it by accident.
    """
    p = Path(path)
    if p.is_dir():
        raise DriverError(f"{p} is a directory, not a database file")
    if must_exist and not p.exists():
        raise DriverError(f"database {p} does not exist")
    if not p.exists() and not p.parent.exists():
        raise DriverError(f"cannot create database {p}: folder {p.parent} does not exist")
    if writable and p.exists() and not p.stat().st_mode & 0o222:
        raise DriverError(
            f"{p} is read-only (its permissions allow no writes)", hint=Hint("read_only")
        )
    return p


class SqliteDriver(DbApiDriver):
    """One aiosqlite connection to a SQLite file.

    Open with :meth:`open`; ``read_only=True`` uses SQLite's read-only mode, so nothing done
    through the driver can change the file.
    """

    name = "sqlite"
    _native_errors = (sqlite3.Error,)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout_ms: int = 5000,
        pragmas: Mapping[str, str | int] | None = None,
        must_exist: bool = False,
        optimize_on_close: bool = False,
    ) -> SqliteDriver:
        """Open (or create) the SQLite file at ``path``.

        Args:
            path: the database file.
            read_only: open with ``mode=ro``; the file must exist.
            busy_timeout_ms: how long a statement waits for another writer's lock.
            pragmas: extra per-connection pragmas, e.g. :data:`RUNTIME_PRAGMAS`.
            must_exist: refuse to create a new file.
            optimize_on_close: run ``PRAGMA optimize`` when the connection closes, so the
                planner's statistics follow the queries this connection ran (the runtime
                pools set it; one-shot CLI connections do not).
        Raises:
            DriverError: the path is a directory, missing, unreadable or not a database.
        """
        p = check_path(path, must_exist=must_exist or read_only, writable=not read_only)
        mode = "ro" if read_only else "rwc"
        uri = f"file:{quote(str(p.absolute()))}?mode={mode}"
        try:
            # check_same_thread off: fetch_then(quick=True) may use the connection from the
            # loop's thread, never while a job of aiosqlite's thread holds it (see _busy).
            pending = aiosqlite.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False
            )
            # A leaked connection must not keep the interpreter from exiting: its worker thread
            # is a daemon (a crash at exit is what SQLite's journal is for).
            pending._thread.daemon = True
            conn = await pending
        except sqlite3.Error as exc:
            raise DriverError(f"cannot open {p}: {describe_error(exc)}") from exc
        driver = cls(conn, target=str(p), capabilities=sqlite_capabilities())
        driver._optimize_on_close = optimize_on_close and not read_only
        try:
            await driver.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await driver.execute("PRAGMA foreign_keys = ON")
            # Reading the schema is what fails on a file that is not a database.
            await driver.fetch_all("SELECT count(*) FROM sqlite_master")
            for key, value in (pragmas or {}).items():
                await driver.fetch_all(f"PRAGMA {key} = {value}")
            ((journal,),) = await driver.fetch_all("PRAGMA journal_mode")
            driver._wal = str(journal).lower() == "wal"
        except DriverError as exc:
            await driver.close()
            raise DriverError(f"cannot use {p} as a SQLite database: {exc}") from exc
        except BaseException:
            await driver.close()  # never leave aiosqlite's thread running
            raise
        return driver

    _optimize_on_close = False
    #: The file was in WAL mode when opened (set by open; journal mode belongs to the file).
    _wal = False

    def __init__(self, conn: Any, *, target: str, capabilities: Capabilities) -> None:
        super().__init__(conn, target=target, capabilities=capabilities)
        # Held by whoever uses the sqlite3 connection: a job on aiosqlite's thread, or a
        # quick pair on the loop's thread.
        self._busy = threading.Lock()

    def _abandon(self) -> None:
        # aiosqlite's worker is not a daemon thread: a connection leaked in a reference cycle
        # would keep the interpreter from exiting. Its stop() ends the thread without a loop.
        with contextlib.suppress(Exception):
            self._conn.stop()

    async def close(self) -> None:
        if self._optimize_on_close and not self.closed and not self._in_tx:
            # Best effort: a busy file or a full disk must not turn a close into an error.
            with contextlib.suppress(DriverError):
                await self.execute("PRAGMA optimize")
        await super().close()

    # One thread hop per call: aiosqlite's public calls would take up to three (execute,
    # fetchall, close), and on hot paths the hops cost more than the SQL. Its _execute is the
    # only way to run a function of ours in its thread.
    async def _hop(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on aiosqlite's thread, holding ``_busy`` while it runs."""

        busy = self._busy  # not self: aiosqlite's thread keeps its last job alive, and a
        # job holding the driver would keep a leaked driver from being collected (and warned)

        def guarded(conn: sqlite3.Connection) -> T:
            with busy:
                return fn(conn)

        try:
            result: T = await self._conn._execute(guarded, self._conn._conn)
        except sqlite3.Error as exc:
            raise DriverError(describe_error(exc)) from exc
        except PARAM_ERRORS as exc:
            raise param_error(exc) from exc
        return result

    async def _run(self, sql: str, params: Params) -> None:
        await self._hop(lambda conn: conn.execute(sql, params).fetchall())

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._use():
            return await self._hop(lambda conn: [tuple(r) for r in conn.execute(sql, params)])

    async def execute(self, sql: str, params: Params = ()) -> int:
        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(sql, params)
            # sqlite3 runs a statement to completion unless it returns rows; those (a PRAGMA,
            # RETURNING) are stepped to the end here.
            if cur.description is not None:
                cur.fetchall()
            return int(cur.rowcount)

        async with self._use():
            return await self._hop(run)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._use():
            await self._hop(lambda conn: conn.executemany(sql, rows))

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """A dependent pair of queries in one hop to the connection's thread (see
        :func:`~edgedb_opt.drivers.base.fetch_then`); ``then`` runs on that thread.

        ``quick`` (the caller vouches for a few index seeks): on a WAL file, outside a
        transaction and with the connection idle, the pair runs right here on the event
        loop's thread, which costs less than the hop (~70 us on a small VM) it saves. WAL
        readers wait for no lock, so it cannot stall the loop on another writer. ``_busy``
        makes sure no job of this connection still runs on aiosqlite's thread (one whose
        caller was cancelled, say); when one does, the pair takes the hop.
        """

        def run(conn: sqlite3.Connection) -> tuple[list[Row], list[Row]]:
            first = [tuple(r) for r in conn.execute(sql, params)]
            follow = then(first)
            if follow is None:
                return first, []
            return first, [tuple(r) for r in conn.execute(*follow)]

        async with self._use():
            if quick and self._wal and not self._in_tx and self._busy.acquire(blocking=False):
                try:
                    return run(self._conn._conn)
                except sqlite3.Error as exc:
                    raise DriverError(describe_error(exc)) from exc
                except PARAM_ERRORS as exc:
                    raise param_error(exc) from exc
                finally:
                    self._busy.release()
            return await self._hop(run)

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        statements = list(statements)

        def run(conn: sqlite3.Connection) -> None:
            for sql, params in statements:
                conn.execute(sql, params).fetchall()

        async with self._use():
            await self._hop(run)
