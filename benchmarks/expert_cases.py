"""Data-filled cases with the query shapes of SQLite's ``ext/expert/expert1.test``.

SQLite tests ``.expert`` (its own index advisor) on empty tables with ``?`` parameters: the
proposals there depend on the statement's shape alone. Here each shape gets a schema of its
own, ~20,000 skewed rows per table (a few heavy values, many rare ones, so the value a
log happens to show is rarely the value production asks for next) and two statements that
differ only in their literal values:

* ``advise_sql`` is what a user pastes from a log into ``edgeopt advise`` and ``.expert``;
* ``timed_sql`` is the same statement with the values production sends next, and is what
  the benchmark times with each advisor's index set. An index that only serves the pasted
  literal (a partial index on it, say) does nothing for it.

Only the shapes for which ``.expert`` finds an index are kept (none of its "(no new indexes)"
cases: a rowid lookup, a bare scan, a prefix of a primary key). The names, schemas and data
are our own; only the shapes follow the test file.
"""

from __future__ import annotations

import random
import sqlite3
import string
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CASES", "ROWS", "ExpertCase"]

#: Rows per table: enough that a full scan costs milliseconds and an index microseconds.
ROWS = 20_000

Fill = Callable[[sqlite3.Connection, random.Random], None]


@dataclass(frozen=True)
class ExpertCase:
    """One query shape of expert1.test, with data and two sets of literal values.

    Attributes:
        name: the pytest id; says the shape.
        schema: DDL script (tables, triggers, generated columns), run with executescript.
        fill: inserts the rows; deterministic given the Random it is passed (:meth:`rng`).
        advise_sql: the statement as pasted from a log: what both advisors are asked about.
        timed_sql: the same statement with other literal values: what is timed.
    """

    name: str
    schema: str
    fill: Fill
    advise_sql: str
    timed_sql: str

    def rng(self) -> random.Random:
        """The Random to fill with: the literals above were chosen to hit rows of its data."""
        return random.Random(f"expert1:{self.name}")


def _skewed(rng: random.Random, span: int, power: float = 3.0) -> int:
    """An integer in [0, span): 0 is the heaviest value, high values are rare (Zipf-like).

    With power 3 and span 2,000 over 20,000 rows, 0 has ~1,600 rows and a value near 1,000
    about 5: the heaviest value is far from a typical one.
    """
    return int(span * rng.random() ** power)


def _word(rng: random.Random, low: int = 4, high: int = 9) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(low, high)))


# -- 1. a range on one column (expert1 2: b > ?) -------------------------------------------


def _fill_payments(conn: sqlite3.Connection, rng: random.Random) -> None:
    # Amounts in cents: most payments are small, a long thin tail of large ones.
    conn.executemany(
        "INSERT INTO payments(account, amount_cents, memo) VALUES (?, ?, ?)",
        (
            (rng.randint(1, 3000), 100 + _skewed(rng, 500_000, 4.0), _word(rng, 8, 20))
            for _ in range(ROWS)
        ),
    )


RANGE_GT = ExpertCase(
    name="range_gt",
    schema="""
        CREATE TABLE payments(
            id INTEGER PRIMARY KEY, account INTEGER, amount_cents INTEGER, memo TEXT
        );
    """,
    fill=_fill_payments,
    advise_sql="SELECT * FROM payments WHERE amount_cents > 450000",
    timed_sql="SELECT * FROM payments WHERE amount_cents > 300000",
)


# -- 2. BETWEEN under COLLATE NOCASE in the query (expert1 3) ------------------------------

_COMMON_SURNAMES = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Nguyen", "Garcia"]


def _fill_contacts(conn: sqlite3.Connection, rng: random.Random) -> None:
    def surname() -> str:
        # Half the people share a handful of surnames, typed in any case; the rest are rare.
        if rng.random() < 0.5:
            name = rng.choice(_COMMON_SURNAMES)
        else:
            name = _word(rng, 5, 10).capitalize()
        return name.upper() if rng.random() < 0.1 else name

    conn.executemany(
        "INSERT INTO contacts(surname, given, email) VALUES (?, ?, ?)",
        (
            (surname(), _word(rng).capitalize(), f"{_word(rng)}@{_word(rng, 3, 6)}.example")
            for _ in range(ROWS)
        ),
    )


