"""Synthetic data: deterministic, shaped like real use, and consistent with itself."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from edgedb_opt.datagen import DEFAULT_ANCHOR_NOTE, SCALES, Scale, seed_database
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.drivers.turso_driver import TursoDriver
from edgedb_opt.errors import ConfigError
from edgedb_opt.schema import TABLES, init_schema
from tests.conftest import ANCHOR, make_seeded, query

TINY = SCALES["tiny"]
WINDOW_START = (ANCHOR - dt.timedelta(days=90)).strftime("%Y-%m-%d %H:%M:%S")
ANCHOR_TEXT = ANCHOR.strftime("%Y-%m-%d %H:%M:%S")


def dump_hash(path: Path) -> str:
    """sha256 of every table's rows in id order: equal hashes mean identical contents."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(path)
    try:
        for table in TABLES:
            digest.update(table.encode())
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def one(path: Path, sql: str) -> object:
    return query(path, sql)[0][0]


def share(path: Path, sql: str) -> float:
    return float(one(path, sql))  # type: ignore[arg-type]


# -- determinism and refusals -------------------------------------------------------------


async def test_same_seed_and_anchor_give_identical_tables(
    seeded_template: Path, tmp_path: Path
) -> None:
    again, other = tmp_path / "again.db", tmp_path / "other.db"
    await make_seeded(again)
    await make_seeded(other, seed=7)
    assert dump_hash(again) == dump_hash(seeded_template)
    assert dump_hash(other) != dump_hash(seeded_template)


async def test_unknown_scale_is_a_config_error(tmp_path: Path) -> None:
    db = await SqliteDriver.open(tmp_path / "x.db")
    try:
        await init_schema(db)
        with pytest.raises(ConfigError, match="unknown scale 'huge'") as info:
            await seed_database(db, scale="huge")
        assert "\n" not in str(info.value)
    finally:
        await db.close()


async def test_unusable_custom_scale_is_a_config_error(tmp_path: Path) -> None:
    db = await SqliteDriver.open(tmp_path / "x.db")
    try:
        await init_schema(db)
        with pytest.raises(ConfigError, match="scale 'odd' cannot work"):
            await seed_database(db, scale=Scale("odd", 10, 5, 4, 3, 10, 1, 1, 1, 1, 1))
        assert await db.fetch_all("SELECT count(*) FROM users") == [(0,)]
    finally:
        await db.close()


async def test_missing_schema_is_a_config_error(tmp_path: Path) -> None:
    db = await SqliteDriver.open(tmp_path / "x.db")
    try:
        with pytest.raises(ConfigError, match="no users table"):
            await seed_database(db)
    finally:
        await db.close()


