"""Benchmark fixtures: a seeded database per scale, built once and cached on disk.

The files come from :func:`edgedb_opt.bench.data.cached_pair`, the same cache ``edgeopt
bench --cache-dir .benchmarks/cache`` reads: ``<scale>-seed42-base.db`` (reference schema
only) and ``-pack.db`` (study pack applied, rebuilt when the pack's checksums change).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgedb_opt.bench.data import cached_pair

CACHE = Path(__file__).resolve().parent.parent / ".benchmarks" / "cache"
SCALE = os.environ.get("EDGEOPT_BENCH_SCALE", "small")


def cached_db(scale: str, *, applied: bool) -> Path:
    """The cached ``-base.db`` (reference schema only) or ``-pack.db`` of a scale."""
    return cached_pair(CACHE, scale, 42)[1 if applied else 0]


@pytest.fixture(scope="session")
def seeded_pair() -> tuple[Path, Path]:
    return cached_pair(CACHE, SCALE, 42)


@pytest.fixture(scope="session")
def base_db(seeded_pair: tuple[Path, Path]) -> Path:
    return seeded_pair[0]


@pytest.fixture(scope="session")
def pack_db(seeded_pair: tuple[Path, Path]) -> Path:
    return seeded_pair[1]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per benchmark module: every measured call runs on it."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
