"""The example app (``examples/fastapi_app.py``) under a real uvicorn process, driven over HTTP:
on a local SQLite file, on a missing file, and on two regions of embedded replicas of one real
``tursodb`` server."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.runtime.consistency import TOKEN_COOKIE, TOKEN_HEADER
from tests.conftest import REPO, apply_pack, query
from tests.turso_server import TursoServer, free_port

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

US = {"cf-ipcountry": "US"}
DE = {"cf-ipcountry": "DE"}


class StartupFailed(Exception):
    """The app exited before it answered."""


@dataclass
class App:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs: Any) -> Any:
        return httpx.get(self.url + path, timeout=15, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return httpx.post(self.url + path, timeout=15, **kwargs)


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEOPT_")}
    return {**env, **settings}


@contextmanager
def serve(settings: dict[str, str], log_path: Path, *, within: float = 30.0) -> Iterator[App]:
    """``uvicorn examples.fastapi_app:app`` on a free loopback port with ``settings`` as its
    environment; ready once it answers, always stopped on the way out."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=_env(settings), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    app = App(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        deadline = time.monotonic() + within
        while True:
            if proc.poll() is not None:
                raise StartupFailed(f"exit {proc.returncode}: {app.log()[-3000:]}")
            try:
                if httpx.get(app.url + "/openapi.json", timeout=1).status_code == 200:
                    break  # a route that touches no database: nothing pulled, nothing cached
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer within {within} s: {app.log()}")
            time.sleep(0.05)
        yield app
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def families(text: str) -> dict[str, Any]:
    """The metric families of a Prometheus text (parsed by prometheus-client: the text is
    valid exposition format)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def correct_key(db: Path, question: int) -> str:
    options = json.loads(
        str(query(db, "SELECT answers FROM questions WHERE id = ?", (question,))[0][0])
    )
    return ",".join(o["key"] for o in options if o.get("correct"))


# -- a local SQLite file ---------------------------------------------------------------------


@dataclass
class LocalApp:
    app: App
    db: Path


@pytest.fixture(scope="module")
def local_app(
    seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalApp]:
    """The app on a copy of the tiny seeded database with the study pack applied (one server
    for the module: each test uses users of its own)."""
    folder = tmp_path_factory.mktemp("app")
    path = folder / "study.db"
    shutil.copyfile(seeded_template, path)
    asyncio.run(apply_pack(path))
    with serve({"EDGEOPT_DB": str(path)}, folder / "uvicorn.log") as app:
        yield LocalApp(app, path)


def test_a_pick_never_carries_the_answer_key(local_app: LocalApp) -> None:
    r = local_app.app.get("/questions", params={"user_id": 5, "exam_id": 1, "limit": 20})
    assert r.status_code == 200, r.text
    picks = r.json()
    assert len(picks) == 20 and all(q["exam_id"] == 1 for q in picks)
    assert "correct" not in r.text  # no option says which one is right
    assert all(json.loads(q["answers"]) for q in picks)  # the options themselves are there
    assert "set-cookie" not in r.headers


def test_an_answer_is_graded_and_leaves_the_next_pick(local_app: LocalApp) -> None:
    app, user = local_app.app, 7
    picks = app.get(
        "/questions", params={"user_id": user, "exam_id": 1, "limit": 5, "mode": "speed_drill"}
    ).json()
    first, second = picks[0]["id"], picks[1]["id"]
    right = correct_key(local_app.db, first)
    keys = [o["key"] for o in json.loads(picks[1]["answers"])]
    wrong = next(k for k in keys if k != correct_key(local_app.db, second))
    answers = [
        {"user_id": user, "question_id": q, "selected_answer": key, "client_answer_id": cid}
        for q, key, cid in ((first, right, "a-1"), (second, wrong, "a-2"))
    ]
    r = app.post("/answers", json=answers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["inserted"] == 2 and result["graded"] == {"a-1": True, "a-2": False}
    # A local file has no replicas: no positions, so no token to hand out.
    assert "set-cookie" not in r.headers and TOKEN_HEADER not in r.headers
    again = app.post("/answers", json=answers).json()  # a retry: idempotent
    assert again["inserted"] == 0 and again["duplicate_ids"] == ["a-1", "a-2"]
    after = app.get(
        "/questions", params={"user_id": user, "exam_id": 1, "limit": 5, "mode": "speed_drill"}
    ).json()
    assert first not in {q["id"] for q in after} and second not in {q["id"] for q in after}
    progress = app.get(f"/progress/{user}/1").json()
    assert progress["user_id"] == user and progress["answers_last_7_days"] >= 2


def test_bad_input_is_a_422_naming_the_field(local_app: LocalApp) -> None:
    app = local_app.app
    for limit in (0, 1000):
        r = app.get("/questions", params={"user_id": 5, "exam_id": 1, "limit": limit})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "InvalidInput" and r.json()["field"] == "limit"
    bad = [
        {"user_id": 9, "question_id": 1, "selected_answer": "A", "client_answer_id": "b-1"},
        {"user_id": 9, "question_id": 1, "selected_answer": "Z", "client_answer_id": "b-2"},
    ]
    r = app.post("/answers", json=bad)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "AnswerRejected" and body["field"] == "answers[1].selected_answer"
    assert "item 1" in body["message"]
    stored = query(
        local_app.db, "SELECT count(*) FROM user_answers WHERE client_answer_id LIKE 'b-%'"
    )
    assert stored == [(0,)]  # nothing of the batch was written
    r = app.post("/answers", json={"user_id": 9})
    assert r.status_code == 422 and r.json()["field"] == "answers"
    r = app.get("/leaderboard/1", params={"limit": 0})
    assert r.status_code == 422 and r.json()["field"] == "limit"


def test_an_unknown_session_is_a_404(local_app: LocalApp) -> None:
    r = local_app.app.post("/sessions/999999/progress")
    assert r.status_code == 404, r.text
    assert r.json() == {
        "error": "NotFound", "message": "unknown study session 999999", "field": None,
    }  # fmt: skip
    (session,) = query(local_app.db, "SELECT min(id) FROM study_sessions")[0]
    r = local_app.app.post(f"/sessions/{session}/progress")
    assert r.status_code == 200 and r.json()["session_id"] == session


def test_leaderboard_and_health(local_app: LocalApp) -> None:
    board = local_app.app.get("/leaderboard/1", params={"limit": 3}).json()
    assert [row["rank"] for row in board] == sorted(row["rank"] for row in board)
    assert 0 < len(board) <= 3
    names = {}
    for full in ("false", "true"):
        r = local_app.app.get("/healthz", params={"full": full})
        assert r.status_code == 200 and r.json()["healthy"] is True, r.text
        names[full] = {c["name"] for c in r.json()["checks"]}
    assert names["false"] == {"region:local", "pool:local", "cache"}  # cheap: for a probe
    assert names["true"] >= names["false"] | {"pragmas", "index_use", "fts_integrity"}


def test_metrics_cover_statements_cache_and_pools(local_app: LocalApp) -> None:
    app = local_app.app
    for _ in range(2):  # the second read of the board is a cache hit
        app.get("/leaderboard/2", params={"limit": 5})
    r = app.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found = families(r.text)
    for name in (
        "edgeopt_statement_seconds", "edgeopt_statement_info", "edgeopt_cache_hits",
        "edgeopt_cache_misses", "edgeopt_cache_hit_rate", "edgeopt_cache_size",
        "edgeopt_cache_stale_refused", "edgeopt_pool_in_use", "edgeopt_pool_size",
        "edgeopt_writer_queue",
    ):  # fmt: skip
        assert name in found, name
    hits = found["edgeopt_cache_hits"].samples[0].value
    assert hits >= 1 and found["edgeopt_cache_size"].samples[0].value >= 1
    assert [s.labels for s in found["edgeopt_pool_in_use"].samples] == [{"pool": "local"}]
    assert not found["edgeopt_replica_lag_seconds"].samples  # no replicas here
    assert sum(s.value for s in found["edgeopt_statement_seconds"].samples
               if s.name.endswith("_count")) > 0  # fmt: skip


def test_a_missing_database_file_stops_the_app(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.db"
    with (
        pytest.raises(StartupFailed) as failed,
        serve({"EDGEOPT_DB": str(missing)}, tmp_path / "log"),
    ):
        pass
    assert "exit 0" not in str(failed.value)
    assert f"database {missing} does not exist" in str(failed.value)
    assert not missing.exists()
    assert not list(tmp_path.glob("no-such.db*"))  # no -wal or -shm either


# -- two regions of embedded replicas --------------------------------------------------------


def test_two_regions_of_replicas_keep_read_your_writes_across_requests(
    study_server: TursoServer, tmp_path: Path
) -> None:
    regions = [
        {
            "name": name,
            "url": study_server.url,
            "primary": name == "iad",
            "replica_path": str(tmp_path / f"replica-{name}.db"),
            "sync_interval": 30,  # slow: fra lags unless a request makes it pull
        }
        for name in ("iad", "fra")
    ]
    env = {"EDGEOPT_REGIONS": json.dumps(regions), "EDGEOPT_REGION": "iad"}
    with serve(env, tmp_path / "uvicorn.log") as app:
        user = 11
        drill = {"user_id": user, "exam_id": 1, "limit": 5, "mode": "speed_drill"}
        first = app.get("/questions", params=drill, headers=DE).json()[0]["id"]
        answer = {"user_id": user, "question_id": first, "selected_answer": "A",
                  "client_answer_id": "fra-user-1"}  # fmt: skip
        r = app.post("/answers", json=[answer], headers=US)
        assert r.status_code == 200 and r.json()["inserted"] == 1, r.text
        token = r.headers[TOKEN_HEADER]
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{TOKEN_COOKIE}={token};") and "HttpOnly" in cookie
        # Without the token, fra's replica has not pulled the answer yet: it offers it again
        # (this is the lag the token is for).
        stale = app.get("/questions", params=drill, headers=DE).json()
        assert stale[0]["id"] == first
        # The same user's next request, with the cookie: never offered again.
        fresh = app.get(
            "/questions", params=drill, headers={**DE, "cookie": f"{TOKEN_COOKIE}={token}"}
        )
        assert fresh.status_code == 200, fresh.text
        assert first not in {q["id"] for q in fresh.json()}
        assert "set-cookie" not in fresh.headers  # a read hands out no new token
        found = families(app.get("/metrics").text)
        lag = {s.labels["region"]: s.value for s in found["edgeopt_replica_lag_seconds"].samples}
        assert set(lag) == {"iad", "fra"}
        assert all(v >= 0 and not math.isnan(v) for v in lag.values()), lag
        assert found["edgeopt_cache_stale_refused"].samples[0].value >= 1, found
        assert {s.labels["pool"] for s in found["edgeopt_pool_in_use"].samples} == {"iad", "fra"}
