"""AnswerWriter: atomic, idempotent batches whose aggregates match the answers they store."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import random
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgedb_opt.drivers.base import Capabilities, Driver, Params, Row, TransactionMode
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.drivers.turso_driver import TursoDriver
from edgedb_opt.errors import ConfigError, EdgeOptError, InvalidInput, http_status
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.regions import load_settings
from edgedb_opt.study.baseline_writer import BaselineAnswerWriter
from edgedb_opt.study.limits import Limits
from edgedb_opt.study.models import Answer, AnswerKey, next_streak
from edgedb_opt.study.writer import AnswerRejected, AnswerWriter, WriteResult
from tests.conftest import query, sha256

NOW = dt.datetime(2026, 6, 1, 12, 0, 0)
DAYS = ("2026-05-29", "2026-05-30", "2026-05-31", "2026-06-01")


def clock() -> dt.datetime:
    return NOW


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="session")
def packed_template(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny seeded database with the study pack applied; copy it, never change it."""
    path = tmp_path_factory.mktemp("packed") / "packed.db"
    shutil.copyfile(seeded_template, path)

    async def apply() -> None:
        db = await SqliteDriver.open(path)
        try:
            await Migrator(db, [load_pack("study")]).apply()
        finally:
            await db.close()

    asyncio.run(apply())
    return path


