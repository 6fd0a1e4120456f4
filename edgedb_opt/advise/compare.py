"""``--compare-expert``: our index set against SQLite's ``.expert`` on the same statements.

Both sets are measured in one laboratory (a fresh scratch copy), one after the other, with
the same sample values: first no index (before), then ``.expert``'s proposals, then ours.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgedb_opt.advise.advisor import Advice, measure_set, measured_workload
from edgedb_opt.advise.expert import dedupe, run_expert
from edgedb_opt.advise.measure import Lab, scratch_copy
from edgedb_opt.advise.workload import WorkloadStatement

__all__ = ["compare_with_expert"]

_NAME = re.compile(r'CREATE\s+(?:UNIQUE\s+)?INDEX\s+("(?:[^"]|"")+"|\S+)\s+ON', re.IGNORECASE)


def _index_name(sql: str) -> str:
    m = _NAME.search(sql)
    name = m.group(1) if m else ""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def compare_with_expert(
    db: str | Path,
    workload: Sequence[WorkloadStatement],
    advice: Advice,
    *,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Weighted workload time and index bytes: before, with ``.expert``'s set, with ours.

    The result is also stored in ``advice.comparison``.
    """
    params: list[list[dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        # Each set on its own pristine copy: indexes created and dropped before would leave
        # free pages behind that change what a write costs.
        runs: dict[str, Any] = {}
        sizes: dict[str, dict[str, int]] = {}
        created: list[str] = []
        failed: list[str] = []
        proposals: list[Any] = []
        shapes: list[Any] = []
        for which in ("before", "expert", "ours"):
            path = scratch_copy(Path(db), Path(tmp) / f"{which}.db")
            with Lab(path) as lab:
                if not shapes:
                    # The same statements and values as advise measured (the data is the same).
                    shapes, params = measured_workload(lab, workload)
                if which == "expert":
                    proposals = run_expert(path, [w.sql for w in workload])
                    for sql in dedupe(proposals):
                        try:
                            lab.execute(sql)
                            created.append(sql)
                        except sqlite3.Error as exc:  # .expert proposed what SQLite refuses
                            failed.append(f"{sql}: {exc}")
                elif which == "ours":
                    for idx in advice.indexes:
                        lab.execute(idx.create_sql)
                runs[which] = measure_set(lab, shapes, params)
                sizes[which] = lab.sizes()
    before, expert_run, ours_run = runs["before"], runs["expert"], runs["ours"]
    expert_bytes = sum(sizes["expert"].get(_index_name(sql), 0) for sql in created)
    ours_bytes = sum(sizes["ours"].get(i.name, 0) for i in advice.indexes)
    result = {
        "weighted_ms_before": round(before.weighted(shapes), 4),
        "expert": {
            "indexes": created,
            "refused": failed,
            "statement_errors": [
                f"statement {a.statement + 1}: {a.error}" for a in proposals if a.error
            ],
            "index_count": len(created),
            "bytes": expert_bytes,
            "weighted_ms": round(expert_run.weighted(shapes), 4),
        },
        "ours": {
            "indexes": [i.create_sql for i in advice.indexes],
            "index_count": len(advice.indexes),
            "bytes": ours_bytes,
            "weighted_ms": round(ours_run.weighted(shapes), 4),
        },
        "per_statement_ms": [
            {
                "statement": s.statement.index,
                "before": round(b, 4),
                "expert": round(e, 4),
                "ours": round(o, 4),
            }
            for s, b, e, o in zip(shapes, before.ms, expert_run.ms, ours_run.ms, strict=True)
        ],
    }
    advice.comparison = result
    return result
