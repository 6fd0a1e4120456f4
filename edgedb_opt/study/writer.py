"""Recording answers: one transaction per batch, idempotent, all or nothing.

:class:`AnswerWriter` stores a batch of answers and keeps every aggregate that summarizes
them (question statistics, the session's and test attempt's counters, ``user_progress``)
as ``datagen`` builds them, in one ``BEGIN IMMEDIATE`` transaction:

1. compound ``SELECT ... UNION ALL ...`` statements (one for a usual batch) read what the
   batch depends on: keys already stored, the questions (with their options, the answer
   key), users, sessions, attempts and progress rows it cites, the timed-answer count and
   sum of its questions and sessions, and the earlier attempts per (user, question). With
   the study pack each part is an index seek (``idx_user_answers_question_stats``,
   ``..._session``, ``..._user_question_time``).
2. the batch is checked against what was read, each new answer is graded from its
   question's options (the client's ``is_correct`` is ignored), and the new answers are
   aggregated in Python per question, session, attempt and (user, exam). Stored keys are
   skipped.
3. a list of statements writes it: a multi-row ``INSERT`` of the answers, one
   ``UPDATE ... FROM (VALUES ...)`` each for questions, sessions, attempts and known
   ``user_progress`` rows, and a multi-row ``INSERT`` of new progress rows, each chunked
   under the bound-variable limit (one UPDATE per row where ``update_from`` is missing).

Counters are incremented in SQL; averages are recomputed exactly from the integer count
and sum of non-NULL times, which is what SQL ``AVG`` over every answer gives. The statements
of step 3 depend only on what step 1 read, so a remote driver can run step 1 and hand step 3
to ``batch`` within one interactive transaction. The baseline writer
(:mod:`edgedb_opt.study.baseline_writer`) is what a plain app does instead: autocommit
statements, one answer at a time.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgedb_opt.drivers.base import Driver, Params, Row
from edgedb_opt.runtime import consistency
from edgedb_opt.study.limits import Limits, limits_or_default
from edgedb_opt.study.models import (
    Answer,
    AnswerRejected,
    Invalidates,
    Stale,
    Totals,
    WriteResult,
    check_parent,
    coerce_answers,
    grade_answer,
    invalidate,
    merge_objective_scores,
    next_streak,
    stamp,
)

__all__ = ["AnswerRejected", "AnswerWriter", "WriteResult"]

#: Bound variables per statement: SQLite builds before 3.32 allow 999 (newer ones 32766).
DEFAULT_MAX_VARIABLES = 999
_MAX_TERMS = 64  # SELECTs per compound statement, well under SQLITE_MAX_COMPOUND_SELECT
_WIDEST = 12  # values per row of the widest multi-row statement (the answers' INSERT)
_INSERT_ANSWERS = (
    "INSERT INTO user_answers (user_id, question_id, study_session_id, test_attempt_id,"
    " selected_answer, is_correct, time_spent_seconds, confidence_level, flagged, answered_at,"
    " client_answer_id, attempt_number) VALUES {v}"
)
_STORED, _QUESTION, _QTIME, _USER, _SESSION, _STIME, _ATTEMPT, _PROGRESS, _TRIES = range(9)
#: Parts of the lookup, each ``SELECT tag, key, a, b, c, d`` over an ``IN`` list of keys.
_LOOKUPS = {
    _STORED: "SELECT {t}, client_answer_id, NULL, NULL, NULL, NULL FROM user_answers"
    " WHERE client_answer_id IN ({k})",
    _QUESTION: "SELECT {t}, id, exam_id, objective_id, answers, NULL FROM questions"
    " WHERE id IN ({k})",
    _QTIME: "SELECT {t}, question_id, count(time_spent_seconds), sum(time_spent_seconds),"
    " NULL, NULL FROM user_answers WHERE question_id IN ({k}) GROUP BY question_id",
    _USER: "SELECT {t}, id, NULL, NULL, NULL, NULL FROM users WHERE id IN ({k})",
    _SESSION: "SELECT {t}, id, user_id, exam_id, objective_scores, NULL FROM study_sessions"
    " WHERE id IN ({k})",
    # "IS NOT NULL" is implied by the IN list, but the Turso engine's planner only uses the
    # partial index idx_user_answers_session when it is written out (else: a full scan).
    _STIME: "SELECT {t}, study_session_id, count(time_spent_seconds), sum(time_spent_seconds),"
    " NULL, NULL FROM user_answers WHERE study_session_id IN ({k})"
    " AND study_session_id IS NOT NULL GROUP BY study_session_id",
    _ATTEMPT: "SELECT {t}, id, user_id, exam_id, NULL, NULL FROM test_attempts WHERE id IN ({k})",
    _PROGRESS: "SELECT {t}, user_id, exam_id, current_streak, best_streak, last_studied_at"
    " FROM user_progress WHERE user_id IN ({k})",
}
_TRIES_SQL = (
    "SELECT {t}, user_id, question_id, count(*), NULL, NULL FROM user_answers"
    " WHERE user_id IN ({u}) AND question_id IN ({q}) GROUP BY user_id, question_id"
)
#: Counter updates: the key columns of a row, and SET over its other values {n}, ... (the
#: keys are {1}, ...). Counters are incremented; streaks and averages come from Python.
_SETS: dict[str, tuple[tuple[str, ...], str]] = {
    "questions": (
        ("id",),
        "total_attempts = total_attempts + {2}, correct_attempts = correct_attempts + {3},"
        " avg_time_seconds = {4}",
    ),
    "study_sessions": (
        ("id",),
        "answered_count = answered_count + {2}, correct_count = correct_count + {3},"
        " accuracy = CAST(correct_count + {3} AS REAL) / (answered_count + {2}),"
        " avg_time_seconds = {4}, objective_scores = {5}",
    ),
    "test_attempts": (("id",), "correct_count = correct_count + {2}"),
    "user_progress": (
        ("user_id", "exam_id"),
        "questions_answered = questions_answered + {3}, correct_answers = correct_answers + {4},"
        " accuracy = CAST(correct_answers + {4} AS REAL) / (questions_answered + {3}),"
        " study_time_seconds = study_time_seconds + {5}, current_streak = {6},"
        " best_streak = {7}, last_studied_at = {8}, updated_at = {9}",
    ),
}
_INSERT_PROGRESS = (
    "INSERT INTO user_progress (user_id, exam_id, questions_answered, correct_answers, accuracy,"
    " study_time_seconds, current_streak, best_streak, last_studied_at, updated_at) VALUES {v}"
)

Clock = Callable[[], dt.datetime]
Statement = tuple[str, Params]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int, width: int = 1) -> str:
    """Placeholders for ``n`` values, or ``n`` rows of ``width`` values.

    >>> _marks(2), _marks(2, 3)
    ('?, ?', '(?, ?, ?), (?, ?, ?)')
    """
    if width == 1:
        return ", ".join(["?"] * n)
    return ", ".join([f"({', '.join(['?'] * width)})"] * n)


def answer_values(a: Answer, at: str) -> tuple[Any, ...]:
    """The columns of :data:`_INSERT_ANSWERS` but ``attempt_number``, for one answer."""
    return (
        *(a.user_id, a.question_id, a.study_session_id, a.test_attempt_id, a.selected_answer),
        *(int(bool(a.is_correct)), a.time_spent_seconds, a.confidence_level, int(a.flagged)),
        *(at, a.client_answer_id),
    )


@dataclass
class _Batch:
    """The answers of one batch checked against what was read, and their aggregates."""

    now: str
    stored: set[str] = field(default_factory=set)
    questions: dict[int, tuple[int, int | None, str]] = field(default_factory=dict)
    qtimes: dict[int, tuple[int, int]] = field(default_factory=dict)
    users: set[int] = field(default_factory=set)
    sessions: dict[int, tuple[int, int, str | None]] = field(default_factory=dict)
    stimes: dict[int, tuple[int, int]] = field(default_factory=dict)
    attempts: dict[int, tuple[int, int]] = field(default_factory=dict)
    progress: dict[tuple[int, int], tuple[int, int, str | None]] = field(default_factory=dict)
    tries: dict[tuple[int, int], int] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    per_question: dict[int, Totals] = field(default_factory=dict)
    per_session: dict[int, Totals] = field(default_factory=dict)
    per_attempt: dict[int, Totals] = field(default_factory=dict)
    per_progress: dict[tuple[int, int], Totals] = field(default_factory=dict)
    result: WriteResult = field(default_factory=WriteResult)
    stale: dict[Stale, None] = field(default_factory=dict)

    def read(self, row: Row) -> None:
        """Take in one row of the lookup statements."""
        tag, key, a, b, c, d = row
        if tag == _STORED:
            self.stored.add(key)
        elif tag == _QUESTION:
            self.questions[key] = (a, b, c)
        elif tag in (_QTIME, _STIME):
            (self.qtimes if tag == _QTIME else self.stimes)[key] = (a, b or 0)
        elif tag == _USER:
            self.users.add(key)
        elif tag == _SESSION:
            self.sessions[key] = (a, b, c)
        elif tag == _ATTEMPT:
            self.attempts[key] = (a, b)
        elif tag == _PROGRESS:
            self.progress[key, a] = (b, c, d)
        else:
            self.tries[key, a] = b

    def add(self, i: int, a: Answer) -> None:
        """Check item ``i`` and count it in, or skip it as already stored."""
        question = self.questions.get(a.question_id)
        if a.client_answer_id in self.stored:
            self.result.duplicate_ids.append(a.client_answer_id)
            if question is not None:
                self.stale[a.user_id, a.question_id, question[0], a.study_session_id] = None
            return
        if question is None:
            raise AnswerRejected(
                i, f"question {a.question_id} does not exist", attribute="question_id"
            )
        if a.user_id not in self.users:
            raise AnswerRejected(i, f"user {a.user_id} does not exist", attribute="user_id")
        exam, objective, options = question
        a = grade_answer(i, a, options)
        if a.study_session_id is not None:
            session = self.sessions.get(a.study_session_id)
            check_parent(i, a, exam, "study session", session and session[:2])
            totals = self.per_session.setdefault(a.study_session_id, Totals())
            totals.add(a)
            if objective is not None:
                score = totals.objectives.setdefault(objective, [0, 0])
                score[0], score[1] = score[0] + 1, score[1] + bool(a.is_correct)
        if a.test_attempt_id is not None:
            check_parent(i, a, exam, "test attempt", self.attempts.get(a.test_attempt_id))
            self.per_attempt.setdefault(a.test_attempt_id, Totals()).add(a)
        at = stamp(a.answered_at) if a.answered_at is not None else self.now
        pair = (a.user_id, a.question_id)
        self.tries[pair] = tries = self.tries.get(pair, 0) + 1
        self.rows.append((*answer_values(a, at), tries))
        self.per_question.setdefault(a.question_id, Totals()).add(a)
        key = (a.user_id, exam)
        if key not in self.per_progress:
            self.per_progress[key] = Totals(streak=self.progress.get(key, (0, 0, None)))
        progress = self.per_progress[key]
        progress.add(a)
        progress.streak = next_streak(*progress.streak, at)
        self.result.client_answer_ids.append(a.client_answer_id)
        self.result.graded[a.client_answer_id] = bool(a.is_correct)
        self.stale[a.user_id, a.question_id, exam, a.study_session_id] = None
        self.stored.add(a.client_answer_id)  # a later batch of the same group repeats it

    def fork(self) -> _Batch:
        """A batch over the same lookups and nothing added yet (what ``add`` changes is
        copied or new; what ``read`` filled is shared, read-only)."""
        return dataclasses.replace(
            self,
            stored=set(self.stored),
            tries=dict(self.tries),
            rows=[],
            per_question={},
            per_session={},
            per_attempt={},
            per_progress={},
            result=WriteResult(),
            stale={},
        )


@dataclass
class _Member:
    """One ``record`` call waiting for the transaction of its group."""

    items: list[Answer]
    done: asyncio.Future[tuple[WriteResult, consistency.Written]]


class AnswerWriter:
    """Store batches of answers, one transaction each (see the module docstring).

    Args:
        db: any :class:`~edgedb_opt.drivers.base.Driver`.
        now: the clock of answers without ``answered_at`` and of ``updated_at``.
        chunk_rows: at most this many rows per multi-row statement and keys per ``IN``
            list; by default as many as ``max_variables`` allows.
        max_variables: bound variables per statement; 999 suits every SQLite build.
        cache: invalidated after each commit with the ``user:``, ``question:``, ``exam:``,
            ``session:`` and ``answer:<user>:<question>`` tags of the batch's answers,
            duplicates included (a retry after a commit whose invalidation was lost still
            invalidates).
        limits: the bounds of a batch (:class:`~edgedb_opt.study.limits.Limits`; default
            ``Limits()``): answers per call, ids, ``selected_answer`` length,
            ``time_spent_seconds``, and ``answered_at`` within [``min_answered_at``, now
            + ``future_skew_s``] by ``now``.
        group: let concurrent ``record`` calls on this writer share transactions (group
            commit): while one transaction runs, the calls that arrive queue, and the next
            transaction stores all of them (up to ``limits.max_batch`` answers), each call
            still getting its own result or its own rejection. Keep one writer per database
            (``EdgeDatabase.answers()``) for it to matter. A call made inside a transaction
            of its own task runs alone (and, transactions not nesting, is refused with
            DriverError, grouped or not). A caller cancelled before its group's
            transaction started is not written.
    Raises:
        ConfigError: ``limits`` is not a ``Limits``.
    """

    def __init__(
        self,
        db: Driver,
        *,
        now: Clock | None = None,
        chunk_rows: int | None = None,
        max_variables: int = DEFAULT_MAX_VARIABLES,
        cache: Invalidates | None = None,
        limits: Limits | None = None,
        group: bool = True,
    ) -> None:
        if chunk_rows is not None and chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        if max_variables < _WIDEST:
            raise ValueError(f"max_variables must be at least {_WIDEST}")
        self.db = db
        self.cache = cache
        self.limits = limits_or_default(limits)
        self._now = now or _utcnow
        self._chunk_rows = chunk_rows
        self._max_variables = max_variables
        self.group = group
        self._queue: list[_Member] = []
        self._flusher: asyncio.Task[None] | None = None
        self._active = False  # a write of this writer is running (a call alone or a flush)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def record(self, answers: Sequence[Answer | Mapping[str, Any]]) -> WriteResult:
        """Store a batch of answers and every aggregate they feed, atomically.

        Items whose ``client_answer_id`` is already stored are skipped as duplicates, without
        being checked against the database again (what they cite may have changed since).
        Each new answer is graded from its question's options; a client's ``is_correct`` is
        ignored.

        Returns:
            What was inserted, which keys were skipped as already stored, and the grade of
            each inserted answer (``graded``).
        Raises:
            InvalidInput: ``answers`` is not a list of answers, or longer than
                ``limits.max_batch`` (field ``answers``); nothing was written.
            AnswerRejected: an item is invalid (its index, field and why), including a
                selection naming a key its question does not have; nothing was written.
            DriverError: the database failed; nothing was written.
        """
        now = self._now()
        items = coerce_answers(answers, self.limits, now)
        if not items:
            return WriteResult()
        loop = asyncio.get_running_loop()
        in_tx = getattr(self.db, "in_transaction", False)  # a duck-typed driver may lack it
        if not self.group or in_tx or self._loop not in (None, loop):
            batch = await self._store([items])
            return self._result(items, batch, batch)
        self._loop = loop
        if not self._active:
            # Nothing of this writer is running: this call goes alone, in its own task, and
            # the calls arriving meanwhile queue for one transaction after it.
            self._active = True
            try:
                batch = await self._store([items])
            finally:
                self._active = False
                self._kick(loop)
            return self._result(items, batch, batch)
        member = _Member(items, loop.create_future())
        self._queue.append(member)
        try:
            # shield: a caller that gives up does not take the others' transaction with it.
            result, written = await asyncio.shield(member.done)
        except asyncio.CancelledError:
            # Not written yet: it never will be (as a call cancelled before its turn).
            # Already in its group's transaction: written, as a call cancelled mid-commit.
            member.done.cancel()
            raise
        consistency.adopt(written)
        return result

    def _kick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a flush of the queued calls unless a write of this writer is running."""
        if self._queue and not self._active:
            self._active = True
            # A context of its own: the flush belongs to no request (its scope, its task's
            # transaction), and each caller takes the position back into its own context.
            self._flusher = loop.create_task(self._flush(), context=contextvars.Context())

    async def _flush(self) -> None:
        """Store the queued calls, one transaction per group, until none is left."""
        try:
            while self._queue:
                group = [self._queue.pop(0)]
                total = len(group[0].items)
                while self._queue and total + len(self._queue[0].items) <= self.limits.max_batch:
                    total += len(self._queue[0].items)
                    group.append(self._queue.pop(0))
                await self._commit(group)
        finally:
            self._active = False

    async def _commit(self, group: list[_Member]) -> None:
        """One transaction for ``group``; every member gets its result or its error."""
        members = [m for m in group if not m.done.done()]
        try:
            checked: list[tuple[_Member, _Batch]] = []

            def check(base: _Batch) -> list[list[Answer]]:
                checked.clear()
                before: set[str] = set()  # keys the earlier calls of the group insert
                for member in members:
                    if member.done.done():
                        continue  # its caller gave up before its turn: not written
                    alone = base.fork()
                    alone.stored |= before
                    try:
                        for i, item in enumerate(member.items):
                            alone.add(i, item)
                    except Exception as exc:  # this call's own fault, not the group's
                        member.done.set_exception(exc)
                        continue
                    before.update(alone.result.client_answer_ids)
                    checked.append((member, alone))
                return [m.items for m, _ in checked]

            batch = await self._store([m.items for m in members], check)
            written = consistency.capture()
            taken: set[str] = set()
            for member, alone in checked:
                result = self._result(member.items, alone, batch, taken)
                if not member.done.done():
                    member.done.set_result((result, written))
        except BaseException as exc:
            for member in members:
                if not member.done.done():
                    member.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def _store(
        self,
        batches: list[list[Answer]],
        check: Callable[[_Batch], list[list[Answer]]] | None = None,
    ) -> _Batch:
        """Look up, check and write ``batches`` in one transaction; ``check`` (for a group)
        drops the batches that would be rejected alone, before any is added."""
        batch = _Batch(now=stamp(self._now()))
        async with self.db.transaction("IMMEDIATE"):
            everything = [a for items in batches for a in items]
            for sql, params in self.lookup_statements(everything):
                for row in await self.db.fetch_all(sql, params):
                    batch.read(row)
            if check is not None:
                batches = check(batch)
            for items in batches:
                for i, item in enumerate(items):
                    batch.add(i, item)
            # No counts are needed (they come from the batch): one round trip for them all.
            await self.db.execute_each(self.write_statements(batch))
        await invalidate(self.cache, batch.stale)
        return batch

    def _rows_per(self, width: int) -> int:
        rows = self._max_variables // width
        return min(self._chunk_rows, rows) if self._chunk_rows else rows

    def lookup_statements(self, items: Sequence[Answer]) -> list[Statement]:
        """The compound SELECTs that read what ``items`` depend on."""
        questions = sorted({a.question_id for a in items})
        users = sorted({a.user_id for a in items})
        sessions = sorted({a.study_session_id for a in items if a.study_session_id is not None})
        attempts = sorted({a.test_attempt_id for a in items if a.test_attempt_id is not None})
        keys: dict[int, Sequence[Any]] = {
            _STORED: [a.client_answer_id for a in items],
            _QUESTION: questions,
            _QTIME: questions,
            _USER: users,
            _SESSION: sessions,
            _STIME: sessions,
            _ATTEMPT: attempts,
            _PROGRESS: users,
        }
        per = self._rows_per(1)
        terms: list[tuple[str, list[Any]]] = [
            (sql.format(t=tag, k=_marks(len(chunk))), list(chunk))
            for tag, sql in _LOOKUPS.items()
            for chunk in _chunks(keys[tag], per)
        ]
        # The earlier attempts of each (user, question): a user IN list crossed with a
        # question IN list, a superset of the pairs that the index answers by seeks.
        for chunk in _chunks(sorted({(a.user_id, a.question_id) for a in items}), max(1, per // 2)):
            us, qs = sorted({p[0] for p in chunk}), sorted({p[1] for p in chunk})
            sql = _TRIES_SQL.format(t=_TRIES, u=_marks(len(us)), q=_marks(len(qs)))
            terms.append((sql, [*us, *qs]))
        statements: list[Statement] = []
        sqls: list[str] = []
        params: list[Any] = []
        for sql, values in terms:
            if sqls and (
                len(params) + len(values) > self._max_variables or len(sqls) == _MAX_TERMS
            ):
                statements.append((" UNION ALL ".join(sqls), params))
                sqls, params = [], []
            sqls.append(sql)
            params += values
        if sqls:
            statements.append((" UNION ALL ".join(sqls), params))
        return statements

    def write_statements(self, batch: _Batch) -> list[Statement]:
        """The statements that store a checked batch (empty when every answer was stored)."""
        out = self._multi(_INSERT_ANSWERS, batch.rows)
        out += self._update(
            "questions",
            [
                (q, t.answered, t.correct, t.average(batch.qtimes.get(q)))
                for q, t in batch.per_question.items()
            ],
        )
        out += self._update(
            "study_sessions",
            [
                (*(s, t.answered, t.correct, t.average(batch.stimes.get(s))), scores)
                for s, t in batch.per_session.items()
                for scores in [merge_objective_scores(batch.sessions[s][2], t.objectives)]
            ],
        )
        out += self._update("test_attempts", [(k, t.correct) for k, t in batch.per_attempt.items()])
        # Known (user, exam) rows are updated and new ones inserted, rather than upserted:
        # the lookup already told which exist, and the Turso engine misreads ON CONFLICT
        # targets in files that hold an FTS5 table.
        stored: list[tuple[Any, ...]] = []
        new: list[tuple[Any, ...]] = []
        for key, t in batch.per_progress.items():
            row = (*key, t.answered, t.correct, t.seconds, *t.streak, batch.now)
            (stored if key in batch.progress else new).append(row)
        out += self._update("user_progress", stored)
        return out + self._multi(_INSERT_PROGRESS, [(*r[:4], r[3] / r[2], *r[4:]) for r in new])

    def _multi(self, template: str, rows: Sequence[tuple[Any, ...]]) -> list[Statement]:
        if not rows:
            return []
        width = len(rows[0])
        return [
            (template.format(v=_marks(len(chunk), width)), [v for row in chunk for v in row])
            for chunk in _chunks(rows, self._rows_per(width))
        ]

    def _update(self, table: str, rows: Sequence[tuple[Any, ...]]) -> list[Statement]:
        """One ``UPDATE ... FROM (VALUES ...)`` per chunk, or one UPDATE per row without it."""
        if not rows:
            return []
        width, (keys, sets) = len(rows[0]), _SETS[table]
        if not self.db.capabilities.update_from:
            where = " AND ".join(f"{k} = ?{n}" for n, k in enumerate(keys, 1))
            sql = f"UPDATE {table} SET {sets.format(*(f'?{n}' for n in range(width + 1)))}"
            return [(f"{sql} WHERE {where}", list(row)) for row in rows]
        where = " AND ".join(f"{table}.{k} = v.column{n}" for n, k in enumerate(keys, 1))
        values = sets.format(*(f"v.column{n}" for n in range(width + 1)))
        return [
            (
                f"UPDATE {table} SET {values} FROM (VALUES {_marks(len(chunk), width)}) AS v"
                f" WHERE {where}",
                [v for row in chunk for v in row],
            )
            for chunk in _chunks(rows, self._rows_per(width))
        ]

    @staticmethod
    def _result(
        items: Sequence[Answer], alone: _Batch, stored: _Batch, taken: set[str] | None = None
    ) -> WriteResult:
        """The result of one call: its counts as if it had been written ``alone``, and which
        of its keys ``stored`` (the group's batch) inserted; ``taken`` holds the keys that
        earlier calls of the group inserted (a repeat of one is this call's duplicate)."""
        taken = taken if taken is not None else set()
        free = set(stored.result.client_answer_ids) - taken  # once, not once per item
        ids = [a.client_answer_id for a in items if a.client_answer_id in free]
        taken.update(ids)
        mine = set(ids)
        dups = [a.client_answer_id for a in items if a.client_answer_id not in mine]
        return WriteResult(
            inserted=len(ids),
            duplicates=len(dups),
            questions_updated=len(alone.per_question),
            sessions_updated=len(alone.per_session),
            attempts_updated=len(alone.per_attempt),
            progress_updated=len(alone.per_progress),
            client_answer_ids=ids,
            duplicate_ids=dups,
            graded={key: stored.result.graded[key] for key in ids},
        )
