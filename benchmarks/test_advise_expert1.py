"""`edgeopt advise` against SQLite's `.expert` on the query shapes of expert1.test, with data.

expert1.test checks what `.expert` proposes for ~20 statement shapes on empty tables. Here each
shape (see :mod:`expert_cases`) has ~20,000 skewed rows per table. Both advisors are asked
about the statement as pasted from a log (``advise_sql``); each proposed set is then built on
its own copy of the file (plus a copy with no new index) and timed on the statement as
production sends it next, with other literal values (``timed_sql``). An advisor that treats
the pasted literals as constants of the workload (a partial index on ``x = 'pasted'``, say)
shows up here as a set that does not serve ``timed_sql``.

Per case the verdict is "ok" when ours is no slower than `.expert`'s (10% slack for timer
noise) and no larger, or at least twice as fast whatever its size; otherwise "MISSED". The
table is printed (run with ``-s``) and written to ``.benchmarks/advise-expert1.json``; the
verdicts fail the run only with ``EDGEOPT_EXPERT1_STRICT=1``, while the advisor's literal
handling is being reworked. That the three copies return the same rows, and that every timed
SELECT returns some, is always asserted: a faster wrong answer or an empty one proves nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from expert_cases import CASES, ExpertCase

from edgedb_opt.advise import advise, parse_workload
from edgedb_opt.advise.expert import dedupe, run_expert

OUT = Path(__file__).resolve().parent.parent / ".benchmarks" / "advise-expert1.json"
STRICT_VAR = "EDGEOPT_EXPERT1_STRICT"
#: Best of at least MIN_RUNS timed runs (after one warm-up), more until RUN_BUDGET_S is spent:
#: the fastest run is the statement's own cost; slower ones time whatever else the machine did.
MIN_RUNS = 7
MAX_RUNS = 100
RUN_BUDGET_S = 0.05
#: Ours may be this much slower than `.expert`'s and still be "as fast": timer noise.
TIME_SLACK = 1.10
#: ...or any size, if at least this many times faster.
CLEAR_WIN = 2.0
SETS = ("none", "expert", "ours")

_INDEX_NAME = re.compile(
    r'CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[^\s(]+)',
    re.IGNORECASE,
)
# String and number literals; digits inside identifiers (t1, "L00" in quotes aside) are not.
_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_WRITES = {"INSERT", "UPDATE", "DELETE", "REPLACE"}

#: Rows of the cases run so far, by case name, for the summary test at the end.
RESULTS: dict[str, dict[str, Any]] = {}

Rows = list[tuple[Any, ...]]


@dataclass
class Measured:
    """One copy of the file with one index set, after ANALYZE."""

    ms: float = 0.0
    bytes: int = 0
    created: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # proposals SQLite would not create
    plan: list[str] = field(default_factory=list)  # EXPLAIN QUERY PLAN of timed_sql
    rows: Rows = field(default_factory=list)  # timed_sql's result, sorted


def index_name(create_sql: str) -> str:
    """The name a CREATE INDEX statement gives, unquoted, as ``dbstat`` spells it.

    >>> index_name('CREATE INDEX "t t_idx_1" ON "t t"(a);')
    't t_idx_1'
    """
    m = _INDEX_NAME.search(create_sql)
    if m is None:
        raise ValueError(f"not a CREATE INDEX statement: {create_sql}")
    name = m.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def is_write(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in _WRITES


def literals(sql: str) -> list[str]:
    return _LITERAL.findall(sql)


def shape(sql: str) -> str:
    """The statement with every literal replaced by ``?``: equal for advise_sql and
    timed_sql, or the case would time a different statement than the one advised."""
    return _LITERAL.sub("?", sql)


def verdict(ours_ms: float, expert_ms: float, ours_bytes: int, expert_bytes: int) -> str:
    as_good = ours_ms <= expert_ms * TIME_SLACK and ours_bytes <= expert_bytes
    return "ok" if as_good or ours_ms * CLEAR_WIN <= expert_ms else "MISSED"


def connect(path: Path) -> sqlite3.Connection:
    """Autocommit (savepoints are ours to manage); no journal file or fsync to time: the
    copies are disposable, and a rolled-back write should cost its index work only."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = MEMORY").fetchall()
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def build(case: ExpertCase, path: Path) -> None:
    conn = connect(path)
    try:
        conn.executescript(case.schema)
        conn.execute("BEGIN")
        case.fill(conn, case.rng())
        conn.execute("COMMIT")
    finally:
        conn.close()


def run_once(conn: sqlite3.Connection, sql: str, *, write: bool) -> tuple[float, Rows]:
    """Milliseconds of one run and its result. A write runs in a savepoint that is rolled
    back, so every run sees the same data; its result is the number of rows it changed,
    triggers' changes included."""
    if not write:
        start = time.perf_counter()
        rows: Rows = conn.execute(sql).fetchall()
        return (time.perf_counter() - start) * 1000, rows
    conn.execute("SAVEPOINT bench")
    try:
        changes = conn.total_changes
        start = time.perf_counter()
        conn.execute(sql).fetchall()
        ms = (time.perf_counter() - start) * 1000
        return ms, [(conn.total_changes - changes,)]
    finally:
        conn.execute("ROLLBACK TO bench")
        conn.execute("RELEASE bench")