NOCASE_BETWEEN = ExpertCase(
    name="nocase_between",
    schema="""
        CREATE TABLE contacts(id INTEGER PRIMARY KEY, surname TEXT, given TEXT, email TEXT);
    """,
    fill=_fill_contacts,
    advise_sql="SELECT * FROM contacts WHERE surname COLLATE NOCASE BETWEEN 'smith' AND 'smiti'",
    timed_sql="SELECT * FROM contacts WHERE surname COLLATE NOCASE BETWEEN 'ka' AND 'kc'",
)


# -- 3. ORDER BY one column (expert1 4), paged with LIMIT ----------------------------------


def _fill_articles(conn: sqlite3.Connection, rng: random.Random) -> None:
    # Publication times are unique, so a page is the same whatever plan reads it.
    stamps = rng.sample(range(1_600_000_000, 1_700_000_000), ROWS)
    conn.executemany(
        "INSERT INTO articles(author, title, published_at) VALUES (?, ?, ?)",
        ((_skewed(rng, 500), f"{_word(rng)} {_word(rng)}", ts) for ts in stamps),
    )


ORDER_BY_LIMIT = ExpertCase(
    name="order_by_limit",
    schema="""
        CREATE TABLE articles(id INTEGER PRIMARY KEY, author INTEGER, title TEXT,
                              published_at INTEGER);
    """,
    fill=_fill_articles,
    advise_sql="SELECT title FROM articles ORDER BY published_at LIMIT 20",
    timed_sql="SELECT title FROM articles ORDER BY published_at LIMIT 50",
)


# -- 4. equality, then ORDER BY another column (expert1 5) ---------------------------------


def _fill_orders(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        "INSERT INTO orders(customer_id, placed_at, total_cents) VALUES (?, ?, ?)",
        (
            (_skewed(rng, 2000), rng.randint(1_600_000_000, 1_700_000_000), rng.randint(1, 9999))
            for _ in range(ROWS)
        ),
    )


EQ_ORDER_BY = ExpertCase(
    name="eq_order_by",
    schema="""
        CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER, placed_at INTEGER,
                            total_cents INTEGER);
    """,
    fill=_fill_orders,
    # The pasted customer is the biggest one; the next request is an ordinary customer.
    advise_sql="SELECT placed_at FROM orders WHERE customer_id = 0 ORDER BY placed_at",
    timed_sql="SELECT placed_at FROM orders WHERE customer_id = 741 ORDER BY placed_at",
)


# -- 5. ORDER BY every column of SELECT * (expert1 7) --------------------------------------


def _fill_readings(conn: sqlite3.Connection, rng: random.Random) -> None:
    # (sensor, taken_at) is unique: a LIMIT page is the same whatever plan reads it.
    rows = []
    for taken in range(ROWS):
        rows.append((f"s-{_skewed(rng, 300):03d}", 1_700_000_000 + taken, rng.random() * 100))
    rng.shuffle(rows)
    conn.executemany("INSERT INTO readings(sensor, taken_at, reading) VALUES (?, ?, ?)", rows)


ORDER_BY_THREE = ExpertCase(
    name="order_by_three_columns",
    schema="CREATE TABLE readings(sensor TEXT, taken_at INTEGER, reading REAL);",
    fill=_fill_readings,
    advise_sql="SELECT * FROM readings ORDER BY sensor, taken_at, reading LIMIT 100",
    timed_sql="SELECT * FROM readings ORDER BY sensor, taken_at, reading LIMIT 40",
)


# -- 6. equality on a column declared COLLATE NOCASE (expert1 8.1) -------------------------

_PROMOS = ["WELCOME5", "SUMMER10", "FREESHIP", "VIP20", "BLACKFRI"]


def _fill_redemptions(conn: sqlite3.Connection, rng: random.Random) -> None:
    def promo() -> str:
        if rng.random() < 0.6:
            return rng.choice(_PROMOS)
        return f"PARTNER-{_skewed(rng, 4000, 2.0):04d}"

    conn.executemany(
        "INSERT INTO redemptions(promo, order_id, redeemed_at) VALUES (?, ?, ?)",
        ((promo(), n, rng.randint(1_600_000_000, 1_700_000_000)) for n in range(ROWS)),
    )


