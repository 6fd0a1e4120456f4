"""`EdgeDatabase`: what an edge handler imports, and itself a :class:`Driver`.

It composes the runtime layer: one pool per region (:mod:`edgedb_opt.runtime.pool`), the region
router (:mod:`edgedb_opt.runtime.regions`: reads to the local region, writes to the primary,
failover to the next-nearest healthy region), the query cache (:mod:`edgedb_opt.runtime.cache`) and
statement monitoring (:mod:`edgedb_opt.runtime.monitor`). Because it offers the ``Driver`` surface,
``StudyQueries``, ``AnswerWriter`` and ``Migrator`` run on it unchanged.

Lifetimes, as aiosqlite's: ``EdgeDatabase.connect(...)`` can be awaited or entered directly
(``async with EdgeDatabase.connect(settings) as db``); :meth:`EdgeDatabase.for_request`
returns a :class:`RequestView` that reads in the request's region and shares every pool, but
whose ``close()`` closes only the view.

Consistency (read-your-writes): a task that wrote reads from the primary region for
``read_your_writes_s`` seconds afterwards (the context, so the tasks it starts too), so a
request never misses its own write while another region's replica catches up. Reads inside
``transaction()`` use the transaction's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

from edgedb_opt.drivers import open_driver, parse_target
from edgedb_opt.drivers._lifecycle import Opening
from edgedb_opt.drivers.base import (
    Capabilities,
    Driver,
    FollowUp,
    Params,
    Row,
    Statements,
    SupportsSync,
    TransactionMode,
    fetch_then,
    sync_error,
)
from edgedb_opt.drivers.sqlite_driver import RUNTIME_PRAGMAS
from edgedb_opt.errors import DriverError, PoolTimeout, UnavailableError
from edgedb_opt.rewrite.cache import RewritingDriver
from edgedb_opt.runtime.cache import QueryCache
from edgedb_opt.runtime.monitor import Monitor
from edgedb_opt.runtime.pool import EndpointPool, LocalPool, Pool
from edgedb_opt.runtime.regions import (
    RegionRouter,
    RegionSettings,
    Settings,
    load_settings,
    local_region,
    region_for_request,
)
from edgedb_opt.runtime.view import RequestView, ViewedDatabase

__all__ = ["EdgeDatabase", "RegionHealth", "RequestView"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The connection a task's open transaction runs on (reads and writes of that task go there).
_TX: contextvars.ContextVar[Driver | None] = contextvars.ContextVar("edgeopt_tx", default=None)
#: Until when (timer seconds) this context reads from the primary after its last write.
_WROTE: contextvars.ContextVar[float] = contextvars.ContextVar("edgeopt_wrote", default=-1.0)


@dataclass(frozen=True)
class RegionHealth:
    """One region's check: reachable, latency of ``SELECT 1``, replica lag when it syncs."""

    region: str
    ok: bool
    latency_ms: float | None
    detail: str = ""
    lag_s: float | None = None


async def _open_pool(
    settings: Settings, region: RegionSettings, *, must_exist: bool, tune: bool
) -> Pool:
    kind, where = parse_target(region.url)
    if kind == "sqlite" and settings.driver in (None, "sqlite"):
        return await LocalPool.open(
            where,
            readers=settings.readers,
            timeout=settings.pool_timeout,
            busy_timeout_ms=settings.busy_timeout_ms,
            pragmas=RUNTIME_PRAGMAS if tune else {},
            must_exist=must_exist,
        )
    token = region.auth_token.get_secret_value() if region.auth_token else None

    async def opener() -> Driver:
        return await open_driver(
            region.url,
            driver=settings.driver,
            replica=region.replica_path,
            auth_token=token,
            busy_timeout_ms=settings.busy_timeout_ms,
            must_exist=must_exist,
            sync_interval=region.sync_interval,
        )

    return await EndpointPool.open(
        opener, max_in_flight=settings.max_in_flight, timeout=settings.pool_timeout
    )


def _check_synced(conn: Driver) -> None:
    """Refuse a replica whose last sync failed: its server is unreachable, so its data may
    be stale; the read goes to the next region until a background sync succeeds again."""
    error = sync_error(conn)
    if error:
        raise UnavailableError(f"{conn.target} cannot sync: {error}")


