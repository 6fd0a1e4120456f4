"""The pack's external-content FTS5 table stays exactly in step with ``questions``."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.study import StudyQueries
from edgedb_opt.study._fts import SEARCH_PLAIN_SQL, SEARCH_SQL
from tests.conftest import apply_pack, master

WORDS = st.sampled_from(
    [
        "network",
        "encryption",
        "database",
        "firewall",
        "subnet",
        "policy",
        "latency",
        "route",
        "o'brien",
        "c++",
        "AND",
        "NOT",
        '"quoted"',
        "naïve",
        "東京",
        "",
    ]
)
TEXT = st.lists(WORDS, min_size=0, max_size=6).map(" ".join)
OPTIONAL_TEXT = st.none() | TEXT
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), TEXT, OPTIONAL_TEXT, OPTIONAL_TEXT),
        st.tuples(st.just("update"), st.integers(0, 10_000), TEXT, OPTIONAL_TEXT),
        st.tuples(st.just("update_counters"), st.integers(0, 10_000)),
        st.tuples(st.just("delete"), st.integers(0, 10_000)),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
def applied_db(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("fts") / "fts.db"
    shutil.copyfile(seeded_template, path)
    asyncio.run(apply_pack(path))
    yield path


def _pick(conn: sqlite3.Connection, n: int) -> int | None:
    ids = conn.execute("SELECT id FROM questions ORDER BY id").fetchall()
    return int(ids[n % len(ids)][0]) if ids else None


def _run(conn: sqlite3.Connection, op: tuple[object, ...], counter: int) -> None:
    kind = op[0]
    marker = f"zqmark{counter}x"  # a token no generated text contains
    if kind == "insert":
        conn.execute(
            "INSERT INTO questions (exam_id, text, answers, explanation, reference) "
            "VALUES ((SELECT min(id) FROM exams), ?, '[]', ?, ?)",
            (f"{op[1]} {marker}", op[2], op[3]),
        )
    elif kind == "update":
        qid = _pick(conn, int(str(op[1])))
        conn.execute(
            "UPDATE questions SET text = ?, explanation = ? WHERE id = ?",
            (f"{op[2]} {marker}", op[3], qid),
        )
    elif kind == "update_counters":
        conn.execute(
            "UPDATE questions SET total_attempts = total_attempts + 1 WHERE id = ?",
            (_pick(conn, int(str(op[1]))),),
        )
    else:
        qid = _pick(conn, int(str(op[1])))
        conn.execute("DELETE FROM user_answers WHERE question_id = ?", (qid,))
        conn.execute("DELETE FROM questions WHERE id = ?", (qid,))


def _fts_consistent(conn: sqlite3.Connection) -> None:
    # rank = 1: compare the index with the content table, not only its own structure.
    conn.execute("INSERT INTO questions_fts(questions_fts, rank) VALUES ('integrity-check', 1)")
    # Every marked row is found by its marker, and only it: the index matches the content.
    for rowid, text in conn.execute(
        "SELECT id, text FROM questions WHERE text LIKE '%zqmark%'"
    ).fetchall():
        marker = next(w for w in str(text).split() if w.startswith("zqmark"))
        hits = conn.execute(
            "SELECT rowid FROM questions_fts WHERE questions_fts MATCH ?", (f'"{marker}"',)
        ).fetchall()
        assert hits == [(rowid,)], (marker, hits)
    total = conn.execute("SELECT count(*) FROM questions").fetchone()
    indexed = conn.execute("SELECT count(*) FROM questions_fts_docsize").fetchone()
    assert total == indexed


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_fts_integrity_after_random_writes(applied_db: Path, ops: list[tuple[object, ...]]) -> None:
    conn = sqlite3.connect(applied_db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for i, op in enumerate(ops):
            _run(conn, op, i)
        _fts_consistent(conn)
        conn.execute("ROLLBACK")  # each example starts from the same state
    finally:
        conn.close()


def test_fts_holds_exactly_the_questions_after_apply(applied_db: Path) -> None:
    conn = sqlite3.connect(applied_db)
    try:
        _fts_consistent(conn)
        hits = conn.execute(
            "SELECT count(*) FROM questions_fts WHERE questions_fts MATCH 'network'"
        ).fetchone()
        assert hits is not None and hits[0] > 0
    finally:
        conn.close()


def test_rollback_leaves_no_fts_table_shadow_or_trigger(seeded_db: Path) -> None:
    before = master(seeded_db)
    asyncio.run(apply_pack(seeded_db))
    names = {r[1] for r in master(seeded_db)}
    assert {"questions_fts", "questions_fts_data", "questions_fts_idx"} <= names
    assert any(r[0] == "trigger" for r in master(seeded_db))

    async def undo() -> None:
        db = await SqliteDriver.open(seeded_db)
        try:
            await Migrator(db, [load_pack("study")]).rollback(all=True)
        finally:
            await db.close()

    asyncio.run(undo())
    after = master(seeded_db)
    assert after == before
    assert not [r for r in after if r[1].startswith("questions_fts") or r[0] == "trigger"]


def test_the_search_filter_index_changes_the_plan_not_the_results(seeded_db: Path) -> None:
    """The search names idx_questions_search_filter; without the step it runs the plain
    join. Both find the same rows, in the same order, for many words and every exam."""
    asyncio.run(apply_pack(seeded_db))
    conn = sqlite3.connect(seeded_db)
    try:
        exams = [int(r[0]) for r in conn.execute("SELECT id FROM exams ORDER BY id")]
        plan = " ".join(
            str(r[3])
            for r in conn.execute("EXPLAIN QUERY PLAN " + SEARCH_SQL, ('"network"', 1, 20))
        )
        assert "idx_questions_search_filter" in plan, plan
        found = 0
        for word in ("network", "encryption", "policy", "latency", "route", "key"):
            for exam in exams:
                args = (f'"{word}"', exam, 50)
                indexed = conn.execute(SEARCH_SQL, args).fetchall()
                assert indexed == conn.execute(SEARCH_PLAIN_SQL, args).fetchall()
                found += len(indexed)
        assert found > 0
    finally:
        conn.close()

    async def without_the_step() -> tuple[list[object], list[object]]:
        db = await SqliteDriver.open(seeded_db)
        try:
            fresh = StudyQueries(db)
            with_index = await fresh.search_questions(exams[0], "network policy")
            await Migrator(db, [load_pack("study")]).rollback(
                step=["analyze_growth_stats", "analyze_stats"]
            )
            await Migrator(db, [load_pack("study")]).rollback(step=["search_filter"])
            plain = await StudyQueries(db).search_questions(exams[0], "network policy")
            return with_index, plain
        finally:
            await db.close()

    with_index, plain = asyncio.run(without_the_step())
    assert with_index == plain
