"""``advise --verify PACKDIR``: the emitted pack, applied, measured on the live file.

``--emit-pack`` writes ``advice.json`` beside the steps: each statement as it was measured
(literals made parameters), its sets of values, and its times on the scratch copy before
and after the proposed set. After ``edgeopt apply --pack PACKDIR``, verify opens the live
file read-only, plans and times each read with the same values, and reports per statement
the time before (scratch copy, no pack), the time the advice predicted, and the time now,
with whether the plan uses the pack's indexes. Writes are not run (the file is only read).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgedb_opt.advise.measure import RUN_BUDGET_S, Lab
from edgedb_opt.errors import ConfigError, WorkloadError

__all__ = ["ADVICE_FILE", "Verification", "VerifiedStatement", "verify"]

#: The advice ``--emit-pack`` keeps in the pack folder (not a step: packs read ``NNN_*.sql``).
ADVICE_FILE = "advice.json"


@dataclass
class VerifiedStatement:
    """One statement: before and predicted (from the advice), now (on the live file)."""

    index: int
    weight: float
    sql: str
    ms_before: float
    ms_predicted: float
    ms_now: float | None  # None for a write (not run on the live file)
    uses: list[str]  # the pack's indexes in its plan now
    plan_now: list[str]


@dataclass
class Verification:
    """What ``advise --verify`` reports (``as_dict`` is its ``--json``)."""

    statements: list[VerifiedStatement]
    indexes: list[str]
    missing: list[str]  # pack indexes the live file does not have (pack not applied?)
    #: Weighted milliseconds of the reads (writes are not run on the live file).
    reads_ms_before: float
    reads_ms_predicted: float
    reads_ms_now: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load(pack: Path) -> dict[str, Any]:
    path = pack / ADVICE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: verify needs a pack folder written by emit_pack"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return data


def verify(db: str | Path, pack: str | Path) -> Verification:
    """Measure the advice kept in ``pack`` on the live file ``db``, read-only.

    Raises:
        ConfigError: the pack holds no advice. DriverError: ``db`` is not a readable SQLite
        file. WorkloadError: a statement no longer runs on it (a table or column is gone).
    """
    advice = _load(Path(pack))
    names = [str(i["name"]) for i in advice.get("indexes", [])]
    out: list[VerifiedStatement] = []
    with Lab(Path(db), read_only=True) as lab:
        present = {
            str(n)
            for (n,) in lab.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        for s in advice.get("statements", []):
            sql = s.get("measured_sql") or s["sql"]
            sets = s.get("param_sets") or [s.get("params") or {}]
            write = not sql.lstrip().upper().startswith(("SELECT", "WITH", "VALUES"))
            try:
                plan = lab.plan(sql, sets[0])
                now = None
                if not write:
                    budget = RUN_BUDGET_S / len(sets)
                    times = [lab.time_ms(sql, v, write=False, budget_s=budget) for v in sets]
                    now = sum(times) / len(times)
            except sqlite3.Error as exc:
                raise WorkloadError(f"statement {s['index']}: cannot run it now: {exc}") from exc
            text = " ".join(plan).replace("(", " ")
            out.append(
                VerifiedStatement(
                    int(s["index"]),
                    float(s["weight"]),
                    str(s["sql"]),
                    float(s["ms_before"]),
                    float(s["ms_after"]),
                    None if now is None else round(now, 4),
                    [n for n in names if f" {n} " in f" {text} "],
                    plan,
                )
            )
    reads = [v for v in out if v.ms_now is not None]
    return Verification(
        out,
        names,
        [n for n in names if n not in present],
        round(sum(v.weight * v.ms_before for v in reads), 4),
        round(sum(v.weight * v.ms_predicted for v in reads), 4),
        round(sum(v.weight * (v.ms_now or 0.0) for v in reads), 4),
    )
