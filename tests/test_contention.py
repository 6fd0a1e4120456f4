"""Writers under contention: 4 processes recording answers, 2 reading, on one SQLite file.

Each process opens the file through ``EdgeDatabase.connect(db=...)``, the pooled runtime (one
writer connection per process, WAL, busy_timeout), so the processes meet only at SQLite's
file lock. The test proves that no caller sees an error ("database is locked" included), no
answer is lost or stored twice, and every aggregate the writer keeps equals the sum of the
answers. A batch retried after a lost response (its first attempt committed) is a no-op.

The worker processes run this module: ``python -m tests.test_contention writer|reader ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.study.models import AnswerKey
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter
from tests.conftest import REPO, apply_pack, query
from tests.conftest import report as report_figures

WRITERS = 4
READERS = 2
BATCHES = 50
BATCH_SIZE = 20
RETRY_EVERY = 10  # every 10th batch is sent twice, as after a lost response
PREFIX = "contention"

Plan = list[list[dict[str, Any]]]  # batches of answers (Answer fields)


# -- the worker processes --------------------------------------------------------------------


async def run_writer(db_path: str, plan_path: str) -> dict[str, Any]:
    """Record every batch of the plan; retry some at once; count what callers would see."""
    plan: Plan = json.loads(Path(plan_path).read_text())
    out: dict[str, Any] = {"inserted": 0, "duplicates": 0, "errors": 0, "locked": 0}
    out |= {"retries": 0, "retry_noops": 0, "messages": []}
    db = await EdgeDatabase.connect(db=db_path)
    try:
        writer = AnswerWriter(db)
        for n, batch in enumerate(plan):
            sends = 2 if n % RETRY_EVERY == RETRY_EVERY - 1 else 1
            for attempt in range(sends):
                try:
                    result = await writer.record(batch)
                except Exception as exc:  # everything a caller would see counts
                    out["errors"] += 1
                    out["locked"] += "locked" in str(exc) or "busy" in str(exc)
                    out["messages"].append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                out["inserted"] += result.inserted
                out["duplicates"] += result.duplicates
                if attempt:
                    out["retries"] += 1
                    ids = [a["client_answer_id"] for a in batch]
                    out["retry_noops"] += result.inserted == 0 and result.duplicate_ids == ids
    finally:
        await db.close()
    return out


async def run_reader(db_path: str, plan_path: str, stop_path: str) -> dict[str, Any]:
    """Study reads in a loop until ``stop_path`` exists."""
    pairs = [tuple(p) for p in json.loads(Path(plan_path).read_text())]
    rng = random.Random(len(pairs))
    out: dict[str, Any] = {"reads": 0, "errors": 0, "locked": 0, "messages": []}
    db = await EdgeDatabase.connect(db=db_path)
    try:
        queries = StudyQueries(db)
        while not Path(stop_path).exists():
            user, exam = rng.choice(pairs)
            try:
                await queries.study_questions(user, exam, limit=10)
                await queries.user_progress(user, exam)
                await queries.leaderboard(exam)
                await queries.answer_history(user, limit=20)
            except Exception as exc:
                out["errors"] += 1
                out["locked"] += "locked" in str(exc) or "busy" in str(exc)
                out["messages"].append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            out["reads"] += 4
    finally:
        await db.close()
    return out


def main(argv: list[str]) -> None:
    role, *args = argv
    work = run_writer(*args) if role == "writer" else run_reader(*args)
    print(json.dumps(asyncio.run(work)))


# -- the test --------------------------------------------------------------------------------


def make_plans(db: Path, seed: int = 6) -> tuple[list[Plan], list[tuple[int, int]]]:
    """Per writer, batches over shared questions and users (so the processes touch the same
    rows): half in the users' study sessions, half loose, some for (user, exam) pairs
    without progress yet; each selects an option of its question, the correct one 60% of
    the time. Also the (user, exam) pairs the readers read."""
    rng = random.Random(seed)
    keys = answer_keys(db)
    sessions = query(db, "SELECT id, user_id, exam_id FROM study_sessions ORDER BY id")
    questions: dict[int, list[int]] = defaultdict(list)
    for qid, exam in query(db, "SELECT id, exam_id FROM questions ORDER BY id"):
        questions[int(str(exam))].append(int(str(qid)))
    users = [int(str(r[0])) for r in query(db, "SELECT id FROM users ORDER BY id")]
    sessions = sessions[:40]  # a few dozen sessions: the writers collide on them
    plans: list[Plan] = []
    for w in range(WRITERS):
        plan: Plan = []
        for b in range(BATCHES):
            batch: list[dict[str, Any]] = []
            for i in range(BATCH_SIZE):
                session, user, exam = (int(str(v)) for v in rng.choice(sessions))
                if rng.random() < 0.15:  # a loose answer, maybe a new (user, exam) pair
                    session, user, exam = 0, rng.choice(users), rng.choice(list(questions))
                question = rng.choice(questions[exam][:60])
                key = keys[question]
                batch.append(
                    {
                        "user_id": user,
                        "question_id": question,
                        "study_session_id": (session or None) if rng.random() < 0.5 else None,
                        "selected_answer": key.selection
                        if rng.random() < 0.6
                        else rng.choice(key.options),
                        "time_spent_seconds": None if rng.random() < 0.1 else rng.randint(3, 90),
                        "confidence_level": rng.randint(1, 5),
                        "client_answer_id": f"{PREFIX}-w{w}-b{b}-i{i}",
                    }
                )
            plan.append(batch)
        plans.append(plan)
    pairs = sorted({(int(str(r[1])), int(str(r[2]))) for r in sessions})
    return plans, pairs


Snapshot = dict[str, dict[Any, tuple[Any, ...]]]


def snapshot(db: Path) -> Snapshot:
    """The aggregates the writer keeps, keyed by row."""
    return {
        "questions": {
            r[0]: r[1:]
            for r in query(db, "SELECT id, total_attempts, correct_attempts FROM questions")
        },
        "progress": {
            (r[0], r[1]): r[2:]
            for r in query(
                db,
                "SELECT user_id, exam_id, questions_answered, correct_answers, study_time_seconds"
                " FROM user_progress",
            )
        },
        "sessions": {
            r[0]: r[1:]
            for r in query(db, "SELECT id, answered_count, correct_count FROM study_sessions")
        },
    }


def answer_keys(db: Path) -> dict[int, AnswerKey]:
    """Every question's options and correct keys, as stored."""
    keys = {}
    for qid, text in query(db, "SELECT id, answers FROM questions"):
        key = AnswerKey.parse(text)
        assert key is not None, qid
        keys[int(str(qid))] = key
    return keys


