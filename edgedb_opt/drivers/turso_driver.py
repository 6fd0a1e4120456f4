"""Local Turso-engine files through pyturso's ``turso.aio``.

Turso's engine is a rewrite of SQLite: same file format and SQL, but some modules (FTS5) are
missing, which the capability probe reports. Embedded replicas come with the runtime layer.
"""

from __future__ import annotations

import functools
import os

import turso
import turso.aio

from edgedb_opt.drivers._dbapi import DbApiDriver, describe_error
from edgedb_opt.drivers._probe import probe
from edgedb_opt.drivers.base import Capabilities
from edgedb_opt.drivers.sqlite_driver import check_path
from edgedb_opt.errors import DriverError


@functools.cache
def turso_capabilities() -> Capabilities:
    """Capabilities of the Turso engine bundled with pyturso (probed once)."""
    return probe(lambda: turso.connect(":memory:", isolation_level=None), (turso.Error,))


class TursoDriver(DbApiDriver):
    """One ``turso.aio`` connection to a local Turso-engine file."""

    name = "turso"
    _native_errors = (turso.Error,)

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, must_exist: bool = False, read_only: bool = False
    ) -> TursoDriver:
        """Open (or create) the Turso-engine file at ``path``.

        Raises:
            DriverError: the path is unusable or not a database. ``read_only`` is refused:
                the engine has no read-only open mode yet, and pretending would be unsafe.
        """
        if read_only:
            raise DriverError("the turso driver cannot open files read-only")
        p = check_path(path, must_exist=must_exist)
        try:
            conn = await turso.aio.connect(str(p), isolation_level=None)
        except turso.Error as exc:
            raise DriverError(f"cannot open {p}: {describe_error(exc)}") from exc
        driver = cls(conn, target=f"turso:{p}", capabilities=turso_capabilities())
        try:
            await driver.fetch_all("SELECT count(*) FROM sqlite_master")
        except DriverError as exc:
            await driver.close()
            raise DriverError(f"cannot use {p} as a Turso database: {exc}") from exc
        except BaseException:
            await driver.close()
            raise
        return driver


class TursoReplicaDriver:
    """Placeholder: embedded replicas are not supported yet."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        replica: str | os.PathLike[str] | None = None,
        auth_token: str | None = None,
        read_only: bool = False,
    ) -> TursoDriver:
        raise DriverError(f"{url!r}: embedded replicas are not available yet")
