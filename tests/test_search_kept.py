"""The LIKE search answered from kept exam texts (study/_corpus.py) against each engine's LIKE.

Differential: random banks (ASCII and other letters in both cases, NUL, LIKE's wildcards,
NULL columns, other exams, drafts) and random words; the kept-text answer must be the SQL
fallback's, rows and order, on SQLite and on the Turso engine. Then the kept text against
a bank that changes under it, through the real pack steps on the Turso engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgedb_opt.drivers.base import Driver
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.drivers.turso_driver import TursoDriver
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.study import StudyQueries, _corpus, _fts
from tests.conftest import make_seeded

_TABLE = """CREATE TABLE questions (
    id INTEGER PRIMARY KEY, exam_id INTEGER NOT NULL, objective_id INTEGER,
    difficulty INTEGER NOT NULL, text TEXT, explanation TEXT, reference TEXT,
    is_active INTEGER NOT NULL, review_status TEXT NOT NULL)"""

_VERSION = "CREATE TABLE study_bank_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"

# Letters whose case LIKE folds (ASCII) and some it does not (accented, sharp s, Turkish i,
# Greek sigma: written as escapes below), digits,
# separators, LIKE's own wildcards and escape, and NUL, where LIKE stops reading a value.
_OTHER_LETTERS = "\u00c9\u00e9\u00df\u0130\u0131\u03a3\u03c3\u03c2"
_CHARS = "aAbBkKeEyY01 -_%\\\x00" + _OTHER_LETTERS
_VALUE = st.text(alphabet=_CHARS, max_size=24)
_QUESTION = st.tuples(
    st.sampled_from([1, 1, 1, 2]),  # exam: mostly the searched one
    st.sampled_from([1, 1, 1, 0]),  # is_active
    st.sampled_from(["approved", "approved", "pending"]),
    _VALUE,
    st.none() | _VALUE,
    st.none() | _VALUE,
)
_WORD = st.text(alphabet="aAbBkKeEyY01" + _OTHER_LETTERS, min_size=1, max_size=3)


async def _fill(db: Driver, bank: list[tuple[Any, ...]]) -> None:
    await db.execute("DELETE FROM questions")
    for i, (exam, active, status, text, explanation, reference) in enumerate(bank, start=1):
        await db.execute(
            "INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (i * 3, exam, i % 4, 1 + i % 5, text, explanation, reference, active, status),
        )


async def _both(db: Driver, words: list[str], limit: int) -> tuple[list[Any], list[int]]:
    sql_rows = await _fts.search_like(db, 1, words, limit)
    kept = await _corpus._read(db, 1)  # the exam's text as the optimized search reads it
    found = kept[1].search(words, limit) if kept is not None else []
    return [r[0] for r in sql_rows], found


@pytest.fixture(params=["sqlite", "turso"])
def bank_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Driver, Any]]:
    loop = asyncio.new_event_loop()
    path = tmp_path / "bank.db"
    opener = SqliteDriver if request.param == "sqlite" else TursoDriver
    db: Driver = loop.run_until_complete(opener.open(path))
    loop.run_until_complete(db.execute(_TABLE))
    loop.run_until_complete(db.execute(_VERSION))
    loop.run_until_complete(db.execute("INSERT INTO study_bank_version VALUES (1, 0)"))
    try:
        yield db, loop
    finally:
        loop.run_until_complete(db.close())
        loop.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    bank=st.lists(_QUESTION, max_size=14),
    words=st.lists(_WORD, min_size=1, max_size=3),
    limit=st.integers(1, 20),
)
def test_kept_text_answers_exactly_what_the_engines_like_answers(
    bank_db: tuple[Driver, Any], bank: list[tuple[Any, ...]], words: list[str], limit: int
) -> None:
    db, loop = bank_db
    loop.run_until_complete(_fill(db, bank))
    # Words as search_words makes them: runs of letters and digits.
    words = [w for text in words for w in _fts.search_words(text)] or ["a"]
    from_sql, from_kept = loop.run_until_complete(_both(db, words, limit))
    assert from_kept == from_sql, (bank, words, limit)


def test_the_ordering_and_the_nul_rule_on_a_fixed_bank() -> None:
    # A NUL ends what LIKE reads of a value; hits in the text outrank hits in the
    # explanation, which outrank hits only in the reference; then ids ascend.
    text = _corpus.ExamText.build(
        [
            (1, "ref only", None, "KEY lock"),
            (2, "a key", "no lock here", None),
            (3, "Key and LOCK", None, None),
            (4, "lock", "key", "x"),
            (5, "lock\x00key", None, None),
        ]
    )
    assert text is not None
    assert text.search(["key", "lock"], 10) == [3, 2, 4, 1]
    assert text.search(["key", "lock"], 2) == [3, 2]
    assert _corpus.ExamText.build([(1, "text", 7, None)]) is None  # a number: SQL decides


# -- the kept text against a changing bank, through the real pack on the Turso engine --------


async def _packed_turso(path: Path) -> None:
    await make_seeded(path)
    db = await TursoDriver.open(path)
    try:
        outcome = {r.id: r.action for r in await Migrator(db, [load_pack("study")]).apply()}
        assert outcome["search_version"] == "applied" and outcome["questions_fts"] == "skipped"
    finally:
        await db.close()


async def _edit(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Another writer on the same file (its own connection), which StudyQueries never sees."""
    other = await TursoDriver.open(path)
    try:
        await other.execute(sql, params)
    finally:
        await other.close()


