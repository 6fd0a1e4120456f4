"""The measured operations of the study flow, and what "the same results" means for each.

An :class:`Operation` makes one or more :class:`Case` calls per variant (study questions
has one per user of the mix) and a check that compares the two variants: reads compare
their outputs before timing; record answers compares the statistics both files hold after
every measured batch (both variants record the same batches).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgedb_opt.bench.picks import SEARCHES, Picks, answer_batch
from edgedb_opt.study._fts import search_words
from edgedb_opt.study.baseline_writer import BaselineAnswerWriter
from edgedb_opt.study.limits import Limits
from edgedb_opt.study.queries import StudyDatabase, StudyQueries
from edgedb_opt.study.writer import AnswerWriter

__all__ = ["OPERATIONS", "TARGETS", "Case", "Operation", "Side", "operation_names"]

Call = Callable[[], Awaitable[Any]]
_IDS = "(SELECT value FROM json_each(?))"

#: Required speedups (baseline median / optimized median) at scale medium (issue 3).
TARGETS: dict[str, float] = {
    "study_questions": 50.0,
    "record_answers": 50.0,
    "session_progress": 50.0,
    "user_progress": 20.0,
    "leaderboard": 20.0,
    "search_questions": 20.0,
    "growth_analytics": 10.0,
    "answer_history_page500": 20.0,
}


@dataclass
class Side:
    """One variant's database, read operations and answer writer."""

    variant: str
    db: StudyDatabase
    queries: StudyQueries
    writer: AnswerWriter | BaselineAnswerWriter


Sides = dict[str, Side]


@dataclass(frozen=True)
class Case:
    """One measured call: ``make(side)`` returns the call to time on that side."""

    label: str
    make: Callable[[Side], Call]


@dataclass(frozen=True)
class Operation:
    """A study-flow operation: its cases, its same-results check and its target."""

    name: str
    cases: Callable[[Picks], list[Case]]
    same: Callable[[Sides, Picks], Awaitable[bool]]
    #: Compare after measuring (writes: the statistics both files ended with).
    check_after: bool = False

    @property
    def target(self) -> float | None:
        return TARGETS.get(self.name)


async def _equal(sides: Sides, make: Callable[[Side], Call], key: Callable[[Any], Any]) -> bool:
    outs = [key(await make(sides[v])()) for v in ("baseline", "optimized")]
    return bool(outs[0] == outs[1])


def _same(
    *makes: Callable[[Picks], Callable[[Side], Call]], key: Callable[[Any], Any] = lambda x: x
) -> Callable[[Sides, Picks], Awaitable[bool]]:
    async def check(sides: Sides, picks: Picks) -> bool:
        for make in makes:
            if not await _equal(sides, make(picks), key):
                return False
        return True

    return check


def _one(label: str, make: Callable[[Picks], Callable[[Side], Call]]) -> Callable[..., list[Case]]:
    return lambda picks: [Case(label, make(picks))]


# -- study questions: one case per user of the mix, seeded so the rows must be identical --
def _study(user: int, exam: int) -> Callable[[Side], Call]:
    return lambda s: lambda: s.queries.study_questions(user, exam, limit=20, seed=7)


def _study_cases(picks: Picks) -> list[Case]:
    return [Case(f"user {u}", _study(u, e)) for u, e in picks.mix]


async def _study_same(sides: Sides, picks: Picks) -> bool:
    for u, e in picks.mix:
        if not await _equal(sides, _study(u, e), lambda x: x):
            return False
    return True


# -- the other reads -------------------------------------------------------------------
def _session(picks: Picks) -> Callable[[Side], Call]:
    return lambda s: lambda: s.queries.session_progress(picks.session)


def _user(picks: Picks) -> Callable[[Side], Call]:
    user, exam = picks.mix[0]
    return lambda s: lambda: s.queries.user_progress(user, exam)


def _board(picks: Picks) -> Callable[[Side], Call]:
    exam = picks.mix[0][1]
    return lambda s: lambda: s.queries.leaderboard(exam, limit=10)


def _search(picks: Picks, *, limit: int = 20) -> Callable[[Side], Call]:
    exam, text = picks.mix[0][1], SEARCHES["search_questions"]
    return lambda s: lambda: s.queries.search_questions(exam, text, limit=limit)


