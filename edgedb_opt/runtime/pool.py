"""Bounded connection pools: the concurrency model (docs/architecture.md) made explicit.

A SQLite file gets :class:`LocalPool`: exactly one writer connection, which writes queue for
(``BEGIN IMMEDIATE`` inside it, so a transaction never upgrades a read lock and deadlocks),
plus N read-only reader connections that WAL lets run beside the writer. Because no two
connections of the process ever compete for the write lock, a burst of tasks queues in
Python instead of failing with "database is locked".

A remote endpoint (an embedded replica, a libsql-client URL, a Turso-engine file) gets
:class:`EndpointPool`: one kept-alive driver shared by at most ``max_in_flight`` requests at
a time, reopened when it sat idle longer than ``recycle_after`` (set it below the server's
idle timeout so a request never meets a connection the server already dropped).

Every wait is bounded: past ``timeout`` an acquire raises :class:`PoolTimeout` whose message
shows the pool's state. :meth:`stats` feeds ``edgeopt health`` and the Prometheus export.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

from edgedb_opt.drivers.base import Capabilities, Driver
from edgedb_opt.drivers.sqlite_driver import RUNTIME_PRAGMAS, SqliteDriver
from edgedb_opt.errors import ConfigError, DriverError, PoolTimeout
from edgedb_opt.runtime.stats import percentile

__all__ = ["EndpointPool", "LocalPool", "Percentiles", "Pool", "PoolStats"]

Timer = Callable[[], float]
T = TypeVar("T")
_SAMPLES = 2048  # recent waits kept for percentiles: bounded memory, recent behaviour


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds at p50/p95/p99 and the maximum over the recent samples."""

    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    count: int = 0

    @classmethod
    def of(cls, seconds: deque[float]) -> Percentiles:
        """Nearest-rank percentiles of ``seconds``, in milliseconds.

        >>> Percentiles.of(deque([0.001 * i for i in range(1, 101)])).p95
        95.0
        """
        if not seconds:
            return cls()
        ordered = sorted(seconds)

        def ms(q: float) -> float:
            return round(percentile(ordered, q) * 1000, 3)

        return cls(ms(50), ms(95), ms(99), ms(100), len(ordered))


@dataclass(frozen=True)
class PoolStats:
    """A pool's state at one moment (counts) and its recent waits (percentiles)."""

    target: str
    kind: str
    size: int
    in_use: int
    waiting: int
    acquired: int
    timeouts: int
    wait_ms: Percentiles
    writer_busy: bool = False
    writer_queue: int = 0
    lock_hold_ms: Percentiles = Percentiles()
    recycled: int = 0

    @property
    def saturation(self) -> float:
        """In-use share of the pool's capacity (1.0 = every connection busy)."""
        return round(self.in_use / self.size, 3) if self.size else 0.0


