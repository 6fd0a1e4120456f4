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
``transaction()`` use the transaction's connection. Across requests, when regions are
embedded replicas, each write moves this process's position (``runtime.consistency``) and
hands the request a token; a request that brings it back (cookie or header) is served by a
region only once that region's replica holds the position: else after one bounded pull
(``read_wait_s``), else by the primary.

Replicas stay up: a replica that cannot reach its server keeps serving reads while its last
pull is at most ``max_staleness_s`` old (the request scope reports how stale); writes commit to
the primary's replica and are pushed once the server is back (none lost, none duplicated).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

from cachetools import LRUCache

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
from edgedb_opt.errors import ConfigError, DriverError, PoolTimeout, UnavailableError
from edgedb_opt.rewrite.cache import RewritingDriver
from edgedb_opt.runtime import consistency
from edgedb_opt.runtime.cache import QueryCache
from edgedb_opt.runtime.consistency import Position, RequestScope
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
from edgedb_opt.schema import app_tables
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter

__all__ = ["EdgeDatabase", "RegionHealth", "RequestView"]

log = logging.getLogger(__name__)
#: Seconds between two pulls of one region made for requests' tokens.
_PULL_GAP = 0.1
T = TypeVar("T")

#: The connection a task's open transaction runs on (reads and writes of that task go there).
_TX: contextvars.ContextVar[Driver | None] = contextvars.ContextVar("edgeopt_tx", default=None)


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


