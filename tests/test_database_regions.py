"""EdgeDatabase over embedded replicas of real ``tursodb`` servers: two regions, each syncing
with its own server; one server dies, reads fail over to the other region, then come back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.regions import load_settings
from tests.conftest import eventually
from tests.turso_server import TursoServer, require_tursodb


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[dict[str, TursoServer]]:
    """Servers for regions ``iad`` (primary) and ``lhr``: one table whose row names the
    server, so every read shows which region answered it."""
    binary = require_tursodb()
    servers: dict[str, TursoServer] = {}
    try:
        for name in ("iad", "lhr"):
            server = TursoServer(binary, tmp_path / f"server-{name}.db")
            server.start()
            server.pipeline("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            server.pipeline("INSERT INTO t (v) VALUES (?)", [name])
            servers[name] = server
        yield servers
    finally:
        for server in servers.values():
            server.stop()


async def test_reads_fail_over_while_a_regions_server_is_down_and_come_back(
    two_servers: dict[str, TursoServer], tmp_path: Path
) -> None:
    settings = load_settings(
        regions=[
            {
                "name": "iad",
                "url": two_servers["iad"].url,
                "primary": True,
                "replica_path": str(tmp_path / "r-iad.db"),
                "sync_interval": 0.1,
            },
            {
                "name": "lhr",
                "url": two_servers["lhr"].url,
                "replica_path": str(tmp_path / "r-lhr.db"),
                "sync_interval": 0.1,
            },
        ],
        region="lhr",
        retry_after=0.1,
        read_your_writes_s=30,
        max_staleness_s=0,  # a replica cut off from its server is refused at once
    )
    async with await EdgeDatabase.connect(settings) as db:
        assert await db.fetch_all("SELECT v FROM t") == [("lhr",)]
        assert all(r.ok for r in await db.check_regions())

        two_servers["lhr"].kill()
        lhr = db.pools["lhr"]

        async def lhr_sync_failing() -> bool:
            async with lhr.reader() as conn:
                return conn.sync_stats().last_error is not None  # type: ignore[attr-defined]

        await eventually(lhr_sync_failing)
        report = {r.region: r for r in await db.check_regions()}
        assert not report["lhr"].ok and report["iad"].ok
        served = await asyncio.create_task(db.fetch_all("SELECT v FROM t"))
        assert served == [("iad",)]  # failed over to the primary's replica
        await asyncio.sleep(0.2)  # past retry_after: lhr's trial read must not pass on
        for _ in range(3):  # a stale replica whose server is still down
            assert await asyncio.create_task(db.fetch_all("SELECT v FROM t")) == [("iad",)]

        two_servers["lhr"].start()

        async def lhr_serves_again() -> bool:
            rows = await asyncio.create_task(db.fetch_all("SELECT v FROM t"))
            return rows == [("lhr",)]

        await eventually(lhr_serves_again)
        assert db.router.is_healthy("lhr")

        # A write goes to the primary; this context then reads it back there
        # (read-your-writes) while lhr, a different database here, never sees it.
        async def write_then_read() -> list[tuple[object, ...]]:
            await db.execute("INSERT INTO t (v) VALUES ('new')")
            return await db.fetch_all("SELECT v FROM t ORDER BY id")

        assert await asyncio.create_task(write_then_read()) == [("iad",), ("new",)]
        assert await asyncio.create_task(db.fetch_all("SELECT v FROM t")) == [("lhr",)]

    # close() pushed the primary's write to its server
    assert two_servers["iad"].pipeline("SELECT v FROM t ORDER BY id") == [["iad"], ["new"]]
