"""The hot operations of the study flow, in a baseline and an optimized variant.

:class:`StudyQueries` runs the seven operations an exam-prep handler runs on every request.
``variant="baseline"`` is what a plain app does on the reference schema; ``"optimized"`` is
written for the study pack's indexes (see ``_optimized``). Both return the same plain dicts
(see each method for what "the same" means where randomness or ranking is involved), so a
benchmark can run both on one file and compare.

Times in the database are UTC ``'YYYY-MM-DD HH:MM:SS'`` text; the windows ("the last 24
hours", "the last 7 days") are measured back from ``now()``, an injectable clock.

Every argument a request supplies is checked before any SQL runs, against the instance's
:class:`~edgedb_opt.study.limits.Limits`: ids must be ``int`` (not bool, text or float)
within 1..``max_id``, a ``limit`` within 1..``max_page`` (refused above it, never clamped),
and so on. A bad one raises :class:`~edgedb_opt.errors.InvalidInput` naming the parameter
(HTTP 422); a session that does not exist raises :class:`~edgedb_opt.errors.NotFound`.
Configuration (the constructor's arguments) raises :class:`~edgedb_opt.errors.ConfigError`.

>>> from edgedb_opt.study.queries import encode_cursor, decode_cursor
>>> decode_cursor(encode_cursor(("k", "2026-05-31 10:00:00", 42)))
('k', '2026-05-31 10:00:00', 42)
>>> decode_cursor(encode_cursor(("o", 100)))
('o', 100)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import inspect
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Literal, Protocol, TypeVar

from edgedb_opt.drivers.base import Row
from edgedb_opt.errors import ConfigError, InvalidInput, NotFound
from edgedb_opt.schema import has_object
from edgedb_opt.study import _baseline, _corpus, _fts, _optimized
from edgedb_opt.study._baseline import StudyDatabase
from edgedb_opt.study._candidates import Candidates
from edgedb_opt.study._fts import SEARCH_SQL, fts_query, search_words
from edgedb_opt.study._optimized import (
    GROWTH_SQL,
    HISTORY_AFTER_SQL,
    HISTORY_FIRST_SQL,
    LEADERBOARD_SQL,
    PRACTICE_SQL,
    QUESTION_ROWS_SQL,
    REVIEW_SQL,
    SESSION_PROGRESS_SQL,
    SPEED_DRILL_SQL,
    USER_PROGRESS_SQL,
    WEAK_AREAS_SQL,
)
from edgedb_opt.study.limits import MAX_ID, Limits, limits_or_default, show
from edgedb_opt.study.models import stored_options

__all__ = [
    "GROWTH_SQL",
    "HISTORY_AFTER_SQL",
    "HISTORY_FIRST_SQL",
    "LEADERBOARD_SQL",
    "MODES",
    "PRACTICE_SQL",
    "QUESTION_ROWS_SQL",
    "REVIEW_SQL",
    "SEARCH_SQL",
    "SESSION_PROGRESS_SQL",
    "SPEED_DRILL_SQL",
    "USER_PROGRESS_SQL",
    "WEAK_AREAS_SQL",
    "StudyDatabase",
    "StudyQueries",
    "decode_cursor",
    "encode_cursor",
]

logger = logging.getLogger("edgedb_opt.study")
T = TypeVar("T")
Variant = Literal["optimized", "baseline"]
Mode = Literal["practice", "weak_areas", "speed_drill", "review"]
MODES: tuple[str, ...] = ("practice", "weak_areas", "speed_drill", "review")
Cursor = tuple[Literal["k"], str, int] | tuple[Literal["o"], int]
_TIME = "%Y-%m-%d %H:%M:%S"
_PROGRESS_KEYS = tuple(c.split(".")[1] for c in _baseline.PROGRESS_COLUMNS.split(", "))
_HISTORY_KEYS = (
    "id", "question_id", "selected_answer", "is_correct", "time_spent_seconds", "answered_at",
    "question_text",
)  # fmt: skip
_UPDATE_SESSION = """
UPDATE study_sessions
SET answered_count = ?, correct_count = ?, accuracy = ?, avg_time_seconds = ?,
    objective_scores = ?
