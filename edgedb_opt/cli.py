"""The ``edgeopt`` command: a thin click shell over the Python API.

Every command is one call you could make in code; errors a user can cause are
:class:`~edgedb_opt.errors.EdgeOptError` and become one line on stderr here, in one place.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from edgedb_opt import datagen
from edgedb_opt._progress import LiveProgress, ProgressBar, first_line
from edgedb_opt.drivers import DRIVER_NAMES, open_driver, parse_target
from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import EdgeOptError
from edgedb_opt.migrate import Migrator, StepResult, load_pack
from edgedb_opt.schema import init_schema

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class EdgeoptGroup(click.Group):
    """Turns every EdgeOptError into ``edgeopt: error: <one line>`` and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeOptError as exc:
            if _verbose(ctx):
                raise
            message = " ".join(str(exc).split())
            click.echo(f"edgeopt: error: {message}", err=True)
            ctx.exit(1)


def _verbose(ctx: click.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("verbose"))


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "verbose": True}
    return value


def _set_replica(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "replica": value}
    return value


def _replica() -> str | None:
    """The ``--replica`` file of the running command, if one was given."""
    return _root_option("replica")


def _set_driver(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "driver": value}
    return value


def _root_option(name: str) -> str | None:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj.get(name) if obj else None


def db_option(func: F) -> F:
    """``--db`` (default ``$EDGEOPT_DB``, else ``./edgeopt.db``), ``--replica``, ``--verbose``."""
    func = click.option(
        "--db",
        "db",
        envvar="EDGEOPT_DB",
        default="./edgeopt.db",
        show_default=True,
        help="Database: a path, file:PATH, turso:PATH, or a sync server's http(s):// or "
        "libsql:// URL (env EDGEOPT_DB).",
    )(func)
    func = click.option(
        "--replica",
        type=click.Path(dir_okay=False),
        envvar="EDGEOPT_REPLICA",
        expose_value=False,
        callback=_set_replica,
        help="Embedded replica file for an http(s):// or libsql:// --db "
        "(env EDGEOPT_REPLICA; default: under the user cache directory).",
    )(func)
    func = click.option(
        "--driver",
        type=click.Choice(list(DRIVER_NAMES)),
        envvar="EDGEOPT_DRIVER",
        expose_value=False,
        callback=_set_driver,
        help="Force the driver instead of reading it from --db, e.g. libsql for "
        "libsql-client's file: mode (env EDGEOPT_DRIVER).",
    )(func)
    return click.option(
        "--verbose",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbose,
        help="Show tracebacks on errors.",
    )(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def pack_option(func: F) -> F:
    return click.option(
        "--pack",
        "packs",
        multiple=True,
        default=("study",),
        show_default=True,
        help="A bundled pack's name or a pack folder (repeatable).",
    )(func)


def dry_run_option(func: F) -> F:
    """``--dry-run``: print the exact SQL; open the database read-only."""
    return click.option(
        "--dry-run", is_flag=True, help="Print the SQL that would run; change nothing."
    )(func)


def lock_timeout_option(func: F) -> F:
    return click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=60.0,
        show_default=True,
        help="Seconds to wait for another process's write lock.",
    )(func)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _with_db(url: str, body: Callable[[Driver], Awaitable[T]], **open_kw: Any) -> T:
    db = await open_driver(url, replica=_replica(), driver=_root_option("driver"), **open_kw)
    try:
        return await body(db)
    finally:
        await db.close()


def _emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(cls=EdgeoptGroup)
@click.option(
    "--verbose",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_verbose,
    help="Show tracebacks on errors.",
)
@click.version_option(package_name="edgeopt")
def main() -> None:
    """edgeopt: fast, safely changeable SQLite / libSQL / Turso databases for edge handlers.

    Example: edgeopt init && edgeopt seed --scale small && edgeopt apply && edgeopt status
    """


@main.command()
@db_option
@json_option
def init(db: str, as_json: bool) -> None:
    """Create the reference schema (schema/base.sql) where it is absent.

    Example: edgeopt init --db app.db
    """
    created = run(_with_db(db, init_schema))
    if as_json:
        _emit_json({"created": created})
    elif created:
        click.echo(f"created {len(created)} tables in {db}: {', '.join(created)}")
    else:
        click.echo(f"{db} already has the reference schema")


