"""Parameters of the measured calls, taken from the data: who, which session, which page.

``edgeopt bench`` and ``benchmarks/test_study_flow.py`` both use :func:`pick_parameters`, so
the command and pytest-benchmark measure the same calls.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from edgedb_opt.study.models import Answer
from edgedb_opt.study.queries import encode_cursor

__all__ = ["PAGE_ROWS", "SEARCHES", "Picks", "answer_batch", "pick_parameters"]

#: Rows per ``answer_history`` page; the measured page is the 500th (or the last that exists).
PAGE_ROWS = 50
#: The judged search is the common pair (about 9% of an exam's questions match); the rarer
#: phrases (about 2% and under 1%) are measured beside it by the pytest benchmark.
SEARCHES = {
    "search_questions": "encryption key",
    "search_questions[firewall rule]": "firewall rule",
    "search_questions[iam policy]": "iam policy",
}


@dataclass(frozen=True)
class Picks:
    """What the measured calls are made with.

    Attributes:
        mix: (user, main exam) of the three heaviest users and three around the median.
        session, session_user, session_exam: the study session with the most answers.
        questions: 20 approved, active questions of that exam (the answer batches).
        history_user: the heaviest user, whose answer history is paged.
        page: 1-based number of the measured history page (500, or the last full one).
        cursors: the page's cursor per variant (keyset for optimized, offset for
            baseline; None for page 1).
        account: the growth dashboard's account.
    """

    mix: list[tuple[int, int]]
    session: int
    session_user: int
    session_exam: int
    questions: list[int]
    history_user: int
    page: int
    cursors: dict[str, str | None]
    account: int


def _main_exam(conn: sqlite3.Connection, user: int) -> int:
    row = conn.execute(
        "SELECT q.exam_id FROM user_answers a JOIN questions q ON q.id = a.question_id "
        "WHERE a.user_id = ? GROUP BY q.exam_id ORDER BY count(*) DESC, q.exam_id LIMIT 1",
        (user,),
    ).fetchone()
    return int(row[0])


def pick_parameters(path: Path) -> Picks:
    """Read the parameters from a seeded database (opened read-only)."""
    conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
    try:
        ranked = conn.execute(
            "SELECT user_id, count(*) AS n FROM user_answers GROUP BY user_id "
            "ORDER BY n DESC, user_id"
        ).fetchall()
        mid = len(ranked) // 2
        # The heaviest user holds more answers than the other five of the mix together.
        mix = [int(r[0]) for r in ranked[:3] + ranked[mid : mid + 3]]
        session, s_user, s_exam = conn.execute(
            "SELECT a.study_session_id, s.user_id, s.exam_id FROM user_answers a "
            "JOIN study_sessions s ON s.id = a.study_session_id "
            "GROUP BY a.study_session_id ORDER BY count(*) DESC, a.study_session_id LIMIT 1"
        ).fetchone()
        questions = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM questions WHERE exam_id = ? AND is_active = 1 "
                "AND review_status = 'approved' ORDER BY id LIMIT 20",
                (s_exam,),
            )
        ]
        # Page 500 at medium and up; smaller scales have fewer pages: the last full one.
        page = max(1, min(500, int(ranked[0][1]) // PAGE_ROWS))
        start = (page - 1) * PAGE_ROWS
        cursors: dict[str, str | None] = {"optimized": None, "baseline": None}
        if start:
            at, last_id = conn.execute(
                "SELECT answered_at, id FROM user_answers WHERE user_id = ? "
                "ORDER BY answered_at DESC, id DESC LIMIT 1 OFFSET ?",
                (mix[0], start - 1),
            ).fetchone()
            cursors = {
                "optimized": encode_cursor(("k", str(at), int(last_id))),
                "baseline": encode_cursor(("o", start)),
            }
        account = conn.execute("SELECT min(id) FROM twitter_accounts").fetchone()[0]
        return Picks(
            mix=[(u, _main_exam(conn, u)) for u in mix],
            session=int(session),
            session_user=int(s_user),
            session_exam=int(s_exam),
            questions=questions,
            history_user=mix[0],
            page=page,
            cursors=cursors,
            account=int(account),
        )
    finally:
        conn.close()


def answer_batch(picks: Picks, serial: int) -> list[Answer]:
    """Batch number ``serial``: 20 answers of the biggest session's user on its exam.

    The same serial gives the same answers (client ids ``bench-<serial>-<i>``), so both
    variants can record identical batches and their statistics can be compared. Answers
    select option ``A`` or ``B``, which every question has (true/false ones only those two);
    the writers grade them from the question's options.
    """
    return [
        Answer(
            user_id=picks.session_user,
            question_id=q,
            study_session_id=picks.session,
            selected_answer="A" if (i + serial) % 3 else "B",
            time_spent_seconds=10 + i,
            confidence_level=1 + i % 5,
            client_answer_id=f"bench-{serial}-{i}",
        )
        for i, q in enumerate(picks.questions)
    ]
