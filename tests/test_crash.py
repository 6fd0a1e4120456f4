"""Crash fuzz: ``edgeopt apply`` and ``rollback --all`` killed with SIGKILL at random moments.

A real subprocess works on a real file seeded at scale ``small`` (index builds take tenths of
a second there) and is killed at a moment drawn uniformly within the command's measured run
time. After every kill the file must be intact (``PRAGMA integrity_check``, FTS5
``integrity-check``), every step must be all there or all absent exactly as the ledger says,
and running the command again must reach the same schema as an uninterrupted run.

Trials per command: 3 by default, ``EDGEOPT_CRASH_TRIALS=N`` for N, 30 when ``CI=true`` and the
variable is unset. ``EDGEOPT_CRASH_SEED`` replays a run (the seed is printed). Odd trials run
on a WAL file (what the runtime layer leaves behind), even ones on a rollback-journal file.
Run with ``-s`` to see a line per trial and the summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import APPLIED_ON_SQLITE, REPO, make_seeded, master, report

Command = tuple[str, ...]
COMMANDS: dict[str, Command] = {"apply": ("apply",), "rollback": ("rollback", "--all")}
JOURNALS = ("delete", "wal")
LEDGER = "_edgeopt_migrations"


def trial_count() -> int:
    """Trials per command: the env variable, else 30 in CI, else 3 (the ``make test`` run)."""
    raw = os.environ.get("EDGEOPT_CRASH_TRIALS")
    if raw:
        return int(raw)
    return 30 if os.environ.get("CI") == "true" else 3


def crash_seed() -> int:
    return int(os.environ.get("EDGEOPT_CRASH_SEED", "20260601"))


def edgeopt_args(command: str, db: Path) -> list[str]:
    return [sys.executable, "-m", "edgedb_opt", *COMMANDS[command], "--db", str(db)]


def copy_db(src: Path, dest: Path) -> Path:
    """Copy a closed database file (templates are closed cleanly: no journal, no WAL)."""
    for suffix in ("-wal", "-shm", "-journal"):
        assert not Path(f"{src}{suffix}").exists(), f"template {src} has a {suffix} file"
    shutil.copyfile(src, dest)
    return dest


def set_journal(path: Path, mode: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute(f"PRAGMA journal_mode = {mode}").fetchone() == (mode,)
    finally:
        conn.close()


def run_ok(command: str, db: Path) -> float:
    """Run a command to completion; its wall time in seconds."""
    t0 = time.monotonic()
    proc = subprocess.run(
        edgeopt_args(command, db), capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert proc.returncode == 0, f"{command} on {db} failed: {proc.stderr}"
    return time.monotonic() - t0


@dataclass(frozen=True)
class Templates:
    """Closed database files to copy per trial, and what an uninterrupted run leaves."""

    seeded: dict[str, Path]  # journal mode -> seeded file, nothing applied
    applied: dict[str, Path]  # journal mode -> the same with the whole pack applied
    objects: dict[str, tuple[str, ...]]  # step id -> objects it creates (reference ledger)
    master_applied: list[tuple[str, str, str, str | None]]
    master_rolled_back: list[tuple[str, str, str, str | None]]
    run_time: dict[str, float]  # command -> wall time of an uninterrupted run


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    """Seed once at scale small, apply and roll back once for reference (and run times)."""
    base = tmp_path_factory.mktemp("crash")
    seeded = base / "seeded-delete.db"
    asyncio.run(make_seeded(seeded, scale="small"))
    seeded_files = {"delete": seeded, "wal": copy_db(seeded, base / "seeded-wal.db")}
    set_journal(seeded_files["wal"], "wal")
    applied_files: dict[str, Path] = {}
    run_time: dict[str, float] = {}
    for mode, path in seeded_files.items():
        applied_files[mode] = copy_db(path, base / f"applied-{mode}.db")
        run_time.setdefault("apply", run_ok("apply", applied_files[mode]))
    reference = copy_db(applied_files["delete"], base / "reference.db")
    run_time["rollback"] = run_ok("rollback", reference)
    conn = sqlite3.connect(applied_files["delete"])
    try:
        objects = {
            str(step_id): tuple(json.loads(objs))
            for step_id, objs in conn.execute(
                f"SELECT id, objects FROM {LEDGER} WHERE state = 'applied'"
            )
        }
    finally:
        conn.close()
    assert set(objects) == set(APPLIED_ON_SQLITE)
    rolled_back = master(reference)
    # An exact undo: the reference rollback is back to the seeded schema.
    assert rolled_back == master(seeded)
    return Templates(
        seeded_files, applied_files, objects, master(applied_files["delete"]), rolled_back,
        run_time,
    )  # fmt: skip


# -- checks after a kill ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What one trial found."""

    trial: int
    command: str
    journal: str
    delay: float
    killed: bool
    applied: int = 0
    corrupt: list[str] = field(default_factory=list)
    half_applied: list[str] = field(default_factory=list)
    rerun_error: str | None = None

    def line(self, total_steps: int) -> str:
        when = f"killed after {self.delay:.2f} s" if self.killed else "finished before the kill"
        integrity = "integrity ok" if not self.corrupt else f"CORRUPT {self.corrupt}"
        state = "" if not self.half_applied else f", HALF-APPLIED {self.half_applied}"
        rerun = "rerun ok" if self.rerun_error is None else f"RERUN FAILED: {self.rerun_error}"
        return (
            f"trial {self.trial} {self.command} ({self.journal}): {when}, ledger applied "
            f"{self.applied}/{total_steps}, {integrity}{state}, {rerun}"
        )


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """Everything ``integrity_check`` and FTS5's ``integrity-check`` report (empty: intact)."""
    problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    return ([] if problems == ["ok"] else problems) + fts_problems(conn)


