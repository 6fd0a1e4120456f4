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
from edgedb_opt.migrate import ledger
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
                        row.checksum == step.checksum,
                    )
                )
            else:
                reason = self._skip_reason(step, rows)
                out.append(
                    StepStatus(
                        step.id, step.pack, "skipped" if reason else "pending", reason, None, None
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

    def _skip_reason(self, step: Step, rows: dict[str, ledger.LedgerRow]) -> str | None:
        unmet = self.db.capabilities.describe_unmet(step.needs, self.db.name)
        if unmet:
            return unmet
        for req in step.requires:
            row = rows.get(req)
            req_step = self._by_id.get(req)
            if (row is not None and row.state == "skipped") or (
                row is None and req_step is not None and self._skip_reason(req_step, rows)
            ):
                return f"requires {req}, which is skipped"
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
            return self._dry_run(selected, rows)
        results: list[StepResult] = []
        for s in selected:
            results.append(await self._apply_one(s))
        return results

    def _dry_run(self, selected: list[Step], rows: dict[str, ledger.LedgerRow]) -> list[StepResult]:
        out: list[StepResult] = []
        for s in selected:
            if s.id in rows:
                out.append(StepResult(s.id, "already_applied"))
                continue
            reason = self._skip_reason(s, rows)
            if reason:
                out.append(StepResult(s.id, "would_skip", reason=reason))
            else:
                out.append(StepResult(s.id, "would_apply", sql=[st.sql for st in s.up]))
        return out

    async def _apply_one(self, step: Step) -> StepResult:
        self._on_event(("start", step.id, None))
        t0 = time.perf_counter()
        try:
            async with self.db.transaction("IMMEDIATE"):
                rows = await ledger.read_ledger(self.db)  # again, under the write lock
                if step.id in rows:
                    result = StepResult(step.id, "already_applied")
                elif reason := self._skip_reason(step, rows):
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
                    result = StepResult(step.id, "skipped", reason=reason)
                else:
                    result = await self._run_up(step, rows, t0)
        except DriverError as exc:
            raise MigrationError(
                f"step {step.id!r} could not start: {_locked(exc)}", hint=_locked_hint(exc)
            ) from exc
        self._on_event(("done", step.id, result))
        return result

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
            if file_step is not None and file_step.checksum != row.checksum and not force:
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
