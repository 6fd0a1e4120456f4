"""What the answer writers take and return, and the rules both of them follow.

:class:`Answer` and :func:`coerce_answers` check a batch before any SQL runs (types, ranges
and the :class:`~edgedb_opt.study.limits.Limits`); :class:`AnswerKey` grades each answer
from its question's stored options once the writer has read them. The aggregate rules
(timestamps, streaks, per-objective scores, exact averages) are the ones ``datagen`` uses to
build a consistent database, so a database fed by the writers stays consistent with a seeded
one. Both writers of :mod:`edgedb_opt.study.writer` call these same functions, so they agree
by construction.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import pydantic
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from edgedb_opt.errors import EdgeOptError, InvalidInput
from edgedb_opt.study.limits import DEFAULT_LIMITS, MAX_ID, Limits, show

#: The text form of every timestamp in the schema (UTC), as in ``schema/base.sql``.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

#: An id as a client sends it: an ``int`` (never a bool, a text or a float) SQLite can store.
_Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
_StrictInt = Annotated[int, Strict()]
_StrictBool = Annotated[bool, Strict()]
_StrictStr = Annotated[str, Strict()]


class Answer(BaseModel):
    """One answer as a client sends it.

    ``client_answer_id`` is the idempotency key: an answer whose key is already stored is
    a duplicate and is skipped. An answer belongs to a study session, a test attempt, or
    neither (a loose answer), never both. ``answered_at`` (a datetime or ISO 8601 text)
    defaults to the writer's clock; a naive time means UTC.

    ``selected_answer`` is one option key (``"B"``) or several joined by commas (``"A,C"``),
    each a key of the question's options. **The writer grades it**: ``is_correct`` is stored
    as whether the selected keys are exactly the question's correct keys. A client's
    ``is_correct`` is accepted for compatibility and **ignored** (a client could otherwise
    claim any score); the grades come back in :attr:`WriteResult.graded`.

    Types are strict: ids, ``time_spent_seconds`` and ``confidence_level`` must be ``int``,
    ``flagged`` a ``bool``; ``"12"``, ``1.0`` or ``"yes"`` are refused rather than converted.

    >>> a = Answer(user_id=1, question_id=2, selected_answer="B", client_answer_id="c-1")
    >>> a.flagged, a.is_correct
    (False, None)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: _Id
    question_id: _Id
    study_session_id: _Id | None = None
    test_attempt_id: _Id | None = None
    selected_answer: Annotated[str, Strict(), Field(min_length=1)]
    is_correct: _StrictBool | None = None
    time_spent_seconds: _StrictInt | None = None
    confidence_level: _StrictInt | None = None
    flagged: _StrictBool = False
    client_answer_id: Annotated[str, Strict(), Field(min_length=1, max_length=128)]
    answered_at: dt.datetime | None = None

    @field_validator("answered_at", mode="before")
    @classmethod
    def _moment(cls, value: object) -> object:
        """A datetime, or ISO 8601 text (``2026-05-01T10:00:00Z``); no epoch numbers."""
        if value is None or isinstance(value, dt.datetime):
            return value
        if isinstance(value, str) and len(value) <= 64:
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        raise ValueError(f"must be an ISO 8601 date and time, not {show(value)}")

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


class AnswerRejected(InvalidInput):
    """One item of a batch is invalid, so nothing of the batch was written.

    An :class:`~edgedb_opt.errors.InvalidInput` (HTTP 422) whose ``field`` is the item's
    path in the batch, ``answers[<index>].<attribute>`` (just ``answers[<index>]`` when the
    item as a whole is wrong).

    Attributes:
        index: 0-based position of the item in the batch.
        reason: what is wrong with it, one line.
        field: ``answers[<index>].<attribute>``, or ``answers[<index>]``.

    >>> err = AnswerRejected(3, "selected_answer is too long", attribute="selected_answer")
    >>> str(err), err.field, err.index
    ('item 3: selected_answer is too long', 'answers[3].selected_answer', 3)
    """

    def __init__(self, index: int, reason: str, *, attribute: str | None = None) -> None:
        path = f"answers[{index}]" + (f".{attribute}" if attribute else "")
        super().__init__(f"item {index}: {reason}", field=path, reason=reason)
        self.index = index