@main.command()
@db_option
@json_option
@click.option(
    "--scale",
    type=click.Choice(list(datagen.SCALES)),
    default="tiny",
    show_default=True,
    help="How much data.",
)
@click.option("--seed", "seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--anchor",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the data ends at (default: today, UTC). Same seed + anchor = same bytes.",
)
def seed(db: str, as_json: bool, scale: str, seed: int, anchor: dt.datetime | None) -> None:
    """Fill an empty database with deterministic synthetic study data.

    Example: edgeopt seed --db app.db --scale small --seed 7
    """
    bar = ProgressBar(enabled=not as_json)

    async def body(conn: Driver) -> dict[str, int]:
        await init_schema(conn)
        return await datagen.seed_database(
            conn, scale=scale, seed=seed, anchor=anchor, progress=bar.update
        )

    t0 = time.perf_counter()
    try:
        counts = run(_with_db(db, body))
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if as_json:
        _emit_json({"scale": scale, "seed": seed, "rows": counts, "seconds": round(seconds, 2)})
        return
    total = sum(counts.values())
    click.echo(f"seeded {db} at scale {scale} (seed {seed}): {total:,} rows in {seconds:.1f} s")
    for table, n in counts.items():
        click.echo(f"  {table:<26} {n:>10,}")


def _result_json(r: StepResult) -> dict[str, object]:
    data: dict[str, object] = {
        "id": r.id,
        "action": r.action,
        "reason": r.reason,
        "ms": round(r.ms, 3),
    }
    if r.statements:
        data["statements"] = [
            {"line": s.line, "sql": first_line(s.sql), "ms": round(s.ms, 3)} for s in r.statements
        ]
    if r.sql:
        data["sql"] = r.sql
    return data


def _print_results(results: list[StepResult], migrator: Migrator) -> None:
    if not results:
        click.echo("nothing to do")
    for r in results:
        if r.action in ("would_apply", "would_roll_back"):
            step = migrator.step(r.id)
            where = f" ({step.path})" if step else ""
            verb = "apply" if r.action == "would_apply" else "roll back"
            click.echo(f"-- would {verb} step {r.id}{where}")
            click.echo("BEGIN IMMEDIATE;")
            for sql in r.sql:
                click.echo(sql)
            click.echo("-- + the step's ledger row in _edgeopt_migrations")
            click.echo("COMMIT;\n")
            continue
        detail = f"{r.ms / 1000:.2f} s" if r.ms else ""
        if r.reason:
            detail = f"{detail} ({r.reason})".strip()
        click.echo(f"{r.action:<16} {r.id:<28} {detail}")
        for s in r.statements:
            click.echo(f"    {s.ms:9.1f} ms  {first_line(s.sql)}")


def _migrate(
    db: str,
    packs: tuple[str, ...],
    *,
    as_json: bool,
    dry_run: bool,
    lock_timeout: float,
    call: Callable[[Migrator], Awaitable[list[StepResult]]],
) -> None:
    """Run one Migrator call (apply or rollback) with live progress, then report it."""
    loaded = [load_pack(p) for p in packs]
    live = LiveProgress(
        enabled=not as_json and not dry_run, total=sum(len(p.steps) for p in loaded)
    )

    async def body(conn: Driver) -> tuple[list[StepResult], Migrator]:
        migrator = Migrator(conn, loaded, on_event=live)
        return await live.around(call(migrator)), migrator

    timeout_ms = int(lock_timeout * 1000)
    results, migrator = run(
        _with_db(db, body, read_only=dry_run, must_exist=True, busy_timeout_ms=timeout_ms)
    )
    if as_json:
        _emit_json({"dry_run": dry_run, "steps": [_result_json(r) for r in results]})
    else:
        _print_results(results, migrator)


@main.command()
@db_option
@json_option
@pack_option
@click.option("--step", "step", multiple=True, help="Apply only this step (repeatable).")
@dry_run_option
@lock_timeout_option
def apply(
    db: str,
    as_json: bool,
    packs: tuple[str, ...],
    step: tuple[str, ...],
    dry_run: bool,
    lock_timeout: float,
) -> None:
    """Apply the pending steps of a pack, each step atomically with its ledger row.

    Example: edgeopt apply --db app.db --pack study --dry-run
    """
    _migrate(
        db,
        packs,
        as_json=as_json,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        call=lambda m: m.apply(step=step, dry_run=dry_run),
    )


@main.command()
@db_option
@json_option
@pack_option
@click.option("--step", "step", multiple=True, help="Roll back this step (repeatable).")
@click.option("--all", "all_", is_flag=True, help="Roll back every applied step.")
@dry_run_option
@click.option("--force", is_flag=True, help="Roll back drifted steps with their recorded SQL.")
@lock_timeout_option
def rollback(
    db: str,
    as_json: bool,
    packs: tuple[str, ...],
    step: tuple[str, ...],
    all_: bool,
    dry_run: bool,
    force: bool,
    lock_timeout: float,
) -> None:
    """Undo the last applied step (or those named, or all), exactly.

    Example: edgeopt rollback --db app.db --all
    """
    if all_ and step:
        raise click.UsageError("give --all or --step, not both")
    _migrate(
        db,
        packs,
        as_json=as_json,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        call=lambda m: m.rollback(step=step, all=all_, dry_run=dry_run, force=force),
    )


