"""Running a load test: simulated users on one ``EdgeDatabase``, bounded in time and count.

Each simulated user is an asyncio task looping *think, then one operation of the mix*
(see :mod:`edgedb_opt.loadtest.scenarios` for the arithmetic). A controller task starts
and stops users to follow the scenario's shape, samples the pools for waiters and the
writer queue, and writes the progress line. At the deadline (or after ``max_requests``)
thinking users stop at once; operations in flight get ``grace`` seconds, then are
cancelled and counted as such. Every failed operation is counted by exception type; none
ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgedb_opt.errors import ConfigError
from edgedb_opt.loadtest.report import Recorder
from edgedb_opt.loadtest.scenarios import DEFAULT_MIX, DEFAULT_THINK_MS, OPERATIONS, SCENARIOS
from edgedb_opt.loadtest.target import LoadTarget
from edgedb_opt.loadtest.workload import Operations, load_cast, weighted_picker
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.study import AnswerWriter, StudyQueries

__all__ = ["LoadOptions", "run_load"]

_TICK = 0.1  # seconds between the controller's looks at the shape and the pools
#: The run's query cache holds this many entries per simulated user at the peak, at least
#: ``CACHE_ENTRIES_MIN`` (the library's default size).
CACHE_ENTRIES_PER_USER = 2
CACHE_ENTRIES_MIN = 1024


@dataclass(frozen=True)
class LoadOptions:
    """What to run; the CLI options, by the same names.

    Attributes:
        users: override the scenario's user count (a spike scales its whole shape).
        duration: seconds of load (a spike runs at least its shape's 40 s).
        think_ms: mean think time; each pause is uniform on [0.5, 1.5] x this.
        max_requests: stop once this many operations finished (None: no cap).
        grace: seconds operations in flight at the end may take before being cancelled.
        readers: reader connections of the local pool.
        read_only: make the writer connection refuse writes (``PRAGMA query_only``), so
            every write fails: a way to see errors counted.
        progress: called with the live progress line, a few times per second.
    """

    scenario: str = "light"
    duration: float = 30.0
    users: int | None = None
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    think_ms: float = DEFAULT_THINK_MS
    seed: int = 42
    max_requests: int | None = None
    grace: float = 2.0
    readers: int = 4
    read_only: bool = False
    progress: Callable[[str], None] | None = None
    progress_every: float = 0.5


def _clock(start: dt.datetime | None) -> Callable[[], dt.datetime]:
    """The run's "now": the data's own now moving with the real clock, or UTC now."""
    if start is None:
        return lambda: dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    return lambda: start + dt.timedelta(seconds=time.monotonic() - t0)


async def _query_only(db: EdgeDatabase, on: bool) -> None:
    for pool in db.pools.values():
        if pool.stats().kind != "local":
            raise ConfigError("read_only needs a local SQLite file as db", param="read_only")
        async with pool.writer() as conn:
            await conn.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


async def run_load(target: LoadTarget, options: LoadOptions) -> dict[str, Any]:
    """Run the load and return its report (shape: see ``edgeopt loadtest --json``).

    Raises:
        ConfigError: unknown scenario, bad options, a database without the data to play.
        DriverError: the database cannot be opened.
    """
    if options.scenario not in SCENARIOS:
        raise ConfigError(
            f"unknown scenario {options.scenario!r}; choose one of {', '.join(SCENARIOS)}"
        )
    if not options.duration > 0 or not options.think_ms >= 0 or not options.grace >= 0:
        raise ConfigError(
            "duration must be above 0, think_ms and grace 0 or more", param="duration"
        )
    scenario = SCENARIOS[options.scenario]
    if options.users is not None:
        scenario = scenario.with_users(options.users)
    # Sized like a server's cache for this many active users: room for each one's pick (and
    # the shared boards and dashboards) so LRU evictions do not decide the hit rate.
    db = await EdgeDatabase.connect(
        db=target.db,
        readers=options.readers,
        cache_enabled=True,
        cache_maxsize=max(CACHE_ENTRIES_MIN, CACHE_ENTRIES_PER_USER * scenario.users),
        must_exist=True,
    )
    try:
        if options.read_only:
            await _query_only(db, True)
        cast = await load_cast(db, scenario.users, seed=options.seed)
        now = _clock(target.now)
        ops = Operations(
            StudyQueries(db, cache=db.cache, now=now), AnswerWriter(db, cache=db.cache, now=now),
            cast,
        )  # fmt: skip
        run = _Run(db, ops, options, scenario.users_at, max(options.duration, scenario.min_seconds))
        await run.go()
        report = run.report(scenario.name, scenario.users)
    finally:
        try:
            if options.read_only:
                await _query_only(db, False)
        finally:
            await db.close()
    report["db"] = target.db
    return report


class _Run:
    def __init__(
        self,
        db: EdgeDatabase,
        ops: Operations,
        options: LoadOptions,
        users_at: Callable[[float], int],
        seconds: float,
    ) -> None:
        self.db = db
        self.ops = ops
        self.opt = options
        self.users_at = users_at
        self.seconds = seconds
        self.rec = Recorder()
        self.pick = weighted_picker(options.mix)
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.busy: set[int] = set()
        self.target = 0
        self.stop = asyncio.Event()
        self.started = time.monotonic()
        self.elapsed = 0.0
        self.max_users = 0
        self.wait_p95 = 0.0

    async def go(self) -> None:
        self.started = time.monotonic()
        deadline = self.started + self.seconds
        last_line = 0.0
        while not self.stop.is_set() and (now := time.monotonic()) < deadline:
            self.target = max(0, self.users_at(now - self.started))
            for i in range(self.target):
                if i not in self.tasks:
                    self.tasks[i] = asyncio.create_task(self._user(i), name=f"loadtest-user-{i}")
            self.max_users = max(self.max_users, len(self.tasks))
            self._sample()
            if self.opt.progress is not None and now - last_line >= self.opt.progress_every:
                last_line = now
                self.opt.progress(self._line(now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), min(_TICK, max(0.0, deadline - now)))
        self.elapsed = time.monotonic() - self.started
        self.stop.set()
        await self._finish()
        if self.opt.progress is not None:
            self.opt.progress(self._line(time.monotonic()))

    async def _finish(self) -> None:
        """Stop thinking users now; give operations in flight the grace, then cancel them."""
        tasks = dict(self.tasks)
        for i, task in tasks.items():
            if i not in self.busy:
                task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks.values(), timeout=self.opt.grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    def _sample(self) -> None:
        for pool in self.db.pools.values():
            s = pool.stats()
            self.rec.max_writer_queue = max(self.rec.max_writer_queue, s.writer_queue)
            self.rec.max_waiting = max(self.rec.max_waiting, s.waiting)
            self.wait_p95 = max(self.wait_p95, s.wait_ms.p95)

    def _line(self, now: float) -> str:
        t = now - self.started
        rate = self.rec.requests / t if t > 0 else 0.0
        return (
            f"{t:6.1f} s  users {len(self.tasks) - len(self._done()):5d}  "
            f"requests {self.rec.requests:7d}  {rate:6.1f}/s  errors {self.rec.errors:5d}  "
            f"p95 {self.rec.recent_p95():7.2f} ms"
        )

    def _done(self) -> list[int]:
        return [i for i, t in self.tasks.items() if t.done()]

    async def _user(self, i: int) -> None:
        rng = random.Random(f"{self.opt.seed}-{i}")
        mean = self.opt.think_ms / 1000
        pause = rng.uniform(0, 1.5 * mean)  # the first one spreads the users' start
        try:
            while True:
                await asyncio.sleep(pause)
                if self.stop.is_set() or i >= self.target:
                    return
                await self._one(i, rng)
                if self.stop.is_set():  # it was busy when the others were cancelled
                    return
                pause = rng.uniform(0.5 * mean, 1.5 * mean)
        finally:
            del self.tasks[i]

    async def _one(self, i: int, rng: random.Random) -> None:
        op = self.pick(rng)
        self.busy.add(i)
        started = time.perf_counter()
        try:
            await self.ops.table[op](i, rng)
        except asyncio.CancelledError:
            self.rec.cancelled += 1
            raise
        except Exception as exc:  # counted by type, never ends the run
            self.rec.error(op, exc, (time.perf_counter() - started) * 1000)
        else:
            self.rec.ok(op, (time.perf_counter() - started) * 1000)
        finally:
            self.busy.discard(i)
        cap = self.opt.max_requests
        if cap is not None and self.rec.requests >= cap:
            self.stop.set()

    def report(self, scenario: str, users_peak: int) -> dict[str, Any]:
        seconds = self.elapsed
        rows = [self.rec.operation(name, seconds) for name in OPERATIONS]
        requests = self.rec.requests
        cache = self.db.cache.stats() if self.db.cache is not None else None
        pools = [p.stats() for p in self.db.pools.values()]
        overall = {
            "requests": requests,
            "errors": self.rec.errors,
            "error_rate": round(self.rec.errors / requests, 6) if requests else 0.0,
            "cancelled": self.rec.cancelled,
            "seconds": round(seconds, 3),
            "throughput_rps": round(requests / seconds, 2) if seconds > 0 else 0.0,
            "users_peak": users_peak,
            "users_started_max": self.max_users,
            "cache_hit_rate": round(cache.hit_rate, 4) if cache else 0.0,
            "cache_hits": cache.hits if cache else 0,
            "cache_misses": cache.misses if cache else 0,
            "cache_evictions": cache.evictions if cache else 0,
            "cache_maxsize": cache.maxsize if cache else 0,
            "pool_wait_p95_ms": round(self.wait_p95, 3),
            "pool_timeouts": sum(s.timeouts for s in pools),
            "writer_hold_p95_ms": max((s.lock_hold_ms.p95 for s in pools), default=0.0),
            "max_pool_waiting": self.rec.max_waiting,
            "max_writer_queue": self.rec.max_writer_queue,
        }
        return {
            "scenario": scenario,
            "duration_s": self.seconds,
            "think_ms": self.opt.think_ms,
            "mix": {k: round(v, 4) for k, v in self.opt.mix.items()},
            "operations": rows,
            "overall": overall,
        }
