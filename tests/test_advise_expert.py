"""The ``.expert`` baseline: the real ``sqlite3`` shell on real files, never writing them."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgedb_opt.advise.expert import ENV_VAR, ExpertAdvice, dedupe, expert_command, run_expert
from edgedb_opt.errors import ConfigError, DriverError
from tests.conftest import sha256

HOT = Path(__file__).parent / "fixtures" / "hot"
PROPOSAL = re.compile(r"^CREATE INDEX (\w+) ON (\w+)\(([^)]*)\);$")


def proposed(advice: ExpertAdvice) -> list[tuple[str, str]]:
    """(table, column list) of each proposal, checking each line has .expert's exact shape."""
    shapes = []
    for sql in advice.indexes:
        match = PROPOSAL.match(sql)
        assert match, sql
        shapes.append((match.group(2), match.group(3)))
    return shapes


@pytest.fixture(autouse=True)
def _default_sqlite3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def orders_db(tmp_path: Path) -> Path:
    """A hand-made table with a few rows (rollback journal: reading takes a shared lock only)."""
    path = tmp_path / "orders.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,"
            " status TEXT NOT NULL, created_at TEXT NOT NULL, total REAL, note TEXT)"
        )
        conn.executemany(
            "INSERT INTO orders (customer_id, status, created_at, total, note)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (i % 7, ("new", "paid")[i % 2], f"2026-05-{i % 28 + 1:02d}", i * 1.5, f"n{i}")
                for i in range(50)
            ],
        )
    conn.close()
    return path


def test_where_and_order_by_give_the_equality_column_then_the_order_column(orders_db: Path) -> None:
    [advice] = run_expert(
        orders_db, ["SELECT id, total FROM orders WHERE customer_id = ? ORDER BY created_at"]
    )
    assert advice.statement == 0 and advice.error is None
    assert proposed(advice) == [("orders", "customer_id, created_at")]
    name = PROPOSAL.match(advice.indexes[0]).group(1)  # type: ignore[union-attr]
    assert advice.plan == [f"SEARCH orders USING INDEX {name} (customer_id=?)"]


@pytest.mark.parametrize(
    ("sql", "columns"),
    [
        ("SELECT * FROM orders WHERE status = ? AND total > ?", "status, total"),
        ("SELECT * FROM orders WHERE customer_id = ?2 AND status = ?1", "customer_id, status"),
        ("SELECT * FROM orders WHERE note = :note", "note"),
        (
            "SELECT * FROM orders WHERE customer_id = @c ORDER BY total DESC",
            "customer_id, total DESC",
        ),
        ("SELECT * FROM orders WHERE created_at = $day", "created_at"),
    ],
    ids=["qmark", "numbered", "colon", "at", "dollar"],
)
def test_every_parameter_style(orders_db: Path, sql: str, columns: str) -> None:
    [advice] = run_expert(orders_db, [sql])
    assert advice.error is None
    assert proposed(advice) == [("orders", columns)]


def test_a_statement_no_index_can_serve_gets_none(orders_db: Path) -> None:
    [advice] = run_expert(orders_db, ["SELECT id FROM orders WHERE note LIKE '%x%'"])
    assert advice == ExpertAdvice(0, [], ["SCAN orders"], None)


def test_rejected_statements_get_a_one_line_error_and_leave_the_others_alone(
    orders_db: Path,
) -> None:
    advice = run_expert(
        orders_db,
        [
            "SELECT * FROM nope WHERE x = 1",
            "SELECT * FROM orders WHERE status = 'new'",
            "SELEC * FROM orders",
            "SELECT *\n  FROM orders\n  WHERE missing_column = ?",
            "SELECT * FROM orders WHERE total = ?",
        ],
    )
    assert [a.statement for a in advice] == [0, 1, 2, 3, 4]
    assert advice[0].error == "no such table: nope"
    assert advice[2].error is not None and "syntax error" in advice[2].error
    assert advice[3].error == "no such column: missing_column"
    for bad in (advice[0], advice[2], advice[3]):
        assert bad.indexes == [] and bad.plan == [] and "\n" not in (bad.error or "")
    assert proposed(advice[1]) == [("orders", "status")]
    assert proposed(advice[4]) == [("orders", "total")]


