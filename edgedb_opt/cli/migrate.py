"""``edgeopt apply``, ``rollback`` and ``status``: each a call of :class:`Migrator`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from edgedb_opt.cli.common import (
    db_option,
    dry_run_option,
    json_option,
    lock_timeout_option,
    pack_option,
    run,
)
from edgedb_opt.cli.common import emit_json as _emit_json
from edgedb_opt.cli.common import with_db as _with_db
from edgedb_opt.cli.progress import LiveProgress, first_line
from edgedb_opt.drivers.base import Driver
from edgedb_opt.migrate import Migrator, StepResult, load_pack
from edgedb_opt.migrate.engine import StatementCheck, StepCheck
from edgedb_opt.schema import app_tables
from edgedb_opt.study.statements import HOT_STATEMENTS

__all__ = ["apply", "rollback", "status"]


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


@click.command()
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


@click.command()
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


@click.command()
@db_option
@json_option
@pack_option
def status(db: str, as_json: bool, packs: tuple[str, ...]) -> None:
    """Show each step: applied / pending / skipped (reason), when, and checksum ok/drifted.

    Example: edgeopt status --db app.db --json
    """
    loaded = [load_pack(p) for p in packs]

    async def body(conn: Driver) -> tuple[list[Any], bool]:
        return await Migrator(conn, loaded).status(), not await app_tables(conn)

    rows, empty = run(_with_db(db, body, read_only=True, must_exist=True))
    warnings = [EMPTY_DATABASE] if empty else []
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        _emit_json({"steps": [r.as_dict() for r in rows], "warnings": warnings})
        return
    click.echo(f"{'step':<28} {'pack':<10} {'state':<8} {'applied_at':<24} {'checksum':<8} reason")
    for r in rows:
        checksum = "-" if r.checksum_ok is None else ("ok" if r.checksum_ok else "drifted")
        click.echo(
            f"{r.id:<28} {r.pack:<10} {r.state:<8} {r.applied_at or '-':<24} {checksum:<8} "
            f"{r.reason or ''}".rstrip()
        )


@click.command()
@db_option
@json_option
@pack_option
def check(db: str, as_json: bool, packs: tuple[str, ...]) -> None:
    """Say what apply would do with each step here, without writing: apply, skip (what is
    missing) or fail (SQLite's message), and which study operations can run afterwards.

    Example: edgeopt check --db app.db --json
    """
    loaded = [load_pack(p) for p in packs]

    async def body(conn: Driver) -> tuple[list[StepCheck], list[StatementCheck]]:
        return await Migrator(conn, loaded).check(dict(HOT_STATEMENTS))

    steps, statements = run(_with_db(db, body, read_only=True, must_exist=True))
    if as_json:
        _emit_json(
            {
                "steps": [s.as_dict() for s in steps],
                "operations": [s.as_dict() for s in statements],
            }
        )
        return
    click.echo(f"{'step':<28} {'verdict':<12} reason")
    for s in steps:
        click.echo(f"{s.id:<28} {s.verdict:<12} {s.reason or ''}".rstrip())
    runs = [o.name for o in statements if o.runs]
    click.echo(f"\noperations that can run once applied: {', '.join(runs) or 'none'}")
    for o in statements:
        if not o.runs:
            click.echo(f"cannot run: {o.name:<20} {o.reason}")


#: Said by ``status`` when the database holds no table of an application: every step would
#: otherwise just show as pending, which reads like a database that needs the pack.
EMPTY_DATABASE = (
    "the database holds no tables: every step is pending because there is nothing to apply"
    " them to (a sync server started on a file filled beside it serves none of it: fill it"
    " through a replica, e.g. edgeopt init and seed with --db <server url>)"
)

# The other commands register themselves on ``main`` when imported.