WHERE id = ?"""


class _Flow(Protocol):
    """The reads both variants implement the same way (modules ``_optimized``, ``_baseline``)."""

    async def session_groups(self, db: StudyDatabase, session_id: int) -> list[Row]: ...

    async def user_progress(
        self, db: StudyDatabase, user_id: int, exam_id: int, week_start: str
    ) -> tuple[Row | None, int, int]: ...

    async def leaderboard(
        self, db: StudyDatabase, exam_id: int, limit: int, week_start: str
    ) -> list[Row]: ...

    async def growth(
        self, db: StudyDatabase, account_id: int, first: str, end: str
    ) -> list[Row]: ...


class Cache(Protocol):
    """What :class:`StudyQueries` needs of a cache (``QueryCache`` provides it)."""

    async def get_or_load(
        self,
        key: Hashable,
        loader: Callable[[], Awaitable[Any]],
        tags: Iterable[str] = (),
        ttl: float | None = None,
        store_tags: Callable[[Any], Iterable[str]] | None = None,
    ) -> Any: ...


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def encode_cursor(position: Cursor) -> str:
    """An opaque, URL-safe ``answer_history`` cursor for a position: ``("k", answered_at,
    id)`` (keyset, optimized) or ``("o", offset)`` (baseline)."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


#: The longest cursor :func:`encode_cursor` makes is about 70 characters.
_MAX_CURSOR = 256


def _not_a_cursor(cursor: object) -> InvalidInput:
    reason = f"is not an answer_history cursor: {show(cursor)}"
    return InvalidInput.of("after", reason)


def _count(value: object) -> bool:
    """An ``int`` (not a bool) SQLite can store, 0 or more."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def decode_cursor(cursor: str) -> Cursor:
    """The position in a cursor from :func:`encode_cursor`; InvalidInput (field ``after``)
    if it is not one."""
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
        raise _not_a_cursor(cursor)
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise _not_a_cursor(cursor) from exc
    match raw:
        case ["k", str(at), int(answer_id)] if _count(answer_id) and len(at) <= 64:
            return ("k", at, answer_id)
        case ["o", int(offset)] if _count(offset):
            return ("o", offset)
    raise _not_a_cursor(cursor)


def _takes(function: Callable[..., Any], names: tuple[str, ...]) -> bool:
    """Whether ``function`` accepts every keyword of ``names``."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return all(name in params for name in names)


