"""Workloads written with literal values, as query logs and `.expert` input are: which literals
become parameters, which stay constants, and the values each statement is measured with."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgedb_opt.advise import advise, parse_workload
from edgedb_opt.advise.measure import Lab
from edgedb_opt.advise.values import ColumnProfile, parameterize


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """30,000 orders of 3,000 customers (customer 7 the heaviest), four statuses, and a
    country column of three values that is a foreign key (key-like, though it has few)."""
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE countries (code TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO countries VALUES (?)", [("de",), ("fr",), ("it",)])
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL,"
            " status TEXT NOT NULL, country TEXT REFERENCES countries (code),"
            " placed_at TEXT NOT NULL, total REAL, note TEXT)"
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i,
                    7 if i % 10 == 0 else i % 3000,
                    ("new", "paid", "sent", "done")[i % 4],
                    ("de", "fr", "it")[i % 3],
                    f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    i * 0.5,
                    "n" * 200,
                )
                for i in range(1, 30_001)
            ),
        )
    conn.close()
    return path


def _measured(path: Path, text: str) -> list[str]:
    with Lab(path) as lab:
        schema = {n: i.columns for n, i in lab.tables().items()}
        return [w.sql for w in parameterize(parse_workload(text), schema, lab)]


def test_an_equality_on_a_literal_key_is_a_parameter_and_gets_its_index(shop: Path) -> None:
    # Taken as a constant, "customer = 11" left nothing to index.
    advice = advise(
        shop, parse_workload("SELECT count(*), sum(total) FROM orders WHERE customer = 11;")
    )
    [idx] = advice.indexes
    assert idx.columns[0] == "customer" and idx.where is None
    [report] = advice.statements
    assert report.measured_sql.endswith("WHERE customer = :l1")
    # Measured as written, with a typical customer and with the heaviest one.
    customers = [s["l1"] for s in report.param_sets]
    assert customers[0] == 11 and 7 in customers
    assert report.ms_after < report.ms_before


def test_a_literal_key_never_becomes_a_partial_index_predicate(shop: Path) -> None:
    advice = advise(
        shop,
        parse_workload(
            "-- weight: 5\n"
            "SELECT id, placed_at FROM orders WHERE customer = 7 AND status = 'new'"
            " ORDER BY placed_at;"
        ),
    )
    assert advice.indexes
    for idx in advice.indexes:
        assert "customer" not in (idx.where or ""), idx.create_sql
    # status has four values, each a quarter of the rows, and the same literal everywhere:
    # it may be a partial index's predicate.
    assert any(idx.where == "status = 'new'" for idx in advice.indexes), advice.indexes


def test_one_shape_with_different_literals_makes_them_parameters(shop: Path) -> None:
    # status is low-cardinality, but the workload asks for two of its values.
    sql = _measured(
        shop,
        "SELECT id FROM orders WHERE customer = 1 AND status = 'new';\n"
        "SELECT id FROM orders WHERE customer = 2 AND status = 'paid';\n"
        "SELECT id FROM orders WHERE status = 'new' AND total > 100;",
    )
    assert sql[0] == "SELECT id FROM orders WHERE customer = :l1 AND status = :l2"
    assert sql[1] == "SELECT id FROM orders WHERE customer = :l1 AND status = :l2"
    # Another shape, one value: the status stays; a range is always a parameter.
    assert sql[2] == "SELECT id FROM orders WHERE status = 'new' AND total > :l1"


def test_a_key_like_column_is_a_parameter_however_few_its_values(shop: Path) -> None:
    [sql] = _measured(shop, "SELECT id FROM orders WHERE country = 'de';")
    assert sql == "SELECT id FROM orders WHERE country = :l1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # IN lists and BETWEEN, negative numbers with their sign, a quoted string.
        (
            "SELECT id FROM orders WHERE customer IN (1, 2, 3) AND total BETWEEN -5 AND 9.5",
            "SELECT id FROM orders WHERE customer IN (:l1, :l2, :l3) AND total BETWEEN :l4 AND :l5",
        ),
        (
            "SELECT id FROM orders WHERE placed_at = 'it''s' LIMIT 10 OFFSET 5",
            "SELECT id FROM orders WHERE placed_at = :l1 LIMIT 10 OFFSET 5",
        ),
        # SET and VALUES are not comparisons; the WHERE of the UPDATE is.
        (
            "UPDATE orders SET status = 'done', total = 3 WHERE customer = 42",
            "UPDATE orders SET status = 'done', total = 3 WHERE customer = :l1",
        ),
        (
            "INSERT INTO orders (customer, status, placed_at) VALUES (5, 'new', '2026-01-01')",
            "INSERT INTO orders (customer, status, placed_at) VALUES (5, 'new', '2026-01-01')",
        ),
        # A literal in the select list, and a column compared with a column, stay.
        (
            "SELECT 1, id FROM orders AS o WHERE o.customer = o.id AND o.placed_at >= '2026-03-01'",
            "SELECT 1, id FROM orders AS o WHERE o.customer = o.id AND o.placed_at >= :l1",
        ),
    ],
)
def test_which_literals_become_parameters(shop: Path, text: str, expected: str) -> None:
    assert _measured(shop, text + ";") == [expected]


def test_the_values_of_each_parameter_run_the_statement(shop: Path) -> None:
    # The measured statement with its sets of values returns what the written one returns
    # for its own values.
    text = "SELECT count(*) FROM orders WHERE customer IN (7, 8) AND total BETWEEN -5 AND 900.5;"
    advice = advise(shop, parse_workload(text))
    [report] = advice.statements
    conn = sqlite3.connect(shop)
    try:
        written = conn.execute(text).fetchall()
        measured = conn.execute(report.measured_sql, report.param_sets[0]).fetchall()
    finally:
        conn.close()
    assert measured == written and written[0][0] > 0


def test_low_cardinality_means_few_values_each_holding_many_rows() -> None:
    def profile(rows: int, distinct: int) -> ColumnProfile:
        return ColumnProfile(rows, distinct, False, None)

    assert profile(30_000, 4).low_cardinality
    assert not profile(30_000, 3_000).low_cardinality
    assert not profile(50, 3).low_cardinality  # too few rows to tell a flag from a key
    assert not profile(0, 0).low_cardinality
