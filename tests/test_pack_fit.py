"""The study pack on schemas that are not exactly ours (real seeded files, the real engine).

Each optional table removed, a column removed, an index name already taken: ``check``
predicts what ``apply`` then does step for step; apply goes as far as it can, skips with
the missing object named, never half-applies a step; ``rollback --all`` restores
sqlite_master exactly; a step skipped for a missing table applies once the table exists.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import MigrationError, PackError
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.migrate.engine import StepCheck
from edgedb_opt.migrate.fit import Trial, read_schema, touches
from edgedb_opt.migrate.pack import parse_step
from edgedb_opt.study.statements import HOT_STATEMENTS
from tests.conftest import edgeopt, master, query, sha256

#: The social-growth tables an exam-prep app does not have, with what each one takes away.
OPTIONAL = {
    "growth_metrics": {"growth_indexes", "analyze_growth_stats"},
    "tweets": {"growth_indexes", "analyze_growth_stats"},
    "engagement_opportunities": {"engagement_indexes", "analyze_growth_stats"},
}


def _drop(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _drop_table(path: Path, table: str) -> str:
    """Drop a table (its indexes and triggers go with it); its CREATE statement."""
    [(ddl,)] = query(path, "SELECT sql FROM sqlite_master WHERE name = ?", (table,))
    _drop(path, f'DROP TABLE "{table}"')
    return str(ddl)


async def _check_then_apply(path: Path) -> tuple[list[StepCheck], dict[str, str], dict[str, str]]:
    """check's verdicts, then what apply did (step -> action) and the skip reasons."""
    db = await SqliteDriver.open(path)
    try:
        migrator = Migrator(db, [load_pack("study")])
        checks, _ops = await migrator.check()
        done = await migrator.apply()
    finally:
        await db.close()
    return (
        checks,
        {r.id: r.action for r in done},
        {r.id: r.reason or "" for r in done if r.reason},
    )


_EXPECTED_ACTION = {"apply": "applied", "skip": "skipped"}


@pytest.mark.parametrize("table", sorted(OPTIONAL))
async def test_each_optional_table_missing_skips_only_its_steps(
    seeded_db: Path, table: str
) -> None:
    _drop_table(seeded_db, table)
    before = master(seeded_db)
    checks, actions, reasons = await _check_then_apply(seeded_db)
    # check predicted exactly what apply did.
    assert {c.id: _EXPECTED_ACTION[c.verdict] for c in checks} == actions
    skipped = {s for s, a in actions.items() if a == "skipped"}
    capability = {"not_null_lookups", "search_version"}  # engine variants SQLite skips
    assert skipped - capability == OPTIONAL[table]
    direct = sorted(OPTIONAL[table] - {"analyze_growth_stats"})
    assert reasons[direct[0]].startswith(f"table {table} absent")
    assert reasons["analyze_growth_stats"].startswith("requires ")
    # The rest applied: FTS, the search filter, the bank version, ANALYZE.
    for step in ("questions_fts", "search_filter", "bank_version", "analyze_stats"):
        assert actions[step] == "applied", (step, reasons.get(step))
    # Schema-skipped steps are not in the ledger: they wait for the table.
    ledger = {r[0] for r in query(seeded_db, "SELECT id FROM _edgeopt_migrations")}
    assert not ledger & OPTIONAL[table]
    # Nothing half-applied: every new object is one an applied step recorded.
    recorded: set[str] = set()
    for (objects,) in query(seeded_db, "SELECT objects FROM _edgeopt_migrations"):
        recorded |= set(json.loads(str(objects)))
    new = {r[1] for r in master(seeded_db)} - {r[1] for r in before}
    assert new == recorded - {r[1] for r in before}
    db = await SqliteDriver.open(seeded_db)
    try:
        await Migrator(db, [load_pack("study")]).rollback(all=True)
    finally:
        await db.close()
    assert master(seeded_db) == before


