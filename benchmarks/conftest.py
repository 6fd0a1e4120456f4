"""Benchmark fixtures: a seeded database per scale, built once and cached on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import apply_pack, make_seeded

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

        asyncio.run(apply_pack(tmp))
        tmp.rename(packed)
    return packed


@pytest.fixture(scope="session")
def base_db() -> Path:
    return cached_db(SCALE, applied=False)


@pytest.fixture(scope="session")
def pack_db() -> Path:
    return cached_db(SCALE, applied=True)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per benchmark module: every measured call runs on it."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