def fts_problems(conn: sqlite3.Connection) -> list[str]:
    """What FTS5's ``integrity-check`` of questions_fts reports, if the table exists.

    ``rank`` 1 makes it compare the index with the content table (questions) too; without it
    an external-content table is only checked against itself, and an index entry with no
    question behind it passes (SQLite 3.40).
    """
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'questions_fts'").fetchone():
        return []
    try:
        conn.execute(
            "INSERT INTO questions_fts (questions_fts, rank) VALUES ('integrity-check', 1)"
        )
    except sqlite3.DatabaseError as exc:
        return [f"questions_fts integrity-check: {exc}"]
    return []


def ledger_problems(
    conn: sqlite3.Connection, objects: dict[str, tuple[str, ...]]
) -> tuple[int, list[str]]:
    """Steps applied per the ledger, and each step that is not all there or all absent."""
    names = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
    has_ledger = LEDGER in names
    rows = conn.execute(f"SELECT id, state, objects FROM {LEDGER}").fetchall() if has_ledger else []
    applied = {str(i): tuple(json.loads(o)) for i, state, o in rows if state == "applied"}
    problems: list[str] = []
    for step_id, creates in objects.items():
        if step_id in applied:
            if applied[step_id] != creates:
                problems.append(f"{step_id}: ledger lists {applied[step_id]}, expected {creates}")
            missing = sorted(set(applied[step_id]) - names)
            if missing:
                problems.append(f"{step_id} applied but missing {missing}")
        else:
            present = sorted(set(creates) & names)
            if present:
                problems.append(f"{step_id} not applied but has {present}")
    return len(applied), problems


def check_after_kill(db: Path, outcome: Outcome, templates: Templates) -> None:
    # Read-write: opening the file is what rolls back a hot journal or recovers the WAL.
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        outcome.corrupt = integrity_problems(conn)
        outcome.applied, outcome.half_applied = ledger_problems(conn, templates.objects)
    finally:
        conn.close()


