"""QueryCache: TTL and LRU under a fake timer, single-flight, errors not cached, tags, the
invalidation race, threads, bad arguments; then StudyQueries and AnswerWriter on a real file."""

from __future__ import annotations

import asyncio
import contextvars
import math
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import CacheError, ConfigError
from edgedb_opt.runtime.cache import CacheStats, QueryCache
from edgedb_opt.study.models import Answer
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter
from tests.conftest import ANCHOR, FakeTimer, apply_pack


class Loads:
    """Loaders that count their runs; ``gate`` (when given) holds each run until set."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    def of(self, value: Any) -> Callable[[], Awaitable[Any]]:
        async def load() -> Any:
            self.calls += 1
            if self.gate is not None:
                await self.gate.wait()
            return value

        return load

    def failing(self, exc: BaseException) -> Callable[[], Awaitable[Any]]:
        async def load() -> Any:
            self.calls += 1
            if self.gate is not None:
                await self.gate.wait()
            raise exc

        return load


async def settle() -> None:
    """Let every ready task run up to its next real wait."""
    for _ in range(5):
        await asyncio.sleep(0)


def make(maxsize: int = 100, ttl: float = 10.0) -> tuple[QueryCache, FakeTimer]:
    timer = FakeTimer()
    return QueryCache(maxsize, ttl, timer=timer), timer


# -- TTL, LRU, stats --------------------------------------------------------------------------


async def test_entry_lives_exactly_ttl_seconds() -> None:
    cache, timer = make(ttl=10)
    loads = Loads()
    assert await cache.get_or_load("k", loads.of("v1")) == "v1"
    timer.tick(9.999)
    assert await cache.get_or_load("k", loads.of("v2")) == "v1"
    timer.tick(0.001)  # now == stored + ttl: expired (cachetools keeps it while now < expiry)
    assert await cache.get_or_load("k", loads.of("v2")) == "v2"
    assert loads.calls == 2
    s = cache.stats()
    assert (s.hits, s.misses, s.loads, s.evictions, s.size) == (1, 2, 2, 1, 1)


async def test_expired_entries_are_counted_when_swept() -> None:
    cache, timer = make(ttl=5)
    for key in "abc":
        await cache.get_or_load(key, Loads().of(key))
    timer.tick(5)
    assert cache.get_many("abc") == {}
    s = cache.stats()
    assert (s.size, s.evictions, s.hits, s.misses) == (0, 3, 0, 6)


async def test_lru_evicts_least_recently_used() -> None:
    cache, _ = make(maxsize=3)
    loads = Loads()
    for key in "abc":
        await cache.get_or_load(key, loads.of(key.upper()))
    assert await cache.get_or_load("a", loads.of("never")) == "A"  # a is now the newest
    await cache.get_or_load("d", loads.of("D"))  # evicts b, the least recently used
    assert cache.get_many("abcd") == {"a": "A", "c": "C", "d": "D"}
    await cache.get_or_load("e", loads.of("E"))  # evicts a (get_many touched a, c, d in order)
    assert cache.get_many(["a", "c", "d", "e"]) == {"c": "C", "d": "D", "e": "E"}
    assert loads.calls == 5
    s = cache.stats()
    assert (s.evictions, s.size, s.maxsize) == (2, 3, 3)


@pytest.mark.parametrize("how", ["lru", "ttl"])
async def test_dropped_entry_leaves_its_tags(how: str) -> None:
    cache, timer = make(maxsize=1 if how == "lru" else 10, ttl=10)
    await cache.get_or_load("k", Loads().of(1), tags=["user:1"])
    if how == "ttl":
        timer.tick(10)
    await cache.get_or_load("other", Loads().of(2), tags=["user:2"])  # drops "k"
    await cache.get_or_load("k", Loads().of(3), tags=["user:3"])  # back, read something else
    assert cache.invalidate("user:1") == 0
    assert cache.get_many(["k"]) == {"k": 3}


async def test_stats_figures() -> None:
    cache, timer = make(maxsize=10)

    async def slow() -> int:
        timer.tick(2.5)  # the loader "takes" 2.5 s on the cache's clock
        return 7

    async def broken() -> int:
        timer.tick(0.5)
        raise ValueError("no")

    assert cache.stats() == CacheStats(0, 0, 0.0, 0, 0, 0.0, 0, 0, 10)
    await cache.get_or_load("a", slow)
    for _ in range(3):
        await cache.get_or_load("a", slow)
    with pytest.raises(ValueError):
        await cache.get_or_load("b", broken)
    assert cache.get_many(["a", "b"]) == {"a": 7}
    assert cache.stats() == CacheStats(
        hits=4,
        misses=3,
        hit_rate=4 / 7,
        loads=2,
        load_errors=1,
        load_seconds_total=3.0,
        evictions=0,
        size=1,
        maxsize=10,
    )
    assert len(cache) == 1


# -- single-flight, errors, cancellation ------------------------------------------------------


async def test_concurrent_misses_run_one_load() -> None:
    cache, _ = make()
    loads = Loads(gate=asyncio.Event())
    value = {"rows": [1, 2, 3]}
    tasks = [asyncio.create_task(cache.get_or_load("k", loads.of(value))) for _ in range(100)]
    await settle()
    assert cache.stats().misses == 100 and loads.calls == 1  # all 100 are waiting on one load
    assert loads.gate is not None
    loads.gate.set()
    results = await asyncio.gather(*tasks)
    assert all(r is value for r in results)
    assert await cache.get_or_load("k", loads.of("other")) is value
    s = cache.stats()
    assert (s.loads, s.hits, s.misses) == (1, 1, 100)


async def test_error_reaches_every_waiter_and_is_not_cached() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    loads = Loads(gate=gate)
    boom = RuntimeError("database went away")
    tasks = [asyncio.create_task(cache.get_or_load("k", loads.failing(boom))) for _ in range(10)]
    await settle()
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r is boom for r in results)
    assert loads.calls == 1
    assert cache.stats().size == 0
    assert await cache.get_or_load("k", loads.of("fine")) == "fine"  # loads again
    s = cache.stats()
    assert (s.loads, s.load_errors, s.size, loads.calls) == (2, 1, 1, 2)


async def test_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    loads = Loads(gate=gate)
    leaving = asyncio.create_task(cache.get_or_load("k", loads.of("v")))
    staying = asyncio.create_task(cache.get_or_load("k", loads.of("v")))
    await settle()
    leaving.cancel()
    await settle()
    gate.set()
    assert await staying == "v"
    assert leaving.cancelled()
    assert await cache.get_or_load("k", loads.of("again")) == "v"  # stored: a hit
    assert loads.calls == 1


async def test_load_whose_only_waiter_left_is_still_stored() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    loads = Loads(gate=gate)
    waiter = asyncio.create_task(cache.get_or_load("k", loads.of("v")))
    await settle()
    waiter.cancel()
    await settle()
    gate.set()
    await settle()
    assert cache.get_many(["k"]) == {"k": "v"}


# -- tags and the invalidation race -----------------------------------------------------------


async def test_invalidate_drops_only_tagged_entries() -> None:
    cache, _ = make()
    entries = {
        "p1": ("user:1",),
        "p2": ("user:2",),
        "p1e7": ("user:1", "exam:7"),
        "board7": ("exam:7",),
        "plain": (),
    }
    for key, tags in entries.items():
        await cache.get_or_load(key, Loads().of(key), tags=tags)
    assert cache.invalidate("user:1") == 2
    assert set(cache.get_many(entries)) == {"p2", "board7", "plain"}
    assert cache.invalidate("exam:7", "user:404") == 1
    assert set(cache.get_many(entries)) == {"p2", "plain"}
    assert cache.invalidate("user:1") == 0
    assert cache.invalidate() == 0


async def test_reload_with_new_tags_forgets_the_old_ones() -> None:
    cache, _ = make()
    await cache.get_or_load("k", Loads().of(1), tags=["user:1"])
    cache.invalidate("user:1")
    await cache.get_or_load("k", Loads().of(2), tags=["user:2"])
    assert cache.invalidate("user:1") == 0
    assert cache.get_many(["k"]) == {"k": 2}


async def test_load_in_flight_during_invalidation_is_not_stored() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    stale = Loads(gate=gate)
    first = asyncio.create_task(cache.get_or_load("k", stale.of("old"), tags=["user:1"]))
    await settle()
    assert cache.invalidate("user:1") == 0  # nothing stored yet; the load is in flight
    # A caller after the invalidation must not join the stale load: it starts its own.
    fresh = Loads()
    second = asyncio.create_task(cache.get_or_load("k", fresh.of("new"), tags=["user:1"]))
    await settle()
    assert second.done() and second.result() == "new"
    gate.set()
    assert await first == "old"  # its own caller still gets what it loaded
    assert cache.get_many(["k"]) == {"k": "new"}  # ... but it did not overwrite the new value
    cache.invalidate("user:1")
    again = Loads()
    assert await cache.get_or_load("k", again.of("newer"), tags=["user:1"]) == "newer"
    assert (stale.calls, fresh.calls, again.calls) == (1, 1, 1)


async def test_stale_load_alone_leaves_nothing_behind() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    loads = Loads(gate=gate)
    first = asyncio.create_task(cache.get_or_load("k", loads.of("old"), tags=["user:1", "x"]))
    await settle()
    cache.invalidate("x")
    gate.set()
    assert await first == "old"
    assert cache.stats().size == 0
    assert await cache.get_or_load("k", loads.of("new")) == "new"
    assert loads.calls == 2


async def test_unrelated_invalidation_does_not_spoil_a_load() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    loads = Loads(gate=gate)
    first = asyncio.create_task(cache.get_or_load("k", loads.of("v"), tags=["user:1"]))
    await settle()
    cache.invalidate("user:2", "exam:7")
    gate.set()
    assert await first == "v"
    assert cache.get_many(["k"]) == {"k": "v"}


async def test_clear_drops_entries_and_spoils_loads_in_flight() -> None:
    cache, _ = make()
    await cache.get_or_load("a", Loads().of(1))
    await cache.get_or_load("b", Loads().of(2), tags=["t"])
    gate = asyncio.Event()
    flying = asyncio.create_task(cache.get_or_load("c", Loads(gate).of(3)))
    await settle()
    assert cache.clear() == 2
    gate.set()
    assert await flying == 3
    assert cache.stats().size == 0
    assert cache.invalidate("t") == 0


# -- threads ----------------------------------------------------------------------------------


def test_threads_each_with_their_own_loop() -> None:
    cache = QueryCache(maxsize=1000, ttl=60)
    counter = threading.Lock()
    loads: dict[str, int] = {}
    errors: list[BaseException] = []

    async def worker(n: int) -> None:
        for i in range(200):
            key = f"k{i % 20}"

            async def load(key: str = key) -> str:
                with counter:
                    loads[key] = loads.get(key, 0) + 1
                await asyncio.sleep(0)
                return key.upper()

            got = await asyncio.gather(*(cache.get_or_load(key, load, tags=[key]) for _ in "ab"))
            assert got == [key.upper()] * 2
            if n == 0 and i % 50 == 49:
                cache.invalidate("k3")

    def run(n: int) -> None:
        try:
            asyncio.run(worker(n))
        except BaseException as exc:  # handed to the main thread's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    s = cache.stats()
    assert s.hits + s.misses == 4 * 200 * 2
    # Thread 0 invalidates k3 as its very last step: if the others were done, k3 is gone.
    assert s.size in (19, 20) and s.load_errors == 0
    assert len(cache.get_many(f"k{i}" for i in range(20) if i != 3)) == 19
    assert s.loads == sum(loads.values())
    # Each thread's loop loads a key at most once per invalidation of it; k3 is invalidated
    # four times, so it may load up to 4 * 5 times, every other key up to once per thread.
    assert all(1 <= n <= 4 for k, n in loads.items() if k != "k3")
    assert 1 <= loads["k3"] <= 20


def test_a_load_in_another_loop_is_not_awaited_across_loops() -> None:
    """Thread B misses while thread A's load of the same key is in flight: B runs its own load
    in its own loop (awaiting A's task from B's loop would fail, or deadlock here)."""
    cache = QueryCache(maxsize=10, ttl=60)
    a_loading, b_done = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    async def load_a() -> str:
        a_loading.set()
        await asyncio.to_thread(b_done.wait, 10)
        return "from A"

    async def load_b() -> str:
        return "from B"

    def thread_a() -> None:
        results["a"] = asyncio.run(cache.get_or_load("k", load_a))

    def thread_b() -> None:
        a_loading.wait(10)
        try:
            results["b"] = asyncio.run(cache.get_or_load("k", load_b))
        finally:
            b_done.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {"a": "from A", "b": "from B"}
    assert cache.stats().loads == 2


# -- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maxsize", "ttl"),
    [(0, 1), (-1, 1), (1.5, 1), (True, 1), ("10", 1), (1, 0), (1, -2), (1, math.nan), (1, "5")],
)
def test_bad_sizes_and_ttls(maxsize: Any, ttl: Any) -> None:
    with pytest.raises(ConfigError, match=r"maxsize|ttl") as info:
        QueryCache(maxsize, ttl)
    assert "\n" not in str(info.value)


def test_bad_timer() -> None:
    with pytest.raises(ConfigError, match="timer"):
        QueryCache(1, 1, timer=3.0)  # type: ignore[arg-type]


def test_infinite_ttl_never_expires() -> None:
    timer = FakeTimer()
    cache = QueryCache(1, math.inf, timer=timer)

    async def go() -> None:
        await cache.get_or_load("k", Loads().of(1))

    asyncio.run(go())
    timer.tick(1e12)
    assert cache.get_many(["k"]) == {"k": 1}


async def test_misuse_is_a_cache_error() -> None:
    cache, _ = make()
    with pytest.raises(CacheError, match="tags"):
        await cache.get_or_load("k", Loads().of(1), tags="user:1")
    with pytest.raises(CacheError, match="hashable"):
        await cache.get_or_load(["k"], Loads().of(1))  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="callable"):
        await cache.get_or_load("k", "not a loader")  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="tag must be a string"):
        cache.invalidate(42)  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="hashable"):
        cache.get_many([{}])  # type: ignore[list-item]


async def test_a_loader_returning_a_coroutine_is_refused_not_cached() -> None:
    cache, _ = make()

    async def inner() -> int:
        return 1

    async def wrong() -> Any:
        return inner()  # forgot an await: caching this would hand out a spent coroutine

    with pytest.raises(CacheError, match="awaitable"):
        await cache.get_or_load("k", wrong)
    s = cache.stats()
    assert (s.size, s.load_errors) == (0, 1)


# -- StudyQueries and AnswerWriter on a real SQLite file --------------------------------------


class CountingDriver:
    """A real SqliteDriver that counts the statements StudyQueries sends through it."""

    def __init__(self, inner: SqliteDriver) -> None:
        self.inner = inner
        self.statements = 0

    async def fetch_all(self, sql: str, params: Any = ()) -> Any:
        self.statements += 1
        return await self.inner.fetch_all(sql, params)

    async def fetch_then(self, sql: str, params: Any, then: Any, *, quick: bool = False) -> Any:
        self.statements += 1
        return await self.inner.fetch_then(sql, params, then, quick=quick)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
async def packed(seeded_db: Path) -> AsyncIterator[SqliteDriver]:
    await apply_pack(seeded_db)
    driver = await SqliteDriver.open(seeded_db)
    try:
        yield driver
    finally:
        await driver.close()


def busy_user(path: Path) -> tuple[int, int, int]:
    """(user, exam, a question of that exam) for a user with a progress row."""
    conn = sqlite3.connect(path)
    try:
        user, exam = conn.execute(
            "SELECT user_id, exam_id FROM user_progress ORDER BY questions_answered DESC, id "
            "LIMIT 1"
        ).fetchone()
        (question,) = conn.execute(
            "SELECT id FROM questions WHERE exam_id = ? ORDER BY id LIMIT 1", (exam,)
        ).fetchone()
    finally:
        conn.close()
    return int(user), int(exam), int(question)


async def test_study_queries_hit_then_writer_invalidates(
    packed: SqliteDriver, seeded_db: Path
) -> None:
    user, exam, question = busy_user(seeded_db)
    cache = QueryCache(maxsize=100, ttl=60)
    counting = CountingDriver(packed)
    queries = StudyQueries(counting, cache=cache, board_ttl=None, now=lambda: ANCHOR)

    first = await queries.user_progress(user, exam)
    ran = counting.statements
    assert ran > 0 and first["progress"] is not None
    second = await queries.user_progress(user, exam)
    assert second == first and counting.statements == ran  # a hit runs no SQL
    s = cache.stats()
    assert (s.hits, s.misses, s.loads, s.size) == (1, 1, 1, 1)
    board = await queries.leaderboard(exam)

    writer = AnswerWriter(packed, cache=cache, now=lambda: ANCHOR)
    answer = Answer(
        user_id=user,
        question_id=question,
        selected_answer="B",  # the stored key of this seeded question: graded correct
        time_spent_seconds=12,
        client_answer_id="cache-test-1",
    )
    assert (await writer.record([answer])).inserted == 1
    assert cache.stats().size == 0  # user:<id> and exam:<id> dropped both entries

    third = await queries.user_progress(user, exam)
    assert counting.statements > ran
    assert third["progress"]["questions_answered"] == first["progress"]["questions_answered"] + 1
    assert third["answers_last_7_days"] == first["answers_last_7_days"] + 1
    assert third["current_streak"] == first["current_streak"] + 1
    assert cache.stats().loads == 3
    assert len(await queries.leaderboard(exam)) == len(board)
    assert cache.stats().loads == 4


async def test_a_study_pick_survives_other_users_answers_not_its_users(
    packed: SqliteDriver, seeded_db: Path
) -> None:
    user, exam, question = busy_user(seeded_db)
    conn = sqlite3.connect(seeded_db)
    try:
        (other,) = conn.execute(
            "SELECT user_id FROM user_progress WHERE exam_id = ? AND user_id <> ? LIMIT 1",
            (exam, user),
        ).fetchone()
    finally:
        conn.close()
    cache = QueryCache(maxsize=100, ttl=60)
    queries = StudyQueries(packed, cache=cache, board_ttl=None, now=lambda: ANCHOR)
    writer = AnswerWriter(packed, cache=cache, now=lambda: ANCHOR)
    pick = await queries.study_questions(user, exam, limit=5, seed=3)
    board = await queries.leaderboard(exam)

    def answer(who: int, key: str) -> Answer:
        return Answer(
            user_id=who,
            question_id=question,
            selected_answer="A",
            is_correct=False,
            client_answer_id=key,
        )

    await writer.record([answer(int(other), "other-1")])
    hits = cache.stats().hits
    assert await queries.study_questions(user, exam, limit=5, seed=3) == pick
    assert cache.stats().hits == hits + 1  # another user's answer leaves the pick cached
    await queries.leaderboard(exam)
    assert cache.stats().hits == hits + 1  # but the exact leaderboard, cross-user, reloads
    assert len(board) > 0
    await writer.record([answer(user, "mine-1")])
    loads = cache.stats().loads
    await queries.study_questions(user, exam, limit=5, seed=3)
    assert cache.stats().loads == loads + 1  # the user's own answer drops a seeded pick


def other_question(path: Path, exam: int, not_in: set[int]) -> int:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id FROM questions WHERE exam_id = ? ORDER BY id", (exam,))
        return next(int(q) for (q,) in rows if int(q) not in not_in)
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["practice", "speed_drill"])
async def test_an_unseeded_pick_lives_until_its_user_answers_one_of_its_questions(
    packed: SqliteDriver, seeded_db: Path, mode: str
) -> None:
    user, exam, _ = busy_user(seeded_db)
    cache = QueryCache(maxsize=100, ttl=60)
    counting = CountingDriver(packed)
    queries = StudyQueries(counting, cache=cache, now=lambda: ANCHOR)
    writer = AnswerWriter(packed, cache=cache, now=lambda: ANCHOR)
    pick = await queries.study_questions(user, exam, limit=5, mode=mode)  # type: ignore[arg-type]
    picked = {r["id"] for r in pick}
    assert len(picked) == 5

    def answer(question: int, key: str) -> Answer:
        return Answer(user_id=user, question_id=question, selected_answer="B",
                      is_correct=True, client_answer_id=key)  # fmt: skip

    # The user answers a question outside the pick: the pick is still a valid one.
    outside = other_question(seeded_db, exam, picked)
    await writer.record([answer(outside, f"{mode}-outside")])
    ran = counting.statements
    again = await queries.study_questions(user, exam, limit=5, mode=mode)  # type: ignore[arg-type]
    assert again == pick and counting.statements == ran
    # ...and drawing again really may leave that question out (it is no candidate now).
    fresh = StudyQueries(packed, now=lambda: ANCHOR)
    for _ in range(5):
        redrawn = await fresh.study_questions(user, exam, limit=5, mode=mode)  # type: ignore[arg-type]
        assert outside not in {r["id"] for r in redrawn}
    # Answering one of the picked questions drops the pick; the new one leaves it out.
    chosen = sorted(picked)[0]
    await writer.record([answer(chosen, f"{mode}-inside")])
    after = await queries.study_questions(user, exam, limit=5, mode=mode)  # type: ignore[arg-type]
    assert counting.statements > ran
    assert chosen not in {r["id"] for r in after}
    assert cache.stats().loads == 2


async def test_the_leaderboard_is_kept_board_ttl_seconds_through_answers(
    packed: SqliteDriver, seeded_db: Path
) -> None:
    user, exam, question = busy_user(seeded_db)
    timer = FakeTimer()
    cache = QueryCache(maxsize=100, ttl=60, timer=timer)
    queries = StudyQueries(packed, cache=cache, board_ttl=5, now=lambda: ANCHOR)
    writer = AnswerWriter(packed, cache=cache, now=lambda: ANCHOR)
    board = await queries.leaderboard(exam)
    progress = await queries.user_progress(user, exam)
    answer = Answer(user_id=user, question_id=question, selected_answer="C",
                    is_correct=True, client_answer_id="board-1")  # fmt: skip
    await writer.record([answer])
    assert await queries.leaderboard(exam) is board  # kept through the answer
    moved = await queries.user_progress(user, exam)  # the user's own figures are exact
    assert moved["answers_last_7_days"] == progress["answers_last_7_days"] + 1
    timer.tick(4.999)
    assert await queries.leaderboard(exam) is board
    timer.tick(0.001)
    fresh = await queries.leaderboard(exam)
    assert fresh is not board
    if any(r["user_id"] == user for r in board):
        mine = next(r for r in fresh if r["user_id"] == user)
        was = next(r for r in board if r["user_id"] == user)
        assert mine["weekly_activity"] == was["weekly_activity"] + 1


@pytest.mark.parametrize("bad", [0, -1, True, "5", math.nan])
def test_bad_board_and_pick_ttl(packed: SqliteDriver, bad: Any) -> None:
    with pytest.raises(ConfigError, match="board_ttl"):
        StudyQueries(packed, board_ttl=bad)
    with pytest.raises(ConfigError, match="pick_ttl"):
        StudyQueries(packed, pick_ttl=bad)


async def test_per_entry_ttl_and_bad_ttl() -> None:
    cache, timer = make(ttl=10)
    loads = Loads()
    await cache.get_or_load("short", loads.of(1), ttl=2)
    await cache.get_or_load("long", loads.of(2))
    timer.tick(2)
    assert cache.get_many(["short", "long"]) == {"long": 2}
    timer.tick(8)
    assert cache.get_many(["long"]) == {}
    for bad in (0, -1, math.nan, "1", True):
        with pytest.raises(CacheError, match="ttl"):
            await cache.get_or_load("k", loads.of(3), ttl=bad)
    assert loads.calls == 2


async def test_store_tags_replace_the_tags_once_loaded_but_not_in_flight() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    loads = Loads(gate)
    task = asyncio.ensure_future(
        cache.get_or_load(
            "pick", loads.of([7, 8]), tags=["user:1"], store_tags=lambda v: [f"q:{q}" for q in v]
        )
    )
    await settle()
    assert cache.invalidate("q:7") == 0  # in flight, only user:1 guards it...
    gate.set()
    assert await task == [7, 8]
    assert cache.invalidate("user:1") == 0  # ...stored, only its own tags
    assert cache.invalidate("q:9") == 0
    assert cache.invalidate("q:8") == 1
    # An invalidation of the guarding tag while it loads: not stored.
    gate.clear()
    task = asyncio.ensure_future(
        cache.get_or_load("pick", loads.of([1]), tags=["user:1"], store_tags=lambda v: ["q:1"])
    )
    await settle()
    cache.invalidate("user:1")
    gate.set()
    await task
    assert len(cache) == 0
    # A store_tags that raises is a failed load: reported, nothing stored.
    with pytest.raises(ZeroDivisionError):
        await cache.get_or_load("x", Loads().of(1), store_tags=lambda v: [str(1 / 0)])
    assert (len(cache), cache.stats().load_errors) == (0, 1)


class DatabaseStandIn:
    """Stands in for the database's write positions (``EdgeDatabase`` with replicas):
    ``written`` is its last write, and each task requires the position its request's token
    names (``token``, per task)."""

    def __init__(self) -> None:
        self.written = 0
        self.token: contextvars.ContextVar[int] = contextvars.ContextVar("token", default=0)

    def current(self) -> int | None:
        return self.written

    def required(self) -> int:
        return self.token.get()


async def test_a_load_superseded_by_a_newer_token_is_not_stored_after_an_invalidation() -> None:
    # A request without a token starts a load; one with a newer token starts its own beside
    # it. A write then invalidates the user: the first load, no longer the one in flight,
    # was stored anyway, and the writer's next request (carrying the write's own token) was
    # served the figures from before its write.
    cache, _ = make()
    database = DatabaseStandIn()
    cache.positions = database
    rows = {"answered": "old"}
    gate = asyncio.Event()

    async def read_rows() -> str:
        value = rows["answered"]
        await gate.wait()
        return value

    async def request(token: int) -> Any:
        database.token.set(token)
        return await cache.get_or_load("progress:1", read_rows, tags=["user:1"])

    without_token = asyncio.create_task(request(0))
    await settle()
    with_token = asyncio.create_task(request(5))
    await settle()
    rows["answered"], database.written = "new", 6  # a write commits at position 6...
    cache.invalidate("user:1")  # ...and invalidates the user's entries
    gate.set()
    assert (await without_token, await with_token) == ("old", "old")  # read before the write
    assert await asyncio.create_task(request(6)) == "new"  # the write's own token
    s = cache.stats()
    assert (s.hits, s.loads, s.size, s.stale_refused) == (0, 3, 1, 0)
    assert cache.get_many(["progress:1"]) == {"progress:1": "new"}
