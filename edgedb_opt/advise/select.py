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
  turn (least gain first) and stays dropped if the workload does not slow by ``threshold``
  (and all the drops together by no more than that).
- Polish: each statement that could still get 20% faster, heaviest first, gets the candidate
  made for it that does that, if it pays for its bytes; then prune again (the polish's own
  picks are kept: the prune's bar, a share of the total, is the one they were picked past).
- No full scans: a statement that still reads a growing table whole gets the smallest
  candidate that ends the scan.
- A candidate rejected while another bottleneck hid its gain (a pick's questions index
  before the pick's answer probe was indexed) is tried again after each later choice, up to
  ``RETRIES`` times.

A statement whose plan did not change keeps its time between trials (``measure_set``): on a
heavy statement the noise of timing it again outweighs a real gain elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
#: The polish pass: the share of its statements' time an extra index must save.
POLISH_GAIN = 0.2
#: ... or, for a covering index, ``COVERING_GAIN`` times unless it is at most this share of
#: the bytes already chosen.
POLISH_SMALL = 0.05


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
        # Likewise the smallest way into the same lookup (same table, leading column and
        # statements) first, whatever order the bounds gave: the others must then pay.
        rivals = [
            c
            for c in pool
            if c.table == cand.table and c.columns[0] == cand.columns[0] and c.serves & cand.serves
        ]
        smallest = min(rivals, key=lambda c: (sizes.get(c.name, 0), c.name), default=cand)
        if sizes.get(smallest.name, 0) < sizes.get(cand.name, 0):
            cand = smallest
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
        # A covering twin, or another way into the same lookup (an index with the leading
        # column of one chosen for the same statements, e.g. .expert's with a constant column
        # where ours is partial), must pay for its bytes by halving their time.
        rival = any(
            c.table == cand.table and c.columns[0] == cand.columns[0] and c.serves & cand.serves
            for c in chosen
        )
        if saved >= threshold and (
            (cand.lean is None and not rival) or _pays(cand, current, trial)
        ):
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
    search = _Search(lab, cands, shapes, params, measure, say, sizes, chosen, gain, best)
    current = search.prune(current, threshold)
    polished = search.polish(current, budget)
    if polished is not None:
        current = search.prune(polished, threshold)
    room = None if budget is None else budget - search.spent()
    current = search.no_full_scans(current, room)
    return Selection(chosen, gain, current, tried)


@dataclass
class _Search:
    """What the passes after the forward one share: the scratch database, the workload, the
    candidates' sizes, and the choice so far (``chosen`` and ``gain``, changed in place)."""

    lab: Lab
    cands: Sequence[Candidate]
    shapes: Sequence[StatementShape]
    params: Sequence[Sequence[dict[str, Any]]]
    measure: Measure
    say: Callable[[str], None]
    sizes: dict[str, int]
    chosen: list[Candidate]
    gain: dict[str, float]
    best: Run  # every candidate in place: how fast each statement can get
    lost: float = 0.0  # what the prune passes' drops have cost so far, together
    #: Chosen by the polish pass for a 20% gain on their statements: no prune drops them for
    #: saving less than the total's share (only the polish's own idle check does).
    polished: set[str] = field(default_factory=set)

    def create(self, cand: Candidate) -> None:
        self.lab.execute(cand.create_sql())
        self.lab.execute(f'ANALYZE "{cand.name}"')

    def trial(self, table: str, current: Run) -> Run:
        """The workload measured again where an index on ``table`` can change it."""
        return self.measure(
            self.lab,
            self.shapes,
            self.params,
            analyze=False,
            only=_touching(self.shapes, table),
            previous=current,
        )

    def spent(self) -> int:
        return sum(self.sizes.get(c.name, 0) for c in self.chosen)

    def prune(self, current: Run, threshold: float) -> Run:
        """Drop each chosen index in turn (least gain first) for good when the workload does
        not slow by ``threshold`` without it, and the drops so far have not together cost more
        than ``threshold``, over every prune pass (each alone within it would otherwise add
        up)."""
        for cand in sorted(self.chosen, key=lambda c: self.gain[c.name]):
            if cand.name in self.polished:
                continue
            self.lab.execute(cand.drop_sql())
            trial = self.trial(cand.table, current)
            slower = trial.weighted(self.shapes) - current.weighted(self.shapes)
            if slower < threshold and self.lost + max(slower, 0.0) <= threshold:
                self.lost += slower
                self.chosen.remove(cand)
                current = trial
                self.say(f"dropped {cand.name}: the others serve its statements as well")
            else:
                self.gain[cand.name] = max(self.gain[cand.name], slower)
                self.create(cand)
        return current

    def polish(self, current: Run, budget: int | None) -> Run | None:
        """Each statement that could still get 20% faster (by the run with every candidate),
        heaviest first: of the candidates made for it that are not chosen, the one that makes
        the workload fastest is added when it makes the statements it serves at least
        ``POLISH_GAIN`` faster (a covering one: ``COVERING_GAIN`` times, unless it is small
        next to the set: ``POLISH_SMALL``). A share of the total (the greedy pass's bar) hides
        such gains when the total is large, and a relative one on the statements served
        stands above timing noise. The new run when something was added (the caller prunes
        again), else None."""
        shapes, sizes = self.shapes, self.sizes
        position = {s.statement.index: n for n, s in enumerate(shapes)}
        weight = [s.statement.weight for s in shapes]
        heaviest = sorted(range(len(shapes)), key=lambda n: -weight[n] * current.ms[n])
        spent = self.spent()
        added = False
        # Those that nothing here can make 20% faster are left alone.
        open_ = [n for n in heaviest if current.ms[n] * (1 - POLISH_GAIN) >= self.best.ms[n]]
        if open_:
            self.say(f"polishing: {len(open_)} statements could still get 20% faster")
        for n in open_:
            index = shapes[n].statement.index
            options = [
                c
                for c in self.cands
                if index in c.serves
                and c not in self.chosen
                and (budget is None or spent + sizes.get(c.name, 0) <= budget)
            ]
            best: tuple[float, Candidate, Run] | None = None
            for cand in sorted(options, key=lambda c: (sizes.get(c.name, 0), c.name)):
                self.create(cand)
                trial = self.trial(cand.table, current)
                self.lab.execute(cand.drop_sql())
                served = [position[i] for i in cand.serves if i in position]
                before_ms = sum(weight[m] * current.ms[m] for m in served)
                after_ms = sum(weight[m] * trial.ms[m] for m in served)
                saved = current.weighted(shapes) - trial.weighted(shapes)
                # A covering index pays for its extra columns as in the forward pass, or by
                # being small next to the set it joins, net of the chosen indexes no plan uses
                # with it in place (then the 20% bar is enough).
                idle = _idle(self.chosen, cand.table, trial)
                net = sizes.get(cand.name, 0) - sum(sizes.get(c.name, 0) for c in idle)
                cheap = net <= POLISH_SMALL * spent
                bar = 1 - POLISH_GAIN if cand.lean is None or cheap else 1 / COVERING_GAIN
                pays = after_ms <= before_ms * bar and saved > 0
                if pays and (best is None or saved > best[0]):
                    best = (saved, cand, trial)
            if best is None:
                continue
            saved, cand, current = best
            self.create(cand)
            self.chosen.append(cand)
            self.polished.add(cand.name)
            self.gain[cand.name] = saved
            spent += sizes.get(cand.name, 0)
            added = True
            self.say(f"chose {cand.name}: statement {index} is {saved:.3f} weighted ms faster")
            for idle_index in _idle(self.chosen, cand.table, current):
                # No plan uses it any more: the writes no longer pay for it.
                self.lab.execute(idle_index.drop_sql())
                self.chosen.remove(idle_index)
                self.polished.discard(idle_index.name)
                spent -= sizes.get(idle_index.name, 0)
                self.say(f"dropped {idle_index.name}: {cand.name} serves its statements")
        return current if added else None

    def no_full_scans(self, current: Run, room: int | None) -> Run:
        """A statement that still reads a growing table whole gets the smallest candidate
        made for it that ends the scan, even when its weight is too low for the time it saves
        now: the scan's cost grows with the table, the index's does not. Within the budget's
        ``room``."""
        growing = self.lab.growing_tables()
        for n, shape in enumerate(self.shapes):
            scanned = full_scans(current.plans[n], growing)
            for table in sorted(scanned):
                options = [
                    c
                    for c in self.cands
                    if c.table == table
                    and shape.statement.index in c.serves
                    and c not in self.chosen
                    and (room is None or self.sizes.get(c.name, 0) <= room)
                ]
                for cand in sorted(options, key=lambda c: (len(c.columns), c.name)):
                    self.create(cand)
                    trial = self.trial(table, current)
                    if table not in full_scans(trial.plans[n], growing):
                        self.chosen.append(cand)
                        if room is not None:
                            room -= self.sizes.get(cand.name, 0)
                        saved = current.weighted(self.shapes) - trial.weighted(self.shapes)
                        self.gain[cand.name] = saved
                        current = trial
                        self.say(
                            f"chose {cand.name}: statement {shape.statement.index} read "
                            f"{table} whole"
                        )
                        break
                    self.lab.execute(cand.drop_sql())
        return current


def _idle(chosen: Sequence[Candidate], table: str, run: Run) -> list[Candidate]:
    """The chosen indexes on ``table`` that no statement's plan in ``run`` uses."""
    used = {word for plan in run.plans for line in plan for word in line.split()}
    return [c for c in chosen if c.table == table and c.name not in used]


def full_scans(plan: list[str], tables: set[str]) -> set[str]:
    """Tables of ``tables`` that a plan reads whole (``SCAN t``, not through an index)."""
    out = set()
    for line in plan:
        words = line.split()
        if len(words) >= 2 and words[0] == "SCAN" and words[1] in tables and "USING" not in words:
            out.add(words[1])
    return out
