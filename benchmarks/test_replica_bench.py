"""Embedded replica read vs the same query as a round trip to the real ``tursodb`` server.

The replica runs with its background sync on (the default 1 s interval), as in production.
The round trip is one POST to the server's ``/v2/pipeline`` with the stdlib's urllib, what a
remote-only client pays per query. Goal of the runtime issue: the replica read is >= 10x faster.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.drivers.turso_driver import TursoReplicaDriver
from tests.turso_server import TursoServer, require_tursodb

ROWS = 2000
QUERY = "SELECT id, exam_id, body FROM items WHERE id = ?"
GOAL = 10.0
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TursoServer]:
    srv = TursoServer(require_tursodb(), tmp_path_factory.mktemp("srv") / "server.db")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def replica(
    server: TursoServer, loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TursoReplicaDriver]:
    path: Path = tmp_path_factory.mktemp("replica") / "replica.db"

    async def setup() -> TursoReplicaDriver:
        db = await TursoReplicaDriver.open(server.url, replica=path)
        await db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, exam_id INT, body TEXT)")
        await db.executemany(
            "INSERT INTO items VALUES (?, ?, ?)",
            [(i, i % 17, f"item {i} " + "x" * 80) for i in range(1, ROWS + 1)],
        )
        await db.push()
        return db

    db = loop.run_until_complete(setup())
    yield db
    loop.run_until_complete(db.close())


def _ids() -> Iterator[int]:
    return itertools.cycle(range(1, ROWS + 1, 7))


def test_replica_local_read(
    benchmark: Any, loop: asyncio.AbstractEventLoop, replica: TursoReplicaDriver
) -> None:
    ids = _ids()

    def read() -> list[tuple[Any, ...]]:
        return loop.run_until_complete(replica.fetch_all(QUERY, (next(ids),)))

    benchmark.group = "replica-vs-server"
    rows = benchmark.pedantic(read, rounds=2000, iterations=1, warmup_rounds=20)
    assert len(rows) == 1
    MEDIANS["replica"] = benchmark.stats.stats.median


def test_server_round_trip(benchmark: Any, server: TursoServer) -> None:
    ids = _ids()
    benchmark.group = "replica-vs-server"
    rows = benchmark.pedantic(
        lambda: server.pipeline(QUERY, (next(ids),)), rounds=300, iterations=1, warmup_rounds=5
    )
    assert len(rows) == 1
    MEDIANS["server"] = benchmark.stats.stats.median


def test_zz_replica_speedup(
    loop: asyncio.AbstractEventLoop, replica: TursoReplicaDriver, server: TursoServer
) -> None:
    """Same rows both ways, and the replica read is at least GOAL times faster (medians)."""
    local = loop.run_until_complete(replica.fetch_all(QUERY, (42,)))
    assert [list(r) for r in local] == server.pipeline(QUERY, (42,))
    if set(MEDIANS) != {"replica", "server"}:
        pytest.skip("run with both benchmarks (not --benchmark-disable)")
    speedup = MEDIANS["server"] / MEDIANS["replica"]
    stats = replica.sync_stats()
    print(
        f"\nreplica read {MEDIANS['replica'] * 1e6:.0f} us, server round trip "
        f"{MEDIANS['server'] * 1e6:.0f} us: {speedup:.1f}x (goal {GOAL:g}x); "
        f"background syncs {stats.syncs}, errors {stats.sync_errors}"
    )
    assert speedup >= GOAL
