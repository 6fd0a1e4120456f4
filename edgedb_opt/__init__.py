"""edgeopt: fast, safely changeable SQLite / libSQL / Turso databases for edge handlers.

The public surface is small and explicit; everything else is an implementation detail.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    UnavailableError,
)
from edgedb_opt.migrate import Migrator, Pack, Step, load_pack

if TYPE_CHECKING:
    from edgedb_opt.cache import CacheStats, QueryCache
    from edgedb_opt.database import EdgeDatabase
    from edgedb_opt.health import HealthReport, health
    from edgedb_opt.monitor import Monitor, MonitoredDriver, NPlusOneWarning
    from edgedb_opt.pool import EndpointPool, LocalPool, PoolStats
    from edgedb_opt.regions import RegionRouter, RegionSettings, Settings, load_settings
    from edgedb_opt.rewrite import RewriteResult, optimize, read_schema
    from edgedb_opt.study import Answer, AnswerRejected, AnswerWriter, StudyQueries, WriteResult

# sqlglot and pydantic cost ~0.35 s to import; the CLI's migration commands need neither, so
# these names load on first use (PEP 562).
_LAZY = {
    "CacheStats": "edgedb_opt.cache",
    "QueryCache": "edgedb_opt.cache",
    "EdgeDatabase": "edgedb_opt.database",
    "HealthReport": "edgedb_opt.health",
    "health": "edgedb_opt.health",
    "Monitor": "edgedb_opt.monitor",
    "MonitoredDriver": "edgedb_opt.monitor",
    "NPlusOneWarning": "edgedb_opt.monitor",
    "EndpointPool": "edgedb_opt.pool",
    "LocalPool": "edgedb_opt.pool",
    "PoolStats": "edgedb_opt.pool",
    "RegionRouter": "edgedb_opt.regions",
    "RegionSettings": "edgedb_opt.regions",
    "Settings": "edgedb_opt.regions",
    "load_settings": "edgedb_opt.regions",
    "RewriteResult": "edgedb_opt.rewrite",
    "optimize": "edgedb_opt.rewrite",
    "read_schema": "edgedb_opt.rewrite",
    "Answer": "edgedb_opt.study",
    "AnswerRejected": "edgedb_opt.study",
    "AnswerWriter": "edgedb_opt.study",
    "StudyQueries": "edgedb_opt.study",
    "WriteResult": "edgedb_opt.study",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgedb_opt' has no attribute {name!r}")


__all__ = [
    "Answer",
    "AnswerRejected",
    "AnswerWriter",
    "CacheError",
    "CacheStats",
    "Capabilities",
    "ChecksumDriftError",
    "ConfigError",
    "Driver",
    "DriverError",
    "EdgeDatabase",
    "EdgeOptError",
    "EndpointPool",
    "HealthReport",
    "LocalPool",
    "MigrationError",
    "Migrator",
    "Monitor",
    "MonitoredDriver",
    "NPlusOneWarning",
    "Pack",
    "PackError",
    "PoolStats",
    "PoolTimeout",
    "QueryCache",
    "RegionRouter",
    "RegionSettings",
    "RewriteError",
    "RewriteResult",
    "Settings",
    "Step",
    "StudyQueries",
    "UnavailableError",
    "WriteResult",
    "health",
    "load_pack",
    "load_settings",
    "open_driver",
    "optimize",
    "read_schema",
]