COLUMN_NOCASE_EQ = ExpertCase(
    name="column_nocase_eq",
    schema="""
        CREATE TABLE redemptions(promo TEXT COLLATE NOCASE, order_id INTEGER,
                                 redeemed_at INTEGER);
    """,
    fill=_fill_redemptions,
    # Users type codes in lower case; the column's collation makes them match.
    advise_sql="SELECT * FROM redemptions WHERE promo = 'summer10'",
    timed_sql="SELECT * FROM redemptions WHERE promo = 'partner-2466'",
)


# -- 7. ORDER BY ASC, DESC (on a NOCASE column), ASC (expert1 8.2) -------------------------


def _fill_files(conn: sqlite3.Connection, rng: random.Random) -> None:
    # The serial makes (folder, name) unique even without case: pages are plan-independent.
    rows = [
        (f"/srv/{_skewed(rng, 800):04d}", f"{_word(rng, 3, 8)}-{n:05d}", rng.randint(0, 1 << 24))
        for n in range(ROWS)
    ]
    rows = [(f, n.upper() if rng.random() < 0.3 else n, s) for f, n, s in rows]
    rng.shuffle(rows)
    conn.executemany("INSERT INTO files(folder, name, size) VALUES (?, ?, ?)", rows)


ORDER_MIXED_DESC = ExpertCase(
    name="order_mixed_desc",
    schema="CREATE TABLE files(folder TEXT, name TEXT COLLATE NOCASE, size INTEGER);",
    fill=_fill_files,
    advise_sql="SELECT * FROM files ORDER BY folder ASC, name DESC, size ASC LIMIT 30",
    timed_sql="SELECT * FROM files ORDER BY folder ASC, name DESC, size ASC LIMIT 75",
)


# -- 8. a table whose name needs quotes (expert1 9) ----------------------------------------


def _fill_order_lines(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        'INSERT INTO "order lines"(order_no, sku, qty) VALUES (?, ?, ?)',
        (
            (5000 + _skewed(rng, 6000), f"SKU-{rng.randint(1, 900):04d}", rng.randint(1, 12))
            for _ in range(ROWS)
        ),
    )


QUOTED_TABLE_EQ = ExpertCase(
    name="quoted_table_eq",
    schema="""
        CREATE TABLE "order lines"(order_no INTEGER, sku TEXT, qty INTEGER);
    """,
    fill=_fill_order_lines,
    advise_sql='SELECT * FROM "order lines" WHERE order_no = 8200',
    timed_sql='SELECT * FROM "order lines" WHERE order_no = 5000',
)


# -- 9. a column whose name needs quotes (expert1 10) --------------------------------------

_PRICE_POINTS = [4.99, 9.99, 19.99, 24.5, 49.0, 99.95]


def _fill_products(conn: sqlite3.Connection, rng: random.Random) -> None:
    def price() -> float:
        if rng.random() < 0.5:
            return rng.choice(_PRICE_POINTS)
        return round(rng.randint(100, 99_999) / 100, 2)

    conn.executemany(
        'INSERT INTO products(name, "unit price", stock) VALUES (?, ?, ?)',
        ((f"{_word(rng)} {_word(rng)}", price(), rng.randint(0, 500)) for _ in range(ROWS)),
    )


QUOTED_COLUMN_EQ = ExpertCase(
    name="quoted_column_eq",
    schema="""
        CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT, "unit price" REAL,
                              stock INTEGER);
    """,
    fill=_fill_products,
    advise_sql='SELECT * FROM products WHERE "unit price" = 19.99',
    timed_sql='SELECT * FROM products WHERE "unit price" = 5.63',
)


# -- 10. a join with a transitive constraint (expert1 11.1) --------------------------------

_CITIES = [f"city-{n:04d}" for n in range(2000)]


