"""EdgeDatabase on real SQLite files: a Driver for the study flow and migrations, region
routing (reads local, writes primary, read-your-writes, failover), monitoring, health."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import DriverError
from edgedb_opt.migrate import Migrator
from edgedb_opt.migrate.pack import load_pack
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.health import health
from edgedb_opt.runtime.monitor import NPlusOneWarning
from edgedb_opt.runtime.regions import load_settings
from edgedb_opt.study import AnswerWriter, StudyQueries
from tests.conftest import ANCHOR, APPLIED_ON_SQLITE, apply_pack, query


def clock() -> dt.datetime:
    return ANCHOR.replace(tzinfo=dt.UTC)


def _two_regions(tmp_path: Path, **extra: object) -> dict[str, object]:
    """Primary ``iad`` and a second region ``lhr``, each a SQLite file with one row that
    tells them apart (a stand-in for a replica that has not caught up)."""
    for name in ("iad", "lhr"):
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            conn.execute("INSERT INTO t (v) VALUES (?)", (name,))
        conn.close()
    return {
        "regions": [
            {"name": "iad", "url": str(tmp_path / "iad.db"), "primary": True},
            {"name": "lhr", "url": str(tmp_path / "lhr.db")},
        ],
        "region": "lhr",
        "readers": 2,
        **extra,
    }


async def test_it_is_a_driver_that_the_study_flow_and_migrations_run_on(seeded_db: Path) -> None:
    async with await EdgeDatabase.connect(db=str(seeded_db)) as db:
        assert isinstance(db, Driver)
        pack = load_pack("study")
        outcome = await Migrator(db, [pack]).apply()
        assert [s.id for s in outcome if s.action == "applied"] == list(APPLIED_ON_SQLITE)
        queries = StudyQueries(db, cache=db.cache, now=clock)
        user, exam = query(seeded_db, "SELECT user_id, exam_id FROM user_progress LIMIT 1")[0]
        before = await queries.user_progress(int(user), int(exam))
        question = query(seeded_db, "SELECT id FROM questions WHERE exam_id = ? LIMIT 1", (exam,))[
            0
        ][0]
        writer = AnswerWriter(db, cache=db.cache, now=clock)
        await writer.record(
            [
                dict(
                    user_id=user,
                    question_id=question,
                    selected_answer="A",
                    is_correct=True,
                    client_answer_id="edge-1",
                )
            ]
        )
        after = await queries.user_progress(int(user), int(exam))
        assert db.cache is not None and db.cache.stats().hits == 0
        assert after != before  # the writer invalidated the cached progress
    names = {r[0] for r in query(seeded_db, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert "idx_questions_study_candidates" in names
    assert query(
        seeded_db, "SELECT count(*) FROM user_answers WHERE client_answer_id='edge-1'"
    ) == [(1,)]


async def test_transactions_read_their_own_writes_and_roll_back_together(tmp_path: Path) -> None:
    async with await EdgeDatabase.connect(db=str(tmp_path / "t.db"), must_exist=False) as db:
        await db.execute("CREATE TABLE t (v INTEGER NOT NULL)")
        with pytest.raises(DriverError, match="NOT NULL"):
            async with db.transaction():
                await db.execute("INSERT INTO t VALUES (1)")
                assert db.in_transaction
                assert await db.fetch_all("SELECT count(*) FROM t") == [(1,)]
                await db.execute("INSERT INTO t VALUES (NULL)")
        assert not db.in_transaction
        assert await db.fetch_all("SELECT count(*) FROM t") == [(0,)]
        with pytest.raises(DriverError, match="no nesting"):
            async with db.transaction(), db.transaction():
                pass


async def test_reads_go_to_the_local_region_writes_to_the_primary(tmp_path: Path) -> None:
    settings = load_settings(**_two_regions(tmp_path, read_your_writes_s=60))
    async with await EdgeDatabase.connect(settings) as db:
        assert db.region == "lhr"
        assert await db.fetch_all("SELECT v FROM t") == [("lhr",)]

        async def request_that_writes() -> list[tuple[object, ...]]:
            await db.execute("INSERT INTO t (v) VALUES ('written')")
            # read-your-writes: this request now reads where its write went
            return await db.fetch_all("SELECT v FROM t ORDER BY id")

        assert await asyncio.create_task(request_that_writes()) == [("iad",), ("written",)]
        # another request (a fresh context) still reads its local region
        assert await asyncio.create_task(db.fetch_all("SELECT v FROM t")) == [("lhr",)]
        uk = db.for_request({"cf-ipcountry": "GB"})
        us = db.for_request({"CF-IPCountry": "US"})
        assert (uk.region, us.region) == ("lhr", "iad")
        assert await us.fetch_all("SELECT v FROM t ORDER BY id") == [("iad",), ("written",)]
    assert query(tmp_path / "lhr.db", "SELECT v FROM t") == [("lhr",)]


async def test_a_broken_region_fails_over_and_comes_back(tmp_path: Path) -> None:
    settings = load_settings(**_two_regions(tmp_path, retry_after=0.05))
    async with await EdgeDatabase.connect(settings) as db:
        lhr = db.pools["lhr"]
        # Every reader of lhr held: reads there time out, so they go to the next region.
        holds = [lhr.reader() for _ in range(2)]
        for h in holds:
            await h.__aenter__()
        try:
            rows = await db.fetch_all("SELECT v FROM t")
        finally:
            for h in holds:
                await h.__aexit__(None, None, None)
        assert rows == [("iad",)]
        # A failed health check (lhr saturated: no reader free in time) takes it out of
        # rotation until retry_after passes and a trial read succeeds.
        async with lhr.reader(), lhr.reader():
            report = {r.region: r for r in await db.check_regions(timeout=0.05)}
        assert not report["lhr"].ok and report["iad"].ok
        assert "no reader" in report["lhr"].detail
        assert not db.router.is_healthy("lhr")
        assert await db.fetch_all("SELECT v FROM t") == [("iad",)]
        await asyncio.sleep(0.06)  # retry_after passes: lhr gets a trial read
        assert await db.fetch_all("SELECT v FROM t") == [("lhr",)]
        assert db.router.is_healthy("lhr")


async def test_the_n_plus_one_detector_sees_through_edge_database(seeded_db: Path) -> None:
    await apply_pack(seeded_db)
    user, exam = query(seeded_db, "SELECT user_id, exam_id FROM user_progress LIMIT 1")[0]
    async with await EdgeDatabase.connect(db=str(seeded_db), n_plus_one_threshold=5) as db:
        for variant, expected in (("baseline", True), ("optimized", False)):
            queries = StudyQueries(db, variant=variant, now=clock)  # type: ignore[arg-type]
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                with db.monitor.request_scope(variant):
                    await queries.study_questions(int(user), int(exam), limit=20, seed=3)
            fired = [w for w in seen if issubclass(w.category, NPlusOneWarning)]
            assert bool(fired) is expected, (variant, [str(w.message) for w in fired])
            if fired:
                assert "objectives" in str(fired[0].message)


async def test_rewrite_runs_the_rewritten_statement(tmp_path: Path) -> None:
    async with await EdgeDatabase.connect(db=str(tmp_path / "r.db"), must_exist=False) as db:
        await db.execute("CREATE TABLE a (id INTEGER PRIMARY KEY)")
        await db.execute("CREATE TABLE b (a_id INTEGER NOT NULL)")
        await db.execute("INSERT INTO a VALUES (1), (2)")
        await db.execute("INSERT INTO b VALUES (1)")
        sql = "SELECT id FROM a WHERE id NOT IN (SELECT a_id FROM b)"
        assert await db.fetch_all(sql, rewrite=True) == [(2,)]
        shapes = " ".join(db.monitor.stats())
        assert "NOT EXISTS" in shapes.upper() and "NOT IN" not in shapes.upper()


async def test_health_recommends_the_pack_then_passes(seeded_db: Path, tmp_path: Path) -> None:
    async with await EdgeDatabase.connect(db=str(seeded_db)) as db:
        before = await health(db)
        checks = {c.name: c for c in before.checks}
        assert checks["index_use"].level == "warn" and "edgeopt apply" in str(
            checks["index_use"].recommendation
        )
        assert checks["region:local"].level == "ok" and checks["pragmas"].level == "ok"
        await Migrator(db, [load_pack("study")]).apply()
        after = {c.name: c for c in (await health(db)).checks}
        assert after["index_use"].level == "ok", after["index_use"].detail
        assert (
            after["fts_integrity"].level == "ok"
            and "questions_fts" in after["fts_integrity"].detail
        )
        assert after["stats_freshness"].level == "ok", after["stats_freshness"].detail
        assert (await health(db)).healthy
    broken = tmp_path / "broken.db"
    shutil.copy(seeded_db, broken)
    await apply_pack(broken)
    with sqlite3.connect(broken) as conn:  # corrupt the FTS index behind the triggers' back
        conn.execute("DELETE FROM questions_fts_data WHERE id > 10")
    conn.close()
    async with await EdgeDatabase.connect(db=str(broken)) as db:
        report = await health(db)
        assert not report.healthy
        assert {c.name for c in report.checks if c.level == "fail"} == {"fts_integrity"}


async def test_closed_database_refuses_work_and_close_is_idempotent(tmp_path: Path) -> None:
    db = await EdgeDatabase.connect(db=str(tmp_path / "c.db"), must_exist=False)
    await db.close()
    await db.close()
    with pytest.raises(DriverError, match="closed"):
        await db.fetch_all("SELECT 1")
    with pytest.raises(DriverError, match="closed"):
        await db.execute("SELECT 1")


def test_a_leaked_database_warns_and_the_process_still_exits(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from edgedb_opt.runtime.database import EdgeDatabase\n"
        "async def main():\n"
        "    db = await EdgeDatabase.connect(db=sys.argv[1], must_exist=False)\n"
        "    await db.execute('CREATE TABLE t (v)')\n"
        "    print(await db.fetch_all('SELECT count(*) FROM t'))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script, str(tmp_path / "leak.db")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stdout.strip() == "[(0,)]"
    assert "ResourceWarning: sqlite driver for" in done.stderr
    assert "was never closed" in done.stderr


async def test_health_finds_an_fts_entry_with_no_question_behind_it(seeded_db: Path) -> None:
    await apply_pack(seeded_db)
    conn = sqlite3.connect(seeded_db)
    with conn:  # an index entry for a question that does not exist: structure intact
        conn.execute(
            "INSERT INTO questions_fts (rowid, text, explanation, reference) "
            "VALUES (999999, 'phantom question', NULL, NULL)"
        )
    conn.close()
    async with await EdgeDatabase.connect(db=str(seeded_db), tune=False) as db:
        report = await health(db)
    assert {c.name for c in report.checks if c.level == "fail"} == {"fts_integrity"}


async def test_fetch_then_reads_in_the_region_and_reports_both_statements(tmp_path: Path) -> None:
    async with await EdgeDatabase.connect(db=str(tmp_path / "t.db"), must_exist=False) as db:
        await db.execute("CREATE TABLE t (v INTEGER NOT NULL)")
        await db.execute("INSERT INTO t VALUES (1), (2), (3)")

        def then(rows: list[tuple[object, ...]]) -> tuple[str, tuple[object, ...]]:
            return "SELECT count(*) FROM t WHERE v >= ?", (rows[0][0],)

        assert await db.fetch_then("SELECT max(v) - 1 FROM t", (), then) == ([(2,)], [(2,)])
        stats = db.monitor.stats()
        shapes = {s for s in stats if "count" in s.lower() or "max" in s.lower()}
        assert len(shapes) == 2, stats.keys()  # one round trip, both statements reported
        assert all(stats[s].count == 1 for s in shapes)
        async with db.transaction():  # inside a transaction: the transaction's connection
            await db.execute("INSERT INTO t VALUES (9)")
            assert await db.fetch_then("SELECT max(v) FROM t", (), then) == ([(9,)], [(1,)])
