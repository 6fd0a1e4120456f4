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
