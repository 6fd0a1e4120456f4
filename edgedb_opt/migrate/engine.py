"""Applying and exactly undoing pack steps, one transaction per step with its ledger row.

Every write starts with ``BEGIN IMMEDIATE`` (the write lock) and re-reads the ledger under
it, so two processes applying at once each see the other's committed steps and every step
is applied exactly once. ``status()`` and dry runs only read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import ChecksumDriftError, DriverError, Hint, MigrationError
from edgedb_opt.migrate import fit, ledger
from edgedb_opt.migrate.pack import Pack, Step
from edgedb_opt.sqltext import Statement, split_statements

StepState = Literal["applied", "pending", "skipped"]


@dataclass(frozen=True)
class StepStatus:
    """One line of ``edgeopt status`` (the ``status --json`` shape)."""

    id: str
    pack: str
    state: StepState
    reason: str | None
    applied_at: str | None
    checksum_ok: bool | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "pack": self.pack,
            "state": self.state,
            "reason": self.reason,
            "applied_at": self.applied_at,
            "checksum_ok": self.checksum_ok,
        }


CheckVerdict = Literal["applied", "skipped", "apply", "skip", "fail", "not_reached"]


@dataclass(frozen=True)
class StepCheck:
    """What ``apply`` would do with one step on this schema (the ``check --json`` shape).

    ``verdict``: ``applied`` / ``skipped`` (already in the ledger), ``apply``, ``skip``
    (``reason`` names what is missing), ``fail`` (``reason``: SQLite's message at
    ``file:line``), ``not_reached`` (an earlier step fails and apply stops there).
    """

    id: str
    pack: str
    verdict: CheckVerdict
    reason: str | None
    touches: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "pack": self.pack,
            "verdict": self.verdict,
            "reason": self.reason,
            "touches": list(self.touches),
        }


@dataclass(frozen=True)
class StatementCheck:
    """Whether one statement can run on the schema as it will be once the pack is applied."""

    name: str
    runs: bool
    reason: str | None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "runs": self.runs, "reason": self.reason}


#: Why a step is skipped, and whether for good (recorded in the ledger: a capability the
#: engine lacks) or until the schema changes (a missing table or column: not recorded).
_Skip = tuple[str, bool]


@dataclass(frozen=True)
class StatementTiming:
    """How long one statement of a step took (index builds dominate)."""

    sql: str
    line: int
    ms: float


@dataclass
class StepResult:
    """What happened to one step in an apply or rollback run."""

    id: str
    action: Literal[
        "applied",
        "skipped",
        "rolled_back",
        "would_apply",
        "would_skip",
        "would_roll_back",
        "already_applied",
    ]
    reason: str | None = None
    ms: float = 0.0
    statements: list[StatementTiming] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)


#: ``(kind, step_id, payload)``: "start" (None), "statement_start" (the Statement),
#: "statement" (its StatementTiming when done), "done" (the StepResult).
Event = tuple[
    Literal["start", "statement_start", "statement", "done"],
    str,
    StepResult | StatementTiming | Statement | None,
]


class Migrator:
    """Applies, rolls back and reports the steps of one or more packs on one database.

    Args:
        db: any :class:`~edgedb_opt.drivers.base.Driver`.
        packs: the packs whose steps are considered, in order.
        on_event: called with ``("start", step_id, None)``, ``("statement", step_id,
            StatementTiming)`` and ``("done", step_id, StepResult)`` as work progresses.
    """

    def __init__(
        self,
        db: Driver,
        packs: Sequence[Pack],
        *,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.db = db
        self.packs = tuple(packs)
        self._on_event = on_event or (lambda _e: None)
        self.steps: tuple[Step, ...] = tuple(s for p in self.packs for s in p.steps)
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise MigrationError(f"step ids used by more than one pack: {', '.join(dupes)}")
        self._by_id = {s.id: s for s in self.steps}

    # -- reading -------------------------------------------------------------------------

    def step(self, step_id: str) -> Step | None:
        """The loaded step with this id, if any."""
        return self._by_id.get(step_id)

    async def status(self) -> list[StepStatus]:
        """Every step's state; ledger rows of steps not in the loaded packs come last."""
        rows = await ledger.read_ledger(self.db)
        predicted = await self._predict(rows)
        out: list[StepStatus] = []
        for step in self.steps:
            row = rows.get(step.id)
            if row is not None:
                out.append(
                    StepStatus(
                        step.id,
                        step.pack,
                        row.state,
                        row.reason,
                        row.applied_at,
                        step.accepts(row.checksum),
                    )
                )
            else:
                verdict = predicted[step.id]
                skipped = verdict.verdict == "skip"
                out.append(
                    StepStatus(
                        step.id,
                        step.pack,
                        "skipped" if skipped else "pending",
                        verdict.reason if verdict.verdict != "apply" else None,
                        None,
                        None,
                    )
                )
        for row in rows.values():
            if row.id not in self._by_id:
                out.append(
                    StepStatus(
                        row.id,
                        row.pack,
                        row.state,
                        row.reason or "step file not in the loaded packs",
                        row.applied_at,
                        None,
                    )
                )
        return out

    async def pending(self) -> list[Step]:
        """Steps not yet in the ledger (including those that would be skipped)."""
        rows = await ledger.read_ledger(self.db)
        return [s for s in self.steps if s.id not in rows]

    async def check(
        self, statements: dict[str, str] | None = None
    ) -> tuple[list[StepCheck], list[StatementCheck]]:
        """What ``apply`` would do with each step on this database, without writing (see
        :mod:`edgedb_opt.migrate.fit`), and whether each of ``statements`` (name -> SQL)
        can run on the schema as it will be once those steps are applied."""
        rows = await ledger.read_ledger(self.db)
        with await fit.trial_of(self.db) as trial:
            predicted = self._predict_on(trial, rows)
            checks = []
            for name, sql in (statements or {}).items():
                problem = trial.prepare(sql)
                checks.append(StatementCheck(name, problem is None, problem))
        return [predicted[s.id] for s in self.steps], checks

    async def _predict(
        self, rows: dict[str, ledger.LedgerRow], selected: set[str] | None = None
    ) -> dict[str, StepCheck]:
        with await fit.trial_of(self.db) as trial:
            return self._predict_on(trial, rows, selected)

    def _predict_on(
        self,
        trial: fit.Trial,
        rows: dict[str, ledger.LedgerRow],
        selected: set[str] | None = None,
    ) -> dict[str, StepCheck]:
        """Each step in order as ``apply`` takes it: the ones it would apply are run on the
        trial (later steps see what they created); apply stops at the first failure."""
        out: dict[str, StepCheck] = {}
        waiting: dict[str, str] = {}
        stopped: str | None = None
        for step in self.steps:
            row = rows.get(step.id)
            verdict: CheckVerdict
            reason: str | None = None
            if selected is not None and step.id not in selected and row is None:
                continue  # apply --step leaves it alone
            if row is not None:
                verdict, reason = row.state, row.reason
            elif stopped is not None:
                verdict, reason = "not_reached", f"apply stops at {stopped}"
            elif skip := self._skip_reason(step, rows, waiting):
                verdict, reason = "skip", skip[0]
                if not skip[1]:
                    waiting[step.id] = skip[0]
            elif (why := _schema_skip(trial, step)) is not None:
                verdict, reason = ("skip", why[0]) if why[1] else ("fail", why[0])
                if why[1]:
                    waiting[step.id] = why[0]
                else:
                    stopped = step.id
            else:
                verdict = "apply"
            out[step.id] = StepCheck(step.id, step.pack, verdict, reason, tuple(fit.touches(step)))
        return out

    def _skip_reason(
        self,
        step: Step,
        rows: dict[str, ledger.LedgerRow],
        waiting: dict[str, str] | None = None,
    ) -> _Skip | None:
        """Why ``step`` is skipped before its SQL is tried: a capability the engine lacks
        (for good), or a requirement that is skipped (for good, or while it waits for a
        missing table or column: ``waiting``, by step id)."""
        unmet = self.db.capabilities.describe_unmet(step.needs, self.db.name)
        if unmet:
            return unmet, True
        for req in step.requires:
            row = rows.get(req)
            req_step = self._by_id.get(req)
            if row is not None and row.state == "skipped":
                return f"requires {req}, which is skipped", True
            if row is None and waiting is not None and req in waiting:
                return f"requires {req}, which is skipped ({waiting[req]})", False
            if row is None and req_step is not None:
                inner = self._skip_reason(req_step, rows, waiting)
                if inner is not None:
                    return f"requires {req}, which is skipped", inner[1]
        return None

    def _select(self, step_ids: Sequence[str]) -> list[Step]:
        if not step_ids:
            return list(self.steps)
        unknown = [i for i in step_ids if i not in self._by_id]
        if unknown:
            known = ", ".join(s.id for s in self.steps)
            raise MigrationError(f"unknown step id {unknown[0]!r} (known: {known})")
        wanted = set(step_ids)
        return [s for s in self.steps if s.id in wanted]

    # -- apply ---------------------------------------------------------------------------

    async def apply(self, *, step: Sequence[str] = (), dry_run: bool = False) -> list[StepResult]:
        """Apply pending steps (all, or those named in ``step``), each atomically.

        Returns:
            One :class:`StepResult` per selected step.
        Raises:
            MigrationError: an unknown step id, a missing requirement, or a failing
                statement (named with file and line). The failing step is rolled back
                whole; steps before it stay applied.
        """
        selected = self._select(step)
        rows = await ledger.read_ledger(self.db)
        named = {s.id for s in selected} if step else set()
        for s in selected:
            if s.id in rows:
                continue
            for req in s.requires:
                if req not in rows and req not in named and step:
                    raise MigrationError(
                        f"step {s.id!r} requires {req!r}, which is not applied; apply it first",
                        hint=Hint("step", req, "include"),
                    )
        if dry_run:
            return await self._dry_run(selected, rows)
        results: list[StepResult] = []
        waiting: dict[str, str] = {}  # steps skipped in this run until the schema changes
        for s in selected:
            results.append(await self._apply_one(s, waiting))
        return results

    async def _dry_run(
        self, selected: list[Step], rows: dict[str, ledger.LedgerRow]
    ) -> list[StepResult]:
        predicted = await self._predict(rows, {s.id for s in selected})
        out: list[StepResult] = []
        for s in selected:
            verdict = predicted[s.id]
            if s.id in rows:
                out.append(StepResult(s.id, "already_applied"))
            elif verdict.verdict == "skip":
                out.append(StepResult(s.id, "would_skip", reason=verdict.reason))
            else:
                reason = {
                    "fail": f"would fail: {verdict.reason}",
                    "not_reached": f"not reached: {verdict.reason}",
                }.get(verdict.verdict)
                out.append(
                    StepResult(s.id, "would_apply", reason=reason, sql=[st.sql for st in s.up])
                )
        return out

    async def _apply_one(self, step: Step, waiting: dict[str, str]) -> StepResult:
        self._on_event(("start", step.id, None))
        t0 = time.perf_counter()
        try:
            async with self.db.transaction("IMMEDIATE"):
                rows = await ledger.read_ledger(self.db)  # again, under the write lock
                if step.id in rows:
                    result = StepResult(step.id, "already_applied")
                else:
                    result = await self._apply_pending(step, rows, waiting, t0)
        except DriverError as exc:
            raise MigrationError(
                f"step {step.id!r} could not start: {_locked(exc)}", hint=_locked_hint(exc)
            ) from exc
        self._on_event(("done", step.id, result))
        return result

    async def _apply_pending(
        self,
        step: Step,
        rows: dict[str, ledger.LedgerRow],
        waiting: dict[str, str],
        t0: float,
    ) -> StepResult:
        """Inside the step's transaction: skip it (recorded for good, or waiting for a
        missing table or column: not recorded, so a later apply retries) or apply it."""
        skip = self._skip_reason(step, rows, waiting)
        if skip is None:
            # The schema as it is under the lock.
            with await fit.trial_of(self.db) as trial:
                why = _schema_skip(trial, step)
            if why is not None and why[1]:
                skip = why[0], False
        if skip is None:
            return await self._run_up(step, rows, t0)
        reason, for_good = skip
        if not for_good:
            waiting[step.id] = reason
            return StepResult(step.id, "skipped", reason=reason)
        await ledger.record(
            self.db,
            step_id=step.id,
            pack=step.pack,
            checksum=step.checksum,
            state="skipped",
            reason=reason,
            duration_ms=0.0,
            down_sql="",
            objects=[],
        )
        return StepResult(step.id, "skipped", reason=reason)

    async def _run_up(self, step: Step, rows: dict[str, ledger.LedgerRow], t0: float) -> StepResult:
        for req in step.requires:
            if req not in rows:
                raise MigrationError(f"step {step.id!r} requires {req!r}, which is not applied")
        before = await ledger.schema_objects(self.db)
        timings = [await self._execute(step, stmt, "up") for stmt in step.up]
        created = sorted((await ledger.schema_objects(self.db)) - before)
        ms = (time.perf_counter() - t0) * 1000
        await ledger.record(
            self.db,
            step_id=step.id,
            pack=step.pack,
            checksum=step.checksum,
            state="applied",
            reason=None,
            duration_ms=ms,
            down_sql=step.down_sql,
            objects=created,
        )
        return StepResult(step.id, "applied", ms=ms, statements=timings)

    async def _execute(self, step: Step, stmt: Statement, section: str) -> StatementTiming:
        self._on_event(("statement_start", step.id, stmt))
        t = time.perf_counter()
        try:
            await self.db.execute(stmt.sql)
        except DriverError as exc:
            first = stmt.sql.splitlines()[0][:80]
            raise MigrationError(
                f"step {step.id!r} failed at {step.where(stmt)} ({section}: {first}): {exc}; "
                "the step was rolled back"
            ) from exc
        timing = StatementTiming(stmt.sql, stmt.line, (time.perf_counter() - t) * 1000)
        self._on_event(("statement", step.id, timing))
        return timing

    # -- rollback ------------------------------------------------------------------------

    async def rollback(
        self,
        *,
        step: Sequence[str] = (),
        all: bool = False,
        dry_run: bool = False,
        force: bool = False,
    ) -> list[StepResult]:
        """Undo the most recent applied step, the steps named, or every step (newest first).

        Raises:
            MigrationError: nothing to undo, an unknown or unapplied step, or a step another
                applied step still requires.
            ChecksumDriftError: a step's file changed since it was applied (unless ``force``:
                then the down section stored in the ledger at apply time is used).
        """
        rows = await ledger.read_ledger(self.db)
        targets = self._rollback_targets(rows, step, all)
        for row in targets:
            file_step = self._by_id.get(row.id)
            if file_step is not None and not file_step.accepts(row.checksum) and not force:
                raise ChecksumDriftError(
                    f"step {row.id!r} changed since it was applied ({file_step.path}); "
                    "refusing to roll back; force undoes it with the recorded down SQL",
                    hint=Hint("force"),
                )
        if dry_run:
            return [
                StepResult(r.id, "would_roll_back", sql=[s.sql for s in self._down_of(r)])
                for r in targets
            ]
        results: list[StepResult] = []
        for row in targets:
            results.append(await self._rollback_one(row.id))
        return results

    def _rollback_targets(
        self, rows: dict[str, ledger.LedgerRow], step_ids: Sequence[str], everything: bool
    ) -> list[ledger.LedgerRow]:
        newest_first = sorted(rows.values(), key=lambda r: r.seq, reverse=True)
        if everything:
            return newest_first
        if not step_ids:
            # The newest applied step: a step skipped on this engine has nothing to undo.
            applied = [r for r in newest_first if r.state == "applied"]
            if not applied:
                raise MigrationError("nothing to roll back: no step is applied")
            targets = applied[:1]
        else:
            for sid in step_ids:
                if sid not in rows:
                    known = sid in self._by_id
                    raise MigrationError(
                        f"step {sid!r} is not applied" if known else f"unknown step id {sid!r}"
                    )
            targets = [r for r in newest_first if r.id in set(step_ids)]
        leaving = {r.id for r in targets}
        for row in targets:
            for other in rows.values():
                dep = self._by_id.get(other.id)
                if other.id in leaving or other.state != "applied" or dep is None:
                    continue
                if row.id in dep.requires:
                    raise MigrationError(
                        f"cannot roll back {row.id!r}: applied step {other.id!r} requires it; "
                        f"roll back {other.id!r} first",
                        hint=Hint("step", other.id, "include"),
                    )
        return targets

    def _down_of(self, row: ledger.LedgerRow) -> list[Statement]:
        file_step = self._by_id.get(row.id)
        if file_step is not None and file_step.checksum == row.checksum:
            return list(file_step.down)
        return split_statements(row.down_sql)

    async def _rollback_one(self, step_id: str) -> StepResult:
        self._on_event(("start", step_id, None))
        t0 = time.perf_counter()
        try:
            async with self.db.transaction("IMMEDIATE"):
                rows = await ledger.read_ledger(self.db)
                row = rows.get(step_id)
                if row is None:  # another process rolled it back meanwhile
                    result = StepResult(step_id, "rolled_back", reason="was not applied")
                else:
                    result = await self._run_down(row, t0)
        except DriverError as exc:
            raise MigrationError(
                f"rollback of {step_id!r} could not start: {_locked(exc)}", hint=_locked_hint(exc)
            ) from exc
        self._on_event(("done", step_id, result))
        return result

    async def _run_down(self, row: ledger.LedgerRow, t0: float) -> StepResult:
        timings: list[StatementTiming] = []
        if row.state == "applied":
            step = self._by_id.get(row.id) or _ledger_step(row)
            for stmt in self._down_of(row):
                timings.append(await self._execute(step, stmt, "down"))
            left = sorted(set(row.objects) & await ledger.schema_objects(self.db))
            for name in [n for n in left if n.startswith("sqlite_stat")]:
                # ANALYZE creates its statistics tables implicitly; no static down section can
                # know whether they existed before, so the ledger's object list decides.
                await self.db.execute(f'DROP TABLE "{name}"')
                left.remove(name)
            if left:
                raise MigrationError(
                    f"the down section of {row.id!r} left behind {', '.join(left)}; "
                    "nothing was rolled back"
                )
        await ledger.forget(self.db, row.id)
        return StepResult(
            row.id, "rolled_back", ms=(time.perf_counter() - t0) * 1000, statements=timings
        )


