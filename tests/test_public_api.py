"""The small public surface: every exported name resolves, and importing stays light."""

from __future__ import annotations

import subprocess
import sys

import edgedb_opt


def test_every_exported_name_resolves() -> None:
    for name in edgedb_opt.__all__:
        assert getattr(edgedb_opt, name) is not None, name
    assert issubclass(edgedb_opt.MigrationError, edgedb_opt.EdgeOptError)


def test_importing_the_package_does_not_import_sqlglot_or_pydantic() -> None:
    code = "import sys, edgedb_opt; print('sqlglot' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
