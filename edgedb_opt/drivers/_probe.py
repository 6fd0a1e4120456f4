"""Capability probing on a scratch in-memory connection of the same engine.

Probing on the user's file would write to it (a virtual table, an index); an in-memory
connection of the same library answers the same question and touches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgedb_opt.drivers.base import Capabilities

_PROBES: dict[str, tuple[str, ...]] = {
    "fts5": ("CREATE VIRTUAL TABLE _p_fts USING fts5(x)",),
    "partial_indexes": (
        "CREATE TABLE _p_t(a INTEGER, b INTEGER)",
        "CREATE INDEX _p_i ON _p_t(a) WHERE b = 1",
    ),
    "update_from": (
        "CREATE TABLE _p_u(a INTEGER)",
        "UPDATE _p_u SET a = s.x FROM (SELECT 1 AS x) AS s WHERE _p_u.a = s.x",
    ),
    "window_functions": ("SELECT row_number() OVER (ORDER BY 1)",),
    "analyze": ("CREATE TABLE _p_a(a INTEGER)", "CREATE INDEX _p_ai ON _p_a(a)", "ANALYZE"),
}

#: Planner behaviour: after the setup statements, the plan of the query names the index.
_PLAN_PROBES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "implied_not_null": (
        (
            "CREATE TABLE _p_n(a INTEGER, b INTEGER)",
            "CREATE INDEX _p_ni ON _p_n(b) WHERE b IS NOT NULL",
        ),
        "EXPLAIN QUERY PLAN SELECT a FROM _p_n WHERE b = 1",
        "_p_ni",
    ),
}


def probe(
    connect_memory: Callable[[], Any], errors: tuple[type[BaseException], ...]
) -> Capabilities:
    """Try each capability's statements on a fresh in-memory connection.

    Args:
        connect_memory: opens a new ``:memory:`` connection of the engine (sync DB-API).
        errors: the engine's error classes; any of them means "not supported".
    Returns:
        The engine's :class:`Capabilities`.
    """
    found: dict[str, bool] = {}
    for name, statements in _PROBES.items():
        conn = connect_memory()
        try:
            for sql in statements:
                conn.execute(sql).fetchall()
            found[name] = True
        except errors:
            found[name] = False
        finally:
            conn.close()
    for name, (setup, query, index) in _PLAN_PROBES.items():
        conn = connect_memory()
        try:
            for sql in setup:
                conn.execute(sql).fetchall()
            found[name] = any(index in str(row[-1]) for row in conn.execute(query).fetchall())
        except errors:
            found[name] = False
        finally:
            conn.close()
    return Capabilities(**found)