_FIELDS = "SELECT id, text, explanation, reference FROM questions WHERE id IN " + _IDS


async def _search_same(sides: Sides, picks: Picks) -> bool:
    """Both variants find the same questions, but for the differences their definitions
    allow (see ``StudyQueries.search_questions``): LIKE also matches inside longer words,
    FTS5 also matches other forms of a word. So every question only one of them finds must
    lack some query word as a whole word; one that has them all must be found by both.

    FTS ranks by bm25 and LIKE by column then id, so the first 20 differ by design: the
    sets compared are every match.
    """
    text = SEARCHES["search_questions"]
    # Every match: a reader of each variant whose page limit is the whole bank (the
    # measured readers keep the default limits).
    every = Limits(max_page=10**6)
    found = [
        {
            r["id"]
            for r in await StudyQueries(
                s.db, variant=s.queries.variant, limits=every
            ).search_questions(picks.mix[0][1], text, limit=10**6)
        }
        for s in (sides["baseline"], sides["optimized"])
    ]
    differ = sorted(found[0] ^ found[1])
    if not differ:
        return True
    rows = await sides["baseline"].db.fetch_all(_FIELDS, (json.dumps(differ),))
    words = [re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE) for w in search_words(text)]
    for row in rows:
        blob = " ".join(str(c or "") for c in row[1:])
        if all(w.search(blob) for w in words):
            return False
    return len(rows) == len(differ)


def _growth(picks: Picks) -> Callable[[Side], Call]:
    return lambda s: lambda: s.queries.growth_analytics(picks.account, days=30)


def _history(picks: Picks) -> Callable[[Side], Call]:
    user = picks.history_user
    return lambda s: lambda: s.queries.answer_history(user, after=picks.cursors[s.variant])


def _history_same(sides: Sides, picks: Picks) -> Awaitable[bool]:
    # Cursors differ by variant (keyset vs offset): the page's rows must be equal.
    return _same(_history, key=lambda page: page[0])(sides, picks)


# -- record answers: each call records the next batch; both sides record the same ones --
def _record(picks: Picks) -> Callable[[Side], Call]:
    def make(side: Side) -> Call:
        serials = itertools.count()
        return lambda: side.writer.record(answer_batch(picks, next(serials)))

    return make


_STATS = (
    "SELECT id, total_attempts, correct_attempts, avg_time_seconds FROM questions WHERE id IN "
    + _IDS + " ORDER BY id",
    "SELECT * FROM study_sessions WHERE id = ?",
    "SELECT * FROM user_progress WHERE user_id = ? AND exam_id = ? ",
    "SELECT count(*), sum(is_correct) FROM user_answers WHERE user_id = ?",
)  # fmt: skip


async def write_statistics(db: StudyDatabase, picks: Picks) -> list[list[Any]]:
    """What record_answers changes: question stats, the session, progress, answer counts."""
    params: Sequence[Sequence[Any]] = (
        (json.dumps(picks.questions),),
        (picks.session,),
        (picks.session_user, picks.session_exam),
        (picks.session_user,),
    )
    return [list(await db.fetch_all(sql, p)) for sql, p in zip(_STATS, params, strict=True)]


async def _record_same(sides: Sides, picks: Picks) -> bool:
    base = await write_statistics(sides["baseline"].db, picks)
    return base == await write_statistics(sides["optimized"].db, picks)


OPERATIONS: tuple[Operation, ...] = (
    Operation("study_questions", _study_cases, _study_same),
    Operation("record_answers", _one("20-answer batch", _record), _record_same, True),
    Operation("session_progress", _one("biggest session", _session), _same(_session)),
    Operation("user_progress", _one("heaviest user", _user), _same(_user)),
    Operation("leaderboard", _one("heaviest user's exam", _board), _same(_board)),
    Operation(
        "search_questions",
        _one(SEARCHES["search_questions"], _search),
        _search_same,
    ),
    Operation("growth_analytics", _one("30 days", _growth), _same(_growth)),
    Operation("answer_history_page500", _one("page", _history), _history_same),
)


def operation_names() -> list[str]:
    """The measured operations, in report order.

    >>> operation_names()[:2]
    ['study_questions', 'record_answers']
    """
    return [op.name for op in OPERATIONS]