def rerun(db: Path, outcome: Outcome, templates: Templates) -> None:
    proc = subprocess.run(
        edgeopt_args(outcome.command, db), capture_output=True, text=True, cwd=REPO, timeout=300
    )
    if proc.returncode != 0:
        outcome.rerun_error = f"exit {proc.returncode}: {proc.stderr.strip()}"
        return
    want = templates.master_applied if outcome.command == "apply" else templates.master_rolled_back
    if master(db) != want:
        outcome.rerun_error = "sqlite_master differs from the uninterrupted run"
        return
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        applied, problems = ledger_problems(conn, templates.objects)
        # integrity_check takes over a second at this scale; it ran after the kill, and a
        # completed run cannot corrupt what it found intact, so the FTS check suffices here.
        problems += fts_problems(conn)
    finally:
        conn.close()
    expected = len(templates.objects) if outcome.command == "apply" else 0
    if problems or applied != expected:
        outcome.rerun_error = f"ledger applied {applied}/{expected} after rerun: {problems}"


def kill_at(command: str, db: Path, delay: float) -> bool:
    """Start the command and SIGKILL it ``delay`` seconds later; whether it was still running."""
    proc = subprocess.Popen(
        edgeopt_args(command, db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        return True
    _out, err = proc.communicate()
    assert proc.returncode == 0, f"{command} failed on its own: {err.decode()}"
    return False


@pytest.mark.parametrize("command", ["apply", "rollback"])
def test_sigkill_never_corrupts_nor_half_applies(
    command: str, templates: Templates, tmp_path: Path
) -> None:
    trials, seed = trial_count(), crash_seed()
    rng = random.Random(f"{seed}-{command}")
    run_time = templates.run_time[command]
    steps = len(templates.objects)
    print(f"\ncrash fuzz {command}: seed {seed}, run time {run_time:.2f} s, {trials} trials")
    outcomes: list[Outcome] = []
    for trial in range(1, trials + 1):
        journal = JOURNALS[trial % 2]
        source = (templates.seeded if command == "apply" else templates.applied)[journal]
        db = copy_db(source, tmp_path / f"trial{trial}.db")
        delay = rng.uniform(0, run_time)
        outcome = Outcome(trial, command, journal, delay, kill_at(command, db, delay))
        check_after_kill(db, outcome, templates)
        rerun(db, outcome, templates)
        outcomes.append(outcome)
        print(outcome.line(steps))
        for path in tmp_path.glob(f"trial{trial}.db*"):
            path.unlink()
    corruptions = sum(bool(o.corrupt) for o in outcomes)
    half = sum(bool(o.half_applied) for o in outcomes)
    failed_reruns = sum(o.rerun_error is not None for o in outcomes)
    killed = [o for o in outcomes if o.killed]
    partway = sum(0 < o.applied < steps for o in killed)
    summary = (
        f"crash fuzz: {trials} trials, {corruptions} corruptions, {half} half-applied states, "
        f"{failed_reruns} failed reruns ({command}; {len(killed)} killed, {partway} with "
        f"0 < ledger applied < {steps}; seed {seed})"
    )
    report(summary)
    bad = [o.line(steps) for o in outcomes if o.corrupt or o.half_applied or o.rerun_error]
    assert not bad, summary + "\n" + "\n".join(bad)


def test_the_checks_catch_a_half_applied_step_and_a_broken_fts_index(
    templates: Templates, tmp_path: Path
) -> None:
    """The fuzz's checks are not vacuous: a dropped index, a stray one, a damaged FTS table."""
    db = copy_db(templates.applied["delete"], tmp_path / "damaged.db")
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert ledger_problems(conn, templates.objects) == (len(templates.objects), [])
        assert fts_problems(conn) == []
        conn.execute("DROP INDEX idx_user_answers_wrong")  # applied per the ledger, now gone
        conn.execute(f"DELETE FROM {LEDGER} WHERE id = 'growth_indexes'")  # objects stay
        # An index entry without a content row: what a plain write to the FTS table leaves.
        conn.execute("INSERT INTO questions_fts (rowid, text) VALUES (999999, 'ghost entry')")
        applied, problems = ledger_problems(conn, templates.objects)
        assert applied == len(templates.objects) - 1
        assert problems == [
            "answers_indexes applied but missing ['idx_user_answers_wrong']",
            "growth_indexes not applied but has "
            "['idx_growth_metrics_timeseries', 'idx_tweets_account_posted']",
        ]
        assert fts_problems(conn) and "questions_fts integrity-check" in fts_problems(conn)[0]
    finally:
        conn.close()
