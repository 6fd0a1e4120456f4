"""The files a benchmark runs on: a seeded source (cached on disk), and two working copies.

The source is built once per scale and seed under the cache directory (``<scale>-seed<N>-
base.db``), together with a copy that has the study pack applied (``-pack.db``, reused only
while its ledger matches the pack's current checksums). Every run then copies both into a
scratch folder: the baseline copy keeps ``base.sql`` only and SQLite's default journal, the
optimized copy carries the pack. A user's own file (``--db``) is read, never written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from edgedb_opt.datagen import SCALES, Progress, seed_database
from edgedb_opt.drivers.base import Driver
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.drivers.turso_driver import TursoDriver
from edgedb_opt.errors import ConfigError
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.migrate.engine import Event
from edgedb_opt.schema import init_schema

__all__ = [
    "BENCH_ANCHOR",
    "BenchFiles",
    "apply_study_pack",
    "cached_pair",
    "check_scale",
    "copy_database",
    "data_clock",
    "default_cache_dir",
    "pack_is_current",
    "seed_file",
]

#: The day seeded benchmark data ends at: fixed, so a cached file is the same every day.
BENCH_ANCHOR = dt.datetime(2026, 6, 1)
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class BenchFiles:
    """The two working copies of one run."""

    baseline: Path
    optimized: Path


def check_scale(scale: str) -> str:
    """``scale`` if datagen knows it, else ConfigError naming the choices.

    >>> check_scale("tiny")
    'tiny'
    """
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return scale


def default_cache_dir(env: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/edgeopt/bench`` (``~/.cache`` without it).

    Written by hand: one path does not justify a dependency on platformdirs.

    >>> default_cache_dir({"XDG_CACHE_HOME": "/c"}).as_posix()
    '/c/edgeopt/bench'
    """
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    return Path(base) / "edgeopt" / "bench"


async def seed_file(path: Path, *, scale: str, seed: int, progress: Progress | None = None) -> None:
    """Create the reference schema in a new file and seed it (anchor :data:`BENCH_ANCHOR`)."""
    db = await SqliteDriver.open(path)
    try:
        await init_schema(db)
        await seed_database(db, scale=scale, seed=seed, anchor=BENCH_ANCHOR, progress=progress)
    finally:
        await db.close()


async def apply_study_pack(
    path: Path, on_event: Callable[[Event], None] | None = None, *, engine: str = "sqlite"
) -> None:
    """Apply every step of the bundled study pack to the file at ``path``, through the
    engine that will run it (``"turso"``: the Turso engine, which skips the FTS5 steps)."""
    db: Driver = (
        await TursoDriver.open(path, must_exist=True)
        if engine == "turso"
        else await SqliteDriver.open(path, must_exist=True)
    )
    try:
        await Migrator(db, [load_pack("study")], on_event=on_event).apply()
    finally:
        await db.close()


async def pack_is_current(path: Path) -> bool:
    """True when every study-pack step is applied (or skipped) with today's checksum."""
    db = await SqliteDriver.open(path, read_only=True)
    try:
        rows = await Migrator(db, [load_pack("study")]).status()
    finally:
        await db.close()
    return all(r.state != "pending" and r.checksum_ok is not False for r in rows)


def copy_database(source: Path, dest: Path) -> None:
    """Copy a SQLite database page by page (its WAL included), opening the source read-only.

    The copy gets SQLite's default rollback journal whatever the source used.
    """
    dest.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{quote(str(source.absolute()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from exc
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
        out.execute("PRAGMA journal_mode = DELETE").fetchall()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot copy {source}: {exc}") from exc
    finally:
        src.close()
        out.close()


def check_source(path: Path) -> Path:
    """A user's ``--db`` file if it is a seeded reference database, else ConfigError."""
    if not path.is_file():
        raise ConfigError(f"db {path}: no such file", param="db")
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
        try:
            n = conn.execute("SELECT count(*) FROM user_answers").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"db {path} is not a study database: {exc}", param="db") from exc
    if not n:
        raise ConfigError(f"db {path} has no answers to measure; seed it first", param="db")
    return path


def cached_pair(
    cache_dir: Path, scale: str, seed: int, progress: Progress | None = None
) -> tuple[Path, Path]:
    """The cached seeded source and its packed copy, built where missing or stale.

    Each file is built under a temporary name and renamed, so an interrupted build never
    leaves a half-made file behind to be reused.
    """
    check_scale(scale)
    cache_dir.mkdir(parents=True, exist_ok=True)
    base = cache_dir / f"{scale}-seed{seed}-base.db"
    if not base.exists():
        tmp = base.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        asyncio.run(seed_file(tmp, scale=scale, seed=seed, progress=progress))
        tmp.rename(base)
    packed = cache_dir / f"{scale}-seed{seed}-pack.db"
    if not packed.exists() or not asyncio.run(pack_is_current(packed)):
        tmp = packed.with_suffix(".tmp")
        copy_database(base, tmp)
        if progress is not None:
            progress("applying the study pack", 0, 1)
        asyncio.run(apply_study_pack(tmp))
        tmp.replace(packed)
    return base, packed


def data_clock(path: Path) -> dt.datetime:
    """The "now" a database's data was made for: midnight after its latest answer.

    Seeded data ends at its anchor, so queries with time windows ("the last 7 days") see
    the same rows on any day the benchmark runs. Without answers: UTC midnight today.
    """
    conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
    try:
        latest = conn.execute("SELECT max(answered_at) FROM user_answers").fetchone()[0]
    finally:
        conn.close()
    if latest is None:
        return dt.datetime.now(dt.UTC).replace(
            tzinfo=None, hour=0, minute=0, second=0, microsecond=0
        )
    day = dt.datetime.strptime(str(latest)[:19], _TIME).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time())
