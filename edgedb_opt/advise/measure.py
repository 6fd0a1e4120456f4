"""The advisor's laboratory: a scratch copy of the database where indexes come and go.

Everything the advisor learns comes from here: the schema, sample parameter values taken
from the data, EXPLAIN QUERY PLAN, statement timings (medians of repeated runs; writes run
inside a savepoint that is rolled back, so every run sees the same data) and index sizes
(``dbstat``). The user's file is only ever read, once, by SQLite's backup API.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from edgedb_opt.advise.candidates import ExistingIndex, TableInfo
from edgedb_opt.advise.shape import ParamRole
from edgedb_opt.advise.values import ColumnProfile
from edgedb_opt.errors import DriverError
from edgedb_opt.sqltext import split_statements

__all__ = ["Lab", "scratch_copy"]

#: Per statement and phase: at least MIN_RUNS runs, more until RUN_BUDGET_S seconds are spent.
#: The fastest run is the figure: on a quiet cache it is the statement's own cost, while
#: slower runs measure whatever else the machine was doing.
MIN_RUNS = 5
MAX_RUNS = 200
RUN_BUDGET_S = 0.06
_WIDTH_SAMPLE = 2000


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scratch_copy(source: Path, dest: Path) -> Path:
    """Copy ``source`` (read-only, WAL-safe) to ``dest`` with SQLite's backup API.

    Raises:
        DriverError: ``source`` is missing, a directory, or not a SQLite database.
    """
    if source.is_dir():
        raise DriverError(f"{source} is a directory, not a database file")
    if not source.exists():
        raise DriverError(f"database {source} does not exist")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            src.execute("SELECT count(*) FROM sqlite_master").fetchall()
            dst = sqlite3.connect(dest)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise DriverError(f"cannot read {source} as a SQLite database: {exc}") from exc
    return dest


class Lab:
    """One connection to a scratch database (see the module docstring)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """``read_only``: the live file itself, opened with SQLite's read-only mode (plans
        and the timing of reads only; ``advise --verify``)."""
        self.path = path
        try:
            if read_only:
                self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            else:
                self.conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise DriverError(f"cannot read {path} as a SQLite database: {exc}") from exc
        self.conn.execute("PRAGMA cache_size = -64000")
        if not read_only:
            # A scratch file is disposable: no fsync and no journal file to create and delete
            # on every rolled-back write, which would time the file system, not the indexes.
            self.conn.execute("PRAGMA journal_mode = MEMORY").fetchall()
            self.conn.execute("PRAGMA synchronous = OFF")
        self._quantiles: dict[tuple[str, str, float], Any] = {}
        self._profiles: dict[tuple[str, str], ColumnProfile | None] = {}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------
    def tables(self) -> dict[str, TableInfo]:
        """Every ordinary table with its columns, rowid alias, widths and indexes."""
        out: dict[str, TableInfo] = {}
        names = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND sql NOT LIKE 'CREATE VIRTUAL%'"
        ).fetchall()
        for (table,) in names:
            cols = self.conn.execute(f"PRAGMA table_xinfo({_q(table)})").fetchall()
            if not cols:
                continue
            pk = [c for c in cols if c[5]]
            rowid = None
            if len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER":
                rowid = str(pk[0][1]).lower()
            info = TableInfo(str(table).lower(), {str(c[1]).lower() for c in cols}, rowid)
            info.widths = self._widths(table, [str(c[1]) for c in cols])
            info.existing = self._indexes(table)
            out[info.name] = info
        return out

    def _widths(self, table: str, cols: list[str]) -> dict[str, float]:
        parts = ", ".join(f"avg(length({_q(c)}))" for c in cols)
        row = self.conn.execute(
            f"SELECT {parts} FROM (SELECT * FROM {_q(table)} LIMIT {_WIDTH_SAMPLE})"
        ).fetchone()
        return {c.lower(): float(w or 0) for c, w in zip(cols, row or [], strict=False)}

    def _indexes(self, table: str) -> list[ExistingIndex]:
        out = []
        for _seq, name, unique, origin, partial in self.conn.execute(
            f"PRAGMA index_list({_q(table)})"
        ).fetchall():
            cols = [
                str(r[2]).lower() + (" DESC" if r[3] else "")
                for r in self.conn.execute(f"PRAGMA index_xinfo({_q(name)})").fetchall()
                if r[5] and r[2] is not None
            ]
            where = None
            if partial:
                sql = self.conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
                ).fetchone()[0]
                where = sql.split(" WHERE ", 1)[1].strip() if " WHERE " in sql else None
            out.append(
                ExistingIndex(
                    str(name), table.lower(), tuple(cols), where, bool(unique), origin != "c"
                )
            )
        return out

    def trigger_statements(self, table: str, event: str) -> list[str]:
        """The statements of the triggers an ``event`` (INSERT, UPDATE, DELETE) on ``table``
        runs: what a write costs includes their lookups."""
        out: list[str] = []
        for (sql,) in self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = ?",
            (table.lower(),),
        ).fetchall():
            head, _, rest = str(sql).partition(" BEGIN")
            if not re.search(rf"\b{event}\b", head, re.IGNORECASE):
                continue
            body = rest.rsplit("END", 1)[0]
            out.extend(s.sql for s in split_statements(body))
        return out

    # -- sample values ------------------------------------------------------------------
    def _quantile(self, table: str, column: str, q: float) -> Any:
        key = (table, column, q)
        if key not in self._quantiles:
            t, c = _q(table), _q(column)
            count = self.conn.execute(f"SELECT count({c}) FROM {t}").fetchone()[0] or 0
            row = self.conn.execute(
                f"SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} LIMIT 1 OFFSET ?",
                (int(count * q),),
            ).fetchone()
            self._quantiles[key] = row[0] if row else None
        return self._quantiles[key]

    def _typical(self, table: str, column: str) -> Any:
        """The value of the middle row (by rowid): a typical key, found without a sort."""
        key = (table, column, -1.0)
        if key not in self._quantiles:
            t, c = _q(table), _q(column)
            count = self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] or 0
            row = self.conn.execute(
                f"SELECT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT 1 OFFSET ?", (count // 2,)
            ).fetchone()
            self._quantiles[key] = row[0] if row else None
        return self._quantiles[key]

    def sample(self, names: list[str], roles: Mapping[str, ParamRole]) -> dict[str, Any]:
        """A value for each parameter, from the data: a typical key for ``=``, a recent
        value (90th percentile) for ``>``/``>=``, the median for ``<``/``<=``, the quartiles
        for BETWEEN, 20 for LIMIT, 0 for OFFSET, NULL when nothing tells."""
        out: dict[str, Any] = {}
        tables = {t for (t,) in self.conn.execute("SELECT name FROM sqlite_master")}
        for name in names:
            role = roles.get(name, ParamRole(None, None, "other"))
            if role.role == "limit":
                out[name] = 20
            elif role.role == "offset":
                out[name] = 0
            elif role.table is None or role.column is None or role.table not in tables:
                out[name] = None
            elif role.role == "eq":
                out[name] = self._typical(role.table, role.column)
            else:
                q = {">": 0.9, ">=": 0.9, "<": 0.5, "<=": 0.5, "low": 0.25, "high": 0.75}
                out[name] = self._quantile(role.table, role.column, q.get(role.role, 0.5))
        return out

    def profile(self, table: str, column: str) -> ColumnProfile | None:
        """Rows, distinct values, key-likeness and the heaviest value of a column (every
        row); None for an unknown column."""
        key = (table, column)
        if key not in self._profiles:
            self._profiles[key] = self._profile(table, column)
        return self._profiles[key]

    def _profile(self, table: str, column: str) -> ColumnProfile | None:
        t, c = _q(table), _q(column)
        info = self.conn.execute(f"PRAGMA table_info({t})").fetchall()
        row = next((r for r in info if str(r[1]).lower() == column.lower()), None)
        if row is None:
            return None
        # The whole column: the first rows of a table filled user by user would make a key
        # look like a flag. One scan per profiled column, on the scratch copy.
        sample = f"(SELECT {c} AS v FROM {t})"
        rows, distinct = self.conn.execute(
            f"SELECT count(*), count(DISTINCT v) FROM {sample}"
        ).fetchone()
        heaviest = self.conn.execute(
            f"SELECT v FROM {sample} WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v"
            " LIMIT 1"
        ).fetchone()
        foreign = {str(fk[3]).lower() for fk in self.conn.execute(f"PRAGMA foreign_key_list({t})")}
        unique = any(
            len(cols) == 1 and cols[0] == column.lower()
            for cols in (
                [
                    str(r[2]).lower()
                    for r in self.conn.execute(f"PRAGMA index_info({_q(str(i[1]))})")
                ]
                for i in self.conn.execute(f"PRAGMA index_list({t})")
                if i[2]
            )
        )
        key_like = bool(row[5]) or column.lower() in foreign or unique
        return ColumnProfile(int(rows), int(distinct), key_like, heaviest[0] if heaviest else None)

    # -- plans, timings, sizes ----------------------------------------------------------
    def check(self, sql: str, params: Mapping[str, Any]) -> None:
        """Raise sqlite3.Error when SQLite cannot prepare ``sql``."""
        self.conn.execute("EXPLAIN " + sql, dict(params)).fetchall()

    def plan(self, sql: str, params: Mapping[str, Any]) -> list[str]:
        """EXPLAIN QUERY PLAN lines, indented by depth."""
        # SQLite does not prepare a cached EXPLAIN statement again when the schema changes
        # (3.40: after DROP INDEX it still shows the index), so the schema's version is part
        # of the text Python's statement cache keys on.
        (version,) = self.conn.execute("PRAGMA schema_version").fetchone()
        rows = self.conn.execute(
            f"EXPLAIN QUERY PLAN {sql} /* schema {version} */", dict(params)
        ).fetchall()
        depth: dict[int, int] = {0: -1}
        out = []
        for node, parent, _unused, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            out.append("  " * depth[node] + str(detail))
        return out

    def time_ms(
        self, sql: str, params: Mapping[str, Any], *, write: bool, budget_s: float = RUN_BUDGET_S
    ) -> float:
        """Milliseconds of the fastest of repeated runs (writes rolled back after each)."""
        start = time.perf_counter()
        self._run(sql, params, write)  # warms the cache; a slow statement is timed by it alone
        first = (time.perf_counter() - start) * 1000
        if first > budget_s * 1000:
            return first
        runs: list[float] = []
        budget_end = time.perf_counter() + budget_s
        while len(runs) < MIN_RUNS or (len(runs) < MAX_RUNS and time.perf_counter() < budget_end):
            start = time.perf_counter()
            self._run(sql, params, write)
            runs.append((time.perf_counter() - start) * 1000)
        return min(runs)

    def _run(self, sql: str, params: Mapping[str, Any], write: bool) -> None:
        if not write:
            self.conn.execute(sql, dict(params)).fetchall()
            return
        self.conn.execute("SAVEPOINT adv_run")
        try:
            self.conn.execute(sql, dict(params)).fetchall()
        finally:
            self.conn.execute("ROLLBACK TO adv_run")
            self.conn.execute("RELEASE adv_run")

    def growing_tables(self, min_rows: int = 1000) -> set[str]:
        """Tables with at least ``min_rows`` rows: those a full scan gets slower on as the
        data grows (small lookup tables are cheaper to scan than to index)."""
        out = set()
        for (table,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND sql NOT LIKE 'CREATE VIRTUAL%'"
        ).fetchall():
            count = self.conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {_q(table)} LIMIT {min_rows})"
            ).fetchone()[0]
            if count >= min_rows:
                out.add(str(table).lower())
        return out

    def sizes(self) -> dict[str, int]:
        """Bytes on disk of every table and index (``dbstat``)."""
        rows = self.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        return {str(n): int(b) for n, b in rows}

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def analyze(self) -> None:
        self.conn.execute("ANALYZE")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
