"""The practice pick's in-process candidate lists and the pack's bank version.

The optimized pick keeps each exam's candidate ids between calls and lists them again only
when ``study_bank_version`` moved. These tests edit the bank from another connection (the
triggers, not in-process bookkeeping, must notice) and check after each edit that the
seeded pick is still the baseline's, row for row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.study import Answer, AnswerWriter, Limits, StudyQueries
from edgedb_opt.study._optimized import PRACTICE_SQL
from tests.conftest import ANCHOR, apply_pack


def now() -> object:
    return ANCHOR


def sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def version(path: Path) -> object:
    return sql(path, "SELECT version FROM study_bank_version")[0][0]


@pytest.fixture
async def packed(seeded_db: Path) -> AsyncIterator[tuple[Path, SqliteDriver]]:
    await apply_pack(seeded_db)
    driver = await SqliteDriver.open(seeded_db)
    try:
        yield seeded_db, driver
    finally:
        await driver.close()


def busiest(path: Path) -> tuple[int, int, int]:
    """(user, exam, a candidate question of that exam) for the user with most answers."""
    user, exam = sql(
        path,
        "SELECT a.user_id, q.exam_id FROM user_answers a JOIN questions q ON q.id = a.question_id"
        " GROUP BY a.user_id, q.exam_id ORDER BY count(*) DESC, a.user_id LIMIT 1",
    )[0]
    (question,) = sql(
        path,
        "SELECT id FROM questions WHERE exam_id = ? AND is_active = 1"
        " AND review_status = 'approved' ORDER BY id DESC LIMIT 1",
        (exam,),
    )[0]
    return int(str(user)), int(str(exam)), int(str(question))


@dataclass
class Study:
    """A packed file, its busiest user, and both variants on one driver, already compared
    once (so the optimized variant holds a kept list)."""

    path: Path
    db: SqliteDriver
    user: int
    exam: int
    question: int
    opt: StudyQueries
    base: StudyQueries

    async def same(self, opt: StudyQueries | None = None) -> None:
        await same_picks(opt or self.opt, self.base, self.user, self.exam)


@pytest.fixture
async def study(packed: tuple[Path, SqliteDriver]) -> Study:
    path, db = packed
    user, exam, question = busiest(path)
    opt = StudyQueries(db, now=now, limits=Limits(max_page=10_000))  # a page of every candidate
    base = StudyQueries(db, variant="baseline", now=now)
    warm = Study(path, db, user, exam, question, opt, base)
    await warm.same()
    return warm


async def same_picks(opt: StudyQueries, base: StudyQueries, user: int, exam: int) -> None:
    for seed in (1, 2, 3):
        for difficulty in ((1, 5), (2, 4)):
            a = await opt.study_questions(user, exam, seed=seed, difficulty=difficulty)
            b = await base.study_questions(user, exam, seed=seed, difficulty=difficulty)
            assert a == b, (seed, difficulty)


EDITS: list[tuple[str, Callable[[int, int], tuple[str, tuple[object, ...]]]]] = [
    ("new question", lambda exam, q: (
        "INSERT INTO questions (exam_id, text, answers, difficulty, is_active, review_status)"
        " VALUES (?, 'new', '[]', 3, 1, 'approved')", (exam,))),
    ("retired", lambda exam, q: ("UPDATE questions SET is_active = 0 WHERE id = ?", (q,))),
    ("unapproved", lambda exam, q: (
        "UPDATE questions SET review_status = 'pending' WHERE id = ?", (q,))),
    ("harder", lambda exam, q: ("UPDATE questions SET difficulty = 5 WHERE id = ?", (q,))),
    ("moved", lambda exam, q: (
        "UPDATE questions SET exam_id = exam_id % 3 + 1 WHERE id = ?", (q,))),
    ("deleted", lambda exam, q: (
        "DELETE FROM questions WHERE id = (SELECT max(id) FROM questions WHERE text = 'new')", ())),
]  # fmt: skip


async def test_every_bank_edit_moves_the_version_and_the_pick_follows(study: Study) -> None:
    for name, edit in EDITS:
        before = version(study.path)
        sql(study.path, *edit(study.exam, study.question))
        assert version(study.path) != before, name
        await study.same()


async def test_answers_and_statistics_leave_the_version_alone(study: Study) -> None:
    before = version(study.path)
    answer = Answer(user_id=study.user, question_id=study.question, selected_answer="A",
                    is_correct=True, time_spent_seconds=9, client_answer_id="cand-1")  # fmt: skip
    assert (await AnswerWriter(study.db, now=lambda: ANCHOR).record([answer])).inserted == 1
    sql(
        study.path,
        "UPDATE questions SET text = text || '?', total_attempts = 0 WHERE id = ?",
        (study.question,),
    )
    assert version(study.path) == before
    # The kept list is reused, and the user's new answer still takes the question out.
    picks = await study.opt.study_questions(study.user, study.exam, limit=10_000)
    assert study.question not in {r["id"] for r in picks}
    await study.same()


def test_the_kept_version_skips_listing_the_candidates(packed: tuple[Path, SqliteDriver]) -> None:
    """CASE is lazy: with the kept version the statement does not walk the candidates."""
    path, _ = packed
    user, exam, _ = busiest(path)
    conn = sqlite3.connect(path)
    try:
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        conn.set_progress_handler(count, 10)
        current = version(path)

        def run(kept: object) -> tuple[object, ...]:
            nonlocal steps
            steps = 0
            row: tuple[object, ...] = conn.execute(  # no recent answers: only the lists count
                PRACTICE_SQL, (user, "2999-01-01", kept, exam, 1, 5)
            ).fetchone()
            return row

        listed = run(None)
        listing_steps = steps
        kept = run(current)
        kept_steps = steps
    finally:
        conn.close()
    assert listed[1] == kept[1] == current
    assert listed[2] is not None and kept[2] is None
    candidates = len(str(listed[2]).split(","))
    assert candidates > 30
    assert kept_steps * 5 < listing_steps, (kept_steps, listing_steps)


async def test_a_rolled_back_step_under_a_live_study_queries_falls_back(study: Study) -> None:
    await Migrator(study.db, [load_pack("study")]).rollback(step=["bank_version"])
    assert not sql(study.path, "SELECT 1 FROM sqlite_master WHERE name = 'study_bank_version'")
    sql(study.path, "UPDATE questions SET is_active = 0 WHERE id = ?", (study.question,))
    await study.same()
    # A new StudyQueries on the file without the step never looks for the version again.
    await study.same(StudyQueries(study.db, now=now))
