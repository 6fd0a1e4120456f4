"""The integration kit for ASGI apps (FastAPI, Starlette, or plain ASGI): open the database
with the app, run each request in its scope, answer edgeopt errors with their HTTP status,
and serve the metrics.

Pure ASGI: nothing here imports a web framework. Three pieces:

- :func:`lifespan` opens one :class:`~edgedb_opt.runtime.database.EdgeDatabase` when the app
  starts and closes it when the app stops (FastAPI's and Starlette's ``lifespan=``). Missing
  database files are refused (``must_exist=True``), so a typo in a path stops the app instead
  of serving an empty new file. The database is reachable as ``app.state.edgeopt`` and through
  :func:`database`.
- :class:`EdgeoptMiddleware` runs every HTTP request inside the request's
  :class:`~edgedb_opt.runtime.consistency.RequestScope` (its region from the country header,
  the read-your-writes token from the cookie or header), adds the scope's response headers
  (the token's ``Set-Cookie`` after a write, ``X-Edgeopt-Stale-Seconds``), and answers an
  :class:`~edgedb_opt.errors.EdgeOptError` that escapes the app with JSON and
  :func:`~edgedb_opt.errors.http_status`.
- :func:`metrics_response` (and the ASGI app :func:`metrics_app`): one Prometheus text of
  statements, cache, pools and replica lag.

The error body is ``{"error": <class name>, "message": ..., "field": ...}``. A client error
(4xx) carries the exception's message, written for clients (it names the field and why); a
server error (5xx) carries a fixed sentence only, because its message may name files, servers
or SQL; the whole error goes to the log (logger ``edgedb_opt.asgi``).

>>> _body(InvalidInput("limit must be at least 1, not 0", field="limit"))
(422, b'{"error": "InvalidInput", "message": "limit must be at least 1, not 0", "field": "limit"}')
>>> from edgedb_opt.errors import UnavailableError
>>> _body(UnavailableError("https://db.example/x cannot sync: refused"))[1]
b'{"error": "UnavailableError", "message": "the database is unavailable; try again", "field": null}'
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from edgedb_opt.drivers.base import SupportsSync
from edgedb_opt.errors import ConfigError, EdgeOptError, InvalidInput, http_status
from edgedb_opt.runtime import consistency
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.settings import Settings

__all__ = [
    "STATE_KEY",
    "ASGIApp",
    "DatabaseSource",
    "EdgeoptMiddleware",
    "Message",
    "Receive",
    "RuntimeCollector",
    "Scope",
    "Send",
    "database",
    "lifespan",
    "metrics_app",
    "metrics_response",
]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Where the middleware and the metrics app take the database from: the database itself, a
#: callable returning it, or None (:func:`database`, per request).
DatabaseSource = EdgeDatabase | Callable[[], EdgeDatabase] | None

#: The name the database goes by in ``app.state`` and in each request's ``scope["state"]``
#: (so ``request.state.edgeopt`` in Starlette and FastAPI).
STATE_KEY = "edgeopt"

#: What a server error says to the client; the exception itself goes to the log.
_SERVER_MESSAGES = {
    503: "the database is unavailable; try again",
    500: "internal error",
}

#: Databases opened by :func:`lifespan` and not yet closed, latest last (for :func:`database`).
_OPEN: list[EdgeDatabase] = []


# -- lifespan ------------------------------------------------------------------------------


def lifespan(
    settings: Settings | None = None,
    *,
    must_exist: bool = True,
    health_interval: float | None = 30.0,
    tune: bool = True,
    **overrides: Any,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan: open the database on startup, close it on shutdown.

    ``FastAPI(lifespan=edgedb_opt.asgi.lifespan())`` (or Starlette's). The arguments are those
    of :meth:`EdgeDatabase.connect <edgedb_opt.runtime.database.EdgeDatabase.connect>`:
    settings default to the ``EDGEOPT_*`` variables with ``overrides`` on top.

    Args:
        settings: the settings; None reads ``EDGEOPT_*`` (and ``overrides``) at startup.
        must_exist: refuse a missing database file (the app fails to start) instead of
            creating an empty one. Replicas are made on first use whatever it says.
        health_interval: seconds between background region checks (None: none).
        tune: set the runtime pragmas on local files.
    Returns:
        A callable taking the app and returning an async context manager. While it is
        entered the database is ``app.state.edgeopt`` (when the app has a ``state``) and
        :func:`database` finds it.
    Raises (on startup):
        ConfigError: invalid settings. DriverError: the primary region cannot be opened (a
        missing file with ``must_exist``); the server reports the startup as failed.
    """

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        try:
            db = await EdgeDatabase.connect(
                settings,
                must_exist=must_exist,
                health_interval=health_interval,
                tune=tune,
                **overrides,
            )
        except EdgeOptError as exc:
            log.error("edgeopt: cannot open the database: %s", exc)
            raise
        if db.empty_replicas:
            log.warning(
                "edgeopt: the replicas of %s have no tables; reads there fail until their"
                " server serves the database (see the health check replica:<region>)",
                ", ".join(db.empty_replicas),
            )
        state = getattr(app, "state", None)
        if state is not None:
            setattr(state, STATE_KEY, db)
        _OPEN.append(db)
        try:
            yield
        finally:
            _OPEN.remove(db)
            if state is not None and getattr(state, STATE_KEY, None) is db:
                delattr(state, STATE_KEY)
            await db.close()

    return run


