"""Rewrites at run time: a per-schema cache of rewritten statements, and a driver that uses it.

Parsing and rewriting costs far more than running a hot query on SQLite, so each distinct
statement text is rewritten once and the result reused (an LRU keyed by the exact SQL text;
parameters are not part of the text, so one entry serves every call of a statement).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cachetools import LRUCache

from edgedb_opt import rewrite as _rewrite
from edgedb_opt.drivers.base import Driver, Params, Row
from edgedb_opt.drivers.wrapper import DriverWrapper
from edgedb_opt.errors import RewriteError
from edgedb_opt.rewrite.base import RewriteResult, RewriteRule
from edgedb_opt.rewrite.schema import Schema, read_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RewriteCacheStats:
    """Counters of a :class:`RewriteCache`: a miss is one parse and rewrite."""

    hits: int
    misses: int
    size: int
    maxsize: int


class RewriteCache:
    """SQL text to :class:`RewriteResult`, for one schema, least recently used evicted first.

    Statements that cannot be parsed are cached too (as their error), so a bad statement is
    not parsed again on every call.

    >>> cache = RewriteCache(Schema.from_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    >>> sql = "SELECT 1 WHERE 2 NOT IN (SELECT id FROM t)"
    >>> cache.get(sql).sql
    'SELECT 1 WHERE NOT EXISTS(SELECT 1 FROM t WHERE 2 = id)'
    >>> cache.get(sql).applied
    ['not_in_to_not_exists']
    >>> cache.stats()
    RewriteCacheStats(hits=1, misses=1, size=1, maxsize=512)
    """

    def __init__(
        self,
        schema: Schema,
        *,
        maxsize: int = 512,
        rules: tuple[RewriteRule, ...] | None = None,
    ) -> None:
        self.schema = schema
        self._rules = rules
        self._entries: LRUCache[str, RewriteResult | RewriteError] = LRUCache(maxsize=maxsize)
        self._hits = 0
        self._misses = 0

    def get(self, sql: str) -> RewriteResult:
        """The rewrite of ``sql``, computed on first use.

        Raises:
            RewriteError: ``sql`` cannot be parsed (raised again from the cache next time).
        """
        entry = self._entries.get(sql)
        if entry is None:
            self._misses += 1
            try:
                entry = _rewrite.optimize(sql, self.schema, rules=self._rules or _rewrite.RULES)
            except RewriteError as exc:
                entry = exc
            self._entries[sql] = entry
        else:
            self._hits += 1
        if isinstance(entry, RewriteError):
            raise entry
        return entry

    def stats(self) -> RewriteCacheStats:
        """Hits, misses, entries held and capacity."""
        return RewriteCacheStats(
            self._hits, self._misses, len(self._entries), int(self._entries.maxsize)
        )

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self._entries.clear()


class RewritingDriver(DriverWrapper):
    """Any :class:`Driver`, plus ``rewrite=True`` on ``execute`` and ``fetch_all``.

    With ``rewrite=True`` the statement runs as rewritten by the cache; without it, it runs as
    given. Everything else is delegated unchanged (:class:`DriverWrapper`). A statement the
    rewriter cannot parse (SQLite accepts some syntax sqlglot does not) runs as given, with one
    warning in the log.

    Args:
        db: the driver to wrap; the wrapper closes it on :meth:`close`.
        cache: rewrites for ``db``'s schema (see :meth:`wrap` to read it).
    """

    def __init__(self, db: Driver, cache: RewriteCache) -> None:
        super().__init__(db)
        self.cache = cache

    @classmethod
    async def wrap(cls, db: Driver, *, maxsize: int = 512) -> RewritingDriver:
        """Read ``db``'s schema and wrap it with a fresh cache."""
        return cls(db, RewriteCache(await read_schema(db), maxsize=maxsize))

    async def refresh_schema(self) -> None:
        """Read the schema again (after a migration) and drop every cached rewrite."""
        self.cache = RewriteCache(
            await read_schema(self.inner), maxsize=int(self.cache.stats().maxsize)
        )

    def rewritten(self, sql: str) -> str:
        """The text ``execute(sql, rewrite=True)`` runs."""
        misses = self.cache.stats().misses
        try:
            return self.cache.get(sql).sql
        except RewriteError as exc:
            if self.cache.stats().misses > misses:  # first sight of this statement: say it once
                log.warning("running statement unrewritten: %s", exc)
            return sql

    async def execute(self, sql: str, params: Params = (), *, rewrite: bool = False) -> int:
        """Run one statement (rewritten first when ``rewrite``); return rows changed."""
        return await self.inner.execute(self.rewritten(sql) if rewrite else sql, params)

    async def fetch_all(self, sql: str, params: Params = (), *, rewrite: bool = False) -> list[Row]:
        """Run one query (rewritten first when ``rewrite``); return every row."""
        return await self.inner.fetch_all(self.rewritten(sql) if rewrite else sql, params)
