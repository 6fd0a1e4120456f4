"""``--emit-pack DIR``: the proposed indexes as a pack that ``edgeopt apply`` applies and
``edgeopt rollback`` undoes, one step per index plus a final statistics step."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgedb_opt.advise.advisor import Advice
from edgedb_opt.advise.verify import ADVICE_FILE
from edgedb_opt.errors import ConfigError

__all__ = ["emit_pack"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(sql: str) -> str:
    line = " ".join(sql.split())
    return line if len(line) <= 90 else line[:87] + "..."


def emit_pack(advice: Advice, directory: str | Path) -> list[Path]:
    """Write the pack; return the step files in order.

    Raises:
        ConfigError: ``directory`` exists and already holds .sql files (never overwritten),
            or it cannot be created.
    """
    folder = Path(directory)
    if folder.exists() and (
        not folder.is_dir() or any(folder.glob("*.sql")) or (folder / ADVICE_FILE).exists()
    ):
        raise ConfigError(f"pack folder {folder}: exists and is not an empty pack folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"pack folder {folder}: cannot create it: {exc}") from exc
    texts = {s.index: s.sql for s in advice.statements}
    files: list[Path] = []
    for n, idx in enumerate(advice.indexes, 1):
        needs = " needs=partial_indexes" if idx.where else ""
        lines = [
            f"-- edgeopt:step id={idx.name}{needs}",
            f"-- Proposed by edgeopt advise: {idx.bytes:,} bytes on the scratch copy, saved "
            f"{idx.saved_ms:.3f} weighted ms of the workload when chosen.",
            "-- up",
            *(f"-- serves statement {i}: {_first_line(texts.get(i, ''))}" for i in idx.serves),
            idx.create_sql + ";",
            "-- down",
            idx.drop_sql + ";",
            "",
        ]
        path = folder / f"{n:03d}_{re.sub(r'[^A-Za-z0-9_]', '_', idx.name)[:60]}.sql"
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
    if advice.indexes:
        tables = sorted({i.table for i in advice.indexes})
        names = ", ".join("'" + i.name.replace("'", "''") + "'" for i in advice.indexes)
        lines = [
            "-- edgeopt:step id=analyze_stats requires="
            + ",".join(i.name for i in advice.indexes)
            + " needs=analyze",
            "-- Statistics for the new indexes, so the planner costs them from data. Down",
            "-- removes their rows; the engine drops sqlite_stat1 if this step created it.",
            "-- up",
            *(f"ANALYZE {_q(t)};" for t in tables),
            "-- down",
            f"DELETE FROM sqlite_stat1 WHERE idx IN ({names});",
            "",
        ]
        path = folder / f"{len(advice.indexes) + 1:03d}_analyze_stats.sql"
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
    # The advice itself, for advise --verify once the pack is applied (not a step: a pack
    # reads only its NNN_*.sql files).
    (folder / ADVICE_FILE).write_text(json.dumps(advice.as_dict(), indent=1, default=str))
    return files
