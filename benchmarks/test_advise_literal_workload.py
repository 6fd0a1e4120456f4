"""`edgeopt advise` on the study workload written with literal values, as a query log has it,
against SQLite's `.expert` given the same text; both sets timed with OTHER values.

The workload (``tests/fixtures/advise/study_workload.sql``, 25 statements) gets, for each
parameter, a value drawn at random (fixed seed) from the column it is compared with: a key
of a random row, a random point of a range, 20 for LIMIT. Both advisors read that text.
Then each statement is timed, on a copy holding each set, with the values production would
send instead: a typical key and the heaviest one (``advise.values``), never the literal
advised with. Acceptance of the advisor issue: our weighted time <= 1.05x `.expert`'s, and
our index bytes <= its bytes.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.conftest import cached_db
from edgedb_opt.advise import advise, load_workload, parse_workload
from edgedb_opt.advise.advisor import measure_set, measured_workload
from edgedb_opt.advise.compare import _index_name
from edgedb_opt.advise.expert import dedupe, run_expert
from edgedb_opt.advise.measure import Lab, scratch_copy
from edgedb_opt.advise.shape import analyze_statement
from edgedb_opt.advise.workload import WorkloadStatement

WORKLOAD = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "advise"
WITHIN = 1.05


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _drawn(conn: sqlite3.Connection, rng: random.Random, table: str, column: str) -> Any:
    """The column's value in a random row (NULLs skipped)."""
    (count,) = conn.execute(f'SELECT count("{column}") FROM "{table}"').fetchone()
    row = conn.execute(
        f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL LIMIT 1 OFFSET ?',
        (rng.randrange(max(count, 1)),),
    ).fetchone()
    return row[0] if row else None


def literal_workload(db: Path, workload: list[WorkloadStatement], seed: int = 7) -> str:
    """The workload's text with every parameter replaced by a literal drawn from the data
    (statements with ``-- params`` keep those values), weights kept."""
    rng = random.Random(seed)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        schema = {
            t: {r[1].lower() for r in conn.execute(f'PRAGMA table_info("{t}")')}
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        out = []
        for w in workload:
            roles = analyze_statement(w, schema).params
            values: dict[str, Any] = dict(w.params or {})
            for name in w.names:
                if name in values:
                    continue
                role = roles.get(name)
                if role is None or role.table is None or role.column is None:
                    values[name] = 20 if role is not None and role.role == "limit" else 0
                else:
                    values[name] = _drawn(conn, rng, role.table, role.column)
            sql = w.sql
            for name in sorted(w.names, key=len, reverse=True):  # :p12 before :p1
                sql = sql.replace(f":{name}", _literal(values[name]))
            out.append(f"-- weight: {w.weight:g}\n{sql};")
        return "\n\n".join(out) + "\n"
    finally:
        conn.close()


def test_advise_on_literals_is_no_slower_and_no_larger_than_expert() -> None:
    db = cached_db("small", applied=False)
    text = literal_workload(db, load_workload(WORKLOAD / "study_workload.sql"))
    workload = parse_workload(text, source="study workload with literals")
    advice = advise(db, workload, progress=lambda t: print(f"advise: {t}"))
    expert = dedupe(run_expert(db, [w.text for w in workload]))
    sets = {"none": [], "expert": expert, "ours": [i.create_sql for i in advice.indexes]}
    weighted: dict[str, float] = {}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for which, creates in sets.items():
            path = scratch_copy(db, Path(tmp) / f"{which}.db")
            with Lab(path) as lab:
                shapes, params = measured_workload(lab, workload)
                other = [sets_[1:] or sets_ for sets_ in params]  # never the advised literal
                for sql in creates:
                    lab.execute(sql)
                run = measure_set(lab, shapes, other)
                weighted[which] = run.weighted(shapes)
                sizes = lab.sizes()
                size[which] = sum(sizes.get(_index_name(sql), 0) for sql in creates)
    print(f"\n{'set':<8} {'indexes':>8} {'bytes':>12} {'weighted ms':>12}")
    for which, creates in sets.items():
        print(f"{which:<8} {len(creates):>8} {size[which]:>12,} {weighted[which]:>12.3f}")
    assert weighted["ours"] <= weighted["expert"] * WITHIN, weighted
    assert size["ours"] <= size["expert"], size