@pytest.fixture
def packed_db(packed_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "packed.db"
    shutil.copyfile(packed_template, path)
    return path


@pytest.fixture
async def db(packed_db: Path) -> AsyncIterator[SqliteDriver]:
    driver = await SqliteDriver.open(packed_db)
    try:
        yield driver
    finally:
        await driver.close()


def copy(path: Path, name: str) -> Path:
    dest = path.with_name(name)
    shutil.copyfile(path, dest)
    return dest


def answer_keys(path: Path) -> dict[int, AnswerKey]:
    """Every question's options and correct keys, as stored."""
    keys = {
        int(str(q)): AnswerKey.parse(text)
        for q, text in query(path, "SELECT id, answers FROM questions")
    }
    assert all(k is not None for k in keys.values())
    return {q: k for q, k in keys.items() if k is not None}


def make_answers(path: Path, n: int, *, seed: int = 1, prefix: str = "w") -> list[dict[str, Any]]:
    """Valid answers over a few sessions, attempts and new (user, exam) pairs, so that
    questions, sessions and (user, question) pairs repeat within the batch. Selections are
    options of their question (the correct one about 60% of the time), and no answer is
    later than the clock."""
    r = random.Random(seed)
    keys = answer_keys(path)
    sessions = query(path, "SELECT id, user_id, exam_id FROM study_sessions ORDER BY id LIMIT 6")
    attempts = query(path, "SELECT id, user_id, exam_id FROM test_attempts ORDER BY id LIMIT 3")
    fresh = query(
        path,
        "SELECT u.id, e.id FROM users u, exams e WHERE NOT EXISTS (SELECT 1 FROM user_progress p"
        " WHERE p.user_id = u.id AND p.exam_id = e.id) ORDER BY u.id, e.id LIMIT 3",
    )
    pools = {
        e: [q for (q,) in query(path, "SELECT id FROM questions WHERE exam_id = ? LIMIT 12", (e,))]
        for (e,) in query(path, "SELECT id FROM exams")
    }
    out = []
    for i in range(n):
        kind = r.random()
        sid = tid = None
        if kind < 0.6:
            sid, user, exam = r.choice(sessions)
        elif kind < 0.8:
            tid, user, exam = r.choice(attempts)
        else:
            user, exam = r.choice(fresh)
        day = r.choice((None, *DAYS))
        hour = r.randrange(24) if day != DAYS[-1] else r.randrange(NOW.hour)
        question = r.choice(pools[exam])
        key = keys[question]
        out.append(
            {
                "user_id": user,
                "question_id": question,
                "study_session_id": sid,
                "test_attempt_id": tid,
                "selected_answer": key.selection if r.random() < 0.6 else r.choice(key.options),
                "time_spent_seconds": None if r.random() < 0.2 else r.randrange(0, 200),
                "confidence_level": None if r.random() < 0.3 else r.randint(1, 5),
                "flagged": r.random() < 0.1,
                "client_answer_id": f"{prefix}-{i}",
                "answered_at": None if day is None else f"{day} {hour:02d}:{i % 60:02d}:07",
            }
        )
    return out


async def record(
    path: Path, answers: Sequence[Any], *, baseline: bool = False, **kwargs: Any
) -> WriteResult:
    db = await SqliteDriver.open(path)
    try:
        if baseline:
            return await BaselineAnswerWriter(db, now=clock, **kwargs).record(answers)
        return await AnswerWriter(db, now=clock, **kwargs).record(answers)
    finally:
        await db.close()


def aggregates(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row the writers may touch, keyed so two databases compare row by row."""
    return {
        "user_answers": query(path, "SELECT * FROM user_answers ORDER BY id"),
        "questions": query(path, "SELECT * FROM questions ORDER BY id"),
        "study_sessions": query(path, "SELECT * FROM study_sessions ORDER BY id"),
        "test_attempts": query(path, "SELECT * FROM test_attempts ORDER BY id"),
        "user_progress": query(
            path, "SELECT * FROM user_progress ORDER BY user_id, exam_id"
        ),  # ids of new rows depend on insert order; compared without them below
    }


def same_aggregates(a: Path, b: Path) -> None:
    left, right = aggregates(a), aggregates(b)
    for table in left:
        if table == "user_progress":
            assert [r[1:] for r in left[table]] == [r[1:] for r in right[table]]
        else:
            assert left[table] == right[table], table


def assert_consistent(path: Path) -> None:
    """Every aggregate equals a recomputation from user_answers, exactly (floats too)."""
    bad_questions = query(
        path,
        """
        SELECT q.id FROM questions q LEFT JOIN (
            SELECT question_id, count(*) AS n, sum(is_correct) AS c, avg(time_spent_seconds) AS t
            FROM user_answers GROUP BY question_id) a ON a.question_id = q.id
        WHERE q.total_attempts <> coalesce(a.n, 0) OR q.correct_attempts <> coalesce(a.c, 0)
           OR q.avg_time_seconds IS NOT a.t
        """,
    )
    assert bad_questions == []
    bad_sessions = query(
        path,
        """
        SELECT s.id FROM study_sessions s LEFT JOIN (
            SELECT study_session_id AS id, count(*) AS n, sum(is_correct) AS c,
                   avg(time_spent_seconds) AS t
            FROM user_answers WHERE study_session_id IS NOT NULL GROUP BY 1) a ON a.id = s.id
        WHERE s.answered_count <> coalesce(a.n, 0) OR s.correct_count <> coalesce(a.c, 0)
           OR s.accuracy IS NOT CAST(a.c AS REAL) / a.n OR s.avg_time_seconds IS NOT a.t
        """,
    )
    assert bad_sessions == []
    bad_attempts = query(
        path,
        """
        SELECT t.id FROM test_attempts t LEFT JOIN (
            SELECT test_attempt_id AS id, sum(is_correct) AS c FROM user_answers
            WHERE test_attempt_id IS NOT NULL GROUP BY 1) a ON a.id = t.id
        WHERE t.correct_count <> coalesce(a.c, 0)
        """,
    )
    assert bad_attempts == []
    bad_progress = query(
        path,
        """
        SELECT x.user_id, x.exam_id FROM (
            SELECT a.user_id, q.exam_id, count(*) AS n, sum(a.is_correct) AS c,
                   max(a.answered_at) AS last, sum(coalesce(a.time_spent_seconds, 0)) AS secs
            FROM user_answers a JOIN questions q ON q.id = a.question_id GROUP BY 1, 2
        ) x FULL JOIN user_progress p ON p.user_id = x.user_id AND p.exam_id = x.exam_id
        WHERE p.questions_answered IS NOT x.n OR p.correct_answers IS NOT x.c
           OR p.last_studied_at IS NOT x.last OR p.study_time_seconds IS NOT x.secs
           OR p.accuracy IS NOT CAST(x.c AS REAL) / x.n OR p.current_streak > p.best_streak
        """,
    )
    assert bad_progress == []
    # objective_scores, rebuilt from the answers
    scores: dict[object, dict[str, list[int]]] = {}
    for sid, obj, c in query(
        path,
        "SELECT a.study_session_id, q.objective_id, a.is_correct FROM user_answers a"
        " JOIN questions q ON q.id = a.question_id"
        " WHERE a.study_session_id IS NOT NULL AND q.objective_id IS NOT NULL",
    ):
        score = scores.setdefault(sid, {}).setdefault(str(obj), [0, 0])
        score[0], score[1] = score[0] + 1, score[1] + (c == 1)
    for sid, text in query(
        path, "SELECT id, objective_scores FROM study_sessions WHERE answered_count > 0"
    ):
        stored = {k: [v["answered"], v["correct"]] for k, v in json.loads(str(text)).items()}
        assert stored == scores.get(sid, {}), sid


def new_answers_are_numbered(path: Path, prefix: str) -> None:
    """attempt_number of each new answer = its rank among the user's answers to the question."""
    wrong = query(
        path,
        """
        SELECT a.id FROM user_answers a WHERE a.client_answer_id LIKE ? || '-%'
          AND a.attempt_number <> (SELECT count(*) FROM user_answers b
                                   WHERE b.user_id = a.user_id AND b.question_id = a.question_id
                                     AND b.id <= a.id)
        """,
        (prefix,),
    )
    assert wrong == []


class Proxy:
    """A driver wrapper that logs statements and can pretend to lack UPDATE ... FROM."""

    def __init__(self, inner: Driver, *, update_from: bool = True) -> None:
        self.inner = inner
        self.log: list[str] = []
        self.calls: list[tuple[str, Params]] = []
        self._caps = dataclasses.replace(inner.capabilities, update_from=update_from)

    name = "proxy"
    target = "proxy"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    @property
    def in_transaction(self) -> bool:
        return self.inner.in_transaction

    async def execute(self, sql: str, params: Params = ()) -> int:
        self.log.append(sql)
        return await self.inner.execute(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        self.log.append(sql)
        return await self.inner.fetch_all(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        rows = list(rows)
        self.log.extend(sql for _ in rows)
        self.calls.extend((sql, r) for r in rows)
        await self.inner.executemany(sql, rows)

    async def execute_each(self, statements: Sequence[tuple[str, Params]]) -> None:
        statements = list(statements)
        self.log.extend(sql for sql, _ in statements)
        self.calls.extend(statements)
        await self.inner.execute_each(statements)

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        return await self.inner.batch(statements)

    def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AbstractAsyncContextManager[None]:
        self.log.append(f"BEGIN {mode}")
        return self.inner.transaction(mode)

    async def close(self) -> None:
        await self.inner.close()


# -- storing and aggregates ----------------------------------------------------------------


async def test_batch_is_stored_with_exact_aggregates(packed_db: Path) -> None:
    answers = make_answers(packed_db, 60)
    result = await record(packed_db, answers)
    assert result.inserted == 60 and result.duplicates == 0
    assert result.client_answer_ids == [a["client_answer_id"] for a in answers]
    assert result.questions_updated == len({a["question_id"] for a in answers})
    assert result.sessions_updated == len({a["study_session_id"] for a in answers} - {None})
    assert result.attempts_updated == len({a["test_attempt_id"] for a in answers} - {None})
    stored = query(packed_db, "SELECT count(*) FROM user_answers WHERE client_answer_id LIKE 'w-%'")
    assert stored == [(60,)]
    unclocked = [a["client_answer_id"] for a in answers if a["answered_at"] is None]
    stamps = query(
        packed_db,
        f"SELECT DISTINCT answered_at FROM user_answers WHERE client_answer_id IN"
        f" ({','.join('?' * len(unclocked))})",
        tuple(unclocked),
    )
    assert stamps == [("2026-06-01 12:00:00",)]  # the writer's clock
    assert_consistent(packed_db)
    new_answers_are_numbered(packed_db, "w")
    assert query(packed_db, "PRAGMA foreign_key_check") == []


async def test_aggregates_equal_the_per_answer_baseline(packed_db: Path, seeded_db: Path) -> None:
    # The batch writer on the optimized file, the baseline on a base.sql-only copy.
    answers = make_answers(packed_db, 80, seed=3)
    batched = await record(packed_db, answers)
    plain = await record(seeded_db, answers, baseline=True)
    assert dataclasses.asdict(batched) == dataclasses.asdict(plain)
    same_aggregates(packed_db, seeded_db)
    assert_consistent(seeded_db)


async def test_answers_without_time_or_objective_keep_averages(packed_db: Path) -> None:
    sid, user, exam = query(
        packed_db, "SELECT id, user_id, exam_id FROM study_sessions WHERE avg_time_seconds > 0"
    )[0]
    (question,) = query(
        packed_db, "SELECT id FROM questions WHERE exam_id = ? AND objective_id IS NULL", (exam,)
    )[0]
    before = query(packed_db, "SELECT avg_time_seconds FROM study_sessions WHERE id = ?", (sid,))
    base = {"user_id": user, "study_session_id": sid, "selected_answer": "A", "is_correct": True}
    answers = [{**base, "question_id": question, "client_answer_id": f"n-{i}"} for i in range(3)]
    await record(packed_db, answers)
    assert (
        query(packed_db, "SELECT avg_time_seconds FROM study_sessions WHERE id = ?", (sid,))
        == before
    )
    assert_consistent(packed_db)


async def test_streaks_follow_consecutive_days(packed_db: Path, seeded_db: Path) -> None:
    user, exam = query(
        packed_db,
        "SELECT u.id, e.id FROM users u, exams e WHERE NOT EXISTS (SELECT 1 FROM user_progress p"
        " WHERE p.user_id = u.id AND p.exam_id = e.id) LIMIT 1",
    )[0]
    (question,) = query(packed_db, "SELECT id FROM questions WHERE exam_id = ?", (exam,))[0]
    days = ["2026-05-01", "2026-05-02", "2026-05-02", "2026-05-03", "2026-05-05", "2026-04-20"]
    answers = [
        {
            "user_id": user,
            "question_id": question,
            "selected_answer": "A",
            "is_correct": False,
            "client_answer_id": f"s-{i}",
            "answered_at": f"{day} 10:00:0{i}",
        }
        for i, day in enumerate(days)
    ]
    await record(packed_db, answers[:3])  # two batches: the streak carries over through the row
    await record(packed_db, answers[3:])
    await record(seeded_db, answers, baseline=True)
    row = query(
        packed_db,
        "SELECT current_streak, best_streak, last_studied_at FROM user_progress"
        " WHERE user_id = ? AND exam_id = ?",
        (user, exam),
    )
    assert row == [(1, 3, "2026-05-05 10:00:04")]
    same_aggregates(packed_db, seeded_db)


def test_a_streak_counts_calendar_days_not_24_hour_spans() -> None:
    state: tuple[int, int, str | None] = (0, 0, None)
    for at in ("2026-05-01 09:00:00", "2026-05-01 23:00:00", "2026-05-02 00:10:00"):
        state = next_streak(*state, at)
    assert state == (2, 2, "2026-05-02 00:10:00")


# -- atomicity -----------------------------------------------------------------------------


def _other_user_session(path: Path, user: int) -> object:
    return query(path, "SELECT id FROM study_sessions WHERE user_id <> ? LIMIT 1", (user,))[0][0]


def _other_exam_session(path: Path, answer: dict[str, Any]) -> object:
    exam = query(path, "SELECT exam_id FROM questions WHERE id = ?", (answer["question_id"],))[0][0]
    rows = query(
        path,
        "SELECT s.id FROM study_sessions s WHERE s.exam_id <> ? AND s.user_id = ?",
        (exam, answer["user_id"]),
    )
    if rows:
        return rows[0][0]
    pytest.skip("no session of another exam for this user")


BAD: dict[str, tuple[Callable[[Path, dict[str, Any]], dict[str, Any]], str]] = {
    "confidence 9": (
        lambda p, a: {**a, "confidence_level": 9},
        "confidence_level must be between 1 and 5",
    ),
    "negative time": (
        lambda p, a: {**a, "time_spent_seconds": -1},
        "time_spent_seconds must be 0 or more",
    ),
    "empty answer": (lambda p, a: {**a, "selected_answer": ""}, "selected_answer"),
    "unknown field": (lambda p, a: {**a, "score": 1}, "score extra inputs are not permitted"),
    "both parents": (
        lambda p, a: {**a, "study_session_id": 1, "test_attempt_id": 1},
        "cannot both be set",
    ),
    "unknown question": (
        lambda p, a: {**a, "question_id": 10**9},
        "question 1000000000 does not exist",
    ),
    "unknown user": (lambda p, a: {**a, "user_id": 10**9}, "user 1000000000 does not exist"),
    "unknown session": (
        lambda p, a: {**a, "study_session_id": 10**9, "test_attempt_id": None},
        "study session 1000000000 does not exist",
    ),
    "session of another user": (
        lambda p, a: {
            **a,
            "study_session_id": _other_user_session(p, a["user_id"]),
            "test_attempt_id": None,
        },
        "belongs to user",
    ),
    "session of another exam": (
        lambda p, a: {**a, "study_session_id": _other_exam_session(p, a), "test_attempt_id": None},
        "is for exam",
    ),
    "unknown attempt": (
        lambda p, a: {**a, "test_attempt_id": 10**9, "study_session_id": None},
        "test attempt 1000000000 does not exist",
    ),
    "duplicate id in batch": (lambda p, a: {**a, "client_answer_id": "w-1"}, "repeats item 1"),
    "option the question lacks": (
        lambda p, a: {**a, "selected_answer": "ZZZ"},
        "selected_answer 'ZZZ' names a key question",
    ),
    "one of two options unknown": (
        lambda p, a: {**a, "selected_answer": "A,Q"},
        "names a key question",
    ),
    "flagged as text": (lambda p, a: {**a, "flagged": "yes"}, "flagged input should be a valid"),
    "time as text": (
        lambda p, a: {**a, "time_spent_seconds": "12"},
        "time_spent_seconds input should be a valid integer",
    ),
    "confidence as float": (
        lambda p, a: {**a, "confidence_level": 1.0},
        "confidence_level input should be a valid integer",
    ),
    "user id as bool": (
        lambda p, a: {**a, "user_id": True},
        "user_id input should be a valid integer",
    ),
    "question id as text": (
        lambda p, a: {**a, "question_id": str(a["question_id"])},
        "question_id input should be a valid integer",
    ),
    "id past SQLite's integers": (
        lambda p, a: {**a, "user_id": 2**70},
        "user_id input should be less than or equal to 9223372036854775807",
    ),
    "selection of 1 MB": (
        lambda p, a: {**a, "selected_answer": "A" * 1_000_000},
        "selected_answer must be at most 64 characters, not 1000000",
    ),
    "time past a day": (
        lambda p, a: {**a, "time_spent_seconds": 86_401},
        "time_spent_seconds must be at most 86400, not 86401",
    ),
    "answered in the future": (
        lambda p, a: {**a, "answered_at": "2026-06-01T12:05:01"},
        "answered_at 2026-06-01 12:05:01 is in the future",
    ),
    "answered before 2000": (
        lambda p, a: {**a, "answered_at": "1999-12-31T23:59:59Z"},
        "answered_at 1999-12-31 23:59:59 is before 2000-01-01 00:00:00",
    ),
    "answered at an epoch number": (
        lambda p, a: {**a, "answered_at": 1780000000},
        "answered_at must be an ISO 8601 date and time",
    ),
}

#: The field each case names (``answers[5].<this>``; "" for the item as a whole).
FIELDS = {
    "confidence 9": "confidence_level", "negative time": "time_spent_seconds",
    "empty answer": "selected_answer", "unknown field": "score", "both parents": "",
    "unknown question": "question_id", "unknown user": "user_id",
    "unknown session": "study_session_id", "session of another user": "study_session_id",
    "session of another exam": "study_session_id", "unknown attempt": "test_attempt_id",
    "duplicate id in batch": "client_answer_id", "option the question lacks": "selected_answer",
    "one of two options unknown": "selected_answer", "flagged as text": "flagged",
    "time as text": "time_spent_seconds", "confidence as float": "confidence_level",
    "user id as bool": "user_id", "question id as text": "question_id",
    "id past SQLite's integers": "user_id", "selection of 1 MB": "selected_answer",
    "time past a day": "time_spent_seconds", "answered in the future": "answered_at",
    "answered before 2000": "answered_at", "answered at an epoch number": "answered_at",
}  # fmt: skip

#: Checked for the whole batch before anything is written, by both writers.
UP_FRONT = set(BAD) - {
    "unknown question", "unknown user", "unknown session", "session of another user",
    "session of another exam", "unknown attempt", "option the question lacks",
    "one of two options unknown",
}  # fmt: skip


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("baseline", [False, True], ids=["batched", "baseline"])
async def test_one_bad_item_rejects_the_batch(packed_db: Path, kind: str, baseline: bool) -> None:
    answers = make_answers(packed_db, 8)
    change, reason = BAD[kind]
    answers[5] = change(packed_db, answers[5])
    before = sha256(packed_db)
    with pytest.raises(AnswerRejected) as info:
        await record(packed_db, answers, baseline=baseline)
    assert info.value.index == 5
    assert reason in info.value.reason
    assert str(info.value) == f"item 5: {info.value.reason}" and "\n" not in str(info.value)
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, EdgeOptError)
    assert info.value.field == "answers[5]" + (f".{FIELDS[kind]}" if FIELDS[kind] else "")
    assert http_status(info.value) == 422
    if not baseline or kind in UP_FRONT:
        assert sha256(packed_db) == before
    else:  # the baseline checks the request up front, but then writes answer by answer
        assert query(
            packed_db, "SELECT count(*) FROM user_answers WHERE client_answer_id LIKE 'w-%'"
        ) == [(5,)]


async def test_rejection_inside_the_transaction_writes_nothing(packed_db: Path) -> None:
    answers = make_answers(packed_db, 120)
    answers[117] = {**answers[117], "question_id": 10**9}
    before = sha256(packed_db)
    with pytest.raises(AnswerRejected, match=r"^item 117: question 1000000000 does not exist$"):
        await record(packed_db, answers, chunk_rows=10)
    assert sha256(packed_db) == before


async def test_single_answer_or_wrong_item_type_is_refused(db: SqliteDriver) -> None:
    writer = AnswerWriter(db, now=clock)
    answer = Answer(
        user_id=1, question_id=1, selected_answer="A", is_correct=True, client_answer_id="x"
    )
    for single in (answer, answer.model_dump(), "A", None, 5):
        with pytest.raises(InvalidInput, match=r"^answers must be a list of answers") as info:
            await writer.record(single)  # type: ignore[arg-type]
        assert info.value.field == "answers" and not isinstance(info.value, AnswerRejected)
    with pytest.raises(AnswerRejected, match=r"^item 1: expected an Answer or a mapping, not int$"):
        await writer.record([answer, 5])  # type: ignore[list-item]
    assert await writer.record([]) == WriteResult()


# -- idempotency ---------------------------------------------------------------------------


async def test_same_batch_twice_inserts_nothing_the_second_time(packed_db: Path) -> None:
    answers = make_answers(packed_db, 40)
    first = await record(packed_db, answers)
    assert first.inserted == 40
    after_first, digest = aggregates(packed_db), sha256(packed_db)
    again = await record(packed_db, answers)
    assert (again.inserted, again.duplicates) == (0, 40)
    assert again.duplicate_ids == [a["client_answer_id"] for a in answers]
    assert (again.questions_updated, again.sessions_updated, again.progress_updated) == (0, 0, 0)
    assert aggregates(packed_db) == after_first
    assert sha256(packed_db) == digest  # a retry of a committed batch is a no-op on the file


async def test_mixed_batch_inserts_and_counts_only_the_new_answers(
    packed_db: Path, seeded_db: Path
) -> None:
    answers = make_answers(packed_db, 50, seed=9)
    await record(packed_db, answers[:30])
    result = await record(packed_db, answers[10:])  # 20 stored, 20 new
    assert (result.inserted, result.duplicates) == (20, 20)
    assert result.client_answer_ids == [a["client_answer_id"] for a in answers[30:]]
    assert_consistent(packed_db)
    new_answers_are_numbered(packed_db, "w")
    await record(seeded_db, answers, baseline=True)
    same_aggregates(packed_db, seeded_db)


async def test_retry_after_a_lost_response_is_a_no_op_that_still_invalidates(
    db: SqliteDriver, packed_db: Path
) -> None:
    answers = make_answers(packed_db, 10)

    class FlakyCache:
        def __init__(self) -> None:
            self.calls: list[tuple[str, ...]] = []

        def invalidate(self, *tags: str) -> None:
            self.calls.append(tags)
            if len(self.calls) == 1:
                raise ConnectionError("cache node went away")

    cache = FlakyCache()
    writer = AnswerWriter(db, now=clock, cache=cache)
    with pytest.raises(ConnectionError):
        await writer.record(answers)  # committed, but the caller never saw the result
    stored = aggregates(packed_db)
    result = await writer.record(answers)
    assert (result.inserted, result.duplicates) == (0, 10)
    assert aggregates(packed_db) == stored
    assert cache.calls[1] == cache.calls[0]


# -- chunking, cache, plans, other drivers -------------------------------------------------


async def test_small_chunks_give_the_same_result_as_one_chunk(packed_db: Path) -> None:
    answers = make_answers(packed_db, 50, seed=5)
    other = copy(packed_db, "one_chunk.db")
    driver = await SqliteDriver.open(packed_db)
    try:
        proxy = Proxy(driver)
        chunked = await AnswerWriter(proxy, now=clock, chunk_rows=7).record(answers)
    finally:
        await driver.close()
    whole = await record(other, answers)
    assert dataclasses.asdict(chunked) == dataclasses.asdict(whole)
    same_aggregates(packed_db, other)
    inserts = [s for s in proxy.log if s.startswith("INSERT INTO user_answers")]
    assert len(inserts) == 8 and all(s.count("(?") <= 7 for s in inserts)
    assert sum(s.startswith("UPDATE questions") for s in proxy.log) > 1
    assert proxy.log.count("BEGIN IMMEDIATE") == 1


async def test_statements_stay_under_the_variable_limit(db: SqliteDriver, packed_db: Path) -> None:
    answers = [Answer.model_validate(a) for a in make_answers(packed_db, 400, seed=2)]
    proxy = Proxy(db)
    writer = AnswerWriter(proxy, now=clock)
    result = await writer.record(answers)
    assert result.inserted == 400
    assert max(s.count("?") for s in proxy.log) <= 999
    inserts = [s for s in proxy.log if s.startswith("INSERT INTO user_answers")]
    assert len(inserts) == 5  # 999 // 12 columns = 83 rows per statement
    assert_consistent(packed_db)


async def test_one_statement_per_table_for_a_usual_batch(db: SqliteDriver, packed_db: Path) -> None:
    proxy = Proxy(db)
    await AnswerWriter(proxy, now=clock).record(make_answers(packed_db, 20, seed=2))
    kinds = [s.split(" (")[0].split(" SET")[0][:30] for s in proxy.log]
    assert kinds == [
        "BEGIN IMMEDIATE",
        "SELECT 0, client_answer_id, NU",
        "INSERT INTO user_answers",
        "UPDATE questions",
        "UPDATE study_sessions",
        "UPDATE test_attempts",
        "UPDATE user_progress",
        "INSERT INTO user_progress",
    ]
    assert "FROM (VALUES" in proxy.log[3]


async def test_without_update_from_each_row_gets_its_own_update(packed_db: Path) -> None:
    answers = make_answers(packed_db, 30, seed=4)
    other = copy(packed_db, "update_from.db")
    driver = await SqliteDriver.open(packed_db)
    try:
        proxy = Proxy(driver, update_from=False)
        await AnswerWriter(proxy, now=clock).record(answers)
    finally:
        await driver.close()
    await record(other, answers)
    same_aggregates(packed_db, other)
    assert not any("FROM (VALUES" in s for s in proxy.log)
    questions = len({a["question_id"] for a in answers})
    assert sum(s.startswith("UPDATE questions") for s in proxy.log) == questions


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_cache_tags_are_invalidated_after_commit(
    db: SqliteDriver, packed_db: Path, asynchronous: bool
) -> None:
    seen: list[tuple[str, ...]] = []
    in_tx: list[bool] = []

    class Cache:
        def invalidate(self, *tags: str) -> Any:
            in_tx.append(db.in_transaction)
            seen.append(tags)
            if asynchronous:

                async def done() -> None:
                    return None

                return done()
            return None

    answers = make_answers(packed_db, 12)
    await AnswerWriter(db, now=clock, cache=Cache()).record(answers)
    assert in_tx == [False] and len(seen) == 1
    tags = set(seen[0])
    exams = {
        f"exam:{e}"
        for (e,) in query(
            packed_db,
            f"SELECT DISTINCT exam_id FROM questions WHERE id IN ({','.join('?' * 12)})",
            tuple(a["question_id"] for a in answers),
        )
    }
    expected = (
        {f"user:{a['user_id']}" for a in answers}
        | {f"question:{a['question_id']}" for a in answers}
        | {f"session:{a['study_session_id']}" for a in answers if a["study_session_id"]}
        | exams
        | {f"answer:{a['user_id']}:{a['question_id']}" for a in answers}
    )
    assert tags == expected and len(seen[0]) == len(tags)
    with pytest.raises(AnswerRejected):
        await AnswerWriter(db, now=clock, cache=Cache()).record(
            [{**answers[0], "question_id": 10**9, "client_answer_id": "z"}]
        )
    assert len(seen) == 1  # nothing committed, nothing invalidated


async def test_lookup_reads_only_through_indexes_with_the_pack(
    db: SqliteDriver, packed_db: Path
) -> None:
    answers = [Answer.model_validate(a) for a in make_answers(packed_db, 20)]
    ((sql, params),) = AnswerWriter(db).lookup_statements(answers)
    rows = query(packed_db, f"EXPLAIN QUERY PLAN {sql}", tuple(params))
    plan = " | ".join(str(r[3]) for r in rows)
    assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
    for index in (
        "idx_user_answers_question_stats",
        "idx_user_answers_session",
        "idx_user_answers_user_question_time",
        "sqlite_autoindex_user_answers_1",
        "sqlite_autoindex_user_progress_1",
    ):
        assert index in plan, (index, plan)


async def test_updates_find_their_rows_by_key(db: SqliteDriver, packed_db: Path) -> None:
    proxy = Proxy(db)
    await AnswerWriter(proxy, now=clock).record(make_answers(packed_db, 20, seed=2))
    updates = [(sql, p) for sql, p in proxy.calls if sql.startswith("UPDATE")]
    assert len(updates) == 4
    for sql, params in updates:
        table = sql.split()[1]
        rows = query(packed_db, f"EXPLAIN QUERY PLAN {sql}", tuple(params))
        plan = " | ".join(str(r[3]) for r in rows)
        assert f"SEARCH {table} USING" in plan and f"SCAN {table}" not in plan, plan


async def test_works_through_the_turso_driver(seeded_db: Path) -> None:
    # The pack applied by the Turso engine itself (its FTS5 step is skipped there).
    turso_path, baseline_path = copy(seeded_db, "turso.db"), copy(seeded_db, "baseline.db")
    answers = make_answers(seeded_db, 40, seed=6)
    driver = await TursoDriver.open(turso_path)
    try:
        await Migrator(driver, [load_pack("study")]).apply()
        assert driver.capabilities.update_from
        writer = AnswerWriter(driver, now=clock, chunk_rows=9)
        result = await writer.record(answers)
        again = await writer.record(answers)
        bad = [*answers[:3], {**answers[3], "client_answer_id": "t-new", "confidence_level": 0}]
        with pytest.raises(AnswerRejected, match=r"^item 3: confidence_level must be"):
            await writer.record(bad)
        bad[3] = {**bad[3], "confidence_level": 1, "question_id": 10**9}
        with pytest.raises(AnswerRejected, match=r"^item 3: question 1000000000 does not exist"):
            await writer.record(bad)
        rows = await driver.fetch_all(
            "SELECT count(*) FROM user_answers WHERE client_answer_id = 't-new'"
        )
        assert rows == [(0,)]
    finally:
        await driver.close()
    assert (result.inserted, again.inserted, again.duplicates) == (40, 0, 40)
    await record(baseline_path, answers, baseline=True)
    same_aggregates(turso_path, baseline_path)
    assert_consistent(turso_path)


# -- grading, strict input and limits --------------------------------------------------------


def question_of_type(path: Path, qtype: str) -> tuple[int, int, AnswerKey]:
    """(question, exam, its key) of the first question of ``qtype``."""
    qid, exam, text = query(
        path, "SELECT id, exam_id, answers FROM questions WHERE type = ? ORDER BY id", (qtype,)
    )[0]
    key = AnswerKey.parse(text)
    assert key is not None
    return int(str(qid)), int(str(exam)), key


@pytest.mark.parametrize("baseline", [False, True], ids=["batched", "baseline"])
async def test_the_writer_grades_from_the_stored_key_and_ignores_the_client(
    packed_db: Path, baseline: bool
) -> None:
    user = int(str(query(packed_db, "SELECT min(id) FROM users")[0][0]))
    single, _, single_key = question_of_type(packed_db, "single")
    multi, _, multi_key = question_of_type(packed_db, "multiple")
    tf, _, tf_key = question_of_type(packed_db, "true_false")
    wrong_single = next(k for k in single_key.options if k not in single_key.correct)
    right_multi = multi_key.selection  # "A,C" style, sorted
    assert len(multi_key.correct) == 2 and tf_key.options == ("A", "B")
    cases = [  # (question, selection, the client's claim, the truth)
        (single, single_key.selection, False, True),
        (single, wrong_single, True, False),
        (multi, ",".join(reversed(right_multi.split(","))), False, True),  # order aside
        (multi, sorted(multi_key.correct)[0], True, False),  # one of two right keys
        (multi, ",".join(multi_key.options), True, False),  # every option
        (tf, tf_key.selection, None, True),
        (tf, "B" if tf_key.selection == "A" else "A", True, False),
    ]
    answers = [
        {"user_id": user, "question_id": q, "selected_answer": sel, "is_correct": claim,
         "client_answer_id": f"g-{i}"}
        for i, (q, sel, claim, _) in enumerate(cases)
    ]  # fmt: skip
    before = dict(query(packed_db, "SELECT id, correct_attempts FROM questions"))
    result = await record(packed_db, answers, baseline=baseline)
    truth = {f"g-{i}": ok for i, (*_, ok) in enumerate(cases)}
    assert result.graded == truth
    stored = dict(
        query(packed_db, "SELECT client_answer_id, is_correct FROM user_answers WHERE"
              " client_answer_id LIKE 'g-%'")
    )  # fmt: skip
    assert stored == {k: int(v) for k, v in truth.items()}
    after = dict(query(packed_db, "SELECT id, correct_attempts FROM questions"))
    assert [after[q] - before[q] for q in (single, multi, tf)] == [1, 1, 1]
    assert_consistent(packed_db)
    again = await record(packed_db, answers, baseline=baseline)
    assert again.graded == {} and again.duplicates == len(cases)  # duplicates: no new grades


async def test_both_writers_grade_alike(packed_db: Path, seeded_db: Path) -> None:
    answers = make_answers(packed_db, 60, seed=12)
    lying = [{**a, "is_correct": i % 2 == 0} for i, a in enumerate(answers)]
    batched = await record(packed_db, lying)
    plain = await record(seeded_db, lying, baseline=True)
    assert batched.graded == plain.graded and len(batched.graded) == 60
    keys = answer_keys(packed_db)
    assert batched.graded == {
        a["client_answer_id"]: keys[a["question_id"]].grade(a["selected_answer"]) for a in answers
    }
    assert 0 < sum(batched.graded.values()) < 60
    same_aggregates(packed_db, seeded_db)


def test_the_answer_model_refuses_what_it_used_to_coerce() -> None:
    good = {"user_id": 1, "question_id": 2, "selected_answer": "B", "client_answer_id": "k"}
    assert Answer.model_validate(good).is_correct is None  # optional, and ignored
    for change in (
        {"flagged": "yes"}, {"flagged": 1}, {"time_spent_seconds": "12"},
        {"time_spent_seconds": 1.0}, {"confidence_level": 1.0}, {"user_id": True},
        {"question_id": "2"}, {"study_session_id": 2.0}, {"user_id": 2**63},
        {"is_correct": "yes"}, {"selected_answer": 7}, {"answered_at": 1780000000},
        {"answered_at": "yesterday"},
    ):  # fmt: skip
        with pytest.raises(ValueError):
            Answer.model_validate({**good, **change})
    at = Answer.model_validate({**good, "answered_at": "2026-05-01T10:00:00Z"}).answered_at
    assert at == dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("baseline", [False, True], ids=["batched", "baseline"])
async def test_a_batch_past_max_batch_is_refused_whole(packed_db: Path, baseline: bool) -> None:
    answers = make_answers(packed_db, 4)
    before = sha256(packed_db)
    with pytest.raises(InvalidInput) as info:
        await record(packed_db, answers, baseline=baseline, limits=Limits(max_batch=3))
    assert (info.value.field, str(info.value)) == (
        "answers", "answers must hold at most 3 answers, not 4"
    )  # fmt: skip
    assert not isinstance(info.value, AnswerRejected) and http_status(info.value) == 422
    big = [{"nothing": "checked"}] * 501  # refused by its length before any item is read
    with pytest.raises(InvalidInput, match=r"^answers must hold at most 500 answers, not 501$"):
        await record(packed_db, big, baseline=baseline)
    assert sha256(packed_db) == before
    assert (await record(packed_db, answers[:3], baseline=baseline)).inserted == 3


async def test_custom_limits_bound_each_answer(packed_db: Path) -> None:
    answer = make_answers(packed_db, 1)[0]
    limits = Limits(
        max_selected_answer=3, max_time_spent_seconds=60, future_skew_s=0,
        min_answered_at=dt.datetime(2026, 5, 1), max_id=10**6,
    )  # fmt: skip
    cases = {
        "selected_answer": {"selected_answer": "A,B,C"},
        "time_spent_seconds": {"time_spent_seconds": 61},
        "answered_at": {"answered_at": "2026-06-01 12:00:01"},  # one second after the clock
        "question_id": {"question_id": 10**6 + 1},
    }
    for name, change in cases.items():
        with pytest.raises(AnswerRejected) as info:
            await record(packed_db, [{**answer, **change}], limits=limits)
        assert info.value.field == f"answers[0].{name}", info.value
    with pytest.raises(AnswerRejected, match="is before 2026-05-01 00:00:00"):
        await record(packed_db, [{**answer, "answered_at": "2026-04-30T23:59:59"}], limits=limits)
    ok = {**answer, "answered_at": "2026-06-01 12:00:00", "time_spent_seconds": 60}
    assert (await record(packed_db, [ok], limits=limits)).inserted == 1
    with pytest.raises(ConfigError, match="limits must be a Limits"):
        AnswerWriter(None, limits={"max_batch": 3})  # type: ignore[arg-type]


class _CountingTransactions:
    """A driver that counts the transactions run on it (everything else passes through)."""

    def __init__(self, inner: SqliteDriver) -> None:
        self.inner = inner
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def transaction(self, mode: TransactionMode = "IMMEDIATE") -> AbstractAsyncContextManager[None]:
        self.transactions += 1
        return self.inner.transaction(mode)


async def test_concurrent_calls_share_transactions_and_each_gets_its_own_result(
    packed_db: Path,
) -> None:
    # Group commit: 30 requests at once, one of them invalid and one repeating another's
    # key, must store exactly what 30 calls one after the other store, in far fewer
    # transactions, each call getting its own result or its own rejection.
    answers = make_answers(packed_db, 600, seed=11)
    batches = [answers[i : i + 20] for i in range(0, 600, 20)]
    batches[7] = [*batches[7][:5], {**batches[7][5], "selected_answer": "ZZ"}, *batches[7][6:]]
    batches[12] = [
        *batches[12][:19],
        {**batches[12][19], "client_answer_id": batches[3][0]["client_answer_id"]},
    ]
    alone_db = copy(packed_db, "alone.db")

    inner = await SqliteDriver.open(packed_db)
    counting = _CountingTransactions(inner)
    writer = AnswerWriter(counting, now=clock)  # type: ignore[arg-type]
    try:
        outcomes = await asyncio.gather(
            *(asyncio.create_task(writer.record(b)) for b in batches), return_exceptions=True
        )
    finally:
        await inner.close()
    rejected = outcomes[7]
    assert isinstance(rejected, AnswerRejected)
    assert rejected.index == 5 and rejected.field == "answers[5].selected_answer"
    results = [o for i, o in enumerate(outcomes) if i != 7]
    assert all(isinstance(r, WriteResult) for r in results)
    assert counting.transactions < len(batches) // 3  # shared, not one per call
    dup = outcomes[12]
    assert isinstance(dup, WriteResult)
    assert (dup.inserted, dup.duplicate_ids) == (19, [batches[3][0]["client_answer_id"]])
    for batch, result in zip(batches, outcomes, strict=True):
        if isinstance(result, WriteResult):
            assert set(result.graded) == set(result.client_answer_ids)
            assert result.client_answer_ids == [
                a["client_answer_id"] for a in batch if a["client_answer_id"] in result.graded
            ]

    alone = await SqliteDriver.open(alone_db)
    try:
        one_by_one = AnswerWriter(alone, now=clock, group=False)
        for i, batch in enumerate(batches):
            if i == 7:
                with pytest.raises(AnswerRejected):
                    await one_by_one.record(batch)
            else:
                expected = await one_by_one.record(batch)
                assert expected == outcomes[i]
    finally:
        await alone.close()
    assert aggregates(packed_db) == aggregates(alone_db)
    assert query(packed_db, "SELECT count(*) FROM user_answers") == query(
        alone_db, "SELECT count(*) FROM user_answers"
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_group_commit_stores_what_calls_one_after_the_other_store(
    packed_template: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    # Differential: any split of answers into concurrent calls, some with a bad item, some
    # repeating another call's key, gives the same results and the same rows as the same
    # calls made one after the other without grouping.
    pool = make_answers(packed_template, 120, seed=data.draw(st.integers(0, 10**6)))
    sizes = data.draw(st.lists(st.integers(1, 15), min_size=2, max_size=12))
    batches: list[list[dict[str, Any]]] = []
    start = 0
    for size in sizes:
        if start >= len(pool):
            break
        batches.append([dict(a) for a in pool[start : start + size]])
        start += size
    for batch in batches:
        if data.draw(st.booleans()) and data.draw(st.integers(0, 3)) == 0:
            data.draw(st.sampled_from(batch))["selected_answer"] = "ZZ"  # rejected alone
        if len(batches) > 1 and data.draw(st.integers(0, 4)) == 0:
            other = data.draw(st.sampled_from(batches))
            data.draw(st.sampled_from(batch))["client_answer_id"] = other[0]["client_answer_id"]
    for batch in batches:  # a call may not repeat a key within itself
        seen: set[str] = set()
        for a in batch:
            while a["client_answer_id"] in seen:
                a["client_answer_id"] += "'"
            seen.add(a["client_answer_id"])
    folder = tmp_path_factory.mktemp("group")
    grouped, alone = folder / "grouped.db", folder / "alone.db"
    shutil.copyfile(packed_template, grouped)
    shutil.copyfile(packed_template, alone)

    together = asyncio.run(outcomes_of(grouped, batches, group=True))
    one_by_one = asyncio.run(outcomes_of(alone, batches, group=False))
    for a, b in zip(together, one_by_one, strict=True):
        if isinstance(b, AnswerRejected):
            assert isinstance(a, AnswerRejected) and (a.index, a.field) == (b.index, b.field)
        else:
            assert a == b
    assert aggregates(grouped) == aggregates(alone)
    assert query(grouped, "SELECT * FROM user_answers ORDER BY id") == query(
        alone, "SELECT * FROM user_answers ORDER BY id"
    )


async def outcomes_of(path: Path, calls: Sequence[Sequence[Any]], *, group: bool) -> list[object]:
    """What each call gets (its result or its error): all at once through a grouping writer,
    or one after the other through a writer that never groups."""
    driver = await SqliteDriver.open(path)
    writer = AnswerWriter(driver, now=clock, group=group)
    try:
        if group:
            tasks = [asyncio.create_task(writer.record(c)) for c in calls]
            return list(await asyncio.gather(*tasks, return_exceptions=True))
        out: list[object] = []
        for c in calls:
            try:
                out.append(await writer.record(c))
            except Exception as exc:
                out.append(exc)
        return out
    finally:
        await driver.close()


async def test_a_question_that_cannot_be_graded_fails_only_the_call_citing_it(
    packed_db: Path,
) -> None:
    # A question whose stored options are unreadable cannot be graded (an EdgeOptError, not
    # a rejection). Grouped with three other calls, it failed all four and none of their
    # answers was stored; one after the other, only the call citing it fails.
    answers = make_answers(packed_db, 4, seed=21)
    broken = answers[2]["question_id"]
    assert broken not in {a["question_id"] for i, a in enumerate(answers) if i != 2}
    conn = sqlite3.connect(packed_db)
    with conn:
        conn.execute("UPDATE questions SET answers = 'not json' WHERE id = ?", (broken,))
    conn.close()
    alone_db = copy(packed_db, "alone.db")
    calls = [[a] for a in answers]
    together = await outcomes_of(packed_db, calls, group=True)
    one_by_one = await outcomes_of(alone_db, calls, group=False)
    failed = together[2]
    assert isinstance(failed, EdgeOptError) and not isinstance(failed, AnswerRejected)
    assert (type(failed), str(failed)) == (type(one_by_one[2]), str(one_by_one[2]))
    for i in (0, 1, 3):
        result = together[i]
        assert isinstance(result, WriteResult) and result == one_by_one[i]
        assert result.inserted == 1
    assert aggregates(packed_db) == aggregates(alone_db)


async def test_a_call_cancelled_before_its_turn_writes_nothing(packed_db: Path) -> None:
    # A client that went away while its call waited for the group's transaction: its answer
    # was written anyway, so a later call reusing its key was told it was a duplicate and
    # its own answer dropped; a call cancelled before its turn alone writes nothing.
    answers = make_answers(packed_db, 3, seed=5)
    key = answers[1]["client_answer_id"]
    later = [{**answers[2], "client_answer_id": key}]
    alone_db = copy(packed_db, "alone.db")

    async def run(path: Path, group: bool) -> tuple[WriteResult, WriteResult]:
        driver = await SqliteDriver.open(path)
        writer = AnswerWriter(driver, now=clock, group=group)
        try:
            running = asyncio.create_task(writer.record([answers[0]]))
            waiting = asyncio.create_task(writer.record([answers[1]]))
            while not driver._in_tx:  # the first call's transaction is open: the second waits
                await asyncio.sleep(0)
            waiting.cancel()
            first = await running
            with pytest.raises(asyncio.CancelledError):
                await waiting
            return first, await writer.record(later)
        finally:
            await driver.close()

    together = await run(packed_db, True)
    one_by_one = await run(alone_db, False)
    assert together == one_by_one
    assert (together[1].inserted, together[1].duplicate_ids) == (1, [])
    stored = "SELECT question_id FROM user_answers WHERE client_answer_id = ?"
    assert query(packed_db, stored, (key,)) == [(answers[2]["question_id"],)]
    assert aggregates(packed_db) == aggregates(alone_db)


async def test_calls_are_written_in_the_order_they_arrive_on_a_plain_driver(
    packed_db: Path,
) -> None:
    # On a plain driver, a call arriving while another call's transaction was open on the
    # connection ran at once (it took that transaction for its own task's), ahead of a
    # call queued before it: of two calls sharing a key, the later one was stored and the
    # earlier one told it was a duplicate.
    answers = make_answers(packed_db, 3, seed=5)
    key = answers[1]["client_answer_id"]
    calls = [[answers[0]], [answers[1]], [{**answers[2], "client_answer_id": key}]]
    alone_db = copy(packed_db, "alone.db")
    driver = await SqliteDriver.open(packed_db)
    writer = AnswerWriter(driver, now=clock)
    try:
        first = asyncio.create_task(writer.record(calls[0]))
        await asyncio.sleep(0)  # alone: its transaction is starting
        second = asyncio.create_task(writer.record(calls[1]))  # queued behind it
        await asyncio.sleep(0)
        while not driver._in_tx:  # the first call's transaction is open on the connection
            await asyncio.sleep(0)
        third = asyncio.create_task(writer.record(calls[2]))  # arrives after the second
        together: list[object] = list(await asyncio.gather(first, second, third))
    finally:
        await driver.close()
    one_by_one = await outcomes_of(alone_db, calls, group=False)
    assert together == one_by_one
    second_result, third_result = together[1], together[2]
    assert isinstance(second_result, WriteResult) and isinstance(third_result, WriteResult)
    assert (second_result.inserted, third_result.duplicate_ids) == (1, [key])
    stored = "SELECT question_id FROM user_answers WHERE client_answer_id = ?"
    assert query(packed_db, stored, (key,)) == [(answers[1]["question_id"],)]
    assert aggregates(packed_db) == aggregates(alone_db)


async def test_a_grouped_call_reads_its_own_answers_afterwards(packed_db: Path) -> None:
    # Read-your-writes within a request (reads go to the primary for read_your_writes_s
    # after a write): a call that was grouped with others did not get it, so the request
    # that had just recorded an answer read the lagging region and did not see it.
    async def seen(group: bool) -> list[object]:
        primary = copy(packed_db, f"iad-{group}.db")
        lagging = copy(packed_db, f"lhr-{group}.db")  # never receives the writes
        settings = load_settings(
            regions=[
                {"name": "iad", "url": str(primary), "primary": True},
                {"name": "lhr", "url": str(lagging)},
            ],
            region="lhr",
            read_your_writes_s=60,
        )
        answers = make_answers(primary, 4, seed=9)
        async with EdgeDatabase.connect(settings) as db:
            writer = AnswerWriter(db, cache=db.cache, now=clock, group=group)

            async def request(a: dict[str, Any]) -> object:
                await writer.record([a])
                rows = await db.fetch_all(
                    "SELECT count(*) FROM user_answers WHERE client_answer_id = ?",
                    (a["client_answer_id"],),
                )
                return rows[0][0]

            return list(await asyncio.gather(*(asyncio.create_task(request(a)) for a in answers)))

    assert await seen(True) == await seen(False) == [1, 1, 1, 1]
