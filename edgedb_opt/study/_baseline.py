"""The baseline study flow: what a plain app does, and the reference for every result.

Baseline means SQL as it is commonly written against the reference schema: ``NOT IN``
with ``DISTINCT``, ``ORDER BY RANDOM()`` over full rows, one objective lookup per question
(N+1), one query per objective, correlated subqueries per row, ``LIKE '%word%'``, and
``OFFSET`` paging. The optimized variant (``_optimized``) must return what these functions
return, so the definitions shared by both live here: the arguments of a study pick, the
seeded sample, and the review rule.

Every function returns raw tuples; :mod:`edgedb_opt.study.queries` shapes them into dicts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from edgedb_opt.drivers.base import Capabilities, Params, Row, TransactionMode

_RNG = random.Random()


class StudyDatabase(Protocol):
    """The part of the :class:`~edgedb_opt.drivers.base.Driver` surface the study flow uses
    (drivers and ``EdgeDatabase`` provide it)."""

    @property
    def capabilities(self) -> Capabilities: ...

    async def execute(self, sql: str, params: Params = ()) -> int: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def transaction(
        self, mode: TransactionMode = "IMMEDIATE"
    ) -> AbstractAsyncContextManager[None]: ...


#: The question columns of a study pick, in the order of every raw study row.
QUESTION_COLUMNS = (
    "questions.id, questions.exam_id, questions.objective_id, questions.text, questions.type, "
    "questions.answers, questions.difficulty"
)

#: Active, approved questions of one exam in a difficulty range (a ``{objectives}`` filter
#: goes after the exam). Spelled literally so SQLite matches the pack's partial indexes.
CANDIDATE_FILTER = (
    "questions.exam_id = ?{objectives} AND questions.difficulty BETWEEN ? AND ? "
    "AND questions.is_active = 1 AND questions.review_status = 'approved'"
)


@dataclass(frozen=True)
class StudyArgs:
    """One validated ``study_questions`` call; ``cutoff`` is now minus the window."""

    user_id: int
    exam_id: int
    objective_ids: tuple[int, ...] | None
    difficulty: tuple[int, int]
    cutoff: str
    limit: int
    mode: str
    seed: int | None

    def objectives_sql(self) -> str:
        """The objective filter of :data:`CANDIDATE_FILTER` (empty when every objective)."""
        if self.objective_ids is None:
            return ""
        return f" AND questions.objective_id IN ({', '.join('?' * len(self.objective_ids))})"

    def candidate_params(self) -> list[Any]:
        """Parameters of :data:`CANDIDATE_FILTER`, in order."""
        return [self.exam_id, *(self.objective_ids or ()), *self.difficulty]


def sample_picks(ids: Sequence[Any], k: int, seed: int | None) -> list[Any]:
    """``k`` distinct items of ``ids`` in random order, uniformly: every k-subset and every
    order is equally likely (``random.sample``).

    With a seed the pick depends only on ``len(ids)``, ``k`` and the seed, so two callers
    that list the same candidates in the same order (by id) pick the same rows in the same
    order. ``sample`` chooses positions from ``len(ids)`` alone:

    >>> sample_picks(list("abcdef"), 3, 7) == [list("abcdef")[i] for i in sample_picks(
    ...     range(6), 3, 7)]
    True
    """
    rng = _RNG if seed is None else random.Random(seed)
    return rng.sample(ids, min(k, len(ids)))


def review_rows(answers: Sequence[Row]) -> list[tuple[int, int, str]]:
    """The review queue from ``(question_id, is_correct, answered_at)`` rows.

    A question is due for review when the user has a wrong answer to it with no correct
    answer strictly later; ``wrong_count`` counts those wrong answers, ``last_wrong_at`` is
    the latest. Rows come back as ``(question_id, wrong_count, last_wrong_at)``, the most
    recent mistake first, then by question id.

    >>> review_rows([(1, 0, "a"), (1, 1, "b"), (2, 0, "a"), (2, 0, "c"), (1, 0, "b")])
    [(2, 2, 'c'), (1, 1, 'b')]
    """
    last_right: dict[int, str] = {}
    for qid, correct, at in answers:
        if correct and (qid not in last_right or at > last_right[qid]):
            last_right[qid] = at
    due: dict[int, list[Any]] = {}
    for qid, correct, at in answers:
        if not correct and (qid not in last_right or at >= last_right[qid]):
            entry = due.setdefault(qid, [qid, 0, at])
            entry[1] += 1
            entry[2] = max(entry[2], at)
    ordered = sorted((tuple(v) for v in due.values()), key=lambda r: r[0])
    return sorted(ordered, key=lambda r: r[2], reverse=True)  # stable: ties stay by id


def ratio(num: float, den: float | None) -> float | None:
    """``num / den`` rounded to 6 places (every float of a result), None when ``den`` is 0
    or NULL."""
    return round(num / den, 6) if den else None


_Q_KEYS = (
    "id", "exam_id", "objective_id", "objective_code", "objective_name", "text", "type",
    "answers", "difficulty",
)  # fmt: skip


def question_dict(row: Row) -> dict[str, Any]:
    """A raw study row (see :func:`study_questions`) as the dict callers get."""
    out = dict(zip(_Q_KEYS, row[:9], strict=True))
    correct, answered, wrong, last = row[9:13]
    out["success_rate"] = ratio(correct, answered)
    out["wrong_count"], out["last_wrong_at"] = wrong, last
    return out


def growth_dict(row: Row) -> dict[str, Any]:
    """A raw growth row (day, metrics, then the 7-day sums and row count) as a dict."""
    day, fol, new, imp, eng, cost, new7, eng7, imp7, n7 = row
    trend = round(eng / imp - eng7 / imp7, 6) if imp and imp7 else None
    return {
        "date": day, "followers": fol, "new_followers": new, "impressions": imp,
        "engagements": eng, "ai_costs": cost, "cost_per_follower": ratio(cost, new),
        "new_followers_avg_7d": ratio(new7, n7), "engagements_avg_7d": ratio(eng7, n7),
        "engagement_rate": ratio(eng, imp), "engagement_rate_7d": ratio(eng7, imp7),
        "engagement_rate_trend": trend,
    }  # fmt: skip


def session_result(session_id: int, groups: Sequence[Row]) -> dict[str, Any]:
    """Session progress from per-objective ``(objective_id, answered, correct, time sum,
    timed answers)`` groups; objective None counts in the totals only."""
    answered, correct = sum(g[1] for g in groups), sum(g[2] for g in groups)
    times, timed = sum(g[3] for g in groups), sum(g[4] for g in groups)
    return {
        "session_id": session_id,
        "answered": answered,
        "correct": correct,
        "accuracy": ratio(correct, answered),
        "avg_time_seconds": ratio(times, timed),
        "objective_scores": {
            int(o): {"answered": n, "correct": c, "accuracy": ratio(c, n)}
            for o, n, c, _, _ in sorted(g for g in groups if g[0] is not None)
        },
    }


_NOT_RECENT = (
    "questions.id NOT IN (SELECT DISTINCT user_answers.question_id FROM user_answers "
    "WHERE user_answers.user_id = ? AND user_answers.answered_at >= ?)"
)
_PICK = f"SELECT {QUESTION_COLUMNS} FROM questions WHERE {CANDIDATE_FILTER} AND {_NOT_RECENT}"
PRACTICE_RANDOM_SQL = _PICK + " ORDER BY RANDOM() LIMIT ?"
PRACTICE_SEEDED_SQL = _PICK + " ORDER BY questions.id"
SPEED_DRILL_SQL = _PICK + " ORDER BY questions.difficulty, questions.id LIMIT ?"
WEAK_AREAS_SQL = f"""
WITH rates AS (
    SELECT questions.objective_id AS objective_id, SUM(user_answers.is_correct) AS correct,
           COUNT(*) AS answered
    FROM user_answers JOIN questions ON questions.id = user_answers.question_id
    WHERE user_answers.user_id = ? AND questions.exam_id = ?
      AND questions.objective_id IS NOT NULL
    GROUP BY questions.objective_id
)
SELECT {QUESTION_COLUMNS}, rates.correct, rates.answered
FROM questions LEFT JOIN rates ON rates.objective_id = questions.objective_id
WHERE {CANDIDATE_FILTER} AND {_NOT_RECENT}
ORDER BY rates.answered IS NULL, rates.correct * 1.0 / rates.answered, questions.id
LIMIT ?"""
REVIEW_ANSWERS_SQL = f"""
SELECT user_answers.question_id, user_answers.is_correct, user_answers.answered_at
FROM user_answers JOIN questions ON questions.id = user_answers.question_id
WHERE user_answers.user_id = ? AND {CANDIDATE_FILTER}"""
QUESTION_BY_ID_SQL = f"SELECT {QUESTION_COLUMNS} FROM questions WHERE questions.id = ?"
OBJECTIVE_BY_ID_SQL = (
    "SELECT objectives.code, objectives.name FROM objectives WHERE objectives.id = ?"
)


async def _with_objective(db: StudyDatabase, row: Row, extra: tuple[Any, ...]) -> Row:
    """The N+1: one objective lookup per question (a NULL objective finds nothing)."""
    found = await db.fetch_all(OBJECTIVE_BY_ID_SQL, (row[2],))
    code, name = found[0] if found else (None, None)
    return (*row[:3], code, name, *row[3:7], *extra)


async def study_questions(db: StudyDatabase, a: StudyArgs) -> list[Row]:
    """Raw study rows: question columns with objective code and name spliced in after
    objective_id, then rate_correct, rate_answered, wrong_count, last_wrong_at."""
    where = [*a.candidate_params()]
    fmt = {"objectives": a.objectives_sql()}
    if a.mode == "review":
        answers = await db.fetch_all(REVIEW_ANSWERS_SQL.format(**fmt), [a.user_id, *where])
        out = []
        for qid, wrong, last in review_rows(answers)[: a.limit]:
            (row,) = await db.fetch_all(QUESTION_BY_ID_SQL, (qid,))
            out.append(await _with_objective(db, row, (None, None, wrong, last)))
        return out
    where += [a.user_id, a.cutoff]
    if a.mode == "weak_areas":
        rows = await db.fetch_all(
            WEAK_AREAS_SQL.format(**fmt), [a.user_id, a.exam_id, *where, a.limit]
        )
        return [await _with_objective(db, r[:7], (*r[7:9], None, None)) for r in rows]
    if a.mode == "speed_drill":
        rows = await db.fetch_all(SPEED_DRILL_SQL.format(**fmt), [*where, a.limit])
    elif a.seed is None:
        rows = await db.fetch_all(PRACTICE_RANDOM_SQL.format(**fmt), [*where, a.limit])
    else:
        every = await db.fetch_all(PRACTICE_SEEDED_SQL.format(**fmt), where)
        rows = sample_picks(every, a.limit, a.seed)
    return [await _with_objective(db, r, (None, None, None, None)) for r in rows]


SESSION_ANSWER_IDS_SQL = (
    "SELECT user_answers.id FROM user_answers WHERE user_answers.study_session_id = ? "
    "ORDER BY user_answers.id"
)
ANSWER_BY_ID_SQL = (
    "SELECT user_answers.question_id, user_answers.is_correct, user_answers.time_spent_seconds "
    "FROM user_answers WHERE user_answers.id = ?"
)
QUESTION_OBJECTIVE_SQL = "SELECT questions.objective_id FROM questions WHERE questions.id = ?"
OBJECTIVE_SCORE_SQL = """
SELECT COUNT(*), SUM(user_answers.is_correct)
FROM user_answers JOIN questions ON questions.id = user_answers.question_id
WHERE user_answers.study_session_id = ? AND questions.objective_id = ?"""


async def session_groups(db: StudyDatabase, session_id: int) -> list[Row]:
    """Per objective (None for questions without one): answered, correct, sum and count of
    the non-NULL times. Per-answer reads, then one query per objective."""
    groups: dict[int | None, list[int]] = {}
    for (answer_id,) in await db.fetch_all(SESSION_ANSWER_IDS_SQL, (session_id,)):
        (qid, correct, spent), *_ = await db.fetch_all(ANSWER_BY_ID_SQL, (answer_id,))
        found = await db.fetch_all(QUESTION_OBJECTIVE_SQL, (qid,))
        if not found:
            continue
        g = groups.setdefault(found[0][0], [0, 0, 0, 0])
        g[0] += 1
        g[1] += correct
        if spent is not None:
            g[2] += spent
            g[3] += 1
    for objective_id, g in groups.items():
        if objective_id is not None:
            ((answered, correct),) = await db.fetch_all(
                OBJECTIVE_SCORE_SQL, (session_id, objective_id)
            )
            g[0], g[1] = answered, correct
    return [(k, *v) for k, v in groups.items()]


PROGRESS_COLUMNS = (
    "user_progress.id, user_progress.user_id, user_progress.exam_id, "
    "user_progress.questions_answered, user_progress.correct_answers, user_progress.accuracy, "
    "user_progress.current_streak, user_progress.best_streak, user_progress.study_time_seconds, "
    "user_progress.readiness_score, user_progress.last_studied_at, user_progress.updated_at"
)
PROGRESS_ROW_SQL = (
    f"SELECT {PROGRESS_COLUMNS} FROM user_progress "
    "WHERE user_progress.user_id = ? AND user_progress.exam_id = ?"
)
EXAM_ANSWERS_SQL = """
SELECT user_answers.is_correct, user_answers.answered_at
FROM user_answers JOIN questions ON questions.id = user_answers.question_id
WHERE user_answers.user_id = ? AND questions.exam_id = ?
ORDER BY user_answers.answered_at DESC, user_answers.id DESC"""


async def user_progress(
    db: StudyDatabase, user_id: int, exam_id: int, week_start: str
) -> tuple[Row | None, int, int]:
    """The progress row, answers since ``week_start`` and the current streak, from every
    answer of the user on the exam read into Python."""
    found = await db.fetch_all(PROGRESS_ROW_SQL, (user_id, exam_id))
    answers = await db.fetch_all(EXAM_ANSWERS_SQL, (user_id, exam_id))
    week = sum(1 for _, at in answers if at >= week_start)
    streak = next((i for i, (correct, _) in enumerate(answers) if not correct), len(answers))
    return (found[0] if found else None), week, streak


LEADERBOARD_SQL = """
SELECT page.user_id, COALESCE(users.display_name, users.name), page.readiness_score,
       (SELECT COUNT(*)
        FROM user_answers JOIN questions ON questions.id = user_answers.question_id
        WHERE user_answers.user_id = page.user_id AND user_answers.answered_at >= ?
          AND questions.exam_id = ?) AS weekly
