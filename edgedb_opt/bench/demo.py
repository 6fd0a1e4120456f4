"""``edgeopt demo``: the newcomer's tour on one local file.

Seed, keep a copy of the plain file (the "before"), apply the study pack step by step,
measure the before copy's baseline variants against the applied file's optimized variants
(on scratch copies, in one process run), show ``status``, roll every step back and prove
the schema is what it was (``sqlite_master`` equal to the one before the apply).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from edgedb_opt.bench.data import check_scale, copy_database, seed_file
from edgedb_opt.bench.report import BenchReport
from edgedb_opt.bench.run import measure_files
from edgedb_opt.bench.runner import Progress
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.migrate import Migrator, StepResult, StepStatus, load_pack

__all__ = ["DEMO_RUNS", "DemoResult", "run_demo", "schema_rows"]

#: Measured calls per variant in the demo: enough for a median, few enough for 2 minutes.
DEMO_RUNS = 3
Say = Callable[[str], None]


@dataclass
class DemoResult:
    """What the tour did: the report, the steps applied and rolled back, and the proof."""

    report: BenchReport
    applied: list[StepResult]
    status: list[StepStatus]
    rolled_back: list[StepResult]
    schema_restored: bool
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def schema_rows(path: Path) -> list[tuple[str, str, str, str | None]]:
    """``sqlite_master`` (type, name, table, sql) sorted, without edgeopt's ledger."""
    conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    return [r for r in rows if not str(r[2]).startswith("_edgeopt_")]


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _migrate(path: Path, action: str) -> tuple[list[StepResult], list[StepStatus]]:
    db = await SqliteDriver.open(path, must_exist=True)
    try:
        migrator = Migrator(db, [load_pack("study")])
        if action == "apply":
            results = await migrator.apply()
        else:
            results = await migrator.rollback(all=True)
        return results, await migrator.status()
    finally:
        await db.close()


def run_demo(
    path: Path,
    *,
    scale: str = "small",
    seed: int = 42,
    runs: int = DEMO_RUNS,
    say: Say = print,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the tour on ``path`` (deleted and re-created first), narrating through ``say``.

    Raises:
        ConfigError: unknown scale. DriverError: the file cannot be created.
    """
    check_scale(scale)
    t0 = time.perf_counter()
    _remove(path)
    say(f"1. seeding {path} at scale {scale} (seed {seed})")
    asyncio.run(seed_file(path, scale=scale, seed=seed, progress=progress))
    before = schema_rows(path)
    with tempfile.TemporaryDirectory(prefix="edgeopt-demo-") as tmp:
        plain = Path(tmp) / "baseline.db"
        copy_database(path, plain)
        say("2. kept a copy of the plain file for the 'before' measurements")
        say("3. applying the study pack:")
        applied, status = asyncio.run(_migrate(path, "apply"))
        for r in applied:
            detail = f" ({r.reason})" if r.reason else ""
            say(f"   {r.action:<10} {r.id:<28} {r.ms / 1000:6.2f} s{detail}")
        optimized = Path(tmp) / "optimized.db"
        copy_database(path, optimized)
        say(f"4. measuring: baseline (before) vs optimized (after), {runs} runs each")
        report = measure_files(scale, plain, optimized, runs=runs, progress=progress)
    say("5. rolling back every step")
    rolled, _ = asyncio.run(_migrate(path, "rollback"))
    restored = schema_rows(path) == before
    return DemoResult(report, applied, status, rolled, restored, seconds=time.perf_counter() - t0)
