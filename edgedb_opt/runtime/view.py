"""The per-request view of an ``EdgeDatabase``: reads in the caller's region, nothing owned.

It knows the database only through :class:`ViewedDatabase`, the part of ``EdgeDatabase`` it
uses, so ``database`` imports this module and not the other way round.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol, Self

from edgedb_opt.drivers.base import Capabilities, Driver, FollowUp, Params, Row, TransactionMode
from edgedb_opt.errors import DriverError
from edgedb_opt.runtime.cache import QueryCache
from edgedb_opt.runtime.consistency import RequestScope, scoped
from edgedb_opt.runtime.monitor import Monitor
from edgedb_opt.runtime.settings import Settings

__all__ = ["RequestView", "ViewedDatabase"]


class ViewedDatabase(Driver, Protocol):
    """What a :class:`RequestView` needs of the database it views (``EdgeDatabase``)."""

    settings: Settings
    cache: QueryCache | None
    monitor: Monitor

    @property
    def closed(self) -> bool: ...

    async def fetch_all_in(
        self, region: str, sql: str, params: Params = (), *, rewrite: bool = False
    ) -> list[Row]: ...

    async def fetch_then_in(
        self, region: str, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]: ...

    async def execute(self, sql: str, params: Params = (), *, rewrite: bool = False) -> int: ...


class RequestView:
    """One request's view of an ``EdgeDatabase``: reads go to ``region`` (failing over
    as the database does), writes and transactions to the primary, through the database's
    pools, cache and monitor.

    It is a :class:`~edgedb_opt.drivers.base.Driver`, so ``StudyQueries`` and
    ``AnswerWriter`` run on it. It owns nothing: :meth:`close` ends the view (later calls
    on it raise ``DriverError``) and leaves the database and its pools open.

    With a ``scope`` (``for_request`` gives one) every call runs as that request: reads reach
    the position of its token, writes note theirs in it. Without one, calls run in whatever
    scope the caller entered (the ASGI middleware enters one per request).
    """

    def __init__(
        self, database: ViewedDatabase, region: str, scope: RequestScope | None = None
    ) -> None:
        self.database = database
        self.region = region
        self.scope = scope
        self._closed = False

    def _in_scope(self) -> contextlib.AbstractContextManager[object]:
        return scoped(self.scope) if self.scope is not None else contextlib.nullcontext()

    @property
    def name(self) -> str:
        return self.database.name

    @property
    def target(self) -> str:
        return self.database.target

    @property
    def capabilities(self) -> Capabilities:
        return self.database.capabilities

    @property
    def in_transaction(self) -> bool:
        return self.database.in_transaction

    @property
    def settings(self) -> Settings:
        return self.database.settings

    @property
    def cache(self) -> QueryCache | None:
        return self.database.cache

    @property
    def monitor(self) -> Monitor:
        return self.database.monitor

    @property
    def closed(self) -> bool:
        return self._closed or self.database.closed

    def _open(self) -> ViewedDatabase:
        if self._closed:
            raise DriverError("this request view is closed")
        return self.database

    async def fetch_all(self, sql: str, params: Params = (), *, rewrite: bool = False) -> list[Row]:
        """Run one query in the request's region (failing over to the next healthy one)."""
        with self._in_scope():
            return await self._open().fetch_all_in(self.region, sql, params, rewrite=rewrite)

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """``EdgeDatabase.fetch_then`` in the request's region."""
        with self._in_scope():
            return await self._open().fetch_then_in(self.region, sql, params, then, quick=quick)

    async def execute(self, sql: str, params: Params = (), *, rewrite: bool = False) -> int:
        with self._in_scope():
            return await self._open().execute(sql, params, rewrite=rewrite)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self._in_scope():
            await self._open().executemany(sql, rows)

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        with self._in_scope():
            await self._open().execute_each(statements)

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        with self._in_scope():
            return await self._open().batch(statements)

    def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AbstractAsyncContextManager[None]:
        return self._transaction(self._open(), mode)

    @asynccontextmanager
    async def _transaction(
        self, database: ViewedDatabase, mode: TransactionMode
    ) -> AsyncIterator[None]:
        with self._in_scope():
            async with database.transaction(mode):
                yield

    async def close(self) -> None:
        """End this view; the database and its pools stay open."""
        self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


if TYPE_CHECKING:
    # mypy proves the view still satisfies the protocol whenever either side changes.
    def _is_driver(v: RequestView) -> Driver:
        return v
