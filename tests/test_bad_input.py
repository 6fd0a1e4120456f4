"""The bad-input matrix: every mistake gets one line, a non-zero exit (or a typed exception) and
leaves the database byte for byte as it was (sha256 of the file and its WAL, before/after).

Each case prints ``bad input: <case>: unchanged`` so a run shows how many were tried.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import InvalidInput, NotFound, http_status
from edgedb_opt.study import AnswerRejected, AnswerWriter, StudyQueries
from tests.conftest import ANCHOR, apply_pack, edgeopt, query, report, sha256

PACK = Path(__file__).resolve().parent.parent / "schema" / "packs" / "study"
TOKEN = "tok-bad-input-NEVER-SHOWN"


def _pack(tmp: Path, edit: Callable[[Path], None]) -> Path:
    dest = tmp / "pack"
    shutil.copytree(PACK, dest)
    edit(dest)
    return dest


def _replace(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = next(folder.glob(f"{name}*.sql"))
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1))

    return edit


def _toml(tmp: Path, body: str) -> Path:
    path = tmp / "bad.toml"
    path.write_text(body)
    return path


# (case id, builder of the argv given the seeded db and a temp dir, expected fragment)
Case = tuple[str, Callable[[Path, Path], list[str]], str]
CASES: list[Case] = [
    (
        "malformed pack SQL",
        lambda db, t: ["apply", "--db", str(db), "--pack", str(_pack(t, _replace(
            "001", "CREATE INDEX idx_questions_study_candidates", "CREATE INDEKS broken")))],
        "001_questions.sql:",
    ),
    (
        "step without -- down",
        lambda db, t: ["apply", "--db", str(db), "--pack", str(_pack(t, _replace(
            "002", "-- down", "-- no down here")))],
        "has no '-- down' section",
    ),
    (
        "circular requires",
        lambda db, t: ["apply", "--db", str(db), "--pack", str(_pack(t, _replace(
            "001", "id=questions_indexes", "id=questions_indexes requires=analyze_stats")))],
        "a later step (circular or out of order)",
    ),
    (
        "unknown requires",
        lambda db, t: ["apply", "--db", str(db), "--pack", str(_pack(t, _replace(
            "001", "id=questions_indexes", "id=questions_indexes requires=nope")))],
        "requires 'nope', an unknown step",
    ),
    ("unknown step id", lambda db, t: ["apply", "--db", str(db), "--step", "nope"],
     "unknown step id 'nope'"),
    ("step id with SQL in it", lambda db, t: ["apply", "--db", str(db), "--step",
     "x'; DROP TABLE users; --"], "unknown step id"),
    ("pack folder missing", lambda db, t: ["apply", "--db", str(db), "--pack",
     str(t / "no-such-pack")], "no-such-pack"),
    ("rewrite SQL that does not parse", lambda db, t: ["rewrite", "SELECT FROM WHERE (",
     "--db", str(db)], "line 1"),
    ("settings: bad URL scheme", lambda db, t: ["health", "--config", str(_toml(
        t, f'[[regions]]\nname = "iad"\nurl = "ftp://x/db"\nprimary = true\n'
           f'auth_token = "{TOKEN}"\n'))], "regions.0.url: unknown URL scheme 'ftp'"),
    ("settings: unknown region", lambda db, t: ["health", "--db", str(db), "--config", str(
        _toml(t, 'region = "mars"\n'))], "region"),
    ("settings: negative TTL", lambda db, t: ["health", "--db", str(db), "--config", str(
        _toml(t, "cache_ttl = -5\n"))], "cache_ttl: input should be greater than 0"),
    ("settings: zero pool size", lambda db, t: ["health", "--db", str(db), "--config", str(
        _toml(t, "readers = 0\n"))], "readers: input should be greater than or equal to 1"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cli_mistakes_are_one_line_and_change_nothing(
    name: str,
    argv: Callable[[Path, Path], list[str]],
    expected: str,
    seeded_db: Path,
    tmp_path: Path,
) -> None:
    before = sha256(seeded_db)
    done = edgeopt(*argv(seeded_db, tmp_path))
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0, done.stdout
    assert len(lines) == 1 and lines[0].startswith("edgeopt: error: "), done.stderr
    assert expected in lines[0], lines[0]
    assert TOKEN not in done.stdout + done.stderr
    assert sha256(seeded_db) == before
    report(f"bad input: {name}: one line, exit {done.returncode}, unchanged")


def test_drifted_checksum_is_refused_and_changes_nothing(seeded_db: Path, tmp_path: Path) -> None:
    pack = _pack(tmp_path, lambda _: None)
    assert edgeopt("apply", "--db", str(seeded_db), "--pack", str(pack)).returncode == 0
    step = next(pack.glob("*_analyze.sql"))
    step.write_text(step.read_text().replace("ANALYZE questions;", "ANALYZE questions; -- x"))
    before = sha256(seeded_db)
    done = edgeopt("rollback", "--db", str(seeded_db), "--pack", str(pack))
    assert done.returncode == 1 and "drift" in done.stderr.lower()
    assert len(done.stderr.strip().splitlines()) == 1
    assert sha256(seeded_db) == before
    report("bad input: drifted checksum: one line, exit 1, unchanged")


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("--db is not a database", lambda t: _write(t / "notes.txt", "hello"), "not a database"),
        ("--db is read-only", lambda t: _read_only(t), "is read-only"),
        ("--db is a directory", lambda t: t, "is a directory"),
    ],
)
def test_db_paths_that_cannot_be_used(
    name: str, make: Callable[[Path], Path], expected: str, seeded_db: Path, tmp_path: Path
) -> None:
    target = make(tmp_path)
    before = sha256(target) if target.is_file() else None
    for command in (["init"], ["apply"], ["status"], ["rollback", "--all"]):
        done = edgeopt(*command, "--db", str(target))
        if command == ["status"] and "read-only" in name:
            assert done.returncode == 0, done.stderr  # reading a read-only file is fine
            continue
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, (command, done.stderr)
        assert expected in lines[0], (command, lines[0])
        if before is not None:
            assert sha256(target) == before
    report(f"bad input: {name}: one line for every command that would write, unchanged")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _read_only(tmp: Path) -> Path:
    path = tmp / "ro.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (v)")
    conn.close()
    path.chmod(0o444)
    return path


def test_read_only_option_opens_with_sqlites_read_only_mode(seeded_db: Path) -> None:
    before = sha256(seeded_db)
    done = edgeopt("apply", "--db", str(seeded_db), "--read-only")
    assert done.returncode == 1
    assert "cannot write: the database was opened read-only" in done.stderr
    assert sha256(seeded_db) == before
    status = edgeopt("status", "--db", str(seeded_db), "--read-only")
    assert status.returncode == 0 and "pending" in status.stdout
    report("bad input: write through --read-only: one line, exit 1, unchanged")


def clock() -> dt.datetime:
    return ANCHOR.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"confidence_level": 9}, "item 1: confidence_level must be between 1 and 5"),
        ({"time_spent_seconds": -4}, "item 1: time_spent_seconds must be 0 or more"),
        ({"question_id": 987654}, "item 1: question 987654 does not exist"),
        ({"study_session_id": "other"}, "item 1: study session"),
        ({"selected_answer": "ZZZ"}, "item 1: selected_answer 'ZZZ' names a key question"),
        ({"selected_answer": "A" * 1_000_000}, "item 1: selected_answer must be at most 64"),
        ({"flagged": "yes"}, "item 1: flagged input should be a valid boolean"),
        ({"time_spent_seconds": "12"}, "item 1: time_spent_seconds input should be a valid"),
        ({"user_id": 2**70}, "item 1: user_id input should be less than or equal to"),
        ({"answered_at": "2030-01-01T00:00:00Z"}, "item 1: answered_at 2030-01-01 00:00:00 is in"),
    ],
)
async def test_invalid_answers_reject_the_whole_batch(
    change: dict[str, object], expected: str, seeded_db: Path
) -> None:
    await apply_pack(seeded_db)
    (user, session), (other_session,) = (
        query(seeded_db, "SELECT user_id, id FROM study_sessions ORDER BY id LIMIT 1")[0],
        query(
            seeded_db,
            "SELECT id FROM study_sessions WHERE user_id <> "
            "(SELECT user_id FROM study_sessions ORDER BY id LIMIT 1) LIMIT 1",
        )[0],
    )
    question = query(
        seeded_db,
        "SELECT q.id FROM questions q JOIN study_sessions s ON s.exam_id = q.exam_id "
        "WHERE s.id = ? ORDER BY q.id LIMIT 1",
        (session,),
    )[0][0]
    good = {
        "user_id": user, "question_id": question, "study_session_id": session,
        "selected_answer": "A", "is_correct": True, "client_answer_id": "ok-0",
    }  # fmt: skip
    bad = {**good, "client_answer_id": "bad-1", **change}
    if bad["study_session_id"] == "other":
        bad["study_session_id"] = other_session
    before = sha256(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        with pytest.raises(AnswerRejected) as err:
            await AnswerWriter(db, now=clock).record([good, bad])
    finally:
        await db.close()
    assert expected in str(err.value) and err.value.index == 1
    assert err.value.field.startswith("answers[1].") and http_status(err.value) == 422
    assert sha256(seeded_db) == before
    shown = {k: (v if len(str(v)) < 40 else f"{str(v)[:20]}...") for k, v in change.items()}
    report(f"bad input: answer {shown}: AnswerRejected at item 1, unchanged")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda q: q.user_progress(2**70, 1), "user_id"),
        (lambda q: q.study_questions(1, 1, limit=1_000_000), "limit"),
        (lambda q: q.study_questions("1", 1), "user_id"),
        (lambda q: q.session_progress(True), "session_id"),
        (lambda q: q.search_questions(1, "x" * 201), "text"),
        (lambda q: q.growth_analytics(1, days=10**9), "days"),
        (lambda q: q.answer_history(1, after="not-a-cursor"), "after"),
    ],
    ids=["huge id", "huge limit", "id as text", "id as bool", "long search", "huge window",
         "bad cursor"],
)  # fmt: skip
async def test_bad_study_arguments_are_invalid_input_and_change_nothing(
    call: Callable[[StudyQueries], Awaitable[object]], field: str, seeded_db: Path
) -> None:
    before = sha256(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        with pytest.raises(InvalidInput) as err:
            await call(StudyQueries(db, now=clock))
        with pytest.raises(NotFound):  # a well-formed id that names nothing is 404
            await StudyQueries(db, now=clock).session_progress(10**12)
    finally:
        await db.close()
    assert err.value.field == field and http_status(err.value) == 422
    assert str(err.value).startswith(field) and "\n" not in str(err.value)
    assert sha256(seeded_db) == before
    report(f"bad input: study argument {field}: InvalidInput, unchanged")


async def test_a_single_answer_instead_of_a_list_is_invalid_input(seeded_db: Path) -> None:
    before = sha256(seeded_db)
    one = {"user_id": 1, "question_id": 1, "selected_answer": "A", "client_answer_id": "one"}
    db = await SqliteDriver.open(seeded_db)
    try:
        with pytest.raises(InvalidInput, match=r"^answers must be a list of answers") as err:
            await AnswerWriter(db, now=clock).record(one)  # type: ignore[arg-type]
    finally:
        await db.close()
    assert err.value.field == "answers" and sha256(seeded_db) == before  # was a TypeError
    report("bad input: one answer, not a list: InvalidInput, unchanged")


def test_quoted_identifiers_in_a_workload_are_quoted_never_run(tmp_path: Path) -> None:
    db = tmp_path / "weird.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute('CREATE TABLE "a""b; DROP TABLE keep; --" (id INTEGER PRIMARY KEY, k INT)')
        conn.execute("CREATE TABLE keep (v)")
        conn.executemany(
            'INSERT INTO "a""b; DROP TABLE keep; --" (k) VALUES (?)',
            [(i % 50,) for i in range(5000)],
        )
    conn.close()
    work = tmp_path / "w.sql"
    work.write_text('SELECT id FROM "a""b; DROP TABLE keep; --" WHERE k = ?;\n')
    pack = tmp_path / "pack"
    before = sha256(db)
    done = edgeopt("advise", "--db", str(db), "--workload", str(work), "--emit-pack", str(pack))
    assert done.returncode == 0, done.stderr
    assert sha256(db) == before
    assert edgeopt("apply", "--db", str(db), "--pack", str(pack)).returncode == 0
    assert query(db, "SELECT count(*) FROM keep") == [(0,)]  # still there, never dropped
    names = query(db, "SELECT tbl_name FROM sqlite_master WHERE type = 'index'")
    assert names and names[0][0] == 'a"b; DROP TABLE keep; --'
    report("bad input: identifiers with quotes and semicolons: quoted, nothing else ran")
