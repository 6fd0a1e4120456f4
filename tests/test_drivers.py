"""One contract for every driver: the same calls behave the same on each backend."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgedb_opt.drivers import open_driver
from edgedb_opt.drivers.base import Driver, fetch_quick, fetch_then
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import DriverError, InvalidInput
from edgedb_opt.rewrite.cache import RewritingDriver
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.monitor import Monitor, MonitoredDriver
from tests.conftest import eventually
from tests.turso_server import TursoServer

#: Backends that are a driver wrapped by another layer; each must keep the same contract.
WRAPPED = ("monitored", "rewriting", "edgedb", "request_view")


async def _wrapped(kind: str, path: Path) -> tuple[Driver, Driver | None]:
    """(the driver under test, what owns its connections when that is not the driver)."""
    if kind == "monitored":
        return MonitoredDriver(await open_driver(str(path)), Monitor()), None
    if kind == "rewriting":
        return await RewritingDriver.wrap(await open_driver(str(path))), None
    db = await EdgeDatabase.connect(db=str(path), readers=2, must_exist=False)
    if kind == "edgedb":
        return db, None
    return db.for_request({"CF-IPCountry": "US"}), db


@pytest.fixture(params=["sqlite", "turso", "replica", "libsql", *WRAPPED])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Driver]:
    url = str(tmp_path / "c.db") if request.param == "sqlite" else f"turso:{tmp_path / 'c.db'}"
    server: TursoServer | None = None
    owner: Driver | None = None
    if request.param == "replica":  # a replica of a real tursodb server, synced as it runs
        server = request.getfixturevalue("turso_server")
        url = server.url
    if request.param == "libsql":  # libsql-client's own file: mode, forced on a plain path
        url = str(tmp_path / "c.db")
    driver = "libsql" if request.param == "libsql" else None
    if request.param in WRAPPED:
        db, owner = await _wrapped(request.param, tmp_path / "c.db")
    else:
        db = await open_driver(url, replica=tmp_path / "replica.db", driver=driver)
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield db
    if server is not None and not getattr(db, "closed", True):
        local = [list(r) for r in await db.fetch_all("SELECT id, v FROM t ORDER BY id")]
        await db.close()  # pushes what is still local
        assert server.pipeline("SELECT id, v FROM t ORDER BY id") == local
    await db.close()
    if owner is not None:
        assert not owner.closed  # type: ignore[attr-defined]  # a view leaves its pools open
        assert await owner.fetch_all("SELECT count(*) FROM t") != []
        await owner.close()


async def test_execute_counts_and_fetch_all(backend: Driver) -> None:
    assert await backend.execute("INSERT INTO t (v) VALUES (?), (?)", ("a", "b")) == 2
    assert await backend.fetch_all("SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b")]
    assert await backend.execute("UPDATE t SET v = 'z' WHERE id > ?", (0,)) == 2


async def test_an_integer_beyond_64_bits_is_invalid_input_on_every_engine(
    backend: Driver,
) -> None:
    # sqlite3 raised a bare OverflowError (a 500 in an app); the Turso engine stored a float.
    for value in (2**63, -(2**63) - 1, 2**70):
        with pytest.raises(InvalidInput, match="64-bit range") as caught:
            await backend.fetch_all("SELECT ?", (value,))
        assert caught.value.field == "params"
    assert await backend.fetch_all("SELECT ?, ?", (2**63 - 1, -(2**63))) == [(2**63 - 1, -(2**63))]


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


async def test_fetch_then_runs_the_query_made_of_the_first_rows(backend: Driver) -> None:
    await backend.execute("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
    seen: list[list[tuple[object, ...]]] = []

    def then(rows: list[tuple[object, ...]]) -> tuple[str, tuple[object, ...]] | None:
        seen.append(rows)
        return "SELECT v FROM t WHERE id > ? ORDER BY id", (rows[0][0],)

    first, second = await fetch_then(backend, "SELECT min(id) FROM t", (), then)
    assert (first, second, seen) == ([(1,)], [("b",), ("c",)], [[(1,)]])
    assert await fetch_then(backend, "SELECT v FROM t WHERE id = 9", (), lambda rows: None) == (
        [],
        [],
    )
    with pytest.raises(DriverError, match="no such table"):
        await fetch_then(backend, "SELECT 1", (), lambda rows: ("SELECT * FROM nowhere", ()))
    with pytest.raises(ZeroDivisionError):
        await fetch_then(backend, "SELECT 1", (), lambda rows: (str(1 / 0), ()))
    assert await backend.fetch_all("SELECT count(*) FROM t") == [(3,)]  # still usable
    assert await fetch_quick(backend, "SELECT v FROM t WHERE id > ? ORDER BY id", (1,)) == [
        ("b",),
        ("c",),
    ]


async def test_the_sqlite_driver_runs_the_pair_in_one_hop_to_its_thread(tmp_path: Path) -> None:
    """The point of fetch_then there: both statements and ``then`` on the connection's
    thread, so the pair costs one hop, not two."""
    db = await open_driver(str(tmp_path / "hop.db"))
    try:
        threads: list[int] = []

        def then(rows: list[tuple[object, ...]]) -> tuple[str, tuple[object, ...]]:
            threads.append(threading.get_ident())
            return "SELECT ? + 1", (rows[0][0],)

        assert await db.fetch_then("SELECT 41", (), then) == ([(41,)], [(42,)])  # type: ignore[attr-defined]
        assert threads and threads[0] != threading.get_ident()
    finally:
        await db.close()


async def test_a_quick_pair_stays_on_the_loop_only_when_that_is_safe(tmp_path: Path) -> None:
    """quick=True runs the pair on the calling thread on an idle WAL connection outside a
    transaction; in a transaction, on a rollback-journal file, or while a job of a cancelled
    caller still holds the connection on aiosqlite's thread, it takes the hop."""
    wal = await SqliteDriver.open(tmp_path / "wal.db", pragmas={"journal_mode": "WAL"})
    plain = await SqliteDriver.open(tmp_path / "plain.db")
    try:
        where: list[int] = []

        def then(rows: list[tuple[object, ...]]) -> tuple[str, tuple[object, ...]]:
            where.append(threading.get_ident())
            return "SELECT ? * 2", (rows[0][0],)

        here = threading.get_ident()
        assert await wal.fetch_then("SELECT 21", (), then, quick=True) == ([(21,)], [(42,)])
        assert await wal.fetch_then("SELECT 1", (), then) == ([(1,)], [(2,)])
        async with wal.transaction():
            await wal.fetch_then("SELECT 1", (), then, quick=True)
        await plain.fetch_then("SELECT 1", (), then, quick=True)
        assert where[0] == here and all(t != here for t in where[1:]), where

        # A slow statement whose caller is cancelled keeps running on aiosqlite's thread.
        slow = asyncio.ensure_future(
            wal.fetch_all(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < 3000000) SELECT count(*) FROM n"
            )
        )

        async def running() -> bool:  # the job holds the connection on aiosqlite's thread
            return wal._busy.locked()

        await eventually(running)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        where.clear()
        assert await wal.fetch_then("SELECT 5", (), then, quick=True) == ([(5,)], [(10,)])
        assert where and where[0] != here  # waited its turn behind the running job
    finally:
        await wal.close()
        await plain.close()
