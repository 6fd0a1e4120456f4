"""The study flow on both engines in one run: SQLite and the Turso engine (pyturso), the one
embedded replicas and ``turso:`` files run. ``edgeopt bench --engine both`` as a benchmark: the
same seeded files (scale ``EDGEOPT_BENCH_SCALE``), the pack applied through each engine.

Asserted: both variants agree on each engine, and at medium scale and above (where the targets
are set) every operation on the Turso engine meets its study-flow target or stays within 1.5x of
SQLite's optimized time in the same run. Reported: each operation's speedup per engine.
"""

from __future__ import annotations

from benchmarks.conftest import CACHE, SCALE
from edgedb_opt.bench.report import table_lines
from edgedb_opt.bench.run import run_bench

WITHIN = 1.5


def test_both_engines() -> None:
    sqlite, turso = (run_bench(scale=SCALE, engine=e, cache_dir=CACHE) for e in ("sqlite", "turso"))
    print()
    for report in (sqlite, turso):
        print("\n".join(table_lines(report)))
    print(f"\nTurso engine vs targets, or within {WITHIN}x of SQLite's optimized time:")
    missed = []
    for s, t in zip(sqlite.operations, turso.operations, strict=True):
        ratio = t.optimized_ms / s.optimized_ms
        ok = (t.met is not False) or ratio <= WITHIN
        print(f"  {t.name:<24} {t.speedup:9.1f}x  {ratio:4.1f}x SQLite  {'ok' if ok else 'MISSED'}")
        missed += [] if ok else [t.name]
    for report in (sqlite, turso):
        assert all(op.same_results for op in report.operations), report.extra["engine"]
    if SCALE not in ("tiny", "small"):
        assert not missed, f"the Turso engine misses its targets and SQLite's time: {missed}"
