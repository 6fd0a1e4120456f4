"""The optimized study flow: the shapes of ``tests/fixtures/hot`` over the study pack.

Each statement is written for one index of the pack (named next to it) and returns the
same raw tuples as its baseline twin in ``_baseline``. The ``*_SQL`` constants are the
main statements, complete with no objective filter, so tests and ``edgeopt health`` can
EXPLAIN them; the study picks are formatted with ``{objectives}`` at run time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable
from typing import Any

from edgedb_opt.drivers.base import Params, Row, fetch_quick, fetch_then
from edgedb_opt.errors import DriverError
from edgedb_opt.schema import has_object
from edgedb_opt.study._baseline import (
    CANDIDATE_FILTER,
    HISTORY_TEMPLATE,
    PROGRESS_COLUMNS,
    QUESTION_COLUMNS,
    StudyArgs,
    StudyDatabase,
    sample_picks,
)
from edgedb_opt.study._candidates import VERSION_TABLE, Candidates, Listed

# Practice: the ids answered since the cutoff (a range of idx_user_answers_user_time) and
# the candidate ids (index-only from idx_questions_speed_drill or, with an objective filter,
# idx_questions_study_candidates), each as one string. The difference is taken in Python:
# measured at 2M answers it beats a NOT EXISTS probe of (user_id, question_id, answered_at)
# per candidate 2-5x, and one string crosses into Python far faster than 7,000 rows.
_RECENT = """(SELECT group_concat(user_answers.question_id) FROM user_answers
        WHERE user_answers.user_id = ? AND user_answers.answered_at >= ?) AS recent"""
_CANDIDATES = f"(SELECT group_concat(questions.id) FROM questions WHERE {CANDIDATE_FILTER})"
_PRACTICE = f"""
SELECT {_RECENT},
       {_CANDIDATES} AS candidates"""
PRACTICE_PLAIN_SQL = _PRACTICE.format(objectives="")

# Practice with the pack's bank version: the same two lists, except that the candidates are
# listed only when the version differs from the one the caller kept its list at (the third
# parameter; NULL lists them). The candidates' loop runs inside a one-row "changed" table that
# is empty when the version is the kept one, so no engine walks them then: a CASE would do
# for SQLite, which evaluates only the branch taken, but the Turso engine evaluates every
# scalar subquery of a statement.
_PRACTICE_VERSIONED = f"""
SELECT {_RECENT},
       (SELECT version FROM {VERSION_TABLE}) AS version,
       (SELECT group_concat(questions.id)
        FROM (SELECT 1 WHERE ((SELECT version FROM {VERSION_TABLE}) = ?) IS NOT TRUE) AS changed
        CROSS JOIN questions
        WHERE {CANDIDATE_FILTER}) AS candidates"""
PRACTICE_SQL = _PRACTICE_VERSIONED.format(objectives="")

# The picked rows by key, in pick order (json_each keeps the order of the array).
QUESTION_ROWS_SQL = f"""
SELECT {QUESTION_COLUMNS}, objectives.code, objectives.name
FROM json_each(?) AS picked
CROSS JOIN questions ON questions.id = picked.value
LEFT JOIN objectives ON objectives.id = questions.objective_id
ORDER BY picked.key"""

# The recent-answer probe of the other modes: one index-only seek of
# idx_user_answers_user_question_time per candidate examined.
_NOT_RECENT = """NOT EXISTS (
          SELECT 1 FROM user_answers
          WHERE user_answers.user_id = ? AND user_answers.question_id = questions.id
            AND user_answers.answered_at >= ?)"""

# Speed drill walks idx_questions_speed_drill in difficulty order and stops once LIMIT
# candidates survive the probe: only the ids of the difficulty levels walked are sorted
# (by id), and only the picked rows are read in full.
_SPEED_DRILL = f"""
SELECT {QUESTION_COLUMNS}, objectives.code, objectives.name
FROM (
    SELECT questions.id AS id, questions.difficulty AS difficulty
    FROM questions
    WHERE {CANDIDATE_FILTER} AND {_NOT_RECENT}
    ORDER BY questions.difficulty, questions.id
    LIMIT ?
) AS picked
CROSS JOIN questions ON questions.id = picked.id
LEFT JOIN objectives ON objectives.id = questions.objective_id
ORDER BY picked.difficulty, picked.id"""
SPEED_DRILL_SQL = _SPEED_DRILL.format(objectives="")

# Weak areas: the user's answers grouped per question index-only on
# idx_user_answers_user_question_time, each answered question looked up once (not each
# answer), the candidates from the covering partial index ranked by their objective's
# rate. Only the picked rows are read in full (deferred join). The unary + on difficulty
# steers the planner to idx_questions_study_candidates, which covers objective_id, instead
# of idx_questions_speed_drill and a table read per candidate.
_WEAK_FILTER = CANDIDATE_FILTER.replace("questions.difficulty", "+questions.difficulty")
_WEAK_AREAS = f"""
WITH per_question AS (
    SELECT user_answers.question_id AS question_id, SUM(user_answers.is_correct) AS correct,
           COUNT(*) AS answered
    FROM user_answers
    WHERE user_answers.user_id = ?
    GROUP BY user_answers.question_id
), rates AS (
    SELECT questions.objective_id AS objective_id, SUM(per_question.correct) AS correct,
           SUM(per_question.answered) AS answered
    FROM per_question CROSS JOIN questions ON questions.id = per_question.question_id
    WHERE questions.exam_id = ? AND questions.objective_id IS NOT NULL
    GROUP BY questions.objective_id
)
SELECT {QUESTION_COLUMNS}, objectives.code, objectives.name, picked.correct, picked.answered
FROM (
    SELECT questions.id AS id, rates.correct AS correct, rates.answered AS answered
    FROM questions LEFT JOIN rates ON rates.objective_id = questions.objective_id
    WHERE {_WEAK_FILTER} AND {_NOT_RECENT}
    ORDER BY rates.answered IS NULL, rates.correct * 1.0 / rates.answered, questions.id
    LIMIT ?
) AS picked
CROSS JOIN questions ON questions.id = picked.id
LEFT JOIN objectives ON objectives.id = questions.objective_id
ORDER BY picked.answered IS NULL, picked.correct * 1.0 / picked.answered, picked.id"""
WEAK_AREAS_SQL = _WEAK_AREAS.format(objectives="")

# Review (fixture review_wrong_answers): the wrong answers from the partial index
# idx_user_answers_wrong, the "answered correctly since" probe index-only on
# idx_user_answers_user_question_time. CROSS JOIN keeps the answers as the outer loop.
_REVIEW = f"""
SELECT {QUESTION_COLUMNS}, objectives.code, objectives.name,
       COUNT(*) AS wrong_count, MAX(user_answers.answered_at) AS last_wrong_at
