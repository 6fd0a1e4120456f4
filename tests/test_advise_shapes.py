"""Statement shapes SQLite's own `.expert` handles, on real files: a comparison's collation,
OR terms (MULTI-INDEX OR), the lookups of a trigger an INSERT fires, rowid joins, quoted
column names. Each proposal must be used by the plan, and the plan must stop scanning."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from edgedb_opt.advise import advise, parse_workload

Fill = Callable[[sqlite3.Connection], None]


def _db(tmp_path: Path, schema: str, fill: Fill) -> Path:
    path = tmp_path / "shapes.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(schema)
        fill(conn)
    conn.close()
    return path


def _people(conn: sqlite3.Connection) -> None:
    names = ["Smith", "smith", "Jones", "Brown", "Kaur", "Lee", "Garcia", "Khan"]
    conn.executemany(
        "INSERT INTO people (surname, given, boss, mentor, note) VALUES (?, ?, ?, ?, ?)",
        (
            (f"{names[i % 8]}{i % 997}", f"g{i}", i % 1500, (i * 7) % 1500, "x" * 50)
            for i in range(20_000)
        ),
    )


PEOPLE = (
    "CREATE TABLE people (id INTEGER PRIMARY KEY, surname TEXT, given TEXT, boss INTEGER,"
    " mentor INTEGER, note TEXT);"
)


def _only_plan(path: Path, sql: str) -> str:
    advice = advise(path, parse_workload(sql + ";"))
    [report] = advice.statements
    assert advice.indexes, report.plan_after
    text = "\n".join(report.plan_after)
    assert "SCAN people" not in text, text
    assert set(report.uses) == {i.name for i in advice.indexes}, (report.uses, advice.indexes)
    return "\n".join(i.create_sql for i in advice.indexes)


def test_a_collated_comparison_gets_an_index_with_that_collation(tmp_path: Path) -> None:
    path = _db(tmp_path, PEOPLE, _people)
    created = _only_plan(
        path, "SELECT * FROM people WHERE surname COLLATE NOCASE BETWEEN 'smith1' AND 'smith2'"
    )
    assert '"surname" COLLATE NOCASE' in created


def test_or_terms_get_an_index_per_branch(tmp_path: Path) -> None:
    path = _db(tmp_path, PEOPLE, _people)
    created = _only_plan(path, "SELECT id, given FROM people WHERE boss = 12 OR mentor = 40")
    assert '("boss"' in created and '("mentor"' in created


def test_the_lookup_of_a_trigger_an_insert_fires_gets_its_index(tmp_path: Path) -> None:
    schema = (
        PEOPLE + " CREATE TABLE visits (id INTEGER PRIMARY KEY, surname TEXT, at INTEGER);"
        " CREATE TRIGGER visits_touch AFTER INSERT ON visits BEGIN"
        " UPDATE people SET note = 'seen' WHERE surname = new.surname; END;"
    )
    path = _db(tmp_path, schema, _people)
    advice = advise(
        path, parse_workload("INSERT INTO visits (surname, at) VALUES ('Kaur4', 1700000000);")
    )
    [idx] = advice.indexes
    assert idx.table == "people" and idx.columns[0] == "surname"
    [report] = advice.statements
    assert report.ms_after < report.ms_before / 5


def test_a_rowid_join_never_puts_rowid_in_a_key_and_a_spaced_name_is_not_repeated(
    tmp_path: Path,
) -> None:
    schema = (
        'CREATE TABLE stock (sku TEXT, "unit price" INTEGER, shelf TEXT);'
        " CREATE TABLE labels (lang TEXT, text TEXT);"
    )

    def fill(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO stock VALUES (?, ?, ?)",
            ((f"s{i}", i % 5000, f"sh{i % 40}") for i in range(20_000)),
        )
        conn.executemany(
            "INSERT INTO labels VALUES (?, ?)", ((f"l{i % 3000}", f"t{i}") for i in range(20_000))
        )

    path = _db(tmp_path, schema, fill)
    advice = advise(
        path,
        parse_workload(
            'SELECT sku, shelf FROM stock WHERE "unit price" = 1234;\n'
            "SELECT * FROM labels, stock WHERE labels.lang = 'l17' AND stock.rowid = labels.rowid;"
        ),
    )
    for idx in advice.indexes:
        columns = [c.removesuffix(" DESC") for c in idx.columns]
        assert "rowid" not in columns and len(columns) == len(set(columns)), idx.create_sql
    assert any(i.columns[0] == "unit price" for i in advice.indexes)
    assert any(i.table == "labels" and i.columns[0] == "lang" for i in advice.indexes)


def test_a_literal_run_once_is_a_parameter_even_on_a_flag(tmp_path: Path) -> None:
    # One statement run once is no evidence its value is fixed: no partial index on it.
    schema = "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, owner INTEGER, body TEXT);"

    def fill(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO jobs (state, owner, body) VALUES (?, ?, ?)",
            ((("new", "run", "done")[i % 3], i % 2000, "b" * 80) for i in range(20_000)),
        )

    path = _db(tmp_path, schema, fill)
    once = advise(path, parse_workload("SELECT id FROM jobs WHERE state = 'run' AND owner = 5;"))
    assert once.indexes and all(i.where is None for i in once.indexes)
    often = advise(
        path,
        parse_workload("-- weight: 20\nSELECT id FROM jobs WHERE state = 'run' AND owner = 5;"),
    )
    assert any(i.where == "state = 'run'" for i in often.indexes), often.indexes


def test_an_expression_gets_an_expression_index_and_rowid_ends_no_key(tmp_path: Path) -> None:
    schema = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, a INTEGER, b INTEGER);"

    def fill(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO users (email, a, b) VALUES (?, ?, ?)",
            ((f"User{i}@Mail.org", i % 100, i % 37) for i in range(20_000)),
        )

    path = _db(tmp_path, schema, fill)
    advice = advise(
        path,
        parse_workload(
            "SELECT id FROM users WHERE lower(users.email) = 'user5@mail.org';\n"
            "SELECT id FROM users WHERE a + b = 40 ORDER BY id;\n"
            # Not deterministic: no index can hold it, and none is proposed for it.
            "SELECT id FROM users WHERE random() > 5;"
        ),
    )
    created = sorted(i.create_sql for i in advice.indexes)
    assert created == [
        'CREATE INDEX "adv_users_expr_LOWER_email_" ON "users" (LOWER(email))',
        'CREATE INDEX "adv_users_expr_a___b" ON "users" (a + b)',
    ]
    lower, plus, volatile = advice.statements
    assert "(<expr>=?)" in lower.plan_after[0] and "(<expr>=?)" in plus.plan_after[0]
    assert not any("SORT" in line for line in plus.plan_after)  # rowid orders equal keys
    assert all(volatile.index not in i.serves for i in advice.indexes)
