"""The ledger table ``_edgeopt_migrations``: which steps a database has, and how to undo them.

Reading never writes: a database that never saw ``apply`` has no ledger and reads as empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from edgedb_opt.drivers.base import Driver
from edgedb_opt.schema import has_object

LEDGER = "_edgeopt_migrations"

CREATE_LEDGER = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    pack        TEXT    NOT NULL,
    checksum    TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('applied', 'skipped')),
    reason      TEXT,
    applied_at  TEXT    NOT NULL,
    duration_ms REAL    NOT NULL,
    down_sql    TEXT    NOT NULL,
    objects     TEXT    NOT NULL DEFAULT '[]'
)"""

State = Literal["applied", "skipped"]


@dataclass(frozen=True)
class LedgerRow:
    """What the ledger knows of one step."""

    seq: int
    id: str
    pack: str
    checksum: str
    state: State
    reason: str | None
    applied_at: str
    duration_ms: float
    down_sql: str
    objects: tuple[str, ...]


async def ledger_exists(db: Driver) -> bool:
    return await has_object(db, "table", LEDGER)


async def read_ledger(db: Driver) -> dict[str, LedgerRow]:
    """Every ledger row by step id, in application order (empty when there is no ledger)."""
    if not await ledger_exists(db):
        return {}
    rows = await db.fetch_all(
        f"SELECT seq, id, pack, checksum, state, reason, applied_at, duration_ms, down_sql, "
        f"objects FROM {LEDGER} ORDER BY seq"
    )
    out: dict[str, LedgerRow] = {}
    for r in rows:
        out[str(r[1])] = LedgerRow(
            seq=int(r[0]),
            id=str(r[1]),
            pack=str(r[2]),
            checksum=str(r[3]),
            state="skipped" if r[4] == "skipped" else "applied",
            reason=None if r[5] is None else str(r[5]),
            applied_at=str(r[6]),
            duration_ms=float(r[7]),
            down_sql=str(r[8]),
            objects=tuple(json.loads(r[9] or "[]")),
        )
    return out


async def record(
    db: Driver,
    *,
    step_id: str,
    pack: str,
    checksum: str,
    state: State,
    reason: str | None,
    duration_ms: float,
    down_sql: str,
    objects: list[str],
) -> None:
    """Write (or replace) a step's ledger row; call inside the step's transaction."""
    await db.execute(CREATE_LEDGER)
    await db.execute(f"DELETE FROM {LEDGER} WHERE id = ?", (step_id,))
    await db.execute(
        f"INSERT INTO {LEDGER} (id, pack, checksum, state, reason, applied_at, duration_ms, "
        "down_sql, objects) VALUES (?, ?, ?, ?, ?, strftime('%Y-%m-%d %H:%M:%f', 'now'), ?, ?, ?)",
        (
            step_id,
            pack,
            checksum,
            state,
            reason,
            round(duration_ms, 3),
            down_sql,
            json.dumps(sorted(objects)),
        ),
    )


async def forget(db: Driver, step_id: str) -> None:
    """Remove a step's ledger row; call inside the rollback's transaction."""
    await db.execute(f"DELETE FROM {LEDGER} WHERE id = ?", (step_id,))


async def schema_objects(db: Driver) -> set[str]:
    """Names of every schema object (tables, indexes, triggers, views) but the ledger's own."""
    rows = await db.fetch_all(
        "SELECT name FROM sqlite_master WHERE tbl_name <> ? AND name NOT LIKE 'sqlite_autoindex%'",
        (LEDGER,),
    )
    return {str(r[0]) for r in rows}
