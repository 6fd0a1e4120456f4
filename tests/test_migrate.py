"""The migration engine on real SQLite files: exact round trips, atomic steps, refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import ChecksumDriftError, MigrationError
from edgedb_opt.migrate import Migrator, load_pack
from tests.conftest import APPLIED_ON_SQLITE, SKIPPED_ON_SQLITE, master, query, sha256


def write_step(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


async def test_apply_then_rollback_all_restores_sqlite_master(seeded_db: Path) -> None:
    before = master(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack("study")])
        applied = await migrator.apply()
        assert [r.id for r in applied if r.action == "applied"] == list(APPLIED_ON_SQLITE)
        assert {r.id for r in applied if r.action == "skipped"} == SKIPPED_ON_SQLITE
        during = master(seeded_db)
        assert len(during) > len(before) + 20  # the pack's indexes, FTS table, triggers
        undone = await migrator.rollback(all=True)
        assert [r.id for r in undone] == [r.id for r in reversed(applied)]
    finally:
        await db.close()
    assert master(seeded_db) == before
    assert query(seeded_db, "SELECT count(*) FROM _edgeopt_migrations") == [(0,)]
    assert query(seeded_db, "PRAGMA integrity_check") == [("ok",)]


async def test_apply_twice_is_a_no_op(seeded_db: Path) -> None:
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack("study")])
        await migrator.apply()
        schema = master(seeded_db, ledger=True)
        ledger = query(seeded_db, "SELECT id, applied_at FROM _edgeopt_migrations ORDER BY seq")
        again = await migrator.apply()
        assert {r.action for r in again} == {"already_applied"}
        assert master(seeded_db, ledger=True) == schema
        assert (
            query(seeded_db, "SELECT id, applied_at FROM _edgeopt_migrations ORDER BY seq")
            == ledger
        )
    finally:
        await db.close()


async def test_dry_run_changes_no_byte(seeded_db: Path) -> None:
    digest = sha256(seeded_db)
    db = await SqliteDriver.open(seeded_db, read_only=True)
    try:
        plan = await Migrator(db, [load_pack("study")]).apply(dry_run=True)
    finally:
        await db.close()
    assert plan and [r.id for r in plan if r.action == "would_apply"] == list(APPLIED_ON_SQLITE)
    assert any("CREATE INDEX" in sql for r in plan for sql in r.sql)
    assert sha256(seeded_db) == digest


async def test_failing_step_is_rolled_back_whole_and_earlier_steps_stay(
    seeded_db: Path, tmp_path: Path
) -> None:
    pack = tmp_path / "p"
    write_step(
        pack,
        "001_ok.sql",
        """
        -- edgeopt:step id=ok_step
        -- up
        CREATE INDEX idx_ok ON users(email, name);
        -- down
        DROP INDEX idx_ok;
    """,
    )
    write_step(
        pack,
        "002_bad.sql",
        """
        -- edgeopt:step id=bad_step
        -- up
        CREATE INDEX idx_bad_1 ON users(name);
        CREATE INDEX idx_ok ON users(name);
        -- down
        DROP INDEX idx_bad_2;
        DROP INDEX idx_bad_1;
    """,
    )
    before = master(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        with pytest.raises(MigrationError) as info:
            await Migrator(db, [load_pack(pack)]).apply()
    finally:
        await db.close()
    message = str(info.value)
    # (A table or column that is missing skips a step instead: test_pack_fit.py.)
    assert "bad_step" in message and "002_bad.sql:4" in message
    assert "index idx_ok already exists" in message
    names = {r[1] for r in master(seeded_db)}
    assert "idx_ok" in names and "idx_bad_1" not in names
    assert len(master(seeded_db)) == len(before) + 1
    assert query(seeded_db, "SELECT id FROM _edgeopt_migrations") == [("ok_step",)]


async def test_step_requiring_an_unapplied_step_is_refused(seeded_db: Path) -> None:
    study = load_pack("study")
    dependent = next(s for s in study.steps if s.requires)
    digest = sha256(seeded_db)
    db = await SqliteDriver.open(seeded_db)
    try:
        with pytest.raises(MigrationError, match=f"requires '{dependent.requires[0]}'"):
            await Migrator(db, [study]).apply(step=[dependent.id])
    finally:
        await db.close()
    assert sha256(seeded_db) == digest


async def test_rollback_refuses_a_step_others_require(seeded_db: Path) -> None:
    study = load_pack("study")
    dependent = study.get("analyze_growth_stats")  # no step requires it in turn
    assert dependent is not None and dependent.requires[0] == "growth_indexes"
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [study])
        await migrator.apply()
        schema = master(seeded_db, ledger=True)
        with pytest.raises(MigrationError, match=f"applied step '{dependent.id}' requires it"):
            await migrator.rollback(step=[dependent.requires[0]])
        assert master(seeded_db, ledger=True) == schema
        # Naming both undoes both, dependent first.
        done = await migrator.rollback(step=[dependent.requires[0], dependent.id])
        assert [r.id for r in done] == [dependent.id, dependent.requires[0]]
    finally:
        await db.close()


async def test_rollback_without_options_undoes_only_the_newest(seeded_db: Path) -> None:
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack("study")])
        applied = [r for r in await migrator.apply() if r.action == "applied"]
        done = await migrator.rollback()
        # The newest *applied* step: the variants SQLite skipped after it stay skipped.
        assert [r.id for r in done] == [applied[-1].id] == [APPLIED_ON_SQLITE[-1]]
        states = {s.id: s.state for s in await migrator.status()}
        assert states[applied[-1].id] == "pending"
        assert states[applied[0].id] == "applied"
        assert {i for i, st in states.items() if st == "skipped"} == SKIPPED_ON_SQLITE
    finally:
        await db.close()


async def test_checksum_drift_is_reported_and_refused(seeded_db: Path, copy_pack: Path) -> None:
    db = await SqliteDriver.open(seeded_db)
    try:
        await Migrator(db, [load_pack(copy_pack)]).apply()
        # The newest applied step's file (the variants after it were skipped on SQLite).
        last = next(s.path for s in load_pack(copy_pack).steps if s.id == APPLIED_ON_SQLITE[-1])
        last.write_text(last.read_text() + "\n-- edited after apply\n")
        migrator = Migrator(db, [load_pack(copy_pack)])
        drifted = [s for s in await migrator.status() if s.checksum_ok is False]
        assert [s.id for s in drifted] == [APPLIED_ON_SQLITE[-1]]
        digest = sha256(seeded_db)
        with pytest.raises(ChecksumDriftError, match="changed since it was applied"):
            await migrator.rollback()
        assert sha256(seeded_db) == digest
        forced = await migrator.rollback(force=True)
        assert [r.action for r in forced] == ["rolled_back"]
    finally:
        await db.close()


async def test_rollback_refuses_a_down_that_leaves_objects(seeded_db: Path, tmp_path: Path) -> None:
    pack = tmp_path / "leaky"
    write_step(
        pack,
        "001_leaky.sql",
        """
        -- edgeopt:step id=leaky
        -- up
        CREATE INDEX idx_leak_a ON users(name);
        CREATE INDEX idx_leak_b ON users(created_at);
        -- down
        DROP INDEX idx_leak_a;
    """,
    )
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack(pack)])
        await migrator.apply()
        schema = master(seeded_db, ledger=True)
        with pytest.raises(MigrationError, match="left behind idx_leak_b"):
            await migrator.rollback()
        assert master(seeded_db, ledger=True) == schema
    finally:
        await db.close()


async def test_analyze_stat_tables_created_by_a_step_are_removed(
    seeded_db: Path, tmp_path: Path
) -> None:
    pack = tmp_path / "stats"
    write_step(
        pack,
        "001_idx.sql",
        """
        -- edgeopt:step id=idx
        -- up
        CREATE INDEX idx_users_name ON users(name);
        -- down
        DROP INDEX idx_users_name;
    """,
    )
    write_step(
        pack,
        "002_stats.sql",
        """
        -- edgeopt:step id=stats requires=idx needs=analyze
        -- up
        ANALYZE users;
        -- down
        DELETE FROM sqlite_stat1 WHERE tbl = 'users';
    """,
    )
    before = master(seeded_db)
    assert not any(r[1] == "sqlite_stat1" for r in before)
    db = await SqliteDriver.open(seeded_db)
    try:
        migrator = Migrator(db, [load_pack(pack)])
        await migrator.apply()
        assert any(r[1] == "sqlite_stat1" for r in master(seeded_db))
        await migrator.rollback(all=True)
    finally:
        await db.close()
    assert master(seeded_db) == before


async def test_status_never_writes_and_reports_pending(seeded_db: Path) -> None:
    digest = sha256(seeded_db)
    db = await SqliteDriver.open(seeded_db, read_only=True)
    try:
        migrator = Migrator(db, [load_pack("study")])
        rows = await migrator.status()
        assert [s.id for s in await migrator.pending()] == [s.id for s in migrator.steps]
    finally:
        await db.close()
    assert rows and {r.id for r in rows if r.state != "pending"} == SKIPPED_ON_SQLITE
    assert all(r.applied_at is None and r.checksum_ok is None for r in rows)
    assert sha256(seeded_db) == digest