FROM (
    SELECT user_progress.user_id AS user_id, user_progress.readiness_score AS readiness_score
    FROM user_progress
    WHERE user_progress.exam_id = ? AND user_progress.readiness_score IS NOT NULL
    ORDER BY user_progress.readiness_score DESC, user_progress.user_id
    LIMIT ?
) AS page
LEFT JOIN users ON users.id = page.user_id
ORDER BY page.readiness_score DESC, page.user_id"""


async def leaderboard(db: StudyDatabase, exam_id: int, limit: int, week_start: str) -> list[Row]:
    """(rank, user_id, name, readiness, weekly): a correlated count per leaderboard row,
    the rank counted in Python (ties share the rank of the first, like ``RANK()``)."""
    rows = await db.fetch_all(LEADERBOARD_SQL, (week_start, exam_id, exam_id, limit))
    out: list[Row] = []
    for i, row in enumerate(rows):
        rank = out[-1][0] if out and out[-1][3] == row[2] else i + 1
        out.append((rank, *row))
    return out


GROWTH_SQL = """
SELECT day.date, day.followers, day.new_followers, day.impressions, day.engagements,
       day.ai_costs,
       (SELECT SUM(w.new_followers) FROM growth_metrics AS w
        WHERE w.account_id = day.account_id
          AND w.date BETWEEN date(day.date, '-6 days') AND day.date),
       (SELECT SUM(w.engagements) FROM growth_metrics AS w
        WHERE w.account_id = day.account_id
          AND w.date BETWEEN date(day.date, '-6 days') AND day.date),
       (SELECT SUM(w.impressions) FROM growth_metrics AS w
        WHERE w.account_id = day.account_id
          AND w.date BETWEEN date(day.date, '-6 days') AND day.date),
       (SELECT COUNT(*) FROM growth_metrics AS w
        WHERE w.account_id = day.account_id
          AND w.date BETWEEN date(day.date, '-6 days') AND day.date)
