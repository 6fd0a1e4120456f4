"""The real ``edgeopt`` command in subprocesses: outputs, JSON shapes, one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from edgedb_opt.cli import main
from tests.conftest import APPLIED_ON_SQLITE, REPO, SKIPPED_ON_SQLITE, edgeopt, master, sha256


def assert_one_line_error(proc: object, *fragments: str) -> None:
    assert proc.returncode != 0
    err: str = proc.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edgeopt: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_init_seed_apply_status_rollback(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    init = edgeopt("init", "--db", db, "--json")
    assert init.returncode == 0, init.stderr
    assert "user_answers" in json.loads(init.stdout)["created"]
    again = edgeopt("init", "--db", db)
    assert again.returncode == 0 and "already has the reference schema" in again.stdout

    seed = edgeopt(
        "seed", "--db", db, "--scale", "tiny", "--seed", "3", "--anchor", "2026-06-01", "--json"
    )
    assert seed.returncode == 0, seed.stderr
    assert json.loads(seed.stdout)["rows"]["user_answers"] > 1000
    before = master(Path(db))

    dry = edgeopt("apply", "--db", db, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "BEGIN IMMEDIATE;" in dry.stdout and "CREATE INDEX" in dry.stdout

    applied = edgeopt("apply", "--db", db, "--json")
    assert applied.returncode == 0, applied.stderr
    steps = json.loads(applied.stdout)["steps"]
    assert steps and {s["id"]: s["action"] for s in steps} == {
        i: "skipped" if i in SKIPPED_ON_SQLITE else "applied"
        for i in (*APPLIED_ON_SQLITE, *SKIPPED_ON_SQLITE)
    }
    assert all(st["ms"] >= 0 for s in steps if s["action"] == "applied" for st in s["statements"])

    status = edgeopt("status", "--db", db, "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)["steps"]
    assert [set(r) for r in rows] == [
        {"id", "pack", "state", "reason", "applied_at", "checksum_ok"}
    ] * len(rows)
    assert [r["id"] for r in rows if r["state"] == "applied"] == list(APPLIED_ON_SQLITE)
    assert all(r["checksum_ok"] for r in rows if r["state"] == "applied")
    assert {r["id"] for r in rows if r["state"] == "skipped"} == SKIPPED_ON_SQLITE

    text_status = edgeopt("status", "--db", db)
    assert re.search(r"questions_fts\s+study\s+applied\s+\d{4}-\d\d-\d\d", text_status.stdout)

    undone = edgeopt("rollback", "--db", db, "--all", "--json")
    assert undone.returncode == 0, undone.stderr
    assert [s["id"] for s in json.loads(undone.stdout)["steps"]] == [
        s["id"] for s in reversed(steps)
    ]
    assert master(Path(db)) == before


def test_dry_runs_leave_the_file_byte_identical(seeded_db: Path) -> None:
    digest = sha256(seeded_db)
    proc = edgeopt("apply", "--db", str(seeded_db), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert sha256(seeded_db) == digest
    assert edgeopt("apply", "--db", str(seeded_db)).returncode == 0
    digest = sha256(seeded_db)
    proc = edgeopt("rollback", "--db", str(seeded_db), "--all", "--dry-run")
    assert proc.returncode == 0 and "DROP INDEX" in proc.stdout
    assert sha256(seeded_db) == digest


def test_db_from_environment(seeded_db: Path) -> None:
    import os

    env = {**os.environ, "EDGEOPT_DB": str(seeded_db)}
    proc = edgeopt("status", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    states = {r["id"]: r["state"] for r in json.loads(proc.stdout)["steps"]}
    assert {i for i, st in states.items() if st != "pending"} == SKIPPED_ON_SQLITE


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("status", "--db", "{missing}"), ("does not exist",)),
        (("apply", "--db", "{missing}"), ("does not exist",)),
        (("apply", "--db", "{db}", "--step", "no_such_step"), ("unknown step id 'no_such_step'",)),
        (("apply", "--db", "{db}", "--pack", "no_such_pack"), ("pack 'no_such_pack' not found",)),
        (("apply", "--db", "{db}", "--pack", "{bad_pack}"), ("001_bad.sql:3:", "syntax error")),
        (("rollback", "--db", "{db}"), ("nothing to roll back",)),
        (("status", "--db", "{dir}"), ("is a directory",)),
        (("status", "--db", "{not_db}"), ("not a database",)),
        (("apply", "--db", "{not_db}"), ("not a database",)),
        (("status", "--db", "ftp://example/x"), ("unknown URL scheme 'ftp'",)),
    ],
)
def test_user_mistakes_are_one_line_and_change_nothing(
    seeded_db: Path, tmp_path: Path, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    bad_pack = tmp_path / "badpack"
    bad_pack.mkdir()
    (bad_pack / "001_bad.sql").write_text(
        "-- edgeopt:step id=bad\n-- up\nCREATE INDEXX i ON users(name);\n-- down\nDROP INDEX i;\n"
    )
    not_db = tmp_path / "notes.txt"
    not_db.write_text("this is not a database, just text " * 100)
    subs = {
        "{db}": str(seeded_db),
        "{missing}": str(tmp_path / "missing.db"),
        "{bad_pack}": str(bad_pack),
        "{dir}": str(tmp_path),
        "{not_db}": str(not_db),
    }
    real_args = [subs.get(a, a) for a in args]
    digests = {p: sha256(p) for p in (seeded_db, not_db)}
    proc = edgeopt(*real_args)
    assert_one_line_error(proc, *fragments)
    assert {p: sha256(p) for p in digests} == digests
    assert not (tmp_path / "missing.db").exists()


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = edgeopt("--verbose", "status", "--db", str(tmp_path / "missing.db"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_every_command_has_help_an_example_and_a_readme_entry() -> None:
    readme = (REPO / "README.md").read_text()
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert command.help and "Example:" in command.help, name
        assert f"edgeopt {name}" in readme, f"README does not show `edgeopt {name}`"
        proc = edgeopt(name, "--help")
        assert proc.returncode == 0 and "Example:" in proc.stdout


def test_rewrite_json_contract_and_parse_errors(seeded_db: Path) -> None:
    sql = (
        "SELECT id FROM questions WHERE id NOT IN (SELECT question_id FROM user_answers) "
        "AND id NOT IN (SELECT DISTINCT study_session_id FROM user_answers)"
    )
    proc = edgeopt("rewrite", "--db", str(seeded_db), "--json", sql)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"sql", "applied", "refused", "changed"}
    assert "not_in_to_not_exists" in out["applied"] and "NOT EXISTS" in out["sql"]
    assert {
        "rule": "not_in_to_not_exists",
        "reason": "subquery column may be NULL: NOT IN and NOT EXISTS differ",
    } in out["refused"]
    bad = edgeopt("rewrite", "--db", str(seeded_db), "SELECT * FROM WHERE")
    assert_one_line_error(bad, "line 1, column")
    # Without --db and without ./edgeopt.db, the reference schema answers.
    ref = edgeopt(
        "rewrite", "--json", "SELECT id FROM exams WHERE id NOT IN (SELECT exam_id FROM questions)"
    )
    assert ref.returncode == 0 and json.loads(ref.stdout)["applied"] == ["not_in_to_not_exists"]
