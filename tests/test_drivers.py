"""One contract for every driver: the same calls behave the same on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgedb_opt.drivers import open_driver
from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import DriverError
from tests.turso_server import TursoServer


@pytest.fixture(params=["sqlite", "turso", "replica", "libsql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Driver]:
    url = str(tmp_path / "c.db") if request.param == "sqlite" else f"turso:{tmp_path / 'c.db'}"
    server: TursoServer | None = None
    if request.param == "replica":  # a replica of a real tursodb server, synced as it runs
        server = request.getfixturevalue("turso_server")
        url = server.url
    if request.param == "libsql":  # libsql-client's own file: mode, forced on a plain path
        url = str(tmp_path / "c.db")
    driver = "libsql" if request.param == "libsql" else None
    db = await open_driver(url, replica=tmp_path / "replica.db", driver=driver)
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield db
    if server is not None and not getattr(db, "closed", True):
        local = [list(r) for r in await db.fetch_all("SELECT id, v FROM t ORDER BY id")]
        await db.close()  # pushes what is still local
        assert server.pipeline("SELECT id, v FROM t ORDER BY id") == local
    await db.close()


async def test_execute_counts_and_fetch_all(backend: Driver) -> None:
    assert await backend.execute("INSERT INTO t (v) VALUES (?), (?)", ("a", "b")) == 2
    assert await backend.fetch_all("SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b")]
    assert await backend.execute("UPDATE t SET v = 'z' WHERE id > ?", (0,)) == 2


async def test_executemany_and_execute_each_in_one_transaction(backend: Driver) -> None:
    async with backend.transaction():
        await backend.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",)])
        await backend.execute_each(
            [
                ("INSERT INTO t (v) VALUES (?)", ("c",)),
                ("UPDATE t SET v = upper(v) WHERE v = ?", ("a",)),
            ]
        )
    assert await backend.fetch_all("SELECT v FROM t ORDER BY id") == [("A",), ("b",), ("c",)]


async def test_a_failing_statement_rolls_the_transaction_back(backend: Driver) -> None:
    with pytest.raises(DriverError, match="NOT NULL"):
        async with backend.transaction():
            await backend.execute("INSERT INTO t (v) VALUES ('kept?')")
            await backend.execute_each([("INSERT INTO t (v) VALUES (?)", (None,))])
    assert await backend.fetch_all("SELECT count(*) FROM t") == [(0,)]


async def test_batch_is_atomic(backend: Driver) -> None:
    counts = await backend.batch(
        [("INSERT INTO t (v) VALUES ('x')", ()), ("UPDATE t SET v = 'y'", ())]
    )
    assert counts == [1, 1]
    with pytest.raises(DriverError):
        await backend.batch(
            [("INSERT INTO t (v) VALUES ('x')", ()), ("INSERT INTO nope VALUES (1)", ())]
        )
    assert await backend.fetch_all("SELECT v FROM t") == [("y",)]


async def test_no_nested_transactions_and_closed_driver(backend: Driver) -> None:
    async with backend.transaction():
        with pytest.raises(DriverError, match="no nesting"):
            async with backend.transaction():
                pass
    await backend.close()
    with pytest.raises(DriverError, match="closed"):
        await backend.fetch_all("SELECT 1")
