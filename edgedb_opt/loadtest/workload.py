"""The simulated users' cast and the operations they run on one ``EdgeDatabase``.

The cast is chosen once, before the clock starts, from the database's own rows: each
simulated user is a real user with their latest study session (its exam is the user's exam),
so answers pass the writer's checks and reads hit real data. Simulated users outnumbering
the real ones reuse them in turn.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import ConfigError
from edgedb_opt.study import Answer, AnswerWriter, StudyQueries
from edgedb_opt.study.models import AnswerKey

__all__ = ["ANSWERS_PER_BATCH", "Cast", "Member", "Operations", "load_cast"]

#: Answers a client sends per ``record_answers`` request (it flushes a few at a time).
ANSWERS_PER_BATCH = 5
_LATEST_SESSIONS = (
    "SELECT user_id, exam_id, max(id) FROM study_sessions GROUP BY user_id ORDER BY user_id"
)
_QUESTIONS = (
    "SELECT exam_id, id, answers FROM questions WHERE is_active = 1"
    " AND review_status = 'approved' ORDER BY id"
)


@dataclass(frozen=True)
class Member:
    """One real user as a simulated user plays them."""

    user_id: int
    exam_id: int
    session_id: int


@dataclass(frozen=True)
class Cast:
    """Who the simulated users are, and what they may touch.

    ``keys`` holds each question's option keys and its correct selection, so simulated
    answers select options the question has (the writer refuses others) and are right
    about as often as a real student.
    """

    members: tuple[Member, ...]
    questions: Mapping[int, tuple[int, ...]]
    accounts: tuple[int, ...]
    keys: Mapping[int, tuple[tuple[str, ...], str]] = field(default_factory=dict)

    def member(self, index: int) -> Member:
        return self.members[index % len(self.members)]


async def load_cast(db: Driver, users: int, *, seed: int) -> Cast:
    """Pick ``users`` members (distinct real users while there are enough), reproducibly.

    Raises:
        ConfigError: the database has no study sessions, questions or growth accounts.
    """
    try:
        sessions = await db.fetch_all(_LATEST_SESSIONS)
        question_rows = await db.fetch_all(_QUESTIONS)
        accounts = tuple(int(r[0]) for r in await db.fetch_all("SELECT id FROM twitter_accounts"))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"not a seeded study database: {exc}") from exc
    questions: dict[int, list[int]] = {}
    keys: dict[int, tuple[tuple[str, ...], str]] = {}
    for exam_id, question_id, options in question_rows:
        key = AnswerKey.parse(options)
        if key is None or not key.options:
            continue  # no option to select: the writer would refuse any answer
        questions.setdefault(int(exam_id), []).append(int(question_id))
        keys[int(question_id)] = (key.options, key.selection or key.options[0])
    pool = [Member(int(u), int(e), int(s)) for u, e, s in sessions if int(e) in questions]
    if not pool or not accounts:
        raise ConfigError("the database has no study sessions or accounts to play; seed it first")
    rng = random.Random(seed)
    members = rng.sample(pool, min(users, len(pool)))
    return Cast(tuple(members), {k: tuple(v) for k, v in questions.items()}, accounts, keys)


Operation = Callable[[int, random.Random], Awaitable[object]]


class Operations:
    """The five operations of the mix, each ``await op(user_index, rng)``.

    Args:
        queries: the study reads, cached (``StudyQueries(db, cache=db.cache)``).
        writer: the answer writer, invalidating that cache.
        cast: who plays.
    """

    def __init__(self, queries: StudyQueries, writer: AnswerWriter, cast: Cast) -> None:
        self.queries = queries
        self.writer = writer
        self.cast = cast
        self._run = uuid.uuid4().hex[:12]  # keeps client_answer_ids unique across runs
        self._sent = 0
        self.table: dict[str, Operation] = {
            "study_questions": self.study_questions,
            "record_answers": self.record_answers,
            "session_progress": self.session_progress,
            "leaderboard": self.leaderboard,
            "growth_analytics": self.growth_analytics,
        }

    async def study_questions(self, index: int, rng: random.Random) -> object:
        m = self.cast.member(index)
        return await self.queries.study_questions(m.user_id, m.exam_id)

    async def record_answers(self, index: int, rng: random.Random) -> object:
        m = self.cast.member(index)
        batch = self.answers(m, rng, ANSWERS_PER_BATCH)
        return await self.writer.record(batch)

    def answers(self, m: Member, rng: random.Random, n: int) -> list[Answer]:
        """``n`` plausible answers of ``m`` in their session, each with a new client key:
        the correct selection 70% of the time, else one option at random."""
        out: list[Answer] = []
        for question_id in rng.sample(self.cast.questions[m.exam_id], n):
            self._sent += 1
            options, correct = self.cast.keys.get(question_id, (("A",), "A"))
            out.append(
                Answer(
                    user_id=m.user_id,
                    question_id=question_id,
                    study_session_id=m.session_id,
                    selected_answer=correct if rng.random() < 0.7 else rng.choice(options),
                    time_spent_seconds=rng.randint(5, 90),
                    confidence_level=rng.randint(1, 5),
                    client_answer_id=f"lt-{self._run}-{self._sent}",
                )
            )
        return out

    async def session_progress(self, index: int, rng: random.Random) -> object:
        return await self.queries.session_progress(self.cast.member(index).session_id)

    async def leaderboard(self, index: int, rng: random.Random) -> object:
        return await self.queries.leaderboard(self.cast.member(index).exam_id)

    async def growth_analytics(self, index: int, rng: random.Random) -> object:
        return await self.queries.growth_analytics(rng.choice(self.cast.accounts))


def weighted_picker(mix: Mapping[str, float]) -> Callable[[random.Random], str]:
    """A function drawing an operation name with the mix's probabilities."""
    names: Sequence[str] = [k for k, v in mix.items() if v > 0]
    weights = [mix[k] for k in names]
    return lambda rng: rng.choices(names, weights)[0]
