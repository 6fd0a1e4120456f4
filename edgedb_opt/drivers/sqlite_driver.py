"""SQLite files through aiosqlite: the embedded default backend."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import aiosqlite

from edgedb_opt.drivers._dbapi import DbApiDriver, describe_error
from edgedb_opt.drivers._probe import probe
from edgedb_opt.drivers.base import Capabilities, Params, Row
from edgedb_opt.errors import DriverError

#: Pragmas the runtime layer sets on every connection it opens (see DESIGN.md: WAL, one writer,
#: many readers). The migration engine does not force them: journal mode is a property of the
#: file that belongs to its owner.
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
        raise DriverError(f"{p} is read-only (its permissions allow no writes); use --read-only")
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
            pending = aiosqlite.connect(uri, uri=True, isolation_level=None)
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
        except DriverError as exc:
            await driver.close()
            raise DriverError(f"cannot use {p} as a SQLite database: {exc}") from exc
        except BaseException:
            await driver.close()  # never leave aiosqlite's thread running
            raise
        return driver

    _optimize_on_close = False

    def _abandon(self) -> None:
        # aiosqlite's worker is not a daemon thread: a connection leaked in a reference cycle
        # would keep the interpreter from exiting. Its stop() ends the thread without a loop.
        with contextlib.suppress(Exception):
            self._conn.stop()

    async def close(self) -> None:
        if self._optimize_on_close and not self.closed and not self.in_transaction:
            # Best effort: a busy file or a full disk must not turn a close into an error.
            with contextlib.suppress(DriverError):
                await self.execute("PRAGMA optimize")
        await super().close()

    # One thread hop per statement instead of three (execute, fetchall, close): aiosqlite runs
    # each call in its worker thread, and on hot paths the hops cost more than the SQL.
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._use():
            try:
                rows = await self._conn.execute_fetchall(sql, params)
            except sqlite3.Error as exc:
                raise DriverError(describe_error(exc)) from exc
            return [tuple(r) for r in rows]

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._use():
            try:
                # sqlite3 runs a statement to completion unless it returns rows; those (a
                # PRAGMA, RETURNING) go through fetch_all so every row is stepped.
                cur = await self._conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise DriverError(describe_error(exc)) from exc
            if cur.description is not None:
                try:
                    await cur.fetchall()
                except sqlite3.Error as exc:
                    raise DriverError(describe_error(exc)) from exc
            return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._use():
            try:
                await self._conn.executemany(sql, rows)  # no cursor close: one hop
            except sqlite3.Error as exc:
                raise DriverError(describe_error(exc)) from exc

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        # aiosqlite has no public call for "run this function in your thread"; its _execute
        # is that call, and one hop for the whole list is what makes a batch cheap.
        statements = list(statements)

        def run(conn: sqlite3.Connection) -> None:
            for sql, params in statements:
                conn.execute(sql, params).fetchall()

        async with self._use():
            try:
                await self._conn._execute(run, self._conn._conn)
            except sqlite3.Error as exc:
                raise DriverError(describe_error(exc)) from exc
