"""Local Turso-engine files through pyturso's ``turso.aio``.

Turso's engine is a rewrite of SQLite: same file format and SQL, but some modules (FTS5) are
missing, which the capability probe reports. :class:`TursoReplicaDriver` keeps such a file in
sync with a Turso sync server (an embedded replica); its sync loop lives in ``_turso_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import turso
import turso.aio
import turso.aio.sync

from edgedb_opt.drivers._dbapi import (
    PARAM_ERRORS,
    DbApiDriver,
    check_integers,
    describe_error,
    param_error,
)
from edgedb_opt.drivers._probe import probe
from edgedb_opt.drivers._turso_sync import (
    BackgroundSync,
    SyncRecord,
    SyncStats,
    default_replica_path,
    replica_files,
    sync_url,
)
from edgedb_opt.drivers.base import Capabilities, Params, Row
from edgedb_opt.drivers.sqlite_driver import check_path
from edgedb_opt.errors import ConfigError, DriverError, UnavailableError

__all__ = ["SyncStats", "TursoDriver", "TursoReplicaDriver", "turso_capabilities"]

T = TypeVar("T")


@functools.cache
def turso_capabilities() -> Capabilities:
    """Capabilities of the Turso engine bundled with pyturso (probed once)."""
    return probe(lambda: turso.connect(":memory:", isolation_level=None), (turso.Error,))


class TursoDriver(DbApiDriver):
    """One ``turso.aio`` connection to a local Turso-engine file."""

    name = "turso"
    _native_errors = (turso.Error,)

    # One hop to pyturso's worker thread per statement instead of four (cursor, execute,
    # fetchall, close): turso.aio has no public "run this on your thread" call; _run is that.
    async def _in_worker(self, sql: str, params: Params) -> tuple[list[Row], int]:
        check_integers(params)
        conn = self._conn._conn  # not self: pyturso's worker keeps its last job referenced

        def run() -> tuple[list[Row], int]:
            cur = conn.cursor()
            try:
                rows = [tuple(r) for r in cur.execute(sql, params).fetchall()]
                return rows, int(cur.rowcount) if cur.rowcount is not None else -1
            finally:
                cur.close()

        async with self._use():
            try:
                result: tuple[list[Row], int] = await self._conn._run(run)
            except turso.Error as exc:
                raise DriverError(describe_error(exc)) from exc
            except PARAM_ERRORS as exc:
                raise param_error(exc) from exc
            return result

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return (await self._in_worker(sql, params))[0]

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            _release(self._conn)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return (await self._in_worker(sql, params))[1]

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, must_exist: bool = False, read_only: bool = False
    ) -> TursoDriver:
        """Open (or create) the Turso-engine file at ``path``.

        Raises:
            DriverError: the path is unusable or not a database. ``read_only`` is refused:
                the engine has no read-only open mode yet, and pretending would be unsafe.
        """
        if read_only:
            raise DriverError("the turso driver cannot open files read-only")
        p = check_path(path, must_exist=must_exist)
        try:
            conn = await turso.aio.connect(str(p), isolation_level=None)
        except turso.Error as exc:
            raise DriverError(f"cannot open {p}: {describe_error(exc)}") from exc
        driver = cls(conn, target=f"turso:{p}", capabilities=turso_capabilities())
        try:
            await driver.fetch_all("SELECT count(*) FROM sqlite_master")
        except DriverError as exc:
            await driver.close()
            raise DriverError(f"cannot use {p} as a Turso database: {exc}") from exc
        except BaseException:
            await driver.close()
            raise
        return driver


class TursoReplicaDriver(TursoDriver):
    """An embedded replica: a local Turso-engine file that syncs with a Turso sync server.

    Every statement runs on the local file; a background task pushes local changes to the
    server and pulls the server's changes, every ``sync_interval`` seconds and right after
    each write. Each push or pull is bounded by ``sync_timeout``; a failure is recorded in
    :meth:`sync_stats` and retried on the next cycle, never raised into a request.

    Guarantees:
        * Read-your-writes in the writing region: a write is committed to the local replica
          before ``execute`` returns, and every later read through this driver sees it, before
          and after any push or pull (a pull replays unpushed local changes on top of the
          server's). It reaches the server with the next push; ``await push()`` waits for that.
        * Other regions see it after the writer's push and their own pull: within about two
          sync intervals while the server is up, at once after ``push()`` here and ``pull()``
          there.
        * A write acknowledged here is kept in the local file until a push succeeds, and a push
          retried after a failure does not duplicate it.
        * Conflicts: two regions that write the same row (same rowid or key) before syncing
          are settled by the later push. Write through one region (the primary) or use keys
          that cannot collide.

    Sync steps share pyturso's one connection worker with statements, so a request can wait
    behind a running push or pull (milliseconds on a healthy server; at most ``sync_timeout``).
    """

    name = "turso-replica"

    def __init__(
        self,
        conn: Any,
        *,
        target: str,
        replica_path: Path,
        read_only: bool,
        sync_interval: float | None,
        sync_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(conn, target=target, capabilities=turso_capabilities())
        self.replica_path = replica_path
        self.read_only = read_only
        self._sync_timeout = sync_timeout
        self._record = SyncRecord(clock=clock)
        self._sync_lock = asyncio.Lock()
        # A sync step that outlived its timeout keeps pyturso's worker busy; no new step is
        # started on top of it, and close() waits for it (bounded) before closing.
        self._stuck: asyncio.Future[Any] | None = None
        self._interval = sync_interval if sync_interval is not None else 0.0
        self._loop_task = (
            None if sync_interval is None else BackgroundSync(self._cycle, interval=sync_interval)
        )

    @classmethod
    async def open(  # type: ignore[override]
        cls,
        url: str,
        *,
        replica: str | os.PathLike[str] | None = None,
        auth_token: str | None = None,
        read_only: bool = False,
        sync_interval: float | None = 1.0,
        sync_timeout: float = 10.0,
        open_timeout: float = 60.0,
    ) -> TursoReplicaDriver:
        """Open the replica of the server at ``url``, creating it from the server if new.

        Args:
            url: ``http(s)://`` or ``libsql://`` address of the sync server.
            replica: the local file; default under the user cache directory.
            auth_token: sent as ``Authorization: Bearer``; never printed.
            read_only: pull only; statements that write are refused, nothing is pushed.
            sync_interval: seconds between background syncs; ``None`` runs none (the caller
                syncs with :meth:`sync`, :meth:`push`, :meth:`pull`; ``close`` still pushes).
            sync_timeout: limit for one push or pull.
            open_timeout: limit for opening, which downloads the database the first time.
        Raises:
            ConfigError: the URL or an option is unusable.
            DriverError: the file is unusable, or a new replica cannot reach the server.
        """
        if sync_timeout <= 0 or open_timeout <= 0:
            raise ConfigError("sync and open timeouts must be positive")
        http_url, printable = sync_url(url)
        if replica is None:
            path = default_replica_path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            path = check_path(replica, must_exist=False)
        existed = path.exists()
        conn = turso.aio.sync.connect(
            str(path), http_url, auth_token=auth_token, isolation_level=None
        )
        try:
            await asyncio.wait_for(asyncio.ensure_future(_opened(conn)), open_timeout)
        except (TimeoutError, turso.Error, OSError, RuntimeError) as exc:
            await _close_within(conn, sync_timeout)
            if not existed:  # leave no half-made replica behind to be mistaken for a good one
                for f in replica_files(path):
                    f.unlink(missing_ok=True)
            why = (
                f"timed out after {open_timeout:g} s"
                if isinstance(exc, TimeoutError)
                else (describe_error(exc))
            )
            raise UnavailableError(f"cannot open replica {path} of {printable}: {why}") from exc
        driver = cls(
            conn,
            target=f"{printable} (replica {path})",
            replica_path=path,
            read_only=read_only,
            sync_interval=sync_interval,
            sync_timeout=sync_timeout,
        )
        try:
            if read_only:
                await driver.fetch_all("PRAGMA query_only = 1")
            await driver.fetch_all("SELECT count(*) FROM sqlite_master")
            if existed:
                # Freshen an old replica; offline, it still serves reads and reports its lag.
                with contextlib.suppress(DriverError):
                    await driver.pull()
            else:
                driver._record.pulled()  # just downloaded
        except BaseException:
            await driver.close(flush=False)
            raise
        if driver._loop_task is not None:
            driver._loop_task.start()
        return driver

    # -- writes wake the background sync so they reach the server soon ------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        count = await super().execute(sql, params)
        self._wrote()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await super().executemany(sql, rows)
        self._wrote()

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        await super().execute_each(statements)
        self._wrote()

    def _wrote(self) -> None:
        if not self.read_only and self._loop_task is not None:
            self._loop_task.wake()

    # -- sync ----------------------------------------------------------------------------

    def sync_stats(self) -> SyncStats:
        """Lag, last push/pull/sync times, pending changes and errors (no I/O)."""
        return self._record.snapshot()

    async def push(self) -> None:
        """Send every local change to the server now.

        Raises:
            DriverError: the push failed or timed out (the changes stay local, to retry).
        """
        if self.read_only:
            raise DriverError(f"{self.target} is open read-only: nothing to push")
        try:
            pending = await self._step("push", self._push_and_count)
        except DriverError as exc:
            self._record.failed(str(exc))
            raise
        self._record.pushed(pending)

    async def pull(self) -> bool:
        """Apply the server's changes to the replica now; True if there were any.

        Raises:
            DriverError: the pull failed or timed out (the replica keeps its last state).
        """
        try:
            changed = bool(await self._step("pull", self._conn.pull))
        except DriverError as exc:
            self._record.failed(str(exc))
            raise
        self._record.pulled()
        return changed

    async def sync(self) -> None:
        """Push local changes (unless read-only), then pull: one full cycle, now."""
        if not self.read_only and await self.pending_changes() > 0:
            await self.push()
        await self.pull()

    async def pending_changes(self) -> int:
        """Count the local changes not yet pushed (a local look-up, no network)."""
        count = int(await self._step("count changes", self._count_pending))
        self._record.pending_changes = count
        return count

    async def _count_pending(self) -> int:
        return int((await self._conn.stats()).cdc_operations)

    async def _push_and_count(self) -> int:
        await self._conn.push()
        return await self._count_pending()

    async def _cycle(self, woken: bool = False) -> None:
        """One background cycle: push (if anything is pending), then pull. A cycle woken by
        a write pulls only when the last pull is an interval old: a pull holds the
        connection too, and under steady writes one per interval keeps the replica fresh."""
        try:
            if not self.read_only and await self.pending_changes() > 0:
                await self.push()
            stats = self._record.snapshot()
            if not woken or stats.lag_seconds is None or stats.lag_seconds >= self._interval:
                await self.pull()
        except DriverError:
            return  # recorded by push/pull; the next interval retries
        self._record.cycle_ok()

    async def _step(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """Run one sync step outside every transaction, bounded by the sync timeout."""
        self._check_open()
        if self._owner is not None and self._owner is asyncio.current_task():
            raise DriverError(f"cannot {what} inside a transaction: commit first")
        async with self._sync_lock:
            if self._stuck is not None and not self._stuck.done():
                raise DriverError(f"{what} refused: an earlier sync step is still running")
            async with self._lock:  # never inside another task's transaction
                self._check_open()
                task = asyncio.ensure_future(op())
                try:
                    done, _ = await asyncio.wait({task}, timeout=self._sync_timeout)
                except asyncio.CancelledError:
                    self._park(task)
                    raise
            if not done:
                self._park(task)
                raise UnavailableError(
                    f"{what} with {self.target} timed out after {self._sync_timeout:g} s"
                )
            try:
                return task.result()
            except (turso.Error, OSError, RuntimeError) as exc:
                raise UnavailableError(
                    f"{what} with {self.target} failed: {describe_error(exc)}"
                ) from exc

    async def _settle(self) -> None:
        """Wait (bounded) for a step that was cancelled or timed out to leave the worker."""
        if self._stuck is not None and not self._stuck.done():
            await asyncio.wait({self._stuck}, timeout=self._sync_timeout)

    def _park(self, task: asyncio.Future[Any]) -> None:
        self._stuck = task
        # Its eventual error was already reported as a timeout; do not log it again.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def close(self, *, flush: bool = True) -> None:
        """Stop syncing, push what is still local (unless ``flush=False``), and close.

        Raises:
            DriverError: the final push failed; the driver is closed anyway and the changes
                stay in the replica file, to be pushed by the next driver that opens it.
        """
        if self._closed:
            return
        if self._loop_task is not None:
            await self._loop_task.stop()
        await self._settle()
        failure: DriverError | None = None
        if flush and not self.read_only:
            try:
                if await self.pending_changes() > 0:
                    await self.push()
            except DriverError as exc:
                failure = exc
        self._closed = True
        await self._settle()
        await _close_within(self._conn, self._sync_timeout)
        _release(self._conn)
        if failure is not None:
            raise DriverError(
                f"closed {self.target} with local changes not pushed yet: {failure}"
            ) from failure


def _release(conn: Any) -> None:
    """Drop a closed pyturso connection's hold on its database: the engine keeps the file
    locked (other processes cannot open it) until the native database object is freed, and
    pyturso's closed connection still references it."""
    with contextlib.suppress(AttributeError):
        conn._conn = None


async def _opened(conn: Any) -> None:
    await conn


async def _close_within(conn: Any, timeout: float) -> None:
    """Close a pyturso connection; give up after ``timeout`` if its worker is stuck on I/O.

    The worker is a daemon thread, so giving up cannot keep the interpreter from exiting.
    """
    with contextlib.suppress(TimeoutError, turso.Error, OSError, RuntimeError):
        await asyncio.wait_for(asyncio.ensure_future(conn.close()), timeout)
