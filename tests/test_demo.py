"""``edgeopt demo`` end to end at scale tiny (the real command, a real file)."""

from __future__ import annotations

from pathlib import Path

from edgedb_opt.bench import operation_names
from edgedb_opt.bench.demo import schema_rows
from tests.conftest import edgeopt, query

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_tours_and_restores_the_schema(tmp_path: Path) -> None:
    db, chart = tmp_path / "demo.db", tmp_path / "demo.png"
    db.write_bytes(b"an old demo file is replaced, not reused")
    proc = edgeopt("demo", "--db", str(db), "--scale", "tiny", "--chart", str(chart))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    steps = [line.split()[1] for line in out.splitlines() if line.startswith("   applied ")]
    assert len(steps) >= 8  # every step of the study pack, each shown
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    for name in operation_names():
        assert rows[name][4] == "yes", rows[name]  # the "same" column
    assert f"chart written to {chart}" in out
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert "schema restored: yes" in out
    # The file is left seeded, on the reference schema (no pack index remains).
    assert query(db, "SELECT count(*) FROM user_answers")[0][0] > 0
    names = {r[1] for r in schema_rows(db)}
    assert not {s for s in steps if s in names}
    assert not [n for n in names if n.startswith("idx_")]


def test_demo_unknown_scale_is_one_line(tmp_path: Path) -> None:
    proc = edgeopt("demo", "--db", str(tmp_path / "d.db"), "--scale", "huge")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "edgeopt: error: unknown scale 'huge'; choose one of tiny, small, medium, large"
    ]
    assert not (tmp_path / "d.db").exists()
