"""The migration engine through pyturso's local Turso engine (no FTS5 there)."""

from __future__ import annotations

import json
from pathlib import Path

from edgedb_opt.datagen import seed_database
from edgedb_opt.drivers.turso_driver import TursoDriver
from edgedb_opt.migrate import Migrator, load_pack
from edgedb_opt.schema import init_schema
from tests.conftest import ANCHOR, edgeopt


async def schema_rows(db: TursoDriver) -> list[tuple[object, ...]]:
    return await db.fetch_all(
        "SELECT type, name, sql FROM sqlite_master "
        "WHERE tbl_name <> '_edgeopt_migrations' ORDER BY type, name"
    )


async def test_fts_step_is_skipped_and_every_index_step_applied(tmp_path: Path) -> None:
    path = tmp_path / "turso.db"
    db = await TursoDriver.open(path)
    try:
        assert db.capabilities.fts5 is False
        await init_schema(db)
        await seed_database(db, scale="tiny", seed=5, anchor=ANCHOR)
        before = await schema_rows(db)
        pack = load_pack("study")
        migrator = Migrator(db, [pack])
        results = {r.id: r for r in await migrator.apply()}
        fts_ids = {s.id for s in pack.steps if "fts5" in s.needs}
        for step in pack.steps:
            if step.id in fts_ids:
                assert results[step.id].action == "skipped"
                assert results[step.id].reason == "needs fts5, which turso lacks"
            else:
                assert results[step.id].action == "applied", (step.id, results[step.id])
        index_names = {str(r[1]) for r in await schema_rows(db) if r[0] == "index"}
        expected = {
            s.sql.split()[2]
            for st in pack.steps
            if st.id not in fts_ids
            for s in st.up
            if s.sql.upper().startswith("CREATE INDEX")
        }
        assert expected <= index_names and len(expected) >= 20
        status = {s.id: s for s in await migrator.status()}
        assert all(status[i].state == "skipped" and status[i].reason for i in fts_ids)

        # The variant for this engine's planner applied (SQLite skips it), and undoing it
        # alone restores the partial indexes and leaves the planner statistics as they were.
        assert results["not_null_lookups"].action == "applied"
        stats = "SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx"
        packed, packed_stats = await schema_rows(db), await db.fetch_all(stats)
        await migrator.rollback(step=["not_null_lookups"])
        partial = [r for r in await schema_rows(db) if r[1] == "idx_user_answers_session"]
        assert str(partial[0][2]).endswith("WHERE study_session_id IS NOT NULL")
        assert await db.fetch_all(stats) == packed_stats
        await migrator.apply(step=["not_null_lookups"])
        assert await schema_rows(db) == packed

        await migrator.rollback(all=True)
        assert await schema_rows(db) == before
    finally:
        await db.close()


def test_cli_status_through_turso(tmp_path: Path) -> None:
    url = f"turso:{tmp_path / 'cli-turso.db'}"
    assert edgeopt("init", "--db", url).returncode == 0
    applied = edgeopt("apply", "--db", url, "--json")
    assert applied.returncode == 0, applied.stderr
    status = edgeopt("status", "--db", url, "--json")
    rows = json.loads(status.stdout)["steps"]
    skipped = [r for r in rows if r["state"] == "skipped"]
    assert [r["id"] for r in skipped] == ["questions_fts", "search_filter"]  # no FTS5 in Turso
    assert all("fts5" in r["reason"] for r in skipped)


async def test_a_closed_turso_file_is_free_for_another_process(tmp_path: Path) -> None:
    # The Turso engine locks its file; pyturso's closed connection kept the lock until the
    # garbage collector ran, so a CLI or a second app started right after a close failed
    # with "File is locked by another process".
    import subprocess
    import sys

    path = tmp_path / "t.db"
    db = await TursoDriver.open(path)
    await db.execute("CREATE TABLE t (x)")
    await db.close()
    probe = "import sys, turso; print(turso.connect(sys.argv[1]).execute('SELECT 1').fetchall())"
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "[(1,)]", done.stderr[-300:]
    assert db.closed