class Pool:
    """What :class:`~edgedb_opt.runtime.database.EdgeDatabase` needs of a pool (both kinds)."""

    target: str
    capabilities: Capabilities

    def reader(
        self, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[Driver]:
        raise NotImplementedError

    def writer(
        self, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[Driver]:
        raise NotImplementedError

    def stats(self) -> PoolStats:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def _check(timeout: float, size: int, what: str) -> None:
    if size < 1:
        raise ConfigError(f"{what} must be at least 1, not {size}")
    if not timeout > 0:
        raise ConfigError(f"pool timeout must be positive, not {timeout}")


class LocalPool(Pool):
    """One writer and ``readers`` read-only connections to one SQLite file (WAL)."""

    def __init__(
        self,
        path: Path,
        writer: SqliteDriver,
        readers: list[SqliteDriver],
        timeout: float,
        timer: Timer,
    ) -> None:
        self.target = str(path)
        self.capabilities = writer.capabilities
        self.timeout = timeout
        self._timer = timer
        self._writer = writer
        self._writer_lock = asyncio.Lock()
        self._all_readers = list(readers)
        self._idle: asyncio.Queue[SqliteDriver] = asyncio.Queue()
        for r in readers:
            self._idle.put_nowait(r)
        self._waiting = {"reader": 0, "writer": 0}
        self._acquired = self._timeouts = 0
        self._waits: deque[float] = deque(maxlen=_SAMPLES)
        self._holds: deque[float] = deque(maxlen=_SAMPLES)
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        readers: int = 4,
        timeout: float = 5.0,
        busy_timeout_ms: int = 5000,
        pragmas: Mapping[str, str | int] = RUNTIME_PRAGMAS,
        must_exist: bool = False,
        timer: Timer = time.perf_counter,
    ) -> LocalPool:
        """Open the writer (which creates the file and turns WAL on), then the readers.

        ``pragmas={}`` leaves the file's settings as they are (``edgeopt health`` looks at
        them); the writer then does not run ``PRAGMA optimize`` on close either.

        Raises:
            ConfigError: ``readers`` < 1 or ``timeout`` <= 0.
            DriverError: the file cannot be opened as a SQLite database.
        """
        _check(timeout, readers, "readers")
        writer = await SqliteDriver.open(
            path,
            busy_timeout_ms=busy_timeout_ms,
            pragmas=pragmas,
            must_exist=must_exist,
            optimize_on_close=bool(pragmas),
        )
        opened: list[SqliteDriver] = []
        try:
            # journal_mode belongs to the file (the writer set it); readers only tune themselves.
            reader_pragmas = {k: v for k, v in pragmas.items() if k != "journal_mode"}
            for _ in range(readers):
                opened.append(
                    await SqliteDriver.open(
                        path,
                        read_only=True,
                        busy_timeout_ms=busy_timeout_ms,
                        pragmas=reader_pragmas,
                    )
                )
        except BaseException:
            for d in [*opened, writer]:
                await d.close()
            raise
        return cls(Path(path), writer, opened, timeout, timer)

    def _state(self) -> str:
        s = self.stats()
        return (
            f"{s.in_use - int(s.writer_busy)} of {s.size - 1} readers in use, "
            f"{self._waiting['reader']} waiting; writer {'busy' if s.writer_busy else 'idle'}, "
            f"{s.writer_queue} queued"
        )

    def _timed_out(self, what: str, timeout: float) -> PoolTimeout:
        self._timeouts += 1
        return PoolTimeout(f"no {what} of {self.target} free after {timeout:g} s ({self._state()})")

    def _check_open(self) -> None:
        if self._closed:
            raise DriverError(f"the pool for {self.target} is closed")

    async def _wait(self, what: str, timeout: float | None, get: Callable[[], Awaitable[T]]) -> T:
        """Await ``get`` (a free reader, the writer lock) for at most the pool's timeout,
        counting the task as waiting meanwhile and recording how long it waited."""
        self._check_open()
        limit = self.timeout if timeout is None else timeout
        start = self._timer()
        self._waiting[what] += 1
        try:
            async with asyncio.timeout(limit):
                got = await get()
        except TimeoutError:
            raise self._timed_out(what, limit) from None
        finally:
            self._waiting[what] -= 1
        self._acquired += 1
        self._waits.append(self._timer() - start)
        return got

    @asynccontextmanager
    async def reader(self, timeout: float | None = None) -> AsyncIterator[Driver]:
        """A read-only connection for one request; waits at most ``timeout`` seconds."""
        conn = await self._wait("reader", timeout, self._idle.get)
        try:
            yield conn
        finally:
            self._idle.put_nowait(conn)

    @asynccontextmanager
    async def writer(self, timeout: float | None = None) -> AsyncIterator[Driver]:
        """The one writer connection, held exclusively; the hold time is measured."""
        await self._wait("writer", timeout, self._writer_lock.acquire)
        got = self._timer()
        try:
            yield self._writer
        finally:
            self._holds.append(self._timer() - got)
            self._writer_lock.release()

    def stats(self) -> PoolStats:
        readers_busy = len(self._all_readers) - self._idle.qsize()
        busy = self._writer_lock.locked()
        return PoolStats(
            target=self.target,
            kind="local",
            size=len(self._all_readers) + 1,
            in_use=readers_busy + int(busy),
            waiting=self._waiting["reader"] + self._waiting["writer"],
            acquired=self._acquired,
            timeouts=self._timeouts,
            wait_ms=Percentiles.of(self._waits),
            writer_busy=busy,
            writer_queue=self._waiting["writer"],
            lock_hold_ms=Percentiles.of(self._holds),
        )

    async def close(self) -> None:
        """Wait (up to the pool timeout) for connections in use, then close every one."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await self._writer_lock.acquire()
                while self._idle.qsize() < len(self._all_readers):
                    await asyncio.sleep(0.005)
        errors: list[DriverError] = []
        for d in [self._writer, *self._all_readers]:
            try:
                await d.close()
            except DriverError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class EndpointPool(Pool):
    """At most ``max_in_flight`` requests at once over one kept-alive driver."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[Driver]],
        driver: Driver,
        *,
        max_in_flight: int,
        timeout: float,
        recycle_after: float | None,
        timer: Timer,
    ) -> None:
        self._opener = opener
        self._driver = driver
        self.target = driver.target
        self.capabilities = driver.capabilities
        self.size = max_in_flight
        self.timeout = timeout
        self.recycle_after = recycle_after
        self._timer = timer
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_use = self._waiting = self._acquired = self._timeouts = self._recycled = 0
        self._last_used = timer()
        self._reopen = asyncio.Lock()
        self._waits: deque[float] = deque(maxlen=_SAMPLES)
        self._closed = False

    @classmethod
    async def open(
        cls,
        opener: Callable[[], Awaitable[Driver]],
        *,
        max_in_flight: int = 16,
        timeout: float = 5.0,
        recycle_after: float | None = 240.0,
        timer: Timer = time.monotonic,
    ) -> EndpointPool:
        """Open the endpoint's driver with ``opener`` (called again on each recycle).

        ``recycle_after`` (seconds idle, None for never) should sit below the server's idle
        timeout; Turso's and sqld's close idle streams after a few minutes.
        """
        _check(timeout, max_in_flight, "max_in_flight")
        driver = await opener()
        return cls(
            opener,
            driver,
            max_in_flight=max_in_flight,
            timeout=timeout,
            recycle_after=recycle_after,
            timer=timer,
        )

    @property
    def driver(self) -> Driver:
        """The current kept-alive driver (replaced on recycle)."""
        return self._driver

    async def _maybe_recycle(self) -> None:
        if self.recycle_after is None or self._timer() - self._last_used < self.recycle_after:
            return
        async with self._reopen:
            # Only the first waiter reopens, and only while no request uses the old driver.
            if self._in_use == 1 and self._timer() - self._last_used >= self.recycle_after:
                old, self._driver = self._driver, await self._opener()
                self._recycled += 1
                with contextlib.suppress(DriverError):
                    await old.close()

    @asynccontextmanager
    async def _slot(self, what: str, timeout: float | None) -> AsyncIterator[Driver]:
        if self._closed:
            raise DriverError(f"the pool for {self.target} is closed")
        limit = self.timeout if timeout is None else timeout
        start = self._timer()
        self._waiting += 1
        try:
            async with asyncio.timeout(limit):
                await self._slots.acquire()
        except TimeoutError:
            self._timeouts += 1
            raise PoolTimeout(
                f"no {what} slot for {self.target} free after {limit:g} s ({self._in_use} of "
                f"{self.size} requests in flight, {self._waiting - 1} more waiting)"
            ) from None
        finally:
            self._waiting -= 1
        self._in_use += 1
        self._acquired += 1
        self._waits.append(self._timer() - start)
        try:
            await self._maybe_recycle()
            yield self._driver
        finally:
            self._in_use -= 1
            self._last_used = self._timer()
            self._slots.release()

    def reader(
        self, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[Driver]:
        """One in-flight request slot on the shared driver."""
        return self._slot("request", timeout)

    def writer(
        self, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[Driver]:
        """Like :meth:`reader`: the driver serializes transactions on its connection itself."""
        return self._slot("request", timeout)

    def stats(self) -> PoolStats:
        return PoolStats(
            target=self.target,
            kind="endpoint",
            size=self.size,
            in_use=self._in_use,
            waiting=self._waiting,
            acquired=self._acquired,
            timeouts=self._timeouts,
            wait_ms=Percentiles.of(self._waits),
            recycled=self._recycled,
        )

    async def close(self) -> None:
        """Wait (up to the pool timeout) for requests in flight, then close the driver."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                while self._in_use:
                    await asyncio.sleep(0.005)
        await self._driver.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
