"""How the advisor chooses, apart from what it measures: SQLite's own `.expert` proposals as
candidates (real files, the real sqlite3 shell), and the pruning pass's limit on what its
drops may cost together (a cost model in place of timings: the selection logic alone)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.advise import parse_workload
from edgedb_opt.advise.advisor import _Run, expert_candidates, measured_workload
from edgedb_opt.advise.candidates import Candidate
from edgedb_opt.advise.expert import ENV_VAR
from edgedb_opt.advise.measure import Lab
from edgedb_opt.advise.select import _Search


@pytest.fixture
def table_t(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c TEXT)")
        conn.executemany(
            "INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
            ((i % 300, f"B{i % 40}", "c" * 20) for i in range(3000)),
        )
    conn.close()
    return path


WORKLOAD = """
SELECT c FROM t WHERE a = :a ORDER BY id;
SELECT id FROM t WHERE b = :b COLLATE NOCASE;
SELECT c FROM "t" WHERE "A" = :a AND b > :b;
"""


def _candidates(path: Path, said: list[str]) -> list[Candidate]:
    with Lab(path) as lab:
        shapes, _params = measured_workload(lab, parse_workload(WORKLOAD))
        return expert_candidates(lab, shapes, lab.tables(), said.append)


def test_expert_proposals_become_candidates_in_our_terms(table_t: Path) -> None:
    said: list[str] = []
    found = {
        (c.table, c.columns, c.where, tuple(sorted(c.serves))) for c in _candidates(table_t, said)
    }
    assert found == {
        ("t", ("a",), None, (1,)),  # .expert's t(a, id): rowid ends every index already
        ("t", ("b COLLATE NOCASE",), None, (2,)),
        ("t", ("a", "b"), None, (3,)),
    }
    assert said == []


def test_without_a_sqlite3_shell_there_are_no_expert_candidates_and_it_says_why(
    table_t: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere" / "sqlite3"))
    said: list[str] = []
    assert _candidates(table_t, said) == []
    assert len(said) == 1 and said[0].startswith("no .expert candidates: sqlite3 command not found")


# -- the pruning pass on a cost model ---------------------------------------------------------


@dataclass
class _Statement:
    index: int
    weight: float = 1.0


@dataclass
class _Shape:
    statement: _Statement
    writes: str | None = None
    uses: Sequence[Any] = ()


class _ModelLab:
    """Indexes that exist, changed by the selection's CREATE / DROP / ANALYZE statements."""

    def __init__(self, names: set[str]) -> None:
        self.names = set(names)

    def execute(self, sql: str) -> None:
        name = sql.split('"')[1]
        if sql.startswith("CREATE"):
            self.names.add(name)
        elif sql.startswith("DROP"):
            self.names.discard(name)


def test_the_prune_passes_drops_together_cost_at_most_the_threshold() -> None:
    # Four indexes, each saving its statement 0.4 ms of 1 ms when present; the threshold is
    # 1.0: any one drop alone is within it, but dropping all four would cost 1.6 ms.
    cands = [Candidate("t", (f"c{n}",), None, frozenset({n + 1})) for n in range(4)]
    shapes = [_Shape(_Statement(n + 1)) for n in range(4)]
    lab = _ModelLab({c.name for c in cands})

    def measure(lab_: _ModelLab, *_args: Any, **_kw: Any) -> _Run:
        ms = [0.6 if c.name in lab_.names else 1.0 for c in cands]
        return _Run(ms, [[] for _ in ms])

    chosen = list(cands)
    gain = {c.name: 0.4 for c in cands}
    said: list[str] = []
    search = _Search(
        lab,  # type: ignore[arg-type]
        cands,
        shapes,  # type: ignore[arg-type]
        [[{}]] * 4,
        measure,
        said.append,
        {},
        chosen,
        gain,
        measure(lab),
    )
    run = search.prune(measure(lab), 1.0)
    assert len(chosen) == 2  # two drops cost 0.8; a third would make it 1.2
    assert lab.names == {c.name for c in chosen}
    assert run.weighted(shapes) == pytest.approx(0.6 * 2 + 1.0 * 2)
    assert len(said) == 2


@pytest.mark.parametrize(
    ("covering_bytes", "expected"),
    [(1000, "adv_t_a"), (400, "adv_t_a_b")],
)
def test_the_polish_adds_a_20_percent_gain_and_a_covering_one_only_if_small(
    covering_bytes: int, expected: str
) -> None:
    # One statement at 1 ms; the lean index makes it 0.75 ms, its covering twin 0.6 ms (not
    # twice as fast). The set already holds 10,000 bytes elsewhere: 5% of it is 500.
    lean = Candidate("t", ("a",), None, frozenset({1}))
    covering = Candidate("t", ("a", "b"), None, frozenset({1}), key_length=1)
    other = Candidate("u", ("x",), None, frozenset({2}))
    shapes = [_Shape(_Statement(1)), _Shape(_Statement(2))]
    lab = _ModelLab({other.name})

    def measure(lab_: _ModelLab, *_args: Any, **_kw: Any) -> _Run:
        first = 0.6 if covering.name in lab_.names else 0.75 if lean.name in lab_.names else 1.0
        used = [n for n in (covering.name, lean.name) if n in lab_.names][:1]
        return _Run([first, 0.1], [[f"SEARCH t USING INDEX {n}" for n in used], [other.name]])

    chosen, said = [other], []
    search = _Search(
        lab,  # type: ignore[arg-type]
        [lean, covering, other],
        shapes,  # type: ignore[arg-type]
        [[{}], [{}]],
        measure,
        said.append,
        {lean.name: 100, covering.name: covering_bytes, other.name: 10_000},
        chosen,
        {other.name: 5.0},
        _Run([0.5, 0.1], [[], []]),
    )
    run = search.polish(measure(lab), None)
    assert run is not None
    assert [c.name for c in chosen] == [other.name, expected]
    assert lab.names == {other.name, expected}
    assert run.ms[0] == (0.75 if expected == lean.name else 0.6)
