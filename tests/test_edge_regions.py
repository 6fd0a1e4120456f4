"""An edge app across requests and regions, on two embedded replicas of one real ``tursodb``
server: read-your-writes that survives the next request, a cache that never keeps what a
lagging replica read, and replicas that keep serving while the server is down."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.errors import UnavailableError
from edgedb_opt.runtime.consistency import TOKEN_COOKIE, TOKEN_HEADER, Position
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.regions import Settings, load_settings
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter
from tests.conftest import eventually
from tests.turso_server import TursoServer

#: Request headers that route to each region (Cloudflare's country header).
FROM = {"iad": {"cf-ipcountry": "US"}, "fra": {"cf-ipcountry": "DE"}}


def two_regions(server: TursoServer, tmp_path: Path, **extra: Any) -> Settings:
    """Regions iad (primary) and fra, each an embedded replica of the same server. Their
    background syncs are slow on purpose, so a replica lags unless something pulls it."""
    interval = extra.pop("sync_interval", 30.0)
    return load_settings(
        regions=[
            {
                "name": name,
                "url": server.url,
                "primary": name == "iad",
                "replica_path": str(tmp_path / f"replica-{name}.db"),
                "sync_interval": interval,
            }
            for name in ("iad", "fra")
        ],
        region="iad",
        **extra,
    )


def headers(region: str, token: Position | None, *, as_cookie: bool = True) -> dict[str, str]:
    out = dict(FROM[region])
    if token is not None:
        if as_cookie:
            out["cookie"] = f"theme=dark; {TOKEN_COOKIE}={token.token()}"
        else:
            out[TOKEN_HEADER] = token.token()
    return out


async def pick(
    db: EdgeDatabase, user: int, hdrs: dict[str, str], mode: str = "practice"
) -> list[int]:
    """One request (its own task, as a server runs it): the user's next questions (an
    unseeded practice pick by default, cached as an app asks for it)."""

    async def request() -> list[int]:
        view = db.for_request(hdrs)
        queries = StudyQueries(view, cache=db.cache)
        rows = await queries.study_questions(user, 1, limit=10, mode=mode)  # type: ignore[arg-type]
        return [r["id"] for r in rows]

    return await asyncio.create_task(request())


async def answer(
    db: EdgeDatabase, user: int, question: int, region: str, n: int
) -> Position | None:
    """One request (its own task): the user answers a question (written through the
    primary); returns the token the response carries."""

    async def request() -> Position | None:
        view = db.for_request(FROM[region])
        await AnswerWriter(view, cache=db.cache).record(
            [
                {
                    "user_id": user,
                    "question_id": question,
                    "selected_answer": "A",
                    "client_answer_id": f"u{user}-q{question}-{n}",
                }
            ]
        )
        return view.scope.written if view.scope is not None else None

    return await asyncio.create_task(request())


async def replica_of(db: EdgeDatabase, region: str) -> Any:
    async with db.pools[region].reader() as conn:
        return conn


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_an_answer_is_never_offered_again_on_the_next_request_in_another_region(
    study_server: TursoServer, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    settings = two_regions(study_server, tmp_path, read_wait_s=0.05)
    async with EdgeDatabase.connect(settings) as db:
        assert db.positions_on and db.cache is not None
        iad, fra = await replica_of(db, "iad"), await replica_of(db, "fra")
        users = [3, 5, 8, 13]
        answered: dict[int, set[int]] = {u: set() for u in users}
        tokens: dict[int, Position | None] = dict.fromkeys(users)
        checked = stale_other = 0
        for step in range(40):
            user = rng.choice(users)
            write_region, read_region = rng.choice([("iad", "fra"), ("fra", "iad"), ("fra", "fra")])
            offered = await pick(db, user, headers(write_region, tokens[user]))
            assert not set(offered) & answered[user], (step, "offered an answered question")
            question = offered[0]
            tokens[user] = await answer(db, user, question, write_region, step)
            assert tokens[user] is not None and tokens[user].writer == db.writer_id
            answered[user].add(question)
            # What a real deployment varies: whether the primary has pushed yet, whether the
            # other region has pulled, how long the user takes, cookie or header.
            if rng.random() < 0.4:
                await iad.push()
            if rng.random() < 0.3:
                await fra.pull()
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.03)
            # Another request for the same user without the token (a second device) may
            # be served by a lagging replica; it must not leave a stale pick in the cache.
            if rng.random() < 0.5:
                maybe_stale = await pick(db, user, headers(read_region, None))
                stale_other += bool(set(maybe_stale) & answered[user])
            nxt = await pick(
                db, user, headers(read_region, tokens[user], as_cookie=rng.random() < 0.7)
            )
            assert question not in nxt, (step, read_region, "the next request offered it again")
            assert not set(nxt) & answered[user]
            checked += 1
        assert checked == 40
        # Once every replica has everything, even token-less requests see every answer:
        # nothing stale was kept by the cache.
        await iad.push()
        await fra.pull()
        for user in users:
            for region in ("iad", "fra"):
                assert not set(await pick(db, user, headers(region, None))) & answered[user]
        stats = db.cache.stats()
        assert stats.hits > 0  # the cache was on and used


async def test_a_load_served_by_a_lagging_replica_is_answered_but_never_kept(
    study_server: TursoServer, tmp_path: Path
) -> None:
    settings = two_regions(study_server, tmp_path)
    async with EdgeDatabase.connect(settings) as db:
        assert db.cache is not None
        fra = await replica_of(db, "fra")
        user = 21
        first = await pick(db, user, headers("fra", None), "speed_drill")
        token = await answer(db, user, first[0], "iad", 0)
        assert token is not None
        # fra has not pulled: a token-less request there reads the old pick...
        before = db.cache.stats().stale_refused
        stale = await pick(db, user, headers("fra", None), "speed_drill")
        assert stale == first
        assert db.cache.stats().stale_refused == before + 1  # ...which is not stored
        # ...while the request that carries the token is served where the answer is.
        view = db.for_request(headers("fra", token))
        queries = StudyQueries(view, cache=db.cache)
        rows = await asyncio.create_task(queries.study_questions(user, 1, mode="speed_drill"))
        assert first[0] not in [r["id"] for r in rows]
        assert view.scope is not None and view.scope.primary_reads >= 1
        await db.pools["iad"].driver.push()  # type: ignore[attr-defined]
        await fra.pull()
        assert first[0] not in await pick(db, user, headers("fra", None), "speed_drill")


async def test_a_replica_that_caught_up_serves_the_token_itself(
    study_server: TursoServer, tmp_path: Path
) -> None:
    settings = two_regions(study_server, tmp_path, read_wait_s=5.0)
    async with EdgeDatabase.connect(settings) as db:
        token = await answer(db, 34, 1, "iad", 0)
        assert token is not None
        await db.pools["iad"].driver.push()  # type: ignore[attr-defined]
        # fra has not pulled, but the bounded wait pulls it once: no primary read needed.
        view = db.for_request(headers("fra", token))
        rows = await view.fetch_all(
            "SELECT count(*) FROM user_answers WHERE client_answer_id = ?", ("u34-q1-0",)
        )
        assert rows == [(1,)]
        assert view.scope is not None and view.scope.primary_reads == 0
        # A forged or foreign token costs nothing but a pull: never an error.
        for bad in ("nonsense", "ffffffffffff.999999", ""):
            hdrs = {**FROM["fra"], TOKEN_HEADER: bad}
            assert await db.for_request(hdrs).fetch_all("SELECT 1") == [(1,)]


async def test_server_down_replicas_keep_serving_and_no_acknowledged_answer_is_lost(
    study_server: TursoServer, tmp_path: Path
) -> None:
    settings = two_regions(
        study_server, tmp_path, sync_interval=0.1, max_staleness_s=60, retry_after=0.1
    )
    acknowledged: list[str] = []
    async with EdgeDatabase.connect(settings) as db:
        study_server.kill()
        iad = await replica_of(db, "iad")

        async def cut_off() -> bool:
            return iad.sync_stats().last_error is not None

        await eventually(cut_off)
        for n in range(30):
            region = ("iad", "fra")[n % 2]
            view = db.for_request(FROM[region])
            # Reads in both regions keep working from the replicas...
            assert await view.fetch_all("SELECT count(*) FROM questions WHERE id = 1") == [(1,)]
            assert view.scope is not None and view.scope.stale_seconds is not None
            assert view.scope.response_headers()["x-edgeopt-stale-seconds"]
            # ...and answers are acknowledged from the primary's replica.
            result = await AnswerWriter(view, cache=db.cache).record(
                [
                    {
                        "user_id": 40 + n % 5,
                        "question_id": 1 + n,
                        "selected_answer": "A",
                        "client_answer_id": f"down-{n}",
                    }
                ]
            )
            acknowledged += result.client_answer_ids
        health = {h.region: h for h in await db.check_regions(timeout=0.5)}
        assert not health["iad"].ok and health["iad"].lag_s is not None
        study_server.start()

        async def all_on_server() -> bool:
            rows = study_server.pipeline(
                "SELECT count(*), count(DISTINCT client_answer_id) FROM user_answers"
                " WHERE client_answer_id LIKE 'down-%'"
            )
            return rows == [[30, 30]]

        await eventually(all_on_server, within=20)
    assert len(acknowledged) == 30
    rows = study_server.pipeline(
        "SELECT client_answer_id, count(*) FROM user_answers"
        " WHERE client_answer_id LIKE 'down-%' GROUP BY 1 HAVING count(*) <> 1"
    )
    assert rows == []  # none duplicated


async def test_beyond_the_staleness_bound_a_cut_off_replica_is_refused(
    study_server: TursoServer, tmp_path: Path
) -> None:
    settings = two_regions(study_server, tmp_path, sync_interval=0.1, max_staleness_s=0.5)
    async with EdgeDatabase.connect(settings) as db:
        study_server.kill()
        await asyncio.sleep(0.8)
        iad = await replica_of(db, "iad")

        async def cut_off() -> bool:
            return iad.sync_stats().last_error is not None

        await eventually(cut_off)
        with pytest.raises(Exception, match="cannot sync"):
            await db.for_request(FROM["fra"]).fetch_all("SELECT 1")


async def test_the_kept_study_queries_read_in_the_requests_region(
    study_server: TursoServer, tmp_path: Path
) -> None:
    # One StudyQueries per region, kept by the database: a request in fra reads fra's
    # replica (which lags here), one in iad reads iad's; both honour the request scope.
    settings = two_regions(study_server, tmp_path)
    async with EdgeDatabase.connect(settings) as db:
        user = 55
        first = await pick(db, user, headers("iad", None), "speed_drill")
        await answer(db, user, first[0], "iad", 0)

        async def in_region(region: str, token: Position | None) -> tuple[object, list[int]]:
            with db.request(headers(region, token)) as scope:
                queries = db.study()
                rows = await queries.study_questions(user, 1, limit=10, mode="speed_drill")
                assert scope.region == region
                return queries, [r["id"] for r in rows]

        in_fra, stale = await asyncio.create_task(in_region("fra", None))
        in_iad, fresh = await asyncio.create_task(in_region("iad", None))
        assert in_fra is db.study("fra") and in_iad is db.study("iad") and in_fra is not in_iad
        assert first[0] in stale  # fra's replica has not pulled the answer
        assert first[0] not in fresh  # iad took the write
        token = db.last_written() or Position(db.writer_id, db.position)
        _, with_token = await asyncio.create_task(in_region("fra", token))
        assert first[0] not in with_token
        with pytest.raises(Exception, match="cannot change"):
            db.study("fra", pick_ttl=1.0)


def regions(
    server: TursoServer, tmp_path: Path, names: tuple[str, ...], region: str, **extra: Any
) -> Settings:
    """As ``two_regions``, with the regions ``names`` (the first is the primary) and
    requests without a country starting in ``region``."""
    return load_settings(
        regions=[
            {
                "name": name,
                "url": server.url,
                "primary": name == names[0],
                "replica_path": str(tmp_path / f"replica-{name}.db"),
                "sync_interval": 30.0,
            }
            for name in names
        ],
        region=region,
        **extra,
    )


async def test_a_token_of_this_process_is_never_served_older_data_when_the_primary_is_busy(
    study_server: TursoServer, tmp_path: Path
) -> None:
    # A request carrying the token of its own write, in a region that has not got the write,
    # while the primary (which holds it) had no free slot: the last region of the read order
    # served what it had, the data from before the write. Now the request is refused.
    settings = regions(
        study_server,
        tmp_path,
        ("iad", "fra", "syd"),
        "fra",
        read_wait_s=0.2,
        pool_timeout=0.2,
        max_in_flight=2,
    )
    sql = "SELECT display_name FROM users WHERE id = 1"

    async def write(db: EdgeDatabase) -> Position | None:  # one request, its own task
        view = db.for_request({})
        await view.execute("UPDATE users SET display_name = 'after-write' WHERE id = 1")
        return view.scope.written if view.scope is not None else None

    async with EdgeDatabase.connect(settings) as db:
        study_server.kill()  # the primary cannot push the write: no other region gets it
        try:
            token = await asyncio.create_task(write(db))
            assert token is not None and token.writer == db.writer_id
            for name in ("fra", "syd"):
                assert await (await replica_of(db, name)).fetch_all(sql) != [("after-write",)]
            async with contextlib.AsyncExitStack() as busy:
                for _ in range(2):  # every request slot of the primary taken
                    await busy.enter_async_context(db.pools["iad"].reader())
                view = db.for_request(headers("fra", token))
                with pytest.raises(UnavailableError, match="tried fra, iad, syd"):
                    await asyncio.create_task(view.fetch_all(sql))
            view = db.for_request(headers("fra", token))  # the primary free again
            assert await asyncio.create_task(view.fetch_all(sql)) == [("after-write",)]
        finally:
            study_server.start()  # so that closing pushes the write


async def test_a_tasks_own_write_is_honoured_by_cache_joins_outside_a_request(
    study_server: TursoServer, tmp_path: Path
) -> None:
    # A task that wrote outside any request scope read its write back directly, but through
    # the cache it joined a load that another request had started on the lagging region,
    # and got the value from before its own write.
    settings = regions(study_server, tmp_path, ("iad", "fra"), "fra")
    sql = "SELECT display_name FROM users WHERE id = 1"
    async with EdgeDatabase.connect(settings) as db:
        cache = db.cache
        assert cache is not None
        assert await db.fetch_all(sql) != [("new",)]
        gate = asyncio.Event()

        async def load() -> object:
            await gate.wait()
            return (await db.fetch_all(sql))[0][0]

        async def another_request() -> object:  # no token, no write of its own
            return await cache.get_or_load(("name", 1), load, tags=["user:1"])

        async def writing_task() -> tuple[object, object]:
            await db.execute("UPDATE users SET display_name = 'new' WHERE id = 1")
            cache.invalidate("user:1")
            misses = cache.stats().misses
            other = asyncio.create_task(another_request(), context=contextvars.Context())
            while cache.stats().misses == misses:  # its load is in flight
                await asyncio.sleep(0)
            mine = asyncio.create_task(cache.get_or_load(("name", 1), load, tags=["user:1"]))
            while cache.stats().misses == misses + 1:
                await asyncio.sleep(0)
            gate.set()
            await other  # read fra's copy, which it may: it wrote nothing
            direct = (await db.fetch_all(sql))[0][0]
            return direct, await mine

        direct, cached = await asyncio.create_task(writing_task())
        assert direct == cached == "new"


async def test_a_forged_token_costs_at_most_one_pull_per_region_per_tenth_of_a_second(
    study_server: TursoServer, tmp_path: Path
) -> None:
    # A well-formed token naming no writer of this database (any client can send one) made
    # every read of its request pull each region of its read order, the primary included
    # (a pull holds the connection its writes need): twenty requests, twenty pulls of each.
    settings = two_regions(study_server, tmp_path)
    sql = "SELECT count(*) FROM users"
    async with EdgeDatabase.connect(settings) as db:
        replicas = {name: await replica_of(db, name) for name in ("iad", "fra")}
        expected = await db.fetch_all(sql)
        forged = {**FROM["fra"], TOKEN_HEADER: "ffffffffffff.1"}
        before = {name: r.sync_stats().pulls for name, r in replicas.items()}
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(20):
            view = db.for_request(forged)
            assert await asyncio.create_task(view.fetch_all(sql)) == expected
        elapsed = loop.time() - started
        pulls = {name: r.sync_stats().pulls - before[name] for name, r in replicas.items()}
        # One pull per region at first, then at most one per region per 0.1 s.
        assert all(1 <= n <= 1 + elapsed / 0.1 for n in pulls.values()), (pulls, elapsed)
