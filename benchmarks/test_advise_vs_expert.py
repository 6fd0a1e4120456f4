"""`edgeopt advise` against SQLite's `.expert` on the study-flow workload, at scale small.

The acceptance of the advisor issue: starting from base.sql at scale small, every statement's
plan with our set reads neither questions nor user_answers whole, and our set is no larger and
no slower (weighted workload time) than `.expert`'s. Both sets are measured on fresh copies of
the same file with the same sample values (`compare_with_expert`). Timing claims live here,
not in the unit tests.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.conftest import cached_db
from edgedb_opt.advise import advise, compare_with_expert, load_workload
from edgedb_opt.advise.select import full_scans

WORKLOAD = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "advise"
BIG = {"questions", "user_answers"}


def test_advise_beats_expert_on_the_study_workload_at_scale_small() -> None:
    db = cached_db("small", applied=False)
    workload = load_workload(WORKLOAD / "study_workload.sql")
    advice = advise(db, workload, progress=lambda text: print(f"advise: {text}"))
    result = compare_with_expert(db, workload, advice)
    expert, ours = result["expert"], result["ours"]
    print(
        f"\n{'scale small':<12} {'indexes':>8} {'bytes':>12} {'weighted ms':>12}\n"
        f"{'before':<12} {'-':>8} {'-':>12} {result['weighted_ms_before']:>12.3f}\n"
        f"{'.expert':<12} {expert['index_count']:>8} {expert['bytes']:>12,} "
        f"{expert['weighted_ms']:>12.3f}\n"
        f"{'edgeopt':<12} {ours['index_count']:>8} {ours['bytes']:>12,} "
        f"{ours['weighted_ms']:>12.3f}"
    )
    for row in result["per_statement_ms"]:
        print(f"  statement {row['statement']:>2}: {row}")
    for report in advice.statements:
        assert not full_scans(report.plan_after, BIG), (report.index, report.plan_after)
    assert ours["bytes"] <= expert["bytes"]
    assert ours["weighted_ms"] <= expert["weighted_ms"]
