"""What the answer writers take and return, and the rules both of them follow.

:class:`Answer` and :func:`coerce_answers` check a batch before any SQL runs; the
aggregate rules (timestamps, streaks, per-objective scores, exact averages) are the ones
``datagen`` uses to build a consistent database, so a database fed by the writers stays
consistent with a seeded one. Both writers of :mod:`edgedb_opt.study.writer` call these
same functions, so they agree by construction.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgedb_opt.errors import EdgeOptError

#: The text form of every timestamp in the schema (UTC), as in ``schema/base.sql``.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


class Answer(BaseModel):
    """One answer as a client sends it.

    ``client_answer_id`` is the idempotency key: an answer whose key is already stored is
    a duplicate and is skipped. An answer belongs to a study session, a test attempt, or
    neither (a loose answer), never both. ``answered_at`` defaults to the writer's clock;
    a naive datetime means UTC.

    >>> Answer(user_id=1, question_id=2, selected_answer="B", is_correct=True,
    ...        client_answer_id="c-1").flagged
    False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: int = Field(gt=0)
    question_id: int = Field(gt=0)
    study_session_id: int | None = Field(default=None, gt=0)
    test_attempt_id: int | None = Field(default=None, gt=0)
    selected_answer: str = Field(min_length=1)
    is_correct: bool
    time_spent_seconds: int | None = None
    confidence_level: int | None = None
    flagged: bool = False
    client_answer_id: str = Field(min_length=1, max_length=128)
    answered_at: dt.datetime | None = None

    @field_validator("time_spent_seconds")
    @classmethod
    def _non_negative(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("confidence_level")
    @classmethod
    def _confidence_range(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 5:
            raise ValueError("must be between 1 and 5")
        return value

    @model_validator(mode="after")
    def _one_parent(self) -> Answer:
        if self.study_session_id is not None and self.test_attempt_id is not None:
            raise ValueError("study_session_id and test_attempt_id cannot both be set")
        return self


class AnswerRejected(EdgeOptError):
    """One item of a batch is invalid, so nothing of the batch was written.

    Attributes:
        index: 0-based position of the item in the batch.
        reason: what is wrong with it, one line.
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"item {index}: {reason}")
        self.index = index
        self.reason = reason


def _reason(exc: pydantic.ValidationError) -> str:
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in err["loc"])
    text = f"{where} {msg[:1].lower()}{msg[1:]}" if where else msg
    more = exc.error_count() - 1
    return f"{text} (and {more} more)" if more else text


def coerce_answers(answers: Sequence[Answer | Mapping[str, Any]]) -> list[Answer]:
    """Validate a batch; the first bad item (or a repeated ``client_answer_id``) rejects it.

    >>> coerce_answers([{"user_id": 1, "question_id": 2, "selected_answer": "A",
    ...                  "is_correct": False, "client_answer_id": "k", "confidence_level": 9}])
    Traceback (most recent call last):
    ...
    edgedb_opt.study.models.AnswerRejected: item 0: confidence_level must be between 1 and 5
    """
    if isinstance(answers, Answer | Mapping | str | bytes):
        raise TypeError("record() takes a sequence of answers, not a single answer")
    items: list[Answer] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(answers):
        if isinstance(raw, Answer):
            item = raw
        elif isinstance(raw, Mapping):
            try:
                item = Answer.model_validate(raw)
            except pydantic.ValidationError as exc:
                raise AnswerRejected(i, _reason(exc)) from exc
        else:
            raise AnswerRejected(i, f"expected an Answer or a mapping, not {type(raw).__name__}")
        first = seen.setdefault(item.client_answer_id, i)
        if first != i:
            raise AnswerRejected(
                i, f"client_answer_id {item.client_answer_id!r} repeats item {first}"
            )
        items.append(item)
    return items


def check_parent(i: int, a: Answer, exam: int, what: str, row: Sequence[Any] | None) -> None:
    """Reject an answer whose session or attempt ``row`` (user, exam) is missing or not its own."""
    key = a.study_session_id if what == "study session" else a.test_attempt_id
    if row is None:
        raise AnswerRejected(i, f"{what} {key} does not exist")
    if row[0] != a.user_id:
        raise AnswerRejected(i, f"{what} {key} belongs to user {row[0]}, not user {a.user_id}")
    if row[1] != exam:
        raise AnswerRejected(
            i, f"{what} {key} is for exam {row[1]}, but question {a.question_id} is in exam {exam}"
        )


@dataclass(frozen=True)
class WriteResult:
    """What one ``record`` call did.

    Attributes:
        inserted: answers stored by this call.
        duplicates: answers skipped because their ``client_answer_id`` was already stored.
        questions_updated: questions whose statistics changed.
        sessions_updated: study sessions whose counters changed.
        attempts_updated: test attempts whose counters changed.
        progress_updated: ``user_progress`` rows inserted or updated.
        client_answer_ids: the keys of the inserted answers, in input order.
        duplicate_ids: the keys that were already stored, in input order.
    """

    inserted: int = 0
    duplicates: int = 0
    questions_updated: int = 0
    sessions_updated: int = 0
    attempts_updated: int = 0
    progress_updated: int = 0
    client_answer_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)


def stamp(moment: dt.datetime) -> str:
    """The schema's UTC text form of ``moment``; naive means UTC already.

    >>> stamp(dt.datetime(2026, 5, 1, 12, 30, 5, 999))
    '2026-05-01 12:30:05'
    >>> stamp(dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))))
    '2026-04-30 23:00:00'
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime(STAMP_FORMAT)


