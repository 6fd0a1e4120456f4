"""A driver wrapper that reports every statement to an observer (a
:class:`~edgedb_opt.runtime.monitor.Monitor`, which exports it).

It knows the monitor only through the small :class:`StatementObserver` protocol, so the
monitor imports this module and not the other way round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from edgedb_opt.drivers.base import Driver, FollowUp, Params, Row, Statements, fetch_then
from edgedb_opt.drivers.wrapper import DriverWrapper

__all__ = ["MonitoredDriver", "StatementObserver"]

T = TypeVar("T")


class StatementObserver(Protocol):
    """What :class:`MonitoredDriver` reports to (``Monitor`` is one)."""

    @property
    def timer(self) -> Callable[[], float]:
        """The clock statements are timed with."""
        ...

    def observe(self, sql: str, seconds: float, *, error: BaseException | None = None) -> None:
        """One statement ran (or failed) in ``seconds``."""
        ...

    def observe_batch(
        self, statements: Sequence[str], seconds: float, *, error: BaseException | None = None
    ) -> None:
        """The statements of one round trip ran (or failed) in ``seconds`` together."""
        ...


class MonitoredDriver(DriverWrapper):
    """A :class:`~edgedb_opt.drivers.base.Driver` that reports every statement it runs to a
    monitor, timed with the monitor's ``timer``; everything else passes through.

    ``executemany`` counts as one statement run, ``batch`` and ``execute_each`` as one round
    trip of their statements (see ``Monitor.observe_batch``). The wrapped driver owns the
    connection: closing this closes it.
    """

    def __init__(self, driver: Driver, monitor: StatementObserver) -> None:
        super().__init__(driver)
        self.monitor = monitor

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
        return await self._timed([sql], self.inner.execute(sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._timed([sql], self.inner.fetch_all(sql, params))

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """The pair in one round trip where the wrapped driver can (one observation of both:
        ``seen.sql`` gains the second statement while the call runs)."""
        seen = Statements(sql, then)
        return await self._timed(seen.sql, fetch_then(self.inner, sql, params, seen, quick=quick))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._timed([sql], self.inner.executemany(sql, rows))

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        await self._timed([s for s, _ in statements], self.inner.execute_each(statements))

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        return await self._timed([s for s, _ in statements], self.inner.batch(statements))