FROM user_answers
CROSS JOIN questions ON questions.id = user_answers.question_id
LEFT JOIN objectives ON objectives.id = questions.objective_id
WHERE user_answers.user_id = ? AND user_answers.is_correct = 0 AND {CANDIDATE_FILTER}
  AND NOT EXISTS (
      SELECT 1 FROM user_answers AS later
      WHERE later.user_id = user_answers.user_id
        AND later.question_id = user_answers.question_id
        AND later.answered_at > user_answers.answered_at
        AND later.is_correct = 1)
GROUP BY user_answers.question_id
ORDER BY last_wrong_at DESC, user_answers.question_id
LIMIT ?"""
REVIEW_SQL = _REVIEW.format(objectives="")


def _reorder(row: Row, extra: tuple[Any, ...]) -> Row:
    """Question columns with objective code and name after objective_id, then ``extra``."""
    return (*row[:3], row[7], row[8], *row[3:7], *extra)


async def study_questions(
    db: StudyDatabase, a: StudyArgs, candidates: Candidates | None = None
) -> list[Row]:
    """Raw study rows, the same as ``_baseline.study_questions`` returns.

    ``candidates`` keeps the practice candidate lists between calls (see ``_candidates``).
    """
    fmt = {"objectives": a.objectives_sql()}
    where = a.candidate_params()
    if a.mode == "review":
        rows = await db.fetch_all(_REVIEW.format(**fmt), [a.user_id, *where, a.limit])
        return [_reorder(r, (None, None, r[9], r[10])) for r in rows]
    probe = [*where, a.user_id, a.cutoff]
    if a.mode == "weak_areas":
        rows = await db.fetch_all(
            _WEAK_AREAS.format(**fmt), [a.user_id, a.exam_id, *probe, a.limit]
        )
        return [_reorder(r, (r[9], r[10], None, None)) for r in rows]
    if a.mode == "speed_drill":
        rows = await db.fetch_all(_SPEED_DRILL.format(**fmt), [*probe, a.limit])
        return [_reorder(r, (None, None, None, None)) for r in rows]
    return await _practice(db, a, candidates)


def _ints(listed: str | None) -> list[int]:
    """The integers of a ``group_concat`` (NULL when it had no rows)."""
    return json.loads(f"[{listed}]") if listed else []


class _Pick:
    """The second half of the practice pair: from the lists to the picked rows' query.

    It runs where the driver runs the pair (the SQLite driver's thread): the sampling is
    Python, so the two statements and it cost one hop. ``retry`` is set when the kept list
    it was told to reuse was replaced meanwhile (the caller then lists the candidates).
    """

    def __init__(
        self, a: StudyArgs, memo: Candidates | None, key: Hashable, kept: int | None
    ) -> None:
        self.a, self.memo, self.key, self.kept = a, memo, key, kept
        self.retry = False

    def __call__(self, rows: list[Row]) -> tuple[str, Params] | None:
        ((recent, *lists),) = rows
        listed = self._candidates(lists)
        if listed is None:
            self.retry = True
            return None
        ids, position = listed
        answered = _ints(recent)
        # A kept list has an index of positions; a list made for one call is bisected.
        if position:
            gone = sorted({position[q] for q in answered if q in position})
        else:
            gone = _positions(ids, answered)
        positions = sample_picks(range(len(ids) - len(gone)), self.a.limit, self.a.seed)
        picks = [_kept(ids, gone, p) for p in positions]
        return (QUESTION_ROWS_SQL, (json.dumps(picks),)) if picks else None

    def _candidates(self, lists: list[Any]) -> Listed | None:
        if self.memo is None:
            return Listed(sorted(_ints(lists[0])), {})
        version, listed = lists
        if self.kept is not None and version == self.kept:
            return self.memo.get(self.key, version)
        return self.memo.put(self.key, version, sorted(_ints(listed)))


async def _practice(db: StudyDatabase, a: StudyArgs, memo: Candidates | None) -> list[Row]:
    """The practice pick: the user's recent answers and the candidate ids (or the bank's
    version, when the kept list is current), then the picked rows, as one dependent pair."""
    fmt = {"objectives": a.objectives_sql()}
    where = a.candidate_params()
    if memo is not None and memo.available is None:
        memo.available = await has_object(db, "table", VERSION_TABLE)
    if memo is None or not memo.available:
        pick = _Pick(a, None, None, None)
        _, rows = await fetch_then(db, _PRACTICE.format(**fmt), [a.user_id, a.cutoff, *where], pick)
        return [_reorder(r, (None, None, None, None)) for r in rows]
    key = (a.exam_id, a.objective_ids, a.difficulty)
    # Second round (kept None lists the candidates): the kept list was replaced by another
    # caller between reading its version and using it.
    for kept in (memo.version(key), None):
        pick = _Pick(a, memo, key, kept)
        try:
            # Quick when the kept list should be current: index seeks only, no listing.
            _, rows = await fetch_then(
                db,
                _PRACTICE_VERSIONED.format(**fmt),
                [a.user_id, a.cutoff, kept, *where],
                pick,
                quick=kept is not None,
            )
        except DriverError as exc:
            if VERSION_TABLE not in str(exc):
                raise
            memo.available = False  # the pack step was rolled back while we ran
            return await _practice(db, a, None)
        if not pick.retry:
            return [_reorder(r, (None, None, None, None)) for r in rows]
    raise AssertionError("unreachable: the second round always lists the candidates")


def _positions(ids: list[int], drop: list[int]) -> list[int]:
    """Sorted positions in ``ids`` (sorted) of the values of ``drop`` that it holds."""
    out = []
    for value in set(drop):  # a busy user answers some questions many times a day
        i = bisect_left(ids, value)
        if i < len(ids) and ids[i] == value:
            out.append(i)
    return sorted(out)


def _kept(ids: list[int], gone: list[int], p: int) -> int:
    """The ``p``-th id of ``ids`` not at a position in ``gone``, without building that list.

    The position j of the answer is the least fixed point of j = p + |gone <= j|; iterating
    from p climbs to it.

    >>> [_kept([10, 20, 30, 40, 50], [0, 2, 3], p) for p in range(2)]
    [20, 50]
    """
    j = p
    while (nxt := p + bisect_right(gone, j)) != j:
        j = nxt
    return ids[j]


# Fixture session_progress: the session's answers index-only from the partial index
# idx_user_answers_session, questions by key, one aggregate per objective. "IS NOT NULL" is
# implied by "= ?"; SQLite's planner infers it, the Turso engine's needs it written out to use
# the partial index (else it scans every answer).
SESSION_PROGRESS_SQL = """
SELECT questions.objective_id, COUNT(*), SUM(user_answers.is_correct),
       SUM(user_answers.time_spent_seconds), COUNT(user_answers.time_spent_seconds)
