"""``edgeopt loadtest`` on tiny real files: report shape, bounds, errors counted by type."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from edgedb_opt.errors import ConfigError
from edgedb_opt.loadtest import (
    CSV_COLUMNS,
    SCENARIOS,
    LoadOptions,
    LoadTarget,
    check_loopback,
    parse_mix,
    prepare_target,
    run_load,
)
from edgedb_opt.loadtest.scenarios import OPERATIONS
from tests.conftest import ANCHOR, apply_pack, edgeopt, query

FAST = {"users": 20, "duration": 2.0, "think_ms": 100.0}


@pytest.fixture(scope="module")
def packed_template(tmp_path_factory: pytest.TempPathFactory, seeded_template: Path) -> Path:
    """The tiny seeded database with the study pack applied, built once."""
    path = tmp_path_factory.mktemp("loadtest") / "packed.db"
    shutil.copyfile(seeded_template, path)
    asyncio.run(apply_pack(path))
    return path


@pytest.fixture
def packed_db(packed_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "load.db"
    shutil.copyfile(packed_template, path)
    return path


def _load_answers(path: Path) -> int:
    rows = query(path, "SELECT count(*) FROM user_answers WHERE client_answer_id LIKE 'lt-%'")
    return int(str(rows[0][0]))


async def test_light_run_reports_every_operation_without_errors(packed_db: Path) -> None:
    started = time.monotonic()
    report = await run_load(LoadTarget(str(packed_db), now=ANCHOR), LoadOptions(**FAST))
    wall = time.monotonic() - started
    rows = {r["operation"]: r for r in report["operations"]}
    assert list(rows) == list(OPERATIONS)
    for row in rows.values():
        assert row["count"] > 0, row
        assert row["errors"] == 0 and row["errors_by_type"] == {}, row
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["p99_ms"] <= row["p99_9_ms"] <= row["max_ms"]
    overall = report["overall"]
    assert overall["requests"] == sum(r["count"] for r in rows.values())
    assert overall["errors"] == 0 and overall["error_rate"] == 0.0
    assert overall["cache_hits"] + overall["cache_misses"] > 0
    assert overall["cache_maxsize"] == 1024  # the library's default, the least it gets
    assert overall["pool_timeouts"] == 0 and overall["users_started_max"] == 20
    # Every record_answers request stored its whole batch of new answers.
    assert _load_answers(packed_db) == 5 * rows["record_answers"]["count"]
    # Bounded: the load itself, plus the grace for operations in flight, plus opening.
    assert overall["seconds"] < FAST["duration"] + 0.5
    assert wall <= FAST["duration"] + LoadOptions().grace + 1.5


async def test_the_cache_is_sized_for_the_users(packed_db: Path) -> None:
    options = LoadOptions(users=700, duration=5.0, think_ms=20.0, max_requests=30)
    report = await run_load(LoadTarget(str(packed_db), now=ANCHOR), options)
    assert report["overall"]["cache_maxsize"] == 1400


async def test_max_requests_stops_the_run_early(packed_db: Path) -> None:
    options = LoadOptions(users=10, duration=30.0, think_ms=20.0, max_requests=40)
    report = await run_load(LoadTarget(str(packed_db), now=ANCHOR), options)
    # Users in flight when the cap is reached still finish: at most one each.
    assert 40 <= report["overall"]["requests"] <= 40 + 10
    assert report["overall"]["seconds"] < 30.0


def test_read_only_writer_errors_are_counted_by_type_and_fail_the_gate(packed_db: Path) -> None:
    out = edgeopt(
        "loadtest", "--db", str(packed_db), "--users", "10", "--duration", "1.5",
        "--think", "50", "--read-only", "--json", "--fail-if", "error_rate=0",
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("edgeopt: loadtest failed: error_rate")
    report = json.loads(out.stdout)
    rows = {r["operation"]: r for r in report["operations"]}
    for write in ("record_answers", "session_progress"):
        assert rows[write]["count"] > 0
        assert rows[write]["errors_by_type"] == {"DriverError": rows[write]["count"]}
    for read in ("study_questions", "leaderboard", "growth_analytics"):
        assert rows[read]["errors"] == 0
    assert report["overall"]["errors"] == sum(r["errors"] for r in rows.values()) > 0
    assert _load_answers(packed_db) == 0


def test_csv_has_one_row_per_operation(packed_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "load.csv"
    out = edgeopt(
        "loadtest", "--db", str(packed_db), "--users", "10", "--duration", "1",
        "--think", "50", "--csv", str(target), "--fail-if", "p95_ms=100000",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "study_questions" in out.stdout and "cache hit rate" in out.stdout
    with target.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == list(OPERATIONS)
    assert all(int(r[1]) > 0 for r in rows[1:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fail-if", "p99=3"), "--fail-if: expected error_rate=X or p95_ms=Y, not 'p99=3'"),
        (("--fail-if", "p95_ms=fast"), "--fail-if: p95_ms must be a number >= 0, not 'fast'"),
        (("--mix", "lunch=3"), "--mix: expected name=weight"),
        (("--db", "https://db.example.com"), "--db host 'db.example.com' is not 127.0.0.1"),
        (("--db", "libsql://10.0.0.7:8080"), "--db host '10.0.0.7' is not 127.0.0.1"),
    ],
)
def test_user_mistakes_are_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # nothing may be built
    out = edgeopt("loadtest", "--duration", "1", *args, env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeopt: error: ")
    assert message in lines[0]
    assert not (tmp_path / "edgeopt").exists()


def test_loopback_urls_and_paths_are_accepted() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "a.db"):
        assert check_loopback(url) == url
    with pytest.raises(ConfigError):
        check_loopback("ws://192.168.1.2:8080")


def test_default_target_is_a_fresh_copy_of_a_cached_file(tmp_path: Path) -> None:
    first = prepare_target(None, scale="tiny", seed=7, cache_dir=tmp_path)
    try:
        copy = Path(first.db)
        assert copy.is_file() and copy.parent.parent == tmp_path / "runs"
        assert first.now is not None and first.now.date() == ANCHOR.date()
        cached = sorted(p.name for p in tmp_path.glob("*.db"))
        assert cached == ["tiny-seed7-base.db", "tiny-seed7-pack.db"]
        built = (tmp_path / "tiny-seed7-pack.db").stat().st_mtime_ns
        second = prepare_target(None, scale="tiny", seed=7, cache_dir=tmp_path)
        assert second.db != first.db
        assert (tmp_path / "tiny-seed7-pack.db").stat().st_mtime_ns == built  # reused
        second.cleanup()
        assert not Path(second.db).exists()
    finally:
        first.cleanup()
    assert not copy.exists()


def test_spike_shape_and_mix() -> None:
    spike = SCENARIOS["spike"]
    assert [spike.users_at(t) for t in (0, 5, 10, 15, 20, 30, 35, 40, 90)] == [
        100, 100, 800, 1500, 1500, 800, 100, 100, 100,
    ]  # fmt: skip
    small = spike.with_users(150)
    assert (small.users, small.users_at(0), small.users_at(20)) == (150, 10, 150)
    assert SCENARIOS["heavy"].with_users(20).users_at(3) == 20
    mix = parse_mix("study_questions=40,record_answers=30,leaderboard=30")
    assert mix == {
        "study_questions": 0.4, "record_answers": 0.3, "session_progress": 0.0,
        "leaderboard": 0.3, "growth_analytics": 0.0,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="at least one weight"):
        parse_mix("leaderboard=0")
