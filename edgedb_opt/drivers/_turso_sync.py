"""Sync bookkeeping and the background loop of the embedded-replica driver.

Kept apart from the driver so the loop's lifetime rules (cancel and await on close, never raise,
let a forgotten driver be collected) and the metrics can be read and tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgedb_opt.errors import ConfigError

_SCHEMES = {"http": "http", "https": "https", "libsql": "https"}


@dataclass(frozen=True)
class SyncStats:
    """A replica's sync health, as the health command and Prometheus read it.

    Times are Unix seconds; ``None`` means "never".

    Attributes:
        last_pull_at: when a pull from the server last succeeded.
        last_push_at: when a push to the server last succeeded.
        last_sync_at: when a whole background cycle (push if needed, then pull) last succeeded.
        lag_seconds: how old the replica's view of the server may be (now - last pull).
        pending_changes: local changes not yet pushed, as last counted.
        syncs: background cycles that succeeded.
        sync_errors: push or pull attempts that failed or timed out (each retried later).
        last_error: the most recent failure, one line, or ``None`` once a later sync succeeded.
        pulls: pulls that succeeded (a generation: the replica's data can only have moved
            forward when it changed).
    """

    last_pull_at: float | None
    last_push_at: float | None
    last_sync_at: float | None
    lag_seconds: float | None
    pending_changes: int
    syncs: int
    sync_errors: int
    last_error: str | None
    pulls: int = 0


class SyncRecord:
    """Mutable counters a replica updates after every push, pull and cycle.

    >>> rec = SyncRecord(clock=lambda: 100.0)
    >>> rec.pulled(); rec.failed("push: network error"); rec.snapshot().sync_errors
    1
    >>> rec.snapshot().lag_seconds, rec.snapshot().last_error
    (0.0, 'push: network error')
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.last_pull_at: float | None = None
        self.last_push_at: float | None = None
        self.last_sync_at: float | None = None
        self.pending_changes = 0
        self.syncs = 0
        self.sync_errors = 0
        self.last_error: str | None = None
        self.pulls = 0

    def pulled(self) -> None:
        self.last_pull_at = self._clock()
        self.pulls += 1

    def pushed(self, pending: int = 0) -> None:
        self.last_push_at = self._clock()
        self.pending_changes = pending

    def cycle_ok(self) -> None:
        self.last_sync_at = self._clock()
        self.syncs += 1
        self.last_error = None

    def failed(self, message: str) -> None:
        self.sync_errors += 1
        self.last_error = message

    def snapshot(self) -> SyncStats:
        lag = None if self.last_pull_at is None else max(0.0, self._clock() - self.last_pull_at)
        return SyncStats(
            last_pull_at=self.last_pull_at,
            last_push_at=self.last_push_at,
            last_sync_at=self.last_sync_at,
            lag_seconds=lag,
            pending_changes=self.pending_changes,
            syncs=self.syncs,
            sync_errors=self.sync_errors,
            last_error=self.last_error,
            pulls=self.pulls,
        )


def sync_url(url: str) -> tuple[str, str]:
    """Split a server URL into (the HTTP URL pyturso talks to, a printable target).

    ``libsql://`` means HTTPS, as Turso Cloud serves it; credentials and query strings never
    reach the printable form.

    >>> sync_url("libsql://db-org.turso.io")
    ('https://db-org.turso.io', 'https://db-org.turso.io')
    >>> sync_url("http://user:secret@127.0.0.1:8080/?authToken=x")
    ('http://user:secret@127.0.0.1:8080/?authToken=x', 'http://127.0.0.1:8080')
    """
    parts = urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ConfigError(f"{url!r} is not a sync server URL (use http(s):// or libsql://HOST)")
    port = f":{parts.port}" if parts.port else ""
    printable = f"{scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"
    return parts._replace(scheme=scheme).geturl(), printable


def default_replica_path(url: str, *, env: Mapping[str, str] = os.environ) -> Path:
    """Where a server's replica lives when none is named: the user cache directory.

    Written out rather than taken from platformdirs: only the XDG rule is needed here.

    >>> default_replica_path("http://127.0.0.1:8080", env={"XDG_CACHE_HOME": "/c"}).parent
    PosixPath('/c/edgeopt/replicas')
    """
    _, printable = sync_url(url)
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    digest = hashlib.sha256(printable.encode()).hexdigest()[:16]
    host = urlsplit(printable).hostname or "server"
    return Path(base) / "edgeopt" / "replicas" / f"{host}-{digest}.db"


def replica_files(path: Path) -> list[Path]:
    """The files pyturso keeps for one replica (database, WAL, revert WAL, sync metadata)."""
    return [path, *(Path(f"{path}{s}") for s in ("-wal", "-wal-revert", "-info", "-changes"))]


class BackgroundSync:
    """Runs a cycle every ``interval`` seconds, or ``settle`` seconds after being woken (a
    burst of wakes makes one cycle), until stopped. The cycle is told which: ``cycle(woken)``.

    The loop holds only a weak reference to its owner's cycle, so a driver that is dropped
    without ``close()`` is still collected (and warns); the loop then ends by itself.
    """

    def __init__(
        self, cycle: Callable[[bool], Awaitable[None]], *, interval: float, settle: float = 0.05
    ) -> None:
        if interval <= 0:
            raise ConfigError(f"sync interval must be positive, not {interval!r}")
        self._cycle = weakref.WeakMethod(cycle)
        self._interval = interval
        self._settle = min(settle, interval)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="edgeopt-sync")

    def wake(self) -> None:
        """Run the next cycle now instead of at the end of the interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
                # Woken by a write: let the writes of the same burst land first, so one push
                # carries them all instead of each write paying for its own.
                await asyncio.sleep(self._settle)
                woken = True
            self._wake.clear()
            cycle = self._cycle()
            if cycle is None:
                return
            await cycle(woken)
            del cycle  # hold no strong reference while sleeping

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