def _seconds_or_none(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be None or seconds above 0, not {value!r}")
    return float(value)


def _per_question(mode: str, seed: int | None) -> bool:
    """Whether a pick stays valid until its user answers one of its questions.

    An answer to another question only removes a candidate the pick did not take: a
    speed drill (the first candidates in order) is unchanged, and an unseeded practice pick
    is still a uniform draw of the remaining candidates. A seeded pick depends on how many
    candidates there are, and a ranked one (weak areas, review) on every answer.
    """
    return mode == "speed_drill" or (mode == "practice" and seed is None)


def _invalid(name: str, reason: str) -> InvalidInput:
    return InvalidInput.of(name, reason)


def _difficulty(value: object) -> tuple[int, int]:
    """A (low, high) difficulty range within 1..5, else InvalidInput."""
    match value:
        case (int(lo), int(hi)) if not isinstance(lo, bool) and not isinstance(hi, bool):
            if 1 <= lo <= hi <= 5:
                return lo, hi
    raise _invalid("difficulty", f"must be (low, high) within 1..5, not {show(value)}")


@functools.lru_cache(maxsize=4096)
def strip_key(answers: object) -> str | None:
    """A question's options JSON without each option's ``correct`` flag (what a student may
    see before answering); None when the stored value is not a JSON list. Memoized by the
    stored text: a bank's options rarely change, and parsing costs ~7 us a question.

    >>> strip_key('[{"key": "A", "text": "Yes", "correct": true}, {"key": "B", "text": "No"}]')
    '[{"key": "A", "text": "Yes"}, {"key": "B", "text": "No"}]'
    """
    options = stored_options(answers)
    if options is None:
        return None
    return json.dumps(
        [
            {k: v for k, v in o.items() if k != "correct"} if isinstance(o, dict) else o
            for o in options
        ]
    )


#: A cached pick: the rows as stored (with the answer key), and the same rows without it.
_Picks = tuple[list[dict[str, Any]], list[dict[str, Any]]]


class StudyQueries:
    """The study flow's read operations (and the session-progress write) on one database.

    Args:
        db: a driver or ``EdgeDatabase``: anything with ``fetch_all``, ``execute``,
            ``transaction`` and ``capabilities`` (:class:`StudyDatabase`).
        variant: ``"optimized"`` (needs the study pack for its speed, not for its results)
            or ``"baseline"``.
        cache: None, or an object with ``async get_or_load(key, loader, tags=(), ttl=None,
            store_tags=None)`` (:class:`~edgedb_opt.runtime.cache.QueryCache`). Reads are
            then cached under ``(operation, variant, *arguments)`` with the tags they depend on:
            ``user:<id>`` (that user's answers: progress, history, seeded and ranked
            picks), ``answer:<user>:<question>`` (an unseeded practice or speed-drill pick
            depends only on whether its user answers one of its questions: another answer
            leaves the candidates it was drawn from a superset of the new ones, and the
            pick a valid draw of them), ``bank:<exam id>`` (the question bank: picks and
            search; invalidate it after editing questions), ``board:<exam id>`` or, with
            ``board_ttl=None``, ``exam:<id>`` (leaderboards), ``account:<id>``. An answer
            writer invalidates ``user:``, ``answer:``, ``question:``, ``exam:`` and
            ``session:``, never ``bank:`` or ``board:``. Picks are handed out as copies;
            the other reads' cached lists and dicts are shared, treat them as read-only.
            ``session_progress`` writes and is never cached. A
            cache whose ``get_or_load`` takes no ``ttl``/``store_tags`` gets ``user:`` on
            every pick and ``exam:`` on leaderboards (exact, coarser).
        pick_ttl: seconds an unseeded practice or speed-drill pick is kept (default 300:
            a user who reloads gets the same questions until they answer one of them,
            which drops the pick at once). None: the cache's own ttl.
        board_ttl: seconds a cached leaderboard is served (default 5). A leaderboard ranks
            every user of the exam and changes with each of their answers; under load,
            dropping it on every answer would mean it is never served from the cache, so
            it is kept this long instead (a new answer shows on the board within
            ``board_ttl``). None: exact, dropped by any answer in the exam.
        now: the clock of the time windows (default: UTC now; naive means UTC).
        limits: the bounds every request argument is checked against
            (:class:`~edgedb_opt.study.limits.Limits`; default ``Limits()``: ``limit`` at
            most 100, ids within SQLite's integers, search text at most 200 characters).
    Raises:
        ConfigError: an unknown variant, a pick_ttl or board_ttl that is not a number
            above 0, ``limits`` that is not a ``Limits``.
    """

    def __init__(
        self,
        db: StudyDatabase,
        *,
        variant: Variant = "optimized",
        cache: Cache | None = None,
        pick_ttl: float | None = 300.0,
        board_ttl: float | None = 5.0,
        now: Callable[[], dt.datetime] | None = None,
        limits: Limits | None = None,
    ) -> None:
        if variant not in ("optimized", "baseline"):
            raise ConfigError(f"unknown variant {variant!r}; choose optimized or baseline")
        self.limits = limits_or_default(limits)
        self.pick_ttl = _seconds_or_none("pick_ttl", pick_ttl)
        self.board_ttl = _seconds_or_none("board_ttl", board_ttl)
        self._db = db
        self.variant: Variant = variant
        self._cache = cache
        # A cache written for the first protocol (get_or_load(key, loader, tags)) still
        # works: picks and boards then keep their coarse, exact tags.
        self._fine = cache is not None and _takes(cache.get_or_load, ("ttl", "store_tags"))
        self._now = now or _utc_now
        self._fts: bool | None = None  # decided on the first search
        self._search_filter = False  # the pack's search_filter index, likewise
        self._candidates = Candidates()
        self._corpus = _corpus.SearchCorpus()

    def _at(self, **delta: float) -> str:
        now = self._now()
        if now.tzinfo is not None:
            now = now.astimezone(dt.UTC).replace(tzinfo=None)
        return (now - dt.timedelta(**delta)).strftime(_TIME)

    async def _cached(
        self,
        key: tuple[Any, ...],
        tags: tuple[str, ...],
        load: Callable[[], Awaitable[T]],
        **options: Any,
    ) -> T:
        """``load()`` through the cache; ``options`` (ttl, store_tags) go to ``get_or_load``."""
        if self._cache is None:
            return await load()
        full = (key[0], self.variant, *key[1:])
        result: T = await self._cache.get_or_load(full, load, tags, **options)
        return result

    @property
    def _impl(self) -> _Flow:
        return _optimized if self.variant == "optimized" else _baseline

    async def study_questions(
        self,
        user_id: int,
        exam_id: int,
        *,
        objective_ids: Iterable[int] | None = None,
        difficulty: tuple[int, int] = (1, 5),
        exclude_recent_hours: float = 24,
        limit: int = 20,
        mode: Mode = "practice",
        seed: int | None = None,
        include_key: bool = False,
    ) -> list[dict[str, Any]]:
        """Questions to study next: active, approved questions of the exam.

        Args:
            objective_ids: only these objectives (a question without objective never
                matches a filter); None means every objective, an empty list nothing.
            difficulty: inclusive range within 1..5.
            exclude_recent_hours: questions the user answered in this window are left out
                (not in ``review``, whose point is to repeat recent mistakes).
            mode: ``practice`` a uniform random pick; ``speed_drill`` easiest first, then
                by id; ``weak_areas`` by the user's success rate on the question's
                objective (all-time correct / answered on the exam's questions of that
                objective), lowest first, objectives never answered and questions without
                objective after every rated one, then by id; ``review`` the questions with a
                wrong answer and no correct answer strictly later, the latest such mistake
                first, then by id (``wrong_count`` counts those mistakes).
            seed: makes the ``practice`` pick reproducible. Both variants list the
                candidates by id and take ``random.Random(seed).sample``, so with a seed
                they return the same rows in the same order; without one, the same
                candidates. The other modes are deterministic and ignore it.
            include_key: keep each option's ``correct`` flag in ``answers`` (to review a
                question already answered). By default it is removed, so a pick never
                tells which option is right.
        Returns:
            Dicts with ``id, exam_id, objective_id, objective_code, objective_name, text,
            type, answers, difficulty`` (code and name None without objective; ``answers``
            the options JSON, ``[{"key", "text"}, ...]``, with ``"correct"`` only when
            ``include_key``) and ``success_rate`` (weak_areas), ``wrong_count`` and
            ``last_wrong_at`` (review), None in the other modes. Fresh dicts on every call,
            also from the cache.
        Raises:
            InvalidInput: an id that is not an ``int`` within 1..max_id (``user_id``,
                ``exam_id``, each of ``objective_ids``), more than ``max_objectives``
                objective ids, ``limit`` outside 1..max_page, a difficulty outside 1..5 or
                reversed, a window below 0 or above ``max_window_days``, an unknown mode, a
                seed that is not an ``int``, an ``include_key`` that is not a bool.

        The practice pick is exactly uniform over the candidates (``random.sample``). The
        optimized variant gets there without sorting candidate rows: it reads candidate
        ids from the covering partial index and the recently answered ids from the
        ``(user_id, answered_at)`` index, samples in Python, and reads only the picked rows.
        With the study pack's ``bank_version`` step it keeps each filter's candidate ids
        between calls and lists them again only after the bank changed (checked in the
        same statement), so a pick costs about the same on any size of bank; keep one
        ``StudyQueries`` per database rather than one per request to benefit.
        """
        limits = self.limits
        user_id = limits.check_id("user_id", user_id)
        exam_id = limits.check_id("exam_id", exam_id)
        objectives = self._objectives(objective_ids)
        limit = limits.check_page("limit", limit)
        lo, hi = _difficulty(difficulty)
        if not isinstance(mode, str) or mode not in MODES:
            raise _invalid("mode", f"must be one of {', '.join(MODES)}, not {show(mode)}")
        exclude_recent_hours = limits.check_hours("exclude_recent_hours", exclude_recent_hours)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise _invalid("seed", f"must be an integer or None, not {show(seed)}")
        if not isinstance(include_key, bool):
            raise _invalid("include_key", f"must be True or False, not {show(include_key)}")
        if objectives == ():
            return []
        args = _baseline.StudyArgs(
            user_id, exam_id, objectives, (lo, hi), self._at(hours=exclude_recent_hours),
            limit, mode, seed,
        )  # fmt: skip

        async def load() -> _Picks:
            if self.variant == "optimized":
                rows = await _optimized.study_questions(self._db, args, self._candidates)
            else:
                rows = await _baseline.study_questions(self._db, args)
            full = [_baseline.question_dict(r) for r in rows]
            return full, [{**q, "answers": strip_key(q["answers"])} for q in full]

        def hand_out(picks: _Picks) -> list[dict[str, Any]]:
            # Copies: a caller that edits its pick never edits the cached one.
            return [dict(q) for q in picks[0 if include_key else 1]]

        key = ("study_questions", user_id, exam_id, objectives, (lo, hi),
               exclude_recent_hours, limit, mode, seed)  # fmt: skip
        # The pick depends on the bank and on this user's answers only, not on other users'
        # answers in the exam (which invalidate ``exam:``, the tag of cross-user figures).
        tags = (f"user:{user_id}", f"bank:{exam_id}")
        if not (self._fine and _per_question(mode, seed)):
            return hand_out(await self._cached(key, tags, load))

        def store_tags(picks: _Picks) -> list[str]:
            return [f"bank:{exam_id}", *(f"answer:{user_id}:{r['id']}" for r in picks[0])]

        # ``user:`` still guards the load in flight: an answer committed while it reads
        # may concern a question it is about to pick.
        return hand_out(
            await self._cached(key, tags, load, store_tags=store_tags, ttl=self.pick_ttl)
        )

    def _objectives(self, objective_ids: object) -> tuple[int, ...] | None:
        """The objective filter, checked, sorted and without repeats (None: no filter)."""
        if objective_ids is None:
            return None
        if isinstance(objective_ids, str | bytes | dict) or not isinstance(objective_ids, Iterable):
            raise _invalid("objective_ids", f"must be a list of ids, not {show(objective_ids)}")
        most = self.limits.max_objectives
        ids = list(itertools.islice(objective_ids, most + 1))
        if len(ids) > most:
            raise _invalid("objective_ids", f"must hold at most {most} ids")
        return tuple(sorted({self.limits.check_id("objective_ids", o) for o in ids}))

    async def session_progress(self, session_id: int) -> dict[str, Any]:
        """Recompute a study session's progress from its answers and store it.

        Returns:
            ``session_id, answered, correct, accuracy`` (correct / answered),
            ``avg_time_seconds`` (mean of the non-NULL times, like SQL AVG) and
            ``objective_scores``: ``{objective_id: {"answered", "correct", "accuracy"}}``
            by objective id (answers to questions without objective count in the totals
            only). Ratios are rounded to 6 places, None when undefined.
        Raises:
            InvalidInput: ``session_id`` is not an ``int`` within 1..max_id.
            NotFound: no such session.

        The same values go to ``study_sessions`` (``objective_scores`` as JSON with string
        keys) in the transaction that read them.
        """
        session_id = self.limits.check_id("session_id", session_id)
        async with self._db.transaction():
            if not await self._db.fetch_all(
                "SELECT 1 FROM study_sessions WHERE id = ?", (session_id,)
            ):
                raise NotFound(f"unknown study session {session_id}", what="study session")
            groups = await self._impl.session_groups(self._db, session_id)
            result = _baseline.session_result(session_id, groups)
            scores = result["objective_scores"]
            await self._db.execute(
                _UPDATE_SESSION,
                (result["answered"], result["correct"], result["accuracy"],
                 result["avg_time_seconds"], json.dumps({str(k): v for k, v in scores.items()}),
                 session_id),
            )  # fmt: skip
        return result

    async def user_progress(self, user_id: int, exam_id: int) -> dict[str, Any]:
        """The user's standing on one exam.

        Returns:
            ``user_id, exam_id``, ``progress`` (the ``user_progress`` row as a dict, None
            if absent), ``answers_last_7_days`` (answers on the exam at or after now minus
            7 days) and ``current_streak``: the consecutive correct answers on the exam
            counting back from the most recent (``answered_at``, ties by answer id).
        Raises:
            InvalidInput: ``user_id`` or ``exam_id`` is not an ``int`` within 1..max_id.
        """
        user_id = self.limits.check_id("user_id", user_id)
        exam_id = self.limits.check_id("exam_id", exam_id)

        async def load() -> dict[str, Any]:
            row, week, streak = await self._impl.user_progress(
                self._db, user_id, exam_id, self._at(days=7)
            )
            return {
                "user_id": user_id,
                "exam_id": exam_id,
                "progress": None if row is None else dict(zip(_PROGRESS_KEYS, row, strict=True)),
                "answers_last_7_days": week,
                "current_streak": streak,
            }

        # Only this user's answers move any of the three figures.
        return await self._cached(("user_progress", user_id, exam_id), (f"user:{user_id}",), load)

    async def leaderboard(self, exam_id: int, limit: int = 10) -> list[dict[str, Any]]:
        """The top ``limit`` users of an exam by readiness (users without a score are not
        ranked), ordered by readiness descending, then user id.

        Returns:
            Dicts with ``rank`` (competition rank, like SQL ``RANK()``: equal readiness
            shares the rank, the next one skips), ``user_id``, ``name`` (display name, else
            name), ``readiness_score`` and ``weekly_activity`` (the user's answers on this
            exam at or after now minus 7 days).
        Raises:
            InvalidInput: ``exam_id`` is not an ``int`` within 1..max_id, ``limit`` not
                within 1..max_page.
        """
        exam_id = self.limits.check_id("exam_id", exam_id)
        limit = self.limits.check_page("limit", limit)

        async def load() -> list[dict[str, Any]]:
            rows = await self._impl.leaderboard(self._db, exam_id, limit, self._at(days=7))
            keys = ("rank", "user_id", "name", "readiness_score", "weekly_activity")
            return [dict(zip(keys, r, strict=True)) for r in rows]

        key = ("leaderboard", exam_id, limit)
        if self.board_ttl is None or not self._fine:
            return await self._cached(key, (f"exam:{exam_id}",), load)
        return await self._cached(key, (f"board:{exam_id}",), load, ttl=self.board_ttl)

    async def search_questions(
        self, exam_id: int, text: str, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Active, approved questions of the exam holding every word of ``text``.

        Words are runs of letters and digits (see ``_fts``); a text without any finds
        nothing. Optimized: FTS5 over text, explanation and reference, best bm25 first
        (ties by id), with a ``snippet`` of the text and the ``rank``. Baseline: each word
        as ``LIKE '%word%'`` in any of the three columns, hits in the text first, then in
        the explanation, then by id; ``snippet`` and ``rank`` are None.

        The two find the same questions when every word of the query is a whole word of
        the bank that no other word of the bank contains and that shares its stem with no
        other word. Otherwise they differ: LIKE also finds the word inside longer words
        ("net" in "network") and folds ASCII case only; FTS5 also finds other forms of
        the word (porter stemming: "policies" finds "policy") and folds diacritics.

        Where the engine has no FTS5 or the pack's ``questions_fts`` table is absent, the
        optimized variant runs the baseline search and logs one warning. With the pack's
        ``search_version`` step (applied where FTS5 is absent: the Turso engine), that
        search is answered from each exam's text kept in process against the bank's
        version (``_corpus``): the same rows as the SQL LIKE, without reading the bank.

        Results hold no answer options, so nothing of the answer key.

        Raises:
            InvalidInput: ``exam_id`` is not an ``int`` within 1..max_id, ``text`` is not a
                text of at most ``max_search_text`` characters, ``limit`` not within
                1..max_page.
        """
        exam_id = self.limits.check_id("exam_id", exam_id)
        text = self.limits.check_text("text", text)
        limit = self.limits.check_page("limit", limit)
        words = search_words(text)
        if not words:
            return []

        async def load() -> list[dict[str, Any]]:
            rows: list[Row] | None = None
            if self.variant == "optimized" and await self._fts_ready():
                match = fts_query(text) or ""
                rows = await _fts.search_fts(
                    self._db, exam_id, match, limit, indexed=bool(self._search_filter)
                )
            elif self.variant == "optimized" and await self._corpus_ready():
                rows = await _corpus.search_kept(self._db, self._corpus, exam_id, words, limit)
            if rows is None:
                rows = await _fts.search_like(self._db, exam_id, words, limit)
            return _fts.search_dicts(rows)

        return await self._cached(
            ("search_questions", exam_id, tuple(words), limit), (f"bank:{exam_id}",), load
        )

    async def _fts_ready(self) -> bool:
        if self._fts is None:
            reason = await _fts.fts_unavailable(self._db)
            self._fts = reason is None
            self._search_filter = self._fts and await has_object(
                self._db, "index", _fts.SEARCH_FILTER_INDEX
            )
            if reason:
                logger.warning("search_questions falls back to LIKE: %s", reason)
        return self._fts

    async def _corpus_ready(self) -> bool:
        """Whether the LIKE search may use kept exam texts (the search_version step)."""
        if self._corpus.available is None:
            self._corpus.available = await has_object(self._db, "trigger", _corpus.TEXT_TRIGGER)
        return self._corpus.available

    async def growth_analytics(self, account_id: int, days: int = 30) -> list[dict[str, Any]]:
        """The growth dashboard of an account, one dict per day with metrics.

        The days are the ``days`` calendar days before today (now's UTC date, excluded);
        days without a metrics row are absent. The 7-day figures cover the seven calendar
        days ending on the day, rows before the first day shown included.

        Returns:
            Dicts with ``date, followers, new_followers, impressions, engagements,
            ai_costs``, ``cost_per_follower`` (ai_costs / new_followers),
            ``new_followers_avg_7d`` and ``engagements_avg_7d`` (means over the rows in
            the 7-day window), ``engagement_rate`` (engagements / impressions),
            ``engagement_rate_7d`` (the window's engagements / its impressions) and
            ``engagement_rate_trend`` (engagement_rate - engagement_rate_7d: above zero,
            the day beat its week). Ratios are rounded to 6 places, None when undefined.
        Raises:
            InvalidInput: ``account_id`` is not an ``int`` within 1..max_id, ``days`` not
                within 1..max_window_days.
        """
        account_id = self.limits.check_id("account_id", account_id)
        days = self.limits.check_count("days", days, self.limits.max_window_days)
        today = dt.datetime.strptime(self._at(), _TIME).date()
        first, end = str(today - dt.timedelta(days=days)), str(today)

        async def load() -> list[dict[str, Any]]:
            rows = await self._impl.growth(self._db, account_id, first, end)
            return [_baseline.growth_dict(r) for r in rows]

        key = ("growth_analytics", account_id, days, first)
        return await self._cached(key, (f"account:{account_id}",), load)

    async def answer_history(
        self, user_id: int, *, after: str | None = None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the user's answers, newest first (``answered_at``, then id).

        Args:
            after: None for the first page, else the cursor the previous page returned.
        Returns:
            The rows (``id, question_id, selected_answer, is_correct, time_spent_seconds,
            answered_at, question_text``) and the cursor of the next page, None after the
            last. Cursors are opaque strings; the optimized variant's hold the
            ``(answered_at, id)`` key of the last row (keyset paging), the baseline's the
            offset. A cursor works only with the variant that made it.
        Raises:
            InvalidInput: ``user_id`` is not an ``int`` within 1..max_id, ``limit`` not
                within 1..max_page, ``after`` a malformed cursor or one of the other variant.
        """
        user_id = self.limits.check_id("user_id", user_id)
        limit = self.limits.check_page("limit", limit)
        position = None if after is None else decode_cursor(after)
        if position is not None and position[0] != ("k" if self.variant == "optimized" else "o"):
            raise _invalid("after", f"cursor {show(after)} was made by the other variant")
        offset, key = 0, None
        if position is not None and position[0] == "o":
            offset = position[1]
        elif position is not None and position[0] == "k":
            key = (position[1], position[2])

        async def load() -> tuple[list[dict[str, Any]], str | None]:
            if self.variant == "optimized":
                rows = await _optimized.answer_history(self._db, user_id, key, limit + 1)
            else:
                rows = await _baseline.answer_history(self._db, user_id, offset, limit + 1)
            page = [dict(zip(_HISTORY_KEYS, r, strict=True)) for r in rows[:limit]]
            if len(rows) <= limit:
                return page, None
            if self.variant == "optimized":
                return page, encode_cursor(("k", page[-1]["answered_at"], page[-1]["id"]))
            return page, encode_cursor(("o", offset + limit))

        return await self._cached(
            ("answer_history", user_id, after, limit), (f"user:{user_id}",), load
        )
