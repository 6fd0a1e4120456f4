"""``edgeopt bench`` as one call: prepare the two copies, measure, and report.

:func:`run_bench` measures one scale (or a user's file); :func:`run_scales` several scales
in a row, for the scale curve. Both are synchronous: they own their event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from edgedb_opt.bench.data import (
    apply_study_pack,
    cached_pair,
    check_scale,
    check_source,
    copy_database,
    data_clock,
    default_cache_dir,
)
from edgedb_opt.bench.picks import pick_parameters
from edgedb_opt.bench.report import BenchReport
from edgedb_opt.bench.runner import Progress, measure_operations, open_sides
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import ConfigError
from edgedb_opt.migrate import Migrator, load_pack

__all__ = [
    "ENGINES",
    "measure_files",
    "parse_engines",
    "parse_scales",
    "prepare_copies",
    "run_bench",
    "run_scales",
]

#: The engines ``edgeopt bench --engine`` measures on: the sqlite3 module's SQLite, and the
#: Turso engine (pyturso), which embedded replicas and ``turso:`` files run.
ENGINES = ("sqlite", "turso")


def parse_engines(text: str) -> list[str]:
    """``"sqlite"``, ``"turso"`` or ``"both"`` as the list of engines to measure on.

    >>> parse_engines("both"), parse_engines("turso")
    (['sqlite', 'turso'], ['turso'])
    """
    if text == "both":
        return list(ENGINES)
    if text not in ENGINES:
        raise ConfigError(f"engine {text!r} is unknown: choose sqlite, turso or both")
    return [text]


def parse_scales(text: str) -> list[str]:
    """``"tiny,small"`` as a list of known scales (ConfigError on an unknown one).

    >>> parse_scales("tiny, small")
    ['tiny', 'small']
    """
    return [check_scale(s.strip()) for s in text.split(",") if s.strip()]


async def _strip_pack(path: Path) -> None:
    """Roll back every applied step, so a copy of an optimized file is a baseline again."""
    db = await SqliteDriver.open(path, must_exist=True)
    try:
        migrator = Migrator(db, [load_pack("study")])
        if any(s.state == "applied" for s in await migrator.status()):
            await migrator.rollback(all=True, force=True)
    finally:
        await db.close()


def prepare_copies(
    folder: Path,
    *,
    source: Path,
    packed: Path | None,
    progress: Progress | None = None,
    engine: str = "sqlite",
) -> tuple[Path, Path]:
    """Copy ``source`` to ``folder/baseline.db`` (study pack rolled back if it had one) and
    ``packed`` (or ``source`` with the pack applied) to ``folder/optimized.db``. For the
    Turso engine the pack is applied through it, to a copy of the baseline (it skips the
    FTS5 steps and makes the indexes and statistics its own planner reads)."""
    baseline, optimized = folder / "baseline.db", folder / "optimized.db"
    if progress is not None:
        progress("copying the database", 0, 2)
    copy_database(source, baseline)
    asyncio.run(_strip_pack(baseline))
    if progress is not None:
        progress("copying the database", 1, 2)
    if engine == "turso":
        copy_database(baseline, optimized)
        asyncio.run(apply_study_pack(optimized, engine="turso"))
    else:
        copy_database(packed or source, optimized)
        if packed is None:
            asyncio.run(apply_study_pack(optimized))
    if progress is not None:
        progress("copying the database", 2, 2)
    return baseline, optimized


def _answers(path: Path) -> int:
    conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM user_answers").fetchone()[0])
    finally:
        conn.close()


def measure_files(
    scale: str,
    baseline: Path,
    optimized: Path,
    *,
    runs: int | None = None,
    cache: bool = False,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    engine: str = "sqlite",
) -> BenchReport:
    """Measure every operation on two prepared copies (they are written to)."""
    picks = pick_parameters(baseline)
    clock_value = data_clock(baseline)

    async def body() -> BenchReport:
        async with open_sides(
            baseline, optimized, clock=lambda: clock_value, cache=cache, engine=engine
        ) as s:
            ops = await measure_operations(s, picks, runs=runs, names=names, progress=progress)
        report = BenchReport(scale, ops, answers=_answers(baseline))
        report.extra["engine"] = engine
        return report

    t0 = time.perf_counter()
    report = asyncio.run(body())
    report.seconds = time.perf_counter() - t0
    return report


def run_bench(
    *,
    scale: str | None = None,
    source: Path | None = None,
    seed: int = 42,
    runs: int | None = None,
    cache: bool = False,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    engine: str = "sqlite",
) -> BenchReport:
    """Baseline vs optimized for every study-flow operation, on fresh copies.

    Args:
        scale: the datagen scale to seed (default medium); with ``source``, only the label
            of the report (default ``"custom"``).
        source: a seeded study database to copy instead of seeding; it is never written.
        seed: the datagen seed (the cache key is scale and seed).
        runs: measured calls per variant and case (default: 5, more for fast calls).
        cache: run the optimized variant with ``EdgeDatabase``'s query cache on.
        cache_dir: where seeded files are kept (default :func:`default_cache_dir`).
        progress: ``progress(label, done, total)`` while seeding, copying and measuring.
        engine: ``"sqlite"`` or ``"turso"`` (both variants run on that engine).
    Raises:
        ConfigError: unknown scale or engine, unusable source file.
    """
    parse_engines(engine)
    if source is not None:
        source = check_source(source)
        label, packed = scale or "custom", None
    else:
        label = check_scale(scale or "medium")
        source, packed = cached_pair(cache_dir or default_cache_dir(), label, seed, progress)
    with tempfile.TemporaryDirectory(prefix="edgeopt-bench-") as tmp:
        baseline, optimized = prepare_copies(
            Path(tmp), source=source, packed=packed, progress=progress, engine=engine
        )
        report = measure_files(
            label, baseline, optimized, runs=runs, cache=cache, progress=progress, engine=engine
        )
    report.extra["seed"] = None if packed is None else seed
    report.extra["cache"] = cache
    if packed is None:
        report.extra["source"] = str(source)
    return report


def run_scales(scales: Sequence[str], **kw: object) -> list[BenchReport]:
    """:func:`run_bench` for each scale in turn (for the scale curve)."""
    return [run_bench(scale=s, **kw) for s in scales]  # type: ignore[arg-type]
