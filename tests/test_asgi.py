"""The ASGI kit (``edgedb_opt.asgi``) called in process, as a server calls it: the request
scope, response headers, errors as JSON, the lifespan, the metrics, and the health check of a
replica that has no tables."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgedb_opt import asgi
from edgedb_opt.asgi import (
    ASGIApp,
    EdgeoptMiddleware,
    Message,
    Receive,
    Scope,
    Send,
    database,
    lifespan,
    metrics_app,
    metrics_response,
)
from edgedb_opt.errors import (
    ConfigError,
    Conflict,
    DriverError,
    EdgeOptError,
    InvalidInput,
    NotFound,
    PoolTimeout,
    UnavailableError,
)
from edgedb_opt.runtime import consistency
from edgedb_opt.runtime.consistency import TOKEN_COOKIE, TOKEN_HEADER, Position
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.health import health
from edgedb_opt.study.models import AnswerRejected
from tests.turso_server import TursoServer


async def call(
    app: ASGIApp, headers: dict[str, str] | None = None, path: str = "/x"
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One GET request through ``app``: status, headers, body."""
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "method": "GET", "path": path,
        "query_string": b"", "headers": raw,
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], [(k.decode(), v.decode()) for k, v in start["headers"]], body


def answering(body: bytes = b"ok", *, before: Callable[[Scope], None] | None = None) -> ASGIApp:
    """An app that runs ``before(scope)`` and answers 200 with ``body``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if before is not None:
            before(scope)
        await send(
            {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"theme=dark")]}
        )  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    return app


def raising(exc: BaseException, *, after_start: bool = False) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc

    return app


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    """Two local regions (iad primary, fra), so a request's country picks one."""
    regions = [
        {"name": "iad", "url": str(tmp_path / "iad.db"), "primary": True},
        {"name": "fra", "url": str(tmp_path / "fra.db")},
    ]
    async with EdgeDatabase.connect(regions=regions, region="iad", must_exist=False) as opened:
        yield opened


@pytest.fixture(autouse=True)
def no_open_databases() -> Iterator[None]:
    assert not asgi._OPEN
    yield
    assert not asgi._OPEN


# -- the request scope and its headers ------------------------------------------------------


async def test_each_request_runs_in_its_scope_and_region(db: EdgeDatabase) -> None:
    seen: list[consistency.RequestScope | None] = []
    app = EdgeoptMiddleware(
        answering(before=lambda s: seen.append(consistency.current_scope())), database=db
    )
    status, headers, body = await call(app, {"CF-IPCountry": "DE"})
    assert (status, body) == (200, b"ok")
    assert seen[0] is not None and seen[0].region == "fra"
    await call(app, {"cf-ipcountry": "US"})
    assert seen[1] is not None and seen[1].region == "iad"
    assert consistency.current_scope() is None  # left when the request ended
    # A read hands out nothing; the app's own headers stay as they were.
    assert headers == [("content-type", "text/plain"), ("set-cookie", "theme=dark")]


async def test_a_write_answers_with_the_token_and_a_stale_read_says_so(db: EdgeDatabase) -> None:
    def write_and_read_stale(scope: Scope) -> None:
        current = consistency.current_scope()
        assert current is not None
        current.wrote(Position("abcdef012345", 7))
        current.served_stale(2.5)

    app = EdgeoptMiddleware(answering(before=write_and_read_stale), database=db)
    _, headers, _ = await call(app)
    cookies = [v for k, v in headers if k == "set-cookie"]
    assert cookies[0] == "theme=dark"  # the app's cookie stays; the token's comes beside it
    assert cookies[1].startswith(f"{TOKEN_COOKIE}=abcdef012345.7;") and "HttpOnly" in cookies[1]
    assert (TOKEN_HEADER, "abcdef012345.7") in headers
    assert ("x-edgeopt-stale-seconds", "2.5") in headers


async def test_the_request_state_holds_the_database(db: EdgeDatabase) -> None:
    found: list[EdgeDatabase] = []
    app = EdgeoptMiddleware(answering(before=lambda s: found.append(database(s))), database=db)
    await call(app)
    assert found == [db]
    lazy = EdgeoptMiddleware(answering(before=lambda s: found.append(s["state"]["edgeopt"])),
                             database=lambda: db)  # fmt: skip
    await call(lazy)
    assert found == [db, db]


async def test_other_scopes_pass_through_untouched(db: EdgeDatabase) -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    for kind in ("lifespan", "websocket"):
        scope: Scope = {"type": kind}
        await EdgeoptMiddleware(app, database=db)(scope, receive, send)
        assert seen[-1] is scope


# -- errors ---------------------------------------------------------------------------------


SECRET = "s3cret-token-value"


