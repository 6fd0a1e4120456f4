"""The SQL rewriter: fixture cases run on real data, refusals that matter, the runtime cache."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from edgedb_opt.drivers.base import Driver, Params
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import RewriteError
from edgedb_opt.rewrite import RULES, Schema, optimize, parse, read_schema
from edgedb_opt.rewrite.cache import RewriteCache, RewritingDriver
from edgedb_opt.rewrite.not_in_to_not_exists import NULL_LEFT_OPERAND, NULL_SUBQUERY_COLUMN
from edgedb_opt.rewrite.schema import TableInfo
from edgedb_opt.sqltext import split_statements

FIXTURES = Path(__file__).parent / "fixtures" / "rewrite"
RULE_NAMES = [rule.__name__ for rule in RULES]
PIPELINE = "pipeline"


@dataclass
class Case:
    """One titled fixture case: input, expected output, and what the rules should report."""

    rule: str
    title: str
    input: str
    expected: str
    line: int
    refused: str | None = None
    applied: list[str] | None = None
    params: list[Any] = field(default_factory=list)

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return f"{self.rule}:{self.line}:{slug[:50]}"


def load_cases(path: Path) -> Iterator[Case]:
    """Split a fixture file at ``-- title:`` lines; each block holds input then expected."""
    blocks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("-- title:"):
            blocks.append((number, [line]))
        elif blocks:
            blocks[-1][1].append(line)
    for start, lines in blocks:
        headers = dict(
            (m.group(1), m.group(2).strip())
            for m in (re.match(r"-- (\w+):(.*)", ln) for ln in lines)
            if m
        )
        statements = split_statements("\n".join(lines), first_line=start)
        assert len(statements) == 2, f"{path.name}:{start}: want input and expected statements"
        yield Case(
            rule=path.stem,
            title=headers["title"],
            input=statements[0].sql.rstrip(";"),
            expected=statements[1].sql.rstrip(";"),
            line=start,
            refused=headers.get("refused"),
            applied=[a.strip() for a in headers["applied"].split(",")]
            if "applied" in headers
            else None,
            params=json.loads(headers.get("params", "[]")),
        )


CASES = [case for path in sorted(FIXTURES.glob("*.sql")) for case in load_cases(path)]


def normalized(sql: str) -> str:
    return parse(sql).sql(dialect="sqlite")


def run(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute(sql, params).fetchall()
    if parse(sql).args.get("order") is None:
        rows.sort(key=repr)  # no ORDER BY: compare as multisets
    return rows


@pytest.fixture(scope="module")
def schema(seeded_template: Path) -> Schema:
    return Schema.from_sqlite(seeded_template)


@pytest.fixture(scope="module")
def ro_conn(seeded_template: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{seeded_template}?mode=ro", uri=True)
    yield conn
    conn.close()


def test_every_rule_has_a_fixture_file() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.sql")) == sorted([*RULE_NAMES, PIPELINE])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture_case(case: Case, schema: Schema, ro_conn: sqlite3.Connection) -> None:
    rules = RULES if case.rule == PIPELINE else tuple(r for r in RULES if r.__name__ == case.rule)
    result = optimize(case.input, schema, rules=rules)

    assert normalized(result.sql) == normalized(case.expected)
    reasons = [r.reason for r in result.refused]
    if case.refused is not None:
        assert any(case.refused in reason for reason in reasons), reasons
    unchanged = normalized(case.input) == normalized(case.expected)
    if unchanged:
        assert result.applied == []
        assert result.sql == case.input  # untouched text, not a re-rendering
        if case.refused is None:
            assert reasons == []
    else:
        assert result.applied == (case.applied or [case.rule])

    before = run(ro_conn, case.input, case.params)
    after = run(ro_conn, result.sql, case.params)
    assert before, "a case must return rows to prove anything"
    assert after == before


# -- refusals that matter: the naive rewrite really returns different rows on the seeded data --

NAIVE = [
    pytest.param(
        "SELECT id FROM study_sessions WHERE id NOT IN (SELECT study_session_id FROM user_answers)",
        "SELECT id FROM study_sessions WHERE NOT EXISTS "
        "(SELECT 1 FROM user_answers WHERE study_sessions.id = study_session_id)",
        NULL_SUBQUERY_COLUMN,
        id="user_answers.study_session_id",
    ),
    pytest.param(
        "SELECT o.id FROM objectives o WHERE o.id NOT IN (SELECT objective_id FROM questions)",
        "SELECT o.id FROM objectives o WHERE NOT EXISTS "
        "(SELECT 1 FROM questions WHERE o.id = objective_id)",
        NULL_SUBQUERY_COLUMN,
        id="questions.objective_id",
    ),
    pytest.param(
        "SELECT q.id FROM questions q WHERE q.objective_id NOT IN "
        "(SELECT o.id FROM objectives o WHERE o.exam_id = 1)",
        "SELECT q.id FROM questions q WHERE NOT EXISTS "
        "(SELECT 1 FROM objectives o WHERE o.exam_id = 1 AND q.objective_id = o.id)",
        NULL_LEFT_OPERAND,
        id="left-operand-questions.objective_id",
    ),
]


@pytest.mark.parametrize(("original", "naive", "reason"), NAIVE)
def test_refusal_prevents_wrong_results(
    original: str, naive: str, reason: str, schema: Schema, ro_conn: sqlite3.Connection
) -> None:
    result = optimize(original, schema)
    assert result.sql == original
    assert result.applied == []
    assert [(r.rule, r.reason) for r in result.refused] == [("not_in_to_not_exists", reason)]
    assert run(ro_conn, original, []) != run(ro_conn, naive, [])


def test_refusal_reason_text_is_the_documented_one() -> None:
    assert NULL_SUBQUERY_COLUMN == ("subquery column may be NULL: NOT IN and NOT EXISTS differ")


def test_collation_of_the_left_operand_is_kept() -> None:
    """``x IN (SELECT c)`` compares with x's collation; ``x = c`` does too, ``c = x`` does not."""
    ddl = (
        "CREATE TABLE tags (name TEXT NOT NULL COLLATE NOCASE);"
        "CREATE TABLE posts (tag TEXT NOT NULL);"
        "INSERT INTO tags VALUES ('a'); INSERT INTO posts VALUES ('A');"
    )
    conn = sqlite3.connect(":memory:")
    conn.executescript(ddl)
    sql = "SELECT tag FROM posts WHERE tag NOT IN (SELECT name FROM tags)"
    result = optimize(sql, Schema.from_ddl(ddl))
    assert result.applied == ["not_in_to_not_exists"]
    assert conn.execute(result.sql).fetchall() == conn.execute(sql).fetchall() == [("A",)]
    conn.close()


