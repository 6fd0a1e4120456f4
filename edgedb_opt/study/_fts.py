"""Question search, both variants: what a user types turned into FTS5 and LIKE conditions.

Both search variants see the same words: the maximal runs of letters and digits of the
text (what FTS5's ``unicode61`` tokenizer keeps; punctuation, quotes, ``*``, ``-``,
parentheses and ``_`` separate words). FTS5 gets each word as a quoted string, so no user
input is FTS5 syntax: ``AND``/``OR``/``NOT``/``NEAR`` are plain words, ``*`` and ``(`` are
separators. A text without words searches nothing.

>>> search_words('OR NOT "wi-fi" (network*')
['OR', 'NOT', 'wi', 'fi', 'network']
>>> fts_query('say "hi"')
'"say" AND "hi"'
>>> fts_query("  -- ") is None
True
>>> like_pattern("50%_off")
'%50\\\\%\\\\_off%'
"""

from __future__ import annotations

import re
from typing import Any

from edgedb_opt.drivers.base import Row
from edgedb_opt.schema import has_object
from edgedb_opt.study._baseline import StudyDatabase

#: Letters and digits in any script; ``_`` is a separator for the unicode61 tokenizer too.
_WORD = re.compile(r"[^\W_]+")


def search_words(text: str) -> list[str]:
    """The words of a user's search text, in order (duplicates kept)."""
    return _WORD.findall(text)


def fts_quote(word: str) -> str:
    """``word`` as an FTS5 string: double quotes around it, inner quotes doubled."""
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that finds rows holding every word, or None for no words."""
    words = search_words(text)
    return " AND ".join(fts_quote(w) for w in words) if words else None


def like_pattern(word: str) -> str:
    r"""``%word%`` with LIKE's wildcards escaped for ``ESCAPE '\'``."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: One word found in any of the searched columns (the FTS table indexes the same three).
LIKE_ANY_COLUMN = (
    "(questions.text LIKE ? ESCAPE '\\' OR questions.explanation LIKE ? ESCAPE '\\'"
    " OR questions.reference LIKE ? ESCAPE '\\')"
)


def like_condition(words: list[str]) -> tuple[str, list[str]]:
    """SQL requiring every word somewhere in text, explanation or reference, and its params."""
    sql = " AND ".join([LIKE_ANY_COLUMN] * len(words))
    params = [like_pattern(w) for w in words for _ in range(3)]
    return sql, params


# Best match first, as a plain app ranks LIKE hits: the text before the explanation before
# the reference. Ranking needs every match, so the whole table is read (no LIMIT shortcut).
SEARCH_LIKE_SQL = """
SELECT questions.id, questions.exam_id, questions.objective_id, questions.difficulty,
       questions.text, NULL, NULL
FROM questions
WHERE questions.exam_id = ? AND questions.is_active = 1
  AND questions.review_status = 'approved' AND {matches}
ORDER BY CASE WHEN {in_text} THEN 0 WHEN {in_text_or_explanation} THEN 1 ELSE 2 END,
         questions.id
LIMIT ?"""


async def search_like(db: StudyDatabase, exam_id: int, words: list[str], limit: int) -> list[Row]:
    """Every word somewhere in text, explanation or reference (``LIKE``), hits in the text
    first, then in the explanation, then by id; no snippet and no rank."""
    matches, params = like_condition(words)
    text_only = " AND ".join(["questions.text LIKE ? ESCAPE '\\'"] * len(words))
    either = " AND ".join(
        ["(questions.text LIKE ? ESCAPE '\\' OR questions.explanation LIKE ? ESCAPE '\\')"]
        * len(words)
    )
    sql = SEARCH_LIKE_SQL.format(matches=matches, in_text=text_only, in_text_or_explanation=either)
    pats = params[::3]
    order = [*pats, *(p for p in pats for _ in range(2))]
    return await db.fetch_all(sql, [exam_id, *params, *order, limit])


# Fixture search_questions: MATCH in the FTS index, bm25 weighing text over explanation
# over reference, the exam and review filters on questions by key; ties by id.
# The FTS index holds every exam, so each match of the query in any exam is checked against
# its question: by the narrow idx_questions_search_filter (pack step search_filter), named
# here because the planner would take the INTEGER PRIMARY KEY, a lookup in the wide table
# (about 1.1 us per match against 0.3). Each match in the exam then costs a bm25 (about
# 3 us): fast for selective words, several times faster than LIKE for words found in
# thousands of questions. An ephemeral IN-list of the exam's ids instead of the check costs
# ~2.5 ms more on every selective search, so the fixture shape stays.
_SEARCH = """
SELECT questions.id, questions.exam_id, questions.objective_id, questions.difficulty,
       questions.text, snippet(questions_fts, 0, '[', ']', '...', 12) AS snippet,
       bm25(questions_fts, 10.0, 3.0, 1.0) AS rank
FROM questions_fts
JOIN questions{indexed} ON questions.id = questions_fts.rowid
WHERE questions_fts MATCH ?
  AND questions.exam_id = ?
  AND questions.is_active = 1
  AND questions.review_status = 'approved'
ORDER BY rank, questions.id
LIMIT ?"""
#: The pack's index for the filter.
SEARCH_FILTER_INDEX = "idx_questions_search_filter"
SEARCH_SQL = _SEARCH.format(indexed=f" INDEXED BY {SEARCH_FILTER_INDEX}")
#: The same search where the search_filter step is absent.
SEARCH_PLAIN_SQL = _SEARCH.format(indexed="")


async def search_fts(
    db: StudyDatabase, exam_id: int, match: str, limit: int, *, indexed: bool = True
) -> list[Row]:
    """Best matches first: (id, exam_id, objective_id, difficulty, text, snippet, rank)."""
    sql = SEARCH_SQL if indexed else SEARCH_PLAIN_SQL
    return await db.fetch_all(sql, (match, exam_id, limit))


async def fts_unavailable(db: StudyDatabase) -> str | None:
    """Why the optimized search cannot use FTS5 on ``db``, or None when it can."""
    if not db.capabilities.fts5:
        engine = "the Turso engine" if "turso" in getattr(db, "target", "") else "its engine"
        return f"{getattr(db, 'target', 'the database')}: {engine} has no FTS5 module"
    if not await has_object(db, "table", "questions_fts"):
        return "the questions_fts table is absent (study pack step questions_fts)"
    return None


def search_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    """Search rows as dicts, the bm25 rank rounded to 6 places."""
    keys = ("id", "exam_id", "objective_id", "difficulty", "text", "snippet", "rank")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for d in out:
        d["rank"] = None if d["rank"] is None else round(d["rank"], 6)
    return out
