"""`edgeopt health`: is this database fast and sound right now, and what to do if not.

Each check returns a :class:`Check` with a level: ``ok``, ``warn`` (works, could be faster:
comes with a recommendation) or ``fail`` (broken or unreachable: ``edgeopt health`` exits
non-zero). Database checks read the primary's writer connection, because pragmas are
per-connection and FTS5's ``integrity-check`` is written as an INSERT.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import DriverError, PoolTimeout
from edgedb_opt.runtime.pool import Pool
from edgedb_opt.schema import app_tables

if TYPE_CHECKING:
    from edgedb_opt.runtime.database import EdgeDatabase

__all__ = [
    "Check",
    "HealthReport",
    "database_checks",
    "health",
    "prometheus_text",
    "replica_checks",
]

Level = Literal["ok", "warn", "fail"]

#: Hot study-flow statements whose plans must not read a big table whole.
_BIG = ("questions", "user_answers", "study_sessions", "growth_metrics")
_FULL_SCAN = re.compile(r"^SCAN (\w+)\b(?! USING)")
WAL_WARN_BYTES = 64 * 1024 * 1024
STALE_RATIO = 0.25  # sqlite_stat1 row estimate off by more than this ⇒ re-ANALYZE


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, its level, what was seen, what to do about it."""

    name: str
    level: Level
    detail: str
    recommendation: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthReport:
    """Every check of one run; unhealthy when any check failed."""

    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(c.level != "fail" for c in self.checks)

    @property
    def recommendations(self) -> list[str]:
        return [c.recommendation for c in self.checks if c.recommendation]

    def as_dict(self) -> dict[str, Any]:
        """The ``health --json`` shape: healthy, checks, recommendations."""
        return {
            "healthy": self.healthy,
            "checks": [asdict(c) for c in self.checks],
            "recommendations": self.recommendations,
        }


async def _one(conn: Driver, sql: str) -> Any:
    rows = await conn.fetch_all(sql)
    return rows[0][0] if rows else None


async def _pragmas(conn: Driver) -> Check:
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "cache_size")
    seen = {n: await _one(conn, f"PRAGMA {n}") for n in names}
    problems = []
    if str(seen["journal_mode"]).lower() != "wal":
        problems.append(f"journal_mode={seen['journal_mode']} (readers block the writer)")
    if seen["busy_timeout"] == 0:
        problems.append("busy_timeout=0 (a busy file fails at once)")
    if problems:
        return Check(
            "pragmas",
            "warn",
            "; ".join(problems),
            "open through EdgeDatabase (WAL, synchronous=NORMAL, busy_timeout) or set "
            "PRAGMA journal_mode=WAL once on the file",
            seen,
        )
    return Check("pragmas", "ok", ", ".join(f"{k}={v}" for k, v in seen.items()), data=seen)


def _wal(path: Path | None) -> Check:
    wal = Path(f"{path}-wal") if path is not None else None
    size = wal.stat().st_size if wal is not None and wal.exists() else 0
    if size > WAL_WARN_BYTES:
        return Check(
            "wal_size",
            "warn",
            f"{size:,} bytes of WAL",
            "checkpoint: PRAGMA wal_checkpoint(TRUNCATE) at a quiet moment, and keep "
            "journal_size_limit set",
            {"bytes": size},
        )
    return Check("wal_size", "ok", f"{size:,} bytes of WAL", data={"bytes": size})


async def _tables(conn: Driver) -> set[str]:
    rows = await conn.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows}


async def _plans(conn: Driver, tables: set[str]) -> Check:
    from edgedb_opt.study.statements import HOT_STATEMENTS, NEEDS_TABLE

    scans: dict[str, list[str]] = {}
    cannot: dict[str, str] = {}  # statement -> why it cannot run on this schema
    checked = 0
    for name, sql in sorted(HOT_STATEMENTS.items()):
        needed = NEEDS_TABLE.get(name)
        if needed is not None and needed not in tables:
            continue
        try:
            # Plans do not depend on values: NULL for each of our statements' ``?``.
            plan = await conn.fetch_all("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?"))
        except DriverError as exc:
            cannot[name] = str(exc)  # not this schema's statement (a table or column is missing)
            continue
        checked += 1
        full = sorted({m.group(1) for r in plan if (m := _FULL_SCAN.match(str(r[-1])))})
        if big := [t for t in full if t in _BIG]:
            scans[name] = big
    if not checked:
        return Check("index_use", "ok", "no study-flow tables here: nothing to check")
    # The operations this schema cannot serve (an exam-prep app without the growth tables).
    absent = (
        f"; {len(cannot)} cannot run on this schema: "
        + "; ".join(f"{q} ({why})" for q, why in cannot.items())
        if cannot
        else ""
    )
    if scans:
        listed = "; ".join(f"{q} scans {', '.join(t)}" for q, t in scans.items())
        return Check(
            "index_use",
            "warn",
            f"{len(scans)} of {checked} hot queries read a table whole: {listed}{absent}",
            "edgeopt apply (the study pack indexes every hot query)",
            scans,
        )
    return Check(
        "index_use",
        "ok",
        f"all {checked} hot queries use indexes{absent}",
        data={"cannot_run": cannot} if cannot else {},
    )


