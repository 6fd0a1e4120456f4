"""Auth tokens never leave the process: not in logs, health, --json, status, errors or reprs.

Every output below is searched for the token, which is configured the ways users give it:
a region's ``auth_token`` in a TOML file, ``EDGEOPT_AUTH_TOKEN``, and ``authToken=`` in a URL.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from edgedb_opt.errors import EdgeOptError
from edgedb_opt.runtime.database import EdgeDatabase
from edgedb_opt.runtime.health import health
from edgedb_opt.runtime.regions import load_settings
from tests.conftest import edgeopt
from tests.turso_server import free_port

TOKEN = "tok-SECRET-7f3a9c-never-print"


def _config(tmp: Path, db: Path) -> Path:
    path = tmp / "edgeopt.toml"
    path.write_text(
        "[[regions]]\n"
        f'name = "iad"\nurl = "{db}"\nprimary = true\nauth_token = "{TOKEN}"\n\n'
        "[[regions]]\n"
        f'name = "lhr"\nurl = "ws://127.0.0.1:{free_port()}"\nauth_token = "{TOKEN}"\n'
    )
    return path


async def test_api_outputs_never_hold_the_token(
    seeded_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = load_settings(_config(tmp_path, seeded_db))
    seen = [repr(settings), str(settings), settings.model_dump_json()]
    async with await EdgeDatabase.connect(settings) as db:
        report = await health(db)
        seen += [json.dumps(report.as_dict(), default=str), repr(db.router.snapshot())]
        assert not report.healthy  # lhr cannot be reached
        seen += [c.detail for c in report.checks]
    seen.append(caplog.text)
    with pytest.raises(EdgeOptError) as err:
        load_settings(regions=[{"name": "x", "url": "ftp://h/db", "auth_token": TOKEN}])
    seen.append(str(err.value))
    for text in seen:
        assert TOKEN not in text
    assert any("lhr" in text for text in seen)  # the failure itself is reported


def test_cli_outputs_never_hold_the_token(seeded_db: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, seeded_db)
    env = {**os.environ, "EDGEOPT_AUTH_TOKEN": TOKEN}
    runs = [
        edgeopt("health", "--config", str(config), "--json", env=env),
        edgeopt("health", "--config", str(config), "--prometheus", env=env),
        edgeopt("health", "--config", str(config), env=env),
        edgeopt("status", "--db", f"ws://127.0.0.1:{free_port()}/?authToken={TOKEN}", env=env),
        edgeopt("status", "--db", str(seeded_db), "--json", env=env),
        edgeopt("apply", "--db", f"wss://127.0.0.1:{free_port()}?authToken={TOKEN}", env=env),
    ]
    for done in runs:
        assert TOKEN not in done.stdout and TOKEN not in done.stderr, done.args
    assert runs[0].returncode == 2 and json.loads(runs[0].stdout)["healthy"] is False
    assert runs[3].returncode == 1 and "cannot reach" in runs[3].stderr
