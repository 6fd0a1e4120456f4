"""edgeopt: fast, safely changeable SQLite / libSQL / Turso databases for edge handlers.

The public surface is the names in ``__all__``: what an app handler, a migration script or a
test imports. Everything else lives in the subpackage that names its part (``runtime``,
``drivers``, ``migrate``, ``rewrite``, ``advise``, ``study``, ``datagen``, ``bench``,
``loadtest``, ``cli``) and is reachable there.

The modules that sat at the package root before the runtime got its own subpackage
(``edgedb_opt.database``, ``.pool``, ``.regions``, ``.cache``, ``.monitor``, ``.health``) still
import, as the same module objects as their ``edgedb_opt.runtime`` homes.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from importlib.machinery import ModuleSpec
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import TYPE_CHECKING, Any

from edgedb_opt.drivers import Capabilities, Driver, open_driver
from edgedb_opt.errors import (
    CacheError,
    ChecksumDriftError,
    ConfigError,
    Conflict,
    DriverError,
    EdgeOptError,
    InvalidInput,
    MigrationError,
    NotFound,
    PackError,
    PoolTimeout,
    RewriteError,
    UnavailableError,
    WorkloadError,
    http_status,
)
from edgedb_opt.migrate import Migrator, Pack, Step, load_pack

try:
    __version__ = version("edgeopt")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from edgedb_opt.rewrite import RewriteResult, optimize, read_schema
    from edgedb_opt.runtime.cache import CacheStats, QueryCache
    from edgedb_opt.runtime.database import EdgeDatabase
    from edgedb_opt.runtime.health import HealthReport, health
    from edgedb_opt.runtime.monitor import Monitor, NPlusOneWarning
    from edgedb_opt.runtime.settings import RegionSettings, Settings, load_settings
    from edgedb_opt.runtime.view import RequestView
    from edgedb_opt.study import (
        Answer,
        AnswerRejected,
        AnswerWriter,
        Limits,
        StudyQueries,
        WriteResult,
    )

# sqlglot and pydantic cost ~0.35 s to import; the CLI's migration commands need neither, so
# these names load on first use (PEP 562).
_LAZY = {
    "CacheStats": "edgedb_opt.runtime.cache",
    "QueryCache": "edgedb_opt.runtime.cache",
    "EdgeDatabase": "edgedb_opt.runtime.database",
    "RequestView": "edgedb_opt.runtime.view",
    "HealthReport": "edgedb_opt.runtime.health",
    "health": "edgedb_opt.runtime.health",
    "Monitor": "edgedb_opt.runtime.monitor",
    "NPlusOneWarning": "edgedb_opt.runtime.monitor",
    "RegionSettings": "edgedb_opt.runtime.settings",
    "Settings": "edgedb_opt.runtime.settings",
    "load_settings": "edgedb_opt.runtime.settings",
    "RewriteResult": "edgedb_opt.rewrite",
    "optimize": "edgedb_opt.rewrite",
    "read_schema": "edgedb_opt.rewrite",
    "Answer": "edgedb_opt.study",
    "AnswerRejected": "edgedb_opt.study",
    "AnswerWriter": "edgedb_opt.study",
    "Limits": "edgedb_opt.study",
    "StudyQueries": "edgedb_opt.study",
    "WriteResult": "edgedb_opt.study",
}

#: Internals that were exported at the root before; they still resolve (with a
#: DeprecationWarning) but belong to their subpackage.
_MOVED_NAMES = {
    "EndpointPool": "edgedb_opt.runtime.pool",
    "LocalPool": "edgedb_opt.runtime.pool",
    "PoolStats": "edgedb_opt.runtime.pool",
    "RegionRouter": "edgedb_opt.runtime.regions",
    "MonitoredDriver": "edgedb_opt.runtime.monitor",
}

#: Old module paths -> their homes in ``runtime``.
_MOVED_MODULES = {
    f"edgedb_opt.{name}": f"edgedb_opt.runtime.{name}"
    for name in ("database", "pool", "regions", "cache", "monitor", "health")
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MOVED_NAMES:
        home = _MOVED_NAMES[name]
        warnings.warn(
            f"edgedb_opt.{name} is internal: import it from {home}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)
    raise AttributeError(f"module 'edgedb_opt' has no attribute {name!r}")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module at its new home (the same object).

    Hand-written: the standard library has no module alias, and a stub module per old path
    would put the root back full of files.
    """

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def __init__(self) -> None:
        self._specs: dict[str, ModuleSpec | None] = {}

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(_MOVED_MODULES[spec.name])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module ran under its own name); undo the import system's
        overwriting of its ``__spec__`` with the alias's."""
        module.__spec__ = self._specs[module.__name__]


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())

__all__ = [
    "Answer",
    "AnswerRejected",
    "AnswerWriter",
    "CacheError",
    "CacheStats",
    "Capabilities",
    "ChecksumDriftError",
    "ConfigError",
    "Conflict",
    "Driver",
    "DriverError",
    "EdgeDatabase",
    "EdgeOptError",
    "HealthReport",
    "InvalidInput",
    "Limits",
    "MigrationError",
    "Migrator",
    "Monitor",
    "NPlusOneWarning",
    "NotFound",
    "Pack",
    "PackError",
    "PoolTimeout",
    "QueryCache",
    "RegionSettings",
    "RequestView",
    "RewriteError",
    "RewriteResult",
    "Settings",
    "Step",
    "StudyQueries",
    "UnavailableError",
    "WorkloadError",
    "WriteResult",
    "__version__",
    "health",
    "http_status",
    "load_pack",
    "load_settings",
    "open_driver",
    "optimize",
    "read_schema",
]
