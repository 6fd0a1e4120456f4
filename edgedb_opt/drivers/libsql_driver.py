"""sqld / Turso Cloud URLs through libsql-client: a small compatibility adapter.

libsql-client 0.3 is archived upstream. Its WebSocket transport (``ws(s)://``, and
``libsql://`` which means ``wss://``) carries Hrana to sqld and Turso Cloud; its HTTP transport
speaks Hrana v1 only and has no interactive transactions, so this adapter refuses it. Its
``file:`` mode runs the same client API over Python's ``sqlite3`` (a fresh connection per
statement, no busy timeout, blocking calls): that is how the test suite exercises the adapter,
since no sqld server runs here. pyturso (:mod:`edgedb_opt.drivers.turso_driver`) is the road
ahead; this module exists for deployments still on the old URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import libsql_client

from edgedb_opt.drivers._dbapi import check_integers, describe_error
from edgedb_opt.drivers._lifecycle import DriverLifecycle
from edgedb_opt.drivers._probe import _PROBES
from edgedb_opt.drivers.base import Capabilities, Params, Row, TransactionMode
from edgedb_opt.drivers.sqlite_driver import check_path
from edgedb_opt.errors import DriverError, UnavailableError

T = TypeVar("T")

#: What libsql-client lets escape: its own error, the transport's, and the value conversions
#: it does before sending (non-finite floats, out-of-range integers, unsupported types).
_NATIVE_ERRORS: tuple[type[BaseException], ...] = (
    libsql_client.LibsqlError,
    aiohttp.ClientError,
    OSError,
    sqlite3.Error,
    ValueError,
    TypeError,
    OverflowError,
)


def _wrap(exc: BaseException, message: str) -> DriverError:
    """A network failure is :class:`UnavailableError` (another region may answer); anything
    else, such as a statement the server rejected, a plain :class:`DriverError`."""
    if isinstance(exc, aiohttp.ClientError | OSError) and not isinstance(exc, sqlite3.Error):
        return UnavailableError(message)
    return DriverError(message)


_URL_SCHEMES = ("ws", "wss", "libsql")
#: LibsqlError codes that mean "the connection is gone", not "the SQL was refused".
_TRANSPORT_CODES = ("HRANA_", "CLIENT_", "STREAM_", "TRANSACTION_", "URL_")
_file_capabilities: Capabilities | None = None


def safe_target(url: str) -> str:
    """``url`` without credentials or query (where ``authToken=`` may hide), safe to print.

    >>> safe_target("wss://user:pw@db.example.io:443/x?authToken=secret")
    'wss://db.example.io:443/x'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _is_sql_error(exc: BaseException) -> bool:
    code = getattr(exc, "code", "")
    return isinstance(exc, libsql_client.LibsqlError) and not code.startswith(_TRANSPORT_CODES)


def _args(params: Params) -> list[Any] | dict[str, Any] | None:
    # libsql-client takes a list or a dict; names go through unchanged, as sqlite3 takes them.
    check_integers(params)
    if isinstance(params, Mapping):
        return dict(params)
    return list(params) if params else None


async def probe_client(client: Any) -> Capabilities:
    """Probe each capability inside a transaction on ``client`` that is always rolled back.

    Args:
        client: an open libsql-client ``Client`` (for ``file:`` mode, a scratch ``:memory:``).
    Returns:
        The engine's :class:`Capabilities`; transport failures propagate.
    """
    found: dict[str, bool] = {}
    for name, statements in _PROBES.items():
        tx = client.transaction()
        try:
            for sql in statements:
                await tx.execute(sql)
            found[name] = True
        except libsql_client.LibsqlError as exc:
            if not _is_sql_error(exc):
                raise
            found[name] = False
        finally:
            with contextlib.suppress(libsql_client.LibsqlError):
                await tx.rollback()
            tx.close()
    return Capabilities(**found)


async def _file_mode_capabilities() -> Capabilities:
    # The sqlite3 module underneath is the same for every file, so probe it once, on a scratch
    # in-memory database rather than on the user's file.
    global _file_capabilities
    if _file_capabilities is None:
        scratch = libsql_client.create_client("file::memory:")
        try:
            _file_capabilities = await probe_client(scratch)
        finally:
            await scratch.close()
    return _file_capabilities


