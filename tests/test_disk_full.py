"""Disk full: an index build that runs out of space rolls its step back, says why, and leaves
a sound file and an unchanged ledger (``PRAGMA max_page_count`` plays the full disk)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import MigrationError
from edgedb_opt.migrate import Migrator, load_pack
from tests.conftest import master, query


async def test_an_index_build_out_of_space_rolls_back_and_says_so(seeded_db: Path) -> None:
    pack = load_pack("study")
    db = await SqliteDriver.open(seeded_db)
    try:
        await Migrator(db, [pack]).apply(step=["objectives_indexes"])
    finally:
        await db.close()
    ledger = query(seeded_db, "SELECT * FROM _edgeopt_migrations ORDER BY seq")
    schema = master(seeded_db, ledger=True)
    pages = query(seeded_db, "PRAGMA page_count")[0][0]
    # A few pages of room: the questions indexes need more than that.
    full = await SqliteDriver.open(seeded_db, pragmas={"max_page_count": pages + 2})
    try:
        with pytest.raises(MigrationError) as err:
            await Migrator(full, [pack]).apply(step=["questions_indexes"])
    finally:
        await full.close()
    message = str(err.value)
    assert "database or disk is full" in message and "rolled back" in message
    assert "questions_indexes" in message
    conn = sqlite3.connect(seeded_db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    assert query(seeded_db, "SELECT * FROM _edgeopt_migrations ORDER BY seq") == ledger
    assert master(seeded_db, ledger=True) == schema
    # With room again, the same step applies.
    db = await SqliteDriver.open(seeded_db)
    try:
        [result] = await Migrator(db, [pack]).apply(step=["questions_indexes"])
    finally:
        await db.close()
    assert result.action == "applied"