def expected_after(before: Snapshot, plans: list[Plan], db: Path) -> Snapshot:
    """``before`` plus the sums of the planned answers (each counted once), each graded
    from its question's options as the writer does."""
    exam_of = {r[0]: r[1] for r in query(db, "SELECT id, exam_id FROM questions")}
    keys = answer_keys(db)
    q: Counter[tuple[Any, int]] = Counter()
    p: Counter[tuple[Any, int]] = Counter()
    s: Counter[tuple[Any, int]] = Counter()
    for a in (a for plan in plans for batch in plan for a in batch):
        ok = int(keys[a["question_id"]].grade(a["selected_answer"]))
        secs = a["time_spent_seconds"] or 0
        q[a["question_id"], 0] += 1
        q[a["question_id"], 1] += ok
        key = (a["user_id"], exam_of[a["question_id"]])
        p[key, 0], p[key, 1], p[key, 2] = p[key, 0] + 1, p[key, 1] + ok, p[key, 2] + secs
        if a["study_session_id"] is not None:
            s[a["study_session_id"], 0] += 1
            s[a["study_session_id"], 1] += ok
    out: Snapshot = {}
    for name, sums, width in (("questions", q, 2), ("progress", p, 3), ("sessions", s, 2)):
        rows = dict(before[name])
        for key in {k for k, _ in sums}:
            old = rows.get(key, (0,) * width)
            rows[key] = tuple(old[n] + sums[key, n] for n in range(width))
        out[name] = rows
    return out


