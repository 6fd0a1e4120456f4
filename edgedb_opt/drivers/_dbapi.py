"""Shared body of the drivers whose engine offers an async DB-API connection.

aiosqlite and pyturso's ``turso.aio`` expose the same shape (``await conn.execute`` returning a
cursor with ``fetchall``/``rowcount``); this class adds what the :class:`Driver` protocol
promises on top: explicit transactions, task-safe sharing of one connection, wrapped errors,
and a ``ResourceWarning`` when a driver is collected open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from edgedb_opt.drivers._lifecycle import DriverLifecycle
from edgedb_opt.drivers.base import Capabilities, Params, Row, TransactionMode
from edgedb_opt.errors import DriverError, InvalidInput

#: What a bound parameter can raise before the engine sees it: a Python int beyond 64 bits
#: (OverflowError), a value of a type the engine cannot store (TypeError, ValueError).
PARAM_ERRORS: tuple[type[Exception], ...] = (OverflowError,)


def param_error(exc: BaseException) -> InvalidInput:
    """The error a caller gets for a parameter no SQLite engine can bind."""
    if isinstance(exc, OverflowError):
        reason = "an integer outside SQLite's 64-bit range"
    else:
        reason = f"a value that cannot be stored ({type(exc).__name__})"
    return InvalidInput(f"params hold {reason}", field="params", reason=reason)


_INT64 = range(-(2**63), 2**63)


def check_integers(params: Params) -> None:
    """Refuse an integer SQLite cannot hold, as the sqlite3 module does, on engines that
    would not (the Turso engine stores it as a float, libsql-client fails in its encoder)."""
    values = params.values() if isinstance(params, Mapping) else params
    for value in values:
        if type(value) is int and value not in _INT64:
            raise param_error(OverflowError(value))


def describe_error(exc: BaseException) -> str:
    """One line for a native database error, without the engine's stack noise."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "readonly database" in text:
        return f"cannot write: the database was opened read-only ({text})"
    return text


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: no task can be inside a transaction
        return None


class DbApiDriver(DriverLifecycle):
    """A driver over one async DB-API connection (see module docstring)."""

    name = "dbapi"
    _native_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, conn: Any, *, target: str, capabilities: Capabilities) -> None:
        super().__init__(target=target, capabilities=capabilities)
        self._conn: Any = conn
        # One connection, many tasks: a transaction owns the connection until it ends, and
        # statements from other tasks wait instead of landing inside someone else's transaction.
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._in_tx = False

    @property
    def in_transaction(self) -> bool:
        return self._in_tx and _current_task() is self._owner

    @asynccontextmanager
    async def _use(self) -> AsyncIterator[None]:
        self._check_open()
        if self._owner is not None and self._owner is asyncio.current_task():
            yield  # inside our own transaction
            return
        async with self._lock:
            yield

    async def _run(self, sql: str, params: Params) -> Any:
        try:
            return await self._conn.execute(sql, params)
        except self._native_errors as exc:
            raise DriverError(describe_error(exc)) from exc
        except PARAM_ERRORS as exc:
            raise param_error(exc) from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._use():
            cur = await self._run(sql, params)
            try:
                # Step through every result row: some engines apply a statement lazily.
                await cur.fetchall()
                return int(cur.rowcount) if cur.rowcount is not None else -1
            except self._native_errors as exc:
                raise DriverError(describe_error(exc)) from exc
            finally:
                await cur.close()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._use():
            cur = await self._run(sql, params)
            try:
                return [tuple(r) for r in await cur.fetchall()]
            except self._native_errors as exc:
                raise DriverError(describe_error(exc)) from exc
            finally:
                await cur.close()

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._use():
            try:
                cur = await self._conn.executemany(sql, rows)
                await cur.close()
            except self._native_errors as exc:
                raise DriverError(describe_error(exc)) from exc
            except PARAM_ERRORS as exc:
                raise param_error(exc) from exc

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        for sql, params in statements:
            await self.execute(sql, params)

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        counts: list[int] = []
        async with self.transaction():
            for sql, params in statements:
                counts.append(await self.execute(sql, params))
        return counts

    @asynccontextmanager
    async def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AsyncIterator[None]:
        """Hold the connection for one transaction; commit on success, roll back on error."""
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise DriverError(f"unknown transaction mode {mode!r}")
        self._check_open()
        if self._owner is not None and self._owner is asyncio.current_task():
            raise DriverError("a transaction is already open on this connection (no nesting)")
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                await self._run(f"BEGIN {mode}", ())
                self._in_tx = True
                try:
                    yield
                except BaseException:
                    await self._rollback_quietly()
                    raise
                await self._run("COMMIT", ())
                self._in_tx = False
            finally:
                self._owner = None

    async def _rollback_quietly(self) -> None:
        self._in_tx = False
        # SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
        with contextlib.suppress(DriverError):
            await self._run("ROLLBACK", ())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._conn.close()
        except self._native_errors as exc:
            raise DriverError(describe_error(exc)) from exc