def _fill_teams_venues(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        "INSERT INTO teams(league, city, name) VALUES (?, ?, ?)",
        (
            (f"L{_skewed(rng, 40, 2.0):02d}", _CITIES[_skewed(rng, 2000)], _word(rng))
            for _ in range(ROWS)
        ),
    )
    # Venues spread evenly over the cities: about ten in each.
    conn.executemany(
        "INSERT INTO venues(city, capacity) VALUES (?, ?)",
        ((rng.choice(_CITIES), rng.randint(500, 90_000)) for _ in range(ROWS)),
    )


TRANSITIVE_JOIN = ExpertCase(
    name="transitive_join",
    schema="""
        CREATE TABLE teams(league TEXT, city TEXT, name TEXT);
        CREATE TABLE venues(city TEXT, capacity INTEGER);
    """,
    fill=_fill_teams_venues,
    advise_sql=(
        "SELECT * FROM teams, venues WHERE teams.league = 'L00' AND teams.city = venues.city"
        " AND venues.city = 'city-0000'"
    ),
    timed_sql=(
        "SELECT * FROM teams, venues WHERE teams.league = 'L03' AND teams.city = venues.city"
        " AND venues.city = 'city-0012'"
    ),
)


# -- 11. OR of two equalities on different columns (expert1 12.1) --------------------------


def _fill_tickets(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        "INSERT INTO tickets(assignee, reporter, title) VALUES (?, ?, ?)",
        ((_skewed(rng, 1500), _skewed(rng, 3000), _word(rng, 10, 30)) for _ in range(ROWS)),
    )


OR_TERMS = ExpertCase(
    name="or_terms",
    schema="""
        CREATE TABLE tickets(id INTEGER PRIMARY KEY, assignee INTEGER, reporter INTEGER,
                             title TEXT);
    """,
    fill=_fill_tickets,
    advise_sql="SELECT * FROM tickets WHERE assignee = 3 OR reporter = 5",
    timed_sql="SELECT * FROM tickets WHERE assignee = 612 OR reporter = 1480",
)


# -- 12. equality, then ORDER BY rowid (expert1 13.3) --------------------------------------


def _fill_log_lines(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        "INSERT INTO log_lines(host, level, message) VALUES (?, ?, ?)",
        (
            (
                f"web-{_skewed(rng, 400):03d}",
                rng.choice(["debug", "info", "info", "warn", "error"]),
                _word(rng, 20, 60),
            )
            for _ in range(ROWS)
        ),
    )


EQ_ORDER_ROWID = ExpertCase(
    name="eq_order_rowid",
    schema="CREATE TABLE log_lines(host TEXT, level TEXT, message TEXT);",
    fill=_fill_log_lines,
    advise_sql="SELECT * FROM log_lines WHERE host = 'web-210' ORDER BY rowid",
    timed_sql="SELECT * FROM log_lines WHERE host = 'web-000' ORDER BY rowid",
)


# -- 13. an INSERT whose trigger updates another table by a column (expert1 14) ------------


def _fill_stock(conn: sqlite3.Connection, rng: random.Random) -> None:
    # The move history first, while shelf_items is empty: each insert fires the trigger, and
    # its UPDATE would otherwise scan 20,000 shelf rows per move.
    conn.executemany(
        "INSERT INTO stock_moves(sku, qty, moved_at) VALUES (?, ?, ?)",
        (
            (f"SKU-{_skewed(rng, 3000):05d}", rng.randint(-20, 20), 1_600_000_000 + n)
            for n in range(ROWS)
        ),
    )
    conn.executemany(
        "INSERT INTO shelf_items(sku, shelf, last_moved) VALUES (?, ?, ?)",
        (
            (f"SKU-{_skewed(rng, 3000):05d}", rng.randint(1, 600), 1_600_000_000 + n)
            for n in range(ROWS)
        ),
    )


TRIGGER_INSERT = ExpertCase(
    name="trigger_insert",
    schema="""
        CREATE TABLE shelf_items(sku TEXT, shelf INTEGER, last_moved INTEGER);
        CREATE TABLE stock_moves(id INTEGER PRIMARY KEY, sku TEXT, qty INTEGER,
                                 moved_at INTEGER);
        CREATE TRIGGER stock_moves_touch AFTER INSERT ON stock_moves BEGIN
            UPDATE shelf_items SET last_moved = new.moved_at WHERE sku = new.sku;
        END;
    """,
    fill=_fill_stock,
    advise_sql="INSERT INTO stock_moves(sku, qty, moved_at) VALUES ('SKU-00000', 5, 1700000001)",
    timed_sql="INSERT INTO stock_moves(sku, qty, moved_at) VALUES ('SKU-01234', 7, 1700000099)",
)


