"""Backends behind the :class:`~edgedb_opt.drivers.base.Driver` protocol, picked from a URL.

``--db`` names the backend: a path or ``file:`` URL is a SQLite file, ``turso:PATH`` a local
Turso-engine file, ``http(s)://`` or ``libsql://`` a Turso sync server reached through an
embedded replica, ``ws(s)://`` the libsql-client adapter.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from edgedb_opt.drivers._lifecycle import Opening
from edgedb_opt.drivers.base import Capabilities, Driver
from edgedb_opt.errors import ConfigError

__all__ = ["DRIVER_NAMES", "Capabilities", "Driver", "Opening", "open_driver", "parse_target"]

_REMOTE = ("http", "https", "libsql", "ws", "wss")


def parse_target(url: str) -> tuple[str, str]:
    """Split a database target (the CLI's ``--db``) into (driver name, path or URL).

    >>> parse_target("app.db")
    ('sqlite', 'app.db')
    >>> parse_target("file:/srv/app.db?mode=ro")
    ('sqlite', '/srv/app.db')
    >>> parse_target("turso:/srv/app.db")
    ('turso', '/srv/app.db')
    """
    text = url.strip()
    if not text:
        raise ConfigError("db is empty: give a file path or a database URL", param="db")
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == "turso":
        path = text.split(":", 1)[1]
        if not path:
            raise ConfigError(
                f"db {url!r}: turso: needs a file path, as in turso:app.db", param="db"
            )
        return "turso", path
    if scheme == "file":
        parts = urlsplit(text)
        path = unquote(parts.path or parts.netloc)
        if not path:
            raise ConfigError(f"db {url!r}: file: needs a path, as in file:app.db", param="db")
        return "sqlite", path
    if scheme in _REMOTE:
        return "remote", text
    if len(scheme) > 1 and "://" in text:
        raise ConfigError(
            f"db {url!r}: unknown URL scheme {scheme!r} "
            "(use a path, file:, turso:, http(s)://, libsql:// or ws(s)://)",
            param="db",
        )
    return "sqlite", text


#: Names a caller (or ``Settings.driver``) may force instead of reading them from the URL.
DRIVER_NAMES = ("sqlite", "turso", "replica", "libsql")


def open_driver(
    url: str,
    *,
    read_only: bool = False,
    must_exist: bool = False,
    busy_timeout_ms: int = 5000,
    driver: str | None = None,
    replica: str | os.PathLike[str] | None = None,
    auth_token: str | None = None,
    sync_interval: float | None = 1.0,
) -> Opening[Driver]:
    """Open the backend ``url`` names (see :func:`parse_target`), or the one ``driver`` forces.

    ``await open_driver(...)`` gives the driver; ``async with open_driver(...) as db`` also
    closes it on the way out (or ``async with await ...``, as drivers are context managers).

    ``http(s)://`` and ``libsql://`` URLs open an embedded replica (a local file at
    ``replica`` that syncs with the server); ``ws(s)://`` URLs the libsql-client adapter.
    ``driver="libsql"`` with a path uses libsql-client's own ``file:`` mode.
    ``sync_interval`` is the replica's background sync period (None: sync only on demand).
    Bad arguments raise ``ConfigError`` at once, before anything is awaited.
    """
    kind, where = parse_target(url)
    if driver is not None and driver not in DRIVER_NAMES:
        raise ConfigError(f"unknown driver {driver!r} (choose one of {', '.join(DRIVER_NAMES)})")
    if kind == "remote":
        scheme = where.split(":", 1)[0].lower()
        kind = driver or ("libsql" if scheme in ("ws", "wss") else "replica")
        if kind in ("sqlite", "turso"):
            raise ConfigError(
                f"db {url!r}: the {kind} driver opens local files, not URLs", param="db"
            )
    elif driver is not None:
        kind = driver
        if kind == "replica":
            raise ConfigError(f"db {url!r}: an embedded replica needs the server's URL", param="db")
    return Opening(
        lambda: _open(
            kind,
            where,
            read_only=read_only,
            must_exist=must_exist,
            busy_timeout_ms=busy_timeout_ms,
            replica=replica,
            auth_token=auth_token,
            sync_interval=sync_interval,
        )
    )


async def _open(
    kind: str,
    where: str,
    *,
    read_only: bool,
    must_exist: bool,
    busy_timeout_ms: int,
    replica: str | os.PathLike[str] | None,
    auth_token: str | None,
    sync_interval: float | None,
) -> Driver:
    if kind == "turso":
        from edgedb_opt.drivers.turso_driver import TursoDriver

        return await TursoDriver.open(where, must_exist=must_exist or read_only)
    if kind == "replica":
        from edgedb_opt.drivers.turso_driver import TursoReplicaDriver

        return await TursoReplicaDriver.open(
            where,
            replica=replica,
            auth_token=auth_token,
            read_only=read_only,
            sync_interval=sync_interval,
        )
    if kind == "libsql":
        from edgedb_opt.drivers.libsql_driver import LibsqlDriver

        return await LibsqlDriver.open(where, auth_token=auth_token, must_exist=must_exist)
    from edgedb_opt.drivers.sqlite_driver import SqliteDriver

    return await SqliteDriver.open(
        where, read_only=read_only, must_exist=must_exist, busy_timeout_ms=busy_timeout_ms
    )