def test_dml_statements_are_rewritten_too(seeded_db: Path, tmp_path: Path) -> None:
    sql = (
        "DELETE FROM questions WHERE exam_id = 3 AND id NOT IN "
        "(SELECT question_id FROM user_answers WHERE is_correct = 1)"
    )
    result = optimize(sql, Schema.from_sqlite(seeded_db))
    assert result.applied == ["not_in_to_not_exists"]
    copy = tmp_path / "copy.db"
    copy.write_bytes(seeded_db.read_bytes())
    outcomes = []
    for path, statement in ((seeded_db, sql), (copy, result.sql)):
        conn = sqlite3.connect(path)
        with conn:
            deleted = conn.execute(statement).rowcount
        outcomes.append((deleted, conn.execute("SELECT id FROM questions ORDER BY id").fetchall()))
        conn.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] > 0


def test_caller_tree_is_copied_not_changed(schema: Schema) -> None:
    tree = parse("SELECT id FROM questions WHERE id NOT IN (SELECT question_id FROM user_answers)")
    text = tree.sql(dialect="sqlite")
    result = optimize(tree, schema)
    assert result.applied == ["not_in_to_not_exists"]
    assert tree.sql(dialect="sqlite") == text


def test_as_dict_is_the_json_contract(schema: Schema) -> None:
    result = optimize(
        "SELECT s.id FROM study_sessions s WHERE s.id NOT IN "
        "(SELECT DISTINCT study_session_id FROM user_answers)",
        schema,
    )
    doc = result.as_dict()
    assert set(doc) == {"sql", "applied", "refused", "changed"}
    assert doc["applied"] == ["drop_distinct_in_subquery"]
    assert doc["changed"] == [
        {
            "start": 53,
            "end": 103,
            "original": "SELECT DISTINCT study_session_id FROM user_answers",
            "rewritten": "SELECT study_session_id FROM user_answers",
        }
    ]
    assert doc["refused"] == [{"rule": "not_in_to_not_exists", "reason": NULL_SUBQUERY_COLUMN}]
    assert json.loads(json.dumps(doc)) == doc


# -- parse errors --


@pytest.mark.parametrize(
    ("sql", "position"),
    [
        ("SELECT * FROM WHERE", (1, 15)),
        ("SELECT id\nFROM questions\nWHERE id = = 1", (3, 12)),
    ],
)
def test_parse_error_carries_position(sql: str, position: tuple[int, int]) -> None:
    with pytest.raises(RewriteError) as info:
        optimize(sql, Schema())
    assert info.value.position == position
    assert info.value.sql == sql
    message = str(info.value)
    assert "\n" not in message
    assert f"line {position[0]}, column {position[1]}" in message


