"""Shared fixtures: real SQLite files seeded once per session and copied per test."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from edgedb_opt.datagen import seed_database
from edgedb_opt.drivers.sqlite_driver import SqliteDriver, sqlite_capabilities
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.schema import init_schema

REPO = Path(__file__).resolve().parent.parent
STUDY_PACK = REPO / "schema" / "packs" / "study"
#: A fixed anchor keeps every seeded fixture byte-identical from day to day.
ANCHOR = dt.datetime(2026, 6, 1)

pytest_plugins = ["tests.turso_server"]

#: Steps of the study pack that SQLite skips: variants for engines whose planner needs them.
SKIPPED_ON_SQLITE = frozenset(
    s.id for s in load_pack("study").steps if sqlite_capabilities().missing(s.needs)
)
#: The study pack's steps that apply on SQLite, in order.
APPLIED_ON_SQLITE = tuple(s.id for s in load_pack("study").steps if s.id not in SKIPPED_ON_SQLITE)


async def make_seeded(path: Path, *, scale: str = "tiny", seed: int = 42) -> None:
    db = await SqliteDriver.open(path)
    try:
        await init_schema(db)
        await seed_database(db, scale=scale, seed=seed, anchor=ANCHOR)
    finally:
        await db.close()


async def apply_pack(path: Path) -> None:
    """Apply the study pack to the SQLite file at ``path``."""
    db = await SqliteDriver.open(path)
    try:
        await Migrator(db, [load_pack("study")]).apply()
    finally:
        await db.close()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny seeded database, built once; copy it, never change it."""
    path = tmp_path_factory.mktemp("template") / "tiny.db"
    asyncio.run(make_seeded(path))
    return path


@pytest.fixture
def seeded_db(seeded_template: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny seeded database."""
    path = tmp_path / "study.db"
    shutil.copyfile(seeded_template, path)
    return path


def sha256(path: Path) -> str:
    """Hash of a database file and its WAL, if any (what "unchanged" means here)."""
    digest = hashlib.sha256(path.read_bytes())
    wal = Path(f"{path}-wal")
    if wal.exists():
        digest.update(wal.read_bytes())
    return digest.hexdigest()


def master(path: Path, *, ledger: bool = False) -> list[tuple[str, str, str, str | None]]:
    """``sqlite_master`` as sorted rows, without the ledger's own objects by default."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    if not ledger:
        rows = [r for r in rows if r[2] != "_edgeopt_migrations"]
    return rows


def query(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def edgeopt(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``edgeopt`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "edgedb_opt", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


@pytest.fixture
def copy_pack(tmp_path: Path) -> Iterator[Path]:
    """A private copy of the study pack, for tests that edit step files."""
    dest = tmp_path / "study_copy"
    shutil.copytree(STUDY_PACK, dest)
    yield dest


class FakeTimer:
    """A clock that moves only when a test says so (``tick``): TTLs, retries and recycling
    are tested without sleeping."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 15.0, every: float = 0.02
) -> None:
    """Poll ``check`` until it holds, failing after ``within`` seconds (a liveness bound for
    background work such as replica syncs, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not reached within {within} s")
        await asyncio.sleep(every)


#: Figures the hardening tests report (crash fuzz, contention, bad inputs); printed after the
#: run in a section of their own, so `make test` shows them without -s.
SUMMARY: list[str] = []


def report(line: str) -> None:
    """Print ``line`` now and again in the end-of-run summary."""
    print(line)
    SUMMARY.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("edgeopt figures")
        for line in SUMMARY:
            terminalreporter.write_line(line)
