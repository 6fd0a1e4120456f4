"""Each searched exam's text kept in process: the LIKE search of engines without FTS5.

Without FTS5 (the Turso engine) a search is ``LIKE '%word%'`` over text, explanation and
reference of every active, approved question of the exam (``_fts.search_like``): about
35 ms at 100,000 questions on the Turso engine, most of it reading the rows. The study
pack's ``search_version`` step makes the bank's version (``bank_version``) move when a
searched column changes too, so the text of an exam can be kept with the version it was
read at, and the same LIKE answered in memory. Each search reads the version in the same
statement as the page's rows; a moved version reads the exam again.

The answer is exactly LIKE's (tested against both engines' LIKE): a value is compared up to
its first NUL (where LIKE stops), ASCII letters fold case and nothing else does, a NULL
column holds no word; the order is the fallback's (every word in the text, then every word
in the text or the explanation, then the rest; ties by id). A value that is not text (LIKE
converts numbers and blobs, and the engines do it differently) leaves the exam to SQL.

Written by hand: no library answers SQL LIKE over text kept against a database version.

>>> exam = ExamText.build([(1, "Rotate the KEY", None, None), (2, "x", "key\\x00hidden", "y")])
>>> exam.search(["key"], 10), exam.search(["hidden"], 10), exam.search(["Ke", "ROT"], 10)
([1, 2], [], [1])
"""

from __future__ import annotations

import json
import string
import threading
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from edgedb_opt.drivers.base import Row
from edgedb_opt.errors import DriverError
from edgedb_opt.study._baseline import StudyDatabase
from edgedb_opt.study._candidates import VERSION_TABLE

__all__ = ["TEXT_TRIGGER", "ExamText", "SearchCorpus", "like_text", "search_kept"]

#: The search_version step's trigger: the version moves when a searched column changes.
TEXT_TRIGGER = "study_bank_after_text_update"

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: Columns per question in the kept text, in the fallback's order of preference.
_COLUMNS = 3


def like_text(value: str | None) -> str:
    """What ``LIKE`` compares of a value: up to the first NUL, ASCII letters in lower case.

    >>> like_text("ÉCOLE Key\\x00rest"), like_text(None)
    ('École key', '')
    """
    if value is None:
        return ""
    return value.split("\x00", 1)[0].translate(_ASCII_LOWER)


@dataclass(frozen=True)
class ExamText:
    """The searchable questions of one exam as one string.

    Attributes:
        ids: question ids, ascending.
        blob: each question's text, explanation and reference (:func:`like_text`), each
            followed by a NUL, which no compared value holds.
        bounds: where each column starts in ``blob`` (three per question), then its length.
    """

    ids: list[int]
    blob: str
    bounds: list[int]

    @classmethod
    def build(cls, rows: Iterable[Sequence[Any]]) -> ExamText | None:
        """From ``(id, text, explanation, reference)`` rows in id order; None when a value
        is neither text nor NULL."""
        ids: list[int] = []
        parts: list[str] = []
        bounds: list[int] = []
        at = 0
        for qid, *columns in rows:
            ids.append(int(qid))
            for value in columns:
                if value is not None and not isinstance(value, str):
                    return None
                compared = like_text(value)
                bounds.append(at)
                parts.append(compared)
                parts.append("\x00")
                at += len(compared) + 1
        bounds.append(at)
        return cls(ids, "".join(parts), bounds)

    def search(self, words: Sequence[str], limit: int) -> list[int]:
        """Ids of the questions holding every word in some column, best first: every word in
        the text, then every word in the text or the explanation, then the rest, by id."""
        keys = sorted({like_text(w) for w in words}, key=len, reverse=True)
        if not keys or not self.ids:
            return []
        first, rest = keys[0], keys[1:]
        blob, bounds = self.blob, self.bounds
        ranked: tuple[list[int], list[int], list[int]] = ([], [], [])
        found = blob.find(first)
        while found != -1:
            # The first hit in a question is in its first column holding the word.
            q, worst = divmod(bisect_right(bounds, found) - 1, _COLUMNS)
            text, explanation, reference, end = bounds[q * _COLUMNS : q * _COLUMNS + 4]
            for word in rest:
                hit = blob.find(word, text, end)
                if hit == -1:
                    break
                worst = max(worst, 0 if hit < explanation else 1 if hit < reference else 2)
            else:
                ranked[worst].append(self.ids[q])
            found = blob.find(first, end)
        return [*ranked[0], *ranked[1], *ranked[2]][:limit]


