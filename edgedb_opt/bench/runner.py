"""Run every operation on both variants in one process and summarize the timings.

Per case: one warm-up call per variant, then the same number of measured calls on each
(``runs``; when not given, 5, raised to up to 30 for calls whose baseline warm-up took under
about 20 ms, so fast operations get stable medians). Timings are wall time around each
awaited call (``time.perf_counter``), in milliseconds.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedb_opt.bench.operations import OPERATIONS, Call, Operation, Side, Sides
from edgedb_opt.bench.picks import Picks
from edgedb_opt.drivers.base import Driver
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.drivers.turso_driver import TursoDriver
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.stats import percentile
from edgedb_opt.study.baseline_writer import BaselineAnswerWriter
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter

__all__ = [
    "CaseResult",
    "OperationResult",
    "Progress",
    "measure_operations",
    "open_sides",
    "p95",
    "run_count",
]

Progress = Callable[[str, int, int], None]
DEFAULT_RUNS = 5
MAX_AUTO_RUNS = 30


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile of the samples (nearest rank, as every edgeopt report).

    >>> p95([5.0, 1.0, 3.0, 2.0, 4.0])
    5.0
    """
    return percentile(sorted(samples), 95)


def run_count(runs: int | None, warmup_s: float) -> int:
    """Measured calls per variant: ``runs`` if given, else 5 raised for fast calls.

    >>> run_count(3, 0.001), run_count(None, 2.0), run_count(None, 0.001)
    (3, 5, 30)
    """
    if runs is not None:
        return runs
    return max(DEFAULT_RUNS, min(MAX_AUTO_RUNS, int(0.1 / max(warmup_s, 1e-6))))


@dataclass
class CaseResult:
    """Timings of one case, in milliseconds."""

    label: str
    baseline: list[float]
    optimized: list[float]

    @property
    def speedup(self) -> float:
        return statistics.median(self.baseline) / statistics.median(self.optimized)


@dataclass
class OperationResult:
    """One row of the report (see :meth:`as_dict` for the JSON shape)."""

    name: str
    cases: list[CaseResult]
    same_results: bool
    target: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline_ms(self) -> float:
        """Median of the baseline (the median of the cases' medians with several cases)."""
        return statistics.median(statistics.median(c.baseline) for c in self.cases)

    @property
    def optimized_ms(self) -> float:
        return statistics.median(statistics.median(c.optimized) for c in self.cases)

    @property
    def speedup(self) -> float:
        return self.baseline_ms / self.optimized_ms

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.speedup >= self.target

    def as_dict(self) -> dict[str, Any]:
        """The documented keys first (name, baseline_ms, optimized_ms, speedup, same_results),
        then p95s, runs, target and met, and the cases when there are several."""
        base = [t for c in self.cases for t in c.baseline]
        opt = [t for c in self.cases for t in c.optimized]
        out: dict[str, Any] = {
            "name": self.name,
            "baseline_ms": round(self.baseline_ms, 4),
            "optimized_ms": round(self.optimized_ms, 4),
            "speedup": round(self.speedup, 2),
            "same_results": self.same_results,
            "baseline_p95_ms": round(p95(base), 4),
            "optimized_p95_ms": round(p95(opt), 4),
            "runs": len(self.cases[0].baseline),
            "target": self.target,
            "met": self.met,
            **self.extra,
        }
        if len(self.cases) > 1:
            out["cases"] = [
                {
                    "label": c.label,
                    "baseline_ms": round(statistics.median(c.baseline), 4),
                    "optimized_ms": round(statistics.median(c.optimized), 4),
                    "speedup": round(c.speedup, 2),
                }
                for c in self.cases
            ]
        return out


@contextlib.asynccontextmanager
async def open_sides(
    baseline: Path,
    optimized: Path,
    *,
    clock: Callable[[], Any],
    cache: bool = False,
    engine: str = "sqlite",
) -> AsyncIterator[Sides]:
    """The baseline on a plain driver (the engine's defaults), the optimized variant on
    :class:`EdgeDatabase` (runtime pragmas, pools; its query cache only with ``cache``).
    ``engine``: ``"sqlite"`` (the sqlite3 module) or ``"turso"`` (the Turso engine, pyturso)."""
    base_db: Driver = (
        await TursoDriver.open(baseline, must_exist=True)
        if engine == "turso"
        else await SqliteDriver.open(baseline, must_exist=True)
    )
    try:
        opt_db = await EdgeDatabase.connect(
            db=str(optimized),
            cache_enabled=cache,
            must_exist=True,
            region=None,
            regions=[],
            driver="turso" if engine == "turso" else None,
        )
    except BaseException:
        await base_db.close()
        raise
    try:
        yield {
            "baseline": Side(
                "baseline",
                base_db,
                StudyQueries(base_db, variant="baseline", now=clock),
                BaselineAnswerWriter(base_db, now=clock),
            ),
            "optimized": Side(
                "optimized",
                opt_db,
                StudyQueries(opt_db, variant="optimized", now=clock, cache=opt_db.cache),
                AnswerWriter(opt_db, now=clock, cache=opt_db.cache),
            ),
        }
    finally:
        await opt_db.close()
        await base_db.close()


async def _time(call: Call, n: int, tick: Callable[[], None]) -> list[float]:
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
        tick()
    return out


async def _measure_case(
    op: Operation, label: str, calls: dict[str, Call], runs: int | None, progress: Progress
) -> CaseResult:
    what = f"{op.name} ({label})"
    t0 = time.perf_counter()
    await calls["baseline"]()
    n = run_count(runs, time.perf_counter() - t0)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(what, done[0], 2 * n)

    progress(what, 0, 2 * n)
    base = await _time(calls["baseline"], n, tick)
    await calls["optimized"]()
    opt = await _time(calls["optimized"], n, tick)
    return CaseResult(label, base, opt)


async def measure_operations(
    sides: Sides,
    picks: Picks,
    *,
    runs: int | None = None,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[OperationResult]:
    """Check and time each operation (all, or ``names``), in report order.

    Writes run last so the reads see the seeded data on both sides.
    """
    progress = progress or (lambda _label, _done, _total: None)
    selected = [op for op in OPERATIONS if names is None or op.name in names]
    order = sorted(selected, key=lambda op: op.check_after)
    results: dict[str, OperationResult] = {}
    for op in order:
        same = True if op.check_after else await op.same(sides, picks)
        cases = []
        for case in op.cases(picks):
            calls = {v: case.make(side) for v, side in sides.items()}
            cases.append(await _measure_case(op, case.label, calls, runs, progress))
        if op.check_after:
            same = await op.same(sides, picks)
        extra: dict[str, Any] = {}
        if op.name == "answer_history_page500":
            extra["page"] = picks.page
        if len(cases) > 1:
            extra["speedup_median_of_cases"] = round(statistics.median(c.speedup for c in cases), 2)
        results[op.name] = OperationResult(op.name, cases, same, op.target, extra)
    return [results[op.name] for op in selected]
