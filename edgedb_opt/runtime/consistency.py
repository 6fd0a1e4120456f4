"""Read-your-writes across requests: positions, tokens and the request scope.

A database whose regions are embedded replicas lets a read in one region miss a write made
through another until that replica pulls. Every write through ``EdgeDatabase`` therefore
moves a **position**: a counter of this process's commits, kept in the database itself (table
``edgeopt_position``, one row per writing process, written in the same transaction as the
write), so a replica that has pulled a position also holds every write before it. A write
hands back a **token** (``<writer>.<n>``); the next request carries it in a cookie or header,
and a region serves that request's reads only once its replica holds the token's position
(else one bounded pull, else the primary).

Rows are per writing process, never shared, so two processes that write through their own
replicas never conflict on them (Turso settles conflicting rows by the later push).

This module is the bookkeeping only (no I/O): the token format, reading a token from request
headers, the per-request :class:`RequestScope`, and the :class:`ReadRecord` through which a
cache load learns which position it read at (see ``QueryCache``).

>>> p = Position("a1b2c3d4e5f6", 7)
>>> p.token(), Position.parse(p.token()) == p, Position.parse("garbage")
('a1b2c3d4e5f6.7', True, None)
>>> token_from_headers({"cookie": "theme=dark; edgeopt_position=a1b2c3d4e5f6.9"})
Position(writer='a1b2c3d4e5f6', n=9)
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

__all__ = [
    "TOKEN_COOKIE",
    "TOKEN_HEADER",
    "Position",
    "ReadRecord",
    "RequestScope",
    "Written",
    "adopt",
    "capture",
    "current_scope",
    "last_written",
    "needed",
    "new_writer_id",
    "note_written",
    "reading",
    "saw_position",
    "scoped",
    "token_from_headers",
]

#: The request header a client (or an edge function forwarding it) puts the token in.
TOKEN_HEADER = "x-edgeopt-position"
#: The cookie the integration sets after a write, and reads on the next request.
TOKEN_COOKIE = "edgeopt_position"
#: Seconds the cookie lives: far longer than any replica lags, short enough to go away.
TOKEN_MAX_AGE = 600

_TOKEN = re.compile(r"^([0-9a-f]{8,32})\.([0-9]{1,18})$")

TABLE = "edgeopt_position"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (writer TEXT PRIMARY KEY,"
    " position INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
)
# INSERT OR REPLACE, not an upsert: the Turso engine misreads ON CONFLICT targets in files
# that hold an FTS5 table. Only the writing process writes its row; max() keeps it from going
# down when two of its writes commit in one order and move the position in the other.
BUMP_MAX = (
    f"INSERT OR REPLACE INTO {TABLE} (writer, position, updated_at)"
    f" SELECT ?1, max(?2, coalesce(max(position), 0)), ?3 FROM {TABLE} WHERE writer = ?4"
)
READ = f"SELECT position FROM {TABLE} WHERE writer = ?"


def new_writer_id() -> str:
    """A fresh id for one writing process (12 hex digits: collisions are not a concern)."""
    return secrets.token_hex(6)


@dataclass(frozen=True, order=True)
class Position:
    """The ``n``-th commit of the process ``writer``."""

    writer: str
    n: int

    def token(self) -> str:
        """The text a cookie or header carries."""
        return f"{self.writer}.{self.n}"

    @classmethod
    def parse(cls, token: str | None) -> Position | None:
        """The position in a token, or None for anything else (a client can send anything;
        a bad token only costs that client its read-your-writes, never an error)."""
        match = _TOKEN.match(token.strip()) if isinstance(token, str) else None
        return cls(match.group(1), int(match.group(2))) if match else None


def token_from_headers(headers: Mapping[str, str]) -> Position | None:
    """The token of a request: the ``X-Edgeopt-Position`` header, else the cookie."""
    lower = {k.lower(): v for k, v in headers.items()}
    found = Position.parse(lower.get(TOKEN_HEADER))
    if found is not None or "cookie" not in lower:
        return found
    jar: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):
        jar.load(lower["cookie"])
    morsel = jar.get(TOKEN_COOKIE)
    return Position.parse(morsel.value) if morsel is not None else None


@dataclass
class RequestScope:
    """What one request's reads must reach and what its writes and reads did.

    Mutable on purpose: the scope object is shared by every task the request starts, so a
    write made in a child task still reaches the response.

    Attributes:
        region: the region the request's reads start in (None: the database's own).
        required: the position its reads must reach (the token it came with, then its own
            writes).
        written: the position of its last write, for the response's cookie.
        stale_seconds: the largest lag of a replica that served it while the replica could
            not sync (None: every read was served by a replica in sync, or by a server).
        primary_reads: reads sent to the primary because the region had not reached
            ``required``.
    """

    region: str | None = None
    required: Position | None = None
    written: Position | None = None
    stale_seconds: float | None = None
    primary_reads: int = 0

    def wrote(self, position: Position) -> None:
        """Note a write: later reads of this request must see it."""
        self.written = position
        if self.required is None or self.required.writer != position.writer:
            self.required = position
        else:
            self.required = max(self.required, position)

    def served_stale(self, lag: float) -> None:
        self.stale_seconds = lag if self.stale_seconds is None else max(self.stale_seconds, lag)

    def response_headers(self) -> dict[str, str]:
        """Headers to add to the response: ``Set-Cookie`` with the token after a write, and
        ``X-Edgeopt-Stale-Seconds`` when a replica served while cut off from its server."""
        out: dict[str, str] = {}
        if self.written is not None:
            out["set-cookie"] = (
                f"{TOKEN_COOKIE}={self.written.token()}; Max-Age={TOKEN_MAX_AGE}; Path=/;"
                " HttpOnly; SameSite=Lax"
            )
            out[TOKEN_HEADER] = self.written.token()
        if self.stale_seconds is not None:
            out["x-edgeopt-stale-seconds"] = f"{self.stale_seconds:.1f}"
        return out


_SCOPE: ContextVar[RequestScope | None] = ContextVar("edgeopt_scope", default=None)


def current_scope() -> RequestScope | None:
    """The scope of the request this code runs for, if one was entered."""
    return _SCOPE.get()


@contextlib.contextmanager
def scoped(scope: RequestScope) -> Iterator[RequestScope]:
    """Run the block (and the tasks it starts) as the request ``scope``."""
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


_WRITTEN: ContextVar[Position | None] = ContextVar("edgeopt_written", default=None)


def note_written(position: Position) -> None:
    """Record a write of this context (and of its request scope, if one is entered): later
    reads of the context, and of the request, must reach it; the response carries it."""
    _WRITTEN.set(position)
    scope = _SCOPE.get()
    if scope is not None:
        scope.wrote(position)


def last_written() -> Position | None:
    """The position of the last write made in this context (None: none, or no replicas)."""
    return _WRITTEN.get()


def needed() -> Position | None:
    """The position the reads of this code must reach: its request's (the token it came
    with, then its writes), else, outside a request, this context's own last write."""
    scope = _SCOPE.get()
    return scope.required if scope is not None else _WRITTEN.get()


