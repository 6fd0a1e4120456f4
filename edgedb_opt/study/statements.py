"""The one registry of the study flow's hot statements: name -> SQL.

These are the optimized statements the study pack's indexes are built for. ``edgeopt health``
explains each one to check the pack's indexes are used; the plan tests and benchmarks read
the same mapping, so a new hot statement is checked everywhere once it is added here.

>>> sorted(HOT_STATEMENTS)[:3]
['growth', 'history_after', 'history_first']
>>> "questions_fts" in HOT_STATEMENTS["search"]
True
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from edgedb_opt.study import queries as q

__all__ = ["HOT_STATEMENTS", "NEEDS_TABLE"]

HOT_STATEMENTS: Mapping[str, str] = MappingProxyType(
    {
        "growth": q.GROWTH_SQL,
        "history_after": q.HISTORY_AFTER_SQL,
        "history_first": q.HISTORY_FIRST_SQL,
        "leaderboard": q.LEADERBOARD_SQL,
        "practice": q.PRACTICE_SQL,
        "question_rows": q.QUESTION_ROWS_SQL,
        "review": q.REVIEW_SQL,
        "search": q.SEARCH_SQL,
        "session_progress": q.SESSION_PROGRESS_SQL,
        "speed_drill": q.SPEED_DRILL_SQL,
        "user_progress": q.USER_PROGRESS_SQL,
        "weak_areas": q.WEAK_AREAS_SQL,
    }
)

#: Statements that only exist once a pack step made their table (skipped before that).
NEEDS_TABLE: Mapping[str, str] = MappingProxyType({"search": "questions_fts"})
