"""The one exception tree of edgeopt.

Every error a user can cause is an :class:`EdgeOptError`; the CLI turns each into a single
line on stderr in one place. Native errors (sqlite3, turso, pydantic) are wrapped with
``raise ... from`` so ``--verbose`` still shows their origin.
"""

from __future__ import annotations


class EdgeOptError(Exception):
    """Root of every error edgeopt raises on purpose."""


class ConfigError(EdgeOptError):
    """Settings or command options that cannot work (bad URL scheme, bad value)."""


class DriverError(EdgeOptError):
    """The database could not be opened or a statement failed in the driver."""


class UnavailableError(DriverError):
    """The database could not be reached (server down, connection refused, sync failing).

    Unlike a failed statement, trying another region may succeed: the runtime fails over.
    """


class PackError(EdgeOptError):
    """A pack or step file is malformed; the message names the file and line."""


class MigrationError(EdgeOptError):
    """A step could not be applied or rolled back; the database is left as it was."""


class ChecksumDriftError(MigrationError):
    """A step's file changed after it was applied."""


class RewriteError(EdgeOptError):
    """SQL given to the rewriter could not be parsed.

    Args:
        message: what went wrong.
        sql: the SQL text.
        position: 1-based (line, column) of the problem, when known.
    """

    def __init__(self, message: str, *, sql: str = "", position: tuple[int, int] | None = None):
        super().__init__(message)
        self.sql = sql
        self.position = position


class WorkloadError(EdgeOptError):
    """A workload file given to the advisor is malformed; names the statement and line."""


class PoolTimeout(EdgeOptError):
    """A pool could not hand out a connection within its timeout."""


class CacheError(EdgeOptError):
    """The query cache was misused or a loader failed."""