# -- 14. two tables joined on rowid, each filtered (expert1 15) ----------------------------

_COUNTRIES = ["US", "DE", "IN", "BR", "JP", "FR", "NZ", "IS", "MT", "LU"]
_LANGS = {"US": "en", "DE": "de", "IN": "hi", "BR": "pt", "JP": "ja", "FR": "fr", "NZ": "mi"}


def _fill_users(conn: sqlite3.Connection, rng: random.Random) -> None:
    countries = [_COUNTRIES[min(_skewed(rng, 10, 2.5), 9)] for _ in range(ROWS)]
    conn.executemany(
        "INSERT INTO users(rowid, country, plan) VALUES (?, ?, ?)",
        (
            (n + 1, c, rng.choice(["free", "free", "free", "pro", "team"]))
            for n, c in enumerate(countries)
        ),
    )
    # Preferences share the user's rowid; most people use their country's language.
    conn.executemany(
        "INSERT INTO user_prefs(rowid, lang, theme) VALUES (?, ?, ?)",
        (
            (
                n + 1,
                _LANGS.get(c, "en") if rng.random() < 0.8 else rng.choice(list(_LANGS.values())),
                rng.choice(["light", "dark"]),
            )
            for n, c in enumerate(countries)
        ),
    )


ROWID_JOIN = ExpertCase(
    name="rowid_join",
    schema="""
        CREATE TABLE users(country TEXT, plan TEXT);
        CREATE TABLE user_prefs(lang TEXT, theme TEXT);
    """,
    fill=_fill_users,
    advise_sql=(
        "SELECT * FROM user_prefs, users WHERE users.country = 'US' AND user_prefs.lang = 'en'"
        " AND user_prefs.rowid = users.rowid"
    ),
    timed_sql=(
        "SELECT * FROM user_prefs, users WHERE users.country = 'NZ' AND user_prefs.lang = 'mi'"
        " AND user_prefs.rowid = users.rowid"
    ),
)


# -- 15. the second column of a composite key, WITHOUT ROWID (expert1 17.2) ----------------


def _fill_enrolments(conn: sqlite3.Connection, rng: random.Random) -> None:
    seen: set[tuple[int, int]] = set()
    while len(seen) < ROWS:
        seen.add((rng.randint(1, 400), 1 + _skewed(rng, 6000)))
    rows = sorted(seen)
    conn.executemany(
        "INSERT INTO enrolments(course_id, student_id, grade) VALUES (?, ?, ?)",
        ((c, s, rng.randint(40, 100)) for c, s in rows),
    )


WITHOUT_ROWID_SECOND_KEY = ExpertCase(
    name="without_rowid_second_key",
    schema="""
        CREATE TABLE enrolments(course_id INTEGER, student_id INTEGER, grade INTEGER,
                                PRIMARY KEY (course_id, student_id)) WITHOUT ROWID;
    """,
    fill=_fill_enrolments,
    advise_sql="SELECT * FROM enrolments WHERE student_id = 1",
    timed_sql="SELECT * FROM enrolments WHERE student_id = 2500",
)


# -- 16. a range on the first key column and equality on the second (expert1 17.5) ---------


def _fill_price_history(conn: sqlite3.Connection, rng: random.Random) -> None:
    seen: set[tuple[int, int]] = set()
    while len(seen) < ROWS:
        seen.add((rng.randint(1, 365), 1 + _skewed(rng, 2000)))
    conn.executemany(
        "INSERT INTO price_history(day, product_id, price_cents) VALUES (?, ?, ?)",
        ((d, p, rng.randint(100, 50_000)) for d, p in sorted(seen)),
    )