#: Rows whose stored aggregate differs from what the answers give (each must be 0).
CONSISTENCY = {
    "question counters": """SELECT count(*) FROM questions q WHERE total_attempts <>
        (SELECT count(*) FROM user_answers a WHERE a.question_id = q.id) OR correct_attempts <>
        (SELECT count(*) FROM user_answers a WHERE a.question_id = q.id AND a.is_correct)""",
    "question average time": """SELECT count(*) FROM questions q WHERE abs(
        coalesce(avg_time_seconds, -1) - coalesce((SELECT avg(time_spent_seconds)
        FROM user_answers a WHERE a.question_id = q.id), -1)) > 1e-9""",
    "progress counters": """SELECT count(*) FROM user_progress p WHERE
        (questions_answered, correct_answers, study_time_seconds) IS NOT
        (SELECT count(*), coalesce(sum(a.is_correct), 0), coalesce(sum(time_spent_seconds), 0)
         FROM user_answers a JOIN questions q ON q.id = a.question_id
         WHERE a.user_id = p.user_id AND q.exam_id = p.exam_id)""",
    "progress accuracy and streaks": """SELECT count(*) FROM user_progress WHERE
        questions_answered > 0 AND (abs(accuracy - CAST(correct_answers AS REAL) /
        questions_answered) > 1e-9 OR current_streak > best_streak OR last_studied_at IS NULL)""",
    "session counters": """SELECT count(*) FROM study_sessions s WHERE
        (answered_count, correct_count) IS NOT (SELECT count(*), coalesce(sum(is_correct), 0)
         FROM user_answers a WHERE a.study_session_id = s.id)""",
    "attempt numbers": """SELECT count(*) FROM (SELECT count(*) AS n, min(attempt_number) AS lo,
        max(attempt_number) AS hi, count(DISTINCT attempt_number) AS d FROM user_answers
        GROUP BY user_id, question_id) WHERE lo <> 1 OR hi <> n OR d <> n""",
}


def inconsistencies(db: Path) -> dict[str, int]:
    return {name: int(str(query(db, sql)[0][0])) for name, sql in CONSISTENCY.items()}