class EdgeDatabase:
    """Pools per region behind one ``Driver``; see the module docstring.

    Open with :meth:`connect` (``async with EdgeDatabase.connect(...) as db``, or ``await``
    it); a view bound to the region of one request comes from :meth:`for_request`.
    """

    name = "edgeopt"

    def __init__(
        self,
        settings: Settings,
        pools: Mapping[str, Pool],
        *,
        router: RegionRouter,
        cache: QueryCache | None,
        monitor: Monitor,
        region: str,
        timer: Any = time.monotonic,
    ) -> None:
        self.settings = settings
        self.pools = dict(pools)
        self.router = router
        self.cache = cache
        self.monitor = monitor
        self.region = region
        self._timer = timer
        self._primary = router.write_region()
        self._rewriter: RewritingDriver | None = None  # built on the first rewrite=True
        self._health_task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def connect(
        cls,
        settings: Settings | None = None,
        *,
        health_interval: float | None = None,
        must_exist: bool = False,
        tune: bool = True,
        **overrides: Any,
    ) -> Opening[Self]:
        """Open a pool for every configured region; await the result or enter it.

        Args:
            settings: the settings; by default read from ``EDGEOPT_*`` variables, with
                ``overrides`` (field names of :class:`Settings`) on top.
            health_interval: seconds between background region checks (None: no background
                task; :meth:`check_regions` runs them on demand).
            must_exist: refuse to create a missing database file.
            tune: set the runtime pragmas on local files (WAL, synchronous=NORMAL, cache,
                mmap). ``edgeopt health`` passes False to report the file as it is.
        Returns:
            An :class:`~edgedb_opt.drivers.Opening`: ``await`` it for the database, or use it
            in ``async with`` to close the database on the way out.
        Raises:
            ConfigError: invalid settings. DriverError: the primary region cannot be opened.
        """
        return Opening(
            lambda: cls._open(
                settings,
                health_interval=health_interval,
                must_exist=must_exist,
                tune=tune,
                **overrides,
            )
        )

    @classmethod
    async def _open(
        cls,
        settings: Settings | None = None,
        *,
        health_interval: float | None = None,
        must_exist: bool = False,
        tune: bool = True,
        **overrides: Any,
    ) -> Self:
        settings = settings or load_settings(**overrides)
        router = RegionRouter(settings)
        pools: dict[str, Pool] = {}
        try:
            for region in settings.all_regions():
                try:
                    pools[region.name] = await _open_pool(
                        settings, region, must_exist=must_exist, tune=tune
                    )
                except DriverError as exc:
                    if region.name == router.write_region():
                        raise
                    router.mark_unhealthy(region.name, f"cannot open: {exc}")
        except BaseException:
            for pool in pools.values():
                await pool.close()
            raise
        cache = (
            QueryCache(settings.cache_maxsize, settings.cache_ttl)
            if settings.cache_enabled
            else None
        )
        monitor = Monitor(
            slow_ms=settings.slow_ms, n_plus_one_threshold=settings.n_plus_one_threshold
        )
        db = cls(
            settings,
            pools,
            router=router,
            cache=cache,
            monitor=monitor,
            region=local_region(settings),
        )
        if health_interval is not None:
            db._health_task = asyncio.create_task(db._check_forever(health_interval))
        return db

    def for_request(self, headers: Mapping[str, str]) -> RequestView:
        """A view of this database whose reads go to the region nearest the request's
        country header (``CF-IPCountry``, ``X-Vercel-IP-Country``, ...); shares every pool,
        and closing it leaves them open."""
        return RequestView(self, region_for_request(self.settings, headers))

    # -- the Driver surface -------------------------------------------------------------
    @property
    def target(self) -> str:
        return self.pools[self._primary].target

    @property
    def capabilities(self) -> Capabilities:
        return self.pools[self._primary].capabilities

    @property
    def in_transaction(self) -> bool:
        return _TX.get() is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise DriverError("this EdgeDatabase is closed")

    async def _sql(self, sql: str, rewrite: bool) -> str:
        if not rewrite:
            return sql
        if self._rewriter is None:
            self._rewriter = await RewritingDriver.wrap(self)
        return self._rewriter.rewritten(sql)  # as given (logged once) when it cannot parse

    def _observe(
        self, sql: str | list[str], started: float, error: BaseException | None = None
    ) -> None:
        """Report one statement, or the statements of one round trip, to the monitor."""
        elapsed = time.perf_counter() - started
        if isinstance(sql, str):
            self.monitor.observe(sql, elapsed, error=error)
        elif len(sql) == 1:
            self.monitor.observe(sql[0], elapsed, error=error)
        else:
            self.monitor.observe_batch(sql, elapsed, error=error)

    async def fetch_all(self, sql: str, params: Params = (), *, rewrite: bool = False) -> list[Row]:
        """Run one query in this database's region (failing over to the next healthy one)."""
        return await self.fetch_all_in(self.region, sql, params, rewrite=rewrite)

    async def fetch_all_in(
        self, region: str, sql: str, params: Params = (), *, rewrite: bool = False
    ) -> list[Row]:
        """:meth:`fetch_all` with reads starting at ``region`` instead of this database's."""
        self._check_open()
        sql = await self._sql(sql, rewrite)
        tx = _TX.get()
        if tx is not None:
            return await self._timed(tx.fetch_all(sql, params), sql)
        return await self._read(region, sql, lambda conn: conn.fetch_all(sql, params))

    async def fetch_then(
        self, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """A dependent pair of queries (see :func:`~edgedb_opt.drivers.base.fetch_then`) on
        one connection of this database's region, in one round trip where its driver can."""
        return await self.fetch_then_in(self.region, sql, params, then, quick=quick)

    async def fetch_then_in(
        self, region: str, sql: str, params: Params, then: FollowUp, *, quick: bool = False
    ) -> tuple[list[Row], list[Row]]:
        """:meth:`fetch_then` with reads starting at ``region`` instead of this database's."""
        self._check_open()
        seen = Statements(sql, then)
        tx = _TX.get()
        if tx is not None:
            return await self._timed(fetch_then(tx, sql, params, seen, quick=quick), seen.sql)
        return await self._read(
            region, seen.sql, lambda conn: fetch_then(conn, sql, params, seen, quick=quick)
        )

    async def _read(
        self, region: str, sql: str | list[str], work: Callable[[Driver], Awaitable[T]]
    ) -> T:
        """``work`` on a reader of the first region in read order (from ``region``) that can
        serve it."""
        order = self._read_order(region)
        last: BaseException | None = None
        for name in order:
            pool = self.pools.get(name)
            if pool is None:
                continue
            started = time.perf_counter()
            try:
                async with pool.reader() as conn:
                    _check_synced(conn)
                    result = await work(conn)
            except (UnavailableError, PoolTimeout) as exc:
                self._observe(sql, started, exc)
                self.router.record_failure(name, str(exc))
                last = exc
                continue
            except BaseException as exc:
                self._observe(sql, started, exc)
                raise
            elapsed = time.perf_counter() - started
            self._observe(sql, started)
            self.router.record_success(name, elapsed)
            return result
        raise UnavailableError(
            f"no region could serve the read (tried {', '.join(order) or 'none'}): {last}"
        )

    def _read_order(self, region: str) -> list[str]:
        if _WROTE.get() >= self._timer():
            return [self._primary]  # read-your-writes: the region that took the write
        return list(self.router.read_order(region))

    async def _timed(self, work: Awaitable[T], sql: str | list[str]) -> T:
        started = time.perf_counter()
        try:
            result = await work
        except BaseException as exc:
            self._observe(sql, started, exc)
            raise
        self._observe(sql, started)
        return result

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[Driver]:
        self._check_open()
        tx = _TX.get()
        if tx is not None:
            yield tx
            return
        async with self.pools[self._primary].writer() as conn:
            yield conn
        _WROTE.set(self._timer() + self.settings.read_your_writes_s)

    async def execute(self, sql: str, params: Params = (), *, rewrite: bool = False) -> int:
        """Run one statement on the primary's writer; return the rows it changed."""
        sql = await self._sql(sql, rewrite)
        async with self._writer() as conn:
            return await self._timed(conn.execute(sql, params), sql)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._writer() as conn:
            await self._timed(conn.executemany(sql, rows), sql)

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        statements = list(statements)
        async with self._writer() as conn:
            await self._timed(conn.execute_each(statements), [sql for sql, _ in statements])

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        statements = list(statements)
        async with self._writer() as conn:
            return await self._timed(conn.batch(statements), [sql for sql, _ in statements])

    @asynccontextmanager
    async def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AsyncIterator[None]:
        """One transaction on the primary's writer; this task's statements run inside it."""
        if _TX.get() is not None:
            raise DriverError("a transaction is already open in this task (no nesting)")
        async with self._writer() as conn, conn.transaction(mode):
            token = _TX.set(conn)
            try:
                yield
            finally:
                _TX.reset(token)

    # -- regions ------------------------------------------------------------------------
    async def check_regions(self, timeout: float = 2.0) -> list[RegionHealth]:
        """Probe every region (``SELECT 1``, replica sync state) and tell the router."""
        out: list[RegionHealth] = []
        for name in self.settings.region_names():
            pool = self.pools.get(name)
            if pool is None:
                out.append(RegionHealth(name, False, None, "not open"))
                continue
            out.append(await self._check_region(name, pool, timeout))
        return out

    async def _check_region(self, name: str, pool: Pool, timeout: float) -> RegionHealth:
        started = time.perf_counter()
        try:
            async with pool.reader(timeout) as conn:
                async with asyncio.timeout(timeout):
                    await conn.fetch_all("SELECT 1")
                    if isinstance(conn, SupportsSync):  # a replica: its server must answer too
                        await conn.pull()
                state = conn.sync_stats() if isinstance(conn, SupportsSync) else None
        except (DriverError, PoolTimeout, TimeoutError) as exc:
            reason = str(exc) or "timed out"
            self.router.mark_unhealthy(name, reason)
            return RegionHealth(name, False, None, reason)
        elapsed = time.perf_counter() - started
        lag = state.lag_seconds if state is not None else None
        error = state.last_error if state is not None else None
        if error:
            self.router.mark_unhealthy(name, f"sync failing: {error}")
            return RegionHealth(name, False, round(elapsed * 1000, 3), f"sync: {error}", lag)
        self.router.mark_healthy(name)
        self.router.record_success(name, elapsed)
        return RegionHealth(name, True, round(elapsed * 1000, 3), "", lag)

    async def _check_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_regions()
            except Exception:  # a failed check must never kill the loop
                log.exception("region check failed")

    async def close(self) -> None:
        """Stop the health checks and close every pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for pool in self.pools.values():
            await pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


if TYPE_CHECKING:
    # mypy proves it still satisfies both protocols whenever either side changes.
    def _is_driver(a: EdgeDatabase) -> tuple[Driver, ViewedDatabase]:
        return a, a
