"""Pools on real files: one queued writer and read-only readers, bounded waits, clean exits."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import aiosqlite
import pytest

from edgedb_opt.drivers import open_driver
from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import ConfigError, DriverError, PoolTimeout
from edgedb_opt.runtime.pool import EndpointPool, LocalPool, Percentiles
from tests.conftest import FakeTimer


async def _table(pool: LocalPool) -> None:
    async with pool.writer() as w:
        await w.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k TEXT UNIQUE)")


async def test_a_burst_of_1000_tasks_queues_without_a_single_locked_error(tmp_path: Path) -> None:
    pool = await LocalPool.open(tmp_path / "p.db", readers=4, timeout=60)
    await _table(pool)
    rng = random.Random(7)
    kinds = [rng.random() < 0.5 for _ in range(1000)]

    async def task(n: int, write: bool) -> int:
        if write:
            async with pool.writer() as w, w.transaction():
                await w.execute("INSERT INTO t (k) VALUES (?)", (f"k{n}",))
                return int((await w.fetch_all("SELECT count(*) FROM t"))[0][0])
        async with pool.reader() as r:
            return int((await r.fetch_all("SELECT count(*) FROM t"))[0][0])

    results = await asyncio.gather(
        *(task(n, w) for n, w in enumerate(kinds)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    stats = pool.stats()
    await pool.close()
    assert errors == []
    writes = sum(kinds)
    with sqlite3.connect(tmp_path / "p.db") as conn:
        rows = conn.execute("SELECT k FROM t ORDER BY id").fetchall()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert sorted(r[0] for r in rows) == sorted(f"k{n}" for n, w in enumerate(kinds) if w)
    assert len(rows) == writes and max(r for r in results if isinstance(r, int)) == writes
    assert stats.acquired == 1001 and stats.timeouts == 0 and stats.lock_hold_ms.count == writes + 1


async def test_without_the_pool_the_same_burst_does_hit_database_is_locked(tmp_path: Path) -> None:
    # The hazard the pool removes is real: one connection per task, no busy wait.
    path = tmp_path / "raw.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT)")

    async def task(n: int) -> None:
        async with aiosqlite.connect(path, timeout=0, isolation_level=None) as c:
            await c.execute("BEGIN IMMEDIATE")
            await c.execute("INSERT INTO t (k) VALUES (?)", (str(n),))
            await asyncio.sleep(0.01)
            await c.execute("COMMIT")

    results = await asyncio.gather(*(task(n) for n in range(30)), return_exceptions=True)
    assert any("database is locked" in str(r) for r in results)


async def test_timeouts_name_the_pool_state(tmp_path: Path) -> None:
    async with await LocalPool.open(tmp_path / "s.db", readers=1, timeout=5) as pool:
        await _table(pool)
        async with pool.writer():
            waiters = [asyncio.create_task(_hold_writer(pool)) for _ in range(3)]
            await asyncio.sleep(0.02)
            assert pool.stats().writer_queue == 3 and pool.stats().writer_busy
            with pytest.raises(PoolTimeout) as err:
                async with pool.writer(timeout=0.05):
                    pass
            assert f"no writer of {pool.target} free after 0.05 s" in str(err.value)
            assert "writer busy, 4 queued" in str(err.value)  # the three plus this one
        await asyncio.gather(*waiters)
        async with pool.reader():
            with pytest.raises(PoolTimeout, match=r"no reader .*1 of 1 readers in use, 1 waiting"):
                async with pool.reader(timeout=0.05):
                    pass
        stats = pool.stats()
        assert stats.timeouts == 2 and stats.in_use == 0 and stats.waiting == 0


async def _hold_writer(pool: LocalPool) -> None:
    async with pool.writer():
        await asyncio.sleep(0)


async def test_readers_are_opened_read_only(tmp_path: Path) -> None:
    async with await LocalPool.open(tmp_path / "r.db", readers=2) as pool:
        await _table(pool)
        async with pool.reader() as r:
            with pytest.raises(DriverError, match="readonly"):
                await r.execute("INSERT INTO t (k) VALUES ('x')")
            assert await r.fetch_all("SELECT count(*) FROM t") == [(0,)]


async def test_bad_sizes_are_refused_before_anything_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readers must be at least 1, not 0"):
        await LocalPool.open(tmp_path / "z.db", readers=0)
    with pytest.raises(ConfigError, match="pool timeout must be positive"):
        await LocalPool.open(tmp_path / "z.db", timeout=0)
    assert not (tmp_path / "z.db").exists()


async def test_closed_pool_refuses_new_work(tmp_path: Path) -> None:
    pool = await LocalPool.open(tmp_path / "c.db", readers=1)
    await pool.close()
    with pytest.raises(DriverError, match="is closed"):
        async with pool.reader():
            pass


async def test_endpoint_pool_bounds_requests_in_flight_and_recycles_idle_drivers(
    tmp_path: Path,
) -> None:
    opened: list[Driver] = []

    async def opener() -> Driver:
        d = await open_driver(f"turso:{tmp_path / 'e.db'}")
        opened.append(d)
        return d

    timer = FakeTimer()
    pool = await EndpointPool.open(opener, max_in_flight=2, recycle_after=60, timer=timer)
    peak = 0

    async def request(n: int) -> list[tuple[object, ...]]:
        nonlocal peak
        async with pool.reader() as d:
            peak = max(peak, pool.stats().in_use)
            await asyncio.sleep(0.001)
            return await d.fetch_all("SELECT ?", (n,))

    assert [r[0][0] for r in await asyncio.gather(*(request(n) for n in range(20)))] == list(
        range(20)
    )
    assert peak == 2 and len(opened) == 1
    timer.tick(61)
    assert await request(99) == [(99,)]
    assert len(opened) == 2 and pool.driver is opened[1] and pool.stats().recycled == 1
    await pool.close()
    with pytest.raises(DriverError, match="closed"):
        await opened[0].fetch_all("SELECT 1")


def test_a_process_using_the_pool_exits_promptly_and_cleanly(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, warnings
        warnings.simplefilter("error", ResourceWarning)
        from edgedb_opt.runtime.pool import LocalPool

        async def main():
            async with await LocalPool.open({str(tmp_path / "x.db")!r}, readers=3) as pool:
                async with pool.writer() as w:
                    await w.execute("CREATE TABLE t (v)")
                    await w.execute("INSERT INTO t VALUES (1)")
                async with pool.reader() as r:
                    print(await r.fetch_all("SELECT v FROM t"))

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[(1,)]" and "Warning" not in done.stderr


def test_percentiles_are_nearest_rank() -> None:
    from collections import deque

    p = Percentiles.of(deque([0.004, 0.001, 0.003, 0.002]))
    assert (p.p50, p.p95, p.p99, p.max, p.count) == (2.0, 4.0, 4.0, 4.0, 4)
    assert Percentiles.of(deque()) == Percentiles()
