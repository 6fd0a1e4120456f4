"""The study flow at scale: each operation, baseline vs optimized, in one run.

Baseline = what a plain app does on SQLite defaults (rollback journal, synchronous FULL, only
base.sql indexes, NOT IN, N+1, ORDER BY RANDOM(), OFFSET paging, per-answer autocommit).
Optimized = the study pack + the runtime layer (``EdgeDatabase``, cache off) + the optimized
variants. Both run on copies of the same seeded file and must return the same results
(asserted before timing; for record answers, the statistics both files end with).

The files, the picked parameters and the operations are ``edgeopt bench``'s own
(:mod:`edgedb_opt.bench`), so the command and this module measure the same calls.

``make bench`` runs this at scale medium (``EDGEOPT_BENCH_SCALE`` overrides); the last test
prints the speedup table and, at medium, checks the targets of the study-flow issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import SCALE
from edgedb_opt.bench.data import data_clock
from edgedb_opt.bench.operations import OPERATIONS, TARGETS, Side, write_statistics
from edgedb_opt.bench.picks import SEARCHES, Picks, answer_batch, pick_parameters
from edgedb_opt.bench.run import prepare_copies
from edgedb_opt.bench.runner import open_sides
from edgedb_opt.drivers.sqlite_driver import RUNTIME_PRAGMAS, SqliteDriver, sqlite_capabilities
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter

MEDIANS: dict[str, dict[str, float]] = {}
ROUNDS = int(os.environ.get("EDGEOPT_BENCH_ROUNDS", "5"))
VARIANTS = ["baseline", "optimized"]
BY_NAME = {op.name: op for op in OPERATIONS}


@pytest.fixture(scope="module")
def files(
    base_db: Path, pack_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Private copies, made as ``edgeopt bench`` makes them (writes go to them)."""
    baseline, optimized = prepare_copies(
        tmp_path_factory.mktemp("flow"), source=base_db, packed=pack_db
    )
    return {"baseline": baseline, "optimized": optimized}


@pytest.fixture(scope="module")
def picks(files: dict[str, Path]) -> Picks:
    """The calls' parameters, picked from the data as ``edgeopt bench`` picks them."""
    return pick_parameters(files["baseline"])


@pytest.fixture(scope="module")
def sides(loop: asyncio.AbstractEventLoop, files: dict[str, Path]) -> Iterator[dict[str, Side]]:
    """Baseline on a plain driver, optimized through ``EdgeDatabase`` (as the command)."""
    clock = data_clock(files["baseline"])
    opened = open_sides(files["baseline"], files["optimized"], clock=lambda: clock)
    yield loop.run_until_complete(opened.__aenter__())
    loop.run_until_complete(opened.__aexit__(None, None, None))


def measure(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    name: str,
    variant: str,
    call: Callable[[], Awaitable[Any]],
    *,
    rounds: int = ROUNDS,
) -> Any:
    benchmark.group = name
    benchmark.extra_info["variant"] = variant
    result = benchmark.pedantic(
        lambda: loop.run_until_complete(call()), rounds=rounds, iterations=1, warmup_rounds=1
    )
    MEDIANS.setdefault(name, {})[variant] = benchmark.stats.stats.median
    return result


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("slot", range(6))
def test_study_questions(
    benchmark: Any, loop: Any, sides: Any, picks: Picks, slot: int, variant: str
) -> None:
    case = BY_NAME["study_questions"].cases(picks)[slot]
    if variant == "baseline":
        outs = [loop.run_until_complete(case.make(sides[v])()) for v in VARIANTS]
        assert outs[0] == outs[1]
    name = f"study_questions[{case.label}]"
    measure(benchmark, loop, name, variant, case.make(sides[variant]), rounds=3)


#: One benchmark per operation after study questions; record answers is checked after it ran.
SINGLE = sorted(
    (op.name for op in OPERATIONS if op.name != "study_questions"),
    key=lambda n: BY_NAME[n].check_after,
)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", SINGLE)
def test_operation(
    benchmark: Any, loop: Any, sides: Any, picks: Picks, name: str, variant: str
) -> None:
    op = BY_NAME[name]
    if variant == "baseline" and not op.check_after:
        assert loop.run_until_complete(op.same(sides, picks)), f"{name}: results differ"
    measure(benchmark, loop, name, variant, op.cases(picks)[0].make(sides[variant]))


def test_record_answers_left_equal_statistics(loop: Any, sides: Any, picks: Picks) -> None:
    """Both variants recorded the same batches: the statistics they hold must agree."""
    base, opt = (loop.run_until_complete(write_statistics(sides[v].db, picks)) for v in VARIANTS)
    assert base == opt


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", [n for n in SEARCHES if n != "search_questions"])
def test_other_searches(
    benchmark: Any, loop: Any, sides: Any, picks: Picks, name: str, variant: str
) -> None:
    """The rarer phrases, reported beside the judged one."""
    q, exam = sides[variant].queries, picks.mix[0][1]
    measure(benchmark, loop, name, variant, lambda: q.search_questions(exam, SEARCHES[name]))


