"""Workloads from what an application ran: a SQLite trace, read into the workload format.

A trace is every statement as it ran, values written in (what ``sqlite3``'s ``.trace``
prints, each statement ending with ``;``, or what Python's ``set_trace_callback`` hands
over, one call per statement and no ``;``). :func:`workload_from_trace` keeps the reads and
writes (not transactions, pragmas, schema changes nor the shell's own parameter table),
groups them by fingerprint (the runtime monitor's: one shape whatever its values) and
writes one workload statement per shape, weighted by how often it ran: the shape's most
frequent text, and its second most frequent text when there is one, so the advisor sees
which literals vary (``advise.values``).

Without ``;`` a statement starts at a line that begins, unindented, with a statement
keyword, unless the line before ends in ``UNION``, ``ALL``, ``INTERSECT``, ``EXCEPT``, a
``(`` or a ``,`` (a compound or a list goes on). Write the callback as
``conn.set_trace_callback(lambda s: log.write(s + ";\\n"))`` and nothing is guessed.

The running app's own record is :meth:`edgedb_opt.runtime.monitor.Monitor.export_workload`:
a workload file already (fingerprints and counts; no values, which the monitor never keeps).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from edgedb_opt.advise.workload import WorkloadStatement, parse_workload, read_text
from edgedb_opt.errors import WorkloadError
from edgedb_opt.runtime.fingerprint import fingerprint
from edgedb_opt.sqltext import split_statements

__all__ = ["load_trace", "workload_from_trace"]

_STARTS = re.compile(
    r"^(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE|VALUES|BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT"
    r"|RELEASE|PRAGMA|CREATE|DROP|ALTER|ANALYZE|VACUUM|EXPLAIN|ATTACH|DETACH|REINDEX)\b",
    re.IGNORECASE,
)
_GOES_ON = re.compile(r"(\bUNION|\bALL|\bINTERSECT|\bEXCEPT|\(|,)\s*$", re.IGNORECASE)
_KEEP = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE)\b", re.IGNORECASE)
_INTERNAL = re.compile(
    r"\b(sqlite_master|sqlite_schema|sqlite_temp_master|sqlite_parameters|sqlite_stat\d)\b",
    re.IGNORECASE,
)


def _chunks(text: str) -> list[str]:
    """The trace cut where a new statement starts (see the module docstring)."""
    chunks: list[list[str]] = [[]]
    for line in text.splitlines():
        previous = next((ln for ln in reversed(chunks[-1]) if ln.strip()), "")
        if _STARTS.match(line) and chunks[-1] and not _GOES_ON.search(previous):
            chunks.append([])
        chunks[-1].append(line)
    return ["\n".join(c) for c in chunks if any(ln.strip() for ln in c)]


def _statements(text: str) -> list[str]:
    out: list[str] = []
    for chunk in _chunks(text):
        out.extend(" ".join(s.sql.split()).rstrip(";").rstrip() for s in split_statements(chunk))
    return [s for s in out if _KEEP.match(s) and not _INTERNAL.search(s)]


def workload_from_trace(text: str, *, source: str = "trace") -> list[WorkloadStatement]:
    """The workload a trace's text describes (see the module docstring).

    Raises:
        WorkloadError: no read or write statement in the trace, or one that does not parse.
    """
    runs = Counter(_statements(text))
    if not runs:
        raise WorkloadError(f"{source}: no SELECT, INSERT, UPDATE or DELETE statement in it")
    shapes: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for sql, count in runs.most_common():
        shapes[fingerprint(sql)].append((sql, count))
    parts = []
    for shape, texts in shapes.items():
        total = sum(count for _, count in texts)
        kept = texts[:2]
        second = kept[1][1] if len(kept) > 1 else 0
        parts.append(f"-- {shape}\n-- weight: {total - second}\n{kept[0][0]};")
        if second:
            parts.append(f"-- weight: {second}\n{kept[1][0]};")
    return parse_workload("\n\n".join(parts) + "\n", source=source)


def load_trace(path: str | Path) -> list[WorkloadStatement]:
    """Read a trace file and make it a workload (see :func:`workload_from_trace`).

    Raises:
        ConfigError: the file cannot be read. WorkloadError: see :func:`workload_from_trace`.
    """
    return workload_from_trace(read_text(path, "trace"), source=str(path))
