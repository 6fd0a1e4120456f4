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
)
from edgedb_opt.migrate import Migrator, Pack, Step, load_pack

if TYPE_CHECKING:
    from edgedb_opt.rewrite import RewriteResult, optimize, read_schema
    from edgedb_opt.study import Answer, AnswerRejected, AnswerWriter, StudyQueries, WriteResult

# sqlglot and pydantic cost ~0.35 s to import; the CLI's migration commands need neither, so
# these names load on first use (PEP 562).
_LAZY = {
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
    "RewriteResult",
    "Step",
    "StudyQueries",
    "WriteResult",
    "load_pack",
    "open_driver",
    "optimize",
    "read_schema",
]
