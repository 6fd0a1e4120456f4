"""Backends behind the :class:`~edgedb_opt.drivers.base.Driver` protocol, picked from a URL.

``--db`` names the backend: a path or ``file:`` URL is a SQLite file, ``turso:PATH`` a local
Turso-engine file. Remote URLs (``http(s)://``, ``libsql://``, ``ws(s)://``) belong to the
runtime layer's replica and libsql-client drivers.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from edgedb_opt.drivers.base import Capabilities, Driver
from edgedb_opt.errors import ConfigError

__all__ = ["Capabilities", "Driver", "open_driver", "parse_target"]

_REMOTE = ("http", "https", "libsql", "ws", "wss")


def parse_target(url: str) -> tuple[str, str]:
    """Split a ``--db`` value into (driver name, path or URL).

    >>> parse_target("app.db")
    ('sqlite', 'app.db')
    >>> parse_target("file:/srv/app.db?mode=ro")
    ('sqlite', '/srv/app.db')
    >>> parse_target("turso:/srv/app.db")
    ('turso', '/srv/app.db')
    """
    text = url.strip()
    if not text:
        raise ConfigError("--db is empty: give a file path or a database URL")
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == "turso":
        path = text.split(":", 1)[1]
        if not path:
            raise ConfigError(f"--db {url!r}: turso: needs a file path, as in turso:app.db")
        return "turso", path
    if scheme == "file":
        parts = urlsplit(text)
        path = unquote(parts.path or parts.netloc)
        if not path:
            raise ConfigError(f"--db {url!r}: file: needs a path, as in file:app.db")
        return "sqlite", path
    if scheme in _REMOTE:
        return "remote", text
    if len(scheme) > 1 and "://" in text:
        raise ConfigError(
            f"--db {url!r}: unknown URL scheme {scheme!r} "
            "(use a path, file:, turso:, http(s)://, libsql:// or ws(s)://)"
        )
    return "sqlite", text


async def open_driver(
    url: str, *, read_only: bool = False, must_exist: bool = False, busy_timeout_ms: int = 5000
) -> Driver:
    """Open the backend ``url`` names (see :func:`parse_target`)."""
    kind, where = parse_target(url)
    if kind == "turso":
        from edgedb_opt.drivers.turso_driver import TursoDriver

        return await TursoDriver.open(where, must_exist=must_exist or read_only)
    if kind == "remote":
        raise ConfigError(
            f"--db {url!r}: remote databases (embedded replicas, libsql-client) are not "
            "supported by this version yet; use a SQLite file or turso:PATH"
        )
    from edgedb_opt.drivers.sqlite_driver import SqliteDriver

    return await SqliteDriver.open(
        where, read_only=read_only, must_exist=must_exist, busy_timeout_ms=busy_timeout_ms
    )
