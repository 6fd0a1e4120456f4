"""`edgeopt advise`: measured index recommendations for any SQLite workload.

>>> from edgedb_opt.advise import advise, load_workload  # doctest: +SKIP
>>> advice = advise("app.db", load_workload("workload.sql"), budget_mb=64)  # doctest: +SKIP
"""

from __future__ import annotations

from edgedb_opt.advise.advisor import Advice, IndexAdvice, StatementReport, advise
from edgedb_opt.advise.compare import compare_with_expert
from edgedb_opt.advise.emit import emit_pack
from edgedb_opt.advise.sources import load_trace, workload_from_trace
from edgedb_opt.advise.workload import WorkloadStatement, load_workload, parse_workload

__all__ = [
    "Advice",
    "IndexAdvice",
    "StatementReport",
    "WorkloadStatement",
    "advise",
    "compare_with_expert",
    "emit_pack",
    "load_trace",
    "load_workload",
    "parse_workload",
    "workload_from_trace",
]
