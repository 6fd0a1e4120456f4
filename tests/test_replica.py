"""Embedded replicas against a real ``tursodb --sync-server``: two regions, faults, migrations."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
from pathlib import Path

import pytest

from edgedb_opt.drivers import open_driver
from edgedb_opt.drivers.turso_driver import TursoReplicaDriver
from edgedb_opt.errors import DriverError
from edgedb_opt.migrate import load_pack
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.regions import load_settings
from tests.conftest import edgeopt, eventually
from tests.turso_server import TursoServer, require_tursodb

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL)"
#: No background sync: the test drives every push and pull itself.
MANUAL = None


async def replica(server: TursoServer, path: Path, **kw: float | None) -> TursoReplicaDriver:
    return await TursoReplicaDriver.open(server.url, replica=path, **kw)


async def test_two_regions_read_your_writes_and_see_each_other_after_sync(
    turso_server: TursoServer, tmp_path: Path
) -> None:
    east = await replica(turso_server, tmp_path / "east.db", sync_interval=MANUAL)
    west = await replica(turso_server, tmp_path / "west.db", sync_interval=MANUAL)
    try:
        await east.execute(NOTES)
        assert await east.execute("INSERT INTO notes VALUES (1, 'east', 'first')") == 1
        # Read-your-writes: visible in the writing region before any push.
        assert await east.fetch_all("SELECT * FROM notes") == [(1, "east", "first")]
        assert await east.pending_changes() > 0
        assert await west.fetch_all("SELECT name FROM sqlite_master WHERE name = 'notes'") == []

        await east.push()
        assert east.sync_stats().pending_changes == 0
        assert turso_server.pipeline("SELECT id, body FROM notes") == [[1, "first"]]
        assert await west.pull() is True
        assert await west.fetch_all("SELECT * FROM notes") == [(1, "east", "first")]

        # A pull keeps the puller's own unpushed write on top of the server's changes.
        await west.execute("INSERT INTO notes VALUES (2, 'west', 'mine')")
        await east.execute("INSERT INTO notes VALUES (3, 'east', 'theirs')")
        await east.push()
        assert await west.pull() is True
        assert [r[0] for r in await west.fetch_all("SELECT id FROM notes ORDER BY id")] == [1, 2, 3]

        await west.sync()
        assert await east.pull() is True
        everything = [(1, "east", "first"), (2, "west", "mine"), (3, "east", "theirs")]
        assert await east.fetch_all("SELECT * FROM notes ORDER BY id") == everything
        server_rows = turso_server.pipeline("SELECT id, region, body FROM notes ORDER BY id")
        assert [tuple(r) for r in server_rows] == everything
        stats = east.sync_stats()
        assert stats.last_push_at is not None and stats.last_pull_at is not None
        assert (stats.sync_errors, stats.last_error) == (0, None)
    finally:
        await east.close()
        await west.close()


async def test_background_sync_carries_a_write_to_the_other_region(
    turso_server: TursoServer, tmp_path: Path
) -> None:
    east = await replica(turso_server, tmp_path / "east.db", sync_interval=0.05)
    west = await replica(turso_server, tmp_path / "west.db", sync_interval=0.05)
    try:
        await east.execute(NOTES)
        await east.execute("INSERT INTO notes VALUES (7, 'east', 'by itself')")

        async def west_sees_it() -> bool:
            try:
                return await west.fetch_all("SELECT body FROM notes") == [("by itself",)]
            except DriverError:  # the table has not arrived yet
                return False

        await eventually(west_sees_it)
        # pending_changes reaches 0 when the push lands; the cycle (push, then pull) is
        # counted only once the pull after it is done.
        await eventually(
            lambda: _true(east.sync_stats().pending_changes == 0 and east.sync_stats().syncs >= 1)
        )
        stats, seen = east.sync_stats(), west.sync_stats()
        assert stats.syncs >= 1 and stats.last_sync_at is not None and stats.sync_errors == 0
        assert seen.lag_seconds is not None and seen.last_error is None
    finally:
        await east.close()
        await west.close()


async def _true(value: bool) -> bool:
    return value


async def test_sync_failures_are_recorded_never_raised_and_retried(
    turso_server: TursoServer, tmp_path: Path
) -> None:
    db = await replica(turso_server, tmp_path / "r.db", sync_interval=0.05, sync_timeout=5)
    try:
        await db.execute(NOTES)
        await db.push()
        turso_server.kill()
        # The request path never touches the network: the write is acknowledged locally.
        assert await db.execute("INSERT INTO notes VALUES (1, 'east', 'while down')") == 1
        await eventually(lambda: _true(db.sync_stats().sync_errors >= 1))
        stats = db.sync_stats()
        assert stats.last_error is not None and "refused" in stats.last_error
        assert stats.pending_changes >= 1
        assert await db.fetch_all("SELECT body FROM notes") == [("while down",)]
        with pytest.raises(DriverError, match=r"push with http://127\.0\.0\.1"):
            await db.push()

        turso_server.start()  # same file, same port
        await eventually(lambda: _true(db.sync_stats().last_error is None))
        assert db.sync_stats().pending_changes == 0
        assert turso_server.pipeline("SELECT id, body FROM notes") == [[1, "while down"]]
    finally:
        await db.close()


class KillingRelay:
    """A TCP relay in front of the server that SIGKILLs it in the middle of the push that
    carries ``marker``: ``after_commit`` forwards the push and kills the server once it answers
    (committed, never acknowledged); otherwise it kills before the push reaches the server.
    """

    def __init__(self, server: TursoServer, marker: bytes, *, after_commit: bool) -> None:
        self.server, self.marker, self.after_commit = server, marker, after_commit
        self.fired = False
        self._listener: asyncio.Server | None = None

    async def start(self) -> str:
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._listener.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.server.port)
        except OSError:
            client_w.close()
            return
        request = b""
        trigger = False
        try:
            # urllib sends one request per connection: read it whole, then decide.
            head_end = -1
            while head_end < 0 or len(request) < head_end + 4 + _length(request[:head_end]):
                chunk = await client_r.read(65536)
                if not chunk:
                    break
                request += chunk
                head_end = request.find(b"\r\n\r\n")
            trigger = not self.fired and self.marker in request
            if trigger and not self.after_commit:
                self._fire()
                return
            server_w.write(request)
            await server_w.drain()
            first = await server_r.read(65536)
            if trigger:
                assert first.startswith(b"HTTP/1.1 200"), first[:100]
                self._fire()
                return
            client_w.write(first)
            while chunk := await server_r.read(65536):
                client_w.write(chunk)
            await client_w.drain()
        finally:
            server_w.close()
            client_w.close()

    def _fire(self) -> None:
        self.fired = True
        self.server.kill()


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


@pytest.mark.parametrize("after_commit", [False, True], ids=["before-commit", "after-commit"])
async def test_server_killed_mid_push_loses_and_duplicates_nothing(
    turso_server: TursoServer, tmp_path: Path, after_commit: bool
) -> None:
    relay = KillingRelay(turso_server, b"acked-", after_commit=after_commit)
    url = await relay.start()
    db = await TursoReplicaDriver.open(
        url, replica=tmp_path / "r.db", sync_interval=MANUAL, sync_timeout=10
    )
    try:
        await db.execute("CREATE TABLE log (n INTEGER NOT NULL, body TEXT NOT NULL)")
        await db.push()
        acked = [(n, f"acked-{n}") for n in range(200)]
        for start in range(0, len(acked), 50):  # several transactions in one push
            await db.executemany("INSERT INTO log VALUES (?, ?)", acked[start : start + 50])
        with pytest.raises(DriverError, match="push"):
            await db.push()
        assert relay.fired and not turso_server.running
        assert db.sync_stats().sync_errors >= 1

        turso_server.start()
        await db.sync()
        expected = [[n, body] for n, body in acked]
        assert turso_server.pipeline("SELECT n, body FROM log ORDER BY rowid") == expected
        assert await db.pending_changes() == 0
        # A second region that starts now sees each acknowledged write exactly once.
        other = await TursoReplicaDriver.open(url, replica=tmp_path / "other.db")
        try:
            rows = await other.fetch_all(
                "SELECT n, count(*) FROM log GROUP BY n HAVING count(*) > 1"
            )
            assert rows == []
            assert await other.fetch_all("SELECT count(*) FROM log") == [(200,)]
        finally:
            await other.close()
    finally:
        await db.close()
        await relay.close()


def test_edgeopt_apply_through_a_replica_reaches_the_server(
    turso_server: TursoServer, tmp_path: Path
) -> None:
    env = {**os.environ, "EDGEOPT_DB": turso_server.url, "EDGEOPT_REPLICA": str(tmp_path / "a.db")}
    assert edgeopt("init", env=env).returncode == 0
    applied = edgeopt("apply", "--json", env=env)
    assert applied.returncode == 0, applied.stderr
    steps = {s["id"]: s for s in json.loads(applied.stdout)["steps"]}
    fts = {s.id for s in load_pack("study").steps if "fts5" in s.needs}
    assert fts == {"questions_fts", "search_filter"}  # Turso has no FTS5: both skipped
    for step in fts:
        assert steps[step]["action"] == "skipped" and "fts5" in steps[step]["reason"]
    assert all(s["action"] == "applied" for i, s in steps.items() if i not in fts)

    # The server itself now has the indexes and the ledger...
    on_server = turso_server.pipeline("SELECT name FROM sqlite_master WHERE type = 'index'")
    expected = {
        s.sql.split()[2]
        for step in load_pack("study").steps
        if step.id not in fts
        for s in step.up
        if s.sql.upper().startswith("CREATE INDEX")
    }
    assert len(expected) >= 20 and expected <= {r[0] for r in on_server}
    # ...and a fresh replica in another "region" reads the same status from it.
    status = edgeopt("status", "--json", "--replica", str(tmp_path / "b.db"), env=env)
    assert status.returncode == 0, status.stderr
    states = {s["id"]: s["state"] for s in json.loads(status.stdout)["steps"]}
    assert [states.pop(step) for step in sorted(fts)] == ["skipped", "skipped"]
    assert set(states.values()) == {"applied"}


async def test_read_only_replica_refuses_writes_and_pushes_nothing(
    turso_server: TursoServer, tmp_path: Path
) -> None:
    writer = await replica(turso_server, tmp_path / "w.db", sync_interval=MANUAL)
    await writer.execute(NOTES)
    await writer.close()
    ro = await open_driver(turso_server.url, replica=tmp_path / "ro.db", read_only=True)
    assert isinstance(ro, TursoReplicaDriver)
    try:
        assert await ro.fetch_all("SELECT count(*) FROM notes") == [(0,)]
        with pytest.raises(DriverError, match="query_only"):
            await ro.execute("INSERT INTO notes VALUES (1, 'x', 'y')")
        with pytest.raises(DriverError, match="read-only"):
            await ro.push()
        assert await ro.pull() is False
    finally:
        await ro.close()
    assert turso_server.pipeline("SELECT count(*) FROM notes") == [[0]]


async def test_no_sync_inside_a_transaction(turso_server: TursoServer, tmp_path: Path) -> None:
    db = await replica(turso_server, tmp_path / "r.db", sync_interval=MANUAL)
    try:
        await db.execute(NOTES)
        async with db.transaction():
            await db.execute("INSERT INTO notes VALUES (1, 'e', 'in tx')")
            with pytest.raises(DriverError, match="inside a transaction"):
                await db.push()
        await db.push()
        assert turso_server.pipeline("SELECT body FROM notes") == [["in tx"]]
    finally:
        await db.close()


async def test_default_replica_file_lives_in_the_user_cache(
    turso_server: TursoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    db = await open_driver(turso_server.url)
    try:
        assert isinstance(db, TursoReplicaDriver)
        assert db.replica_path.parent == tmp_path / "cache" / "edgeopt" / "replicas"
        assert db.replica_path.is_file()
    finally:
        await db.close()


async def test_a_new_replica_of_an_unreachable_server_fails_cleanly(tmp_path: Path) -> None:
    from tests.turso_server import free_port

    path = tmp_path / "never.db"
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DriverError, match=r"cannot open replica .* Connection refused"):
        await TursoReplicaDriver.open(url, replica=path)
    assert list(tmp_path.iterdir()) == []  # no half-made replica left behind


async def test_a_replica_dropped_open_warns(turso_server: TursoServer, tmp_path: Path) -> None:
    # Its sync loop holds it only weakly, so dropping it still collects it.
    db = await replica(turso_server, tmp_path / "r.db", sync_interval=60)
    with pytest.warns(ResourceWarning, match="never closed"):
        del db
        gc.collect()
    for task in asyncio.all_tasks():
        if task.get_name() == "edgeopt-sync":
            task.cancel()


async def test_a_server_started_on_a_filled_file_says_its_replica_is_empty(
    seeded_db: Path, tmp_path: Path
) -> None:
    # A user seeds app.db with sqlite3, then serves it with tursodb --sync-server: the
    # server serves none of it, and its replicas come up with no tables. Say so, instead of
    # a status where every step is just "pending".
    server = TursoServer(require_tursodb(), tmp_path / "served.db")
    shutil.copyfile(seeded_db, server.path)
    server.start()
    try:
        env = {**os.environ, "EDGEOPT_DB": server.url, "EDGEOPT_REPLICA": str(tmp_path / "r.db")}
        status = edgeopt("status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert "applied" not in {s["state"] for s in report["steps"]}
        assert len(report["warnings"]) == 1 and "holds no tables" in report["warnings"][0]
        assert "warning: the database holds no tables" in status.stderr
        settings = load_settings(db=server.url, replica=tmp_path / "r2.db")
        async with EdgeDatabase.connect(settings) as db:
            assert db.empty_replicas == ["local"]
    finally:
        server.stop()