async def _fts(conn: Driver, tables: set[str]) -> Check:
    fts = sorted(t for t in tables if t.endswith("_fts"))
    if not fts:
        return Check("fts_integrity", "ok", "no FTS5 tables")
    bad = []
    for t in fts:
        try:
            async with conn.transaction():
                # rank = 1 makes FTS5 compare an external-content index with its content
                # table; without it only the index's own structure is checked.
                await conn.execute(
                    f'INSERT INTO "{t}" ("{t}", rank) VALUES (\'integrity-check\', 1)'
                )
        except DriverError as exc:
            bad.append(f"{t}: {exc}")
    if bad:
        return Check(
            "fts_integrity",
            "fail",
            "; ".join(bad),
            f"rebuild: INSERT INTO {fts[0]}({fts[0]}) VALUES ('rebuild')",
        )
    return Check("fts_integrity", "ok", f"integrity-check passed for {', '.join(fts)}")


async def _stats(conn: Driver, tables: set[str]) -> Check:
    indexed = await conn.fetch_all(
        "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    if not indexed:
        return Check("stats_freshness", "ok", "no secondary indexes: no statistics needed")
    if "sqlite_stat1" not in tables:
        return Check(
            "stats_freshness",
            "warn",
            "indexes exist but ANALYZE never ran",
            "ANALYZE (or edgeopt apply, whose analyze_stats step runs it)",
        )
    stale = []
    for (table,) in indexed:
        # A partial index counts only its own rows: judge by a full one (autoindexes are).
        row = await conn.fetch_all(
            "SELECT s.stat FROM sqlite_stat1 AS s JOIN sqlite_master AS m ON m.name = s.idx"
            " WHERE s.tbl = ? AND (m.sql IS NULL OR upper(m.sql) NOT LIKE '% WHERE %') LIMIT 1",
            (table,),
        )
        has_stats = await conn.fetch_all("SELECT 1 FROM sqlite_stat1 WHERE tbl = ?", (table,))
        if not has_stats:
            stale.append(f"{table} (no statistics)")
            continue
        if not row:
            continue  # only partial indexes: their counts say nothing of the table's size
        actual = int(await _one(conn, f'SELECT count(*) FROM "{table}"') or 0)
        estimate = int(str(row[0][0]).split()[0])
        if abs(actual - estimate) > STALE_RATIO * max(actual, estimate, 1):
            stale.append(f"{table} ({estimate:,} estimated, {actual:,} now)")
    if stale:
        return Check(
            "stats_freshness",
            "warn",
            "stale statistics: " + "; ".join(stale),
            "PRAGMA optimize (or ANALYZE) so the planner sees today's table sizes",
        )
    return Check("stats_freshness", "ok", f"statistics current for {len(indexed)} tables")


async def database_checks(conn: Driver, path: Path | None = None) -> list[Check]:
    """Pragmas, WAL size, hot-query plans, FTS5 integrity and statistics of one database."""
    tables = await _tables(conn)
    return [
        await _pragmas(conn),
        _wal(path),
        await _plans(conn, tables),
        await _fts(conn, tables),
        await _stats(conn, tables),
    ]


async def _table_count(pool: Pool, timeout: float) -> int | None:
    """How many tables of its own ``pool``'s database holds (None: it cannot say now)."""
    try:
        async with pool.reader(timeout) as conn, asyncio.timeout(timeout):
            return len(await app_tables(conn))
    except (DriverError, PoolTimeout, TimeoutError):
        return None


async def replica_checks(db: EdgeDatabase, *, timeout: float = 2.0) -> list[Check]:
    """One check per region that is an embedded replica: does it hold any table?

    Tables of SQLite and of the Turso engine do not count (every replica has those). A
    replica with no tables serves an empty database: its server was started on a file
    filled beside it, not through the sync protocol. ``fail`` when another region holds
    tables (reads in that region fail while the others work), ``warn`` when every region
    is empty (nothing seeded yet). A region that does not answer within ``timeout`` seconds
    is left to its region check.
    """
    replicas = list(db.replicas())
    if not replicas:
        return []
    counts = {name: await _table_count(pool, timeout) for name, pool in db.pools.items()}
    filled = [name for name, n in counts.items() if n]
    checks = []
    for name in replicas:
        n = counts[name]
        if n is None:
            continue  # unreachable: the region check says so
        if n:
            checks.append(Check(f"replica:{name}", "ok", f"replica of {name} holds {n} tables"))
            continue
        checks.append(
            Check(
                f"replica:{name}",
                "fail" if filled else "warn",
                f"replica of {name} has no tables: its server serves an empty database"
                + (f" (regions with tables: {', '.join(filled)})" if filled else ""),
                "start the server on a database filled through the sync protocol (seed and"
                " apply through a replica, with the server's URL as the database), not on a"
                " file filled beside it",
                {"tables": 0},
            )
        )
    return checks


async def health(db: EdgeDatabase, *, max_lag_s: float = 30.0, deep: bool = True) -> HealthReport:
    """Every check of ``edgeopt health`` against ``db`` (see the module docstring).

    ``deep=False`` leaves out the checks of the primary's file (pragmas, WAL, plans, FTS5
    integrity, statistics): what is left (regions, replicas, pools, cache) is cheap enough
    for a health endpoint polled every few seconds.
    """
    checks: list[Check] = []
    for r in await db.check_regions():
        lag = f", replica lag {r.lag_s:.1f} s" if r.lag_s is not None else ""
        if not r.ok:
            checks.append(Check(f"region:{r.region}", "fail", f"unreachable: {r.detail}"))
        elif r.lag_s is not None and r.lag_s > max_lag_s:
            checks.append(
                Check(
                    f"region:{r.region}",
                    "warn",
                    f"up, {r.latency_ms} ms{lag}",
                    "the replica is behind: check its sync interval and the server",
                    {"latency_ms": r.latency_ms, "lag_s": r.lag_s},
                )
            )
        else:
            checks.append(
                Check(
                    f"region:{r.region}",
                    "ok",
                    f"up, SELECT 1 in {r.latency_ms} ms{lag}",
                    data={"latency_ms": r.latency_ms, "lag_s": r.lag_s},
                )
            )
    checks.extend(await replica_checks(db))
    primary = db.pools.get(db.router.write_region())
    if primary is not None and deep:
        local = Path(primary.target) if primary.stats().kind == "local" else None
        with contextlib.suppress(DriverError):
            async with primary.writer() as conn:
                checks.extend(await database_checks(conn, local))
    for name, pool in db.pools.items():
        s = pool.stats()
        level: Level = "warn" if s.timeouts or s.saturation >= 0.9 else "ok"
        checks.append(
            Check(
                f"pool:{name}",
                level,
                f"{s.in_use}/{s.size} in use, {s.waiting} waiting, {s.timeouts} timeouts, "
                f"wait p95 {s.wait_ms.p95} ms",
                "raise readers / max_in_flight or shorten transactions"
                if level == "warn"
                else None,
                asdict(s),
            )
        )
    if db.cache is not None:
        c = db.cache.stats()
        checks.append(
            Check(
                "cache",
                "ok",
                f"hit rate {c.hit_rate:.1%} over {c.hits + c.misses} reads",
                data=asdict(c),
            )
        )
    return HealthReport(checks)


_LEVEL_VALUE = {"ok": 1.0, "warn": 0.5, "fail": 0.0}


def prometheus_text(report: HealthReport, db: EdgeDatabase) -> bytes:
    """The report as Prometheus gauges, followed by the database's statement metrics."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    check = Gauge("edgeopt_health_check", "1 ok, 0.5 warn, 0 fail", ["check"], registry=registry)
    for c in report.checks:
        check.labels(c.name).set(_LEVEL_VALUE[c.level])
    Gauge("edgeopt_healthy", "1 when no check failed", registry=registry).set(report.healthy)
    in_use = Gauge("edgeopt_pool_in_use", "connections in use", ["pool"], registry=registry)
    waiting = Gauge("edgeopt_pool_waiting", "tasks waiting", ["pool"], registry=registry)
    queue = Gauge(
        "edgeopt_writer_queue", "tasks queued for the writer", ["pool"], registry=registry
    )
    for name, pool in db.pools.items():
        s = pool.stats()
        in_use.labels(name).set(s.in_use)
        waiting.labels(name).set(s.waiting)
        queue.labels(name).set(s.writer_queue)
    lag = Gauge("edgeopt_replica_lag_seconds", "replica lag", ["region"], registry=registry)
    for c in report.checks:
        if c.name.startswith("region:") and c.data.get("lag_s") is not None:
            lag.labels(c.name.removeprefix("region:")).set(float(c.data["lag_s"]))
    if db.cache is not None:
        Gauge("edgeopt_cache_hit_rate", "query cache hit rate", registry=registry).set(
            db.cache.stats().hit_rate
        )
    return generate_latest(registry) + db.monitor.prometheus_text()