#: Until when (the database's timer) this context reads from the primary after its last
#: write: read-your-writes inside a request when positions are off.
_PRIMARY_UNTIL: ContextVar[float] = ContextVar("edgeopt_primary_until", default=-1.0)


def read_primary_until(deadline: float) -> None:
    """Send this context's reads to the primary until ``deadline`` (never shortens it)."""
    if deadline > _PRIMARY_UNTIL.get():
        _PRIMARY_UNTIL.set(deadline)


def primary_until() -> float:
    return _PRIMARY_UNTIL.get()


@dataclass(frozen=True)
class Written:
    """What a write left in the context that made it, to hand to the context it was made
    for (a group commit writes for many requests from a context of its own)."""

    position: Position | None
    primary_until: float


def capture() -> Written:
    return Written(_WRITTEN.get(), _PRIMARY_UNTIL.get())


def adopt(written: Written) -> None:
    """Take a write made elsewhere as this context's own: its reads must see it."""
    if written.position is not None:
        note_written(written.position)
    read_primary_until(written.primary_until)


@dataclass
class ReadRecord:
    """The lowest position of this process's writes that a load's reads were served at.

    ``lowest`` stays None while every read came from where this process writes (or from a
    database without replicas): such reads are current.
    """

    lowest: int | None = None

    def saw(self, position: int | None) -> None:
        if position is not None and (self.lowest is None or position < self.lowest):
            self.lowest = position


_READ: ContextVar[ReadRecord | None] = ContextVar("edgeopt_read", default=None)


@contextlib.contextmanager
def reading() -> Iterator[ReadRecord]:
    """Record the positions the reads of the block are served at."""
    record = ReadRecord()
    token = _READ.set(record)
    try:
        yield record
    finally:
        _READ.reset(token)


def saw_position(position: int | None) -> None:
    """Called by the database for each read: the position it was served at."""
    record = _READ.get()
    if record is not None:
        record.saw(position)
