"""EXPLAIN QUERY PLAN is the ground truth: each hot query uses its pack index after apply.

Fixtures live in ``tests/fixtures/hot/<name>.sql``: a header (``-- name:``, ``-- index:``,
``-- scans_before:``, ``-- needs:``, ``-- params:``) and one statement.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgedb_opt.sqltext import split_statements
from tests.conftest import apply_pack

HOT = Path(__file__).parent / "fixtures" / "hot"
BIG_TABLES = ("questions", "user_answers")


@dataclass(frozen=True)
class HotQuery:
    name: str
    sql: str
    params: list[object]
    indexes: tuple[str, ...]
    scans_before: tuple[str, ...]


def load_hot(path: Path) -> HotQuery:
    text = path.read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    for line in text.splitlines():
        if m := re.match(r"--\s*(name|index|scans_before|needs|params):\s*(.*)$", line.strip()):
            meta[m.group(1)] = m.group(2).strip()
    statements = split_statements(text)
    assert len(statements) == 1, f"{path}: one statement expected"
    return HotQuery(
        name=meta.get("name", path.stem),
        sql=statements[0].sql,
        params=json.loads(meta.get("params", "[]")),
        indexes=tuple(i.strip() for i in meta.get("index", "").split(",") if i.strip()),
        scans_before=tuple(t.strip() for t in meta.get("scans_before", "").split(",") if t.strip()),
    )


HOT_QUERIES = sorted(HOT.glob("*.sql"))


def plan(path: Path, q: HotQuery) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + q.sql.rstrip(";"), q.params).fetchall()
    finally:
        conn.close()
    return "\n".join(str(r[3]) for r in rows)


@pytest.fixture(scope="module")
def before_after(
    seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("plans")
    before, after = folder / "before.db", folder / "after.db"
    shutil.copyfile(seeded_template, before)
    shutil.copyfile(seeded_template, after)

    asyncio.run(apply_pack(after))
    return before, after


def test_there_are_hot_queries() -> None:
    assert len(HOT_QUERIES) >= 15


@pytest.mark.parametrize("path", HOT_QUERIES, ids=lambda p: p.stem)
def test_hot_query_uses_its_pack_index(path: Path, before_after: tuple[Path, Path]) -> None:
    q = load_hot(path)
    assert q.indexes, f"{path} names no index"
    before, after = before_after
    for table in q.scans_before:
        plan_before = plan(before, q)
        assert re.search(rf"\bSCAN {table}\b(?! USING (COVERING )?INDEX)", plan_before), (
            f"{q.name}: expected a full SCAN of {table} before the pack:\n{plan_before}"
        )
    plan_after = plan(after, q)
    for index in q.indexes:
        assert re.search(rf"\b{re.escape(index)}\b", plan_after), (
            f"{q.name}: plan after apply does not use {index}:\n{plan_after}"
        )
    for table in BIG_TABLES:
        assert not re.search(rf"\bSCAN {table}\b", plan_after), (
            f"{q.name}: plan after apply still scans {table}:\n{plan_after}"
        )


# -- the Turso engine: its own planner, the same statements ----------------------------------


@pytest.fixture(scope="module")
def turso_packed(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny seeded database with the study pack applied through the Turso engine."""
    from edgedb_opt.bench.data import apply_study_pack

    path = tmp_path_factory.mktemp("turso-plans") / "packed.db"
    shutil.copyfile(seeded_template, path)
    asyncio.run(apply_study_pack(path, engine="turso"))
    return path


def turso_plan(path: Path, sql: str, params: list[object]) -> str:
    """EXPLAIN QUERY PLAN through pyturso, on a fresh connection (as an app's)."""
    from edgedb_opt.drivers.turso_driver import TursoDriver

    async def explain() -> str:
        db = await TursoDriver.open(path)
        try:
            rows = await db.fetch_all("EXPLAIN QUERY PLAN " + sql.rstrip(";"), params)
        finally:
            await db.close()
        return "\n".join(str(r[-1]) for r in rows)

    return asyncio.run(explain())


def _optimized_statements() -> list[object]:
    from edgedb_opt.study.statements import HOT_STATEMENTS, NEEDS_TABLE
    from edgedb_opt.study.writer import _LOOKUPS, _STIME, _TRIES_SQL, _marks

    out = [(n, s) for n, s in HOT_STATEMENTS.items() if n not in NEEDS_TABLE]  # no FTS5 there
    out += [(f"writer lookup {tag}", s.format(t=tag, k=_marks(3))) for tag, s in _LOOKUPS.items()]
    out.append(("writer tries", _TRIES_SQL.format(t=8, u=_marks(2), q=_marks(3))))
    assert any(name == f"writer lookup {_STIME}" for name, _ in out)
    return [pytest.param(name, sql, id=name) for name, sql in out]


