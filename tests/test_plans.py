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
