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


def test_the_request_errors_are_exported_with_their_http_statuses() -> None:
    from edgedb_opt.study.models import AnswerRejected

    e = edgedb_opt
    for name in ("InvalidInput", "NotFound", "Conflict", "http_status", "Limits"):
        assert name in e.__all__, name
    for cls in (e.InvalidInput, e.NotFound, e.Conflict):
        assert issubclass(cls, e.EdgeOptError) and not issubclass(cls, e.ConfigError)
    assert issubclass(AnswerRejected, e.InvalidInput) and e.AnswerRejected is AnswerRejected
    statuses = {
        e.InvalidInput("limit must be at most 100, not 101", field="limit"): 422,
        AnswerRejected(3, "flagged input should be a valid boolean", attribute="flagged"): 422,
        e.NotFound("unknown study session 9", what="study session"): 404,
        e.Conflict("already closed"): 409,
        e.UnavailableError("region down"): 503,
        e.PoolTimeout("no connection"): 503,
        e.ConfigError("bad URL"): 500,
        e.DriverError("constraint failed"): 500,
        e.MigrationError("step failed"): 500,
        e.CacheError("loader failed"): 500,
        OverflowError("int too big"): 500,
        KeyboardInterrupt(): 500,
    }
    assert {type(x).__name__: e.http_status(x) for x in statuses} == {
        type(x).__name__: s for x, s in statuses.items()
    }
    invalid = e.InvalidInput("limit must be at most 100, not 101", field="limit")
    assert (invalid.field, invalid.reason) == ("limit", "limit must be at most 100, not 101")
    rejected = AnswerRejected(3, "flagged input should be a valid boolean", attribute="flagged")
    assert (rejected.index, rejected.field, rejected.reason) == (
        3, "answers[3].flagged", "flagged input should be a valid boolean"
    )  # fmt: skip
    assert str(rejected) == "item 3: flagged input should be a valid boolean"
    assert e.NotFound("x", what="study session").what == "study session"