def _schema_skip(trial: fit.Trial, step: Step) -> tuple[str, bool] | None:
    """None when the step runs on the trial schema (it is kept there), or when it fails over
    an object the trial could not rebuild (a custom collation, a module the local SQLite
    lacks: the real run decides); else the reason and True when it names a missing table or
    column (skip), False for any other error (fail)."""
    failed = trial.run(step)
    if failed is None:
        return None
    where, message = failed
    if any(n.lower() in message.lower() for n in trial.not_replayed) or any(
        trial.unreplayed(t) for t in fit.touches(step)
    ):
        return None  # about an object the trial could not rebuild: the real run decides
    missing = fit.missing_object(message)
    if missing is not None and not trial.unreplayed(missing[1]):
        return f"{missing[0]} {missing[1]} absent", True
    return f"{where}: {message}", False


def _ledger_step(row: ledger.LedgerRow) -> Step:
    return Step(
        id=row.id,
        pack=row.pack,
        path=Path(f"<ledger:{row.id}>"),
        requires=(),
        needs=(),
        description="",
        up=(),
        down=(),
        checksum=row.checksum,
    )


def _is_locked(exc: DriverError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _locked(exc: DriverError) -> str:
    text = str(exc)
    return f"{text}; another process holds the write lock" if _is_locked(exc) else text


def _locked_hint(exc: DriverError) -> Hint | None:
    """Waiting longer for the lock is the driver's busy timeout (``open_driver``)."""
    return Hint("busy_timeout_ms", action="raise") if _is_locked(exc) else None