@pytest.mark.parametrize(("name", "sql"), _optimized_statements())
def test_the_turso_engine_plans_every_optimized_statement_without_a_big_scan(
    turso_packed: Path, name: str, sql: str
) -> None:
    # On the Turso engine, "SELECT ... FROM user_answers WHERE study_session_id = ?" scanned
    # every answer: its planner uses a partial index only when the index's predicate is
    # written out. Every statement of the optimized flow and of the writer must search.
    text = turso_plan(turso_packed, sql, [1] * sql.count("?"))
    for table in BIG_TABLES:
        assert not re.search(rf"\bSCAN {table}\b", text), f"{name} scans {table}:\n{text}"


def test_the_turso_engine_reads_the_history_in_index_order(turso_packed: Path) -> None:
    from edgedb_opt.study.queries import HISTORY_AFTER_SQL, HISTORY_FIRST_SQL

    for sql in (HISTORY_FIRST_SQL, HISTORY_AFTER_SQL):
        text = turso_plan(turso_packed, sql, [1] * sql.count("?"))
        assert "idx_user_answers_user_time" in text and "SORTER" not in text, text
    # A later page seeks to its key rather than walking down to it from the newest answer.
    assert "answered_at<=?" in turso_plan(turso_packed, HISTORY_AFTER_SQL, [1] * 5)


def _portable_hot_queries() -> list[object]:
    """The hot fixtures the Turso engine can run (search needs FTS5, which it lacks)."""
    return [
        pytest.param(path, id=path.stem)
        for path in HOT_QUERIES
        if "questions_fts" not in path.read_text(encoding="utf-8")
    ]


#: Fixtures whose pack index is partial on "x IS NOT NULL" while the query says "x = ?".
NOT_NULL_LOOKUPS = ("objective_questions", "session_progress", "test_attempt_results")


@pytest.mark.parametrize("path", _portable_hot_queries())
def test_the_turso_engine_plans_each_hot_query_without_a_big_scan(
    path: Path, turso_packed: Path
) -> None:
    # The app's own statements, as written (no planner hints), on the Turso engine. Which
    # index it takes among several is its cost model's business (at tiny scale it may scan a
    # table of a few rows); a scan of questions or user_answers is a defect at any scale.
    # "WHERE study_session_id = ?" scanned every answer until the not_null_lookups variant
    # rebuilt the IS NOT NULL partial indexes as full ones on this engine.
    q = load_hot(path)
    text = turso_plan(turso_packed, q.sql, q.params)
    for table in BIG_TABLES:
        assert not re.search(rf"\bSCAN {table}\b", text), f"{q.name} scans {table}:\n{text}"
    if q.name in NOT_NULL_LOOKUPS:
        (index,) = q.indexes
        assert re.search(rf"\b{index}\b", text), f"{q.name} does not use {index}:\n{text}"


def test_the_not_null_variant_applies_only_where_the_planner_needs_it(
    before_after: tuple[Path, Path], turso_packed: Path
) -> None:
    # SQLite keeps the partial indexes (its planner infers the implication); the Turso
    # engine gets the full ones, under the same names.
    names = "('idx_questions_objective', 'idx_user_answers_session', 'idx_user_answers_attempt')"
    query = f"SELECT name, sql LIKE '%IS NOT NULL' FROM sqlite_master WHERE name IN {names}"
    for path, partial in ((before_after[1], 1), (turso_packed, 0)):
        conn = sqlite3.connect(path)
        try:
            assert sorted(conn.execute(query).fetchall()) == [
                ("idx_questions_objective", partial),
                ("idx_user_answers_attempt", partial),
                ("idx_user_answers_session", partial),
            ], path
        finally:
            conn.close()


def test_both_engines_check_an_answers_exam_in_the_narrow_index(
    before_after: tuple[Path, Path], turso_packed: Path
) -> None:
    # The week of user progress and of each leaderboard user: every answer's exam comes from
    # idx_questions_exam_of, not from the wide question row (nor, in the LEFT JOIN of the
    # leaderboard, from an ephemeral index the Turso engine built over all questions).
    from edgedb_opt.study.statements import HOT_STATEMENTS

    for name in ("user_progress", "leaderboard"):
        sql = HOT_STATEMENTS[name]
        sqlite_plan = plan(before_after[1], HotQuery(name, sql, [1] * sql.count("?"), (), ()))
        for text in (sqlite_plan, turso_plan(turso_packed, sql, [1] * sql.count("?"))):
            assert "idx_questions_exam_of" in text, f"{name}:\n{text}"
            assert not re.search(r"AUTOMATIC[^\n]*questions|ephemeral_questions", text), text
