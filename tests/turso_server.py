"""A real ``tursodb --sync-server`` process for tests, on a free loopback port.

``make tools`` installs the pinned binary into ``.tools/``; ``$EDGEOPT_TURSODB`` overrides where
it is. Outside CI a missing binary skips the Turso server tests with the reason; in CI
(``CI=true``) it fails them, so the suite can never go green without having run them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = (
    REPO / ".tools" / "node_modules" / "@tursodatabase" / "cli-linux-x64-gnu" / "tursodb"
)


def find_tursodb() -> Path | None:
    """The ``tursodb`` binary: ``$EDGEOPT_TURSODB``, then ``.tools/``, then ``$PATH``."""
    env = os.environ.get("EDGEOPT_TURSODB")
    for candidate in (env, str(DEFAULT_BINARY), shutil.which("tursodb")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def require_tursodb() -> Path:
    """The binary, or skip (fail under ``CI=true``) naming how to install it."""
    binary = find_tursodb()
    if binary is None:
        reason = "tursodb not installed: run `make tools` (or set EDGEOPT_TURSODB)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run the Turso server tests", pytrace=False)
        pytest.skip(reason)
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TursoServer:
    """One ``tursodb --sync-server`` process serving the database file ``path``.

    ``kill()`` sends SIGKILL (a crash); ``start()`` again reuses the same file and port.
    """

    def __init__(self, binary: Path, path: Path, *, port: int | None = None) -> None:
        self.binary = binary
        self.path = path
        self.port = port or free_port()
        self.log_path = path.with_suffix(".log")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, timeout: float = 15.0) -> None:
        """Start the process and wait until it answers HTTP."""
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(self.binary), "--sync-server", f"127.0.0.1:{self.port}", str(self.path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tursodb exited with {self._proc.returncode}: {self.log()}")
            if self._answers():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"tursodb did not answer on port {self.port} within {timeout} s")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer (it serves 404 on /) means it is up
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaps the process."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would; the file keeps whatever the server had made durable."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def pipeline(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[list[Any]]:
        """Run one statement on the server over ``/v2/pipeline`` (one HTTP round trip).

        Returns the rows with values decoded from the Hrana JSON encoding.
        """
        stmt = {"sql": sql, "args": [_encode(a) for a in args]}
        body = json.dumps({"requests": [{"type": "execute", "stmt": stmt}]}).encode()
        request = urllib.request.Request(
            f"{self.url}/v2/pipeline",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            payload = json.loads(resp.read())
        result = payload["results"][0]
        if result["type"] != "ok":
            raise RuntimeError(f"server refused {sql!r}: {result}")
        rows = result["response"]["result"]["rows"]
        return [[_decode(v) for v in row] for row in rows]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""


def _encode(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool | int):
        return {"type": "integer", "value": str(int(value))}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    return {"type": "text", "value": str(value)}


def _decode(value: dict[str, Any]) -> Any:
    kind = value["type"]
    if kind == "null":
        return None
    if kind == "integer":
        return int(value["value"])
    if kind == "float":
        return float(value["value"])
    return value["value"]


def running(path: Path) -> Iterator[TursoServer]:
    """A server on the database file ``path``, stopped afterwards even when the test fails."""
    server = TursoServer(require_tursodb(), path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def turso_server(tmp_path: Path) -> Iterator[TursoServer]:
    """A fresh server on its own file and port."""
    yield from running(tmp_path / "server.db")


async def _seed_through_replica(server: TursoServer, replica: Path) -> None:
    """The tiny study data and the study pack, written through a replica and pushed: a
    server serves what reached it through the sync protocol, not a file seeded beside it."""
    from edgedb_opt.datagen import seed_database
    from edgedb_opt.drivers.turso_driver import TursoReplicaDriver
    from edgedb_opt.migrate import Migrator, load_pack
    from edgedb_opt.schema import init_schema
    from tests.conftest import ANCHOR

    db = await TursoReplicaDriver.open(server.url, replica=replica, sync_interval=None)
    try:
        await init_schema(db)
        await seed_database(db, scale="tiny", anchor=ANCHOR)
        await Migrator(db, [load_pack("study")]).apply()
        await db.push()
    finally:
        await db.close()


@pytest.fixture(scope="session")
def study_server_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A stopped server's files holding the tiny study database with the pack (built once)."""
    import asyncio

    folder = tmp_path_factory.mktemp("study-server")
    server = TursoServer(require_tursodb(), folder / "server.db")
    server.start()
    try:
        asyncio.run(_seed_through_replica(server, folder / "seeding-replica.db"))
    finally:
        server.stop()
    return [p for p in (folder / "server.db", folder / "server.db-wal") if p.exists()]


@pytest.fixture
def study_server(study_server_files: list[Path], tmp_path: Path) -> Iterator[TursoServer]:
    """A running server on a private copy of the seeded study database."""
    for f in study_server_files:
        shutil.copyfile(f, tmp_path / f.name)
    yield from running(tmp_path / "server.db")