FROM user_answers
CROSS JOIN questions ON questions.id = user_answers.question_id
WHERE user_answers.study_session_id = ? AND user_answers.study_session_id IS NOT NULL
GROUP BY questions.objective_id"""


async def session_groups(db: StudyDatabase, session_id: int) -> list[Row]:
    """Per objective: answered, correct, sum and count of the non-NULL times."""
    rows = await db.fetch_all(SESSION_PROGRESS_SQL, (session_id,))
    return [(o, n, c or 0, t or 0, tn) for o, n, c, t, tn in rows]


# The progress row, the week's answers (a range of idx_user_answers_user_time) and the
# streak in one statement. The streak is the number of answers after the latest wrong one in
# (answered_at, id) order, or all of them when none is wrong: the bound is the latest wrong
# answer (idx_user_answers_user_time walked backwards from the newest answer, stopping at the
# first wrong one) or else the oldest answer counted in (extra = 1), and the answers after it
# are one range of the same index. No ROW_NUMBER() over the user's answers (SQLite streamed
# it, the Turso engine sorted all of them) and no separate count of every answer (the Turso
# engine evaluates every scalar subquery, needed or not). "answered_at >= ''" holds for every
# row (TEXT affinity and NOT NULL: a value is TEXT or BLOB, both >= ''); it is there for the
# Turso engine's planner, which takes the index that orders by answered_at only given a range
# on it. The unary + keeps SQLite from building an automatic index on is_correct.
_EXAM_ANSWERS = """FROM user_answers
            CROSS JOIN questions ON questions.id = user_answers.question_id
            WHERE user_answers.user_id = ? AND questions.exam_id = ?"""
_STREAK_BOUND = f"""SELECT user_answers.answered_at AS answered_at, user_answers.id AS id,
                         {{extra}} AS extra
                  {_EXAM_ANSWERS} AND user_answers.answered_at >= ''{{wrong}}
                  ORDER BY user_answers.answered_at {{order}}, user_answers.id {{order}}
                  LIMIT 1"""
USER_PROGRESS_SQL = f"""
SELECT {PROGRESS_COLUMNS},
       (SELECT COUNT(*) {_EXAM_ANSWERS} AND user_answers.answered_at >= ?) AS answers_7d,
       COALESCE(
           (SELECT (SELECT COUNT(*) {_EXAM_ANSWERS}
                      AND user_answers.answered_at >= bound.answered_at
                      AND (user_answers.answered_at, user_answers.id)
                          > (bound.answered_at, bound.id)) + bound.extra
            FROM (SELECT * FROM ({
    _STREAK_BOUND.format(extra=0, wrong=" AND +user_answers.is_correct = 0", order="DESC")
})
                  UNION ALL
                  SELECT * FROM ({_STREAK_BOUND.format(extra=1, wrong="", order="ASC")})
                  ORDER BY extra
                  LIMIT 1) AS bound),
           0) AS current_streak