PK_RANGE_AND_EQ = ExpertCase(
    name="pk_range_and_eq",
    schema="""
        CREATE TABLE price_history(day INTEGER, product_id INTEGER, price_cents INTEGER,
                                   PRIMARY KEY (day, product_id));
    """,
    fill=_fill_price_history,
    advise_sql="SELECT * FROM price_history WHERE day > 300 AND product_id = 2",
    timed_sql="SELECT * FROM price_history WHERE day > 100 AND product_id = 120",
)


# -- 17. equality on a VIRTUAL generated column (expert1 18.1) -----------------------------

_VENDORS = ["ACME", "BOLT", "CRUX", "DYNA", "ECHO", "FLUX", "GRIT", "HALO"]


def _fill_devices(conn: sqlite3.Connection, rng: random.Random) -> None:
    def serial() -> str:
        # Two vendors make most devices; a long tail of vendor codes make a few each.
        if rng.random() < 0.7:
            vendor = _VENDORS[min(_skewed(rng, 8, 3.0), 7)]
        else:
            vendor = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
        return f"{vendor}{rng.randint(0, 99_999_999):08d}"

    conn.executemany(
        "INSERT INTO devices(serial, owner) VALUES (?, ?)",
        ((serial(), rng.randint(1, 5000)) for _ in range(ROWS)),
    )


GENERATED_COLUMN = ExpertCase(
    name="generated_column",
    schema="""
        CREATE TABLE devices(
            id INTEGER PRIMARY KEY,
            serial TEXT,
            owner INTEGER,
            vendor TEXT GENERATED ALWAYS AS (substr(serial, 1, 4)) VIRTUAL
        );
    """,
    fill=_fill_devices,
    advise_sql="SELECT * FROM devices WHERE vendor = 'ACME'",
    timed_sql="SELECT * FROM devices WHERE vendor = 'GRIT'",
)


# -- 18. keyword identifiers as columns (expert1 19), grouped ------------------------------


def _fill_tallies(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        'INSERT INTO tallies("index", "group", "order") VALUES (?, ?, ?)',
        ((rng.randint(1, 50), _skewed(rng, 1000), rng.randint(1, 1000)) for _ in range(ROWS)),
    )


KEYWORD_GROUP_BY = ExpertCase(
    name="keyword_group_by",
    schema="""
        CREATE TABLE tallies("index" INTEGER, "group" INTEGER, "order" INTEGER);
    """,
    fill=_fill_tallies,
    advise_sql='SELECT "index", count(*) FROM tallies WHERE "group" = 0 GROUP BY "index"',
    timed_sql='SELECT "index", count(*) FROM tallies WHERE "group" = 404 GROUP BY "index"',
)


# -- 19. IN over a short list of values ----------------------------------------------------


def _fill_shipments(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        "INSERT INTO shipments(warehouse_id, carrier, weight_g) VALUES (?, ?, ?)",
        (
            (
                1 + _skewed(rng, 1200),
                rng.choice(["post", "post", "courier", "freight"]),
                rng.randint(50, 30_000),
            )
            for _ in range(ROWS)
        ),
    )


IN_LIST = ExpertCase(
    name="in_list",
    schema="""
        CREATE TABLE shipments(id INTEGER PRIMARY KEY, warehouse_id INTEGER, carrier TEXT,
                               weight_g INTEGER);
    """,
    fill=_fill_shipments,
    advise_sql="SELECT * FROM shipments WHERE warehouse_id IN (1, 2, 3)",
    timed_sql="SELECT * FROM shipments WHERE warehouse_id IN (150, 420, 777)",
)


CASES: list[ExpertCase] = [
    RANGE_GT,
    NOCASE_BETWEEN,
    ORDER_BY_LIMIT,
    EQ_ORDER_BY,
    ORDER_BY_THREE,
    COLUMN_NOCASE_EQ,
    ORDER_MIXED_DESC,
    QUOTED_TABLE_EQ,
    QUOTED_COLUMN_EQ,
    TRANSITIVE_JOIN,
    OR_TERMS,
    EQ_ORDER_ROWID,
    TRIGGER_INSERT,
    ROWID_JOIN,
    WITHOUT_ROWID_SECOND_KEY,
    PK_RANGE_AND_EQ,
    GENERATED_COLUMN,
    KEYWORD_GROUP_BY,
    IN_LIST,
]
