"""One base for drivers that wrap a driver (monitoring, rewriting): delegate everything.

A wrapper overrides only what it changes; the rest of the :class:`~edgedb_opt.drivers.base.Driver`
surface, ``fetch_then`` included, reaches the wrapped driver unchanged. The wrapped driver owns
the connection: closing the wrapper closes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Self

from edgedb_opt.drivers.base import (
    Capabilities,
    Driver,
    FollowUp,
    Params,
    Row,
    SupportsClosed,
    TransactionMode,
    fetch_then,
)

__all__ = ["DriverWrapper"]


class DriverWrapper:
    """A :class:`Driver` that passes every call to ``inner``.

    >>> import asyncio, tempfile
    >>> from edgedb_opt.drivers import open_driver
    >>> async def demo(folder: str) -> list[Row]:
    ...     async with DriverWrapper(await open_driver(f"{folder}/w.db")) as db:
    ...         return await db.fetch_all("SELECT 1 + 1")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     asyncio.run(demo(folder))
    [(2,)]
    """

    def __init__(self, inner: Driver) -> None:
        self._inner = inner

    @property
    def inner(self) -> Driver:
        """The wrapped driver."""
        return self._inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def target(self) -> str:
        return self._inner.target

    @property
    def capabilities(self) -> Capabilities:
        return self._inner.capabilities

    @property
    def in_transaction(self) -> bool:
        return self._inner.in_transaction

    @property
    def closed(self) -> bool:
        """Whether the wrapped driver was closed (False when it cannot tell)."""
        return isinstance(self._inner, SupportsClosed) and self._inner.closed

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._inner.execute(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._inner.fetch_all(sql, params)

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """The pair in one round trip where the wrapped driver can (see ``fetch_then``)."""
        return await fetch_then(self._inner, sql, params, then, quick=quick)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._inner.executemany(sql, rows)

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        await self._inner.execute_each(statements)

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        return await self._inner.batch(statements)

    def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AbstractAsyncContextManager[None]:
        return self._inner.transaction(mode)

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


if TYPE_CHECKING:
    # mypy proves the wrapper still satisfies the protocol whenever either side changes.
    def _is_driver(d: DriverWrapper) -> Driver:
        return d