FROM (SELECT 1) AS one
LEFT JOIN user_progress
       ON user_progress.user_id = ? AND user_progress.exam_id = ?"""


async def user_progress(
    db: StudyDatabase, user_id: int, exam_id: int, week_start: str
) -> tuple[Row | None, int, int]:
    """The progress row (None if absent), answers since ``week_start``, current streak."""
    params = (user_id, exam_id, week_start, *(user_id, exam_id) * 3, user_id, exam_id)
    ((*progress, week, streak),) = await db.fetch_all(USER_PROGRESS_SQL, params)
    return (tuple(progress) if progress[0] is not None else None), week, streak


# One page in index order from idx_user_progress_leaderboard, then each page user's week
# as one range of idx_user_answers_user_time, each answer's exam from the narrow
# idx_questions_exam_of. A correlated count per page user, not a LEFT JOIN of answers and
# questions grouped by user: given the join, SQLite without statistics for the narrow index
# reads each answer's question row (10.6 ms at medium scale, 2.3 ms now) and the Turso
# engine sorts the joined rows for the GROUP BY (6.2 ms, 4.2 ms now).
LEADERBOARD_SQL = """
WITH page AS (
    SELECT user_progress.user_id AS user_id, user_progress.readiness_score AS readiness_score
    FROM user_progress
    WHERE user_progress.exam_id = ? AND user_progress.readiness_score IS NOT NULL
    ORDER BY user_progress.readiness_score DESC, user_progress.user_id
    LIMIT ?
)
SELECT RANK() OVER (ORDER BY page.readiness_score DESC) AS rank, page.user_id,
       COALESCE(users.display_name, users.name), page.readiness_score,
       (SELECT COUNT(*)
        FROM user_answers
        CROSS JOIN questions ON questions.id = user_answers.question_id
        WHERE user_answers.user_id = page.user_id AND user_answers.answered_at >= ?
          AND questions.exam_id = ?) AS weekly