FROM growth_metrics AS day
WHERE day.account_id = ? AND day.date = ?"""

GROWTH_DAYS_SQL = """
SELECT date FROM growth_metrics WHERE account_id = ? AND date >= ? AND date < ? ORDER BY date"""


async def growth(db: StudyDatabase, account_id: int, first: str, end: str) -> list[Row]:
    """Daily rows in [first, end), the way a dashboard loop does it: list the days, then one
    query per day whose correlated subqueries sum that day's 7-day window (N+1)."""
    days = await db.fetch_all(GROWTH_DAYS_SQL, (account_id, first, end))
    out: list[Row] = []
    for (day,) in days:
        out.extend(await db.fetch_all(GROWTH_SQL, (account_id, day)))
    return out


#: A user's answers newest first; ``{after}`` takes the keyset condition, ``{page}`` the paging.
HISTORY_TEMPLATE = """
SELECT user_answers.id, user_answers.question_id, user_answers.selected_answer,
       user_answers.is_correct, user_answers.time_spent_seconds, user_answers.answered_at,
       questions.text
FROM user_answers
JOIN questions ON questions.id = user_answers.question_id
WHERE user_answers.user_id = ?{after}
ORDER BY user_answers.answered_at DESC, user_answers.id DESC
{page}"""
HISTORY_SQL = HISTORY_TEMPLATE.format(after="", page="LIMIT ? OFFSET ?")


async def answer_history(db: StudyDatabase, user_id: int, offset: int, limit: int) -> list[Row]:
    """Up to ``limit`` rows from ``offset`` of the history, newest first (OFFSET paging)."""
    return await db.fetch_all(HISTORY_SQL, (user_id, limit, offset))