def _reason(exc: pydantic.ValidationError) -> tuple[str | None, str]:
    """The attribute of the first problem (None for the whole item) and one line about it."""
    err = exc.errors(include_url=False)[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in err["loc"])
    text = f"{where} {msg[:1].lower()}{msg[1:]}" if where else msg
    more = exc.error_count() - 1
    attribute = str(err["loc"][0]) if err["loc"] else None
    return attribute, f"{text} (and {more} more)" if more else text


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime; naive means UTC already."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def check_limits(i: int, a: Answer, limits: Limits, now: dt.datetime) -> None:
    """Reject item ``i`` if it passes a bound of ``limits``; ``now`` is the writer's clock."""
    for name in ("user_id", "question_id", "study_session_id", "test_attempt_id"):
        value = getattr(a, name)
        if value is not None and value > limits.max_id:
            raise AnswerRejected(
                i, f"{name} must be at most {limits.max_id}, not {value}", attribute=name
            )
    if len(a.selected_answer) > limits.max_selected_answer:
        raise AnswerRejected(
            i,
            f"selected_answer must be at most {limits.max_selected_answer} characters,"
            f" not {len(a.selected_answer)}",
            attribute="selected_answer",
        )
    if a.time_spent_seconds is not None and a.time_spent_seconds > limits.max_time_spent_seconds:
        raise AnswerRejected(
            i,
            f"time_spent_seconds must be at most {limits.max_time_spent_seconds},"
            f" not {a.time_spent_seconds}",
            attribute="time_spent_seconds",
        )
    if a.answered_at is not None:
        at, latest = utc(a.answered_at), utc(now) + dt.timedelta(seconds=limits.future_skew_s)
        if at < limits.min_answered_at:
            raise AnswerRejected(
                i,
                f"answered_at {stamp(at)} is before {stamp(limits.min_answered_at)}",
                attribute="answered_at",
            )
        if at > latest:
            raise AnswerRejected(
                i,
                f"answered_at {stamp(at)} is in the future (the latest accepted is"
                f" {stamp(latest)}, {limits.future_skew_s:g} s after now)",
                attribute="answered_at",
            )


def coerce_answers(
    answers: object, limits: Limits | None = None, now: dt.datetime | None = None
) -> list[Answer]:
    """Validate a batch; the first bad item (or a repeated ``client_answer_id``) rejects it.

    Args:
        answers: a sequence of :class:`Answer` or mappings (a list of JSON objects).
        limits: the bounds (default :class:`~edgedb_opt.study.limits.Limits`()).
        now: the writer's clock, for ``answered_at`` (default: UTC now).
    Raises:
        InvalidInput: ``answers`` is not a sequence of answers (a single answer, a text,
            None) or holds more than ``limits.max_batch`` (field ``answers``).
        AnswerRejected: an item is invalid (field ``answers[<i>].<attribute>``).

    >>> coerce_answers([{"user_id": 1, "question_id": 2, "selected_answer": "A",
    ...                  "client_answer_id": "k", "confidence_level": 9}])
    Traceback (most recent call last):
    ...
    edgedb_opt.study.models.AnswerRejected: item 0: confidence_level must be between 1 and 5
    """
    limits = limits or DEFAULT_LIMITS
    if isinstance(answers, Answer | Mapping | str | bytes) or not isinstance(answers, Iterable):
        what = "a single answer" if isinstance(answers, Answer | Mapping) else show(answers)
        raise InvalidInput.of("answers", f"must be a list of answers, not {what}")
    raws = list(itertools.islice(answers, limits.max_batch + 1))
    if len(raws) > limits.max_batch:
        count = len(answers) if isinstance(answers, Sequence) else f"more than {limits.max_batch}"
        reason = f"must hold at most {limits.max_batch} answers, not {count}"
        raise InvalidInput.of("answers", reason)
    clock = now if now is not None else dt.datetime.now(dt.UTC)
    items: list[Answer] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raws):
        if isinstance(raw, Answer):
            item = raw
        elif isinstance(raw, Mapping):
            try:
                item = Answer.model_validate(raw)
            except pydantic.ValidationError as exc:
                attribute, reason = _reason(exc)
                raise AnswerRejected(i, reason, attribute=attribute) from exc
        else:
            raise AnswerRejected(i, f"expected an Answer or a mapping, not {type(raw).__name__}")
        first = seen.setdefault(item.client_answer_id, i)
        if first != i:
            raise AnswerRejected(
                i,
                f"client_answer_id {item.client_answer_id!r} repeats item {first}",
                attribute="client_answer_id",
            )
        check_limits(i, item, limits, clock)
        items.append(item)
    return items