FROM page
LEFT JOIN users ON users.id = page.user_id
ORDER BY page.readiness_score DESC, page.user_id"""


async def leaderboard(db: StudyDatabase, exam_id: int, limit: int, week_start: str) -> list[Row]:
    """(rank, user_id, name, readiness, weekly) for the first ``limit`` ranked users."""
    return await db.fetch_all(LEADERBOARD_SQL, (exam_id, limit, week_start, exam_id))


# Fixture growth_timeseries, index-only on idx_growth_metrics_timeseries: the rows of the
# days shown and of the six days before them (so the first day's 7-day figures are whole),
# in date order. The 7-day sums are a sliding window over calendar days, summed in Python
# when every day is a YYYY-MM-DD date and every summed value an integer or NULL (exactly
# SQL's SUM then); otherwise GROWTH_WINDOW_SQL computes them in SQL. A window function in
# SQL costs the Turso engine two sorts of the rows it already reads in order.
GROWTH_SQL = """
SELECT growth_metrics.date, growth_metrics.followers, growth_metrics.new_followers,
       growth_metrics.impressions, growth_metrics.engagements, growth_metrics.ai_costs
FROM growth_metrics
WHERE growth_metrics.account_id = ?
  AND growth_metrics.date >= date(?, '-6 days') AND growth_metrics.date < ?