def database(where: Any = None) -> EdgeDatabase:
    """The app's database.

    ``where`` is a request (anything with an ASGI ``scope``, as Starlette's ``Request``), an
    ASGI scope, an app with a ``state``, or None. Looked up in that order: the request's
    ``scope["state"]`` (the middleware puts it there), the app's ``state``, then the
    database :func:`lifespan` opened last in this process.

    Raises:
        ConfigError: none is open (the app has no edgeopt lifespan, or it has not started).
    """
    scope = getattr(where, "scope", where)
    if isinstance(scope, Mapping):
        state = scope.get("state")
        kept = state.get(STATE_KEY) if isinstance(state, Mapping) else None
        if isinstance(kept, EdgeDatabase):
            return kept
        where = scope.get("app")
    found = getattr(getattr(where, "state", None), STATE_KEY, None)
    if isinstance(found, EdgeDatabase):
        return found
    if _OPEN:
        return _OPEN[-1]
    raise ConfigError(
        "no EdgeDatabase is open: give the app edgedb_opt.asgi.lifespan(...) as its lifespan,"
        " or pass database= to EdgeoptMiddleware"
    )


def _resolve(source: DatabaseSource, scope: Scope) -> EdgeDatabase:
    if isinstance(source, EdgeDatabase):
        return source
    if source is not None:
        return source()
    return database(scope)


# -- middleware ----------------------------------------------------------------------------


def _request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers as one text value per lower-case name (repeated cookie
    headers joined with ``; ``, others with ``, ``)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").lower()
        value = bytes(raw_value).decode("latin-1")
        if name in out:
            out[name] += ("; " if name == "cookie" else ", ") + value
        else:
            out[name] = value
    return out


def _with_headers(
    headers: Iterable[tuple[bytes, bytes]] | None, extra: Mapping[str, str]
) -> list[tuple[bytes, bytes]]:
    """``headers`` plus ``extra``; a name the app set itself wins (but ``Set-Cookie`` adds)."""
    out = [(bytes(k), bytes(v)) for k, v in headers or ()]
    present = {k.lower() for k, _ in out}
    for name, value in extra.items():
        key = name.lower().encode("latin-1")
        if key == b"set-cookie" or key not in present:
            out.append((key, value.encode("latin-1")))
    return out