def test_several_statements_keep_their_order_and_their_own_indexes(orders_db: Path) -> None:
    statements = [
        "-- leading comment\nSELECT * FROM orders WHERE note = ?;",
        "SELECT * FROM orders\nWHERE status = ?\n  AND created_at >= ? -- trailing comment",
        "INSERT INTO orders (customer_id, status, created_at) VALUES (?, ?, ?)",
        "SELECT count(*) FROM orders WHERE customer_id = ?;;",
    ]
    advice = run_expert(orders_db, statements)
    assert [a.statement for a in advice] == [0, 1, 2, 3]
    assert [proposed(a) for a in advice] == [
        [("orders", "note")],
        [("orders", "status, created_at")],
        [],
        [("orders", "customer_id")],
    ]
    assert advice[2].plan == []  # an INSERT has no plan: .expert prints "(null)"
    assert all(a.error is None for a in advice)


def test_items_the_shell_would_misread_are_refused_before_it_sees_them(
    orders_db: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "touched"
    advice = run_expert(
        orders_db,
        [
            f".shell touch {marker}",
            f"-- looks harmless\n.system touch {marker}",
            f"SELECT 1;\n.shell touch {marker}",
            "SELECT 1; SELECT * FROM orders WHERE note = ?",
            "SELECT * FROM orders WHERE note = 'unterminated",
            "  -- nothing but a comment\n;",
            "SELECT * FROM orders WHERE total = ?",
        ],
    )
    assert not marker.exists()
    assert [a.error for a in advice] == [
        "not an SQL statement: the sqlite3 shell would run it as a dot-command",
        "not an SQL statement: the sqlite3 shell would run it as a dot-command",
        "more than one statement: give .expert one at a time",
        "more than one statement: give .expert one at a time",
        "incomplete statement: an unterminated string, quoted name or comment",
        "empty statement",
        None,
    ]
    assert proposed(advice[6]) == [("orders", "total")]


def test_dedupe_merges_proposals_on_the_same_columns(orders_db: Path) -> None:
    real = run_expert(
        orders_db,
        [
            "SELECT * FROM orders WHERE customer_id = ? AND status = ?",
            "SELECT id FROM orders WHERE note = ?",
            "SELECT note FROM orders WHERE customer_id = :c AND status = :s",
            "SELECT total FROM orders WHERE status = :s AND customer_id = :c",
        ],
    )
    assert [proposed(a) for a in real] == [
        [("orders", "customer_id, status")],
        [("orders", "note")],
        [("orders", "customer_id, status")],
        [("orders", "status, customer_id")],
    ]
    # Named, quoted and cased differently, same table and columns: the same index.
    renamed = ExpertAdvice(4, ['CREATE INDEX "my_idx" ON "Orders"("NOTE");'], [])
    descending = ExpertAdvice(5, ["CREATE INDEX x ON orders(note DESC);"], [])
    assert dedupe([*real, renamed, descending]) == [
        real[0].indexes[0],
        real[1].indexes[0],
        real[3].indexes[0],  # another column order is another index
        "CREATE INDEX x ON orders(note DESC);",
    ]
    assert dedupe([renamed, real[1]]) == ['CREATE INDEX "my_idx" ON "Orders"("NOTE");']
    assert dedupe([]) == []


@pytest.fixture
def live_wal_db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A WAL database whose last table exists only in the -wal of a connection still open."""
    path = tmp_path / "live.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE a (x INTEGER, y TEXT)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("CREATE TABLE only_in_wal (k INTEGER, v TEXT)")
    yield path, conn
    conn.close()


def test_the_file_is_never_written_nor_given_side_files(seeded_db: Path) -> None:
    """The seeded file is in WAL mode and closed cleanly: no -wal, no -shm may appear."""
    before = (sha256(seeded_db), sorted(p.name for p in seeded_db.parent.iterdir()))
    advice = run_expert(seeded_db, ["SELECT * FROM user_answers WHERE user_id = ?"])
    assert proposed(advice[0]) == [("user_answers", "user_id")]
    assert (sha256(seeded_db), sorted(p.name for p in seeded_db.parent.iterdir())) == before


def test_a_live_wal_is_read_and_left_as_it_was(
    live_wal_db: tuple[Path, sqlite3.Connection],
) -> None:
    path, _conn = live_wal_db
    before = (sha256(path), sorted(p.name for p in path.parent.iterdir()))
    [advice] = run_expert(path, ["SELECT v FROM only_in_wal WHERE k = ?"])
    assert proposed(advice) == [("only_in_wal", "k")]
    assert (sha256(path), sorted(p.name for p in path.parent.iterdir())) == before


def test_hot_study_statements_get_indexes_on_the_big_tables(seeded_db: Path) -> None:
    names = ["objective_questions", "question_stats", "answer_history_keyset", "session_progress"]
    statements = [(HOT / f"{name}.sql").read_text(encoding="utf-8") for name in names]
    advice = run_expert(seeded_db, statements)
    tables = [{table for table, _ in proposed(a)} for a in advice]
    assert [a.error for a in advice] == [None] * 4
    assert tables == [{"questions"}, {"user_answers"}, {"user_answers"}, {"user_answers"}]
    assert proposed(advice[0]) == [("questions", "objective_id, difficulty, id")]
    assert proposed(advice[1]) == [("user_answers", "question_id")]
    assert all(any(" USING " in line and "INDEX" in line for line in a.plan) for a in advice)


def test_the_output_format_relied_on(orders_db: Path) -> None:
    """What the installed shell prints for .expert: proposals, blank, plan, blank."""
    result = subprocess.run(
        [expert_command(), "-init", os.devnull, "-batch", "-readonly", str(orders_db)],
        input=".expert\nSELECT * FROM orders WHERE note = ?;\n.expert\nSELECT 1;\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.split("\n")
    assert PROPOSAL.match(lines[0]) and lines[1] == "" and lines[2].startswith("SEARCH orders")
    assert lines[3:] == ["", "(no new indexes)", "", "SCAN CONSTANT ROW", "", ""]


def test_a_missing_command_is_a_one_line_config_error(
    orders_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere" / "sqlite3"))
    with pytest.raises(ConfigError) as raised:
        run_expert(orders_db, ["SELECT 1"])
    assert str(raised.value) == (
        f"sqlite3 command not found at {ENV_VAR}={tmp_path / 'nowhere' / 'sqlite3'}: "
        "install Debian's sqlite3 (make does) or set EDGEOPT_SQLITE3"
    )
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        expert_command()
    assert str(raised.value) == (
        "sqlite3 command not found: install Debian's sqlite3 (make does) or set EDGEOPT_SQLITE3"
    )


def test_the_variable_overrides_path(monkeypatch: pytest.MonkeyPatch) -> None:
    real = expert_command()
    monkeypatch.setenv(ENV_VAR, real)
    monkeypatch.setenv("PATH", "")
    assert expert_command() == real


def test_a_missing_or_foreign_file_is_a_driver_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match=r"^cannot open .*absent\.db: no such file$"):
        run_expert(tmp_path / "absent.db", ["SELECT 1"])
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database, but long enough to have a header\n")
    with pytest.raises(DriverError, match=r"not a SQLite database$"):
        run_expert(foreign, ["SELECT 1"])


def test_a_command_that_is_not_the_sqlite3_shell_is_a_driver_error(
    orders_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "cat")  # real, but rejects sqlite3's options
    with pytest.raises(DriverError, match=r"^sqlite3 \.expert gave unexpected output: \S*cat: "):
        run_expert(orders_db, ["SELECT 1"])


def _stand_in(tmp_path: Path, name: str, body: str) -> Path:
    """A fake sqlite3 (a shell script): nothing real hangs or crashes on demand."""
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_a_hung_shell_is_killed_with_its_children(
    orders_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not exec: the sleep is a child that holds the pipes, as a wrapper script's sqlite3 would.
    monkeypatch.setenv(ENV_VAR, str(_stand_in(tmp_path, "fake_hung_sqlite3", "sleep 30")))
    with pytest.raises(DriverError) as raised:
        run_expert(orders_db, ["SELECT 1"], timeout=0.3)
    assert str(raised.value) == "sqlite3 .expert did not finish within 0.3 s"


def test_a_crashed_shell_is_a_driver_error(
    orders_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(_stand_in(tmp_path, "fake_crashing_sqlite3", "kill -SEGV $$")))
    with pytest.raises(DriverError) as raised:
        run_expert(orders_db, ["SELECT 1"])
    assert str(raised.value) == "sqlite3 .expert crashed: SIGSEGV"


def test_nothing_to_ask_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv(ENV_VAR, "false")  # would fail if it were run
    assert run_expert(path, []) == []
    assert run_expert(path, ["  ;"]) == [ExpertAdvice(0, [], [], "empty statement")]
