"""The libsql-client adapter through libsql-client's own ``file:`` mode, plus its failure paths.

No sqld server runs here: the Hrana transport is exercised only up to "cannot connect" and
"connected but silent" (real local sockets), never against a server that answers.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgedb_opt.drivers import open_driver
from edgedb_opt.drivers.libsql_driver import LibsqlDriver
from edgedb_opt.drivers.sqlite_driver import sqlite_capabilities
from edgedb_opt.errors import DriverError
from edgedb_opt.migrate import Migrator, load_pack
from tests.conftest import APPLIED_ON_SQLITE, SKIPPED_ON_SQLITE, edgeopt, master, query
from tests.turso_server import free_port


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A real TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_apply_then_rollback_all_through_libsql_restores_sqlite_master(
    seeded_db: Path,
) -> None:
    before = master(seeded_db)
    db = await open_driver(str(seeded_db), driver="libsql", must_exist=True)
    try:
        assert isinstance(db, LibsqlDriver)
        migrator = Migrator(db, [load_pack("study")])
        applied = await migrator.apply()
        assert applied and [r.id for r in applied if r.action == "applied"] == list(
            APPLIED_ON_SQLITE
        )
        during = master(seeded_db)
        assert len(during) > len(before) + 20  # the pack's indexes, FTS table, triggers
        assert any(r[1] == "questions_fts" for r in during)  # fts5 comes from sqlite3 below
        states = {s.id: s.state for s in await migrator.status()}
        assert {i for i, st in states.items() if st != "applied"} == SKIPPED_ON_SQLITE
        undone = await migrator.rollback(all=True)
        assert [r.id for r in undone] == [r.id for r in reversed(applied)]
    finally:
        await db.close()
    assert master(seeded_db) == before
    assert query(seeded_db, "SELECT count(*) FROM _edgeopt_migrations") == [(0,)]
    assert query(seeded_db, "PRAGMA integrity_check") == [("ok",)]


def _engine_free(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{**r, "reason": None} if r["state"] == "skipped" else r for r in rows]


async def test_status_through_libsql_matches_the_cli(seeded_db: Path) -> None:
    db = await LibsqlDriver.open(str(seeded_db), must_exist=True)
    try:
        migrator = Migrator(db, [load_pack("study")])
        await migrator.apply(step=[(await migrator.pending())[0].id])
        ours = [r.as_dict() for r in await migrator.status()]
    finally:
        await db.close()
    # The same file read by the CLI, through sqlite and through the forced libsql driver:
    # the same steps, states and timestamps.
    for forced in ((), ("--driver", "libsql")):
        proc = edgeopt("status", "--db", str(seeded_db), "--json", *forced)
        assert proc.returncode == 0, proc.stderr
        theirs = json.loads(proc.stdout)["steps"]
        # A skipped step's reason names the engine that skips it (sqlite or libsql).
        skipped = {r["id"]: r["reason"] for r in theirs if r["state"] == "skipped"}
        assert set(skipped) == SKIPPED_ON_SQLITE and all("has" in why for why in skipped.values())
        assert _engine_free(json.loads(json.dumps(ours, default=str))) == _engine_free(theirs)
    assert [s["state"] for s in ours].count("applied") == 1


def test_cli_apply_and_rollback_through_the_libsql_driver(seeded_db: Path) -> None:
    before = master(seeded_db)
    applied = edgeopt("apply", "--db", str(seeded_db), "--driver", "libsql", "--json")
    assert applied.returncode == 0, applied.stderr
    steps = json.loads(applied.stdout)["steps"]
    assert [s["id"] for s in steps if s["action"] == "applied"] == list(APPLIED_ON_SQLITE)
    assert master(seeded_db) != before
    undone = edgeopt("rollback", "--all", "--db", str(seeded_db), "--driver", "libsql")
    assert undone.returncode == 0, undone.stderr
    assert master(seeded_db) == before


async def test_file_mode_capabilities_are_those_of_sqlite3(tmp_path: Path) -> None:
    async with await LibsqlDriver.open(str(tmp_path / "c.db")) as db:
        assert db.capabilities == sqlite_capabilities()
        assert db.name == "libsql"
        assert db.target == f"libsql:file:{(tmp_path / 'c.db').absolute()}"
        assert master(tmp_path / "c.db") == []  # the probe ran elsewhere: nothing left behind


@pytest.mark.parametrize(("mode", "locked"), [("IMMEDIATE", True), ("DEFERRED", False)])
async def test_transaction_mode_reaches_sqlite(tmp_path: Path, mode: str, locked: bool) -> None:
    # libsql-client itself only sends a deferred BEGIN; IMMEDIATE must hold the write lock
    # before the first statement, or Migrator's "lock, then re-read the ledger" is not true.
    path = tmp_path / "c.db"
    async with await LibsqlDriver.open(str(path)) as db:
        await db.execute("CREATE TABLE t (v INTEGER)")
        async with db.transaction(mode):  # type: ignore[arg-type]
            assert db.in_transaction
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                if locked:
                    with pytest.raises(sqlite3.OperationalError, match="locked"):
                        other.execute("BEGIN IMMEDIATE")
                else:
                    other.execute("BEGIN IMMEDIATE")
                    other.execute("ROLLBACK")
            finally:
                other.close()
            await db.execute("INSERT INTO t VALUES (1)")
        assert not db.in_transaction
        assert query(path, "SELECT v FROM t") == [(1,)]


async def test_named_params_and_rows(tmp_path: Path) -> None:
    async with await LibsqlDriver.open(str(tmp_path / "c.db")) as db:
        assert await db.fetch_all("SELECT :a + :b, 'x'", {"a": 1, "b": 2}) == [(3, "x")]
        await db.execute("CREATE TABLE t (v BLOB)")
        await db.executemany("INSERT INTO t VALUES (?)", [(b"\x00\x01",), (None,)])
        assert await db.fetch_all("SELECT v FROM t ORDER BY rowid") == [(b"\x00\x01",), (None,)]


async def test_unreachable_server_is_a_one_line_driver_error() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/?authToken=s3cret-token"
    with pytest.raises(DriverError) as info:
        await open_driver(url, auth_token="another-s3cret")
    message = str(info.value)
    assert "\n" not in message and "cannot reach" in message
    assert "s3cret" not in message and f"ws://127.0.0.1:{port}/:" in message


async def test_a_silent_server_times_out_instead_of_hanging(silent_server: int) -> None:
    with pytest.raises(DriverError, match=r"did not answer within 0\.3 s"):
        await LibsqlDriver.open(f"ws://127.0.0.1:{silent_server}", connect_timeout=0.3)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("ws://127.0.0.1:1/?color=red", "Unknown URL query parameter"),
        ("wss://127.0.0.1:1/?tls=0", "cannot opt out of TLS"),
        ("http://127.0.0.1:1/", "HTTP transport"),
        ("gopher://x", "takes ws"),
    ],
)
async def test_bad_urls_are_one_line_driver_errors(where: str, expected: str) -> None:
    with pytest.raises(DriverError, match=expected) as info:
        await LibsqlDriver.open(where)
    assert "\n" not in str(info.value)


async def test_bad_files_are_driver_errors(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="does not exist"):
        await LibsqlDriver.open(str(tmp_path / "missing.db"), must_exist=True)
    not_db = tmp_path / "notes.txt"
    not_db.write_text("this is not a database, " * 100)
    with pytest.raises(DriverError, match=r"cannot use .* not a database"):
        await LibsqlDriver.open(str(not_db))


def test_cli_status_on_an_unreachable_server_fails_in_one_line() -> None:
    proc = edgeopt("status", "--db", f"ws://127.0.0.1:{free_port()}", timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeopt: error: cannot reach ws://")


async def test_collected_open_driver_warns(tmp_path: Path) -> None:
    db = await LibsqlDriver.open(str(tmp_path / "c.db"))
    with pytest.warns(ResourceWarning, match="never closed"):
        del db
        gc.collect()


async def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    db = await LibsqlDriver.open(str(tmp_path / "c.db"))
    await db.close()
    await db.close()
    assert db.closed
    with pytest.raises(DriverError, match="closed"):
        await db.execute("SELECT 1")
    with pytest.raises(DriverError, match="closed"):
        async with db.transaction():
            pass
