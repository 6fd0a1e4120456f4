"""Workloads from what an application ran: a sqlite3 shell trace, a Python trace callback's
output, and the runtime monitor's export, each read by `edgeopt advise`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from edgedb_opt.advise import load_workload, workload_from_trace
from edgedb_opt.errors import WorkloadError
from edgedb_opt.runtime.database import EdgeDatabase
from tests.conftest import edgeopt

_SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER, kind TEXT, body TEXT);"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(_SCHEMA)
        conn.executemany(
            "INSERT INTO notes (owner, kind, body) VALUES (?, ?, ?)",
            ((i % 900, ("a", "b")[i % 2], "z" * 60) for i in range(20_000)),
        )
    conn.close()
    return path


def test_a_shell_trace_is_counted_per_fingerprint(notes: Path, tmp_path: Path) -> None:
    # What sqlite3's .trace prints: every statement as run, the shell's own ones included.
    script = (
        ".trace stdout\n.parameter set :k 'b'\n"
        + "".join(f"SELECT id FROM notes WHERE owner = {o} AND kind = :k;\n" for o in (5, 6, 5))
        + "UPDATE notes SET body = 'y' WHERE owner = 7;\nPRAGMA user_version;\n"
    )
    trace = subprocess.run(
        ["sqlite3", str(notes)], input=script, capture_output=True, text=True, check=True
    ).stdout
    statements = workload_from_trace(trace)
    texts = {s.text.rstrip(";"): s.weight for s in statements}
    # Two texts of the SELECT's shape (the most run one carries the rest of the weight), the
    # UPDATE; not the PRAGMA, nor the shell's parameter table.
    assert texts == {
        "SELECT id FROM notes WHERE owner = 5 AND kind = :k": 2.0,
        "SELECT id FROM notes WHERE owner = 6 AND kind = :k": 1.0,
        "UPDATE notes SET body = 'y' WHERE owner = 7": 1.0,
    }


def test_a_python_trace_without_semicolons_is_cut_at_each_statement() -> None:
    lines: list[str] = []
    conn = sqlite3.connect(":memory:")
    conn.set_trace_callback(lines.append)
    conn.execute(_SCHEMA)
    conn.execute("SELECT id\nFROM notes\nWHERE owner = ?", (3,)).fetchall()
    conn.execute("SELECT id FROM notes WHERE kind = 'a'\nUNION\nSELECT id FROM notes").fetchall()
    conn.execute("INSERT INTO notes (owner, kind) VALUES (?, ?)", (1, "a"))
    conn.close()
    statements = workload_from_trace("\n".join(lines))
    assert [s.text.rstrip(";") for s in statements] == [
        "SELECT id FROM notes WHERE owner = 3",
        "SELECT id FROM notes WHERE kind = 'a' UNION SELECT id FROM notes",
        "INSERT INTO notes (owner, kind) VALUES (1, 'a')",
    ]


def test_a_trace_with_nothing_to_advise_is_a_one_line_error() -> None:
    with pytest.raises(WorkloadError, match="no SELECT, INSERT, UPDATE or DELETE"):
        workload_from_trace("BEGIN;\nPRAGMA foreign_keys;\nCOMMIT;\n")


def test_the_monitor_exports_what_the_app_ran_and_advise_reads_it(
    notes: Path, tmp_path: Path
) -> None:
    async def run_app() -> int:
        async with EdgeDatabase.connect(db=str(notes)) as db:
            for owner in range(12):
                await db.fetch_all("SELECT id FROM notes WHERE owner = ?", (owner,))
            await db.fetch_all("SELECT count(*) FROM notes WHERE kind = 'b'")
            return db.monitor.export_workload(tmp_path / "seen.sql")

    assert asyncio.run(run_app()) >= 2
    exported = (tmp_path / "seen.sql").read_text()
    assert "'b'" not in exported  # values are never kept nor written
    weights = {s.text.rstrip(";"): s.weight for s in load_workload(tmp_path / "seen.sql")}
    assert weights["SELECT id FROM notes WHERE owner = ?"] == 12.0
    proc = edgeopt("advise", "--db", str(notes), "--workload", str(tmp_path / "seen.sql"), "--json")
    assert proc.returncode == 0, proc.stderr
    advice = json.loads(proc.stdout)
    assert any(i["columns"][0] == "owner" for i in advice["indexes"]), advice["indexes"]


def test_advise_takes_a_trace_or_a_workload_not_both(notes: Path, tmp_path: Path) -> None:
    (tmp_path / "t.log").write_text("SELECT id FROM notes WHERE owner = 4;\n")
    both = edgeopt("advise", "--db", str(notes), "--trace", str(tmp_path / "t.log"),
                   "--workload", str(tmp_path / "t.log"))  # fmt: skip
    assert both.returncode != 0 and "--workload FILE or as --trace FILE" in both.stderr
    ok = edgeopt("advise", "--db", str(notes), "--trace", str(tmp_path / "t.log"), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["indexes"][0]["columns"][0] == "owner"


def test_the_closed_loop_emit_apply_verify_rollback(notes: Path, tmp_path: Path) -> None:
    workload = tmp_path / "w.sql"
    workload.write_text(
        "-- weight: 10\nSELECT id FROM notes WHERE owner = 17;\n"
        "INSERT INTO notes (owner, kind, body) VALUES (1, 'a', 'x');\n"
    )
    pack = tmp_path / "pack"
    emitted = edgeopt("advise", "--db", str(notes), "--workload", str(workload),
                      "--emit-pack", str(pack))  # fmt: skip
    assert emitted.returncode == 0, emitted.stderr
    # Before apply: verify says the indexes are not there, and the plan still scans.
    early = json.loads(
        edgeopt("advise", "--db", str(notes), "--verify", str(pack), "--json").stdout
    )
    assert early["missing"] == early["indexes"] and early["indexes"]
    before = master_of(notes)
    assert edgeopt("apply", "--db", str(notes), "--pack", str(pack)).returncode == 0
    proc = edgeopt("advise", "--db", str(notes), "--verify", str(pack), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["missing"] == []
    select, insert = result["statements"]
    assert select["uses"] and select["ms_now"] < select["ms_before"] / 5
    assert insert["ms_now"] is None  # a write is not run on the live file
    assert result["reads_ms_now"] < result["reads_ms_before"]
    text = edgeopt("advise", "--db", str(notes), "--verify", str(pack))
    assert "predicted" in text.stdout and "reads, weighted" in text.stdout
    assert edgeopt("rollback", "--db", str(notes), "--pack", str(pack), "--all").returncode == 0
    assert master_of(notes) == before


def master_of(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, sql FROM sqlite_master"
            " WHERE tbl_name <> '_edgeopt_migrations' ORDER BY 2"
        ).fetchall()
    finally:
        conn.close()
