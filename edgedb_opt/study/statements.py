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

from edgedb_opt.study._fts import SEARCH_SQL
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

__all__ = ["HOT_STATEMENTS", "NEEDS_TABLE"]

HOT_STATEMENTS: Mapping[str, str] = MappingProxyType(
    {
        "growth": GROWTH_SQL,
        "history_after": HISTORY_AFTER_SQL,
        "history_first": HISTORY_FIRST_SQL,
        "leaderboard": LEADERBOARD_SQL,
        "practice": PRACTICE_SQL,
        "question_rows": QUESTION_ROWS_SQL,
        "review": REVIEW_SQL,
        "search": SEARCH_SQL,
        "session_progress": SESSION_PROGRESS_SQL,
        "speed_drill": SPEED_DRILL_SQL,
        "user_progress": USER_PROGRESS_SQL,
        "weak_areas": WEAK_AREAS_SQL,
    }
)

#: Statements that only exist once a pack step made their table (skipped before that).
NEEDS_TABLE: Mapping[str, str] = MappingProxyType({"search": "questions_fts"})