async def test_seeding_a_database_with_rows_is_refused_and_changes_nothing(
    seeded_db: Path,
) -> None:
    before = dump_hash(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        with pytest.raises(ConfigError) as info:
            await seed_database(db, seed=1, anchor=ANCHOR)
    finally:
        await db.close()
    assert str(info.value) == "database already has data in users; seed an empty database"
    assert dump_hash(seeded_db) == before


# -- counts and progress -------------------------------------------------------------------


def test_row_counts_match_the_tiny_scale(seeded_template: Path) -> None:
    counts = {t: one(seeded_template, f"SELECT count(*) FROM {t}") for t in TABLES}
    assert counts["users"] == TINY.users
    assert counts["exams"] == TINY.exams
    assert counts["objectives"] == TINY.exams * TINY.objectives_per_exam
    assert counts["questions"] == TINY.questions
    assert counts["user_answers"] == TINY.answers
    assert counts["study_sessions"] == TINY.sessions
    assert counts["test_attempts"] == TINY.test_attempts
    assert counts["twitter_accounts"] == TINY.accounts
    assert counts["growth_metrics"] == TINY.accounts * TINY.growth_days
    assert counts["tweets"] == TINY.tweets
    assert counts["engagement_opportunities"] == TINY.opportunities
    assert 0.5 * TINY.users < counts["user_progress"] < 3 * TINY.users  # type: ignore[operator]


async def test_returns_counts_and_reports_progress(tmp_path: Path) -> None:
    scale = Scale("mini", 20, 2, 4, 60, 400, 20, 3, 2, 10, 10, growth_days=30)
    calls: list[tuple[str, int, int]] = []
    db = await SqliteDriver.open(tmp_path / "mini.db")
    try:
        await init_schema(db)
        counts = await seed_database(
            db, scale=scale, anchor=ANCHOR, progress=lambda *a: calls.append(a)
        )
        for table in TABLES:
            rows = await db.fetch_all(f"SELECT count(*) FROM {table}")
            assert counts[table] == rows[0][0], table
    finally:
        await db.close()
    assert set(counts) == set(TABLES)
    last = {table: (done, total) for table, done, total in calls}
    assert set(last) == set(TABLES) | {"question_stats"}
    assert all(done == total for done, total in last.values())
    assert last["growth_metrics"] == (2 * 30, 2 * 30)


async def test_default_anchor_is_today_midnight_utc(tmp_path: Path) -> None:
    assert "00:00 UTC" in DEFAULT_ANCHOR_NOTE
    db = await SqliteDriver.open(tmp_path / "now.db")
    try:
        await init_schema(db)
        await seed_database(db)
        ((low, high, last_day),) = await db.fetch_all(
            "SELECT min(answered_at), max(answered_at), (SELECT max(date) FROM growth_metrics)"
            " FROM user_answers"
        )
    finally:
        await db.close()
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert f"{today - dt.timedelta(days=90):%Y-%m-%d %H:%M:%S}" <= low
    assert high < f"{today:%Y-%m-%d %H:%M:%S}"
    assert last_day == (today - dt.timedelta(days=1)).date().isoformat()


async def test_turso_driver_seeds_the_same_counts(tmp_path: Path) -> None:
    db = await TursoDriver.open(tmp_path / "t.db")
    try:
        await init_schema(db)
        counts = await seed_database(db, scale="tiny", anchor=ANCHOR)
        for table in TABLES:
            rows = await db.fetch_all(f"SELECT count(*) FROM {table}")
            assert rows[0][0] == counts[table], table
    finally:
        await db.close()
    assert counts["user_answers"] == TINY.answers


# -- shape ---------------------------------------------------------------------------------


def test_question_mix_is_realistic(seeded_template: Path) -> None:
    inactive = share(seeded_template, "SELECT avg(is_active = 0) FROM questions")
    unapproved = share(seeded_template, "SELECT avg(review_status <> 'approved') FROM questions")
    assert 0.05 <= inactive <= 0.15
    assert 0.09 <= unapproved <= 0.21
    statuses = {r[0] for r in query(seeded_template, "SELECT review_status FROM questions")}
    assert statuses == {"approved", "pending", "rejected", "needs_revision"}


def test_a_few_users_answer_a_lot(seeded_template: Path) -> None:
    per_user = [
        int(r[0])  # type: ignore[call-overload]
        for r in query(
            seeded_template,
            "SELECT count(*) FROM user_answers GROUP BY user_id ORDER BY 1 DESC",
        )
    ]
    top = per_user[: max(1, TINY.users // 100)]
    assert sum(top) > 0.10 * sum(per_user)
    assert per_user[-1] < 20  # and a long tail


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("questions", "objective_id"),
        ("questions", "explanation"),
        ("questions", "reference"),
        ("questions", "tags"),
        ("questions", "avg_time_seconds"),
        ("user_answers", "study_session_id"),
        ("user_answers", "test_attempt_id"),
        ("user_answers", "confidence_level"),
        ("user_answers", "time_spent_seconds"),
        ("user_answers", "client_answer_id"),
        ("users", "display_name"),
        ("users", "last_login_at"),
        ("study_sessions", "completed_at"),
        ("study_sessions", "accuracy"),
        ("test_attempts", "score"),
        ("user_progress", "readiness_score"),
        ("tweets", "ai_cost"),
        ("engagement_opportunities", "acted_at"),
        ("engagement_opportunities", "relevance_score"),
    ],
)
def test_nullable_columns_hold_both_nulls_and_values(
    seeded_template: Path, table: str, column: str
) -> None:
    nulls, values = query(
        seeded_template, f"SELECT sum({column} IS NULL), sum({column} IS NOT NULL) FROM {table}"
    )[0]
    assert nulls and values, (table, column, nulls, values)


def test_question_json_and_text_are_usable(seeded_template: Path) -> None:
    rows = query(seeded_template, "SELECT type, answers, tags FROM questions")
    for qtype, answers, tags in rows:
        options = json.loads(str(answers))
        right = [o["key"] for o in options if o["correct"]]
        assert [o["key"] for o in options] == list("ABCDE"[: len(options)])
        assert len(right) == (2 if qtype == "multiple" else 1)
        assert tags is None or all(isinstance(t, str) for t in json.loads(str(tags)))
    for word in ("network", "encryption", "database"):
        hits = share(
            seeded_template,
            f"SELECT avg(text || coalesce(explanation, '') LIKE '%{word}%') FROM questions",
        )
        assert hits > 0.05, word


def test_objectives_form_a_shallow_tree_within_each_exam(seeded_template: Path) -> None:
    bad = one(
        seeded_template,
        "SELECT count(*) FROM objectives c JOIN objectives p ON p.id = c.parent_id "
        "WHERE p.exam_id <> c.exam_id OR c.code NOT LIKE p.code || '.%'",
    )
    assert bad == 0
    depth = "SELECT max(length(code) - length(replace(code, '.', ''))) FROM objectives"
    assert one(seeded_template, depth) == 2  # domain > task > sub-task


# -- consistency ---------------------------------------------------------------------------


def test_foreign_keys_and_integrity_hold(seeded_template: Path) -> None:
    assert query(seeded_template, "PRAGMA foreign_key_check") == []
    assert query(seeded_template, "PRAGMA integrity_check") == [("ok",)]


def test_question_stats_equal_answer_aggregates(seeded_template: Path) -> None:
    mismatches = query(
        seeded_template,
        """
        SELECT q.id FROM questions q LEFT JOIN (
            SELECT question_id, count(*) AS n, sum(is_correct) AS c, avg(time_spent_seconds) AS t
            FROM user_answers GROUP BY question_id
        ) a ON a.question_id = q.id
        WHERE q.total_attempts <> coalesce(a.n, 0) OR q.correct_attempts <> coalesce(a.c, 0)
           OR coalesce(abs(q.avg_time_seconds - a.t) > 1e-9, q.avg_time_seconds IS NOT a.t)
        """,
    )
    assert mismatches == []
    answered = share(seeded_template, "SELECT count(*) FROM questions WHERE total_attempts > 0")
    assert answered > 100


def test_answers_belong_to_their_session_user_and_exam(seeded_template: Path) -> None:
    assert (
        one(
            seeded_template,
            """
        SELECT count(*) FROM user_answers a
        JOIN questions q ON q.id = a.question_id
        LEFT JOIN study_sessions s ON s.id = a.study_session_id
        LEFT JOIN test_attempts t ON t.id = a.test_attempt_id
        WHERE s.user_id <> a.user_id OR s.exam_id <> q.exam_id
           OR t.user_id <> a.user_id OR t.exam_id <> q.exam_id
           OR a.answered_at < coalesce(s.started_at, t.started_at, '')
           OR (a.study_session_id IS NOT NULL AND a.test_attempt_id IS NOT NULL)
        """,
        )
        == 0
    )


def test_session_and_test_counters_equal_their_answers(seeded_template: Path) -> None:
    sessions = query(
        seeded_template,
        """
        SELECT s.id FROM study_sessions s LEFT JOIN (
            SELECT study_session_id AS id, count(*) AS n, sum(is_correct) AS c
            FROM user_answers WHERE study_session_id IS NOT NULL GROUP BY 1
        ) a ON a.id = s.id
        WHERE s.answered_count <> coalesce(a.n, 0) OR s.correct_count <> coalesce(a.c, 0)
           OR s.answered_count > s.total_questions
           OR coalesce(abs(s.accuracy - 1.0 * a.c / a.n) > 1e-9, s.accuracy IS NOT NULL)
           OR (s.status = 'completed') <> (s.completed_at IS NOT NULL)
        """,
    )
    assert sessions == []
    tests = query(
        seeded_template,
        """
        SELECT t.id FROM test_attempts t LEFT JOIN (
            SELECT test_attempt_id AS id, count(*) AS n, sum(is_correct) AS c
            FROM user_answers WHERE test_attempt_id IS NOT NULL GROUP BY 1
        ) a ON a.id = t.id
        WHERE t.correct_count <> coalesce(a.c, 0)
           OR (t.status = 'completed' AND t.total_questions <> a.n)
        """,
    )
    assert tests == []


def test_user_progress_equals_answer_aggregates(seeded_template: Path) -> None:
    assert (
        one(
            seeded_template,
            """
        SELECT count(*) FROM (
            SELECT a.user_id, q.exam_id, count(*) AS n, sum(a.is_correct) AS c,
                   max(a.answered_at) AS last, sum(coalesce(a.time_spent_seconds, 0)) AS secs
            FROM user_answers a JOIN questions q ON q.id = a.question_id GROUP BY 1, 2
        ) x FULL JOIN user_progress p ON p.user_id = x.user_id AND p.exam_id = x.exam_id
        WHERE p.questions_answered IS NOT x.n OR p.correct_answers IS NOT x.c
           OR p.last_studied_at IS NOT x.last OR p.study_time_seconds IS NOT x.secs
           OR abs(p.accuracy - 1.0 * x.c / x.n) > 1e-9
           OR p.current_streak > p.best_streak OR p.best_streak < 1
        """,
        )
        == 0
    )


def test_answers_fall_in_the_90_days_before_the_anchor(seeded_template: Path) -> None:
    ((low, high),) = query(
        seeded_template, "SELECT min(answered_at), max(answered_at) FROM user_answers"
    )
    assert str(low) >= WINDOW_START and str(high) < ANCHOR_TEXT
    assert str(high) > (ANCHOR - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    late = share(
        seeded_template,
        f"SELECT avg(answered_at >= '{(ANCHOR - dt.timedelta(days=45)):%Y-%m-%d}') "
        "FROM user_answers",
    )
    assert late > 0.5  # denser toward the anchor
    created_after_answer = one(
        seeded_template,
        "SELECT count(*) FROM users u JOIN user_answers a ON a.user_id = u.id "
        "WHERE a.answered_at < u.created_at",
    )
    assert created_after_answer == 0
    assert one(seeded_template, "SELECT count(*) FROM users WHERE last_login_at < created_at") == 0


def test_client_answer_ids_are_unique_where_present(seeded_template: Path) -> None:
    total, distinct = query(
        seeded_template,
        "SELECT count(client_answer_id), count(DISTINCT client_answer_id) FROM user_answers",
    )[0]
    assert total == distinct and total > 0  # type: ignore[operator]


def test_growth_metrics_have_one_row_per_account_per_day(seeded_template: Path) -> None:
    rows = query(
        seeded_template,
        "SELECT account_id, count(*), count(DISTINCT date), min(date), max(date) "
        "FROM growth_metrics GROUP BY account_id",
    )
    first = (ANCHOR - dt.timedelta(days=365)).date().isoformat()
    last = (ANCHOR - dt.timedelta(days=1)).date().isoformat()
    assert rows == [(a, 365, 365, first, last) for a in range(1, TINY.accounts + 1)]
