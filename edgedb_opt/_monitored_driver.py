"""A driver wrapper that reports every statement to a monitor (see :mod:`edgedb_opt.monitor`,
which exports it)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, TypeVar

from edgedb_opt.drivers.base import (
    Capabilities,
    Driver,
    FollowUp,
    Params,
    Row,
    Statements,
    TransactionMode,
    fetch_then,
)

if TYPE_CHECKING:
    from edgedb_opt.monitor import Monitor

T = TypeVar("T")


class MonitoredDriver:
    """A :class:`~edgedb_opt.drivers.base.Driver` that reports every statement it runs to a
    :class:`Monitor`, timed with the monitor's ``timer``; everything else passes through.

    ``executemany`` counts as one statement run, ``batch`` and ``execute_each`` as one round
    trip of their statements (see :meth:`Monitor.observe_batch`). The wrapped driver owns
    the connection: closing this closes it.
    """

    def __init__(self, driver: Driver, monitor: Monitor) -> None:
        self._driver = driver
        self.monitor = monitor

    @property
    def inner(self) -> Driver:
        """The wrapped driver."""
        return self._driver

    @property
    def name(self) -> str:
        return self._driver.name

    @property
    def target(self) -> str:
        return self._driver.target

    @property
    def capabilities(self) -> Capabilities:
        return self._driver.capabilities

    @property
    def in_transaction(self) -> bool:
        return self._driver.in_transaction

    async def _timed(self, statements: Sequence[str], call: Awaitable[T]) -> T:
        timer = self.monitor.timer
        start = timer()
        try:
            result = await call
        except Exception as exc:  # cancellation is not a statement failure: not counted
            self.monitor.observe_batch(statements, timer() - start, error=exc)
            raise
        if len(statements) == 1:
            self.monitor.observe(statements[0], timer() - start)
        else:
            self.monitor.observe_batch(statements, timer() - start)
        return result

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._timed([sql], self._driver.execute(sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._timed([sql], self._driver.fetch_all(sql, params))

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """The pair in one round trip where the wrapped driver can (one observation of both:
        ``seen.sql`` gains the second statement while the call runs)."""
        seen = Statements(sql, then)
        return await self._timed(seen.sql, fetch_then(self._driver, sql, params, seen, quick=quick))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._timed([sql], self._driver.executemany(sql, rows))

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        await self._timed([s for s, _ in statements], self._driver.execute_each(statements))

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        return await self._timed([s for s, _ in statements], self._driver.batch(statements))

    def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AbstractAsyncContextManager[None]:
        return self._driver.transaction(mode)

    async def close(self) -> None:
        await self._driver.close()

    async def __aenter__(self) -> MonitoredDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