@main.command()
@db_option
@json_option
@pack_option
def status(db: str, as_json: bool, packs: tuple[str, ...]) -> None:
    """Show each step: applied / pending / skipped (reason), when, and checksum ok/drifted.

    Example: edgeopt status --db app.db --json
    """
    loaded = [load_pack(p) for p in packs]

    async def body(conn: Driver) -> list[Any]:
        return await Migrator(conn, loaded).status()

    rows = run(_with_db(db, body, read_only=True, must_exist=True))
    if as_json:
        _emit_json({"steps": [r.as_dict() for r in rows]})
        return
    click.echo(f"{'step':<28} {'pack':<10} {'state':<8} {'applied_at':<24} {'checksum':<8} reason")
    for r in rows:
        checksum = "-" if r.checksum_ok is None else ("ok" if r.checksum_ok else "drifted")
        click.echo(
            f"{r.id:<28} {r.pack:<10} {r.state:<8} {r.applied_at or '-':<24} {checksum:<8} "
            f"{r.reason or ''}".rstrip()
        )


@main.command()
@click.argument("sql")
@db_option
@json_option
def rewrite(sql: str, db: str, as_json: bool) -> None:
    """Rewrite SQL with the NULL-safe rules; show the rules applied and those refused.

    SQL is one statement, or - to read it from stdin. Column nullability and keys come from
    the database at --db; when the default ./edgeopt.db does not exist, from the reference
    schema (schema/base.sql).

    Example: edgeopt rewrite "SELECT id FROM exams WHERE id NOT IN (SELECT exam_id FROM questions)"
    """
    from edgedb_opt._resources import base_sql
    from edgedb_opt.rewrite import Schema, optimize, read_schema

    text = sys.stdin.read() if sql == "-" else sql
    ctx = click.get_current_context()
    source = ctx.get_parameter_source("db")
    defaulted = source in (click.core.ParameterSource.DEFAULT, None)
    if defaulted and parse_target(db)[0] == "sqlite" and not Path(parse_target(db)[1]).exists():
        schema = Schema.from_ddl(base_sql())
    else:
        schema = run(_with_db(db, read_schema, read_only=True, must_exist=True))
    result = optimize(text, schema, pretty=not as_json)
    if as_json:
        _emit_json(result.as_dict())
        return
    click.echo(result.sql)
    click.echo(f"-- applied: {', '.join(result.applied) or 'none'}")
    for refusal in result.refused:
        click.echo(f"-- refused {refusal.rule}: {refusal.reason}")


@main.command()
@db_option
@json_option
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="EDGEOPT_CONFIG",
    help="A TOML settings file (regions, pools, cache); env EDGEOPT_CONFIG.",
)
@click.option("--prometheus", is_flag=True, help="Print Prometheus exposition text.")
def health(db: str, as_json: bool, config: str | None, prometheus: bool) -> None:
    """Check connectivity and latency, pragmas, WAL size, hot-query plans, FTS5 integrity,
    statistics freshness, replica lag, pools and cache; recommend fixes.

    Exit status: 0 healthy (warnings allowed), 2 unhealthy (a check failed), 1 error.

    Example: edgeopt health --db app.db --json
    """
    from edgedb_opt.database import EdgeDatabase
    from edgedb_opt.health import health as check_health
    from edgedb_opt.health import prometheus_text
    from edgedb_opt.regions import load_settings

    source = click.get_current_context().get_parameter_source("db")
    overrides: dict[str, Any] = {}
    if config is None or source not in (click.core.ParameterSource.DEFAULT, None):
        overrides["db"] = db
    if _replica():
        overrides["replica"] = _replica()
    if _root_option("driver"):
        overrides["driver"] = _root_option("driver")
    settings = load_settings(config, **overrides)

    async def body() -> tuple[Any, bytes]:
        edge = await EdgeDatabase.connect(settings, must_exist=True, tune=False)
        try:
            report = await check_health(edge)
            return report, prometheus_text(report, edge) if prometheus else b""
        finally:
            await edge.close()

    report, text = run(body())
    if prometheus:
        click.echo(text.decode(), nl=False)
    elif as_json:
        _emit_json(report.as_dict())
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for c in report.checks:
            click.echo(f"{marks[c.level]} {c.name:<18} {c.detail}")
        for n, rec in enumerate(report.recommendations, 1):
            click.echo(f"{'recommendations:' if n == 1 else '':<16}  {n}. {rec}")
        click.echo("healthy" if report.healthy else "UNHEALTHY")
    if not report.healthy:
        sys.exit(2)
