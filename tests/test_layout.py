"""The layout shows the architecture: no import cycles, a small root, old import paths kept,
lifetimes as aiosqlite's, and a library that speaks in its own terms (the CLI says flags)."""

from __future__ import annotations

import ast
import graphlib
import importlib
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import edgedb_opt
from edgedb_opt.cli.common import cli_message
from edgedb_opt.drivers import open_driver
from edgedb_opt.drivers.base import Driver, SupportsFetchThen, SupportsSync
from edgedb_opt.errors import (
    ChecksumDriftError,
    ConfigError,
    DriverError,
    EdgeOptError,
    Hint,
    MigrationError,
    PoolTimeout,
    WorkloadError,
)
from edgedb_opt.runtime.database import EdgeDatabase, RequestView
from tests.conftest import REPO

PACKAGE = Path(edgedb_opt.__file__).parent
MODULES = [
    "edgedb_opt",
    *sorted(m.name for m in pkgutil.walk_packages(edgedb_opt.__path__, prefix="edgedb_opt.")),
]


def _source(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.is_file() else PACKAGE / relative.with_suffix(".py")


def _imports(module: str) -> set[str]:
    """Every edgedb_opt module ``module`` imports, anywhere in its file (functions and
    TYPE_CHECKING blocks included: a cycle hidden there is still a cycle)."""
    found: set[str] = set()
    is_package = _source(module).name == "__init__.py"
    for node in ast.walk(ast.parse(_source(module).read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("edgedb_opt") and name != module:
                found.add(name)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = {m: _imports(m) for m in MODULES}
    # A package's __init__ re-exporting its modules is not a dependency of those modules.
    for module, deps in graph.items():
        deps -= {d for d in deps if module.startswith(d + ".") and _source(d).name == "__init__.py"}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
    assert set(order) == set(MODULES)


def test_the_checker_sees_a_cycle() -> None:
    """The check above can fail: a planted two-module cycle is reported."""
    graph = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())
    assert "edgedb_opt.runtime.monitored" in _imports("edgedb_opt.runtime.monitor")
    assert "edgedb_opt.runtime.monitor" not in _imports("edgedb_opt.runtime.monitored")


def test_the_root_holds_only_the_public_one_concern_modules() -> None:
    root = {p.stem for p in PACKAGE.glob("*.py")}
    assert root == {"__init__", "__main__", "asgi", "errors", "schema", "sqltext", "testing"}
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == {
        "advise", "bench", "cli", "datagen", "drivers", "loadtest", "migrate", "rewrite",
        "runtime", "study",
    }  # fmt: skip
    private = [m for m in MODULES if m.count(".") == 1 and m.rpartition(".")[2].startswith("_")]
    assert set(private) <= {"edgedb_opt.__main__"}, private


@pytest.mark.parametrize("old", ["database", "pool", "regions", "cache", "monitor", "health"])
def test_old_module_paths_import_the_same_module(old: str) -> None:
    moved = importlib.import_module(f"edgedb_opt.{old}")
    home = importlib.import_module(f"edgedb_opt.runtime.{old}")
    assert moved is home
    assert home.__spec__ is not None and home.__spec__.name == f"edgedb_opt.runtime.{old}"


def test_old_paths_work_in_a_fresh_interpreter() -> None:
    code = (
        "from edgedb_opt.database import EdgeDatabase; from edgedb_opt.pool import LocalPool;"
        "from edgedb_opt.regions import load_settings; from edgedb_opt.cache import QueryCache;"
        "from edgedb_opt.monitor import Monitor, MonitoredDriver;"
        "from edgedb_opt.health import health; import edgedb_opt.runtime.database as d;"
        "print(EdgeDatabase is d.EdgeDatabase)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_the_public_surface_is_deliberate() -> None:
    assert edgedb_opt.__version__ and edgedb_opt.__version__[0].isdigit()
    assert "WorkloadError" in edgedb_opt.__all__ and edgedb_opt.WorkloadError is WorkloadError
    for internal in ("LocalPool", "EndpointPool", "PoolStats", "RegionRouter", "MonitoredDriver"):
        assert internal not in edgedb_opt.__all__
        with pytest.warns(DeprecationWarning, match=f"edgedb_opt.{internal} is internal"):
            assert getattr(edgedb_opt, internal).__module__.startswith("edgedb_opt.runtime.")
    with pytest.raises(AttributeError):
        _ = edgedb_opt.NoSuchName  # type: ignore[attr-defined]
    assert issubclass(PoolTimeout, DriverError)
    tree = edgedb_opt.errors.__doc__ or ""
    for name in edgedb_opt.__all__:
        thing = getattr(edgedb_opt, name)
        if isinstance(thing, type) and issubclass(thing, EdgeOptError):
            assert thing.__module__ != "edgedb_opt.errors" or name in tree, name


# -- lifetimes ---------------------------------------------------------------------------


async def test_connect_works_entered_directly_and_awaited(tmp_path: Path) -> None:
    url = str(tmp_path / "a.db")
    async with EdgeDatabase.connect(db=url, must_exist=False) as db:
        assert isinstance(db, EdgeDatabase) and not db.closed
        await db.execute("CREATE TABLE t (v)")
        await db.execute("INSERT INTO t VALUES (1)")
    assert db.closed
    async with await EdgeDatabase.connect(db=url, must_exist=False) as again:
        assert await again.fetch_all("SELECT v FROM t") == [(1,)]
    assert again.closed
    plain = await EdgeDatabase.connect(db=url, must_exist=False)
    try:
        assert await plain.fetch_all("SELECT count(*) FROM t") == [(1,)]
    finally:
        await plain.close()
    with pytest.raises(DriverError, match="closed"):
        await plain.fetch_all("SELECT 1")


async def test_open_driver_works_entered_directly_and_awaited(tmp_path: Path) -> None:
    async with open_driver(str(tmp_path / "d.db")) as db:
        assert await db.fetch_all("SELECT 7") == [(7,)]
    with pytest.raises(DriverError, match="closed"):
        await db.fetch_all("SELECT 1")
    with pytest.raises(ConfigError, match="unknown URL scheme"):
        open_driver("bogus://x")  # bad arguments fail at the call, before any await


async def test_a_request_view_cannot_close_the_pools(tmp_path: Path) -> None:
    async with EdgeDatabase.connect(db=str(tmp_path / "v.db"), must_exist=False) as db:
        await db.execute("CREATE TABLE t (v)")
        async with db.for_request({"CF-IPCountry": "DE"}) as view:
            assert isinstance(view, RequestView) and isinstance(view, Driver)
            assert view.database is db and view.cache is db.cache
            await view.execute("INSERT INTO t VALUES ('from the view')")
            assert await view.fetch_all("SELECT v FROM t") == [("from the view",)]
        assert view.closed and not db.closed
        with pytest.raises(DriverError, match="request view is closed"):
            await view.fetch_all("SELECT 1")
        assert await db.fetch_all("SELECT count(*) FROM t") == [(1,)]  # pools still open


async def test_optional_features_are_protocols(tmp_path: Path) -> None:
    async with open_driver(str(tmp_path / "f.db")) as db:
        assert isinstance(db, SupportsFetchThen) and not isinstance(db, SupportsSync)


# -- errors in the library's terms, flags in the CLI's --------------------------------------

_LIBRARY = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts]


def _raised_texts(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    out.append((node.lineno, sub.value))
    return out


def test_the_library_raises_without_naming_command_line_flags() -> None:
    import re

    flags = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    found = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for path in _LIBRARY
        for line, text in _raised_texts(path)
        if flags.search(text)
    ]
    assert not found, "\n".join(found)
    assert _raised_texts(PACKAGE / "cli" / "bench.py")  # the scan reads raise statements


def test_the_cli_says_parameters_and_hints_as_flags() -> None:
    drift = ChecksumDriftError("step 'a' changed; refusing to roll back", hint=Hint("force"))
    assert str(drift).endswith("(pass force=True)")
    assert cli_message(drift).endswith("(use --force)")
    needs = MigrationError("step 'b' requires 'a'", hint=Hint("step", "a", "include"))
    assert str(needs).endswith("(include 'a' in step)")
    assert cli_message(needs).endswith("(add --step a)")
    locked = MigrationError("could not start", hint=Hint("busy_timeout_ms", action="raise"))
    assert cli_message(locked) == "could not start (raise --lock-timeout to wait longer)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bad = ConfigError("budget_mb must be positive, not 0", param="budget_mb")
    assert cli_message(bad) == "--budget-mb must be positive, not 0"
    assert cli_message(ConfigError("plain words")) == "plain words"


def test_the_cli_prints_flags_for_a_library_error(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("edgeopt")
    proc = subprocess.run(
        [str(exe), "loadtest", "--db", str(tmp_path / "x.db"), "--mix", "bogus"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.startswith("edgeopt: error: --mix: expected name=weight"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