class RawSqlite:
    """The same statements through plain ``sqlite3`` in the calling thread: the yardstick for
    what edgeopt's async driver adds. Only what the study flow and the writer call."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for key, value in RUNTIME_PRAGMAS.items():
            self.conn.execute(f"PRAGMA {key} = {value}").fetchall()
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.capabilities = sqlite_capabilities()

    async def fetch_all(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Any = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Any) -> None:
        self.conn.executemany(sql, rows)

    async def execute_each(self, statements: Any) -> None:
        for sql, params in statements:
            self.conn.execute(sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self, mode: str = "IMMEDIATE") -> AsyncIterator[None]:
        self.conn.execute(f"BEGIN {mode}")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


@pytest.fixture(scope="module")
def driver(loop: asyncio.AbstractEventLoop, files: dict[str, Path]) -> Iterator[SqliteDriver]:
    """edgeopt's own driver on the optimized copy: what the wrapper-cost checks weigh."""
    d = loop.run_until_complete(SqliteDriver.open(files["optimized"], pragmas=RUNTIME_PRAGMAS))
    yield d
    loop.run_until_complete(d.close())


#: Wrapper-cost batches get serials of their own, after those of the measured operations.
_serial = itertools.count(1_000_000)


@pytest.fixture(scope="module")
def raw(files: dict[str, Path]) -> Iterator[RawSqlite]:
    r = RawSqlite(files["optimized"])
    yield r
    r.conn.close()


@pytest.mark.parametrize("path", ["edgeopt", "raw_sqlite3"])
def test_wrapper_cost_study_questions(
    benchmark: Any,
    loop: Any,
    driver: SqliteDriver,
    raw: RawSqlite,
    files: Any,
    picks: Picks,
    path: str,
) -> None:
    db = driver if path == "edgeopt" else raw
    clock = data_clock(files["baseline"])
    q = StudyQueries(db, variant="optimized", now=lambda: clock)  # type: ignore[arg-type]
    users = itertools.cycle(picks.mix)

    def call() -> Awaitable[Any]:
        user, exam = next(users)
        return q.study_questions(user, exam, limit=20, seed=7)

    measure(benchmark, loop, "wrapper_study_questions", path, call, rounds=60)


@pytest.mark.parametrize("path", ["edgeopt", "raw_sqlite3"])
def test_wrapper_cost_record_answers(
    benchmark: Any,
    loop: Any,
    driver: SqliteDriver,
    raw: RawSqlite,
    files: Any,
    picks: Picks,
    path: str,
) -> None:
    db = driver if path == "edgeopt" else raw
    clock = data_clock(files["baseline"])
    writer = AnswerWriter(db, now=lambda: clock)  # type: ignore[arg-type]
    measure(
        benchmark,
        loop,
        "wrapper_record_answers",
        path,
        lambda: writer.record(answer_batch(picks, next(_serial))),
        rounds=60,
    )


def test_zz_speedups() -> None:
    """The table of speedups; at scale medium every target of the study-flow issue must hold."""
    rows: list[tuple[str, float, float, float]] = []
    per_user: list[float] = []
    overheads: dict[str, float] = {}
    for name, medians in sorted(MEDIANS.items()):
        if set(medians) == {"edgeopt", "raw_sqlite3"}:
            overheads[name] = medians["edgeopt"] / medians["raw_sqlite3"]
            continue
        if set(medians) != set(VARIANTS):
            continue
        speedup = medians["baseline"] / medians["optimized"]
        rows.append((name, medians["baseline"] * 1000, medians["optimized"] * 1000, speedup))
        if name.startswith("study_questions["):
            per_user.append(speedup)
    speedups = {r[0]: r[3] for r in rows}
    if per_user:
        speedups["study_questions"] = statistics.median(per_user)
        rows.append(
            ("study_questions (median of the user mix)", 0.0, 0.0, speedups["study_questions"])
        )
    print(f"\nscale {SCALE}: operation, baseline ms, optimized ms, speedup")
    for name, base, opt, speedup in rows:
        print(f"  {name:<44} {base:10.3f} {opt:10.3f} {speedup:9.1f}x")
    for name, ratio in overheads.items():
        print(f"  {name:<44} edgeopt / raw sqlite3 = {ratio:.2f}x (target <= 1.30x)")
    if SCALE != "medium":
        return
    missed = {n: (speedups.get(n, 0.0), t) for n, t in TARGETS.items() if speedups.get(n, 0.0) < t}
    missed.update({n: (r, 1.3) for n, r in overheads.items() if r > 1.3})
    assert not missed, f"targets missed (speedup, target): {missed}"
