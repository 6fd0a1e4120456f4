"""The per-answer writer a plain app would have: the baseline :class:`AnswerWriter` beats.

Each answer is its own autocommit statements (lookups, INSERT, UPDATE of the question's
statistics, the session's and attempt's counters, a ``user_progress`` upsert), with the same
results as :class:`~edgedb_opt.study.writer.AnswerWriter` for the same answers: the same
checks and limits, and each answer graded from its question's options the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgedb_opt.drivers.base import Driver, Row
from edgedb_opt.study.limits import Limits, limits_or_default
from edgedb_opt.study.models import (
    Answer,
    AnswerRejected,
    Invalidates,
    Stale,
    WriteResult,
    check_parent,
    coerce_answers,
    grade_answer,
    invalidate,
    merge_objective_scores,
    stamp,
)
from edgedb_opt.study.writer import (
    _INSERT_ANSWERS,
    _INSERT_PROGRESS,
    Clock,
    _marks,
    _utcnow,
    answer_values,
)

__all__ = ["BaselineAnswerWriter"]

_BASE_INSERT = _INSERT_ANSWERS.format(
    v="(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
    " (SELECT count(*) + 1 FROM user_answers WHERE user_id = ?1 AND question_id = ?2))"
)
_BASE_SETS = {
    "questions": "total_attempts = total_attempts + 1, correct_attempts = correct_attempts + ?2,"
    " avg_time_seconds = (SELECT avg(time_spent_seconds) FROM user_answers WHERE question_id = ?1)",
    "study_sessions": "answered_count = answered_count + 1, correct_count = correct_count + ?2,"
    " accuracy = CAST(correct_count + ?2 AS REAL) / (answered_count + 1),"
    " avg_time_seconds = (SELECT avg(time_spent_seconds) FROM user_answers"
    " WHERE study_session_id = ?1), objective_scores = ?3",
    "test_attempts": "correct_count = correct_count + ?2",
}
#: :func:`~edgedb_opt.study.models.next_streak` in SQL, over the row and one new answer.
_STREAK = (
    "CASE WHEN last_studied_at IS NULL THEN 1"
    " WHEN date(excluded.last_studied_at) = date(last_studied_at) THEN max(current_streak, 1)"
    " WHEN date(excluded.last_studied_at) = date(last_studied_at, '+1 day')"
    " THEN max(current_streak, 1) + 1"
    " WHEN date(excluded.last_studied_at) > date(last_studied_at) THEN 1"
    " ELSE current_streak END"
)
_BASE_PROGRESS = _INSERT_PROGRESS.format(v=_marks(1, 10)) + (
    " ON CONFLICT (user_id, exam_id) DO UPDATE SET"
    " questions_answered = questions_answered + 1,"
    " correct_answers = correct_answers + excluded.correct_answers,"
    " accuracy = CAST(correct_answers + excluded.correct_answers AS REAL)"
    " / (questions_answered + 1),"
    " study_time_seconds = study_time_seconds + excluded.study_time_seconds,"
    f" current_streak = {_STREAK}, best_streak = max(best_streak, {_STREAK}),"
    " last_studied_at = CASE WHEN last_studied_at IS NULL"
    " OR excluded.last_studied_at > last_studied_at"
    " THEN excluded.last_studied_at ELSE last_studied_at END,"
    " updated_at = excluded.updated_at"
)


class BaselineAnswerWriter:
    """What a plain app does: each answer on its own, one autocommit statement at a time.

    Per answer: look up the key, the question, the user and the session or attempt, then
    INSERT the answer and UPDATE the question's statistics (the average by SQL ``AVG``),
    the session or attempt and ``user_progress``, each statement committing on its own.
    The aggregates end up equal to :class:`AnswerWriter`'s for the same answers, but a
    bad item found by a lookup stops the batch with the answers before it already stored
    (what needs no lookup, types and ``limits``, is checked for the whole batch first).
    """

    def __init__(
        self,
        db: Driver,
        *,
        now: Clock | None = None,
        cache: Invalidates | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.limits = limits_or_default(limits)
        self._now = now or _utcnow

    async def _one(self, sql: str, *params: Any) -> Row | None:
        rows = await self.db.fetch_all(sql, params)
        return rows[0] if rows else None

    async def record(self, answers: Sequence[Answer | Mapping[str, Any]]) -> WriteResult:
        """Store answers one at a time (see the class docstring); each is graded from its
        question's options, a client's ``is_correct`` is ignored."""
        clock = self._now()
        items = coerce_answers(answers, self.limits, clock)
        now = stamp(clock)
        result = WriteResult()
        touched: dict[str, set[Any]] = {t: set() for t in ("q", "s", "t", "p")}
        stale: dict[Stale, None] = {}
        for i, a in enumerate(items):
            cid = a.client_answer_id
            question = await self._one(
                "SELECT exam_id, objective_id, answers FROM questions WHERE id = ?", a.question_id
            )
            if await self._one("SELECT 1 FROM user_answers WHERE client_answer_id = ?", cid):
                result.duplicate_ids.append(cid)
                if question is not None:
                    stale[a.user_id, a.question_id, question[0], a.study_session_id] = None
                continue
            if question is None:
                raise AnswerRejected(
                    i, f"question {a.question_id} does not exist", attribute="question_id"
                )
            if await self._one("SELECT 1 FROM users WHERE id = ?", a.user_id) is None:
                raise AnswerRejected(i, f"user {a.user_id} does not exist", attribute="user_id")
            exam, objective, options = question
            a = grade_answer(i, a, options)
            c = int(bool(a.is_correct))
            scores = None
            if a.study_session_id is not None:
                session = await self._one(
                    "SELECT user_id, exam_id, objective_scores FROM study_sessions WHERE id = ?",
                    a.study_session_id,
                )
                check_parent(i, a, exam, "study session", session and session[:2])
                scores = merge_objective_scores(
                    session[2] if session else None,
                    {objective: [1, c]} if objective is not None else {},
                )
            if a.test_attempt_id is not None:
                attempt = await self._one(
                    "SELECT user_id, exam_id FROM test_attempts WHERE id = ?", a.test_attempt_id
                )
                check_parent(i, a, exam, "test attempt", attempt)
            at = stamp(a.answered_at) if a.answered_at is not None else now
            await self.db.execute(_BASE_INSERT, answer_values(a, at))
            await self._set("questions", a.question_id, c)
            touched["q"].add(a.question_id)
            if a.study_session_id is not None:
                await self._set("study_sessions", a.study_session_id, c, scores)
                touched["s"].add(a.study_session_id)
            if a.test_attempt_id is not None:
                await self._set("test_attempts", a.test_attempt_id, c)
                touched["t"].add(a.test_attempt_id)
            secs = a.time_spent_seconds or 0
            await self.db.execute(
                _BASE_PROGRESS, (a.user_id, exam, 1, c, float(c), secs, 1, 1, at, now)
            )
            touched["p"].add((a.user_id, exam))
            result.client_answer_ids.append(cid)
            result.graded[cid] = bool(a.is_correct)
            stale[a.user_id, a.question_id, exam, a.study_session_id] = None
        await invalidate(self.cache, stale)
        return WriteResult(
            inserted=len(result.client_answer_ids),
            duplicates=len(result.duplicate_ids),
            questions_updated=len(touched["q"]),
            sessions_updated=len(touched["s"]),
            attempts_updated=len(touched["t"]),
            progress_updated=len(touched["p"]),
            client_answer_ids=result.client_answer_ids,
            duplicate_ids=result.duplicate_ids,
            graded=result.graded,
        )

    async def _set(self, table: str, key: int, *values: Any) -> None:
        await self.db.execute(
            f"UPDATE {table} SET {_BASE_SETS[table]} WHERE id = ?1", (key, *values)
        )
