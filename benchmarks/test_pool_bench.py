"""The pool vs a fresh aiosqlite connection per request, on the same file in one run.

A "request" is what an edge handler does most: one optimized ``user_progress`` read. The
fresh-connection path is what a handler without a pool writes (``async with
aiosqlite.connect(path)`` per request: a thread, an open, the schema read, a close). Both
paths run ``CONCURRENCY`` requests at a time, as a busy handler would; each round is one
batch of ``REQUESTS`` requests. The last test prints the ratio of medians.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from edgedb_opt.runtime.pool import LocalPool
from edgedb_opt.study.statements import HOT_STATEMENTS

REQUESTS = 200
CONCURRENCY = 20
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def path(pack_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("pool_bench") / "optimized.db"
    shutil.copyfile(pack_db, dest)
    return dest


@pytest.fixture(scope="module")
def params(path: Path) -> list[Any]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        user, exam = conn.execute(
            "SELECT user_id, exam_id FROM user_progress ORDER BY questions_answered DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    week_start = "2026-05-25 00:00:00"  # the parameters study._optimized.user_progress binds
    return [user, exam, week_start, user, exam, user, exam, user, exam]


def _batch(one: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[list[Any]]]:
    async def run() -> list[Any]:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def request() -> Any:
            async with gate:
                return await one()

        return await asyncio.gather(*(request() for _ in range(REQUESTS)))

    return run


def _measure(benchmark: Any, loop: asyncio.AbstractEventLoop, name: str, work: Any) -> Any:
    result = benchmark.pedantic(
        lambda: loop.run_until_complete(work()), rounds=5, iterations=1, warmup_rounds=1
    )
    MEDIANS[name] = benchmark.stats.stats.median
    return result


def test_fresh_connection_per_request(
    benchmark: Any, loop: asyncio.AbstractEventLoop, path: Path, params: list[Any]
) -> None:
    async def one() -> Any:
        async with aiosqlite.connect(path) as conn:
            return await conn.execute_fetchall(HOT_STATEMENTS["user_progress"], params)

    rows = _measure(benchmark, loop, "fresh", _batch(one))
    assert len(rows) == REQUESTS and all(r == rows[0] for r in rows)


def test_pooled_reader(
    benchmark: Any, loop: asyncio.AbstractEventLoop, path: Path, params: list[Any]
) -> None:
    pool = loop.run_until_complete(LocalPool.open(path, readers=4))

    async def one() -> Any:
        async with pool.reader() as conn:
            return await conn.fetch_all(HOT_STATEMENTS["user_progress"], params)

    try:
        rows = _measure(benchmark, loop, "pool", _batch(one))
    finally:
        loop.run_until_complete(pool.close())
    assert len(rows) == REQUESTS and all(r == rows[0] for r in rows)


def test_zz_pool_speedup() -> None:
    if len(MEDIANS) < 2:
        pytest.skip("run the whole module")
    ratio = MEDIANS["fresh"] / MEDIANS["pool"]
    per = {k: v / REQUESTS * 1e6 for k, v in MEDIANS.items()}
    print(
        f"\npool vs fresh connection per request ({REQUESTS} requests, {CONCURRENCY} at a "
        f"time): fresh {per['fresh']:.0f} us/request, pool {per['pool']:.0f} us/request, "
        f"{ratio:.1f}x"
    )
    assert ratio > 1.0, "the pool must beat opening a connection per request"