@pytest.mark.parametrize("sql", ["", "  ;  ", "SELECT 1; SELECT 2", "SELECT 'unterminated"])
def test_not_one_statement_is_an_error(sql: str) -> None:
    with pytest.raises(RewriteError):
        optimize(sql, Schema())


# -- the schema, read through the real driver --


async def test_read_schema_through_sqlite_driver(seeded_template: Path) -> None:
    db = await SqliteDriver.open(seeded_template, read_only=True)
    try:
        schema = await read_schema(db)
    finally:
        await db.close()
    answers, questions, users = (schema.table(t) for t in ("user_answers", "questions", "users"))
    assert isinstance(answers, TableInfo)
    assert isinstance(questions, TableInfo)
    assert isinstance(users, TableInfo)
    assert not answers.not_null("study_session_id")
    assert answers.not_null("user_id")
    assert questions.primary_key == ("id",)
    assert questions.not_null("id")  # INTEGER PRIMARY KEY: the rowid, never NULL
    assert users.is_unique({"email"})
    assert not users.is_unique({"name"})
    assert schema == Schema.from_sqlite(seeded_template)


def test_schema_keys_follow_sqlite_rules() -> None:
    schema = Schema.from_ddl(
        "CREATE TABLE t (code TEXT PRIMARY KEY, n INTEGER, m INTEGER, k INTEGER);"
        "CREATE UNIQUE INDEX t_n ON t (n) WHERE n > 0;"
        "CREATE UNIQUE INDEX t_m_k ON t (m, k);"
        "CREATE UNIQUE INDEX t_expr ON t (abs(k));"
        "CREATE TABLE w (a TEXT, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;"
    )
    t, w = schema.table("t"), schema.table("w")
    assert t is not None and w is not None
    assert not t.not_null("code")  # a non-INTEGER primary key of a rowid table may be NULL
    assert not t.is_unique({"n"})  # partial unique index
    assert t.is_unique({"m", "k", "n"}) and not t.is_unique({"k"})
    assert t.unique_keys == (("code",), ("m", "k"))  # the expression index is not a column key
    assert w.not_null("a") and w.not_null("b")  # WITHOUT ROWID enforces NOT NULL on its key


# -- the runtime opt-in --


