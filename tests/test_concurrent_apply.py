"""Two ``edgeopt apply`` processes at once: every step is applied exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgedb_opt.migrate import load_pack
from tests.conftest import REPO, query


def test_two_concurrent_applies_apply_each_step_once(seeded_db: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "edgedb_opt",
        "apply",
        "--db",
        str(seeded_db),
        "--json",
        "--lock-timeout",
        "60",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    actions = [{s["id"]: s["action"] for s in json.loads(out)["steps"]} for out, _err in outputs]
    step_ids = [s.id for s in load_pack("study").steps]
    for step_id in step_ids:
        taken = [a[step_id] for a in actions]
        # Exactly one process did the work; the other found it done under the lock.
        assert sorted(taken) == ["already_applied", "applied"], (step_id, taken)
    ledger = query(seeded_db, "SELECT id, count(*) FROM _edgeopt_migrations GROUP BY id")
    assert sorted(ledger) == sorted((i, 1) for i in step_ids)
    assert query(seeded_db, "PRAGMA integrity_check") == [("ok",)]
    print(f"concurrent apply: {len(step_ids)} steps, each applied once; actions={actions}")