async def test_a_missing_column_skips_the_steps_that_name_it(seeded_db: Path) -> None:
    # review_status goes, with the base indexes that name it.
    named = [
        str(n)
        for (n,) in query(
            seeded_db,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'questions'"
            " AND sql LIKE '%review_status%'",
        )
    ]
    _drop(
        seeded_db,
        *[f'DROP INDEX "{n}"' for n in named],
        "ALTER TABLE questions DROP COLUMN review_status",
    )
    before = master(seeded_db)
    checks, actions, reasons = await _check_then_apply(seeded_db)
    assert {c.id: _EXPECTED_ACTION[c.verdict] for c in checks} == actions
    for step in ("questions_indexes", "search_filter"):
        assert actions[step] == "skipped"
        assert reasons[step] == "column review_status absent"
    # SQLite does not check the columns of a trigger's UPDATE OF: the bank version applies
    # (its trigger just never fires for the missing column).
    assert actions["bank_version"] == "applied"
    assert reasons["analyze_stats"].startswith("requires questions_indexes, which is skipped")
    assert actions["answers_indexes"] == actions["questions_fts"] == "applied"
    db = await SqliteDriver.open(seeded_db)
    try:
        await Migrator(db, [load_pack("study")]).rollback(all=True)
    finally:
        await db.close()
    assert master(seeded_db) == before


async def test_a_name_already_taken_fails_where_check_said_and_stops_there(
    seeded_db: Path,
) -> None:
    _drop(seeded_db, "CREATE INDEX idx_tweets_account_posted ON users (name)")
    before = master(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack("study")])
        checks, _ops = await migrator.check()
        verdicts = {c.id: c for c in checks}
        assert verdicts["growth_indexes"].verdict == "fail"
        assert "006_growth.sql:" in str(verdicts["growth_indexes"].reason)
        assert "idx_tweets_account_posted already exists" in str(verdicts["growth_indexes"].reason)
        after = [c for c in checks if [x.id for x in checks].index(c.id) > 5]
        assert {c.verdict for c in after} == {"not_reached"}
        with pytest.raises(MigrationError, match=r"growth_indexes.*already exists"):
            await migrator.apply()
        status = {s.id: s for s in await migrator.status()}
    finally:
        await db.close()
    applied = {str(r[0]) for r in query(seeded_db, "SELECT id FROM _edgeopt_migrations")}
    assert applied == {c.id for c in checks if c.verdict == "apply"}
    assert "idx_growth_metrics_timeseries" not in {r[1] for r in master(seeded_db)}
    assert status["growth_indexes"].state == "pending"
    assert "already exists" in str(status["growth_indexes"].reason)
    assert len(master(seeded_db)) > len(before)


async def test_a_step_skipped_for_a_missing_table_applies_once_it_exists(seeded_db: Path) -> None:
    ddl = _drop_table(seeded_db, "engagement_opportunities")
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack("study")])
        await migrator.apply()
        status = {s.id: s for s in await migrator.status()}
        assert status["engagement_indexes"].state == "skipped"
        assert status["engagement_indexes"].reason == "table engagement_opportunities absent"
        await db.execute(ddl)
        status = {s.id: s for s in await migrator.status()}
        assert status["engagement_indexes"].state == "pending"
        assert status["analyze_growth_stats"].state == "pending"
        done = {r.id: r.action for r in await migrator.apply()}
    finally:
        await db.close()
    assert done["engagement_indexes"] == done["analyze_growth_stats"] == "applied"
    assert {"idx_engagement_pending", "idx_engagement_acted"} <= {r[1] for r in master(seeded_db)}


