"""Benchmark fixtures: a seeded database per scale, built once and cached on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.migrate import Migrator, load_pack
from tests.conftest import make_seeded

CACHE = Path(__file__).resolve().parent.parent / ".benchmarks" / "cache"
SCALE = os.environ.get("EDGEOPT_BENCH_SCALE", "small")


def cached_db(scale: str, *, applied: bool) -> Path:
    """``<cache>/<scale>-base.db`` (reference schema only) or ``-pack.db`` (study pack applied)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    base = CACHE / f"{scale}-seed42-base.db"
    if not base.exists():
        tmp = base.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        asyncio.run(make_seeded(tmp, scale=scale))
        tmp.rename(base)
    if not applied:
        return base
    packed = CACHE / f"{scale}-seed42-pack.db"
    if not packed.exists():
        tmp = packed.with_suffix(".tmp")
        shutil.copyfile(base, tmp)

        async def apply() -> None:
            db = await SqliteDriver.open(tmp)
            try:
                await Migrator(db, [load_pack("study")]).apply()
            finally:
                await db.close()

        asyncio.run(apply())
        tmp.rename(packed)
    return packed


@pytest.fixture(scope="session")
def base_db() -> Path:
    return cached_db(SCALE, applied=False)


@pytest.fixture(scope="session")
def pack_db() -> Path:
    return cached_db(SCALE, applied=True)