def _check_fresh(conn: Driver, max_staleness: float) -> float | None:
    """Refuse a replica that cannot sync and whose last pull is older than ``max_staleness``
    seconds (the read goes to the next region); return its lag while it cannot sync."""
    error = sync_error(conn)
    if not error or not isinstance(conn, SupportsSync):
        return None
    lag = conn.sync_stats().lag_seconds
    if lag is None or lag > max_staleness:
        age = "never pulled" if lag is None else f"last pull {lag:.1f} s ago"
        raise UnavailableError(
            f"{conn.target} cannot sync ({age}, more than {max_staleness:g} s): {error}"
        )
    return lag


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
        #: This process's id among the writers of the database, and its last committed
        #: position (see ``runtime.consistency``); kept only when some region is a replica.
        self.writer_id = consistency.new_writer_id()
        self.position = 0
        self._assigned = 0
        self.positions_on = settings.consistency_tokens and bool(self.replicas())
        self._table_ready = False
        self._seen: LRUCache[tuple[str, str], tuple[int, int]] = LRUCache(1024)
        self._pulling: dict[str, asyncio.Future[bool]] = {}
        self._pulled_at: dict[str, float] = {}
        if self.positions_on and cache is not None:
            cache.positions = self
        #: Replica regions that came up with no tables of the application (see ``connect``).
        self.empty_replicas: list[str] = []
        self._study: dict[str, tuple[dict[str, Any], StudyQueries]] = {}
        self._answers: AnswerWriter | None = None

    @classmethod
    def connect(
        cls,
        settings: Settings | None = None,
        *,
        health_interval: float | None = None,
        must_exist: bool = True,
        tune: bool = True,
        **overrides: Any,
    ) -> Opening[Self]:
        """Open a pool for every configured region; await the result or enter it.

        Args:
            settings: the settings; by default read from ``EDGEOPT_*`` variables, with
                ``overrides`` (field names of :class:`Settings`) on top.
            health_interval: seconds between background region checks (None: no background
                task; :meth:`check_regions` runs them on demand).
            must_exist: refuse to create a missing database file (the default: an app that
                mistypes a path must fail, not serve an empty database; pass False to
                create one).
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
        must_exist: bool = True,
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
        await db._warn_empty_replicas()
        return db

    async def _warn_empty_replicas(self) -> None:
        """Say so when a replica came up with no tables: its server serves an empty
        database (a server started on a file that was filled beside it, not through the
        sync protocol, serves none of that file's tables)."""
        self.empty_replicas = []
        for name, conn in self.replicas().items():
            with contextlib.suppress(DriverError):
                if not await app_tables(conn):  # the engine's own tables do not count
                    self.empty_replicas.append(name)
                    log.warning(
                        "region %s: the replica of %s has no tables: its server serves an empty"
                        " database (was it started on a file filled without the sync server?"
                        " seed through a replica: edgeopt init/seed with EDGEOPT_DB=<url>)",
                        name,
                        conn.target,
                    )

    def for_request(self, headers: Mapping[str, str]) -> RequestView:
        """A view of this database whose reads go to the region nearest the request's
        country header (``CF-IPCountry``, ``X-Vercel-IP-Country``, ...) and reach the
        position of the request's token (``X-Edgeopt-Position`` header or cookie); shares
        every pool, and closing it leaves them open. ``view.scope.response_headers()`` gives
        the headers to answer with (the new token after a write)."""
        return RequestView(self, region_for_request(self.settings, headers), self.scope(headers))

    def scope(self, headers: Mapping[str, str]) -> RequestScope:
        """The :class:`~edgedb_opt.runtime.consistency.RequestScope` of a request: its region
        and the position its token asks for. Enter it with ``consistency.scoped(scope)``
        (the ASGI middleware does) so every read of the request honours it."""
        return RequestScope(
            region=region_for_request(self.settings, headers),
            required=consistency.token_from_headers(headers) if self.positions_on else None,
        )

    def replicas(self) -> dict[str, Driver]:
        """The regions that are embedded replicas, each with its current driver (it syncs:
        ``isinstance(driver, SupportsSync)``), in configuration order."""
        return {
            name: pool.driver
            for name, pool in self.pools.items()
            if isinstance(pool, EndpointPool) and isinstance(pool.driver, SupportsSync)
        }

    # -- the study flow, kept ----------------------------------------------------------------
    def study(self, region: str | None = None, **options: Any) -> StudyQueries:
        """The :class:`~edgedb_opt.study.queries.StudyQueries` of ``region`` (default: the
        current request's, else this database's), made on first use and kept, on this
        database's cache: it keeps per-bank state between requests, so a pick costs a
        fraction of a fresh one's. Reads go to that region and honour the request scope
        (its read-your-writes token). ``options`` (variant, pick_ttl, board_ttl, limits,
        ...) are fixed on first use; different ones later raise ConfigError."""
        if region is None:
            scope = consistency.current_scope()
            region = scope.region if scope is not None and scope.region else self.region
        name = self.settings.get_region(region).name
        kept = self._study.get(name)
        if kept is None:
            queries = StudyQueries(RequestView(self, name), cache=self.cache, **options)
            self._study[name] = (options, queries)
            return queries
        if options and options != kept[0]:
            raise ConfigError(
                f"study({name!r}) was first made with {kept[0]!r}; options cannot change"
            )
        return kept[1]

    def answers(self) -> AnswerWriter:
        """The database's :class:`~edgedb_opt.study.writer.AnswerWriter`, made on first use
        and kept (invalidating this database's cache): concurrent requests that record
        through it share transactions."""
        if self._answers is None:
            self._answers = AnswerWriter(self, cache=self.cache)
        return self._answers

    @contextlib.contextmanager
    def request(self, headers: Mapping[str, str]) -> Iterator[RequestScope]:
        """Run the block as one request: ``with db.request(headers) as scope:``. Its reads
        start in the request's region and reach its token; ``scope.response_headers()``
        afterwards gives the headers to answer with."""
        with consistency.scoped(self.scope(headers)) as scope:
            yield scope

    # -- positions (read-your-writes across requests) -------------------------------------
    def current(self) -> int | None:
        """This process's last committed write position (None: positions are off)."""
        return self.position if self.positions_on else None

    def required(self) -> int:
        """The position of this process's writes the current request (else the current
        context, after its own writes) must read at."""
        need = consistency.needed()
        return need.n if need is not None and need.writer == self.writer_id else 0

    async def _ensure_table(self, conn: Driver) -> None:
        if not self._table_ready:
            await conn.execute(consistency.CREATE_TABLE)
            self._table_ready = True

    def _next_position(self) -> int:
        self._assigned += 1
        return self._assigned

    async def _bump(self, conn: Driver, n: int) -> None:
        """Write position ``n`` of this process (never lowering the stored one)."""
        await conn.execute(
            consistency.BUMP_MAX, (self.writer_id, n, int(time.time()), self.writer_id)
        )

    def _committed(self, n: int) -> None:
        self.position = max(self.position, n)
        consistency.note_written(Position(self.writer_id, n))

    async def _position_in(self, name: str, conn: Driver, writer: str) -> int | None:
        """Where region ``name``'s connection stands in ``writer``'s sequence of commits
        (None: current, because it is where that writer writes or is not a replica)."""
        if not isinstance(conn, SupportsSync):
            return None
        if name == self._primary and writer == self.writer_id:
            return None
        pulls = conn.sync_stats().pulls
        cached = self._seen.get((name, writer))
        if cached is not None and cached[0] == pulls:
            return cached[1]
        try:
            rows = await conn.fetch_all(consistency.READ, (writer,))
        except DriverError:
            rows = []  # no table yet: this replica has pulled no write of any writer
        n = int(rows[0][0]) if rows else 0
        self._seen[name, writer] = (pulls, n)
        return n

    async def _pull_once(self, name: str, conn: Driver) -> None:
        """Pull ``conn`` (concurrent callers share one pull), waiting at most
        ``read_wait_s``; failures are the replica's own business (recorded there)."""
        if not isinstance(conn, SupportsSync) or self.settings.read_wait_s <= 0:
            return
        task = self._pulling.get(name)
        if task is None or task.done():
            # At most one pull per region per _PULL_GAP for tokens, however many arrive:
            # a pull holds the replica's connection, and a client can send any token.
            now = self._timer()
            if now - self._pulled_at.get(name, -_PULL_GAP) < _PULL_GAP:
                return
            self._pulled_at[name] = now
            task = self._pulling[name] = asyncio.ensure_future(conn.pull())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        with contextlib.suppress(TimeoutError, DriverError):
            await asyncio.wait_for(asyncio.shield(task), self.settings.read_wait_s)

    async def _reached(self, name: str, conn: Driver, need: Position) -> bool:
        have = await self._position_in(name, conn, need.writer)
        if have is None or have >= need.n:
            return True
        await self._pull_once(name, conn)
        have = await self._position_in(name, conn, need.writer)
        return have is None or have >= need.n

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
        scope = consistency.current_scope()
        need = consistency.needed() if self.positions_on else None
        if need is not None and self._primary in order:
            # The primary is the fallback of a region short of the request's position.
            order = [n for n in order if n != self._primary]
            order.insert(1, self._primary)
        last: BaseException | None = None
        for index, name in enumerate(order):
            pool = self.pools.get(name)
            if pool is None:
                continue
            started = time.perf_counter()
            try:
                async with pool.reader() as conn:
                    lag = _check_fresh(conn, self.settings.max_staleness_s)
                    if (
                        need is not None
                        and not (name == self._primary and need.writer == self.writer_id)
                        and not await self._reached(name, conn, need)
                        # This process's position is held by the primary: a region short of
                        # it never serves. Another process's is a hint: the last region
                        # serves what it has.
                        and (need.writer == self.writer_id or index < len(order) - 1)
                    ):
                        if order[index + 1 : index + 2] == [self._primary] and scope:
                            scope.primary_reads += 1
                        continue
                    if self.positions_on:
                        consistency.saw_position(
                            await self._position_in(name, conn, self.writer_id)
                        )
                    if lag is not None and scope is not None:
                        scope.served_stale(lag)
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
        if need is not None and last is None:
            raise UnavailableError(
                f"no region holds this request's writes yet (position {need.token()};"
                f" tried {', '.join(order)}): the primary did not answer"
            )
        raise UnavailableError(
            f"no region could serve the read (tried {', '.join(order) or 'none'}): {last}"
        )

    def _read_order(self, region: str) -> list[str]:
        if consistency.primary_until() >= self._timer():
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

    async def _write(self, run: Callable[[Driver], Awaitable[T]], sql: str | list[str]) -> T:
        """``run`` on the primary's writer (or this task's transaction); then, outside a
        transaction, move this process's position past it."""
        self._check_open()
        tx = _TX.get()
        if tx is not None:
            return await self._timed(run(tx), sql)  # the transaction moves it at commit
        async with self.pools[self._primary].writer() as conn:
            if self.positions_on:
                await self._ensure_table(conn)
            result = await self._timed(run(conn), sql)
            if self.positions_on:
                n = self._next_position()  # after the commit: its position covers it
                await self._bump(conn, n)
                self._committed(n)
        consistency.read_primary_until(self._timer() + self.settings.read_your_writes_s)
        return result

    async def execute(self, sql: str, params: Params = (), *, rewrite: bool = False) -> int:
        """Run one statement on the primary's writer; return the rows it changed."""
        sql = await self._sql(sql, rewrite)
        return await self._write(lambda conn: conn.execute(sql, params), sql)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._write(lambda conn: conn.executemany(sql, rows), sql)

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        statements = list(statements)
        await self._write(lambda conn: conn.execute_each(statements), [s for s, _ in statements])

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        statements = list(statements)
        return await self._write(lambda conn: conn.batch(statements), [s for s, _ in statements])

    @asynccontextmanager
    async def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AsyncIterator[None]:
        """One transaction on the primary's writer; this task's statements run inside it.

        With replicas, the transaction also writes this process's next position, so a
        replica holding that position holds the whole transaction."""
        if _TX.get() is not None:
            raise DriverError("a transaction is already open in this task (no nesting)")
        self._check_open()
        n = 0
        async with self.pools[self._primary].writer() as conn:
            if self.positions_on:
                await self._ensure_table(conn)
            async with conn.transaction(mode):
                token = _TX.set(conn)
                try:
                    yield
                finally:
                    _TX.reset(token)
                if self.positions_on:
                    n = self._next_position()
                    await self._bump(conn, n)
            if n:
                self._committed(n)
        consistency.read_primary_until(self._timer() + self.settings.read_your_writes_s)

    def last_written(self) -> Position | None:
        """The position of the last write made in this context (task and its callers), if
        positions are kept: the token to hand to the client."""
        return consistency.last_written()

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
        state = None
        try:
            async with pool.reader(timeout) as conn:
                async with asyncio.timeout(timeout):
                    await conn.fetch_all("SELECT 1")
                    if isinstance(conn, SupportsSync):  # a replica: its server must answer too
                        state = conn.sync_stats()
                        with contextlib.suppress(DriverError):  # recorded in its stats
                            await conn.pull()
                        state = conn.sync_stats()
        except (DriverError, PoolTimeout, TimeoutError) as exc:
            reason = str(exc) or "timed out"
            self.router.mark_unhealthy(name, reason)
            lag = state.lag_seconds if state is not None else None
            return RegionHealth(name, False, None, reason, lag)
        elapsed = time.perf_counter() - started
        lag = state.lag_seconds if state is not None else None
        error = state.last_error if state is not None else None
        if error:
            # Out of rotation while a region in sync can serve; still serving as a last
            # resort while its data is younger than max_staleness_s.
            bound = self.settings.max_staleness_s
            serving = lag is not None and lag <= bound
            detail = (
                f"sync failing, serving reads up to {bound:g} s stale: {error}"
                if serving
                else f"sync: {error}"
            )
            self.router.mark_unhealthy(name, f"sync failing: {error}")
            return RegionHealth(name, False, round(elapsed * 1000, 3), detail, lag)
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