@pytest.fixture
def packed_db(seeded_template: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny seeded database with the study pack applied."""
    path = tmp_path / "contention.db"
    shutil.copyfile(seeded_template, path)
    asyncio.run(apply_pack(path))
    return path


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEOPT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_contention", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def stop_all(procs: list[subprocess.Popen[str]], stop: Path) -> None:
    """Tell the readers to stop and kill whatever still runs (after a failure)."""
    stop.touch()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def report(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_writers_under_contention_lose_nothing_and_duplicate_nothing(
    packed_db: Path, tmp_path: Path
) -> None:
    assert inconsistencies(packed_db) == dict.fromkeys(CONSISTENCY, 0)  # the seed is consistent
    plans, pairs = make_plans(packed_db)
    before = snapshot(packed_db)
    answers_before = int(str(query(packed_db, "SELECT count(*) FROM user_answers")[0][0]))
    stop = tmp_path / "stop"
    pairs_file = tmp_path / "pairs.json"
    pairs_file.write_text(json.dumps(pairs))
    for n, plan in enumerate(plans):
        (tmp_path / f"plan{n}.json").write_text(json.dumps(plan))
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        readers = [
            stack.enter_context(spawn("reader", str(packed_db), str(pairs_file), str(stop)))
            for _ in range(READERS)
        ]
        writers = [
            stack.enter_context(spawn("writer", str(packed_db), str(tmp_path / f"plan{n}.json")))
            for n in range(WRITERS)
        ]
        # Runs first on the way out: a failed assertion leaves no process behind.
        stack.callback(stop_all, [*readers, *writers], stop)
        written = [report(p) for p in writers]
        stop.touch()
        read = [report(p) for p in readers]
    elapsed = time.monotonic() - t0

    total = WRITERS * BATCHES * BATCH_SIZE
    retries = WRITERS * (BATCHES // RETRY_EVERY)
    ids = query(
        packed_db,
        "SELECT count(*), count(DISTINCT client_answer_id) FROM user_answers"
        " WHERE client_answer_id LIKE ?",
        (f"{PREFIX}-%",),
    )[0]
    stored = int(str(query(packed_db, "SELECT count(*) FROM user_answers")[0][0]))
    errors = sum(w["errors"] for w in [*written, *read])
    locked = sum(w["locked"] for w in [*written, *read])
    figures = (
        f"contention: {WRITERS} writers x {BATCHES} batches x {BATCH_SIZE} answers, "
        f"{READERS} readers, {elapsed:.1f} s: answers written "
        f"{sum(w['inserted'] for w in written)}/{total}, stored {ids[0]} ({ids[1]} distinct ids), "
        f"duplicates reported {sum(w['duplicates'] for w in written)} "
        f"(retried batches {sum(w['retries'] for w in written)}, no-ops "
        f"{sum(w['retry_noops'] for w in written)}), reads {sum(r['reads'] for r in read)}, "
        f"errors {errors}, locked errors {locked}"
    )
    report_figures(figures)
    messages = [m for w in [*written, *read] for m in w["messages"]][:5]
    assert errors == 0 and locked == 0, f"{figures}; first errors: {messages}"
    assert sum(r["reads"] for r in read) > 0, figures
    # 0 lost, 0 duplicated: every planned answer is stored, once.
    assert ids == (total, total), figures
    assert stored == answers_before + total, figures
    assert sum(w["inserted"] for w in written) == total, figures
    # Each retry of a committed batch stored nothing and named every answer a duplicate.
    assert [w["retries"] for w in written] == [BATCHES // RETRY_EVERY] * WRITERS, figures
    assert sum(w["retry_noops"] for w in written) == retries, figures
    assert sum(w["duplicates"] for w in written) == retries * BATCH_SIZE, figures
    # The aggregates are the snapshot plus the new answers, and agree with the answers.
    assert snapshot(packed_db) == expected_after(before, plans, packed_db)
    assert inconsistencies(packed_db) == dict.fromkeys(CONSISTENCY, 0)
    assert query(packed_db, "PRAGMA integrity_check") == [("ok",)]


async def test_retry_of_a_committed_batch_is_a_no_op(packed_db: Path) -> None:
    """A client whose response was lost sends the batch again: nothing changes."""
    plans, _pairs = make_plans(packed_db, seed=9)
    batch = plans[0][0]
    async with await EdgeDatabase.connect(db=str(packed_db)) as db:
        writer = AnswerWriter(db)
        first = await writer.record(batch)
        assert first.inserted == BATCH_SIZE and first.duplicates == 0
        after_first = snapshot(packed_db)
        rows = query(packed_db, "SELECT * FROM user_answers ORDER BY id")
        again = await writer.record(batch)
    assert again.inserted == 0
    assert again.duplicates == BATCH_SIZE
    assert again.duplicate_ids == [a["client_answer_id"] for a in batch]
    assert again.questions_updated == again.progress_updated == again.sessions_updated == 0
    assert query(packed_db, "SELECT * FROM user_answers ORDER BY id") == rows
    assert snapshot(packed_db) == after_first
    assert inconsistencies(packed_db) == dict.fromkeys(CONSISTENCY, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