def next_streak(current: int, best: int, last: str | None, at: str) -> tuple[int, int, str]:
    """Fold one answer at ``at`` into a (current, best, last studied) streak state.

    A streak counts consecutive calendar days (UTC) with answers, as ``datagen`` does:
    another answer the same day keeps it, the next day extends it, a later day starts a
    new one. An answer older than the last one studied (a late upload) moves nothing but
    ``best``. ``current`` 0 with a ``last`` day (a streak reset by a reader) counts as 1.
    The SQL of the baseline writer implements the same rule.

    >>> next_streak(0, 0, None, "2026-05-01 10:00:00")
    (1, 1, '2026-05-01 10:00:00')
    >>> next_streak(3, 5, "2026-05-01 22:00:00", "2026-05-02 07:00:00")
    (4, 5, '2026-05-02 07:00:00')
    >>> next_streak(4, 4, "2026-05-01 22:00:00", "2026-05-04 07:00:00")
    (1, 4, '2026-05-04 07:00:00')
    >>> next_streak(2, 2, "2026-05-04 07:00:00", "2026-05-01 07:00:00")
    (2, 2, '2026-05-04 07:00:00')
    """
    if last is None:
        current = 1
    elif at[:10] == last[:10]:  # the usual case, without parsing dates
        current = max(current, 1)
    else:
        day, last_day = dt.date.fromisoformat(at[:10]), dt.date.fromisoformat(last[:10])
        if day == last_day:
            current = max(current, 1)
        elif day == last_day + dt.timedelta(days=1):
            current = max(current, 1) + 1
        elif day > last_day:
            current = 1
    return current, max(best, current), at if last is None or at > last else last


