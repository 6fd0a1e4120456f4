"""Choosing the index set by measurement: a forward greedy pass, then a pruning pass.

Estimates only order the work; every decision is a measurement on the scratch database.

- Forward: the bound on what a candidate can save is, for each statement it was made for, the
  distance between the statement's current time and its time with every candidate in place,
  weighted, minus the candidate's share of the extra write cost on its table. Candidates are
  tried best bound per byte first: create, plan and time the statements that touch the table,
  keep the index only if the weighted workload got faster by at least ``threshold``. A lean
  index is tried before its covering twin; the twin then only gets in if it makes the
  statements it serves at least ``COVERING_GAIN`` times faster (its bytes must pay).
  Overlapping candidates lose their bound once another index has taken the gain.
- Prune: an index chosen early may be redundant once later ones are in. Each is dropped in
  turn (least gain first) and stays dropped if the workload does not slow by ``threshold``.
- A candidate rejected while another bottleneck hid its gain (a pick's questions index
  before the pick's answer probe was indexed) is tried again after each later choice, up to
  ``RETRIES`` times.

A statement whose plan did not change keeps its time between trials (``measure_set``): on a
heavy statement the noise of timing it again outweighs a real gain elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edgedb_opt.advise.candidates import Candidate
from edgedb_opt.advise.measure import Lab
from edgedb_opt.advise.shape import StatementShape

__all__ = ["Selection", "select_indexes"]

#: A covering index must make the statements it serves this many times faster than they are
#: without it (with its lean twin, when that was chosen) to be worth its extra bytes.
COVERING_GAIN = 2.0
#: Times a rejected candidate is tried again after later choices.
RETRIES = 2


class Run(Protocol):
    ms: list[float]
    plans: list[list[str]]

    def weighted(self, shapes: Sequence[StatementShape]) -> float: ...


Measure = Callable[..., Run]


@dataclass
class Selection:
    """The chosen indexes, what each one saved when it was added, and the final run."""

    chosen: list[Candidate]
    gain: dict[str, float]
    run: Run
    tried: int


def _touching(shapes: Sequence[StatementShape], table: str) -> set[int]:
    return {
        n
        for n, s in enumerate(shapes)
        if s.writes == table or any(u.table == table for u in s.uses)
    }


def select_indexes(
    lab: Lab,
    cands: Sequence[Candidate],
    shapes: Sequence[StatementShape],
    params: Sequence[Sequence[dict[str, Any]]],
    *,
    before: Run,
    best: Run,
    sizes: dict[str, int],
    budget: int | None,
    threshold: float,
    measure: Measure,
    say: Callable[[str], None],
) -> Selection:
    """Choose from ``cands`` (none of which exists in ``lab`` when called); see the module
    docstring. ``best`` is the run with every candidate in place."""
    position = {s.statement.index: n for n, s in enumerate(shapes)}
    weight = [s.statement.weight for s in shapes]
    extra_write: dict[str, float] = {}
    for n, s in enumerate(shapes):
        if s.writes is not None:
            count = sum(1 for c in cands if c.table == s.writes) or 1
            per_index = max(0.0, best.ms[n] - before.ms[n]) * weight[n] / count
            extra_write[s.writes] = extra_write.get(s.writes, 0.0) + per_index
    by_key = {c.key: c for c in cands}

    def _pays(cand: Candidate, now: Run, trial: Run) -> bool:
        """A covering index's extra columns pay for their bytes only by halving the time of
        the statements it was made for (else its lean twin, or .expert's, does as well)."""
        served = [position[i] for i in cand.serves if i in position]
        before_ms = sum(weight[n] * now.ms[n] for n in served)
        after_ms = sum(weight[n] * trial.ms[n] for n in served)
        return after_ms * COVERING_GAIN <= before_ms

    current = before
    chosen: list[Candidate] = []
    gain: dict[str, float] = {}
    spent = 0
    rejected: dict[str, int] = {}  # name -> times tried and rejected
    tried = 0
    blocked: set[str] = set()  # rejected since the last choice, or too often
    while True:

        def bound(c: Candidate, run: Run = current) -> float:
            # Writes count too: the lookups of an UPDATE / DELETE, and of the triggers a write
            # fires, gain from an index (their extra write cost is charged below).
            reads = sum(
                weight[position[i]] * max(0.0, run.ms[position[i]] - best.ms[position[i]])
                for i in c.serves
                if i in position
            )
            return reads - extra_write.get(c.table, 0.0)

        pool = [
            c
            for c in cands
            if c.name not in blocked
            and c not in chosen
            and bound(c) > threshold
            and (budget is None or spent + sizes.get(c.name, 0) <= budget)
        ]
        if not pool:
            break
        cand = max(pool, key=lambda c: bound(c) / max(sizes.get(c.name, 1), 1))
        lean = by_key.get(cand.lean.key) if cand.lean is not None else None
        if lean is not None and lean in pool:
            cand = lean  # the lean twin first: its covering one must then pay for its bytes
        tried += 1
        # The branches of an OR are looked up together (MULTI-INDEX OR) or not at all.
        group = [cand] + [
            c
            for c in pool
            if cand.or_group is not None and c.or_group == cand.or_group and c is not cand
        ]
        for c in group:
            lab.execute(c.create_sql())
            lab.execute(f'ANALYZE "{c.name}"')
        trial = measure(
            lab, shapes, params, analyze=False, only=_touching(shapes, cand.table), previous=current
        )
        saved = current.weighted(shapes) - trial.weighted(shapes)
        if saved >= threshold and (cand.lean is None or _pays(cand, current, trial)):
            for c in group:
                chosen.append(c)
                gain[c.name] = saved / len(group)
                spent += sizes.get(c.name, 0)
            current = trial
            say(f"chose {', '.join(c.name for c in group)}: saves {saved:.3f} weighted ms")
            # What this choice removed may have hidden another candidate's gain.
            blocked = {n for n, times in rejected.items() if times > RETRIES}
        else:
            for c in group:
                lab.execute(c.drop_sql())
                rejected[c.name] = rejected.get(c.name, 0) + 1
                blocked.add(c.name)
    current = _prune(lab, chosen, gain, shapes, params, current, measure, threshold, say)
    current = _no_full_scans(lab, cands, chosen, gain, shapes, params, current, measure, say)
    return Selection(chosen, gain, current, tried)


def _prune(
    lab: Lab,
    chosen: list[Candidate],
    gain: dict[str, float],
    shapes: Sequence[StatementShape],
    params: Sequence[Sequence[dict[str, Any]]],
    current: Run,
    measure: Measure,
    threshold: float,
    say: Callable[[str], None],
) -> Run:
    """Drop each chosen index in turn (least gain first) for good when the workload does not
    slow by ``threshold`` without it; ``chosen`` and ``gain`` are updated in place."""
    for cand in sorted(chosen, key=lambda c: gain[c.name]):
        lab.execute(cand.drop_sql())
        trial = measure(
            lab, shapes, params, analyze=False, only=_touching(shapes, cand.table), previous=current
        )
        slower = trial.weighted(shapes) - current.weighted(shapes)
        if slower < threshold:
            chosen.remove(cand)
            current = trial
            say(f"dropped {cand.name}: the others serve its statements as well")
        else:
            gain[cand.name] = max(gain[cand.name], slower)
            lab.execute(cand.create_sql())
            lab.execute(f'ANALYZE "{cand.name}"')
    return current


def full_scans(plan: list[str], tables: set[str]) -> set[str]:
    """Tables of ``tables`` that a plan reads whole (``SCAN t``, not through an index)."""
    out = set()
    for line in plan:
        words = line.split()
        if len(words) >= 2 and words[0] == "SCAN" and words[1] in tables and "USING" not in words:
            out.add(words[1])
    return out


def _no_full_scans(
    lab: Lab,
    cands: Sequence[Candidate],
    chosen: list[Candidate],
    gain: dict[str, float],
    shapes: Sequence[StatementShape],
    params: Sequence[Sequence[dict[str, Any]]],
    current: Run,
    measure: Measure,
    say: Callable[[str], None],
) -> Run:
    """A statement that still reads a growing table whole gets the smallest candidate made
    for it that ends the scan, even when its weight is too low for the time it saves now:
    the scan's cost grows with the table, the index's does not."""
    growing = lab.growing_tables()
    for n, shape in enumerate(shapes):
        scanned = full_scans(current.plans[n], growing)
        for table in sorted(scanned):
            options = [
                c
                for c in cands
                if c.table == table and shape.statement.index in c.serves and c not in chosen
            ]
            for cand in sorted(options, key=lambda c: (len(c.columns), c.name)):
                lab.execute(cand.create_sql())
                lab.execute(f'ANALYZE "{cand.name}"')
                trial = measure(
                    lab,
                    shapes,
                    params,
                    analyze=False,
                    only=_touching(shapes, table),
                    previous=current,
                )
                if table not in full_scans(trial.plans[n], growing):
                    chosen.append(cand)
                    gain[cand.name] = current.weighted(shapes) - trial.weighted(shapes)
                    current = trial
                    say(f"chose {cand.name}: statement {shape.statement.index} read {table} whole")
                    break
                lab.execute(cand.drop_sql())
    return current
