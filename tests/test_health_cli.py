"""`edgeopt health` as users run it: a real subprocess on real files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import apply_pack, edgeopt, sha256
from tests.turso_server import TursoServer


def test_health_recommends_the_pack_and_leaves_the_file_alone(seeded_db: Path) -> None:
    before = sha256(seeded_db)
    done = edgeopt("health", "--db", str(seeded_db), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["healthy"] is True
    assert checks["index_use"]["level"] == "warn"
    assert "edgeopt apply (the study pack indexes every hot query)" in report["recommendations"]
    # journal mode is the file's own: health reports it, never changes it
    assert checks["pragmas"]["data"]["journal_mode"] == "delete"
    assert sha256(seeded_db) == before


async def test_a_corrupt_fts_index_makes_health_exit_2(seeded_db: Path) -> None:
    await apply_pack(seeded_db)
    ok = edgeopt("health", "--db", str(seeded_db))
    assert ok.returncode == 0 and ok.stdout.strip().endswith("healthy"), ok.stdout + ok.stderr
    conn = sqlite3.connect(seeded_db)
    with conn:
        conn.execute("DELETE FROM questions_fts_data WHERE id > 10")
    conn.close()
    bad = edgeopt("health", "--db", str(seeded_db))
    assert bad.returncode == 2
    assert "FAIL fts_integrity" in bad.stdout and bad.stdout.strip().endswith("UNHEALTHY")
    assert "INSERT INTO questions_fts(questions_fts) VALUES ('rebuild')" in bad.stdout


def test_prometheus_text_parses(seeded_db: Path) -> None:
    done = edgeopt("health", "--db", str(seeded_db), "--prometheus")
    assert done.returncode == 0, done.stderr
    families = {f.name: f for f in text_string_to_metric_families(done.stdout)}
    assert families["edgeopt_healthy"].samples[0].value == 1.0
    levels = {s.labels["check"]: s.value for s in families["edgeopt_health_check"].samples}
    assert levels["index_use"] == 0.5 and levels["region:local"] == 1.0


def test_a_missing_database_is_one_line_and_not_created(tmp_path: Path) -> None:
    done = edgeopt("health", "--db", str(tmp_path / "absent.db"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"edgeopt: error: database {tmp_path / 'absent.db'} does not exist"
    ]
    assert not (tmp_path / "absent.db").exists()


def test_the_plan_check_reads_the_turso_engines_plans(seeded_db: Path, tmp_path: Path) -> None:
    # The hot-query plan check on a file run by the Turso engine (its own planner): before
    # the pack the hot queries scan; with the pack applied through that engine, all of them
    # but search (no FTS5 there) use indexes.
    import asyncio

    from edgedb_opt.bench.data import apply_study_pack

    path = tmp_path / "turso.db"
    path.write_bytes(seeded_db.read_bytes())
    before = edgeopt("health", "--db", f"turso:{path}", "--json")
    checks = {c["name"]: c for c in json.loads(before.stdout)["checks"]}
    assert checks["index_use"]["level"] != "ok", checks["index_use"]
    asyncio.run(apply_study_pack(path, engine="turso"))
    after = edgeopt("health", "--db", f"turso:{path}", "--json")
    checks = {c["name"]: c for c in json.loads(after.stdout)["checks"]}
    assert checks["index_use"]["level"] == "ok", checks["index_use"]
    assert checks["index_use"]["detail"] == "all 11 hot queries use indexes"


def test_the_plan_check_runs_through_an_embedded_replica(
    study_server: TursoServer, tmp_path: Path
) -> None:
    # The pack was applied through a replica and pushed; a fresh replica of that server
    # pulls it, and health explains the hot queries with the Turso engine of the replica.
    replica = tmp_path / "fresh-replica.db"
    proc = edgeopt("health", "--db", study_server.url, "--replica", str(replica), "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["index_use"]["level"] == "ok", checks["index_use"]
    assert checks["index_use"]["detail"] == "all 11 hot queries use indexes"
    assert replica.exists()