def merge_objective_scores(text: str | None, updates: dict[int, list[int]]) -> str:
    """A session's ``objective_scores`` JSON with more answers counted in.

    Args:
        text: the stored JSON (``{"<objective_id>": {"answered", "correct", "accuracy"}}``),
            or None. Unreadable JSON is treated as empty: the scores are a summary that
            ``session_progress`` can rebuild, not a source of truth.
        updates: objective id -> [answered, correct] of the new answers.
    Returns:
        The JSON text in ``datagen``'s layout: objectives in id order, accuracy rounded
        to 4 places.

    >>> merge_objective_scores('{"7": {"answered": 2, "correct": 1, "accuracy": 0.5}}',
    ...                        {7: [1, 1], 3: [1, 0]})
    '{"3": {"answered": 1, "correct": 0, "accuracy": 0.0}, "7": {"answered": 3, "correct": 2, "accuracy": 0.6667}}'
    """  # noqa: E501
    scores: dict[int, list[int]] = {}
    try:
        stored: Any = json.loads(text) if text else {}
        for key, value in stored.items():
            scores[int(key)] = [int(value["answered"]), int(value["correct"])]
    except (ValueError, TypeError, KeyError, AttributeError):
        scores = {}
    for objective, (answered, correct) in updates.items():
        score = scores.setdefault(objective, [0, 0])
        score[0] += answered
        score[1] += correct
    return json.dumps(
        {
            str(o): {"answered": a, "correct": c, "accuracy": round(c / a, 4)}
            for o, (a, c) in sorted(scores.items())
            if a
        }
    )


@dataclass
class Totals:
    """Aggregates of new answers: count, correct, timed ones and their seconds.

    ``objectives`` ({objective: [answered, correct]}) serves sessions, ``streak``
    (current, best, last studied) serves ``user_progress``.

    >>> t = Totals()
    >>> for secs in (10, None, 5):
    ...     t.add(Answer(user_id=1, question_id=1, selected_answer="A", is_correct=True,
    ...                  time_spent_seconds=secs, client_answer_id=str(secs)))
    >>> (t.answered, t.correct, t.timed, t.seconds), t.average((2, 9))
    ((3, 3, 2, 15), 6.0)
    """

    answered: int = 0
    correct: int = 0
    timed: int = 0
    seconds: int = 0
    objectives: dict[int, list[int]] = field(default_factory=dict)
    streak: tuple[int, int, str | None] = (0, 0, None)

    def add(self, a: Answer) -> None:
        self.answered += 1
        self.correct += a.is_correct
        if a.time_spent_seconds is not None:
            self.timed += 1
            self.seconds += a.time_spent_seconds

    def average(self, stored: tuple[int, int] | None) -> float | None:
        """Mean time over the stored (count, sum) and the new timed answers.

        Integer count and sum make it exactly what SQL ``AVG`` over every answer gives;
        a running average of averages would drift, and would miscount NULL times.
        """
        count, total = stored or (0, 0)
        count, total = count + self.timed, total + self.seconds
        return total / count if count else None


class Invalidates(Protocol):
    """Anything with ``invalidate(*tags)``, sync or async, such as ``QueryCache``."""

    def invalidate(self, *tags: str) -> object: ...


#: What a stored answer makes stale: (user, question, exam, study session or None).
Stale = tuple[int, int, int, int | None]


def cache_tags(stale: Iterable[Stale]) -> list[str]:
    """The cache tags of stored answers, each once.

    ``answer:<user>:<question>`` drops the study picks holding that question for that user.

    >>> cache_tags([(3, 40, 2, 9), (3, 41, 2, None)])
    ['user:3', 'question:40', 'question:41', 'exam:2', 'session:9', 'answer:3:40', 'answer:3:41']
    """
    rows = list(stale)
    tags: list[str] = []
    for n, prefix in enumerate(("user", "question", "exam", "session")):
        tags += [f"{prefix}:{k}" for k in dict.fromkeys(r[n] for r in rows) if k is not None]
    tags += list(dict.fromkeys(f"answer:{r[0]}:{r[1]}" for r in rows))
    return tags


async def invalidate(cache: Invalidates | None, stale: Iterable[Stale]) -> None:
    """Call ``cache.invalidate`` once with the tags of ``stale``, awaiting it if it is async."""
    tags = cache_tags(stale)
    if cache is not None and tags:
        outcome = cache.invalidate(*tags)
        if inspect.isawaitable(outcome):
            await outcome