class SearchCorpus:
    """Kept exam texts, each with the bank version it was read at.

    Args:
        max_chars: characters kept over all exams (least recently used go first); an exam
            larger than this is searched but not kept.
    """

    def __init__(self, max_chars: int = 64_000_000) -> None:
        self._known: LRUCache[int, tuple[int, ExamText]] = LRUCache(
            max_chars, getsizeof=lambda kept: len(kept[1].blob) + 1
        )
        self._lock = threading.Lock()
        #: Whether the database has the search_version trigger: None until checked.
        self.available: bool | None = None

    def get(self, exam_id: int) -> tuple[int, ExamText] | None:
        """The kept text of an exam and its version, or None."""
        with self._lock:
            return self._known.get(exam_id)

    def put(self, exam_id: int, version: int, text: ExamText) -> None:
        """Keep ``text`` as read at ``version`` (not kept when larger than the budget)."""
        with self._lock:
            try:
                self._known[exam_id] = (version, text)
            except ValueError:  # cachetools: larger than max_chars
                self._known.pop(exam_id, None)

    def forget(self, exam_id: int) -> None:
        """Drop an exam's kept text (its version moved)."""
        with self._lock:
            self._known.pop(exam_id, None)


# The exam's searchable questions with the bank's version, in one snapshot.
_EXAM_TEXT_SQL = f"""
SELECT questions.id, questions.text, questions.explanation, questions.reference,
       (SELECT {VERSION_TABLE}.version FROM {VERSION_TABLE}) AS version
FROM questions
WHERE questions.exam_id = ? AND questions.is_active = 1
  AND questions.review_status = 'approved'
ORDER BY questions.id"""
# The page's rows, in the order found, with the version and whether the trigger is there.
_CHECK = f"""(SELECT {VERSION_TABLE}.version FROM {VERSION_TABLE}) AS version,
       EXISTS (SELECT 1 FROM sqlite_master
               WHERE type = 'trigger' AND name = '{TEXT_TRIGGER}') AS kept_current"""
_PAGE_SQL = f"""
SELECT questions.id, questions.exam_id, questions.objective_id, questions.difficulty,
       questions.text, NULL, NULL, {_CHECK}
FROM json_each(?) AS picked
CROSS JOIN questions ON questions.id = picked.value
ORDER BY picked.key"""
_VERSION_SQL = f"SELECT {_CHECK}"


async def _read(db: StudyDatabase, exam_id: int) -> tuple[int, ExamText] | None:
    rows = await db.fetch_all(_EXAM_TEXT_SQL, (exam_id,))
    if not rows:
        return None
    text = ExamText.build(r[:4] for r in rows)
    version = rows[0][4]
    return None if text is None or not isinstance(version, int) else (version, text)


async def _page(db: StudyDatabase, ids: list[int]) -> tuple[list[Row], int, bool]:
    """The rows of ``ids`` and, read with them, the bank's version and the trigger's
    presence."""
    if not ids:
        ((version, current),) = await db.fetch_all(_VERSION_SQL)
        return [], int(version), bool(current)
    rows = await db.fetch_all(_PAGE_SQL, (json.dumps(ids),))
    if len(rows) != len(ids):  # a question went away: the version moved with it
        return [], -1, True
    return [tuple(r[:7]) for r in rows], int(rows[0][7]), bool(rows[0][8])


async def search_kept(
    db: StudyDatabase, corpus: SearchCorpus, exam_id: int, words: list[str], limit: int
) -> list[Row] | None:
    """The LIKE search answered from the kept text, or None when it cannot be (the pack's
    trigger or version table is gone, a value is not text, the bank keeps changing): the
    caller then runs the SQL search.

    Rows as ``_fts.search_like`` returns them: (id, exam_id, objective_id, difficulty,
    text, None, None).
    """
    for _ in range(2):  # a second round after the bank moved under the first
        try:
            kept = corpus.get(exam_id) or await _read(db, exam_id)
            if kept is None:
                return None
            version, text = kept
            rows, now, current = await _page(db, text.search(words, limit))
        except DriverError as exc:
            if VERSION_TABLE not in str(exc):
                raise
            corpus.available = False  # the bank_version step was rolled back
            return None
        if not current:
            corpus.available = False  # the search_version step was rolled back
            corpus.forget(exam_id)
            return None
        if now == version:
            corpus.put(exam_id, version, text)
            return rows
        corpus.forget(exam_id)
    return None