def stored_options(text: object) -> list[Any] | None:
    """A question's stored ``answers`` value as the JSON list it should be, else None."""
    try:
        options = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return None
    return options if isinstance(options, list) else None


@dataclass(frozen=True)
class AnswerKey:
    """A question's options and which of them are correct, from its stored ``answers`` JSON
    (``[{"key": "A", "text": ..., "correct": true}, ...]``).

    >>> key = AnswerKey.parse('[{"key": "A", "correct": false}, {"key": "B", "correct": true},'
    ...                       ' {"key": "C", "correct": true}]')
    >>> key.selection, key.grade("C,B"), key.grade("B"), key.unknown("B,ZZZ")
    ('B,C', True, False, ['ZZZ'])
    """

    options: tuple[str, ...]
    correct: frozenset[str]

    @classmethod
    def parse(cls, text: object) -> AnswerKey | None:
        """The key of a stored ``answers`` value; None when it is not a list of options
        each with a text ``key``."""
        options = stored_options(text)
        if options is None:
            return None
        keys: list[str] = []
        correct: set[str] = set()
        for option in options:
            if not isinstance(option, dict) or not isinstance(option.get("key"), str):
                return None
            keys.append(option["key"])
            if option.get("correct") is True:
                correct.add(option["key"])
        return cls(tuple(keys), frozenset(correct))

    @property
    def selection(self) -> str:
        """The correct selection, as a client sends it (keys sorted, joined by commas)."""
        return ",".join(sorted(self.correct))

    def unknown(self, selection: str) -> list[str]:
        """The parts of ``selection`` (split at commas) that are no key of this question."""
        return [k for k in selection.split(",") if k not in self.options]

    def grade(self, selection: str) -> bool:
        """Whether ``selection`` names exactly the correct keys (order and repeats aside)."""
        return set(selection.split(",")) == self.correct


def grade_answer(i: int, a: Answer, answers: object) -> Answer:
    """Item ``i`` with ``is_correct`` computed from its question's stored ``answers``.

    Raises:
        AnswerRejected: the selection names a key the question does not have.
        EdgeOptError: the question's stored options are unreadable (the server's data, not
            the client's request, is wrong).
    """
    key = AnswerKey.parse(answers)
    if key is None:
        raise EdgeOptError(f"question {a.question_id} has no readable answer options")
    unknown = key.unknown(a.selected_answer)
    if unknown:
        raise AnswerRejected(
            i,
            f"selected_answer {show(a.selected_answer)} names "
            f"{'a key' if len(unknown) == 1 else 'keys'} question {a.question_id} does not"
            f" have: {', '.join(show(k) for k in unknown)} (its options: {', '.join(key.options)})",
            attribute="selected_answer",
        )
    return a.model_copy(update={"is_correct": key.grade(a.selected_answer)})


def check_parent(i: int, a: Answer, exam: int, what: str, row: Sequence[Any] | None) -> None:
    """Reject an answer whose session or attempt ``row`` (user, exam) is missing or not its own."""
    key = a.study_session_id if what == "study session" else a.test_attempt_id
    attribute = "study_session_id" if what == "study session" else "test_attempt_id"
    if row is None:
        raise AnswerRejected(i, f"{what} {key} does not exist", attribute=attribute)
    if row[0] != a.user_id:
        raise AnswerRejected(
            i, f"{what} {key} belongs to user {row[0]}, not user {a.user_id}", attribute=attribute
        )
    if row[1] != exam:
        raise AnswerRejected(
            i,
            f"{what} {key} is for exam {row[1]}, but question {a.question_id} is in exam {exam}",
            attribute=attribute,
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
        graded: ``client_answer_id`` -> whether the answer is correct, as the writer graded
            it from the question's options, for each inserted answer (a handler shows this
            as feedback; duplicates are not graded again).
    """

    inserted: int = 0
    duplicates: int = 0
    questions_updated: int = 0
    sessions_updated: int = 0
    attempts_updated: int = 0
    progress_updated: int = 0
    client_answer_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    graded: dict[str, bool] = field(default_factory=dict)


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
        self.correct += bool(a.is_correct)
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
