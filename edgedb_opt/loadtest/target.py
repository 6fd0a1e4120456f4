"""Where a load test runs: a loopback-only target, by default a fresh copy of a cached file.

The load writes (answers, session progress), so the default never touches a file the user
cares about: a seeded database with the study pack applied is built once per scale and
seed under ``$XDG_CACHE_HOME/edgeopt/loadtest`` (the benchmark's builder, see
:mod:`edgedb_opt.bench.data`) and each run works on a fresh copy of it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgedb_opt.bench.data import cached_pair, check_source, copy_database, data_clock
from edgedb_opt.bench.data import default_cache_dir as _bench_cache_dir
from edgedb_opt.drivers import parse_target
from edgedb_opt.errors import ConfigError

__all__ = ["LoadTarget", "check_loopback", "default_cache_dir", "prepare_target"]

_LOOPBACK_NAMES = ("localhost",)


def check_loopback(db: str) -> str:
    """``db`` if it is a local file or a URL whose host is this machine, else ConfigError.

    A load test must never be pointed at a shared server by a typo.

    >>> check_loopback("http://127.0.0.1:8080"), check_loopback("app.db")
    ('http://127.0.0.1:8080', 'app.db')
    >>> check_loopback("https://db.example.com")
    Traceback (most recent call last):
    ...
    edgedb_opt.errors.ConfigError: db host 'db.example.com' is not 127.0.0.1, localhost or ::1: \
loadtest runs against this machine only
    """
    kind, _ = parse_target(db)
    if kind != "remote" and "://" not in db:
        return db
    host = urlsplit(db.strip()).hostname or ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host.lower() in _LOOPBACK_NAMES
    if not local:
        raise ConfigError(
            f"db host {host!r} is not 127.0.0.1, localhost or ::1: "
            "loadtest runs against this machine only",
            param="db",
        )
    return db


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/edgeopt/loadtest`` (``~/.cache`` without it)."""
    return _bench_cache_dir().parent / "loadtest"


@dataclass(frozen=True)
class LoadTarget:
    """The database of one run and the clock its data was made for.

    Attributes:
        db: what ``EdgeDatabase.connect(db=...)`` opens.
        now: the data's "now" at the start of the run (None: the real clock), so the
            windows of the queries ("the last 7 days") see the seeded rows on any day.
        scratch: a folder this run created and removes afterwards, if any.
    """

    db: str
    now: dt.datetime | None = None
    scratch: Path | None = None

    def cleanup(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def prepare_target(
    db: str | None, *, scale: str = "small", seed: int = 42, cache_dir: Path | None = None
) -> LoadTarget:
    """The run's database: ``db`` as given (a loopback URL, or a seeded file with the pack
    applied, which the run writes to), or else a fresh copy of the cached seeded file.

    Call it outside an event loop (building the cached file runs its own).

    Raises:
        ConfigError: a non-loopback URL, a missing or unseeded file, an unknown scale.
    """
    if db is not None:
        check_loopback(db)
        kind, where = parse_target(db)
        if kind == "sqlite":
            check_source(Path(where))
            return LoadTarget(db, now=data_clock(Path(where)))
        return LoadTarget(db)
    folder = cache_dir or default_cache_dir()
    _, packed = cached_pair(folder, scale, seed)
    scratch = folder / "runs"
    scratch.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    copy = run_dir / f"{scale}-seed{seed}.db"
    copy_database(packed, copy)
    return LoadTarget(str(copy), now=data_clock(copy), scratch=run_dir)
