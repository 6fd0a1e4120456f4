"""The reference schema (``schema/base.sql``): where the bundled SQL ships, and creating it
where it is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from edgedb_opt.drivers.base import Driver, Params, Row
from edgedb_opt.errors import PackError
from edgedb_opt.sqltext import split_statements

_HERE = Path(__file__).resolve().parent


def schema_dir() -> Path:
    """The ``schema`` folder: ``edgedb_opt/schema`` in a wheel, ``../schema`` in a checkout.

    >>> (schema_dir() / "base.sql").is_file(), schema_dir().name
    (True, 'schema')
    """
    for candidate in (_HERE / "schema", _HERE.parent / "schema"):
        if (candidate / "base.sql").is_file():
            return candidate
    raise PackError("edgeopt's schema/ folder is missing from this installation")


def base_sql() -> str:
    """The reference schema's SQL text."""
    return (schema_dir() / "base.sql").read_text(encoding="utf-8")


def packs_dir() -> Path:
    """The folder holding the bundled packs."""
    return schema_dir() / "packs"


#: The tables of the reference schema, in creation order.
TABLES: tuple[str, ...] = (
    "users",
    "exams",
    "objectives",
    "questions",
    "study_sessions",
    "test_attempts",
    "user_answers",
    "user_progress",
    "twitter_accounts",
    "tweets",
    "growth_metrics",
    "engagement_opportunities",
)


async def existing_tables(db: Driver) -> set[str]:
    """Names of the tables the database already has."""
    rows = await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows}


class _Reads(Protocol):
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...


#: Prefixes of the tables no app makes: SQLite's own (``sqlite_sequence``, ``sqlite_stat1``)
#: and the Turso engine's, which every replica holds (``turso_cdc``, ``__turso_internal_*``).
INTERNAL_TABLE_PREFIXES = ("sqlite_", "turso_", "__turso_internal")


async def app_tables(db: _Reads) -> set[str]:
    """Names of the tables an app made: every table but SQLite's and the Turso engine's own
    (an empty embedded replica holds a few of those)."""
    rows = await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows if not str(r[0]).startswith(INTERNAL_TABLE_PREFIXES)}


async def has_object(db: _Reads, kind: str, name: str) -> bool:
    """Whether the schema holds a ``kind`` (table, index, trigger, view) named ``name``."""
    rows = await db.fetch_all(
        "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)
    )
    return bool(rows)


async def init_schema(db: Driver) -> list[str]:
    """Create every reference table that is missing, in one transaction.

    Returns:
        The names of the tables created (empty when the schema was already there).
    """
    before = await existing_tables(db)
    async with db.transaction():
        for stmt in split_statements(base_sql()):
            await db.execute(stmt.sql)
    return [t for t in TABLES if t not in before]