def _body(exc: EdgeOptError) -> tuple[int, bytes]:
    """The status and JSON body an edgeopt error is answered with."""
    status = http_status(exc)
    message = str(exc) if status < 500 else _SERVER_MESSAGES.get(status, "internal error")
    field = exc.field if isinstance(exc, InvalidInput) else None
    payload = {"error": type(exc).__name__, "message": message, "field": field}
    return status, json.dumps(payload).encode()


class EdgeoptMiddleware:
    """ASGI middleware: each HTTP request in its scope, its headers, its errors as JSON.

    For every ``http`` request it builds ``db.scope(headers)`` and runs the app inside
    :func:`~edgedb_opt.runtime.consistency.scoped` and the monitor's ``request_scope`` (N+1
    detection), so ``db.study()`` and ``db.answers()`` in a handler read in the request's
    region and honour its read-your-writes token. The response's start gets
    ``scope.response_headers()``: ``Set-Cookie`` and ``X-Edgeopt-Position`` after a write,
    ``X-Edgeopt-Stale-Seconds`` when a replica cut off from its server served a read (a
    streaming response that writes after its start cannot carry them). The database is also
    put in the request's ``scope["state"]`` (``request.state.edgeopt``).

    An :class:`~edgedb_opt.errors.EdgeOptError` that escapes the app before the response has
    started becomes a JSON response with :func:`~edgedb_opt.errors.http_status` (see the
    module docstring); any other exception is raised on, for the server to answer 500.
    Other scope types (``lifespan``, ``websocket``) pass through untouched.

    Args:
        app: the ASGI app to wrap (Starlette's ``add_middleware`` passes it).
        database: the database, or a callable returning it; None finds it per request
            with :func:`database` (what :func:`lifespan` opened).
    """

    def __init__(self, app: ASGIApp, *, database: DatabaseSource = None) -> None:
        self.app = app
        self.source = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        db = _resolve(self.source, scope)
        request = db.scope(_request_headers(scope))
        state = dict(scope.get("state") or {})
        state[STATE_KEY] = db
        inner = {**scope, "state": state}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start" and not started:
                started = True
                message = {
                    **message,
                    "headers": _with_headers(message.get("headers"), request.response_headers()),
                }
            await send(message)

        name = f"{scope.get('method', 'GET')} {scope.get('path', '')}"
        try:
            with consistency.scoped(request), db.monitor.request_scope(name):
                await self.app(inner, receive, send_with_headers)
        except EdgeOptError as exc:
            if started:
                raise  # too late for a response of our own: the server ends this one
            status, body = _body(exc)
            if status >= 500:
                log.error("%s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": _with_headers(headers, request.response_headers()),
                }
            )
            await send({"type": "http.response.body", "body": body})


# -- metrics -------------------------------------------------------------------------------


