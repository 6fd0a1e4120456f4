"""``schema/`` ships inside the wheel: a non-editable install must find it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("edgeopt-*.whl"))


def test_wheel_contains_schema_and_packs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "edgedb_opt/schema/base.sql" in names
    assert "edgedb_opt/py.typed" in names
    packs = [n for n in names if n.startswith("edgedb_opt/schema/packs/study/")]
    assert len(packs) == len(list((REPO / "schema" / "packs" / "study").glob("*.sql")))


def test_installed_wheel_finds_its_schema(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    code = (
        "import edgedb_opt, edgedb_opt.schema as r, edgedb_opt.migrate as m;"
        "print(edgedb_opt.__file__); print(r.schema_dir()); print(len(m.load_pack('study').steps))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    module_file, schema, steps = proc.stdout.split()
    assert module_file.startswith(str(target))
    assert schema == str(target / "edgedb_opt" / "schema")
    assert int(steps) >= 9