async def test_kept_text_follows_every_change_of_the_bank(tmp_path: Path) -> None:
    path = tmp_path / "turso.db"
    await _packed_turso(path)
    db = await TursoDriver.open(path)
    try:
        opt = StudyQueries(db, variant="optimized")
        base = StudyQueries(db, variant="baseline")
        ((exam, qid, other),) = await db.fetch_all(
            "SELECT exam_id, min(id), max(id) FROM questions WHERE is_active = 1 "
            "AND review_status = 'approved' GROUP BY exam_id ORDER BY count(*) DESC LIMIT 1"
        )

        async def same(text: str) -> list[int]:
            got = [r["id"] for r in await opt.search_questions(exam, text, limit=50)]
            assert got == [r["id"] for r in await base.search_questions(exam, text, limit=50)]
            return got

        assert await same("zyxwv") == []
        assert opt._corpus.get(exam) is not None  # kept after the first search
        await _edit(path, "UPDATE questions SET explanation = 'a zyxwv here' WHERE id = ?", (qid,))
        assert await same("zyxwv") == [qid]  # the trigger moved the version: read again
        await _edit(path, "UPDATE questions SET is_active = 0 WHERE id = ?", (qid,))
        assert await same("zyxwv") == []
        await _edit(
            path,
            "INSERT INTO questions (exam_id, text, answers, review_status) "
            "VALUES (?, 'Zyxwv new', '[]', 'approved')",
            (exam,),
        )
        assert len(await same("ZYXWV")) == 1
        # Answers never move the version: the kept text stays.
        kept = opt._corpus.get(exam)
        assert kept is not None
        await _edit(
            path, "UPDATE questions SET total_attempts = total_attempts + 1 WHERE id = ?", (qid,)
        )
        await same("zyxwv")
        now = opt._corpus.get(exam)
        assert now is not None and now[1] is kept[1]

        # The step rolled back by another process: the search notices and asks SQL.
        migrator = Migrator(db, [load_pack("study")])
        await migrator.rollback(step=["search_version"])
        await _edit(path, "UPDATE questions SET text = 'zyxwv again' WHERE id = ?", (other,))
        before = await same("zyxwv")
        assert opt._corpus.available is False and len(before) >= 1
    finally:
        await db.close()