class RuntimeCollector:
    """A Prometheus collector over one database: the monitor's statement metrics, then the
    query cache, the pools and the replicas, read when collected (nothing kept)."""

    def __init__(self, db: EdgeDatabase) -> None:
        self.db = db

    def collect(self) -> Iterable[Metric]:
        yield from self.db.monitor.registry.collect()
        yield from self._cache()
        yield from self._pools()
        yield from self._replicas()

    def _cache(self) -> Iterable[Metric]:
        if self.db.cache is None:
            return
        s = self.db.cache.stats()
        for name, text, value in (
            ("hits", "cache lookups answered from a stored entry", s.hits),
            ("misses", "cache lookups that found no live entry", s.misses),
            ("loads", "loader runs (failed ones included)", s.loads),
            ("load_errors", "loader runs that raised", s.load_errors),
            ("evictions", "entries dropped by TTL expiry or LRU eviction", s.evictions),
            (
                "stale_refused",
                "loads not stored because a lagging replica served them",
                s.stale_refused,
            ),
        ):
            yield CounterMetricFamily(f"edgeopt_cache_{name}", text, value=value)
        yield CounterMetricFamily(
            "edgeopt_cache_load_seconds", "time spent in loaders", value=s.load_seconds_total
        )
        yield GaugeMetricFamily("edgeopt_cache_hit_rate", "query cache hit rate", value=s.hit_rate)
        yield GaugeMetricFamily("edgeopt_cache_size", "live cache entries", value=s.size)
        yield GaugeMetricFamily("edgeopt_cache_maxsize", "most cache entries", value=s.maxsize)

    def _pools(self) -> Iterable[Metric]:
        labels = ["pool"]
        size = GaugeMetricFamily("edgeopt_pool_size", "connections or request slots", labels=labels)
        in_use = GaugeMetricFamily("edgeopt_pool_in_use", "connections in use", labels=labels)
        waiting = GaugeMetricFamily("edgeopt_pool_waiting", "tasks waiting", labels=labels)
        queue = GaugeMetricFamily(
            "edgeopt_writer_queue", "tasks queued for the writer", labels=labels
        )
        wait_p95 = GaugeMetricFamily(
            "edgeopt_pool_wait_p95_seconds", "recent waits for a connection, p95", labels=labels
        )
        acquired = CounterMetricFamily(
            "edgeopt_pool_acquired", "connections handed out", labels=labels
        )
        timeouts = CounterMetricFamily(
            "edgeopt_pool_timeouts", "waits that ended in PoolTimeout", labels=labels
        )
        for name, pool in self.db.pools.items():
            s = pool.stats()
            size.add_metric([name], s.size)
            in_use.add_metric([name], s.in_use)
            waiting.add_metric([name], s.waiting)
            queue.add_metric([name], s.writer_queue)
            wait_p95.add_metric([name], s.wait_ms.p95 / 1000)
            acquired.add_metric([name], s.acquired)
            timeouts.add_metric([name], s.timeouts)
        yield from (size, in_use, waiting, queue, wait_p95, acquired, timeouts)

    def _replicas(self) -> Iterable[Metric]:
        labels = ["region"]
        lag = GaugeMetricFamily(
            "edgeopt_replica_lag_seconds",
            "seconds since the replica's last pull (+Inf: never pulled)",
            labels=labels,
        )
        failing = GaugeMetricFamily(
            "edgeopt_replica_sync_failing", "1 while the replica's last sync failed", labels=labels
        )
        pulls = CounterMetricFamily("edgeopt_replica_pulls", "pulls that succeeded", labels=labels)
        for name, conn in self.db.replicas().items():
            if not isinstance(conn, SupportsSync):
                continue  # replaced by a recycle since replicas() looked
            state = conn.sync_stats()
            seconds = state.lag_seconds
            lag.add_metric([name], math.inf if seconds is None else seconds)
            failing.add_metric([name], 1.0 if state.last_error else 0.0)
            pulls.add_metric([name], state.pulls)
        yield from (lag, failing, pulls)


def metrics_response(db: EdgeDatabase) -> tuple[bytes, str]:
    """One Prometheus text of ``db`` and its content type, for a ``/metrics`` route.

    Statements (``edgeopt_statement_seconds`` and the rest of ``db.monitor``), the query
    cache (``edgeopt_cache_hits_total``, ``_misses_total``, ``_hit_rate``, ``_size``,
    ``_stale_refused_total``, ...), each pool (``edgeopt_pool_in_use{pool=...}``, ...) and
    each replica region (``edgeopt_replica_lag_seconds{region=...}``).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(db))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_app(database: DatabaseSource = None) -> ASGIApp:
    """An ASGI app answering every HTTP request with :func:`metrics_response`; mount it
    where a framework mounts apps, or route ``/metrics`` to it in a plain ASGI app.
    ``database`` as in :class:`EdgeoptMiddleware`."""
    source = database

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            return
        body, content_type = metrics_response(_resolve(source, scope))
        headers = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app
