"""`advise()`: a measured, workload-wide index set for any SQLite database.

1. Parse the workload and analyze each statement's shape (:mod:`.shape`); generate candidates
   (:mod:`.candidates`).
2. On a scratch copy (never the user's file): ANALYZE, then plan and time every statement
   with sample values from the data ("before"); create every candidate, ANALYZE, plan and
   time again, and read each candidate's size from ``dbstat``.
3. Credit each candidate the planner used with the weighted time it saved (shared evenly
   when a statement uses several), minus its write cost (the extra time of the workload's
   INSERT/UPDATE/DELETE on its table), and choose greedily by net saving per byte under the
   budget.
4. Keep only the chosen set, ANALYZE, and measure again: the numbers reported are of that
   set, not estimates. A chosen index the planner no longer uses is dropped and the set is
   measured again.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgedb_opt.advise.candidates import Candidate, TableInfo, candidates_for, merge, term_column
from edgedb_opt.advise.expert import proposed_index, run_expert
from edgedb_opt.advise.measure import RUN_BUDGET_S, Lab, scratch_copy
from edgedb_opt.advise.select import select_indexes
from edgedb_opt.advise.shape import StatementShape, TableUse, analyze_statement
from edgedb_opt.advise.values import parameterize, value_sets
from edgedb_opt.advise.workload import WorkloadStatement
from edgedb_opt.errors import ConfigError, DriverError, WorkloadError

__all__ = ["Advice", "IndexAdvice", "StatementReport", "advise", "measure_set", "measured_workload"]

Progress = Callable[[str], None]
#: An index is proposed only if it saves at least this share of the workload's weighted
#: time with every candidate in place (the time a good set approaches).
KEEP_SHARE = 0.01


@dataclass
class StatementReport:
    """One workload statement: plans and times before and after the proposed set."""

    index: int
    line: int
    weight: float
    sql: str
    params: dict[str, Any]  # the first of param_sets: as written
    ms_before: float = 0.0
    ms_after: float = 0.0
    plan_before: list[str] = field(default_factory=list)
    plan_after: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)  # proposed indexes in the plan after
    note: str | None = None  # why no index helps it, when none does
    #: The statement as measured: its literals that are parameters written as :lN.
    measured_sql: str = ""
    #: Every set of values it was timed with (its times are their mean): as written, a
    #: typical key, the heaviest value (see ``advise.values``).
    param_sets: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IndexAdvice:
    """One proposed index."""

    name: str
    table: str
    columns: list[str]
    where: str | None
    create_sql: str
    drop_sql: str
    bytes: int
    serves: list[int]
    saved_ms: float  # weighted workload milliseconds it saves, as credited when chosen


@dataclass
class Advice:
    """What ``edgeopt advise`` reports (``as_dict`` is its ``--json``)."""

    statements: list[StatementReport]
    indexes: list[IndexAdvice]
    weighted_ms_before: float
    weighted_ms_after: float
    total_bytes: int
    candidates: int
    unused_existing: list[str]
    prefix_duplicates: list[str]
    comparison: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def _schema(infos: dict[str, TableInfo]) -> dict[str, set[str]]:
    return {name: info.columns for name, info in infos.items()}


def _used(plan: list[str], names: set[str]) -> list[str]:
    out = []
    for line in plan:
        for word in line.replace("(", " ").split():
            if word in names and word not in out:
                out.append(word)
    return out


@dataclass
class _Run:
    ms: list[float]
    plans: list[list[str]]

    def weighted(self, shapes: Sequence[StatementShape]) -> float:
        return sum(s.statement.weight * ms for s, ms in zip(shapes, self.ms, strict=True))


def measure_set(
    lab: Lab,
    shapes: Sequence[StatementShape],
    params: Sequence[Sequence[dict[str, Any]]],
    *,
    analyze: bool = True,
    only: set[int] | None = None,
    previous: _Run | None = None,
) -> _Run:
    """Plan and time the statements on ``lab`` as its indexes stand now (after ANALYZE,
    unless told the statistics are current). Each statement is timed with each of its sets
    of values (the mean is its time; the plan is that of the first set). With ``only``
    (0-based positions), the others keep their figures from ``previous``: dropping an
    index changes only the plans that used it. A read whose plan is the one it had in
    ``previous`` keeps its time too."""
    if analyze:
        lab.analyze()
    plans = list(previous.plans) if previous else [[] for _ in shapes]
    ms = list(previous.ms) if previous else [0.0 for _ in shapes]
    for n, (shape, sets) in enumerate(zip(shapes, params, strict=True)):
        if only is not None and n not in only:
            continue
        sql, write = shape.statement.sql, shape.writes is not None
        plan = lab.plan(sql, sets[0])
        if previous is not None and not write and plan == previous.plans[n]:
            # The same plan does the same work: its time stands. Timing it again would only
            # add noise, which on a heavy statement outweighs a real gain elsewhere (a write
            # is timed again: an index costs it work its plan does not show).
            continue
        plans[n] = plan
        budget = RUN_BUDGET_S / len(sets)
        ms[n] = sum(lab.time_ms(sql, v, write=write, budget_s=budget) for v in sets) / len(sets)
    return _Run(ms, plans)


def _note(shape: StatementShape, plan: list[str]) -> str | None:
    notes = [n for use in shape.uses for n in use.notes]
    if any(" USING " in line for line in plan):
        return None
    if notes:
        return "no index can help: " + "; ".join(dict.fromkeys(notes))
    if shape.uses and not any(u.eq or u.ranges or u.order or u.joins for u in shape.uses):
        return "no index can help: no filter, join or order on an indexable column"
    return None


def _existing_report(
    infos: dict[str, TableInfo], plans: list[list[str]]
) -> tuple[list[str], list[str]]:
    seen = " ".join(" ".join(p) for p in plans)
    unused: list[str] = []
    dupes: list[str] = []
    for info in infos.values():
        for ex in info.existing:
            if ex.auto:
                continue
            if f" {ex.name} " not in f" {seen.replace('(', ' ')} ":
                unused.append(f"{ex.name} on {info.name}: no workload statement uses it")
            for other in info.existing:
                if (
                    other.name != ex.name
                    and not ex.unique
                    and ex.where == other.where
                    and other.columns[: len(ex.columns)] == ex.columns
                    and len(other.columns) > len(ex.columns)
                ):
                    dupes.append(f"{ex.name} is a prefix of {other.name}: drop {ex.name}")
    return unused, dupes


def _trigger_uses(lab: Lab, shape: StatementShape, schema: dict[str, set[str]]) -> list[TableUse]:
    """The lookups of the triggers a write runs (``UPDATE t SET ... WHERE k = new.k``), as
    uses of the write itself: an index for them is credited to the statement that fires them."""
    if shape.writes is None:
        return []
    # The statement's own verb, past a WITH clause: REPLACE fires INSERT triggers.
    verb = re.search(r"\b(INSERT|REPLACE|UPDATE|DELETE)\b", shape.statement.sql, re.IGNORECASE)
    event = (
        "INSERT" if verb is None or verb.group(1).upper() == "REPLACE" else verb.group(1).upper()
    )
    out: list[TableUse] = []
    for body in lab.trigger_statements(shape.writes, event):
        try:
            inner = analyze_statement(replace(shape.statement, sql=body, names=[]), schema)
        except WorkloadError:
            continue  # a trigger statement sqlglot cannot read: its lookups go unadvised
        out.extend(inner.uses)
    return out


def expert_candidates(
    lab: Lab,
    shapes: Sequence[StatementShape],
    infos: dict[str, TableInfo],
    progress: Progress | None,
) -> list[Candidate]:
    """SQLite's own ``.expert`` proposals for each statement, as candidates measured like
    ours: it reads shapes this module's analysis may not (and the choice stays measured).
    Without a ``sqlite3`` command, or on a statement it rejects, there are simply fewer."""
    try:
        reports = run_expert(lab.path, [s.statement.sql for s in shapes])
    except (ConfigError, DriverError) as exc:
        _say(progress, f"no .expert candidates: {exc}")
        return []
    out = []
    for shape, report in zip(shapes, reports, strict=True):
        for sql in report.indexes:
            found = proposed_index(sql)
            if found is None or found[0] not in infos:
                continue
            table, terms = found
            info = infos[table]
            while terms and info.is_rowid(term_column(terms[-1])):
                terms.pop()  # rowid ends every index already
            if terms and not info.is_rowid(term_column(terms[0])):
                out.append(Candidate(table, tuple(terms), None, frozenset({shape.statement.index})))
    return out


def measured_workload(
    lab: Lab, workload: Sequence[WorkloadStatement]
) -> tuple[list[StatementShape], list[list[dict[str, Any]]]]:
    """The statements as measured (literals that are parameters made ``:lN``), their shapes,
    and each one's sets of values (see ``advise.values``).

    Raises:
        WorkloadError: a statement does not parse or SQLite cannot prepare it.
    """
    schema = _schema(lab.tables())
    shapes = [analyze_statement(w, schema) for w in parameterize(workload, schema, lab)]
    for shape in shapes:
        shape.uses.extend(_trigger_uses(lab, shape, schema))
    params: list[list[dict[str, Any]]] = []
    for shape in shapes:
        st = shape.statement
        sets = value_sets(st, shape.params, lab)
        try:
            lab.check(st.sql, sets[0])
        except sqlite3.Error as exc:
            raise WorkloadError(f"{st.label}: SQLite cannot run it: {exc}") from exc
        params.append(sets)
    return shapes, params


def advise(
    db: str | Path,
    workload: Sequence[WorkloadStatement],
    *,
    budget_mb: float | None = None,
    progress: Progress | None = None,
    workdir: Path | None = None,
) -> Advice:
    """Measure a workload on a scratch copy of ``db`` and propose an index set.

    Raises:
        ConfigError: a bad budget. DriverError: ``db`` is not a readable SQLite file.
        WorkloadError: a statement does not parse or SQLite cannot prepare it.
    """
    if budget_mb is not None and not budget_mb > 0:
        raise ConfigError(f"budget_mb must be positive, not {budget_mb}", param="budget_mb")
    budget = int(budget_mb * 1024 * 1024) if budget_mb is not None else None
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        _say(progress, "copying the database to a scratch file")
        path = scratch_copy(Path(db), Path(tmp) / "scratch.db")
        with Lab(path) as lab:
            return _advise(lab, workload, budget, progress)


def _advise(
    lab: Lab, workload: Sequence[WorkloadStatement], budget: int | None, progress: Progress | None
) -> Advice:
    infos = lab.tables()
    shapes, params = measured_workload(lab, workload)
    raw = [
        c
        for shape in shapes
        for use in shape.uses
        if use.table in infos
        for c in candidates_for(use, shape.statement.index, infos[use.table])
    ]
    raw.extend(expert_candidates(lab, shapes, infos, progress))
    cands = merge(raw, infos, keep_lean=True)
    _say(progress, f"{len(shapes)} statements, {len(cands)} candidate indexes: measuring before")
    before = measure_set(lab, shapes, params)
    _say(progress, f"building {len(cands)} candidates")
    buildable = []
    for c in cands:
        try:
            lab.execute(c.create_sql())
            buildable.append(c)
        except sqlite3.Error as exc:  # e.g. an expression SQLite will not index
            _say(progress, f"skipped {c.name}: {exc}")
    cands = buildable
    best = measure_set(lab, shapes, params)
    sizes = lab.sizes()
    for c in cands:
        lab.execute(c.drop_sql())
    lab.analyze()
    threshold = max(KEEP_SHARE * best.weighted(shapes), 1e-6)
    _say(progress, f"choosing: each index must save {threshold:.3f} weighted ms")
    picked = select_indexes(
        lab,
        cands,
        shapes,
        params,
        before=before,
        best=best,
        sizes=sizes,
        budget=budget,
        threshold=threshold,
        measure=measure_set,
        say=lambda text: _say(progress, text),
    )
    final = merge(picked.chosen, infos)
    for c in picked.chosen:
        if c not in final:
            lab.execute(c.drop_sql())
    credit = picked.gain
    after = measure_set(lab, shapes, params)
    sizes = lab.sizes()
    names = {c.name for c in final}
    reports = []
    for shape, sets, b, a in zip(shapes, params, before.plans, after.plans, strict=True):
        n = shape.statement.index - 1
        reports.append(
            StatementReport(
                shape.statement.index,
                shape.statement.line,
                shape.statement.weight,
                shape.statement.text,
                sets[0],
                round(before.ms[n], 4),
                round(after.ms[n], 4),
                b,
                a,
                _used(a, names),
                _note(shape, a),
                shape.statement.sql,
                sets,
            )
        )
    unused, dupes = _existing_report(infos, after.plans)
    indexes = [
        IndexAdvice(
            c.name,
            c.table,
            list(c.columns),
            c.where,
            c.create_sql(),
            c.drop_sql(),
            sizes.get(c.name, 0),
            sorted(c.serves),
            round(credit.get(c.name, 0.0), 4),
        )
        for c in final
    ]
    return Advice(
        reports,
        indexes,
        round(before.weighted(shapes), 4),
        round(after.weighted(shapes), 4),
        sum(i.bytes for i in indexes),
        len(cands),
        unused,
        dupes,
    )