async def test_check_never_writes_and_names_the_operations_that_cannot_run(
    seeded_db: Path,
) -> None:
    _drop_table(seeded_db, "growth_metrics")
    digest = sha256(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        _checks, ops = await Migrator(db, [load_pack("study")]).check(dict(HOT_STATEMENTS))
    finally:
        await db.close()
    assert sha256(seeded_db) == digest
    cannot = {o.name: o.reason for o in ops if not o.runs}
    assert cannot == {"growth": "no such table: growth_metrics"}
    assert {o.name for o in ops if o.runs} == set(HOT_STATEMENTS) - {"growth"}


def test_the_check_command_reports_json_and_health_names_what_cannot_run(
    seeded_db: Path,
) -> None:
    _drop_table(seeded_db, "growth_metrics")
    out = edgeopt("check", "--db", str(seeded_db), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    verdicts = {s["id"]: s for s in report["steps"]}
    assert verdicts["growth_indexes"]["verdict"] == "skip"
    assert verdicts["growth_indexes"]["reason"] == "table growth_metrics absent"
    assert verdicts["growth_indexes"]["touches"] == ["growth_metrics", "tweets"]
    assert verdicts["questions_fts"]["verdict"] == "apply"
    cannot = [o for o in report["operations"] if not o["runs"]]
    assert cannot == [{"name": "growth", "runs": False, "reason": "no such table: growth_metrics"}]
    applied = edgeopt("apply", "--db", str(seeded_db), "--json")
    assert applied.returncode == 0, applied.stderr
    actions = {s["id"]: s["action"] for s in json.loads(applied.stdout)["steps"]}
    assert {k: _EXPECTED_ACTION[v["verdict"]] for k, v in verdicts.items()} == actions
    health = edgeopt("health", "--db", str(seeded_db), "--json")
    assert health.returncode == 0, health.stderr
    [use] = [c for c in json.loads(health.stdout)["checks"] if c["name"] == "index_use"]
    assert use["detail"].endswith(
        "; 1 cannot run on this schema: growth (no such table: growth_metrics)"
    )
    assert use["data"] == {"cannot_run": {"growth": "no such table: growth_metrics"}}


def test_touches_names_the_tables_a_step_needs_not_those_it_creates() -> None:
    pack = load_pack("study")
    by_id = {s.id: s for s in pack.steps}
    assert touches(by_id["growth_indexes"]) == ["growth_metrics", "tweets"]
    assert touches(by_id["questions_fts"]) == ["questions"]
    assert touches(by_id["bank_version"]) == ["questions"]
    assert touches(by_id["analyze_growth_stats"]) == [
        "engagement_opportunities",
        "growth_metrics",
        "tweets",
    ]


async def test_the_trial_replays_fts_tables_without_their_shadow_tables(seeded_db: Path) -> None:
    db = await SqliteDriver.open(seeded_db)
    try:
        await Migrator(db, [load_pack("study")]).apply()
        rows = await read_schema(db)
    finally:
        await db.close()
    with Trial(rows) as trial:
        assert trial.not_replayed == []
        names = {r[0] for r in trial.conn.execute("SELECT name FROM sqlite_master")}
    assert {r.name for r in rows if r.sql} - {"sqlite_sequence"} <= names


def test_supersedes_accepts_the_earlier_file_and_rejects_what_is_not_a_digest(
    tmp_path: Path,
) -> None:
    step = load_pack("study").get("analyze_stats")
    assert step is not None and step.supersedes
    assert step.accepts(step.checksum) and step.accepts(step.supersedes[0])
    assert not step.accepts("0" * 64)
    bad = tmp_path / "001_x.sql"
    bad.write_text("-- edgeopt:step id=x supersedes=abc\n-- up\nSELECT 1;\n-- down\nSELECT 1;\n")
    with pytest.raises(PackError, match="checksum 'abc' is not a sha256 hex digest"):
        parse_step(bad, pack="p")


#: What a schema not exactly ours may lack: whole tables, and columns the pack's steps name.
_TABLES = sorted(
    {"growth_metrics", "tweets", "engagement_opportunities", "user_progress", "test_attempts"}
)
_COLUMNS = [("questions", "review_status"), ("questions", "reference"), ("questions", "difficulty")]


def _without(path: Path, tables: list[str], columns: list[tuple[str, str]]) -> None:
    """Drop the tables, then each column with the indexes and triggers that name it."""
    for table in tables:
        _drop(path, f'DROP TABLE "{table}"')
    for table, column in columns:
        named = query(
            path,
            "SELECT type, name FROM sqlite_master WHERE tbl_name = ? AND type IN"
            " ('index', 'trigger') AND sql LIKE ?",
            (table, f"%{column}%"),
        )
        _drop(
            path,
            *[f'DROP {str(kind).upper()} "{name}"' for kind, name in named],
            f'ALTER TABLE "{table}" DROP COLUMN "{column}"',
        )


@settings(max_examples=12, deadline=None)
@given(
    tables=st.lists(st.sampled_from(_TABLES), unique=True, max_size=3),
    columns=st.lists(st.sampled_from(_COLUMNS), unique=True, max_size=2),
)
def test_on_any_schema_check_predicts_apply_and_rollback_restores_it(
    seeded_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tables: list[str],
    columns: list[tuple[str, str]],
) -> None:
    # Property: whatever optional tables and columns are missing, check's verdicts are what
    # apply does, a skip names something the schema lacks or a skipped requirement, nothing
    # is half-applied, and rollback --all leaves sqlite_master as it was.
    path = tmp_path_factory.mktemp("fit") / "study.db"
    shutil.copyfile(seeded_template, path)
    _without(path, tables, columns)
    before = master(path)
    checks, actions, reasons = asyncio.run(_check_then_apply(path))
    assert {c.id: _EXPECTED_ACTION[c.verdict] for c in checks} == actions
    missing = [f"table {t} absent" for t in tables] + [f"column {c} absent" for _t, c in columns]
    for step, reason in reasons.items():
        assert (
            reason in missing or reason.startswith(("requires ", "needs ")) or ("engine" in reason)
        ), (step, reason)
    recorded: set[str] = set()
    for (objects,) in query(path, "SELECT objects FROM _edgeopt_migrations"):
        recorded |= set(json.loads(str(objects)))
    assert {r[1] for r in master(path)} - {r[1] for r in before} == recorded - {
        r[1] for r in before
    }

    async def rollback_all() -> None:
        db = await SqliteDriver.open(path)
        try:
            await Migrator(db, [load_pack("study")]).rollback(all=True)
        finally:
            await db.close()

    asyncio.run(rollback_all())
    assert master(path) == before


def _pack(folder: Path, **steps: str) -> Path:
    folder.mkdir()
    for n, (step_id, up) in enumerate(steps.items(), start=1):
        (folder / f"{n:03d}_{step_id}.sql").write_text(
            f"-- edgeopt:step id={step_id}\n-- up\n{up}\n-- down\nSELECT 1;\n"
        )
    return folder


async def _verdicts_then_actions(db_path: Path, pack: Path) -> tuple[dict[str, str], object]:
    db = await SqliteDriver.open(db_path)
    try:
        migrator = Migrator(db, [load_pack(pack)])
        checks, _ops = await migrator.check()
        try:
            done: object = {r.id: r.action for r in await migrator.apply()}
        except MigrationError as exc:
            done = exc
    finally:
        await db.close()
    return {c.id: c.verdict for c in checks}, done


async def test_objects_the_trial_cannot_rebuild_are_left_to_the_real_run(tmp_path: Path) -> None:
    # A column with an application's own collation (the trial cannot create that table), a
    # real table named like an FTS5 shadow table, and a name with a space.
    path = tmp_path / "odd.db"
    conn = sqlite3.connect(path)
    conn.create_collation("app", lambda a, b: (a > b) - (a < b))
    conn.executescript(
        "CREATE TABLE Things (id INTEGER PRIMARY KEY, name TEXT COLLATE app, kind TEXT);"
        "CREATE TABLE notes_content (id INTEGER PRIMARY KEY, body TEXT);"
        "CREATE VIRTUAL TABLE notes USING fts5(body, content='notes_content', content_rowid='id');"
        'CREATE TABLE "my table" (a INTEGER, b TEXT);'
    )
    conn.close()
    pack = _pack(
        tmp_path / "odd",
        things_kind="CREATE INDEX idx_things_kind ON things (kind);",
        notes_body="CREATE INDEX idx_notes_body ON notes_content (body);",
        spaced='CREATE INDEX idx_spaced ON "my table" (b);',
    )
    verdicts, done = await _verdicts_then_actions(path, pack)
    assert verdicts == {"things_kind": "apply", "notes_body": "apply", "spaced": "apply"}
    assert done == {"things_kind": "applied", "notes_body": "applied", "spaced": "applied"}


async def test_a_trigger_that_rolls_back_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "guarded.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT);"
        "CREATE TRIGGER settings_guard BEFORE INSERT ON settings WHEN new.k = 'x'"
        " BEGIN SELECT RAISE(ROLLBACK, 'x is reserved'); END;"
    )
    conn.close()
    pack = _pack(tmp_path / "guarded", seed_row="INSERT INTO settings (k, v) VALUES ('x', '1');")
    verdicts, done = await _verdicts_then_actions(path, pack)
    assert verdicts == {"seed_row": "fail"}
    assert isinstance(done, MigrationError) and "x is reserved" in str(done)
    assert query(path, "SELECT count(*) FROM settings") == [(0,)]


async def test_a_dry_run_of_chosen_steps_predicts_them_alone(seeded_db: Path) -> None:
    _drop_table(seeded_db, "growth_metrics")
    _drop(seeded_db, "CREATE INDEX idx_questions_study_candidates ON users (name)")
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack("study")])
        dry = await migrator.apply(step=["growth_indexes"], dry_run=True)
        assert [(r.id, r.action, r.reason) for r in dry] == [
            ("growth_indexes", "would_skip", "table growth_metrics absent")
        ]
        whole = {r.id: r for r in await migrator.apply(dry_run=True)}
        assert str(whole["questions_indexes"].reason).startswith("would fail: ")
        assert whole["answers_indexes"].reason == "not reached: apply stops at questions_indexes"
        done = await migrator.apply(step=["growth_indexes"])
    finally:
        await db.close()
    assert [(r.id, r.action) for r in done] == [("growth_indexes", "skipped")]
