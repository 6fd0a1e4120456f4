"""Where the SQL of ``schema/`` lives: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

from edgedb_opt.errors import PackError

_HERE = Path(__file__).resolve().parent


def schema_dir() -> Path:
    """The ``schema`` folder: ``edgedb_opt/schema`` in a wheel, ``../schema`` in a checkout.

    >>> (schema_dir() / "base.sql").is_file(), schema_dir().name
    (True, 'schema')
    """
    for candidate in (_HERE / "schema", _HERE.parent / "schema"):
        if (candidate / "base.sql").is_file():
            return candidate
    raise PackError("edgeopt's schema/ folder is missing from this installation")


def base_sql() -> str:
    """The reference schema's SQL text."""
    return (schema_dir() / "base.sql").read_text(encoding="utf-8")


def packs_dir() -> Path:
    """The folder holding the bundled packs."""
    return schema_dir() / "packs"
