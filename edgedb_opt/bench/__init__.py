"""Measurement users can trust: the study flow, baseline vs optimized, in one process run.

``edgeopt bench`` and ``edgeopt demo`` are thin shells over :func:`run_bench`,
:func:`run_scales` and :func:`run_demo`; ``benchmarks/test_study_flow.py`` uses the same
files (:mod:`.data`), picks (:mod:`.picks`) and operations (:mod:`.operations`).
"""

from __future__ import annotations

from edgedb_opt.bench.operations import OPERATIONS, TARGETS, operation_names
from edgedb_opt.bench.report import BenchReport, regressions
from edgedb_opt.bench.run import run_bench, run_scales
from edgedb_opt.bench.runner import OperationResult

__all__ = [
    "OPERATIONS",
    "TARGETS",
    "BenchReport",
    "OperationResult",
    "operation_names",
    "regressions",
    "run_bench",
    "run_scales",
]
