"""Docstrings are the spec: run every module's doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import edgedb_opt

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(edgedb_opt.__path__, prefix="edgedb_opt.")
    if m.name != "edgedb_opt.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


def test_some_modules_have_doctests() -> None:
    finder = doctest.DocTestFinder()
    total = sum(
        len([t for t in finder.find(importlib.import_module(n)) if t.examples]) for n in MODULES
    )
    assert total >= 5
