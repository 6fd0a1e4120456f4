"""libsql-client adapter (placeholder until the adapter lands)."""

from __future__ import annotations

from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import ConfigError


class LibsqlDriver:
    """Placeholder: libsql-client URLs are not supported yet."""

    @classmethod
    async def open(
        cls, url: str, *, auth_token: str | None = None, must_exist: bool = False
    ) -> Driver:
        raise ConfigError(f"{url!r}: the libsql-client driver is not available yet")