class RecordingDriver(SqliteDriver):
    """A SQLite driver that remembers every query text it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.executed: list[str] = []

    async def fetch_all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self.executed.append(sql)
        return await super().fetch_all(sql, params)


async def test_rewriting_driver(seeded_template: Path) -> None:
    sql = (
        "SELECT q.id FROM questions q WHERE q.exam_id = ? AND q.id NOT IN "
        "(SELECT question_id FROM user_answers WHERE user_id = ?)"
    )
    inner = await RecordingDriver.open(seeded_template, read_only=True)
    assert isinstance(inner, RecordingDriver)
    executed = inner.executed
    async with await RewritingDriver.wrap(inner) as db:
        assert isinstance(db, Driver)
        executed.clear()  # forget the schema reads
        plain = await db.fetch_all(sql, (1, 1))
        assert executed == [sql]
        assert db.cache.stats().misses == 0

        first = await db.fetch_all(sql, (1, 1), rewrite=True)
        second = await db.fetch_all(sql, (1, 2), rewrite=True)
        assert "NOT EXISTS" in executed[1] and executed[1] == executed[2] != sql
        assert sorted(first) == sorted(plain)
        assert second != first
        stats = db.cache.stats()
        assert (stats.misses, stats.hits, stats.size) == (1, 1, 1)

        await db.execute("SELECT 1", rewrite=True)
        assert db.cache.stats().misses == 2
        assert db.name == "sqlite" and db.target == inner.target
        assert not db.in_transaction
        assert db.inner is inner
    assert inner.closed


async def test_rewriting_driver_runs_unparsable_sql_as_given(seeded_template: Path) -> None:
    inner = await SqliteDriver.open(seeded_template, read_only=True)
    db = RewritingDriver(inner, RewriteCache(Schema.from_sqlite(seeded_template), maxsize=2))
    try:
        assert db.rewritten("SELECT * FROM WHERE") == "SELECT * FROM WHERE"
        assert db.rewritten("SELECT * FROM WHERE") == "SELECT * FROM WHERE"
        assert db.cache.stats().misses == 1  # the parse error is cached as well
        for i in range(3):
            await db.fetch_all(f"SELECT {i}", rewrite=True)
        assert db.cache.stats().size == 2  # LRU bound
    finally:
        await db.close()


def test_rule_protocol_accepts_every_rule() -> None:
    for rule in RULES:
        outcome = rule(exp.select("1"), schema=Schema())
        assert outcome.applied == 0 and outcome.refusals == []


def test_unary_plus_is_never_rendered_away(schema: Schema) -> None:
    sql = "SELECT id FROM questions WHERE +id NOT IN (SELECT question_id FROM user_answers)"
    result = optimize(sql, schema)
    assert result.sql == sql
    assert result.applied == []
    assert [r.rule for r in result.refused] == ["optimize"]
    # A binary + and a '+' inside a string are not unary.
    other = optimize(
        "SELECT id + 1, datetime('now', '+1 day') FROM questions "
        "WHERE id NOT IN (SELECT question_id FROM user_answers)",
        schema,
    )
    assert other.applied == ["not_in_to_not_exists"]
    # A unary + outside the rewritten part is kept with the rest of the text.
    kept = optimize(
        "SELECT id FROM questions WHERE +exam_id = 1 "
        "AND id NOT IN (SELECT question_id FROM user_answers)",
        schema,
    )
    assert kept.applied == ["not_in_to_not_exists"]
    assert kept.sql.startswith("SELECT id FROM questions WHERE +exam_id = 1 AND NOT EXISTS")


def test_statement_sqlglot_cannot_write_back_is_left_as_written(schema: Schema) -> None:
    sql = (
        "SELECT id FROM objectives WHERE id NOT IN (SELECT o.p FROM "
        "(SELECT parent_id FROM objectives WHERE parent_id IS NOT NULL) AS o(p))"
    )
    result = optimize(sql, schema)
    assert result.sql == sql
    assert result.applied == []
    assert [r.rule for r in result.refused] == ["optimize"]


def test_tokenizer_error_has_a_position() -> None:
    with pytest.raises(RewriteError) as info:
        optimize("SELECT 1,\n 'unterminated", Schema())
    assert info.value.position is not None and info.value.position[0] == 2


# -- SQLite semantics, each case on a schema of its own ------------------------------------

SEMANTICS = Path(__file__).parent / "fixtures" / "rewrite_sqlite" / "semantics.sql"


def _semantic_cases() -> list[tuple[int, dict[str, list[str]], str, str]]:
    out = []
    for number, block in enumerate(SEMANTICS.read_text().split("-- title: ")[1:]):
        lines = block.splitlines()
        headers: dict[str, list[str]] = {"title": [lines[0]]}
        body = []
        for line in lines[1:]:
            found = re.match(r"-- (setup|refused|params): (.*)", line)
            if found:
                headers.setdefault(found.group(1), []).append(found.group(2))
            elif line.strip():
                body.append(line)
        assert len(body) == 2, f"case {number}: want the input and the expected statement"
        out.append((number, headers, body[0].rstrip(";"), body[1].rstrip(";")))
    return out


@pytest.mark.parametrize(
    ("number", "headers", "given", "expected"),
    _semantic_cases(),
    ids=[h["title"][0][:60] for _, h, _, _ in _semantic_cases()],
)
def test_sqlite_semantics_case(
    number: int, headers: dict[str, list[str]], given: str, expected: str
) -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript("\n".join(headers["setup"]))
        result = optimize(given, Schema.from_connection(conn))
        assert result.sql == expected  # byte for byte: nothing outside the rewrite changes
        if "refused" in headers:
            assert not result.applied
            assert any(headers["refused"][0] in r.reason for r in result.refused), result.refused
        else:
            assert result.applied, result.refused
        params = json.loads(headers.get("params", ["[]"])[0])
        before, after = conn.execute(given, params), conn.execute(expected, params)
        assert [d[0] for d in before.description] == [d[0] for d in after.description]
        assert sorted(before.fetchall(), key=repr) == sorted(after.fetchall(), key=repr)
    finally:
        conn.close()


def test_a_schema_built_by_hand_is_still_checked_by_sqlite() -> None:
    """Without CREATE statements the checks run on tables made from what the schema knows;
    a span sqlglot parses leniently (``CAST(b AS INTEGER`` without its ``)``) is not taken."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript("CREATE TABLE t (a INTEGER); CREATE TABLE u (b TEXT)")
        by_hand = Schema(Schema.from_connection(conn).tables)
        assert by_hand.ddl == () and by_hand.statements()
        result = optimize(
            "SELECT a FROM t WHERE a IN (SELECT DISTINCT CAST(b AS INTEGER) FROM u)", by_hand
        )
        assert result.sql == "SELECT a FROM t WHERE a IN (SELECT CAST(b AS INTEGER) FROM u)"
        conn.execute(result.sql).fetchall()
    finally:
        conn.close()
