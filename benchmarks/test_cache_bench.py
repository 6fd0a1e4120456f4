"""A QueryCache hit vs the optimized query it replaces, through StudyQueries, in one run.

Each round makes ``CALLS`` calls inside one coroutine, so the event loop's own start-up cost
per ``run_until_complete`` does not blur a call that takes microseconds; both sides run the
same loop. The goal of the runtime issue is a hit at least 100x faster than the query; the
last test prints the ratios (``EDGEOPT_BENCH_SCALE`` picks the scale, default small) and
asserts the goal at scale medium, like the study-flow benchmarks.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import SCALE
from edgedb_opt.drivers.sqlite_driver import RUNTIME_PRAGMAS, SqliteDriver
from edgedb_opt.runtime.cache import QueryCache
from edgedb_opt.study.queries import StudyQueries
from tests.conftest import ANCHOR

GOAL = 100.0
CALLS = 200
ROUNDS = 7
PATHS = ["query", "cache_hit"]
MEDIANS: dict[str, dict[str, float]] = {}


def now() -> Any:
    return ANCHOR


@pytest.fixture(scope="module")
def driver(
    loop: asyncio.AbstractEventLoop, pack_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqliteDriver]:
    path = tmp_path_factory.mktemp("cache_bench") / "optimized.db"
    shutil.copyfile(pack_db, path)
    db = loop.run_until_complete(SqliteDriver.open(path, pragmas=RUNTIME_PRAGMAS))
    yield db
    loop.run_until_complete(db.close())


@pytest.fixture(scope="module")
def heavy(pack_db: Path) -> tuple[int, int]:
    """(the user with the most answers, the exam they answered most)."""
    conn = sqlite3.connect(f"file:{pack_db}?mode=ro", uri=True)
    try:
        user, exam = conn.execute(
            "SELECT a.user_id, q.exam_id FROM user_answers a "
            "JOIN questions q ON q.id = a.question_id "
            "GROUP BY a.user_id, q.exam_id ORDER BY count(*) DESC, a.user_id LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return int(user), int(exam)


OPERATIONS: dict[str, Callable[[StudyQueries, int, int], Awaitable[Any]]] = {
    "user_progress": lambda q, user, exam: q.user_progress(user, exam),
    "leaderboard": lambda q, user, exam: q.leaderboard(exam, limit=10),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_cache_hit_vs_query(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    driver: SqliteDriver,
    heavy: tuple[int, int],
    operation: str,
    path: str,
) -> None:
    user, exam = heavy
    op = OPERATIONS[operation]
    plain = StudyQueries(driver, now=now)
    cache = QueryCache(maxsize=1024, ttl=3600)
    cached = StudyQueries(driver, cache=cache, now=now)
    expected = loop.run_until_complete(op(plain, user, exam))
    assert loop.run_until_complete(op(cached, user, exam)) == expected  # warms the cache
    q = cached if path == "cache_hit" else plain

    async def calls() -> Any:
        for _ in range(CALLS):
            result = await op(q, user, exam)
        return result

    benchmark.group = f"cache {operation}"
    benchmark.extra_info.update(path=path, calls_per_round=CALLS)
    result = benchmark.pedantic(
        lambda: loop.run_until_complete(calls()), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    assert result == expected
    if path == "cache_hit":
        s = cache.stats()
        assert s.loads == 1 and s.hits == (ROUNDS + 1) * CALLS  # every timed call was a hit
    MEDIANS.setdefault(operation, {})[path] = benchmark.stats.stats.median / CALLS


def test_zz_cache_speedups() -> None:
    """Print query vs hit per call; at scale medium the goal must hold."""
    print(f"\nscale {SCALE}: operation, query us/call, cache hit us/call, ratio (goal >= 100x)")
    ratios: dict[str, float] = {}
    for name, medians in sorted(MEDIANS.items()):
        if set(medians) != set(PATHS):
            continue
        ratios[name] = medians["query"] / medians["cache_hit"]
        print(
            f"  {name:<16} {medians['query'] * 1e6:10.1f} {medians['cache_hit'] * 1e6:10.2f}"
            f" {ratios[name]:9.0f}x"
        )
    if SCALE == "medium":
        missed = {n: r for n, r in ratios.items() if r < GOAL}
        assert not missed, f"cache hit below {GOAL:.0f}x the query: {missed}"