@pytest.mark.parametrize(
    ("exc", "status", "field"),
    [
        (InvalidInput("limit must be at least 1, not 0", field="limit"), 422, "limit"),
        (AnswerRejected(2, "selected_answer is too long", attribute="selected_answer"), 422,
         "answers[2].selected_answer"),
        (NotFound("unknown study session 7", what="study session"), 404, None),
        (Conflict("the session is closed"), 409, None),
        (UnavailableError(f"https://db.example/?authToken={SECRET} cannot sync"), 503, None),
        (PoolTimeout(f"no writer of /srv/{SECRET}.db free after 5 s"), 503, None),
        (DriverError(f"UNIQUE failed: INSERT ... VALUES ('{SECRET}')"), 500, None),
        (ConfigError(f"regions.0.url: bad ({SECRET})"), 500, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)  # fmt: skip
async def test_edgeopt_errors_become_json_with_their_status(
    db: EdgeDatabase, exc: EdgeOptError, status: int, field: str | None
) -> None:
    got, headers, body = await call(EdgeoptMiddleware(raising(exc), database=db))
    assert got == status
    assert ("content-type", "application/json") in headers
    payload = json.loads(body)
    assert payload["error"] == type(exc).__name__ and payload["field"] == field
    if status < 500:
        assert payload["message"] == str(exc)  # written for the client: field and why
    else:
        assert SECRET not in body.decode()  # a server error says a fixed sentence only
        assert payload["message"] in ("the database is unavailable; try again", "internal error")


async def test_a_server_error_is_logged_whole(
    db: EdgeDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="edgedb_opt.asgi"):
        await call(EdgeoptMiddleware(raising(DriverError("disk I/O error")), database=db))
    assert "GET /x failed: DriverError: disk I/O error" in caplog.text


async def test_other_exceptions_and_late_errors_are_raised_on(db: EdgeDatabase) -> None:
    with pytest.raises(ValueError, match="a bug"):
        await call(EdgeoptMiddleware(raising(ValueError("a bug")), database=db))
    late = raising(NotFound("gone"), after_start=True)
    with pytest.raises(NotFound):  # the response had started: the server must end it
        await call(EdgeoptMiddleware(late, database=db))


# -- lifespan and database() --------------------------------------------------------------


async def test_lifespan_opens_and_closes_the_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    path.touch()
    app = SimpleNamespace(state=SimpleNamespace())
    async with lifespan(db=str(path), health_interval=None)(app):
        db = app.state.edgeopt
        assert isinstance(db, EdgeDatabase) and not db.closed
        assert database(app) is db and database() is db and database({"app": app}) is db
        assert database(SimpleNamespace(scope={"state": {"edgeopt": db}})) is db
    assert db.closed and not hasattr(app.state, "edgeopt")
    with pytest.raises(ConfigError, match="no EdgeDatabase is open"):
        database()


async def test_lifespan_refuses_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(DriverError, match="does not exist"):
        async with lifespan(db=str(missing))(SimpleNamespace()):
            pass
    assert not list(tmp_path.iterdir())


# -- metrics --------------------------------------------------------------------------------


async def test_metrics_are_one_prometheus_text(db: EdgeDatabase) -> None:
    await db.execute("CREATE TABLE t (v)")
    assert db.cache is not None

    async def load() -> int:
        return 1

    for _ in range(3):
        await db.cache.get_or_load(("k",), load)
    body, content_type = metrics_response(db)
    assert content_type.startswith("text/plain")
    found = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert found["edgeopt_cache_hits"].samples[0].value == 2
    assert found["edgeopt_cache_misses"].samples[0].value == 1
    assert found["edgeopt_cache_hit_rate"].samples[0].value == pytest.approx(2 / 3)
    assert {s.labels["pool"] for s in found["edgeopt_pool_in_use"].samples} == {"iad", "fra"}
    assert any(s.value for s in found["edgeopt_statement_seconds"].samples)
    assert found["edgeopt_replica_lag_seconds"].samples == []  # local files: no replicas
    status, headers, served = await call(metrics_app(db))
    assert status == 200 and served.startswith(b"# HELP")
    assert ("content-type", content_type) in headers


# -- a replica without tables ---------------------------------------------------------------


async def test_an_empty_replica_is_named_at_startup_and_in_health(
    turso_server: TursoServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = SimpleNamespace(state=SimpleNamespace())
    opening = lifespan(
        db=turso_server.url, replica=str(tmp_path / "replica.db"), sync_interval=30,
        health_interval=None,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="edgedb_opt.asgi"):
        async with opening(app):
            report = await health(app.state.edgeopt, deep=False)
    assert "the replicas of local have no tables" in caplog.text
    (check,) = [c for c in report.checks if c.name == "replica:local"]
    assert check.level == "warn"  # every region is empty: nothing seeded yet
    assert check.detail.startswith("replica of local has no tables")
    assert report.healthy
    # Beside a region that holds tables, the empty replica fails the health check.
    filled = tmp_path / "iad.db"
    sqlite3.connect(filled).execute("CREATE TABLE t (v)").connection.close()
    regions = [
        {"name": "iad", "url": str(filled), "primary": True},
        {"name": "fra", "url": turso_server.url, "replica_path": str(tmp_path / "fra.db"),
         "sync_interval": 30},
    ]  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgedb_opt.asgi"):
        async with lifespan(regions=regions, region="iad", health_interval=None)(app):
            report = await health(app.state.edgeopt, deep=False)
    assert "the replicas of fra have no tables" in caplog.text
    (check,) = [c for c in report.checks if c.name.startswith("replica:")]
    assert (check.name, check.level) == ("replica:fra", "fail") and not report.healthy
    assert check.detail.endswith("(regions with tables: iad)")
