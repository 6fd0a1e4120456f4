"""edgeopt: fast, safely changeable SQLite / libSQL / Turso databases for edge handlers.

The public surface is small and explicit; everything else is an implementation detail.
"""

from __future__ import annotations

from edgedb_opt.drivers import Capabilities, Driver, open_driver
from edgedb_opt.errors import (
    CacheError,
    ChecksumDriftError,
    ConfigError,
    DriverError,
    EdgeOptError,
    MigrationError,
    PackError,
    PoolTimeout,
    RewriteError,
)
from edgedb_opt.migrate import Migrator, Pack, Step, load_pack

__all__ = [
    "CacheError",
    "Capabilities",
    "ChecksumDriftError",
    "ConfigError",
    "Driver",
    "DriverError",
    "EdgeOptError",
    "MigrationError",
    "Migrator",
    "Pack",
    "PackError",
    "PoolTimeout",
    "RewriteError",
    "Step",
    "load_pack",
    "open_driver",
]