class LibsqlDriver(DriverLifecycle):
    """One libsql-client ``Client``, behind the :class:`~edgedb_opt.drivers.base.Driver` protocol.

    Statements run one at a time per driver; a transaction owns the driver until it ends.
    Values go through libsql-client's own conversion (e.g. a ``datetime`` becomes epoch ms).
    """

    name = "libsql"

    def __init__(self, client: Any, *, target: str, capabilities: Capabilities) -> None:
        super().__init__(target=target, capabilities=capabilities)
        self._client: Any = client
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._tx: Any = None

    @classmethod
    async def open(
        cls,
        where: str,
        *,
        auth_token: str | None = None,
        must_exist: bool = False,
        connect_timeout: float = 10.0,
    ) -> LibsqlDriver:
        """Open a ``ws(s)://`` / ``libsql://`` URL, or a file path through ``file:`` mode.

        Args:
            where: the server's URL, or a filesystem path.
            auth_token: the server's token (never part of :attr:`target`).
            must_exist: for a path, refuse to create a new file.
            connect_timeout: seconds the server has to answer the first statement.
        Raises:
            DriverError: a bad URL, an unreachable or silent server, or a file that is not a
                database; always one line.
        """
        scheme = where.split("://", 1)[0].lower() if "://" in where else ""
        if scheme in ("http", "https"):
            raise DriverError(
                f"{safe_target(where)}: libsql-client's HTTP transport (Hrana v1) has no "
                "transactions; use a ws(s):// or libsql:// URL"
            )
        if scheme and scheme not in _URL_SCHEMES:
            raise DriverError(f"{safe_target(where)}: libsql-client takes ws(s):// or libsql://")
        if scheme:
            url, target, what = where, safe_target(where), "reach"
        else:
            path = check_path(where, must_exist=must_exist).absolute()
            if any(c in str(path) for c in "?#"):
                raise DriverError(f"{path}: libsql-client's file: URLs cannot hold '?' or '#'")
            url, target, what = f"file:{path}", f"libsql:file:{path}", "use"
        try:
            client = libsql_client.create_client(url, auth_token=auth_token)
        except _NATIVE_ERRORS as exc:
            raise _wrap(exc, f"cannot open {target}: {describe_error(exc)}") from exc
        try:
            await cls._first_answer(client, target, connect_timeout)
            caps = await (probe_client(client) if scheme else _file_mode_capabilities())
        except _NATIVE_ERRORS as exc:
            await client.close()
            raise _wrap(exc, f"cannot {what} {target}: {describe_error(exc)}") from exc
        except BaseException:
            await client.close()
            raise
        return cls(client, target=target, capabilities=caps)

    @staticmethod
    async def _first_answer(client: Any, target: str, timeout: float) -> None:
        # Reading the schema proves the server answers and the file is a database. On timeout
        # the client is closed rather than the request cancelled: closing fails every pending
        # libsql-client future cleanly, cancelling one leaves its internals half-done.
        check = asyncio.ensure_future(client.execute("SELECT count(*) FROM sqlite_master"))
        done, _ = await asyncio.wait({check}, timeout=timeout)
        if not done:
            await client.close()
            with contextlib.suppress(*_NATIVE_ERRORS):
                await check
            raise UnavailableError(f"{target} did not answer within {timeout:g} s")
        check.result()

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None and self._mine()

    def _mine(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    @asynccontextmanager
    async def _use(self) -> AsyncIterator[Any]:
        """Yield what to run statements on: our open transaction, or the client (autocommit)."""
        self._check_open()
        if self._mine():
            yield self._tx
            return
        async with self._lock:
            self._check_open()
            yield self._client

    async def _call(self, step: Awaitable[T]) -> T:
        try:
            return await step
        except _NATIVE_ERRORS as exc:
            raise _wrap(exc, describe_error(exc)) from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._use() as on:
            rs = await self._call(on.execute(sql, _args(params)))
            return int(rs.rows_affected)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._use() as on:
            rs = await self._call(on.execute(sql, _args(params)))
            return [tuple(r.astuple()) for r in rs.rows]

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._use() as on:
            for params in rows:
                await self._call(on.execute(sql, _args(params)))

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        async with self._use() as on:
            for sql, params in statements:
                await self._call(on.execute(sql, _args(params)))

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        """Run ``statements`` in one transaction (one round trip on a server); return counts."""
        if self._mine():
            raise DriverError("a transaction is already open on this connection (no nesting)")
        stmts = [libsql_client.Statement(sql, _args(params)) for sql, params in statements]
        async with self._use() as on:
            results = await self._call(on.batch(stmts))
            return [int(rs.rows_affected) for rs in results]

    @asynccontextmanager
    async def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AsyncIterator[None]:
        """Hold the driver for one transaction; commit on success, roll back on error."""
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise DriverError(f"unknown transaction mode {mode!r}")
        self._check_open()
        if self._mine():
            raise DriverError("a transaction is already open on this connection (no nesting)")
        async with self._lock:
            self._check_open()
            self._owner = asyncio.current_task()
            tx: Any = None
            try:
                tx = await self._begin(mode)
                self._tx = tx
                try:
                    yield
                except BaseException:
                    with contextlib.suppress(*_NATIVE_ERRORS):
                        await tx.rollback()
                    raise
                await self._call(tx.commit())
            finally:
                self._tx = None
                self._owner = None
                if tx is not None:
                    tx.close()  # after a failed COMMIT this is what rolls back

    async def _begin(self, mode: TransactionMode) -> Any:
        try:
            tx = self._client.transaction()
        except _NATIVE_ERRORS as exc:
            raise DriverError(describe_error(exc)) from exc
        if mode == "DEFERRED":
            return tx
        # libsql-client only ever sends a plain (deferred) BEGIN; swap it for the asked mode on
        # the same connection (file:) or stream (Hrana), so IMMEDIATE really takes the lock first.
        try:
            await self._call(tx.execute("ROLLBACK"))
            await self._call(tx.execute(f"BEGIN {mode}"))
        except BaseException:
            tx.close()
            raise
        return tx

    async def close(self) -> None:
        """Close the client (idempotent); an open transaction is abandoned, so rolled back."""
        if self._closed:
            return
        self._closed = True
        if self._tx is not None:
            self._tx.close()
        try:
            await self._client.close()
        except _NATIVE_ERRORS as exc:
            raise DriverError(describe_error(exc)) from exc