ORDER BY growth_metrics.date"""
# The same in SQL: seven calendar days (RANGE over the day number), the outer filter after the
# window (SQLite pushes no WHERE into a window subquery without PARTITION BY).
GROWTH_WINDOW_SQL = """
SELECT day, followers, new_followers, impressions, engagements, ai_costs,
       new_followers_7d, engagements_7d, impressions_7d, days_7d
FROM (
    SELECT growth_metrics.date AS day, growth_metrics.followers AS followers,
           growth_metrics.new_followers AS new_followers,
           growth_metrics.impressions AS impressions,
           growth_metrics.engagements AS engagements, growth_metrics.ai_costs AS ai_costs,
           SUM(growth_metrics.new_followers) OVER week AS new_followers_7d,
           SUM(growth_metrics.engagements) OVER week AS engagements_7d,
           SUM(growth_metrics.impressions) OVER week AS impressions_7d,
           COUNT(*) OVER week AS days_7d
    FROM growth_metrics
    WHERE growth_metrics.account_id = ?
      AND growth_metrics.date >= date(?, '-6 days') AND growth_metrics.date < ?
    WINDOW week AS (ORDER BY julianday(growth_metrics.date)
                    RANGE BETWEEN 6 PRECEDING AND CURRENT ROW)
) AS series
WHERE day >= ?
ORDER BY day"""
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _int_sum(values: Iterable[Any]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _weekly(rows: list[Row], first: str) -> list[Row] | None:
    """The rows from ``first`` on with their 7-day sums, or None when SQL must do it."""
    days: list[int] = []
    for row in rows:
        day = row[0]
        if not (isinstance(day, str) and _ISO_DAY.fullmatch(day)):
            return None
        if any(v is not None and type(v) is not int for v in row[2:5]):
            return None  # a REAL or TEXT value: SQL's SUM rules, not Python's
        try:
            days.append(dt.date.fromisoformat(day).toordinal())
        except ValueError:
            return None
    out: list[Row] = []
    lo = 0
    for i, row in enumerate(rows):
        if row[0] < first:
            continue
        while days[lo] < days[i] - 6:
            lo += 1
        hi = i  # RANGE ... CURRENT ROW takes the rows of the same day after this one too
        while hi + 1 < len(rows) and days[hi + 1] == days[i]:
            hi += 1
        week = rows[lo : hi + 1]
        sums = (_int_sum(w[k] for w in week) for k in (2, 4, 3))
        out.append((*row, *sums, len(week)))
    return out


async def growth(db: StudyDatabase, account_id: int, first: str, end: str) -> list[Row]:
    """Daily rows in [first, end) with 7-day sums.

    A quick read: at most ``days + 6`` rows of one account from the covering index.
    """
    rows = await fetch_quick(db, GROWTH_SQL, (account_id, first, end))
    weekly = _weekly(rows, first)
    if weekly is None:
        weekly = await db.fetch_all(GROWTH_WINDOW_SQL, (account_id, first, end, first))
    return weekly


# Fixture answer_history_keyset: (answered_at, id) of the last row as a row value, a range
# of idx_user_answers_user_time read in index order, no OFFSET.
HISTORY_FIRST_SQL = HISTORY_TEMPLATE.format(after="", page="LIMIT ?")
# "answered_at <= ?" is implied by the row value; written out, it makes the Turso engine's
# planner seek to the key instead of walking down to it from the newest answer.
HISTORY_AFTER_SQL = HISTORY_TEMPLATE.format(
    after="\n  AND user_answers.answered_at <= ?"
    "\n  AND (user_answers.answered_at, user_answers.id) < (?, ?)",
    page="LIMIT ?",
)


async def answer_history(
    db: StudyDatabase, user_id: int, after: tuple[str, int] | None, limit: int
) -> list[Row]:
    """Up to ``limit`` rows after the key ``(answered_at, id)``, newest first."""
    if after is None:
        return await db.fetch_all(HISTORY_FIRST_SQL, (user_id, limit))
    return await db.fetch_all(HISTORY_AFTER_SQL, (user_id, after[0], *after, limit))