def measure(path: Path, indexes: list[str], sql: str) -> Measured:
    """Create ``indexes`` on the copy at ``path``, ANALYZE, and time ``sql``."""
    out = Measured()
    write = is_write(sql)
    conn = connect(path)
    try:
        for create in indexes:
            try:
                conn.execute(create)
                out.created.append(create)
            except sqlite3.Error as exc:  # .expert may propose what SQLite refuses
                out.refused.append(f"{create}: {exc}")
        conn.execute("ANALYZE")
        out.plan = [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]
        _, rows = run_once(conn, sql, write=write)  # warm-up: pages into the cache
        best, runs, spent = float("inf"), 0, 0.0
        while runs < MIN_RUNS or (spent < RUN_BUDGET_S and runs < MAX_RUNS):
            ms, _ = run_once(conn, sql, write=write)
            best, runs, spent = min(best, ms), runs + 1, spent + ms / 1000
        out.ms = best
        out.rows = sorted(rows, key=repr)
        for create in out.created:
            size = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name = ?", (index_name(create),)
            ).fetchone()[0]
            out.bytes += int(size or 0)
    finally:
        conn.close()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_advise_against_expert_on_an_expert1_shape(case: ExpertCase, tmp_path: Path) -> None:
    assert shape(case.advise_sql) == shape(case.timed_sql), "not the same statement"
    pairs = list(zip(literals(case.advise_sql), literals(case.timed_sql), strict=True))
    assert pairs, "a case needs literals to vary"
    assert all(a != t for a, t in pairs), f"a literal is the same in both: {pairs}"

    base = tmp_path / "base.db"
    build(case, base)
    conn = connect(base)
    try:
        _, pasted = run_once(conn, case.advise_sql, write=is_write(case.advise_sql))
    finally:
        conn.close()
    hit = pasted[0][0] > 0 if is_write(case.advise_sql) else bool(pasted)
    assert hit, "the pasted literals select no rows"

    advise_error: str | None = None
    ours: list[str] = []
    try:
        advice = advise(base, parse_workload(case.advise_sql + ";"))
        ours = [i.create_sql for i in advice.indexes]
    except Exception as exc:  # reported in the table; the test fails after measuring
        advise_error = f"{type(exc).__name__}: {exc}"
    proposals = run_expert(base, [case.advise_sql])
    expert = dedupe(proposals)

    sets: dict[str, list[str]] = {"none": [], "expert": expert, "ours": ours}
    measured: dict[str, Measured] = {}
    for which in SETS:
        copy = tmp_path / f"{which}.db"
        shutil.copyfile(base, copy)
        measured[which] = measure(copy, sets[which], case.timed_sql)
    none, exp, our = measured["none"], measured["expert"], measured["ours"]
    row: dict[str, Any] = {
        "case": case.name,
        "none_ms": round(none.ms, 4),
        "expert_ms": round(exp.ms, 4),
        "ours_ms": round(our.ms, 4),
        "expert_bytes": exp.bytes,
        "ours_bytes": our.bytes,
        "verdict": "ERROR" if advise_error else verdict(our.ms, exp.ms, our.bytes, exp.bytes),
        "advise_error": advise_error,
        "expert_error": proposals[0].error,
        "advise_sql": case.advise_sql,
        "timed_sql": case.timed_sql,
        "rows": len(none.rows) if not is_write(case.timed_sql) else none.rows[0][0],
        **{
            f"{which}_{key}": value
            for which in SETS
            for key, value in asdict(measured[which]).items()
            if key in ("created", "refused", "plan")
        },
    }
    RESULTS[case.name] = row
    refused = f" refused {exp.refused}" if exp.refused else ""
    raised = f" advise() raised {advise_error}" if advise_error else ""
    print(
        f"\n{case.name}: none {none.ms:.3f} ms, .expert {exp.ms:.3f} ms {exp.bytes:,} B,"
        f" ours {our.ms:.3f} ms {our.bytes:,} B: {row['verdict']}"
        f"\n  .expert: {exp.created or '-'}{refused}"
        f"\n  ours:    {our.created or '-'}{raised}"
    )

    assert none.rows == exp.rows == our.rows, "the index sets change timed_sql's result"
    if is_write(case.timed_sql):
        assert none.rows[0][0] > 0, "timed_sql changes no rows"
    else:
        assert none.rows, "timed_sql selects no rows"
    if advise_error:
        pytest.fail(f"advise() raised on {case.name}: {advise_error}")


def test_expert1_summary() -> None:
    """The table of every case run above; strict mode fails on any verdict but ok."""
    if not RESULTS:
        pytest.skip("no case ran")
    rows = [RESULTS[c.name] for c in CASES if c.name in RESULTS]
    head = (
        f"{'case':<26} {'none ms':>9} {'expert ms':>10} {'ours ms':>9}"
        f" {'expert B':>10} {'ours B':>10}  verdict"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['case']:<26} {r['none_ms']:>9.3f} {r['expert_ms']:>10.3f} {r['ours_ms']:>9.3f}"
            f" {r['expert_bytes']:>10,} {r['ours_bytes']:>10,}  {r['verdict']}"
        )
    ok = sum(r["verdict"] == "ok" for r in rows)
    lines.append(f"{ok} ok, {len(rows) - ok} not ok, of {len(rows)} cases")
    print("\n" + "\n".join(lines))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(f"written to {OUT}")
    if os.environ.get(STRICT_VAR) == "1":
        bad = [f"{r['case']}: {r['verdict']}" for r in rows if r["verdict"] != "ok"]
        assert not bad, f"not ok: {bad}"
