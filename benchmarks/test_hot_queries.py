"""Latency of each hot query's optimized SQL on the packed database (tests/fixtures/hot).

These are the statements the pack's indexes were designed for; their baseline comparison is
the study-flow benchmark (test_study_flow.py), since running these shapes on an unindexed file
measures nothing a plain app would run (a correlated NOT EXISTS without its index can take
minutes at scale medium).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.test_plans import HOT_QUERIES, load_hot


@pytest.mark.parametrize("path", HOT_QUERIES, ids=lambda p: p.stem)
def test_hot_query(benchmark: Any, path: Path, pack_db: Path) -> None:
    q = load_hot(path)
    conn = sqlite3.connect(f"file:{pack_db}?mode=ro", uri=True)
    try:
        sql = q.sql.rstrip(";")
        benchmark.group = "hot queries (pack applied)"
        rows = benchmark(lambda: conn.execute(sql, q.params).fetchall())
        assert isinstance(rows, list)
    finally:
        conn.close()
