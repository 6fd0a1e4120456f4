"""`edgeopt advise` on real files: shapes become partial/covering indexes the plan uses,
drop suggestions, unindexable statements, bad workloads, and an emitted pack that round-trips.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from edgedb_opt.advise import advise, compare_with_expert, emit_pack, parse_workload
from edgedb_opt.errors import ConfigError, WorkloadError
from tests.conftest import edgeopt, master, query, sha256

STUDY = Path(__file__).parent / "fixtures" / "advise" / "study_workload.sql"
BIG = ("questions", "user_answers")


@pytest.fixture
def items(tmp_path: Path) -> Path:
    """20,000 items of 200 owners, 5% pending; two existing indexes, one a prefix of the
    other, and one that no statement below uses."""
    path = tmp_path / "items.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, status TEXT "
            "NOT NULL, created_at TEXT NOT NULL, title TEXT, body TEXT)"
        )
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    i,
                    i % 200,
                    "pending" if i % 20 == 0 else "done",
                    f"2026-01-{1 + i % 28:02d} {i % 24:02d}:00:00",
                    f"item {i}",
                    "x" * 300,
                )
                for i in range(1, 20_001)
            ),
        )
        conn.execute("CREATE INDEX idx_title ON items (title)")
        conn.execute("CREATE INDEX idx_created ON items (created_at)")
        conn.execute("CREATE INDEX idx_created_owner ON items (created_at, owner)")
    conn.close()
    return path


def test_a_constant_predicate_yields_a_partial_index_the_plan_uses(items: Path) -> None:
    before = sha256(items)
    workload = parse_workload(
        "-- weight: 10\n"
        "SELECT id, created_at FROM items WHERE owner = ? AND status = 'pending'\n"
        "ORDER BY created_at LIMIT 20;"
    )
    advice = advise(items, workload)
    assert sha256(items) == before  # only a scratch copy was touched
    [idx] = advice.indexes
    assert idx.where == "status = 'pending'" and idx.columns[0] == "owner"
    assert idx.create_sql.endswith("WHERE status = 'pending'")
    [report] = advice.statements
    assert idx.name in report.uses
    assert any(
        f"USING COVERING INDEX {idx.name}" in line or f"USING INDEX {idx.name}" in line
        for line in report.plan_after
    )
    assert not any(line.strip().startswith("SCAN items") for line in report.plan_after)
    assert report.ms_after < report.ms_before


def test_drop_suggestions_name_prefix_duplicates_and_unused_indexes(items: Path) -> None:
    advice = advise(items, parse_workload("SELECT count(*) FROM items WHERE owner = ?;"))
    assert "idx_created is a prefix of idx_created_owner: drop idx_created" in (
        advice.prefix_duplicates
    )
    assert "idx_title on items: no workload statement uses it" in advice.unused_existing
    with sqlite3.connect(items) as conn:  # suggestions only: nothing was dropped
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"idx_title", "idx_created", "idx_created_owner"} <= names


def test_a_leading_wildcard_like_gets_a_reason_not_an_index(items: Path) -> None:
    advice = advise(items, parse_workload("SELECT id FROM items WHERE body LIKE '%needle%';"))
    assert advice.indexes == []
    [report] = advice.statements
    assert report.note is not None and report.note.startswith("no index can help:")
    assert "items.body LIKE" in report.note


def test_bad_sql_names_the_statement_and_position(items: Path, tmp_path: Path) -> None:
    text = "SELECT id FROM items WHERE owner = ?;\n\n-- weight: 2\nSELECT id FROM items WHERE (;"
    with pytest.raises(WorkloadError, match=r"statement 2 \(line 4\): .* at line 4, column \d+"):
        advise(items, parse_workload(text))
    bad = tmp_path / "bad.sql"
    bad.write_text(text)
    before = sha256(items)
    done = edgeopt("advise", "--db", str(items), "--workload", str(bad))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()[-1:]
    assert re.match(r"edgeopt: error: statement 2 \(line 4\): .*column \d+", line)
    assert sha256(items) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- weight: -3\nSELECT 1;", "weight must be positive"),
        ("-- weight: often\nSELECT 1;", "weight 'often' is not a number"),
        ("-- params: [1\nSELECT ?;", "params are not JSON"),
        ("-- params: [1, 2]\nSELECT ?;", "params lists 2 values for 1 parameters"),
        ("-- only comments", "no statements"),
    ],
)
def test_malformed_workload_lines_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=re.escape(message)):
        parse_workload(text)


def test_unknown_table_is_refused_with_sqlites_reason(items: Path) -> None:
    with pytest.raises(WorkloadError, match=r"statement 1 \(line 1\): .*no such table: nope"):
        advise(items, parse_workload("SELECT * FROM nope WHERE a = ?;"))


def test_study_workload_plans_use_indexes_and_the_pack_round_trips(
    seeded_db: Path, tmp_path: Path
) -> None:
    before_master = master(seeded_db)
    pack = tmp_path / "advised"
    done = edgeopt(
        "advise",
        "--db",
        str(seeded_db),
        "--workload",
        str(STUDY),
        "--json",
        "--emit-pack",
        str(pack),
    )
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)
    assert master(seeded_db) == before_master  # advise never changes the user's file
    # No statement reads a growing table whole (tiny scale: user_answers has 5,000 rows;
    # questions, 500, is a lookup table the advisor rightly leaves to scans).
    growing = [t for t in BIG if query(seeded_db, f"SELECT count(*) FROM {t}")[0][0] >= 1000]
    assert growing == ["user_answers"]
    for report in advice["statements"]:
        scans = [
            line.strip()
            for line in report["plan_after"]
            if re.match(rf"\s*SCAN ({'|'.join(growing)})\b(?! USING)", line)
        ]
        assert scans == [], (report["index"], report["plan_after"])
    assert advice["indexes"] and len(advice["pack_files"]) == len(advice["indexes"]) + 1
    applied = edgeopt("apply", "--db", str(seeded_db), "--pack", str(pack), "--json")
    assert applied.returncode == 0, applied.stderr
    steps = json.loads(applied.stdout)["steps"]
    assert [s["action"] for s in steps] == ["applied"] * len(advice["pack_files"])
    names = {r[1] for r in master(seeded_db) if r[0] == "index"}
    assert {i["name"] for i in advice["indexes"]} <= names
    undone = edgeopt("rollback", "--all", "--db", str(seeded_db), "--pack", str(pack))
    assert undone.returncode == 0, undone.stderr
    assert master(seeded_db) == before_master


def test_emit_pack_refuses_a_folder_that_holds_steps(items: Path, tmp_path: Path) -> None:
    advice = advise(items, parse_workload("SELECT id FROM items WHERE owner = ?;"))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "001_x.sql").write_text("-- edgeopt:step id=x\n-- up\n-- down\n")
    with pytest.raises(Exception, match="exists and is not an empty pack folder"):
        emit_pack(advice, tmp_path / "p")


def test_compare_expert_measures_both_sets_on_the_same_statements(seeded_db: Path) -> None:
    workload = parse_workload(STUDY.read_text())
    advice = advise(seeded_db, workload)
    result = compare_with_expert(seeded_db, workload, advice)
    assert result["expert"]["index_count"] > 0 and result["expert"]["bytes"] > 0
    assert result["ours"]["index_count"] == len(advice.indexes)
    assert result["ours"]["bytes"] <= result["expert"]["bytes"]
    assert len(result["per_statement_ms"]) == len(workload)
    assert advice.comparison is result


def test_nothing_an_existing_index_already_provides_is_proposed(items: Path) -> None:
    conn = sqlite3.connect(items)
    with conn:
        conn.execute("CREATE INDEX idx_owner_created ON items (owner, created_at)")
    conn.close()
    advice = advise(items, parse_workload("SELECT count(*) FROM items WHERE owner = ?;"))
    assert advice.indexes == [] and advice.candidates == 0
    assert "idx_owner_created" in " ".join(advice.statements[0].plan_after)


def test_the_budget_caps_the_proposed_bytes(items: Path) -> None:
    workload = parse_workload(
        "SELECT id, created_at FROM items WHERE owner = ? ORDER BY created_at LIMIT 20;"
    )
    assert advise(items, workload).indexes
    assert advise(items, workload, budget_mb=0.001).indexes == []
    with pytest.raises(ConfigError, match="budget_mb must be positive, not 0"):
        advise(items, workload, budget_mb=0)


def test_advise_refuses_databases_it_cannot_copy(tmp_path: Path) -> None:
    done = edgeopt("advise", "--db", "turso:x.db", "--workload", str(STUDY))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "edgeopt: error: --db 'turso:x.db': advise works on SQLite files (copy the database "
        "locally)"
    )
    (tmp_path / "not.db").write_text("hello")
    done = edgeopt("advise", "--db", str(tmp_path / "not.db"), "--workload", str(STUDY))
    assert done.returncode == 1 and "cannot read" in done.stderr


def test_the_study_workload_is_the_hot_fixtures_statement_for_statement() -> None:
    """The workload repeats tests/fixtures/hot in advise's input format (with weights); this
    keeps the two from drifting apart."""
    from tests.test_plans import HOT_QUERIES, load_hot

    hot = {load_hot(p).name: " ".join(load_hot(p).sql.rstrip(";").split()) for p in HOT_QUERIES}
    text = STUDY.read_text()
    names = re.findall(r"^-- ([a-z_]+)\n-- weight:", text, re.MULTILINE)
    workload = parse_workload(text)
    assert len(names) == len(workload) - 1  # all but the INSERT of record_answer
    for name, statement in zip(names, workload, strict=False):
        assert " ".join(statement.text.rstrip(";").split()) == hot[name], name
    assert set(hot) - set(names) == {"search_questions"}  # needs the pack's FTS table
